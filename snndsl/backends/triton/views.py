"""Typed views: what templates/triton.py.j2 reads, one dataclass per part it lays out.

:mod:`snndsl.backends.triton.lowering` builds them with every statement printed and laid
out; the template only places them (kernels, the layer's ``autograd.Function``, helpers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

Lines = list[str]


@dataclass(frozen=True)
class JitView:
    """A ``@triton.jit`` function: the header laid out, a docstring, body lines (already
    indented past the function's own level)."""

    header: str
    doc: str
    body: Lines
    specialize: str  # the decorator's arguments ('' for a bare ``@triton.jit``)
    args: Lines = field(default_factory=list)  # its parameters (the header has them)


@dataclass(frozen=True)
class LayerView:
    """One neuron layer: its forward and backward kernels (None where an earlier layer's
    are the same) and the ``torch.autograd.Function`` that launches them."""

    class_name: str
    doc: str
    forward: JitView | None
    backward: JitView | None
    forward_def: str  # ``def forward(ctx, ...):`` laid out
    forward_body: Lines
    backward_def: str
    backward_body: Lines


@dataclass(frozen=True)
class HelpersView:
    """The module-level definitions every lowered layer shares."""

    block: str  # the name of the block-size constant
    block_size: int
    grid: str  # the helper giving a launch's grid
    compute: str  # the helper giving the kernels' arithmetic dtype
    per_sample: str  # the helper laying a parameter out for the kernels
    functions: list[JitView]  # tl-only helpers and surrogate derivatives
