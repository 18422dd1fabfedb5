"""Print IR expressions as Python source, and the closed table of functions they may call.

The printer is the only place neuron and surrogate equations become text.  It keeps the
tree's exact evaluation order (float arithmetic is not associative, and bit-identical
results against SpikingJelly depend on it): a right operand of equal precedence is
always parenthesised, so ``a + (b + c)`` never turns into ``a + b + c``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from snndsl import ir
from snndsl.backends.torch.layout import LINE_LENGTH
from snndsl.ir import (
    AsFloat,
    BinOp,
    Compare,
    Const,
    Detach,
    Func,
    Index,
    Local,
    Member,
    Neg,
    ParamRef,
    PyExpr,
    Spike,
    SurrogateGrad,
)


@dataclass(frozen=True)
class Function:
    """A function usable in spec expressions: its tensor form and its constant form."""

    name: str
    torch: str  # the callable printed in generated code
    arity: int
    const: Callable[..., float]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _sign(x: float) -> float:
    return float((x > 0) - (x < 0))


def _leaky_relu(x: float, slope: float) -> float:
    return x if x >= 0 else x * slope


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        Function("exp", "torch.exp", 1, math.exp),
        Function("log", "torch.log", 1, math.log),
        Function("sqrt", "torch.sqrt", 1, math.sqrt),
        Function("abs", "torch.abs", 1, abs),
        Function("sign", "torch.sign", 1, _sign),
        Function("square", "torch.square", 1, lambda x: x * x),
        Function("sigmoid", "torch.sigmoid", 1, _sigmoid),
        Function("tanh", "torch.tanh", 1, math.tanh),
        Function("atan", "torch.atan", 1, math.atan),
        Function("sin", "torch.sin", 1, math.sin),
        Function("cos", "torch.cos", 1, math.cos),
        Function("erf", "torch.erf", 1, math.erf),
        Function("erfc", "torch.erfc", 1, math.erfc),
        Function("relu", "torch.relu", 1, lambda x: max(x, 0.0)),
        Function("softsign", "torch.nn.functional.softsign", 1, lambda x: x / (1 + abs(x))),
        Function("leaky_relu", "torch.nn.functional.leaky_relu", 2, _leaky_relu),
        Function("clamp", "torch.clamp", 3, lambda x, lo, hi: min(max(x, lo), hi)),
        Function("clamp_min", "torch.clamp_min", 2, max),
        Function("clamp_max", "torch.clamp_max", 2, min),
        Function("where", "torch.where", 3, lambda c, a, b: a if c else b),
    )
}
# Arguments that must be bool conditions rather than numbers, by function.
CONDITION_ARGS: dict[str, tuple[int, ...]] = {"where": (0,)}

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

# Python precedence levels used by the printer (higher binds tighter).
_PREC = {"cmp": 5, "+": 10, "-": 10, "*": 20, "/": 20, "neg": 30, "**": 40, "atom": 50}


def format_const(value: int | float | bool | None) -> str:
    """Re-emit a parsed constant.  ``repr`` of a float round-trips exactly."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            # Never produced from a spec (the parser rejects overflow); guard anyway.
            raise ValueError(f"cannot emit non-finite constant {value!r}")
        return repr(value)
    raise TypeError(f"not a constant: {value!r}")


def _prec(e: PyExpr) -> int:
    if isinstance(e, BinOp):
        return _PREC[e.op]
    if isinstance(e, Neg):
        return _PREC["neg"]
    if isinstance(e, Compare):
        return _PREC["cmp"]
    if isinstance(e, Const) and isinstance(e.value, (int, float)) and not isinstance(e.value, bool):
        return _PREC["neg"] if e.value < 0 or str(e.value).startswith("-") else _PREC["atom"]
    return _PREC["atom"]


def to_python(e: PyExpr) -> str:
    """Python source for ``e`` with the minimum parentheses that keep its tree."""
    if isinstance(e, Const):
        return format_const(e.value)
    if isinstance(e, Local):
        return e.name
    if isinstance(e, ParamRef):
        return f"self.{e.container}.{e.name}"
    if isinstance(e, Member):
        return f"{e.owner}.{e.name}"
    if isinstance(e, Index):
        inner = to_python(e.operand)
        if _prec(e.operand) < _PREC["atom"]:
            inner = f"({inner})"
        return f"{inner}[{e.index}]"
    if isinstance(e, Neg):
        inner = to_python(e.operand)
        # -(a ** b) keeps its parentheses, as ruff format writes it, though Python's
        # precedence would not need them.
        if _prec(e.operand) < _PREC["neg"] or isinstance(e.operand, BinOp):
            inner = f"({inner})"
        return f"-{inner}"
    if isinstance(e, BinOp):
        p = _PREC[e.op]
        left, right = to_python(e.left), to_python(e.right)
        if e.op == "**":
            # Right-associative; a unary or negative constant on the left needs parentheses.
            if _prec(e.left) <= p:
                left = f"({left})"
            if _prec(e.right) < _PREC["neg"]:
                right = f"({right})"
        else:
            if _prec(e.left) < p:
                left = f"({left})"
            if _prec(e.right) <= p:
                right = f"({right})"
        return f"{left} {e.op} {right}"
    if isinstance(e, Func):
        fn = FUNCTIONS[e.name]
        return f"{fn.torch}({', '.join(to_python(a) for a in e.args)})"
    if isinstance(e, Compare):
        left, right = to_python(e.left), to_python(e.right)
        return f"{left} {e.op} {right}"  # operands are arithmetic: always tighter
    if isinstance(e, AsFloat):
        return f"({to_python(e.operand)}).to({to_python(e.like)})"
    if isinstance(e, Detach):
        inner = to_python(e.operand)
        if _prec(e.operand) < _PREC["atom"]:
            inner = f"({inner})"
        return f"{inner}.detach()"
    if isinstance(e, Spike):
        args = ", ".join([to_python(e.arg), *(format_const(p) for p in e.params)])
        return f"{e.surrogate}.spike({args})"
    if isinstance(e, SurrogateGrad):
        args = ", ".join([to_python(e.arg), *(format_const(p) for p in e.params)])
        return f"{e.surrogate}.gradient({args})"
    raise TypeError(f"not an IR expression: {e!r}")


def assign_expr(target: str, value: ir.PyExpr, indent: int) -> str:
    """An equation line: ``target = <expression>``.  Equations keep their exact tree
    (and its parentheses); one too long for a line is marked ``# fmt: skip`` rather
    than split, so that ruff leaves it as printed."""
    line = f"{target} = {to_python(value)}"
    if indent + len(line) > LINE_LENGTH:
        line += "  # fmt: skip"
    return line
