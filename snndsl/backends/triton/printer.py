"""Print IR expressions as Triton kernel code: :class:`TritonPrinter` and its helpers.

A subclass of the torch backend's :class:`~snndsl.backends.torch.printer.PythonPrinter`
(same tree, same evaluation order, same parentheses); only the hooks and the nodes whose
spelling differs are overridden.  Functions ``triton.language`` has are called from it
(``tl.exp``, ``tl.where``, ...); the others are ``@triton.jit`` helper functions of the
generated file (:data:`HELPERS`, written with ``tl`` functions only, so that they also
run under Triton's CPU interpreter, which has no libdevice).  A surrogate's derivative is
a helper generated from its definition (``_<Surrogate>_grad``).  Nodes with no
element-wise kernel form (a matrix product in a neuron) raise :class:`Unlowerable`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from snndsl import ir
from snndsl.backends.torch.printer import PythonPrinter


class Unlowerable(Exception):
    """An expression has no element-wise Triton form (the caller reports it, located)."""


# How kernels spell each function of the closed table: a ``tl`` function, or a helper
# below.  relu, clamp, clamp_min and clamp_max become tl.maximum/tl.minimum calls.
TRITON_FUNCTIONS: dict[str, str] = {
    "exp": "tl.exp",
    "log": "tl.log",
    "sqrt": "_sqrt",
    "abs": "tl.abs",
    "sign": "_sign",
    "square": "_square",
    "sigmoid": "tl.sigmoid",
    "tanh": "_tanh",
    "atan": "_atan",
    "sin": "tl.sin",
    "cos": "tl.cos",
    "erf": "tl.erf",
    "erfc": "_erfc",
    "softsign": "_softsign",
    "leaky_relu": "_leaky_relu",
    "where": "tl.where",
}

# Functions whose kernel form does the same IEEE operations, in the same order, as torch's
# CPU kernels: a step made of these and arithmetic gives bit-identical values under the
# interpreter.  The others (exp, log, sqrt (torch's CPU sqrt is not correctly rounded),
# sigmoid, tanh, ..., and ``**`` other than a square)
# are other implementations of the same function: equal to rounding, not bit for bit.
EXACT_FUNCTIONS = frozenset(
    {"abs", "sign", "square", "relu", "softsign", "leaky_relu", "clamp", "clamp_min"}
    | {"clamp_max", "where", "detach"}
)

# The helper functions, by stem: (their parameters, their body).  Each becomes a
# ``@triton.jit`` function of the generated file under a name of the module's namespace.
# A Python float meets a tensor in the tensor's dtype, but two floats alone make a float32
# tensor: a constant that is not exact in float32 is added to a tensor first.
HELPERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # Triton's float32 division and square root are approximations (div.full, sqrt.approx
    # on CUDA); torch's are correctly rounded: so are these (the dtype test is static)
    "_div": (
        ("a", "b"),
        (
            "q = a / b",
            "if q.dtype == tl.float32:",
            "    q = tl.math.div_rn(a + tl.zeros_like(q), b + tl.zeros_like(q))",
            "return q",
        ),
    ),
    "_sqrt": (
        ("a",),
        ("r = tl.sqrt(a)", "if a.dtype == tl.float32:", "    r = tl.sqrt_rn(a)", "return r"),
    ),
    "_square": (("a",), ("return a * a",)),
    "_sign": (("a",), ("return tl.where(a > 0, 1.0, tl.where(a < 0, -1.0, 0.0)).to(a.dtype)",)),
    "_softsign": (
        ("a",),
        (
            "d = 1 + tl.abs(a)",
            "q = a / d",
            "if q.dtype == tl.float32:",
            "    q = tl.math.div_rn(a, d)",
            "return q",
        ),
    ),
    "_leaky_relu": (("a", "slope"), ("return tl.where(a > 0, a, a * slope)",)),
    "_tanh": (
        ("a",),
        (
            "e = tl.exp(-2.0 * tl.abs(a))",
            "t = (1.0 - e) / (1.0 + e)",
            "return tl.where(a < 0, -t, t)",
        ),
    ),
    "_erfc": (("a",), ("return 1.0 - tl.erf(a)",)),
    # Cephes' atan: range reduction to |a| <= 0.66, then a rational approximation
    "_atan": (
        ("a",),
        (
            "x = tl.abs(a)",
            "zero = tl.zeros_like(x)",  # constants below take x's dtype through it
            "big = x > 2.414213562373095",
            "mid = (x > 0.66) & (x <= 2.414213562373095)",
            "y = tl.where(mid, zero + 0.7853981633974483, zero)",
            "y = tl.where(big, zero + 1.5707963267948966, y)",
            "r = tl.where(big, -1.0 / x, tl.where(mid, (x - 1.0) / (x + 1.0), x))",
            "z = r * r",
            "p = (-0.8750608600031904 * z - 16.157537187333652) * z - 75.00855792314705",
            "p = (p * z - 122.88666844901361) * z - 64.85021904942025",
            "q = (z + 24.858464901423062) * z + 165.02700983169885",
            "q = ((q * z + 432.88106049129027) * z + 485.3903996359137) * z",
            "q = q + 194.5506571482614",
            "more = tl.where(mid, zero + 3.061616997868383e-17, zero)",
            "more = tl.where(big, zero + 6.123233995736766e-17, more)",
            "t = y + (r * (z * p / q) + r + more)",
            "return tl.where(a < 0, -t, t)",
        ),
    ),
    # torch.pow for a real exponent: exp(b log|a|), negative for a negative a and an odd
    # integer b, NaN (the log of a negative) for a negative a and a fractional b
    "_pow": (
        ("a", "b"),
        (
            "b = b + tl.zeros_like(a)",
            "whole = tl.floor(b) == b",
            "m = tl.exp(b * tl.log(tl.where(whole, tl.abs(a), a)))",
            "odd = whole & (tl.floor(b * 0.5) * 2.0 != b)",
            "m = tl.where((a < 0) & odd, -m, m)",
            "return tl.where(b == 0, 1.0, m).to(a.dtype)",
        ),
    ),
}


class TritonPrinter(PythonPrinter):
    """Triton source for IR expressions inside a ``@triton.jit`` function.

    ``gradient`` names the helper computing a surrogate's derivative for one set of its
    parameters' values (they are constants inside it: a float passed to a Triton function
    may become a float32 tensor, a literal meets a tensor in the tensor's dtype);
    ``helpers`` maps each stem of :data:`HELPERS` to its name in the module.  The helpers
    printed expressions call are recorded in ``used`` (the generated file defines only
    those)."""

    def __init__(
        self,
        gradient: Callable[[ir.SurrogateKey, tuple[float, ...]], str],
        helpers: Mapping[str, str],
    ):
        super().__init__()
        self.gradient = gradient
        self.helpers = dict(helpers)
        self.used: set[str] = set()

    def helper(self, stem: str) -> str:
        self.used.add(stem)
        return self.helpers[stem]

    # ------------------------------------------------------------------ hooks
    def parameter(self, layer: str, name: str) -> str:
        raise Unlowerable(f"a parameter ({name}) read inside the time loop")

    def function(self, name: str) -> str:
        spelled = TRITON_FUNCTIONS[name]
        return self.helper(spelled) if spelled in HELPERS else spelled

    def spike(self, surrogate: ir.SurrogateKey, args: list[str], strict: bool = False) -> str:
        # the kernels compute a spike as its Heaviside value (autodiff.without_spikes)
        raise Unlowerable("a spike left in a kernel's equations")  # pragma: no cover

    def render_SurrogateGrad(self, e: ir.SurrogateGrad) -> str:
        return f"{self.gradient(e.surrogate, e.params)}({self.print(e.arg)})"

    # ------------------------------------------------------------------ nodes
    def render_Func(self, e: ir.Func) -> str:
        args = [self.print(a) for a in e.args]
        if e.name == "detach":  # no autograd inside a kernel: the value itself
            return self._atom(e.args[0])
        if e.name == "relu":
            return f"tl.maximum({args[0]}, 0.0)"
        if e.name == "clamp_min":
            return f"tl.maximum({args[0]}, {args[1]})"
        if e.name == "clamp_max":
            return f"tl.minimum({args[0]}, {args[1]})"
        if e.name == "clamp":
            return f"tl.minimum(tl.maximum({args[0]}, {args[1]}), {args[2]})"
        return f"{self.function(e.name)}({', '.join(args)})"

    def render_BinOp(self, e: ir.BinOp) -> str:
        if e.op == "/" and (ir.locals_used(e.left) or ir.locals_used(e.right)):
            return f"{self.helper('_div')}({self.print(e.left)}, {self.print(e.right)})"
        if e.op != "**":  # numbers alone are Python's arithmetic
            return super().render_BinOp(e)
        base = self.print(e.left)
        if isinstance(e.right, ir.Const) and e.right.value == 2:  # torch.pow's x * x
            return f"{self.helper('_square')}({base})"
        return f"{self.helper('_pow')}({base}, {self.print(e.right)})"

    def render_AsFloat(self, e: ir.AsFloat) -> str:
        return f"({self.print(e.operand)}).to({self._atom(e.like)}.dtype)"

    def render_FullLike(self, e: ir.FullLike) -> str:
        like = self._atom(e.like)
        return f"tl.full({like}.shape, {self.print(e.value)}, {like}.dtype)"

    def render_Detach(self, e: ir.Detach) -> str:
        return self._atom(e.operand)

    def render_Index(self, e: ir.Index) -> str:
        raise Unlowerable("a value indexed by the time step")

    def render_MatVec(self, e: ir.MatVec) -> str:
        raise Unlowerable(
            "a matrix product (@): each neuron's value depends on the whole layer's, "
            "so the layer is not element-wise"
        )

    def render_Outer(self, e: ir.Outer) -> str:  # pragma: no cover - only from a MatVec
        raise Unlowerable("a matrix product's gradient")
