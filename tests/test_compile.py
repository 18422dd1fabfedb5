"""The compile path: generated modules trace under torch.compile(fullgraph=True).

Every shipped spec, in each form it has, runs through TorchDynamo with fullgraph=True
(any graph break is an error) on the "eager" compiler backend, twice (the first call
sees neuron states as the float they start from, the second as tensors), and must give
the eager module's values exactly.  One small network also goes through Inductor, the
code path `snndsl generate --backend compile` uses: its forward stays bit-identical to
eager (Inductor keeps each elementwise operation and its order, and compiles C++ without
floating-point contraction) and its gradients agree to float rounding.
"""

from __future__ import annotations

import pytest
import torch
from conftest import SPECS, spec_id

import snndsl

# specs/spikingjelly/: its VGG has VGG-11's kinds of layer (specs/vgg11.snn, traced) and a
# 4096-wide classifier, slow to trace; the ResNets and plif_mnist (ParametricLIF and
# Dropout in a numbered group) are traced.
TRACED = [s for s in SPECS if s.stem != "spiking_vgg11_bn"]


def _forms(spec):
    for mode in ("multi", "single"):
        try:
            yield mode, snndsl.load(str(spec), mode=mode)
        except snndsl.SpecError:  # no single-step form (pinned by its golden file)
            continue


def _inputs(net, mode, steps, seed):
    gen = torch.Generator().manual_seed(seed)
    lead = (steps, 2) if mode == "multi" else (2,)
    return [torch.rand(*lead, *i.shape, generator=gen) * 4 for i in net.inputs]


@pytest.mark.parametrize("spec", TRACED, ids=spec_id)
def test_no_graph_breaks_and_same_values(spec):
    torch._dynamo.reset()
    net = snndsl.resolve(str(spec))
    steps = next((p.steps for p in net.parallels if p.steps), 2)
    for mode, cls in _forms(spec):
        torch.manual_seed(0)
        eager = cls().eval()
        traced = cls().eval()
        traced.load_state_dict(eager.state_dict())
        compiled = torch.compile(traced, fullgraph=True, backend="eager")
        for call in range(2):
            xs = _inputs(net, mode, steps, call)
            a, b = eager(*xs), compiled(*xs)
            for u, v in zip(
                a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)
            ):
                assert torch.equal(u, v), (mode, call)


@pytest.fixture
def dynamo_only(monkeypatch):
    """torch.compile with TorchDynamo alone (the "eager" compiler): the generated kernels
    must trace with fullgraph=True, without Inductor's minutes of C++ builds per spec."""
    compile_ = torch.compile

    def patched(*args, **kwargs):
        kwargs.setdefault("backend", "eager")
        return compile_(*args, **kwargs)

    monkeypatch.setattr(torch, "compile", patched)
    torch._dynamo.reset()


@pytest.mark.parametrize(
    "spec",
    TRACED,
    ids=spec_id,
)
def test_compiled_step_kernels_trace_and_match_the_fused_form(spec, dynamo_only):
    """--backend compile, multi-step: every neuron layer's forward and backward time step
    is a compiled kernel; values equal the eager form, gradients the fused form's."""
    net = snndsl.resolve(str(spec))
    steps = next((p.steps for p in net.parallels if p.steps), 3)
    compiled_cls = snndsl.load(str(spec), mode="multi", backend="compile")
    source = compiled_cls.__snndsl_source__
    assert "forward = torch.compile" not in source
    torch.manual_seed(0)
    eager = snndsl.load(str(spec), mode="multi")()
    fused = snndsl.load(str(spec), mode="multi", backend="fused")()
    compiled = compiled_cls()
    for m in (fused, compiled):
        m.load_state_dict(eager.state_dict())
    outs = {}
    for name, m in (("eager", eager), ("fused", fused), ("compile", compiled)):
        m.eval()
        xs = [x.requires_grad_(True) for x in _inputs(net, "multi", steps, 0)]
        y = m(*xs)
        ys = y if isinstance(y, tuple) else (y,)
        sum(v.sum() for v in ys).backward()
        outs[name] = (ys, [x.grad for x in xs])
    for u, v in zip(outs["eager"][0], outs["compile"][0]):
        assert torch.equal(u, v)
    for g, h in zip(outs["fused"][1], outs["compile"][1]):
        assert g is None and h is None or torch.allclose(g, h, rtol=1e-6, atol=1e-9)


def test_identical_layers_share_one_kernel():
    spec = (
        "network Two {\n    input x: [6]\n"
        "    output y = x -> a: LIF(surrogate=ATan()) -> fc: Linear(6) -> b: LIF(surrogate=ATan())"
        " -> c: LIF(tau=3.0, surrogate=ATan())\n}\n"
    )
    source = snndsl.generate(spec, mode="multi", backend="compile")
    assert source.count("@torch.compile(fullgraph=True)") == 4  # LIF(tau=2), LIF(tau=3)
    assert source.count("_LIF_step(") == 3 and source.count("_LIF_step_2(") == 2


def test_inductor_keeps_values_bit_identical():
    spec = (
        "network Tiny {\n    input x: [6]\n"
        "    output y = x -> fc: Linear(5, bias=false) -> sn: LIF(tau=3.0, surrogate=ATan())\n}\n"
    )
    torch._dynamo.reset()
    torch.manual_seed(0)
    eager = snndsl.load(spec, mode="multi")()
    compiled = snndsl.load(spec, mode="multi", backend="compile")()
    compiled.load_state_dict(eager.state_dict())
    assert "@torch.compile(fullgraph=True)\ndef _LIF_step(" in type(compiled).__snndsl_source__
    x = torch.rand(3, 2, 6) * 4
    with torch.no_grad():
        eager.fc.weight.copy_(torch.linspace(-0.5, 1.5, 30).reshape(5, 6))
        compiled.fc.weight.copy_(eager.fc.weight)
    xe, xc = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ye, yc = eager(xe), compiled(xc)
    assert torch.equal(ye, yc) and ye.sum() > 0
    ye.sum().backward()
    yc.sum().backward()
    assert torch.allclose(xc.grad, xe.grad, rtol=1e-6, atol=1e-9)
    assert torch.equal(eager._sn_v, compiled._sn_v)


def test_layers_of_different_ranks_get_their_own_kernel():
    """A kernel is shared only at one per-sample rank, so no kernel sees more input ranks
    than dynamo's recompile limit allows (specs/spikformer.snn has ten LIF layers)."""
    spec = (
        "network Ranks {\n    input x: [2, 3, 4]\n"
        "    a = x -> s3: LIF(surrogate=ATan())\n"
        "    output y = a -> flat: Flatten -> s1: LIF(surrogate=ATan())\n}\n"
    )
    source = snndsl.generate(spec, mode="multi", backend="compile")
    assert source.count("_LIF_step(") == 2 and source.count("_LIF_step_2(") == 2  # def + call
