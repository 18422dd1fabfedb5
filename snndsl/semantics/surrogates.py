"""Compile surrogate spike functions: the backward pass class and the inline primitive.

A surrogate's body is walked with its parameters bound: ``let``s bind (tensor lets are
emitted through a callback), ``if`` conditions must be constant, and the first
``gradient`` (for the ``autograd.Function`` of the spiking form) or ``primitive`` (inlined
for ``spiking=false``) is the result.  Float parameters stay runtime arguments of the
backward class; int parameters are fixed, one class per value.
"""

from __future__ import annotations

from snndsl import ir
from snndsl.diagnostics import Reporter, SpecError
from snndsl.semantics.body import BodyWalker
from snndsl.semantics.definitions import Definitions
from snndsl.semantics.evaluate import Dyn, Evaluator, SurrogateValue, as_ir, describe, is_number
from snndsl.syntax import ast


def split_surrogate_args(value: SurrogateValue):
    """(runtime float arguments, compile-time int arguments) of a bound surrogate."""
    runtime = tuple(v for _, v in value.args if not isinstance(v, int) or isinstance(v, bool))
    static = tuple((k, v) for k, v in value.args if isinstance(v, int) and not isinstance(v, bool))
    return runtime, static


class SurrogateBody(BodyWalker):
    """Walks a surrogate body until the first ``want`` statement (Primitive or Gradient),
    whose value becomes :attr:`result`; tensor ``let`` statements go through ``emit``."""

    CODE = "E0405"

    def __init__(self, definition, env: dict, reporter: Reporter, defs: Definitions, emit, want):
        self.definition, self.env, self.reporter = definition, dict(env), reporter
        self.defs, self.emit, self.want = defs, emit, want
        self.result: ir.PyExpr | None = None

    def evaluator(self) -> Evaluator:
        return Evaluator(
            self.env, self.reporter, self.defs.call_hook, f"surrogate '{self.definition.name}'"
        )

    def finished(self) -> bool:
        return self.result is not None

    def misplaced(self, stmt) -> SpecError:
        return self.fail(
            f"'{type(stmt).__name__.lower()}' belongs in a neuron, not a surrogate", stmt.span
        )

    def non_constant_if(self, stmt: ast.If) -> SpecError:
        return self.fail(
            "an 'if' in a surrogate may only test constants and int parameters "
            "(float parameters are runtime values in the backward pass)",
            stmt.condition.span,
        )

    def bind_tensor(self, stmt: ast.Let, value: ir.PyExpr) -> ir.PyExpr:
        return self.emit(stmt.name, value)

    def visit_Require(self, stmt: ast.Require) -> None:
        """Checked at each call, with its arguments (:class:`SurrogateRequires`)."""

    def visit_Primitive(self, stmt: ast.Primitive | ast.Gradient) -> None:
        if not isinstance(stmt, self.want):
            return
        value = self.evaluator().eval(stmt.value)
        if not (isinstance(value, Dyn) or is_number(value)):
            raise self.fail(
                f"a {self.want.__name__.lower()} must be a number or a tensor, "
                f"got {describe(value)}",
                stmt.value.span,
            )
        self.result = as_ir(value) if isinstance(value, Dyn) else ir.Const(value)

    visit_Gradient = visit_Primitive


def run_surrogate_body(definition, env, reporter, defs, emit, want):
    """Walk a surrogate body: lets bind (tensor lets through ``emit``), ``if`` must be
    static, and the value of the first ``want`` statement (Primitive or Gradient) is
    returned as IR."""
    walker = SurrogateBody(definition, env, reporter, defs, emit, want)
    walker.walk(definition.body)
    if walker.result is None:
        raise reporter.fail(
            "E0405",
            f"surrogate '{definition.name}' has no '{want.__name__.lower()}'",
            definition.name_span,
        )
    return walker.result


def compile_surrogate(
    definition: ast.SurrogateDef,
    defs: Definitions,
    reporter: Reporter,
    static: tuple[tuple[str, int], ...] | None = None,
) -> ir.SurrogateIR:
    """The backward pass of a surrogate: float parameters are runtime locals, int
    parameters are fixed to ``static`` (their defaults when not given)."""
    params = [p for p in defs.surrogate_signature(definition, reporter) if p.name != "spiking"]
    fixed = dict(static or ())
    env: dict[str, object] = {"x": Dyn(ir.Local("x"))}
    runtime = []
    for p in params:
        if p.type == "int":
            env[p.name] = fixed.get(p.name, p.default)
        else:
            env[p.name] = Dyn(ir.Local(p.name), scalar=True)
            runtime.append(p)
    backward: list[ir.Assignment] = []

    def emit(name, value):
        backward.append(ir.Assignment(name, value))
        return ir.Local(name)

    gradient = run_surrogate_body(definition, env, reporter, defs, emit, ast.Gradient)
    used = ir.locals_used(gradient)
    kept = []
    for a in reversed(backward):  # drop lets only the primitive needs
        if a.target in used:
            kept.append(a)
            used |= ir.locals_used(a.value)
    kept.reverse()
    static_args = tuple((p.name, env[p.name]) for p in params if p.type == "int")
    sig = ", ".join(
        f"{p.name}={describe(env[p.name] if p.type == 'int' else p.default)}" for p in params
    )
    return ir.SurrogateIR(
        ir.SurrogateKey(definition.name, static_args),
        tuple(p.name for p in runtime),
        tuple(kept),
        gradient,
        f"Heaviside spike; backward is the gradient of {definition.name} "
        f"(defaults: {sig or 'none'}).",
    )


def spike_expression(
    value: SurrogateValue, arg: ir.PyExpr, ns, reporter, defs, strict: bool = False
):
    """Assignments and the expression that turn ``arg`` into a spike with ``value``
    (``strict``: 1 where ``arg > 0`` rather than ``arg >= 0``).

    Spiking surrogates call their ``autograd.Function``; ``spiking=false`` inlines the
    primitive with the parameters folded, keeping only the lets it uses (an analog
    output: strictness does not apply).
    """
    if value.spiking:
        runtime, static = split_surrogate_args(value)
        key = ir.SurrogateKey(value.definition.name, static)
        return [], ir.Spike(key, arg, runtime, strict)
    steps: list[ir.Assignment] = []

    def emit(stem: str, expr: ir.PyExpr) -> str:
        local = ns.fresh(stem)
        steps.append(ir.Assignment(local, expr))
        return local

    u = emit("_u", arg)
    env: dict[str, object] = {"x": Dyn(ir.Local(u)), **dict(value.args)}
    result = run_surrogate_body(
        value.definition,
        env,
        reporter,
        defs,
        emit=lambda name, expr: ir.Local(emit(f"_{name}", expr)),
        want=ast.Primitive,
    )
    needed = ir.locals_used(result)
    for a in reversed(steps):
        if a.target in needed:
            needed |= ir.locals_used(a.value)
    return [a for a in steps if a.target in needed], result
