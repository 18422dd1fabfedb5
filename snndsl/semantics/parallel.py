"""Compile ``parallel neuron`` definitions (PSN and its variants) to IR.

A parallel neuron has no recurrence.  Its charge over a whole sequence is one linear map
over time, written ``charge h = M @ x + b``: ``x`` is the input sequence as a
``[T, N * ...]`` matrix, ``M`` a ``[T, T]`` matrix built from the neuron's tensor
``param``s and ``buffer``s, ``b`` a bias.  Generated multi-step code computes it as
SpikingJelly does, ``torch.addmm(b, M, x_seq.flatten(1))``, then fires.

Statements (besides ``require``, static ``if`` and ``let``)::

    steps T                          sequences have exactly T steps
    param w[T, T] = kaiming_uniform(a)   a learnable tensor (or a number, or an
    param b[T, 1] = -1.0                 expression of ``index`` for a vector)
    buffer m[T, T] = band(k)         a tensor kept in the state_dict, not learned
    charge h = M @ x + b             M: an expression of params/buffers, or sliding(w)
    window k, when: cond             single-step form: the last k inputs, while cond holds
    fire h >= 0.0, surrogate: s      spike = s(h - threshold)

The single-step form exists only with a ``window``: step t keeps the last ``n <= k``
inputs and computes ``h = sum(row * stack(window)) + b[t]`` with ``row = M[t, t+1-n : t+1]``
(or the last n weights of ``sliding(w)``), SpikingJelly's order of operations.  Without a
window, or when ``when`` is false for the initial buffer values, generating the
single-step form is error E0208, located at the call.
"""

from __future__ import annotations

from snndsl import ir
from snndsl.diagnostics import Reporter, SpecError, did_you_mean
from snndsl.names import Namespace
from snndsl.semantics.body import BodyWalker, OptionRules, names_in
from snndsl.semantics.evaluate import (
    Dyn,
    Evaluator,
    SurrogateValue,
    coerce,
    describe,
    is_number,
)
from snndsl.semantics.signature import bind
from snndsl.semantics.surrogates import spike_expression
from snndsl.syntax import ast
from snndsl.syntax.formatter import format_expr

# The local holding the charge ``h`` (of one step, or of the whole sequence), which the
# spike equations read; the neuron's own lets are named around it.
CHARGE = "_h"
LOCALS = frozenset({CHARGE})

MAX_ELEMENTS = 1 << 24  # a param or buffer bigger than this is surely a mistake
INIT_FUNCTIONS = ("kaiming_uniform", "band")
FIRE_OPTIONS = OptionRules("fire", (("surrogate", "surrogate"),), "its option is: surrogate")
WINDOW_OPTIONS = OptionRules("window", (("when", None),), "its option is: when")


class ParallelCompiler(BodyWalker):
    """Runs one ``parallel neuron`` definition with bound arguments; builds its IR node."""

    RESERVED = ("x", "index")

    def __init__(self, defs, reporter: Reporter, namespace: Namespace):
        self.defs = defs
        self.reporter = reporter
        self.ns = namespace

    # ------------------------------------------------------------------ entry point
    def compile(self, definition: ast.NeuronDef, call: ast.Call, env: dict, **fields):
        params = self.defs.signature(definition, self.reporter)
        outer = Evaluator(env, self.reporter, self.defs.call_hook, f"'{call.func}' arguments")
        bound = bind(call, params, outer, self.reporter, f"neuron '{definition.name}'")
        self.definition, self.call, self.attr = definition, call, fields["attr"]
        self.bound = bound
        self.env: dict[str, object] = dict(bound.values)
        self.args = tuple((p.name, bound.values[p.name]) for p in params)
        self.steps: int | None = None
        self.tensors: list[ir.TensorIR] = []
        self.setup: list[ir.Assignment] = []
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.inits: dict[str, object] = {}  # scalar buffer name -> initial value
        self.charge: tuple[str, ir.PyExpr | None, str | None, ir.PyExpr | None] | None = None
        self.window: int | None = None
        self.when: tuple[ir.PyExpr, ast.Expr] | None = None
        self.when_ast: ast.Expr | None = None
        self.when_static: bool | None = None
        self.fired: tuple[list[ir.Assignment], ir.PyExpr, SurrogateValue] | None = None
        self.walk(definition.body)
        if self.charge is None:
            raise self.fail(
                f"parallel neuron '{definition.name}' has no 'charge h = M @ x + b'",
                definition.name_span,
            )
        if self.fired is None:
            raise self.fail(
                f"parallel neuron '{definition.name}' has no 'fire' statement",
                definition.name_span,
            )
        return self._build(fields)

    def _build(self, fields) -> ir.ParallelIR:
        _, matrix, sliding, bias = self.charge
        spike_steps, spike, surrogate = self.fired
        bias_per_step = False
        if isinstance(bias, ir.ParamRef):
            shape = self.shapes.get(bias.name, ())
            bias_per_step = self.steps is not None and len(shape) >= 1 and shape[0] == self.steps
        args = ", ".join(
            f"{k}={describe(surrogate if k == 'surrogate' else v)}" for k, v in self.args
        )
        return ir.ParallelIR(
            neuron=self.definition.name,
            spec=f"{self.definition.name}({args})",
            args=tuple(
                ir.Binding(k, _surrogate_ref(v) if isinstance(v, SurrogateValue) else v)
                for k, v in self.args
            ),
            tensors=tuple(self.tensors),
            steps=self.steps,
            matrix=matrix,
            setup=tuple(self.setup),
            sliding=sliding,
            bias=bias,
            bias_per_step=bias_per_step,
            spike_steps=tuple(spike_steps),
            spike=spike,
            window=self.window,
            window_when=self.when[0] if self.when else None,
            window_when_text=format_expr(self.when_ast) if self.when_ast else None,
            window_holds=self.when_static,
            window_values=tuple(
                ir.Binding(k, v)
                for k, v in self.inits.items()
                if self.when_ast is not None and k in names_in(self.when_ast)
            ),
            surrogate=_surrogate_ref(surrogate),
            **fields,
        )

    # ------------------------------------------------------------------ helpers
    def _ev(self, extra: dict | None = None) -> Evaluator:
        env = {**self.env, **(extra or {})}
        return Evaluator(
            env, self.reporter, self.defs.call_hook, f"neuron '{self.definition.name}'"
        )

    def _static_int(self, expr: ast.Expr, what: str) -> int:
        value = self._ev().eval(expr)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(f"{what} must be a constant int, got {describe(value)}", expr.span)
        if value < 1:
            raise self.reporter.fail(
                "E0403",
                f"{self.definition.name}: {what} must be at least 1, got {value}",
                self.call.span,
            )
        return value

    # ------------------------------------------------------------------ walker hooks
    def evaluator(self) -> Evaluator:
        return self._ev()

    def misplaced(self, stmt) -> SpecError:
        return self.fail(
            f"'{type(stmt).__name__.lower()}' has no place in a parallel neuron",
            stmt.span,
            "a parallel neuron has no state: it uses steps, param, buffer, charge "
            "h = M @ x + b, window and fire",
        )

    def bind_tensor(self, stmt: ast.Let, value: ir.PyExpr) -> ir.PyExpr:
        if self.charge is not None:
            raise self.fail("tensor 'let's come before 'charge'", stmt.span)
        local = self.ns.fresh(f"_{stmt.name}")
        self.setup.append(ir.Assignment(local, value))
        return ir.Local(local)

    # ------------------------------------------------------------------ statements
    def visit_Steps(self, stmt: ast.Steps) -> None:
        if self.steps is not None:
            raise self.fail("'steps' is given twice", stmt.span)
        if self.tensors:
            raise self.fail("give 'steps' before the params and buffers", stmt.span)
        self.steps = self._static_int(stmt.value, "steps")

    # ------------------------------------------------------------------ tensors
    def visit_Learn(self, stmt: ast.Learn | ast.Buffer) -> None:
        kind = "param" if isinstance(stmt, ast.Learn) else "buffer"
        if "." in stmt.name:
            raise self.reporter.fail(
                "E0101",
                f"'{stmt.name}': a parallel neuron's {kind}s take plain names",
                stmt.span,
                f"{kind} {stmt.name.replace('.', '_')}[...] (dotted names are for neurons)",
            )
        self.check_new_name(stmt.name, stmt.span)
        if self.charge is not None:
            raise self.fail(f"declare '{kind}'s before 'charge'", stmt.span)
        shape: tuple[int, ...] = ()
        if stmt.shape is not None:
            shape = tuple(self._static_int(e, f"a dimension of '{stmt.name}'") for e in stmt.shape)
        count = 1
        for d in shape:
            count *= d
        if count > MAX_ELEMENTS:
            raise self.reporter.fail(
                "E0403",
                f"{self.definition.name}: '{stmt.name}' would hold {count} elements",
                self.call.span,
            )
        init = self._init(stmt, kind, shape)
        if kind == "buffer" and not shape and isinstance(init, ir.Fill):
            self.inits[stmt.name] = init.value
        self.tensors.append(ir.TensorIR(stmt.name, kind == "param", shape, init))
        self.shapes[stmt.name] = shape
        self.env[stmt.name] = Dyn(ir.ParamRef(self.attr, stmt.name))

    visit_Buffer = visit_Learn

    def _init(self, stmt, kind: str, shape: tuple[int, ...]):
        value = stmt.value
        if isinstance(value, ast.Call) and value.func in INIT_FUNCTIONS:
            return self._init_call(value, kind, shape)
        if "index" in names_in(value):
            if len(shape) != 1:
                raise self.fail(
                    "'index' numbers the elements of a vector; this is not a vector",
                    value.span,
                )
            return ir.Values(tuple(self._number(value, {"index": i}) for i in range(shape[0])))
        return ir.Fill(self._number(value, {}))

    def _number(self, expr: ast.Expr, extra: dict) -> float:
        v = self._ev(extra).eval(expr)
        if not is_number(v):
            raise self.fail(
                f"an initial value is a number, 'kaiming_uniform(a)' or 'band(k)'; "
                f"got {describe(v) if not isinstance(v, Dyn) else 'a tensor expression'}",
                expr.span,
            )
        return coerce(v, "float")

    def _init_call(self, call: ast.Call, kind: str, shape: tuple[int, ...]):
        if len(call.args) != 1 or call.args[0].name is not None:
            raise self.reporter.fail("E0206", f"'{call.func}' takes one argument", call.span)
        arg = call.args[0].value
        if call.func == "kaiming_uniform":
            if kind != "param" or len(shape) not in (1, 2):
                raise self.fail("kaiming_uniform initialises a vector or matrix param", call.span)
            return ir.Kaiming(self._number(arg, {}))
        if len(shape) != 2 or shape[0] != shape[1]:
            raise self.fail("band(k) fills a square matrix", call.span)
        return ir.Band(self._static_int(arg, "the width of band()"))

    # ------------------------------------------------------------------ equations
    def visit_Charge(self, stmt: ast.Charge) -> None:
        if self.charge is not None:
            raise self.fail("a parallel neuron charges once", stmt.span)
        self.check_new_name(stmt.name, stmt.span)
        expr = stmt.value
        bias_expr = None
        if isinstance(expr, ast.Binary) and expr.op == "+":
            expr, bias_expr = expr.left, expr.right
        if not (
            isinstance(expr, ast.Binary)
            and expr.op == "@"
            and isinstance(expr.right, ast.Name)
            and expr.right.id == "x"
        ):
            raise self.fail(
                "a parallel neuron's charge is 'M @ x + b': a [T, T] matrix times the "
                "input sequence, plus an optional bias",
                stmt.value.span,
            )
        matrix, sliding = self._matrix(expr.left)
        bias = None
        if bias_expr is not None:
            bias = self._ev().eval(bias_expr)
            if not (isinstance(bias, Dyn) and isinstance(bias.expr, ir.ParamRef)):
                raise self.fail("the bias 'b' in 'M @ x + b' is a param or buffer", bias_expr.span)
            bias = bias.expr
        self.charge = (stmt.name, matrix, sliding, bias)
        self.env[stmt.name] = Dyn(ir.Local(CHARGE))

    def _matrix(self, expr: ast.Expr) -> tuple[ir.PyExpr | None, str | None]:
        if "x" in names_in(expr):
            raise self.fail("the matrix 'M' in 'M @ x' cannot depend on the input", expr.span)
        if isinstance(expr, ast.Call) and expr.func == "sliding":
            if len(expr.args) != 1 or not isinstance(expr.args[0].value, ast.Name):
                raise self.reporter.fail(
                    "E0206", "sliding takes one argument: a vector param", expr.span
                )
            name = expr.args[0].value.id
            if len(self.shapes.get(name, ())) != 1:
                raise self.fail(
                    f"sliding(w) needs a vector param; '{name}' is not one",
                    expr.args[0].value.span,
                    did_you_mean(name, self.shapes),
                )
            return None, name
        value = self._ev().eval(expr)
        if not isinstance(value, Dyn) or value.kind != "float":
            raise self.fail("'M' in 'M @ x' is a matrix of params and buffers", expr.span)
        if self.steps is None:
            raise self.fail("a [T, T] matrix needs 'steps T' (or use sliding(w))", expr.span)
        return value.expr, None

    def visit_Window(self, stmt: ast.Window) -> None:
        if self.window is not None:
            raise self.fail("'window' is given twice", stmt.span)
        if self.charge is None:
            raise self.fail("'window' comes after 'charge'", stmt.span)
        self.window = self._static_int(stmt.value, "the window")
        for opt in stmt.options:
            WINDOW_OPTIONS.check_name(opt, self.reporter)
            cond = WINDOW_OPTIONS.value(opt, self._ev())
            self.when_ast = opt.value
            if not (isinstance(cond, bool) or (isinstance(cond, Dyn) and cond.kind == "bool")):
                raise self.fail("'when' is a condition", opt.value.span)
            if isinstance(cond, bool):
                self.when_static = cond
                continue
            self.when = (cond.expr, opt.value)
            static = Evaluator(self.inits, Reporter(None)).eval
            try:
                result = static(opt.value)
            except SpecError:  # it reads a tensor: decided at run time only
                result = None
            self.when_static = result if isinstance(result, bool) else None

    def visit_Fire(self, stmt: ast.Fire) -> None:
        if self.fired is not None:
            raise self.fail("a neuron fires once", stmt.span)
        if self.charge is None:
            raise self.fail("'fire' comes after 'charge'", stmt.span)
        cond = stmt.condition
        if not (isinstance(cond, ast.Binary) and cond.op in (">=", ">")):
            raise self.fail(
                "a fire condition is written 'h >= threshold' (it spikes where h - threshold >= 0)"
                " or 'h > threshold' (where h - threshold > 0)",
                cond.span,
            )
        left, right = self._ev().eval(cond.left), self._ev().eval(cond.right)
        if not isinstance(left, Dyn) or not (is_number(right) or isinstance(right, Dyn)):
            raise self.fail("a fire condition compares the charge with a threshold", cond.span)
        surrogate = self.defs.default_surrogate("ATan")
        for opt in stmt.options:  # the last one counts
            FIRE_OPTIONS.check_name(opt, self.reporter)
            surrogate = FIRE_OPTIONS.value(opt, self._ev())
        arg = left.expr
        if not (is_number(right) and right == 0):  # h >= 0 spikes on h itself
            arg = ir.BinOp("-", arg, right.expr if isinstance(right, Dyn) else ir.Const(right))
        steps, spike = spike_expression(
            surrogate, arg, self.ns, self.reporter, self.defs, strict=cond.op == ">"
        )
        self.fired = (steps, spike, surrogate)


def single_step_problem(node: ir.ParallelIR) -> str | None:
    """Why ``node`` has no single-step form (error E0208 when one is asked for), or None."""
    if node.window is None:
        steps = f"all {node.steps}" if node.steps is not None else "all"
        return (
            f"{node.neuron} mixes {steps} time steps at once (it has no 'window'), "
            "so it has no single-step form"
        )
    if node.window_holds is False:
        shown = ", ".join(f"{b.name} = {describe(b.value)}" for b in node.window_values)
        return f"{node.neuron} has a single-step form only when {node.window_when_text}" + (
            f" ({shown} here)" if shown else ""
        )
    return None


def _surrogate_ref(value: SurrogateValue) -> ir.SurrogateRef:
    return ir.SurrogateRef(value.definition.name, value.args, value.spiking)
