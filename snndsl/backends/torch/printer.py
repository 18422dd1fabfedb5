"""Print IR expressions as Python source: :class:`PythonPrinter` and its hooks.

The printer is the only place neuron and surrogate equations become text.  It keeps the
tree's exact evaluation order (float arithmetic is not associative, and bit-identical
results against SpikingJelly depend on it): a right operand of equal precedence is
always parenthesised, so ``a + (b + c)`` never turns into ``a + b + c``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from snndsl.backends.torch.layout import LINE_LENGTH
from snndsl.ir import (
    AsFloat,
    BinOp,
    Compare,
    Const,
    Detach,
    FullLike,
    Func,
    Index,
    Local,
    MatVec,
    Neg,
    Outer,
    ParamRef,
    PyExpr,
    Spike,
    SurrogateGrad,
    SurrogateKey,
)

# How generated torch code spells each function of the closed table.
TORCH_FUNCTIONS: dict[str, str] = {
    "exp": "torch.exp",
    "log": "torch.log",
    "sqrt": "torch.sqrt",
    "abs": "torch.abs",
    "sign": "torch.sign",
    "square": "torch.square",
    "sigmoid": "torch.sigmoid",
    "tanh": "torch.tanh",
    "atan": "torch.atan",
    "sin": "torch.sin",
    "cos": "torch.cos",
    "erf": "torch.erf",
    "erfc": "torch.erfc",
    "relu": "torch.relu",
    "softsign": "torch.nn.functional.softsign",
    "leaky_relu": "torch.nn.functional.leaky_relu",
    "clamp": "torch.clamp",
    "clamp_min": "torch.clamp_min",
    "clamp_max": "torch.clamp_max",
    "where": "torch.where",
    "detach": "torch.detach",  # spec expressions make ir.Detach, printed x.detach()
}

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


class PythonPrinter:
    """Python (PyTorch) source for IR expressions, with the fewest parentheses that keep
    the tree.

    One ``render_<Node>`` method per node type of :data:`snndsl.ir.PyExpr` lays out the
    structure; what a name stands for is asked of the hooks, which a subclass (another
    target, or another place in the module) overrides:

    - :meth:`variable`: a local of the equations;
    - :meth:`parameter`: a parameter or buffer of a layer;
    - :meth:`function`: the callable of a function of the closed table;
    - :meth:`spike` and :meth:`surrogate_gradient`: a surrogate's spike and derivative;
    - :meth:`constant`: a number, re-emitted from its parsed value.

    ``surrogates`` maps each surrogate to the name of its generated class, ``strict``
    each surrogate a strict spike (``fire a > b``) uses to the class of that variant,
    ``modules`` each layer (by its IR attr) to the expression reaching its module
    (``self.layer1[0].sn1``; a layer it does not name is ``self.<attr>``).
    """

    def __init__(
        self,
        surrogates: Mapping[SurrogateKey, str] | None = None,
        strict: Mapping[SurrogateKey, str] | None = None,
        modules: Mapping[str, str] | None = None,
    ):
        self.surrogates = dict(surrogates or {})
        self.strict = dict(strict or {})
        self.modules = dict(modules or {})

    # ------------------------------------------------------------------ hooks
    def variable(self, name: str) -> str:
        return name

    def parameter(self, layer: str, name: str) -> str:
        return f"{self.modules.get(layer, f'self.{layer}')}.{name}"

    def function(self, name: str) -> str:
        return TORCH_FUNCTIONS[name]

    def spike(self, surrogate: SurrogateKey, args: list[str], strict: bool = False) -> str:
        classes = self.strict if strict else self.surrogates
        return f"{classes[surrogate]}.spike({', '.join(args)})"

    def surrogate_gradient(self, surrogate: SurrogateKey, args: list[str]) -> str:
        return f"{self.surrogates[surrogate]}.gradient({', '.join(args)})"

    def constant(self, value: int | float | bool | None) -> str:
        return format_const(value)

    # ------------------------------------------------------------------ structure
    def print(self, e: PyExpr) -> str:
        """Source for ``e``."""
        render = getattr(self, f"render_{type(e).__name__}", None)
        if render is None:
            raise TypeError(f"not an IR expression: {e!r}")
        return render(e)

    def assign(self, target: str, value: PyExpr, indent: int) -> str:
        """An equation line: ``target = <expression>``.  Equations keep their exact tree
        (and its parentheses); one too long for a line is marked ``# fmt: skip`` rather
        than split, so that ruff leaves it as printed."""
        line = f"{self.variable(target)} = {self.print(value)}"
        if indent + len(line) > LINE_LENGTH:
            line += "  # fmt: skip"
        return line

    def _atom(self, e: PyExpr) -> str:
        """``e`` parenthesised unless it is an atom (before ``[...]`` or ``.method()``)."""
        inner = self.print(e)
        return f"({inner})" if _prec(e) < _PREC["atom"] else inner

    def render_Const(self, e: Const) -> str:
        return self.constant(e.value)

    def render_Local(self, e: Local) -> str:
        return self.variable(e.name)

    def render_ParamRef(self, e: ParamRef) -> str:
        return self.parameter(e.layer, e.name)

    def render_Index(self, e: Index) -> str:
        return f"{self._atom(e.operand)}[{self.variable(e.index)}]"

    def render_Neg(self, e: Neg) -> str:
        if isinstance(e.operand, Neg):  # -(-a) is a, exactly (ruff's B002 rejects --a)
            a = e.operand.operand
            inner = self.print(a)
            return f"({inner})" if _prec(a) < _PREC["neg"] or isinstance(a, BinOp) else inner
        inner = self.print(e.operand)
        # -(a ** b) keeps its parentheses, as ruff format writes it, though Python's
        # precedence would not need them.
        if _prec(e.operand) < _PREC["neg"] or isinstance(e.operand, BinOp):
            inner = f"({inner})"
        return f"-{inner}"

    def render_BinOp(self, e: BinOp) -> str:
        p = _PREC[e.op]
        left, right = self.print(e.left), self.print(e.right)
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

    def render_Func(self, e: Func) -> str:
        return f"{self.function(e.name)}({', '.join(self.print(a) for a in e.args)})"

    def render_Compare(self, e: Compare) -> str:
        # operands are arithmetic: always tighter than the comparison
        return f"{self.print(e.left)} {e.op} {self.print(e.right)}"

    def render_AsFloat(self, e: AsFloat) -> str:
        return f"({self.print(e.operand)}).to({self.print(e.like)})"

    def render_FullLike(self, e: FullLike) -> str:
        return f"torch.full_like({self.print(e.like)}, {self.print(e.value)})"

    def render_Detach(self, e: Detach) -> str:
        return f"{self._atom(e.operand)}.detach()"

    def render_MatVec(self, e: MatVec) -> str:
        if e.transpose:  # [N, n] @ [n, m]: each sample's vector times the matrix
            return f"torch.matmul({self.print(e.vector)}, {self.print(e.matrix)})"
        return f"torch.nn.functional.linear({self.print(e.vector)}, {self.print(e.matrix)})"

    def render_Outer(self, e: Outer) -> str:
        return f"torch.mm({self._atom(e.left)}.t(), {self.print(e.right)})"

    def render_Spike(self, e: Spike) -> str:
        args = [self.print(e.arg), *(self.constant(p) for p in e.params)]
        return self.spike(e.surrogate, args, e.strict)

    def render_SurrogateGrad(self, e: SurrogateGrad) -> str:
        args = [self.print(e.arg), *(self.constant(p) for p in e.params)]
        return self.surrogate_gradient(e.surrogate, args)
