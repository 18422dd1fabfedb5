"""Compile neuron definitions to IR: one step of the neuron as assignments.

One generic path for every neuron: bind the call's arguments to the definition's
parameters, run the body with the parameters as constants (``require`` checks, static
``if`` blocks and ``let``s resolve in :mod:`snndsl.semantics.body`), and emit the step
as IR assignments::

    charge v = e      ->  _h = e                      (v now names the charged value)
    fire a >= b       ->  _spike = <Surrogate>.spike(a - b, *params)
    fire a > b        ->  the same Spike, strict (1 where a - b > 0)
    reset v = r       ->  _v = _spike * r + (1.0 - _spike) * _h      (hard)
    reset v -= r      ->  _v = _h - _spike * r                        (soft)
    reset none        ->  _v = _h
    reset v -= r, delay: true  (before fire)
                      ->  _v_r = _h - _spike_prev * r, with the state _spike_prev taking
                          each step's spike (detached with detach: true)
    emit e            ->  _out = e (the output; a neuron may emit and not fire)

which is SpikingJelly's order of operations (``_ops/reset.py``; snnTorch's for the
delayed reset).  ``param``/``buffer`` declare a layer's scalars and tensors (one value
per neuron, ``[features]``, or a ``[features, features]`` matrix applied by ``W @ v``);
a ``state`` may start from one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from snndsl import ir
from snndsl.diagnostics import Reporter, SpecError, did_you_mean
from snndsl.names import Namespace, identifier_problem
from snndsl.semantics.body import BodyWalker, OptionRules
from snndsl.semantics.definitions import Definitions
from snndsl.semantics.evaluate import (
    Dyn,
    Evaluator,
    SurrogateValue,
    as_ir,
    coerce,
    describe,
    is_number,
)
from snndsl.semantics.signature import ParamSpec, bind
from snndsl.semantics.surrogates import spike_expression
from snndsl.syntax import ast

FIRE_OPTIONS = OptionRules("fire", (("surrogate", "surrogate"),))
RESET_OPTIONS = OptionRules("reset", (("detach", "bool"), ("delay", "bool")))
INIT_FUNCTIONS = ("kaiming_uniform", "diagonal")
MAX_ELEMENTS = 1 << 24  # a neuron tensor bigger than this is surely a mistake
# The name of the hidden state holding the previous step's spike (``reset ..., delay:
# true``); 'spike' cannot name a spec state, so it never clashes.
PREVIOUS_SPIKE = "spike"


@dataclass(frozen=True)
class NeuronStep:
    # (name, local, initial value: a number, or a ParamRef naming a param or buffer)
    states: tuple[tuple[str, str, float | ir.ParamRef], ...]
    step: tuple[ir.Assignment, ...]
    output: str
    final: tuple[tuple[str, str], ...]  # (state name, local)
    surrogates: tuple[SurrogateValue, ...]
    learn: tuple[tuple[str, str, float], ...] = ()  # (name, local, initial value)
    tensors: tuple[tuple[ir.TensorIR, str], ...] = ()  # shaped params, buffers; local


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

    def compile(
        self, definition: ast.NeuronDef, call: ast.Call, env: dict, shape: tuple[int, ...] = ()
    ) -> NeuronStep:
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
        self.shape = shape
        self.env.setdefault("features", shape)  # the layer's shape, for param shapes
        key = _memo_key(definition, bound.values)
        if key is not None:
            key = (*key, shape)
        if key in self.defs.compiled:
            return self.defs.compiled[key]
        result = self._in_own_file(definition, call, lambda: self._compile_body(definition))
        if key is not None:
            self.defs.compiled[key] = result
        return result

    def _in_own_file(self, definition: ast.NeuronDef, call: ast.Call, work):
        """Run ``work`` with the body's diagnostics located in the file that defines the
        neuron (a prelude library, an imported file), each with a note naming the call
        that instantiated it; a failed ``require`` stays at the call."""
        outer = self.reporter.source
        own = self.defs.sources.get(definition.name, outer)
        self.call_source = outer
        if own is outer:
            return work()
        before = len(self.reporter.diagnostics)
        self.reporter.source = own
        try:
            return work()
        except SpecError:
            where = outer.path if outer is not None else "<spec>"
            note = (
                f"in neuron '{definition.name}', called at "
                f"{where}:{call.span.line}:{call.span.column}"
            )
            diags = self.reporter.diagnostics
            for i in range(before, len(diags)):
                if diags[i].source is own:
                    diags[i] = replace(diags[i], notes=(*diags[i].notes, note))
            raise SpecError(diags) from None
        finally:
            self.reporter.source = outer

    def require_failed(self, stmt: ast.Require) -> SpecError:
        own, self.reporter.source = self.reporter.source, self.call_source
        try:
            return super().require_failed(stmt)
        finally:
            self.reporter.source = own

    def _compile_body(self, definition: ast.NeuronDef) -> NeuronStep:
        self.states: list[tuple[str, str, float]] = []
        self.step: list[ir.Assignment] = []
        self.current: dict[str, str] = {}  # state name -> local holding its latest value
        self.charged: dict[str, str] = {}
        self.spike: str | None = None
        self.reset_done = False
        self.surrogates: list[SurrogateValue] = []
        self.learn: list[tuple[str, str, float]] = []
        self.tensors: list[tuple[ir.TensorIR, str]] = []
        self.param_locals: dict[str, str] = {}  # param/buffer local -> its name
        self.emitted: str | None = None
        self.delayed: tuple[str, str] | None = None  # (previous spike's local, its next value)
        self.delayed_span = None
        self.walk(definition.body)
        if self.spike is None and self.emitted is None:
            raise self.fail(
                f"neuron '{definition.name}' has no 'fire' statement (nor an 'emit')",
                definition.name_span,
                "a neuron without a spike outputs what it emits: 'emit v'",
            )
        if self.delayed is not None:
            if self.spike is None:
                raise self.fail(
                    "'reset ..., delay: true' resets by the previous step's spike, "
                    "but this neuron does not fire",
                    self.delayed_span,
                )
            # the spike of this step is the next step's previous spike
            self.current[PREVIOUS_SPIKE] = self.delayed[1]
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
            tuple(self.tensors),
        )
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
    def visit_Learn(self, stmt: ast.Learn | ast.Buffer) -> None:
        kind = "param" if isinstance(stmt, ast.Learn) else "buffer"
        # `buffer beta = beta`: a param or buffer may take the name of the argument it is
        # made from (a peer's state_dict key), which then names the tensor
        argument = any(p.name == stmt.name for p in self.definition.params)
        if "." in stmt.name:  # `param recurrent.weight`: in a submodule of the layer
            for part in stmt.name.split("."):
                problem = identifier_problem(part)
                if problem:
                    raise self.reporter.fail("E0101", f"'{stmt.name}': {problem}", stmt.span)
            if stmt.name in self.env:
                raise self.reporter.fail(
                    "E0102", f"'{stmt.name}' is already defined here", stmt.span
                )
        elif not argument or isinstance(self.env.get(stmt.name), Dyn):
            self.check_new_name(stmt.name, stmt.span)
        if self.step:
            raise self.fail(f"declare '{kind}'s before the equations", stmt.span)
        shape = self._tensor_shape(stmt)
        if shape is None and kind == "param":  # a learnable scalar
            init = self.evaluator().eval(stmt.value)
            try:
                init = coerce(init, "float")
            except TypeError as err:
                raise self.fail(
                    f"initial value of param '{stmt.name}': {err}", stmt.value.span
                ) from None
            local = self.ns.fresh(f"_{stmt.name}".replace(".", "_"))
            self.learn.append((stmt.name, local, init))
            self.param_locals[local] = stmt.name
            self.env[stmt.name] = Dyn(ir.Local(local))
            return
        shape = shape or ()
        tensor = ir.TensorIR(stmt.name, kind == "param", shape, self._tensor_init(stmt, shape))
        local = self.ns.fresh(f"_{stmt.name}".replace(".", "_"))
        self.tensors.append((tensor, local))
        self.param_locals[local] = stmt.name
        self.env[stmt.name] = Dyn(ir.Local(local), matrix=len(shape) == 2 and shape != self.shape)

    visit_Buffer = visit_Learn

    def _tensor_shape(self, stmt: ast.Learn | ast.Buffer) -> tuple[int, ...] | None:
        """The declared shape (``features`` is the layer's shape), checked: one value per
        neuron, or a square matrix over a one-dimensional layer; None when undeclared."""
        if stmt.shape is None:
            return None
        dims: list[int] = []
        ev = self.evaluator()
        for d in stmt.shape:
            v = ev.eval(d)
            items = v if isinstance(v, tuple) else (v,)
            for item in items:
                if not isinstance(item, int) or isinstance(item, bool) or item < 1:
                    raise self.fail(
                        f"a dimension of '{stmt.name}' is a positive int, got {describe(item)}",
                        d.span,
                    )
                dims.append(item)
        shape = tuple(dims)
        layer = self.shape
        if shape == () or shape == layer:
            return shape
        if len(layer) == 1 and shape == (layer[0], layer[0]):
            return shape
        size = 1
        for d in shape:
            size *= d
        matrix = f", or [{layer[0]}, {layer[0]}] (a matrix for '@')" if len(layer) == 1 else ""
        raise self.reporter.fail(
            "E0302",
            f"'{stmt.name}[{', '.join(map(str, shape))}]' does not fit this layer of shape "
            f"[{', '.join(map(str, layer))}]",
            stmt.span,
            f"a neuron's tensors are scalars, one value per neuron: [features] = "
            f"[{', '.join(map(str, layer))}]{matrix}"
            + (f"; {size} elements requested" if size > MAX_ELEMENTS else ""),
        )

    def _tensor_init(self, stmt: ast.Learn | ast.Buffer, shape: tuple[int, ...]):
        value = stmt.value
        if isinstance(value, ast.Call) and value.func in INIT_FUNCTIONS:
            ev = self.evaluator()
            args = [ev.eval(a.value) for a in value.args]
            if any(a.name is not None for a in value.args) or not all(map(is_number, args)):
                raise self.reporter.fail(
                    "E0206", f"'{value.func}' takes numbers, by position", value.span
                )
            if value.func == "kaiming_uniform":
                # a [features] vector is drawn as one [1, features] row: bound
                # 1 / sqrt(features) for a = sqrt(5), nn.Linear's bias
                if len(args) != 1 or not shape:
                    raise self.fail("kaiming_uniform(a) initialises a matrix or vector", value.span)
                return ir.Kaiming(float(args[0]))
            if len(shape) != 2:
                raise self.fail(f"'{value.func}' initialises a matrix", value.span)
            if len(args) != 2:
                raise self.reporter.fail(
                    "E0206", "diagonal(d, off) takes the diagonal and the rest", value.span
                )
            return ir.Diagonal(float(args[0]), float(args[1]))
        init = self.evaluator().eval(value)
        try:
            return ir.Fill(coerce(init, "float"))
        except TypeError as err:
            raise self.fail(
                f"initial value of {'param' if isinstance(stmt, ast.Learn) else 'buffer'} "
                f"'{stmt.name}': {err}",
                value.span,
                "a number (every element), kaiming_uniform(a) or diagonal(d, off)",
            ) from None

    def visit_Update(self, stmt: ast.Update) -> None:
        if stmt.name not in self.current:
            raise self.fail(
                f"'update' needs a state variable, '{stmt.name}' is not one",
                stmt.span,
                did_you_mean(stmt.name, self.current),
            )
        if self.reset_done:
            raise self.fail("'update' must come before 'reset'", stmt.span)
        value = self._vector(self.evaluator().eval(stmt.value), stmt.value, "an update")
        local = self._emit(f"_{stmt.name}", as_ir(value))
        self.current[stmt.name] = local
        self.env[stmt.name] = Dyn(ir.Local(local))

    def visit_Emit(self, stmt: ast.Emit) -> None:
        if self.emitted is not None:
            raise self.fail("a neuron emits one output", stmt.span)
        value = self._vector(self.evaluator().eval(stmt.value), stmt.value, "'emit'")
        self.emitted = self._emit("_out", as_ir(value))

    def visit_State(self, stmt: ast.State) -> None:
        self.check_new_name(stmt.name, stmt.span)
        if self.step:
            raise self.fail("declare 'state' variables before the equations", stmt.span)
        init = self.evaluator().eval(stmt.init)
        if isinstance(init, Dyn) and isinstance(init.expr, ir.Local):
            name = self.param_locals.get(init.expr.name)
            if name is not None and not init.matrix:  # starts from a param or buffer
                init = ir.ParamRef("", name)  # the checker names the layer
        if not isinstance(init, ir.ParamRef):
            try:
                init = coerce(init, "float")
            except TypeError as err:
                raise self.fail(
                    f"initial value of state '{stmt.name}': {err}",
                    stmt.init.span,
                    "a number, or the name of a param or buffer of this neuron",
                ) from None
        local = self.ns.fresh(f"_{stmt.name}")
        self.states.append((stmt.name, local, init))
        self.current[stmt.name] = local
        self.env[stmt.name] = Dyn(ir.Local(local))

    def _vector(self, value, node: ast.Expr, what: str) -> Dyn:
        """``value`` as a tensor of the layer's shape (E0401 for a constant or a matrix)."""
        if not isinstance(value, Dyn):
            raise self.fail(f"{what} must depend on the input or a state", node.span)
        if value.matrix:
            raise self.fail(
                f"{what} is a matrix, not a value per neuron", node.span, "apply it with 'W @ v'"
            )
        return value

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
        value = self._vector(self.evaluator().eval(stmt.value), stmt.value, "a charge equation")
        stem = "_h" if not self.charged and stmt.name == self.states[0][0] else f"_{stmt.name}_h"
        local = self._emit(stem, value.expr)
        self.charged[stmt.name] = local
        self.current[stmt.name] = local
        self.env[stmt.name] = Dyn(ir.Local(local))

    def visit_Fire(self, stmt: ast.Fire) -> None:
        if self.spike is not None:
            raise self.fail("a neuron fires once per step", stmt.span)
        cond = stmt.condition
        if not (isinstance(cond, ast.Binary) and cond.op in (">=", ">")):
            raise self.fail(
                "a fire condition is written 'a >= b' (it spikes where a - b >= 0) "
                "or 'a > b' (where a - b > 0)",
                cond.span,
            )
        ev = self.evaluator()
        left, right = ev.eval(cond.left), ev.eval(cond.right)
        for side, node in ((left, cond.left), (right, cond.right)):
            if not (
                isinstance(side, Dyn)
                or (isinstance(side, (int, float)) and not isinstance(side, bool))
            ):
                raise self.fail("a fire condition compares numbers or tensors", node.span)
            if isinstance(side, Dyn) and side.matrix:
                raise self.fail(
                    "a fire condition compares values per neuron, not a matrix", node.span
                )
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
        steps, spike = spike_expression(
            surrogate, arg, self.ns, self.reporter, self.defs, strict=cond.op == ">"
        )
        self.step.extend(steps)
        self.spike = self._emit("_spike", spike)
        self.env["spike"] = Dyn(ir.Local(self.spike))
        if self.delayed is not None:  # the previous-spike state takes this step's spike
            next_value = self.spike
            if self.delayed[1] == "detach":
                next_value = self._emit("_spike_d", ir.Detach(ir.Local(self.spike)))
            self.delayed = (self.delayed[0], next_value)

    def visit_Reset(self, stmt: ast.Reset) -> None:
        ev = self.evaluator()
        delay = RESET_OPTIONS.first(stmt.options, "delay", ev, False)
        if self.spike is None and not delay:
            raise self.fail(
                "'reset' must come after 'fire'",
                stmt.span,
                "or reset by the previous step's spike: 'reset ..., delay: true'",
            )
        if self.reset_done or self.delayed is not None:
            raise self.fail("a neuron resets once per step", stmt.span)
        self.reset_done = True
        if stmt.kind == "none":
            return
        if stmt.target not in self.current or stmt.target == PREVIOUS_SPIKE:
            raise self.fail(
                f"'reset' needs a state variable, '{stmt.target}' is not one",
                stmt.span,
                did_you_mean(stmt.target or "", self.current),
            )
        detach = RESET_OPTIONS.first(stmt.options, "detach", ev, False)
        value = ev.eval(stmt.value)
        if not (
            isinstance(value, Dyn)
            or (isinstance(value, (int, float)) and not isinstance(value, bool))
        ):
            raise self.fail("a reset value must be a number or a tensor", stmt.value.span)
        if isinstance(value, Dyn) and value.matrix:
            raise self.fail("a reset value is a value per neuron, not a matrix", stmt.value.span)
        val = value.expr if isinstance(value, Dyn) else ir.Const(value)
        if delay:
            # the spike of the previous step (0 at the first step): a state of its own,
            # stored detached when the reset detaches it
            if self.spike is not None:
                raise self.fail(
                    "a reset by the previous step's spike comes before 'fire'",
                    stmt.span,
                    "after 'fire' it would reset by a spike the neuron has already "
                    "acted on; write it where the previous spike takes effect (snnTorch: "
                    "subtract after the charge, zero before it)",
                )
            local = self.ns.fresh("_spike_prev")
            self.states.append((PREVIOUS_SPIKE, local, 0.0))
            self.delayed = (local, "detach" if detach else "keep")
            self.delayed_span = stmt.span
            spike: ir.PyExpr = ir.Local(local)
        else:
            spike = ir.Local(self.spike)
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
        if delay:
            local = self._emit(f"_{stmt.target}_r", expr)
            self.current[stmt.target] = local
            self.env[stmt.target] = Dyn(ir.Local(local))
            self.reset_done = False  # 'update's may follow a reset before 'fire'
            return
        local = next(loc for name, loc, _ in self.states if name == stmt.target)
        self.step.append(ir.Assignment(local, expr))
        self.current[stmt.target] = local
        self.env[stmt.target] = Dyn(ir.Local(local))
