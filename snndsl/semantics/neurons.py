"""Compile neuron definitions to IR: one step of the neuron as assignments.

One generic path for every neuron: bind the call's arguments to the definition's
parameters, run the body with the parameters as constants (``require`` checks, static
``if`` blocks and ``let``s resolve in :mod:`snndsl.semantics.body`), and emit the step
as IR assignments::

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
from snndsl.names import Namespace
from snndsl.semantics.body import BodyWalker, OptionRules
from snndsl.semantics.definitions import Definitions
from snndsl.semantics.evaluate import Dyn, Evaluator, SurrogateValue, as_ir, coerce
from snndsl.semantics.signature import ParamSpec, bind
from snndsl.semantics.surrogates import spike_expression
from snndsl.syntax import ast

FIRE_OPTIONS = OptionRules("fire", (("surrogate", "surrogate"),))
RESET_OPTIONS = OptionRules("reset", (("detach", "bool"),))


@dataclass(frozen=True)
class NeuronStep:
    states: tuple[tuple[str, str, float], ...]  # (name, local, init)
    step: tuple[ir.Assignment, ...]
    output: str
    final: tuple[tuple[str, str], ...]  # (state name, local)
    surrogates: tuple[SurrogateValue, ...]
    learn: tuple[tuple[str, str, float], ...] = ()  # (name, local, initial value)


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


class NeuronCompiler(BodyWalker):
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
        self.walk(definition.body)
        if self.spike is None:
            raise self.fail(
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

    # ------------------------------------------------------------------ walker hooks
    def evaluator(self) -> Evaluator:
        return Evaluator(
            self.env, self.reporter, self.defs.call_hook, f"neuron '{self.definition.name}'"
        )

    def misplaced(self, stmt) -> SpecError:
        return self.fail(
            f"'{type(stmt).__name__.lower()}' belongs in a surrogate, not a neuron", stmt.span
        )

    def bind_tensor(self, stmt: ast.Let, value: ir.PyExpr) -> ir.PyExpr:
        return ir.Local(self._emit(f"_{stmt.name}", value))

    def check_new_name(self, name: str, span) -> None:
        if name == "spike":
            raise self.reporter.fail("E0101", "'spike' names the neuron's spike after 'fire'", span)
        super().check_new_name(name, span)

    # ------------------------------------------------------------------ helpers
    def _emit(self, stem: str, value: ir.PyExpr) -> str:
        local = self.ns.fresh(stem)
        self.step.append(ir.Assignment(local, value))
        return local

    # ------------------------------------------------------------------ statements
    def visit_Learn(self, stmt: ast.Learn) -> None:
        self.check_new_name(stmt.name, stmt.span)
        if self.step:
            raise self.fail("declare 'param's before the equations", stmt.span)
        init = self.evaluator().eval(stmt.value)
        try:
            init = coerce(init, "float")
        except TypeError as err:
            raise self.fail(
                f"initial value of param '{stmt.name}': {err}", stmt.value.span
            ) from None
        local = self.ns.fresh(f"_{stmt.name}")
        self.learn.append((stmt.name, local, init))
        self.env[stmt.name] = Dyn(ir.Local(local))

    def visit_Update(self, stmt: ast.Update) -> None:
        if stmt.name not in self.current:
            raise self.fail(
                f"'update' needs a state variable, '{stmt.name}' is not one",
                stmt.span,
                did_you_mean(stmt.name, self.current),
            )
        if self.reset_done:
            raise self.fail("'update' must come before 'reset'", stmt.span)
        value = self.evaluator().eval(stmt.value)
        if not isinstance(value, Dyn):
            raise self.fail("an update must depend on the input or a state", stmt.value.span)
        local = self._emit(f"_{stmt.name}", as_ir(value))
        self.current[stmt.name] = local
        self.env[stmt.name] = Dyn(ir.Local(local))

    def visit_Emit(self, stmt: ast.Emit) -> None:
        if self.emitted is not None:
            raise self.fail("a neuron emits one output", stmt.span)
        value = self.evaluator().eval(stmt.value)
        if not isinstance(value, Dyn):
            raise self.fail("'emit' needs a tensor expression", stmt.value.span)
        self.emitted = self._emit("_out", as_ir(value))

    def visit_State(self, stmt: ast.State) -> None:
        self.check_new_name(stmt.name, stmt.span)
        if self.step:
            raise self.fail("declare 'state' variables before the equations", stmt.span)
        init = self.evaluator().eval(stmt.init)
        try:
            init = coerce(init, "float")
        except TypeError as err:
            raise self.fail(
                f"initial value of state '{stmt.name}': {err}", stmt.init.span
            ) from None
        local = self.ns.fresh(f"_{stmt.name}")
        self.states.append((stmt.name, local, init))
        self.current[stmt.name] = local
        self.env[stmt.name] = Dyn(ir.Local(local))

    def visit_Charge(self, stmt: ast.Charge) -> None:
        if stmt.name not in self.current:
            raise self.fail(
                f"'charge' needs a state variable, '{stmt.name}' is not one",
                stmt.span,
                did_you_mean(stmt.name, self.current),
            )
        if stmt.name in self.charged:
            raise self.fail(f"state '{stmt.name}' is charged twice", stmt.span)
        if self.spike is not None:
            raise self.fail("'charge' must come before 'fire'", stmt.span)
        value = self.evaluator().eval(stmt.value)
        if not isinstance(value, Dyn):
            raise self.fail(
                "a charge equation must depend on the input or a state", stmt.value.span
            )
        stem = "_h" if not self.charged and stmt.name == self.states[0][0] else f"_{stmt.name}_h"
        local = self._emit(stem, value.expr)
        self.charged[stmt.name] = local
        self.current[stmt.name] = local
        self.env[stmt.name] = Dyn(ir.Local(local))

    def visit_Fire(self, stmt: ast.Fire) -> None:
        if self.spike is not None:
            raise self.fail("a neuron fires once per step", stmt.span)
        cond = stmt.condition
        if not (isinstance(cond, ast.Binary) and cond.op == ">="):
            raise self.fail(
                "a fire condition is written 'a >= b' (it spikes where a - b >= 0)", cond.span
            )
        ev = self.evaluator()
        left, right = ev.eval(cond.left), ev.eval(cond.right)
        for side, node in ((left, cond.left), (right, cond.right)):
            if not (
                isinstance(side, Dyn)
                or (isinstance(side, (int, float)) and not isinstance(side, bool))
            ):
                raise self.fail("a fire condition compares numbers or tensors", node.span)
        if not isinstance(left, Dyn) and not isinstance(right, Dyn):
            raise self.fail("a fire condition must depend on a state", cond.span)
        default = self.defs.default_surrogate("Sigmoid")
        surrogate = FIRE_OPTIONS.first(stmt.options, "surrogate", self.evaluator(), default)
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

    def visit_Reset(self, stmt: ast.Reset) -> None:
        if self.spike is None:
            raise self.fail("'reset' must come after 'fire'", stmt.span)
        if self.reset_done:
            raise self.fail("a neuron resets once per step", stmt.span)
        self.reset_done = True
        if stmt.kind == "none":
            return
        if stmt.target not in self.current:
            raise self.fail(
                f"'reset' needs a state variable, '{stmt.target}' is not one",
                stmt.span,
                did_you_mean(stmt.target or "", self.current),
            )
        detach = RESET_OPTIONS.first(stmt.options, "detach", self.evaluator(), False)
        value = self.evaluator().eval(stmt.value)
        if not (
            isinstance(value, Dyn)
            or (isinstance(value, (int, float)) and not isinstance(value, bool))
        ):
            raise self.fail("a reset value must be a number or a tensor", stmt.value.span)
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
