"""The definitions a spec can call, and the compiler from neuron definitions to IR.

:class:`Definitions` holds the prelude's and the user's neurons and surrogates and binds
calls to them.  One generic path for every neuron: bind the call's arguments to the definition's
parameters, run the body with the parameters as constants (``require`` checks, static
``if`` blocks and ``let``s resolve here), and emit the step as IR assignments::

    charge v = e      ->  _h = e                      (v now names the charged value)
    fire a >= b       ->  _spike = <Surrogate>.spike(a - b, *params)
    reset v = r       ->  _v = _spike * r + (1.0 - _spike) * _h      (hard)
    reset v -= r      ->  _v = _h - _spike * r                        (soft)
    reset none        ->  _v = _h

which is SpikingJelly's order of operations (``_ops/reset.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from snndsl import ir
from snndsl.diagnostics import Reporter, SpecError, did_you_mean
from snndsl.names import GENERATED_HELPERS, Namespace, identifier_problem
from snndsl.semantics.evaluate import (
    PARAM_TYPES,
    Dyn,
    Evaluator,
    SurrogateValue,
    as_ir,
    coerce,
    infer_type,
)
from snndsl.semantics.signature import ParamSpec, bind
from snndsl.semantics.surrogates import (
    body_has,
    check_one_result,
    spike_expression,
    surrogate_class,
)
from snndsl.syntax import ast


@dataclass(frozen=True)
class NeuronStep:
    states: tuple[tuple[str, str, float], ...]  # (name, local, init)
    step: tuple[ir.Assignment, ...]
    output: str
    final: tuple[tuple[str, str], ...]  # (state name, local)
    surrogates: tuple[SurrogateValue, ...]
    learn: tuple[tuple[str, str, float], ...] = ()  # (name, local, initial value)


class Definitions:
    """The neuron and surrogate definitions visible to a spec (prelude first)."""

    def __init__(self, reporter: Reporter):
        self.reporter = reporter
        self.neurons: dict[str, ast.NeuronDef] = {}
        self.surrogates: dict[str, ast.SurrogateDef] = {}
        self.blocks: dict[str, ast.BlockDef] = {}
        self.origin: dict[str, str] = {}
        self.sources: dict[str, object] = {}  # imported definitions: their SourceFile
        # memos for one check run: many layers call the same definition the same way
        self._signatures: dict[int, tuple[ParamSpec, ...]] = {}
        self.compiled: dict[tuple, NeuronStep] = {}

    def add(self, item: ast.NeuronDef | ast.SurrogateDef, origin: str, reporter: Reporter):
        problem = identifier_problem(item.name)
        if problem:
            raise reporter.fail("E0101", problem, item.name_span)
        if item.name in self.neurons or item.name in self.surrogates or item.name in self.blocks:
            raise reporter.fail(
                "E0102",
                f"'{item.name}' is already defined ({self.origin[item.name]})",
                item.name_span,
                "give your definition a new name",
            )
        if isinstance(item, ast.SurrogateDef) and surrogate_class(item.name) in GENERATED_HELPERS:
            raise reporter.fail(
                "E0101",
                f"a surrogate named '{item.name}' would clash with the generated name "
                f"'{surrogate_class(item.name)}'",
                item.name_span,
                "rename it",
            )
        self.origin[item.name] = origin
        if isinstance(item, ast.BlockDef):
            check_params(item.params, reporter, f"block '{item.name}'")
            self.blocks[item.name] = item
            return
        forbidden = ("x",) if isinstance(item, ast.SurrogateDef) else ("x", "spike")
        check_params(item.params, reporter, f"'{item.name}'", forbidden=forbidden)
        if isinstance(item, ast.SurrogateDef):
            check_one_result(item.body, reporter)
        if isinstance(item, ast.NeuronDef):
            self.neurons[item.name] = item
        else:
            self.surrogates[item.name] = item

    # ------------------------------------------------------------------ signatures
    def signature(self, definition, reporter: Reporter) -> tuple[ParamSpec, ...]:
        """The parameters of ``definition`` with their evaluated defaults (computed once
        per definition; a failure is raised again on every call, never remembered)."""
        known = self._signatures.get(id(definition))
        if known is None:
            known = self._signatures[id(definition)] = self._signature(definition, reporter)
        return known

    def _signature(self, definition, reporter: Reporter) -> tuple[ParamSpec, ...]:
        specs = []
        ev = Evaluator({}, reporter, self.call_hook, f"the defaults of '{definition.name}'")
        for p in definition.params:
            if p.default is None:
                specs.append(ParamSpec(p.name, p.type))
                continue
            default = ev.eval(p.default)
            type_ = p.type or infer_type(default)
            if type_ is None:
                raise reporter.fail(
                    "E0401",
                    f"cannot infer the type of parameter '{p.name}' from its default",
                    p.span,
                    f"annotate it: {p.name}: float? = none",
                )
            try:
                default = coerce(default, type_)
            except TypeError as err:
                raise reporter.fail(
                    "E0204", f"default of '{p.name}': {err}", p.default.span
                ) from None
            specs.append(ParamSpec(p.name, type_, default))
        return tuple(specs)

    def surrogate_signature(self, definition, reporter: Reporter) -> tuple[ParamSpec, ...]:
        """A surrogate's parameters plus the implicit ``spiking`` switch."""
        params = self.signature(definition, reporter)
        for p, node in zip(params, definition.params):
            if p.required:
                raise reporter.fail(
                    "E0405",
                    f"surrogate parameters need defaults; '{p.name}' has none",
                    node.span,
                    f"write {p.name}: {p.type} = ...",
                )
            if p.type not in ("float", "int"):
                raise reporter.fail(
                    "E0405",
                    f"surrogate parameters are floats (or ints, fixed when generating); "
                    f"'{p.name}' is {p.type}",
                    node.span,
                    f"write {p.name}: float = 1.0",
                )
        if any(p.name == "spiking" for p in params):
            return params
        return (*params, ParamSpec("spiking", "bool", True))

    def default_surrogate(self, name: str) -> SurrogateValue:
        """A prelude surrogate with its default parameters (``Sigmoid()``, ``ATan()``)."""
        return self.call_hook(ast.Call(name, ()), Evaluator({}, self.reporter))

    def call_hook(self, call: ast.Call, ev: Evaluator):
        """Calls inside expressions may construct surrogate values."""
        definition = self.surrogates.get(call.func)
        if definition is None:
            return NotImplemented
        params = self.surrogate_signature(definition, ev.reporter)
        bound = bind(call, params, ev, ev.reporter, f"surrogate '{call.func}'")
        args = tuple((p.name, bound.values[p.name]) for p in params if p.name != "spiking")
        spiking = bound.values["spiking"]
        self._run_surrogate_requires(definition, dict(args), ev.reporter, call)
        if not spiking and not body_has(definition.body, ast.Primitive):
            raise ev.reporter.fail(
                "E0207",
                f"'{definition.name}' defines no primitive function, so spiking=false "
                "is not available",
                bound.span_of("spiking", call),
            )
        return SurrogateValue(definition, args, spiking)

    def _run_surrogate_requires(self, definition, env, reporter, call):
        def walk(body):
            for stmt in body:
                if isinstance(stmt, ast.Require):
                    ok = Evaluator(env, reporter, self.call_hook).eval(stmt.condition)
                    if ok is not True:
                        raise reporter.fail(
                            "E0403",
                            f"{definition.name}: {stmt.message}",
                            call.span,
                            f"the requirement is: {_describe_require(stmt)}",
                        )
                elif isinstance(stmt, ast.If):
                    cond = Evaluator(env, reporter, self.call_hook).eval(stmt.condition)
                    walk(stmt.then if cond is True else stmt.orelse)

        walk(definition.body)


def _describe_require(stmt: ast.Require) -> str:
    from snndsl.syntax.formatter import format_expr

    return format_expr(stmt.condition)


def require_failure(reporter: Reporter, owner: str, stmt: ast.Require, bound, call) -> SpecError:
    """The located E0403 of a failed ``require`` in a definition called by ``call``."""
    return reporter.fail(
        "E0403",
        f"{owner}: {stmt.message}",
        require_span(stmt.condition, bound, call),
        f"the requirement is: {_describe_require(stmt)}",
    )


def static_branch(cond, stmt: ast.If, error) -> tuple:
    """The statements of the branch a constant ``if`` takes; ``error`` builds the failure."""
    if not isinstance(cond, bool):
        raise error("an 'if' condition must be a constant bool (parameters only)", stmt.span)
    return stmt.then if cond else stmt.orelse


def names_in(expr: ast.Expr) -> list[str]:
    """The plain names ``expr`` reads, in order (call names and keywords excluded)."""
    if isinstance(expr, ast.Name):
        return [expr.id]
    if isinstance(expr, ast.Binary):
        return names_in(expr.left) + names_in(expr.right)
    if isinstance(expr, ast.Unary):
        return names_in(expr.operand)
    if isinstance(expr, ast.Call):
        return [n for a in expr.args for n in names_in(a.value)]
    if isinstance(expr, ast.ListExpr):
        return [n for i in expr.items for n in names_in(i)]
    return []


def require_span(condition: ast.Expr, bound, call: ast.Call):
    """Where a failed ``require`` points: the first argument it reads that the call gave,
    else the whole call."""
    names = names_in(condition)
    for name in names:
        if name in bound.given and name in bound.nodes:
            return bound.nodes[name].span
    return call.span


def check_params(
    params: tuple[ast.Param, ...],
    reporter: Reporter,
    owner: str,
    forbidden: tuple[str, ...] = (),
) -> None:
    seen: set[str] = set()
    for p in params:
        problem = identifier_problem(p.name)
        if problem:
            raise reporter.fail("E0101", problem, p.span)
        if p.name in forbidden:
            raise reporter.fail(
                "E0101", f"'{p.name}' is the input of {owner} and cannot be a parameter", p.span
            )
        if p.name in seen:
            raise reporter.fail("E0102", f"parameter '{p.name}' of {owner} given twice", p.span)
        seen.add(p.name)
        if p.default is None and p.type is None:
            raise reporter.fail(
                "E0401",
                f"parameter '{p.name}' of {owner} has neither a type nor a default",
                p.span,
                f"write {p.name}: int (a required argument) or {p.name} = 1",
            )
        if p.type is not None and p.type.rstrip("?") not in PARAM_TYPES:
            raise reporter.fail(
                "E0401",
                f"unknown type '{p.type}'",
                p.span,
                did_you_mean(p.type.rstrip("?"), PARAM_TYPES)
                or f"types are: {', '.join(PARAM_TYPES)}",
            )


def _memo_key(definition, values: dict) -> tuple | None:
    """What a neuron's step depends on: its definition and its bound values, each by
    type and repr (so 1, 1.0 and True, or 0.0 and -0.0, stay apart); None when a value
    is of a kind this does not know, and the step is compiled afresh."""
    parts: list[object] = [id(definition)]
    for name in sorted(values):
        v = values[name]
        if isinstance(v, SurrogateValue):
            parts.append((name, "surrogate", id(v.definition), repr(v.args), v.spiking))
        elif v is None or isinstance(v, (bool, int, float, str)):
            parts.append((name, type(v).__name__, repr(v)))
        else:
            return None
    return tuple(parts)


class NeuronCompiler:
    """Runs one neuron definition with bound parameters and produces its step."""

    def __init__(self, defs: Definitions, reporter: Reporter, namespace: Namespace):
        self.defs = defs
        self.reporter = reporter
        self.ns = namespace

    def compile(self, definition: ast.NeuronDef, call: ast.Call, env: dict) -> NeuronStep:
        params = self.defs.signature(definition, self.reporter)
        if not any(p.name == "store_v_seq" for p in params):
            # every neuron can record its membrane potential sequence (SpikingJelly's option)
            params = (*params, ParamSpec("store_v_seq", "bool", False))
        outer = Evaluator(env, self.reporter, self.defs.call_hook, f"'{call.func}' arguments")
        bound = bind(call, params, outer, self.reporter, f"neuron '{definition.name}'")
        self.bound = bound
        self.store_v_seq = bool(bound.values.get("store_v_seq", False))
        self.call = call
        self.definition = definition
        self.env: dict[str, object] = {"x": Dyn(ir.Local("x"))}
        self.env.update({k: v for k, v in bound.values.items() if k != "store_v_seq"})
        key = _memo_key(definition, bound.values)
        if key in self.defs.compiled:
            return self.defs.compiled[key]
        self.states: list[tuple[str, str, float]] = []
        self.step: list[ir.Assignment] = []
        self.current: dict[str, str] = {}  # state name -> local holding its latest value
        self.charged: dict[str, str] = {}
        self.spike: str | None = None
        self.reset_done = False
        self.surrogates: list[SurrogateValue] = []
        self.learn: list[tuple[str, str, float]] = []
        self.emitted: str | None = None
        self._block(definition.body)
        if self.spike is None:
            raise self._def_error(
                f"neuron '{definition.name}' has no 'fire' statement", definition.name_span
            )
        # Each state's latest value goes back to the state's own local, so the next step
        # (the next loop iteration, or the next call) starts from it.
        for name, local, _ in self.states:
            if self.current[name] != local:
                self.step.append(ir.Assignment(local, ir.Local(self.current[name])))
                self.current[name] = local
        final = tuple((name, self.current[name]) for name, _, _ in self.states)
        result = NeuronStep(
            tuple(self.states),
            tuple(self.step),
            self.emitted or self.spike,
            final,
            tuple(self.surrogates),
            tuple(self.learn),
        )
        if key is not None:
            self.defs.compiled[key] = result
        return result

    # ------------------------------------------------------------------ helpers
    def _def_error(self, message: str, span, hint: str | None = None) -> SpecError:
        return self.reporter.fail("E0401", message, span, hint)

    def _ev(self) -> Evaluator:
        return Evaluator(
            self.env, self.reporter, self.defs.call_hook, f"neuron '{self.definition.name}'"
        )

    def _emit(self, stem: str, value: ir.PyExpr) -> str:
        local = self.ns.fresh(stem)
        self.step.append(ir.Assignment(local, value))
        return local

    def _option(self, stmt, name: str, default, type_: str):
        known = {"fire": ("surrogate",), "reset": ("detach",)}
        kind = "fire" if isinstance(stmt, ast.Fire) else "reset"
        for opt in stmt.options:
            if opt.name not in known[kind]:
                raise self.reporter.fail(
                    "E0202",
                    f"'{kind}' has no option '{opt.name}'",
                    opt.span,
                    did_you_mean(opt.name, known[kind])
                    or f"its options are: {', '.join(known[kind])}",
                )
        for opt in stmt.options:
            if opt.name == name:
                value = self._ev().eval(opt.value)
                try:
                    return coerce(value, type_)
                except TypeError as err:
                    raise self.reporter.fail(
                        "E0204", f"option '{name}': {err}", opt.value.span
                    ) from None
        return default

    # ------------------------------------------------------------------ statements
    def _block(self, body) -> None:
        for stmt in body:
            self._stmt(stmt)

    def _stmt(self, stmt) -> None:
        if isinstance(stmt, ast.Require):
            ok = self._ev().eval(stmt.condition)
            if not isinstance(ok, bool):
                raise self._def_error("a 'require' condition must be a bool", stmt.span)
            if not ok:
                raise require_failure(
                    self.reporter, self.definition.name, stmt, self.bound, self.call
                )
        elif isinstance(stmt, ast.If):
            self._block(static_branch(self._ev().eval(stmt.condition), stmt, self._def_error))
        elif isinstance(stmt, ast.Let):
            self._check_new_name(stmt.name, stmt.span)
            value = self._ev().eval(stmt.value)
            if isinstance(value, Dyn):
                value = Dyn(ir.Local(self._emit(f"_{stmt.name}", as_ir(value))))
            self.env[stmt.name] = value
        elif isinstance(stmt, ast.State):
            self._state(stmt)
        elif isinstance(stmt, ast.Charge):
            self._charge(stmt)
        elif isinstance(stmt, ast.Fire):
            self._fire(stmt)
        elif isinstance(stmt, ast.Reset):
            self._reset(stmt)
        elif isinstance(stmt, ast.Learn):
            self._learn(stmt)
        elif isinstance(stmt, ast.Update):
            self._update(stmt)
        elif isinstance(stmt, ast.Emit):
            self._emit_output(stmt)
        else:
            raise self._def_error(
                f"'{type(stmt).__name__.lower()}' belongs in a surrogate, not a neuron",
                stmt.span,
            )

    def _learn(self, stmt: ast.Learn) -> None:
        self._check_new_name(stmt.name, stmt.span)
        if self.step:
            raise self._def_error("declare 'param's before the equations", stmt.span)
        init = self._ev().eval(stmt.value)
        try:
            init = coerce(init, "float")
        except TypeError as err:
            raise self._def_error(
                f"initial value of param '{stmt.name}': {err}", stmt.value.span
            ) from None
        local = self.ns.fresh(f"_{stmt.name}")
        self.learn.append((stmt.name, local, init))
        self.env[stmt.name] = Dyn(ir.Local(local))

    def _update(self, stmt: ast.Update) -> None:
        if stmt.name not in self.current:
            raise self._def_error(
                f"'update' needs a state variable, '{stmt.name}' is not one",
                stmt.span,
                did_you_mean(stmt.name, self.current),
            )
        if self.reset_done:
            raise self._def_error("'update' must come before 'reset'", stmt.span)
        value = self._ev().eval(stmt.value)
        if not isinstance(value, Dyn):
            raise self._def_error("an update must depend on the input or a state", stmt.value.span)
        local = self._emit(f"_{stmt.name}", as_ir(value))
        self.current[stmt.name] = local
        self.env[stmt.name] = Dyn(ir.Local(local))

    def _emit_output(self, stmt: ast.Emit) -> None:
        if self.emitted is not None:
            raise self._def_error("a neuron emits one output", stmt.span)
        value = self._ev().eval(stmt.value)
        if not isinstance(value, Dyn):
            raise self._def_error("'emit' needs a tensor expression", stmt.value.span)
        self.emitted = self._emit("_out", as_ir(value))

    def _check_new_name(self, name: str, span) -> None:
        problem = identifier_problem(name)
        if problem:
            raise self.reporter.fail("E0101", problem, span)
        if name == "spike":
            raise self.reporter.fail("E0101", "'spike' names the neuron's spike after 'fire'", span)
        if name in self.env:
            raise self.reporter.fail("E0102", f"'{name}' is already defined here", span)

    def _state(self, stmt: ast.State) -> None:
        self._check_new_name(stmt.name, stmt.span)
        if self.step:
            raise self._def_error("declare 'state' variables before the equations", stmt.span)
        init = self._ev().eval(stmt.init)
        try:
            init = coerce(init, "float")
        except TypeError as err:
            raise self._def_error(
                f"initial value of state '{stmt.name}': {err}", stmt.init.span
            ) from None
        local = self.ns.fresh(f"_{stmt.name}")
        self.states.append((stmt.name, local, init))
        self.current[stmt.name] = local
        self.env[stmt.name] = Dyn(ir.Local(local))

    def _charge(self, stmt: ast.Charge) -> None:
        if stmt.name not in self.current:
            raise self._def_error(
                f"'charge' needs a state variable, '{stmt.name}' is not one",
                stmt.span,
                did_you_mean(stmt.name, self.current),
            )
        if stmt.name in self.charged:
            raise self._def_error(f"state '{stmt.name}' is charged twice", stmt.span)
        if self.spike is not None:
            raise self._def_error("'charge' must come before 'fire'", stmt.span)
        value = self._ev().eval(stmt.value)
        if not isinstance(value, Dyn):
            raise self._def_error(
                "a charge equation must depend on the input or a state", stmt.value.span
            )
        stem = "_h" if not self.charged and stmt.name == self.states[0][0] else f"_{stmt.name}_h"
        local = self._emit(stem, value.expr)
        self.charged[stmt.name] = local
        self.current[stmt.name] = local
        self.env[stmt.name] = Dyn(ir.Local(local))

    def _fire(self, stmt: ast.Fire) -> None:
        if self.spike is not None:
            raise self._def_error("a neuron fires once per step", stmt.span)
        cond = stmt.condition
        if not (isinstance(cond, ast.Binary) and cond.op == ">="):
            raise self._def_error(
                "a fire condition is written 'a >= b' (it spikes where a - b >= 0)", cond.span
            )
        ev = self._ev()
        left, right = ev.eval(cond.left), ev.eval(cond.right)
        for side, node in ((left, cond.left), (right, cond.right)):
            if not (
                isinstance(side, Dyn)
                or (isinstance(side, (int, float)) and not isinstance(side, bool))
            ):
                raise self._def_error("a fire condition compares numbers or tensors", node.span)
        if not isinstance(left, Dyn) and not isinstance(right, Dyn):
            raise self._def_error("a fire condition must depend on a state", cond.span)
        default = self.defs.default_surrogate("Sigmoid")
        surrogate = self._option(stmt, "surrogate", default, "surrogate")
        arg = ir.BinOp(
            "-",
            left.expr if isinstance(left, Dyn) else ir.Const(left),
            right.expr if isinstance(right, Dyn) else ir.Const(right),
        )
        self.surrogates.append(surrogate)
        steps, spike = spike_expression(surrogate, arg, self.ns, self.reporter, self.defs)
        self.step.extend(steps)
        self.spike = self._emit("_spike", spike)
        self.env["spike"] = Dyn(ir.Local(self.spike))

    def _reset(self, stmt: ast.Reset) -> None:
        if self.spike is None:
            raise self._def_error("'reset' must come after 'fire'", stmt.span)
        if self.reset_done:
            raise self._def_error("a neuron resets once per step", stmt.span)
        self.reset_done = True
        if stmt.kind == "none":
            return
        if stmt.target not in self.current:
            raise self._def_error(
                f"'reset' needs a state variable, '{stmt.target}' is not one",
                stmt.span,
                did_you_mean(stmt.target or "", self.current),
            )
        detach = self._option(stmt, "detach", False, "bool")
        value = self._ev().eval(stmt.value)
        if not (
            isinstance(value, Dyn)
            or (isinstance(value, (int, float)) and not isinstance(value, bool))
        ):
            raise self._def_error("a reset value must be a number or a tensor", stmt.value.span)
        val = value.expr if isinstance(value, Dyn) else ir.Const(value)
        spike: ir.PyExpr = ir.Local(self.spike)
        if detach:
            spike = ir.Local(self._emit("_spike_d", ir.Detach(spike)))
        h = ir.Local(self.current[stmt.target])
        if stmt.kind == "hard":
            expr = ir.BinOp(
                "+",
                ir.BinOp("*", spike, val),
                ir.BinOp("*", ir.BinOp("-", ir.Const(1.0), spike), h),
            )
        else:
            expr = ir.BinOp("-", h, ir.BinOp("*", spike, val))
        local = next(loc for name, loc, _ in self.states if name == stmt.target)
        self.step.append(ir.Assignment(local, expr))
        self.current[stmt.target] = local
        self.env[stmt.target] = Dyn(ir.Local(local))
