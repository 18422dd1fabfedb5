"""Evaluate spec expressions: constants fold to Python values, tensor terms become IR.

Parameters of networks, neurons and surrogates are compile-time constants, so most spec
expressions evaluate to a Python value.  Inside neuron and surrogate equations some
names are tensors (the input ``x``, state variables, ``let``s that depend on them); an
expression touching one evaluates to :class:`Dyn`, wrapping an IR expression tree that
keeps the spec's order of operations.  Subtrees that are fully constant fold with
Python float arithmetic, which is exactly what the unfolded generated code would do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from snndsl import ir, limits
from snndsl.diagnostics import Reporter, SpecError, did_you_mean
from snndsl.semantics.functions import CONDITION_ARGS, CONSTANTS, FUNCTIONS
from snndsl.syntax import ast


@dataclass(frozen=True)
class SurrogateValue:
    """A surrogate function with bound parameters, e.g. ``ATan(alpha=2.0)``."""

    definition: ast.SurrogateDef
    args: tuple[tuple[str, float], ...]
    spiking: bool = True

    def describe(self) -> str:
        parts = [f"{k}={v!r}" for k, v in self.args]
        if not self.spiking:
            parts.append("spiking=false")
        return f"{self.definition.name}({', '.join(parts)})"


@dataclass(frozen=True)
class Dyn:
    """A tensor-valued expression; ``kind`` is 'float' or 'bool' (a comparison)."""

    expr: ir.PyExpr
    kind: str = "float"
    scalar: bool = False  # a runtime number, not a tensor (a surrogate's float parameter)
    matrix: bool = False  # a neuron's matrix (param W[n, n]): only '@' applies it to a vector


Value = object  # int | float | bool | None | str | tuple | SurrogateValue | Dyn


def type_name(value: Value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, tuple):
        return "list"
    if isinstance(value, SurrogateValue):
        return "surrogate"
    if isinstance(value, Dyn):
        return "tensor"
    return type(value).__name__


def describe(value: Value) -> str:
    if isinstance(value, SurrogateValue):
        return value.describe()
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        from snndsl.syntax.formatter import quote_string

        return quote_string(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(describe(v) for v in value) + "]"
    return repr(value)


def is_number(v: Value) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def expr_depth(e: ir.PyExpr) -> int:
    """Levels of nesting in an IR expression, counted without recursion."""
    deepest = 0
    stack = [(e, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        ir.map_children(node, lambda child, level=level: stack.append((child, level + 1)) or child)
    return deepest


def as_ir(v: Value) -> ir.PyExpr:
    """The IR of a number or float tensor; bool tensors become 0.0/1.0."""
    if isinstance(v, Dyn):
        if v.kind == "bool":
            return ir.AsFloat(v.expr, _tensor_local(v.expr, set()) or v.expr)
        return v.expr
    return ir.Const(v)


def _is_exactly(v, target: float) -> bool:
    """``v`` is the number ``target`` (not a bool), with the same sign if it is zero."""
    if isinstance(v, bool) or not is_number(v) or v != target:
        return False
    return math.copysign(1.0, v) == math.copysign(1.0, target)


def _identity(op: str, left, right) -> Dyn | None:
    """The tensor operand of ``x - 0``, ``x * 1``, ``1 * x`` or ``x / 1``: IEEE 754 gives
    exactly ``x`` for every float ``x`` (-0.0, infinities and NaN included), so the
    operation is dropped: a LIF with v_reset = 0 charges ``v + (x - v) / tau``, where
    SpikingJelly computes ``v + (x - (v - 0.0)) / tau``, one pass over memory more for the
    same bits.  None for anything else, and for bool tensors, whose arithmetic makes
    floats."""
    if isinstance(left, Dyn) and left.kind == "float":
        if (op == "-" and _is_exactly(right, 0.0)) or (
            op in ("*", "/") and _is_exactly(right, 1.0)
        ):
            return left
    if isinstance(right, Dyn) and right.kind == "float" and op == "*" and _is_exactly(left, 1.0):
        return right
    return None


class Evaluator:
    """Evaluates expressions against an environment of constants and tensor names.

    ``call_hook`` resolves calls that are not tensor functions (surrogate constructors);
    it returns ``NotImplemented`` for names it does not know.
    """

    def __init__(
        self,
        env: Mapping[str, Value],
        reporter: Reporter,
        call_hook: Callable[[ast.Call, Evaluator], Value] | None = None,
        context: str = "expression",
    ):
        self.env = dict(env)
        self.reporter = reporter
        self.call_hook = call_hook
        self.context = context

    def fail(self, code: str, message: str, node, hint: str | None = None) -> SpecError:
        return self.reporter.fail(code, message, node.span, hint)

    def eval(self, e: ast.Expr) -> Value:
        if isinstance(e, ast.Num):
            return self._bounded(e.value, e)
        if isinstance(e, ast.Bool):
            return e.value
        if isinstance(e, ast.NoneLit):
            return None
        if isinstance(e, ast.Str):
            return e.value
        if isinstance(e, ast.ListExpr):
            items = tuple(self.eval(i) for i in e.items)
            for item, node in zip(items, e.items):
                if isinstance(item, Dyn):
                    raise self.fail("E0402", "a list cannot hold tensor values", node)
            return items
        if isinstance(e, ast.Name):
            if e.id in self.env:
                return self.env[e.id]
            if e.id in CONSTANTS:
                return CONSTANTS[e.id]
            if e.id in ("True", "False", "None"):
                raise self.fail("E0103", f"undefined name '{e.id}'", e, f"write '{e.id.lower()}'")
            raise self.fail(
                "E0103",
                f"undefined name '{e.id}' in {self.context}",
                e,
                did_you_mean(e.id, [*self.env, *CONSTANTS]),
            )
        if isinstance(e, ast.Unary):
            return self._unary(e)
        if isinstance(e, ast.Binary):
            return self._binary(e)
        if isinstance(e, ast.Call):
            return self._call(e)
        raise TypeError(e)  # pragma: no cover - the AST is closed

    # ------------------------------------------------------------------ operators
    def _unary(self, e: ast.Unary) -> Value:
        v = self.eval(e.operand)
        if e.op == "not":
            if isinstance(v, bool):
                return not v
            raise self.fail("E0402", f"'not' needs a bool, got {type_name(v)}", e)
        if isinstance(v, Dyn):
            value = ir.Neg(as_ir(v)) if e.op == "-" else as_ir(v)
            return Dyn(value, matrix=v.matrix)
        if not is_number(v):
            raise self.fail("E0402", f"unary '{e.op}' needs a number, got {type_name(v)}", e)
        return -v if e.op == "-" else +v

    def _binary(self, e: ast.Binary) -> Value:
        op = e.op
        if op == "??":
            left = self.eval(e.left)
            return self.eval(e.right) if left is None else left
        if op in ("and", "or"):
            left = self.eval(e.left)
            if not isinstance(left, bool):
                raise self.fail("E0402", f"'{op}' needs bools, got {type_name(left)}", e.left)
            if (op == "and" and not left) or (op == "or" and left):
                return left
            right = self.eval(e.right)
            if not isinstance(right, bool):
                raise self.fail("E0402", f"'{op}' needs bools, got {type_name(right)}", e.right)
            return right
        left, right = self.eval(e.left), self.eval(e.right)
        if op in ast.COMPARE_OPS:
            return self._compare(e, left, right)
        for v, node in ((left, e.left), (right, e.right)):
            if not (is_number(v) or isinstance(v, Dyn)):
                raise self.fail(
                    "E0402", f"'{op}' needs numbers or tensors, got {type_name(v)}", node
                )
        if op == "@":
            return self._matmul(e, left, right)
        if isinstance(left, Dyn) or isinstance(right, Dyn):
            matrix = self._matrix(e, (left, right))
            same = _identity(op, left, right)
            if same is not None:
                return same
            return Dyn(ir.BinOp(op, as_ir(left), as_ir(right)), matrix=matrix)
        power = isinstance(right, int) and abs(right) > limits.MAX_POWER
        if op == "**" and power and abs(left) > 1:
            raise self.fail("E0402", "cannot evaluate '**': the power is too large", e)
        try:
            if op == "+":
                result = left + right
            elif op == "-":
                result = left - right
            elif op == "*":
                result = left * right
            elif op == "/":
                result = left / right
            else:
                result = left**right
            if isinstance(result, complex):
                raise ValueError("complex result")
        except (ZeroDivisionError, OverflowError, ValueError) as err:
            raise self.fail("E0402", f"cannot evaluate '{op}': {err}", e) from None
        # every folded result, not only '**': `1e308 * 10.0` is inf, which no generated
        # module can hold as a constant
        return self._bounded(result, e)

    def _matrix(self, e: ast.Expr, values) -> bool:
        """Whether an element-wise operation on ``values`` gives a matrix: matrices mix
        with matrices and numbers only (a matrix and a vector of the layer would
        broadcast into a [N, n, n] tensor: E0402, located)."""
        tensors = [v for v in values if isinstance(v, Dyn) and not v.scalar]
        matrices = [v for v in tensors if v.matrix]
        if matrices and len(matrices) != len(tensors):
            raise self.fail(
                "E0402",
                "a matrix combines element-wise only with matrices and numbers",
                e,
                "apply a matrix W to a vector v of the layer with 'W @ v'",
            )
        return bool(matrices)

    def _matmul(self, e: ast.Binary, left: Value, right: Value) -> Value:
        """``W @ v``: the matrix W applied to each sample's vector v (a neuron's
        ``param W[features, features]`` times a state, the spike or the input)."""
        if not (isinstance(left, Dyn) and left.matrix):
            raise self.fail(
                "E0402",
                "the left side of '@' is a matrix (a neuron's 'param W[features, features]')",
                e.left,
            )
        if not isinstance(right, Dyn) or right.matrix or right.scalar or right.kind != "float":
            raise self.fail(
                "E0402", "the right side of '@' is a vector of the layer (a state, x)", e.right
            )
        return Dyn(ir.MatVec(as_ir(left), as_ir(right)))

    def _bounded(self, value, node):
        """Constants stay within what torch and float64 can hold."""
        big = isinstance(value, int) and not isinstance(value, bool) and abs(value) > limits.MAX_INT
        if big:
            raise self.fail("E0402", "the result is too large (more than 64 bits)", node)
        if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
            raise self.fail("E0402", "the result is not a finite number", node)
        return value

    def _compare(self, e: ast.Binary, left: Value, right: Value) -> Value:
        if isinstance(left, Dyn) or isinstance(right, Dyn):
            for v, node in ((left, e.left), (right, e.right)):
                if not (is_number(v) or isinstance(v, Dyn)):
                    raise self.fail(
                        "E0402", f"'{e.op}' compares numbers or tensors, got {type_name(v)}", node
                    )
            matrix = self._matrix(e, (left, right))
            return Dyn(ir.Compare(e.op, as_ir(left), as_ir(right)), "bool", matrix=matrix)
        op = e.op
        if op in ("==", "!="):
            same = left == right and type_name(left) == type_name(right)
            if is_number(left) and is_number(right):
                same = left == right
            return same if op == "==" else not same
        if not (is_number(left) and is_number(right)):
            raise self.fail(
                "E0402",
                f"'{op}' compares numbers, got {type_name(left)} and {type_name(right)}",
                e,
            )
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]

    # ------------------------------------------------------------------ calls
    def _sum(self, e: ast.Call) -> Value:
        """``sum(i, start, stop, term)``: term summed for i = start .. stop - 1, left to
        right (unrolled when generating; start and stop must be constant ints)."""
        if len(e.args) != 4 or any(a.name is not None for a in e.args):
            raise self.fail("E0206", "sum takes (name, start, stop, term)", e)
        var = e.args[0].value
        if not isinstance(var, ast.Name):
            raise self.fail("E0204", "the first argument of sum is the index name", var)
        if var.id in self.env:
            raise self.fail("E0102", f"'{var.id}' is already defined here", var)
        bounds = []
        for a in e.args[1:3]:
            v = self.eval(a.value)
            if not isinstance(v, int) or isinstance(v, bool):
                raise self.fail("E0204", "sum bounds must be constant ints", a)
            bounds.append(v)
        start, stop = bounds
        if stop - start > limits.MAX_SUM_TERMS:
            raise self.fail(
                "E0402",
                f"sum over more than {limits.MAX_SUM_TERMS} terms",
                e,
                f"the limit is {limits.describe('MAX_SUM_TERMS')}",
            )
        total: Value = 0.0
        depth = 0  # of the unrolled tensor sum, which nests one level per term
        for i in range(start, stop):
            inner = Evaluator({**self.env, var.id: i}, self.reporter, self.call_hook, self.context)
            term = inner.eval(e.args[3].value)
            if not (is_number(term) or isinstance(term, Dyn)):
                raise self.fail("E0204", f"sum terms are numbers, got {type_name(term)}", e)
            if i == start:
                total = term
            elif isinstance(total, Dyn) or isinstance(term, Dyn):
                total = Dyn(ir.BinOp("+", as_ir(total), as_ir(term)))
            else:
                total = total + term
            if isinstance(term, Dyn):
                depth = max(depth, expr_depth(term.expr))
            if i != start and isinstance(total, Dyn):
                depth += 1  # the '+' that adds this term
            # once the sum is a tensor, each term still to come nests it one level more
            if isinstance(total, Dyn) and depth + (stop - 1 - i) > limits.MAX_EXPR_DEPTH:
                raise self.fail(
                    "E0030",
                    f"the sum unrolls to an expression nested more than "
                    f"{limits.MAX_EXPR_DEPTH} deep",
                    e,
                    f"the limit is {limits.describe('MAX_EXPR_DEPTH')}",
                )
        return total if isinstance(total, Dyn) else self._bounded(total, e)

    def _anchor_where(self, irs: tuple[ir.PyExpr, ...]) -> tuple[ir.PyExpr, ...]:
        """``where(c, a, b)`` between two scalars takes the dtype of the tensor its
        condition compares: ``a`` becomes ``full_like(tensor, a)``."""
        scalars = {
            v.expr.name
            for v in self.env.values()
            if isinstance(v, Dyn) and v.scalar and isinstance(v.expr, ir.Local)
        }
        cond, a, b = irs
        if _is_tensor(a, scalars) or _is_tensor(b, scalars):
            return irs
        like = _tensor_local(cond, scalars)
        return irs if like is None else (cond, ir.FullLike(a, like), b)

    def _call(self, e: ast.Call) -> Value:
        if e.func == "sum":
            return self._sum(e)
        fn = FUNCTIONS.get(e.func)
        bound = self.env.get(e.func)
        if fn is None and isinstance(bound, str) and bound in FUNCTIONS:
            fn = FUNCTIONS[bound]  # a string parameter naming a function, e.g. act="relu"
        if fn is None:
            if self.call_hook is not None:
                result = self.call_hook(e, self)
                if result is not NotImplemented:
                    return result
            raise self.fail(
                "E0404",
                f"unknown function '{e.func}'",
                ast.Name(e.func, e.func_span),
                did_you_mean(e.func, FUNCTIONS) or f"known functions: {', '.join(FUNCTIONS)}",
            )
        if any(a.name is not None for a in e.args):
            raise self.fail("E0202", f"'{e.func}' takes no keyword arguments", e)
        if len(e.args) != fn.arity:
            raise self.fail(
                "E0206", f"'{e.func}' takes {fn.arity} argument(s), got {len(e.args)}", e
            )
        args = [self.eval(a.value) for a in e.args]
        conditions = CONDITION_ARGS.get(fn.name, ())
        for i, (v, a) in enumerate(zip(args, e.args)):
            if i in conditions:
                if not (isinstance(v, bool) or (isinstance(v, Dyn) and v.kind == "bool")):
                    raise self.fail(
                        "E0204", f"argument {i + 1} of '{e.func}' must be a condition", a
                    )
            elif not (is_number(v) or isinstance(v, Dyn)):
                raise self.fail(
                    "E0204", f"'{e.func}' needs a number or tensor, got {type_name(v)}", a
                )
        if fn.name == "detach":
            v = args[0]
            return Dyn(ir.Detach(as_ir(v)), matrix=v.matrix) if isinstance(v, Dyn) else v
        if any(isinstance(v, Dyn) for v in args):
            matrix = self._matrix(e, args)
            irs = tuple(
                v.expr if i in conditions and isinstance(v, Dyn) else as_ir(v)
                for i, v in enumerate(args)
            )
            if fn.name == "where" and not isinstance(args[0], Dyn):
                return args[1] if args[0] else args[2]
            if fn.name == "where":
                irs = self._anchor_where(irs)
            return Dyn(ir.Func(fn.name, irs), matrix=matrix)
        try:
            return self._bounded(float(fn.const(*args)), e)
        except (ValueError, OverflowError) as err:
            raise self.fail("E0402", f"cannot evaluate {e.func}(): {err}", e) from None


def _tensor_local(e: ir.PyExpr, scalars: set[str]) -> ir.Local | None:
    """The first local of ``e`` that holds a tensor (not one of the runtime ``scalars``):
    what gives a mask or a filled value its dtype and device."""
    if isinstance(e, ir.Local):
        return e if e.name not in scalars else None
    found: list[ir.Local] = []

    def visit(child: ir.PyExpr) -> ir.PyExpr:
        if not found:
            hit = _tensor_local(child, scalars)
            if hit is not None:
                found.append(hit)
        return child

    ir.map_children(e, visit)
    return found[0] if found else None


def _is_tensor(e: ir.PyExpr, scalars: set[str]) -> bool:
    """Whether ``e`` evaluates to a tensor (it reads a tensor local or a parameter)."""
    if isinstance(e, (ir.ParamRef, ir.Index, ir.Spike, ir.SurrogateGrad, ir.FullLike)):
        return True
    if isinstance(e, ir.Local):
        return e.name not in scalars
    found = []
    ir.map_children(e, lambda child: found.append(_is_tensor(child, scalars)) or child)
    return any(found)


def coerce(value: Value, type_: str) -> Value:
    """Convert a constant to a declared parameter type, or raise TypeError."""
    optional = type_.endswith("?")
    base = type_.rstrip("?")
    if value is None:
        if optional:
            return None
        raise TypeError(f"expected {base}, got none")
    if base == "float":
        if is_number(value):
            try:
                result = float(value)
            except OverflowError:
                raise TypeError("the number is too large for a float") from None
            if math.isinf(result) or math.isnan(result):
                raise TypeError("expected a finite float")
            return result
    elif base == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif base == "bool":
        if isinstance(value, bool):
            return value
    elif base == "surrogate":
        if isinstance(value, SurrogateValue):
            return value
    elif base == "string":
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"unknown type '{base}'")
    raise TypeError(f"expected {base}{' or none' if optional else ''}, got {type_name(value)}")


PARAM_TYPES = ("float", "int", "bool", "surrogate", "string")


def infer_type(value: Value) -> str | None:
    name = type_name(value)
    return name if name in PARAM_TYPES else None
