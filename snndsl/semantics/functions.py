"""The closed set of functions and named constants spec expressions may use.

Each function has an arity and a constant form (used when every argument is known at
generation time).  How a target spells a function is the backend printer's business
(:class:`snndsl.backends.torch.printer.PythonPrinter`); a test checks that every
backend spells every function here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Function:
    """A function usable in spec expressions: its arity and its constant form."""

    name: str
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
        Function("exp", 1, math.exp),
        Function("log", 1, math.log),
        Function("sqrt", 1, math.sqrt),
        Function("abs", 1, abs),
        Function("sign", 1, _sign),
        Function("square", 1, lambda x: x * x),
        Function("sigmoid", 1, _sigmoid),
        Function("tanh", 1, math.tanh),
        Function("atan", 1, math.atan),
        Function("sin", 1, math.sin),
        Function("cos", 1, math.cos),
        Function("erf", 1, math.erf),
        Function("erfc", 1, math.erfc),
        Function("relu", 1, lambda x: max(x, 0.0)),
        Function("softsign", 1, lambda x: x / (1 + abs(x))),
        Function("leaky_relu", 2, _leaky_relu),
        Function("clamp", 3, lambda x, lo, hi: min(max(x, lo), hi)),
        Function("clamp_min", 2, max),
        Function("clamp_max", 2, min),
        Function("where", 3, lambda c, a, b: a if c else b),
        # the value, cut from the gradient (IR Detach: no derivative flows through it)
        Function("detach", 1, lambda x: x),
    )
}
# Arguments that must be bool conditions rather than numbers, by function.
CONDITION_ARGS: dict[str, tuple[int, ...]] = {"where": (0,)}

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
