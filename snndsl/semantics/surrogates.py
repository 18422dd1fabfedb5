"""Compile surrogate spike functions: the backward pass class and the inline primitive.

A surrogate's body is walked with its parameters bound: ``let``s bind (tensor lets are
emitted through a callback), ``if`` conditions must be constant, and the first
``gradient`` (for the ``autograd.Function`` of the spiking form) or ``primitive`` (inlined
for ``spiking=false``) is the result.  Float parameters stay runtime arguments of the
backward class; int parameters are fixed, one class per value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from snndsl import ir
from snndsl.diagnostics import Reporter
from snndsl.names import identifier_problem
from snndsl.semantics.evaluate import Dyn, Evaluator, SurrogateValue, as_ir, describe, is_number
from snndsl.syntax import ast

if TYPE_CHECKING:
    from snndsl.semantics.neurons import Definitions


def check_one_result(body, reporter: Reporter, seen: frozenset = frozenset()) -> None:
    """On every path through a surrogate body, at most one primitive and one gradient."""
    seen = set(seen)
    for stmt in body:
        if isinstance(stmt, (ast.Primitive, ast.Gradient)):
            kind = type(stmt).__name__.lower()
            if kind in seen:
                raise reporter.fail("E0405", f"a surrogate has one '{kind}'", stmt.span)
            seen.add(kind)
        elif isinstance(stmt, ast.If):
            check_one_result(stmt.then, reporter, frozenset(seen))
            check_one_result(stmt.orelse, reporter, frozenset(seen))


def body_has(body, cls) -> bool:
    for stmt in body:
        if isinstance(stmt, cls):
            return True
        if isinstance(stmt, ast.If) and (body_has(stmt.then, cls) or body_has(stmt.orelse, cls)):
            return True
    return False


def split_surrogate_args(value: SurrogateValue):
    """(runtime float arguments, compile-time int arguments) of a bound surrogate."""
    runtime = tuple(v for _, v in value.args if not isinstance(v, int) or isinstance(v, bool))
    static = tuple((k, v) for k, v in value.args if isinstance(v, int) and not isinstance(v, bool))
    return runtime, static


def surrogate_class(name: str, static: tuple[tuple[str, int], ...] = ()) -> str:
    """``_ATan``; a surrogate with int parameters gets one class per their values."""
    suffix = "".join(f"_{k}{v}".replace("-", "m") for k, v in static)
    return f"_{name}{suffix}"


def run_surrogate_body(definition, env, reporter, defs, emit, want):
    """Walk a surrogate body: lets bind (tensor lets through ``emit``), ``if`` must be
    static, and the value of the first ``want`` statement (Primitive or Gradient) is
    returned as IR."""
    env = dict(env)

    def walk(body):
        for stmt in body:
            ev = Evaluator(env, reporter, defs.call_hook, f"surrogate '{definition.name}'")
            if isinstance(stmt, ast.Let):
                problem = identifier_problem(stmt.name)
                if problem:
                    raise reporter.fail("E0101", problem, stmt.span)
                if stmt.name in env:
                    raise reporter.fail(
                        "E0102", f"'{stmt.name}' is already defined here", stmt.span
                    )
                value = ev.eval(stmt.value)
                if isinstance(value, Dyn):
                    value = Dyn(emit(stmt.name, as_ir(value)))
                env[stmt.name] = value
            elif isinstance(stmt, ast.If):
                cond = ev.eval(stmt.condition)
                if not isinstance(cond, bool):
                    raise reporter.fail(
                        "E0405",
                        "an 'if' in a surrogate may only test constants and int parameters "
                        "(float parameters are runtime values in the backward pass)",
                        stmt.condition.span,
                    )
                found = walk(stmt.then if cond else stmt.orelse)
                if found is not None:
                    return found
            elif isinstance(stmt, (ast.Primitive, ast.Gradient)):
                if isinstance(stmt, want):
                    value = ev.eval(stmt.value)
                    if not (isinstance(value, Dyn) or is_number(value)):
                        raise reporter.fail(
                            "E0405",
                            f"a {want.__name__.lower()} must be a number or a tensor, "
                            f"got {describe(value)}",
                            stmt.value.span,
                        )
                    return as_ir(value) if isinstance(value, Dyn) else ir.Const(value)
            elif isinstance(stmt, ast.Require):
                continue
            else:
                raise reporter.fail(
                    "E0405",
                    f"'{type(stmt).__name__.lower()}' belongs in a neuron, not a surrogate",
                    stmt.span,
                )
        return None

    result = walk(definition.body)
    if result is None:
        raise reporter.fail(
            "E0405",
            f"surrogate '{definition.name}' has no '{want.__name__.lower()}'",
            definition.name_span,
        )
    return result


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
            env[p.name] = Dyn(ir.Local(p.name))
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
        definition.name,
        surrogate_class(definition.name, static_args),
        tuple(p.name for p in runtime),
        tuple(kept),
        gradient,
        f"Heaviside spike; backward is the gradient of {definition.name} "
        f"(defaults: {sig or 'none'}).",
    )


def spike_expression(value: SurrogateValue, arg: ir.PyExpr, ns, reporter, defs):
    """Assignments and the expression that turn ``arg`` into a spike with ``value``.

    Spiking surrogates call their ``autograd.Function``; ``spiking=false`` inlines the
    primitive with the parameters folded, keeping only the lets it uses.
    """
    if value.spiking:
        runtime, static = split_surrogate_args(value)
        return [], ir.Spike(surrogate_class(value.definition.name, static), arg, runtime)
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
