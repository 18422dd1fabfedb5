"""The PyTorch target: standalone ``torch.nn.Module`` source in both forms.

Three backends share the torch views, the printer and the templates; they differ in how
a multi-step neuron layer runs: 'eager' (its time loop inline, recorded by autograd),
'fused' (one ``torch.autograd.Function`` per layer with a backward pass derived from
its equations) and 'compile' (the fused layers with their forward and backward time
steps compiled by ``torch.compile``; the single-step forward compiled whole).
"""

from __future__ import annotations

from dataclasses import dataclass

from snndsl import ir
from snndsl.backends.registry import register
from snndsl.backends.torch.codegen import render_module


@dataclass(frozen=True)
class TorchBackend:
    name: str
    description: str

    def render(self, net: ir.NetworkIR, mode: str) -> str:
        return render_module(net, mode, self.name)


EAGER = register(
    TorchBackend("eager", "time loops inline, differentiated by autograd (the reference form)")
)
FUSED = register(
    TorchBackend(
        "fused", "one autograd.Function per neuron layer, backward derived from its equations"
    )
)
COMPILE = register(
    TorchBackend("compile", "the fused layers' time steps compiled by torch.compile")
)
