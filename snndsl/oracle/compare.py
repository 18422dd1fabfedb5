"""Compare two runs of a network by principle: float32 rounding, measured against float64.

Two correct implementations of the same network (the multi-step and the single-step
form, or snndsl and SpikingJelly) compute the same exact function, but a GEMM over
``T*N`` rows and one over ``N`` rows add in a different order, so their float32 results
may differ by rounding.  A fixed tolerance cannot tell that from a bug: it is either
too strict (batch 1 FAILs) or too loose (a small fault passes).  So every run is made
twice, in float32 and in float64 on the same weights and input, and each tensor is
judged like this (``a``/``b`` the two runs, ``32``/``64`` the precision):

- ``a32 == b32`` bit for bit: **identical**.
- Otherwise the float64 runs decide.  Their own difference must be within the float64
  rounding that the float32 error shows: ``|a64 - b64| <= (|a32 - a64| + |b32 - b64|)
  * u64 / u32 * SAFETY`` (max norms; ``u`` the unit roundoffs).  Rounding error scales
  with the unit roundoff, so a reduction-order difference in float32 becomes one about
  2**-29 times smaller in float64, while a fault (a constant off by 1e-4, a reset
  swapped, a step skipped, a gradient scaled) stays the same size and fails.
  - A tensor of spikes (only 0 and 1) whose float32 runs differ: the elements where
    they differ are spikes that flipped because the membrane was within float32
    rounding of the threshold; they are counted and reported, and accepted only when
    the float64 runs agree on every spike.
  - Any other tensor: **equal to rounding** (different reduction order), reported with
    the float32 bound ``|a32 - a64| + |b32 - b64| + |a64 - b64|`` it lies within.

``SAFETY`` covers the statistical spread of the ratio between the two precisions'
errors (each is a sum of many rounding errors of random sign); the tests show both
that correct networks pass at batch 1, odd T, several seeds and input scales, and that
each injected fault fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

U32 = 2.0**-24  # unit roundoff of float32
U64 = 2.0**-53  # unit roundoff of float64
SAFETY = 64.0


@dataclass(frozen=True)
class Comparison:
    """One tensor compared between two runs."""

    label: str
    verdict: str  # 'identical', 'rounding', 'spikes' or 'MISMATCH'
    difference: float  # max |a32 - b32|
    bound: float  # the float32 rounding bound it is accepted within (0 when identical)
    flips: int = 0  # spikes that differ in float32 (verdict 'spikes')
    elements: int = 0
    difference64: float = 0.0  # max |a64 - b64|
    bound64: float = 0.0
    reason: str = ""  # why, when it is not a difference of values

    @property
    def ok(self) -> bool:
        return self.verdict != "MISMATCH"

    def describe(self) -> str:
        if self.verdict == "identical":
            return "identical"
        if self.verdict == "rounding":
            return (
                f"equal to rounding: max diff {self.difference:.2e} within the float32 "
                f"bound {self.bound:.2e} (different reduction order)"
            )
        if self.verdict == "spikes":
            return (
                f"equal to rounding: {self.flips} of {self.elements} spikes flip where the "
                "membrane is within float32 rounding of the threshold (float64 runs agree)"
            )
        if self.reason:
            return f"MISMATCH: {self.reason}"
        if self.bound64 == float("inf"):
            return "MISMATCH: shapes differ"
        return (
            f"MISMATCH: max diff {self.difference:.2e}; in float64 {self.difference64:.2e}, "
            f"beyond the rounding bound {self.bound64:.2e}"
        )


def _max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    if not a.numel():
        return 0.0
    return float((a.detach().double() - b.detach().double()).abs().max())


def _binary(t: torch.Tensor) -> bool:
    t = t.detach()
    return bool(((t == 0) | (t == 1)).all())


def compare(
    label: str, a32: torch.Tensor, b32: torch.Tensor, a64: torch.Tensor, b64: torch.Tensor
) -> Comparison:
    """Judge one tensor of two runs (see the module docstring)."""
    if a32.shape != b32.shape or a64.shape != b64.shape or a32.shape != a64.shape:
        return Comparison(label, "MISMATCH", float("inf"), 0.0, bound64=float("inf"))
    d32 = _max_abs(a32, b32)
    if d32 == 0.0:
        return Comparison(label, "identical", 0.0, 0.0)
    rounding = _max_abs(a32, a64) + _max_abs(b32, b64)
    d64 = _max_abs(a64, b64)
    bound64 = rounding * (U64 / U32) * SAFETY
    if _binary(a32) and _binary(b32) and _binary(a64) and _binary(b64):
        flips = int((a32.detach() != b32.detach()).sum())
        if d64 == 0.0:
            return Comparison(label, "spikes", d32, rounding, flips, a32.numel(), d64, 0.0)
        return Comparison(label, "MISMATCH", d32, rounding, flips, a32.numel(), d64, 0.0)
    verdict = "rounding" if d64 <= bound64 else "MISMATCH"
    return Comparison(label, verdict, d32, rounding + d64, 0, a32.numel(), d64, bound64)


def compare_runs(
    prefix: str,
    a32: dict[str, torch.Tensor | None],
    b32: dict[str, torch.Tensor | None],
    reference: Callable[[], tuple[dict, dict]],
) -> list[Comparison]:
    """Every tensor both runs have, by label.  ``reference()`` gives the float64 runs'
    tensors; it is called only when some tensor differs in float32.  A gradient one run
    lacks (None) passes only if the other's is None or zero too."""
    rows: list[Comparison] = []
    ref64: tuple[dict, dict] | None = None
    for key in a32:
        if key not in b32:
            continue
        x, y = a32[key], b32[key]
        if x is None or y is None:
            other = y if x is None else x
            ok = other is None or not bool(other.detach().any())
            why = "" if ok else f"no gradient in {'the first' if x is None else 'the second'} run"
            verdict = "identical" if ok else "MISMATCH"
            rows.append(Comparison(f"{prefix}{key}", verdict, 0.0, 0.0, reason=why))
            continue
        if x.shape == y.shape and torch.equal(x.detach(), y.detach()):
            rows.append(Comparison(f"{prefix}{key}", "identical", 0.0, 0.0))
            continue
        if ref64 is None:
            ref64 = reference()
        rows.append(compare(f"{prefix}{key}", x, y, ref64[0][key], ref64[1][key]))
    return rows
