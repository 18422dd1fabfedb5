"""The Triton target: each multi-step neuron layer as generated ``@triton.jit`` kernels.

One backend, 'triton': the module is the torch backend's (stateless layers, recurrent
loops, parallel neurons and the single-step form unchanged), except that every
multi-step neuron layer outside a recurrent loop runs as a forward kernel looping over
all T steps with its state in registers and a backward kernel through time derived from
the same IR as the fused backend's (:mod:`.lowering`, printed by :mod:`.printer`).  A
layer that cannot be lowered is a located E0209 at generation time, never a fallback.
"""

from __future__ import annotations

from dataclasses import dataclass

from snndsl import ir
from snndsl.backends.registry import register
from snndsl.backends.torch.codegen import render_module
from snndsl.backends.triton.lowering import TritonLowering, problems
from snndsl.diagnostics import SpecError


@dataclass(frozen=True)
class TritonBackend:
    name: str
    description: str

    def render(self, net: ir.NetworkIR, mode: str) -> str:
        if mode == "multi":
            found = problems(net)
            if found:
                raise SpecError(found)
        return render_module(net, mode, self.name, TritonLowering(net))


TRITON = register(
    TritonBackend(
        "triton",
        "multi-step neuron layers as generated Triton kernels (forward and derived backward)",
    )
)
