"""Parallel spiking neurons against SpikingJelly 2.0.0: PSN, MaskedPSN, SlidingPSN."""

from __future__ import annotations

import pytest
import torch
from conftest import require_spikingjelly

import snndsl
from snndsl.oracle.reference_map import PARALLEL_KEYS
from snndsl.oracle.spikingjelly import OracleNetwork

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
    args = {b.name: b.value for b in node.args}
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


# --------------------------------------------------------------------------- the language
# Parallel neurons are prelude definitions; a user writes variants with the same statements.

CAUSAL = """
parallel neuron CausalPSN(T: int, surrogate = ATan()) {
    steps T
    param weight[T, T] = kaiming_uniform(sqrt(5.0))
    param bias[T, 1] = -1.0
    buffer causal[T, T] = band(T)
    charge h = weight * causal @ x + bias
    window T
    fire h >= 0.0, surrogate: surrogate
}
network P { input x: [3, 2]
 output y = x -> sn: CausalPSN(4) }
"""


def test_user_variant_equals_spikingjelly_psn_with_the_masked_weight():
    require_spikingjelly()
    from spikingjelly.activation_based import neuron, surrogate

    torch.manual_seed(0)
    multi = snndsl.load(CAUSAL, mode="multi")()
    single = snndsl.load(CAUSAL, mode="single")()
    single.load_state_dict(multi.state_dict())
    ref = neuron.PSN(4, surrogate.ATan())
    ref.weight.data = multi.sn.weight.data.tril().clone()
    ref.bias.data = multi.sn.bias.data.clone()
    assert torch.equal(multi.sn.causal, torch.ones(4, 4).tril())
    x = torch.randn(4, 5, 3, 2) * 2
    y = multi(x)
    assert torch.equal(y, ref(x))
    assert 0 < y.mean() < 1
    ys = torch.stack([single(x[t]) for t in range(4)])
    assert torch.equal(ys, y)  # 0/1 spikes: the window sum only moves h by rounding
    with pytest.raises(OverflowError, match="has run its 4 steps"):
        single(x[0])
    single.reset()
    assert torch.equal(single(x[0]), y[0])


def test_vector_init_with_index_and_a_buffer_threshold():
    spec = """
parallel neuron Decay(k: int, v_threshold: float = 0.5) {
    param weight[k] = 0.5 ** (k - 1 - index)
    buffer theta = v_threshold
    charge h = sliding(weight) @ x
    window k
    fire h >= theta
}
network P { input x: [2]
 output y = x -> sn: Decay(3) }
"""
    model = snndsl.load(spec, mode="multi")()
    assert model.sn.weight.tolist() == [0.25, 0.5, 1.0]
    assert [name for name, _ in model.named_parameters()] == ["sn.weight"]
    x = torch.tensor([[[0.6, 0.0]], [[0.0, 0.0]], [[0.0, 0.2]]])  # [T=3, N=1, 2]
    # h[t] = sum of the last 3 inputs weighted 0.25, 0.5, 1.0 (newest heaviest)
    expected = torch.tensor([[[1.0, 0.0]], [[0.0, 0.0]], [[0.0, 0.0]]])
    assert torch.equal(model(x), expected)
    single = snndsl.load(spec, mode="single")()
    assert torch.equal(torch.stack([single(x[t]) for t in range(3)]), expected)


BAD = [
    ("charge h = weight @ x * 2.0", "is 'M @ x + b'"),
    ("charge h = x @ weight", "is 'M @ x + b'"),
    ("charge h = weight @ x + 1.0", "the bias 'b' in 'M @ x + b' is a param or buffer"),
    ("charge h = (weight + x) @ x", "cannot depend on the input"),
    ("state v = 0.0", "'state' has no place in a parallel neuron"),
    ("charge h = sliding(bias) @ x", "sliding(w) needs a vector param; 'bias' is not one"),
]


@pytest.mark.parametrize("line,message", BAD)
def test_misused_statements_are_located(line, message):
    spec = f"""
parallel neuron Bad(T: int = 4) {{
    steps T
    param weight[T, T] = 0.1
    param bias[T, 1] = -1.0
    {line}
    fire h >= 0.0
}}
network P {{ input x: [2]
 output y = x -> sn: Bad }}
"""
    with pytest.raises(snndsl.SpecError) as info:
        snndsl.resolve(spec)
    d = info.value.diagnostics[0]
    assert message in d.message, d.message
    assert d.span.line == 6


@pytest.mark.parametrize(
    "body,message",
    [
        ("param w[4, 4] = 0.5 * index", "'index' numbers the elements of a vector"),
        ("buffer m[4, 4] = kaiming_uniform(1.0)", "kaiming_uniform initialises a vector or"),
        ("buffer m[4, 3] = band(2)", "band(k) fills a square matrix"),
        ("param w[0] = 1.0", "a dimension of 'w' must be at least 1"),
    ],
)
def test_bad_tensor_declarations(body, message):
    spec = f"""
parallel neuron Bad() {{
    {body}
    fire x >= 0.0
}}
network P {{ input x: [2]
 output y = x -> sn: Bad }}
"""
    with pytest.raises(snndsl.SpecError) as info:
        snndsl.resolve(spec)
    assert message in info.value.diagnostics[0].message


def test_window_over_a_general_matrix_needs_steps():
    spec = """
parallel neuron Bad(T: int = 4) {
    param weight[T, T] = 0.1
    charge h = weight @ x
    fire h >= 0.0
}
network P { input x: [2]
 output y = x -> sn: Bad }
"""
    with pytest.raises(snndsl.SpecError) as info:
        snndsl.resolve(spec)
    d = info.value.diagnostics[0]
    assert "needs 'steps T'" in d.message and d.span.line == 4
