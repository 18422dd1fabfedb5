"""Parallel spiking neurons against SpikingJelly 2.0.0: PSN, MaskedPSN, SlidingPSN."""

from __future__ import annotations

import pytest
import torch
from conftest import require_spikingjelly

import snndsl
from snndsl.oracle import OracleNetwork
from snndsl.reference_map import PARALLEL_KEYS

MULTI = [
    "PSN(4)",
    "PSN(T=4, surrogate=Sigmoid(alpha=3.0))",
    "MaskedPSN(2, 4)",
    "MaskedPSN(k=3, T=4, lambda_init=0.5, surrogate=Erf())",
    "MaskedPSN(2, 4, lambda_init=1.0)",
    "SlidingPSN(3)",
    "SlidingPSN(2, exp_init=false, surrogate=Sigmoid(spiking=false))",
    "SlidingPSN(5, surrogate=Rect(alpha=2.0))",
]
SINGLE = ["MaskedPSN(2, 4, lambda_init=1.0)", "SlidingPSN(3)", "SlidingPSN(2, exp_init=false)"]


def _spec(call: str) -> str:
    return f"network P {{ input x: [3, 2]\n output y = x -> sn: {call} }}"


@pytest.mark.parametrize("call", MULTI)
def test_multi_step_matches_spikingjelly(call):
    require_spikingjelly()
    spec = _spec(call)
    torch.manual_seed(0)
    model = snndsl.load(spec, mode="multi")()
    ref = OracleNetwork(snndsl.resolve(spec))
    # the same keys as SpikingJelly, but for a buffer whose name starts with '_' there
    renames = PARALLEL_KEYS.get(call.split("(")[0], {})
    ours = {
        ".".join(k.split(".")[:-1] + [renames.get(k.split(".")[-1], k.split(".")[-1])])
        for k in model.state_dict()
    }
    assert ours == set(ref.state_dict())
    ref.load_state_dict(model.state_dict())
    x = torch.randn(4, 5, 3, 2)
    xm, xr = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ym, yr = model(xm), ref(xr)
    assert torch.equal(ym, yr)
    weights = torch.linspace(-1, 1, ym.numel()).reshape(ym.shape)
    (ym * weights).sum().backward()
    (yr * weights).sum().backward()
    assert ((xm.grad - xr.grad).abs().max() / xr.grad.abs().max()).item() <= 1e-6
    ref_params = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        q = ref_params[name].grad
        assert ((p.grad - q).abs().max() / q.abs().max().clamp_min(1e-12)).item() <= 1e-6, name


@pytest.mark.parametrize("call", SINGLE)
def test_single_step_matches_spikingjelly_single_step(call):
    require_spikingjelly()
    from spikingjelly.activation_based import neuron, surrogate

    spec = _spec(call)
    torch.manual_seed(0)
    model = snndsl.load(spec, mode="single")()
    node = snndsl.resolve(spec).parallels[0]
    args = dict(node.args)
    if node.neuron == "SlidingPSN":
        ref = neuron.SlidingPSN(args["k"], args["exp_init"], surrogate.ATan(), step_mode="s")
    else:
        ref = neuron.MaskedPSN(
            args["k"], args["T"], args["lambda_init"], surrogate.ATan(), step_mode="s"
        )
    state = model.sn.state_dict()
    for ours, theirs in PARALLEL_KEYS.get(node.neuron, {}).items():
        state[theirs] = state.pop(ours)
    ref.load_state_dict(state)
    x = torch.randn(4, 5, 3, 2)
    for t in range(4):
        assert torch.equal(model(x[t]), ref(x[t])), t
    model.reset()
    assert model._sn_queue == []


@pytest.mark.parametrize("call", ["PSN(4)", "MaskedPSN(2, 4)", "MaskedPSN(2, 4, lambda_init=0.9)"])
def test_multi_step_only_neurons_have_no_single_step_form(call):
    with pytest.raises(snndsl.SpecError) as info:
        snndsl.generate(_spec(call), mode="single")
    (d,) = info.value.diagnostics
    assert d.code == "E0208" and "single-step form" in d.message
    assert (d.span.line, d.span.column) == (2, 22)
    assert d.hint == "generate --mode multi"
    snndsl.generate(_spec(call), mode="multi")  # the multi-step form is fine


def test_psn_checks_the_number_of_steps():
    model = snndsl.load(_spec("PSN(4)"), mode="multi")()
    with pytest.raises(ValueError, match="needs 4 steps, got 3"):
        model(torch.randn(3, 2, 3, 2))


@pytest.mark.parametrize("call,arg", [("PSN(0)", 26), ("SlidingPSN(k=-1)", 33)])
def test_out_of_range_arguments(call, arg):
    with pytest.raises(snndsl.SpecError) as info:
        snndsl.resolve(_spec(call))
    (d,) = info.value.diagnostics
    assert d.code == "E0403" and d.span.column == arg
