"""Neuron and surrogate compilation, checked bit for bit against SpikingJelly 2.0.0.

Every IF/LIF option (reset mode, decay_input, detach_reset, surrogate and alpha) runs on
inputs that include values exactly at threshold, negative values and T = 1.  Spikes and
membrane potentials must be identical; gradients within 1e-6 relative.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from conftest import ROOT, require_spikingjelly

import snndsl
from snndsl import ir
from snndsl.backends.torch.naming import module_names
from snndsl.backends.torch.printer import PythonPrinter
from snndsl.oracle.spikingjelly import OracleNetwork

LIF_OPTIONS = [
    f"LIF(tau={tau}, decay_input={di}, v_reset={vr}, detach_reset={dr}, surrogate={sg})"
    for tau, di, vr, dr, sg in itertools.product(
        ("2.0", "1.5"),
        ("true", "false"),
        ("0.0", "none", "-0.5"),
        ("false", "true"),
        ("Sigmoid()", "ATan()", "Sigmoid(alpha=2.5)", "ATan(alpha=0.7)"),
    )
]
IF_OPTIONS = [
    f"IF(v_threshold={vt}, v_reset={vr}, detach_reset={dr}, surrogate={sg})"
    for vt, vr, dr, sg in itertools.product(
        ("1.0", "0.4"),
        ("0.0", "none"),
        ("false", "true"),
        ("Sigmoid()", "ATan(alpha=3.0)"),
    )
]


def _inputs(steps: int) -> torch.Tensor:
    torch.manual_seed(steps)
    x = torch.randn(steps, 3, 6) * 1.5
    x[0, 0, :3] = torch.tensor([1.0, 0.4, -1.0])  # exactly at a threshold, and negative
    return x


@pytest.mark.parametrize("steps", [1, 5])
@pytest.mark.parametrize("call", LIF_OPTIONS[::3] + IF_OPTIONS, ids=lambda c: c)
def test_neuron_bit_identical_to_spikingjelly(call, steps):
    require_spikingjelly()
    spec = f"network N {{ input x: [6]\n output y = x -> sn: {call} }}"
    net = snndsl.resolve(spec)
    multi = snndsl.load(spec, mode="multi")()
    single = snndsl.load(spec, mode="single")()
    ref = OracleNetwork(net)
    x = _inputs(steps)
    xm, xs, xr = (x.clone().requires_grad_(True) for _ in range(3))
    ym, yr = multi(xm), ref(xr)
    ys = torch.stack([single(xs[t]) for t in range(steps)])
    assert torch.equal(ym, yr) and torch.equal(ys, yr)
    assert torch.equal(multi._sn_v, ref.sn.v) and torch.equal(single._sn_v, ref.sn.v)
    weights = torch.linspace(-1, 1, ym.numel()).reshape(ym.shape)
    (ym * weights).sum().backward()
    (yr * weights).sum().backward()
    (ys * weights).sum().backward()
    scale = xr.grad.abs().max().clamp_min(1e-12)
    assert ((xm.grad - xr.grad).abs().max() / scale).item() <= 1e-6
    assert ((xs.grad - xr.grad).abs().max() / scale).item() <= 1e-6


def test_lif_equations_print_in_spikingjelly_order():
    net = snndsl.resolve("network N { input x: [2]\n output y = x -> LIF }")
    (lif,) = net.neurons
    printer = PythonPrinter({ir.SurrogateKey("Sigmoid"): "_Sigmoid"})
    lines = [f"{a.target} = {printer.print(a.value)}" for a in lif.step]
    assert lines == [
        "_h = _v + (x - _v) / 2.0",  # SpikingJelly's (_v - 0.0) is _v exactly
        "_spike = _Sigmoid.spike(_h - 1.0, 4.0)",
        "_v = _spike * 0.0 + (1.0 - _spike) * _h",
    ]


def test_soft_reset_and_detach():
    net = snndsl.resolve(
        "network N { input x: [2]\n output y = x -> LIF(v_reset=none, detach_reset=true, "
        "decay_input=false) }"
    )
    printer = PythonPrinter({ir.SurrogateKey("Sigmoid"): "_Sigmoid"})
    lines = [f"{a.target} = {printer.print(a.value)}" for a in net.neurons[0].step]
    assert lines == [
        "_h = _v - _v / 2.0 + x",
        "_spike = _Sigmoid.spike(_h - 1.0, 4.0)",
        "_spike_d = _spike.detach()",
        "_v = _h - _spike_d * 1.0",
    ]


def test_user_neuron_equal_to_lif_gives_identical_results():
    spec = """
    neuron MyLIF(tau: float = 2.0, v_threshold: float = 1.0) {
        state v = 0.0
        charge v = v + (x - (v - 0.0)) / tau
        fire v >= v_threshold
        reset v = 0.0
    }
    network N {
        input x: [5]
        a = x -> mine: MyLIF(tau=3.0)
        b = x -> theirs: LIF(tau=3.0)
        output a
        output b
    }
    """
    cls = snndsl.load(spec, mode="multi")
    x = torch.randn(7, 2, 5) * 2
    a, b = cls()(x)
    assert torch.equal(a, b) and a.sum() > 0


def test_user_surrogate_gradient():
    spec = """
    surrogate Triangle(width: float = 1.0) {
        require width > 0.0, "width must be positive"
        gradient relu(1.0 - abs(x) / width) / width
    }
    network N { input x: [4]
        output y = x -> IF(surrogate=Triangle(width=0.5)) }
    """
    net = snndsl.resolve(spec)
    assert net.neurons[0].params[2].value == ir.SurrogateRef("Triangle", (("width", 0.5),))
    model = snndsl.load(spec, mode="single")()
    x = torch.tensor([[0.9, 1.0, 1.2, 3.0]], requires_grad=True)
    model(x).sum().backward()
    h = x.detach() - 1.0
    expected = torch.relu(1.0 - h.abs() / 0.5) / 0.5
    assert torch.allclose(x.grad, expected)


def test_surrogate_requirement_is_checked_at_the_call():
    with pytest.raises(snndsl.SpecError) as info:
        snndsl.resolve(
            "network N { input x: [4]\n output y = x -> IF(surrogate=ATan(alpha=-1.0)) }"
        )
    (d,) = info.value.diagnostics
    assert d.code == "E0403" and "alpha must be positive" in d.message
    assert (d.span.line, d.span.column) == (2, 31)  # the ATan(...) call


def test_parameter_types_are_coerced():
    net = snndsl.resolve("network N { input x: [4]\n output y = x -> LIF(tau=3, v_threshold=2) }")
    params = {b.name: b.value for b in net.neurons[0].params}
    assert params["tau"] == 3.0 and isinstance(params["tau"], float)
    assert isinstance(params["v_threshold"], float)


def test_user_defined_eif_is_bit_identical_to_spikingjelly_eifnode():
    require_spikingjelly()
    from spikingjelly.activation_based import neuron

    spec = (
        (ROOT / "specs" / "custom.snn").read_text().split("network Custom")[0]
        + """
    network E { input x: [6]
        output y = x -> sn: ExpIF(tau=3.0, delta_t=0.5, surrogate=Sigmoid()) }
    """
    )
    multi = snndsl.load(spec, mode="multi")()
    ref = neuron.EIFNode(
        tau=3.0, delta_T=0.5, theta_rh=0.8, v_threshold=1.0, v_rest=0.0, v_reset=-0.1, step_mode="m"
    )
    x = _inputs(9)
    xm, xr = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ym, yr = multi(xm), ref(xr)
    assert ym.sum() > 0
    assert torch.equal(ym, yr) and torch.equal(multi._sn_v, ref.v)
    ym.sum().backward()
    yr.sum().backward()
    assert ((xm.grad - xr.grad).abs().max() / xr.grad.abs().max()).item() <= 1e-6


MORE_NEURONS = [
    "ParametricLIF",
    "ParametricLIF(init_tau=3.0, decay_input=false, v_reset=none, surrogate=ATan())",
    "QIF",
    "QIF(v_reset=none, tau=3.0, detach_reset=true)",
    "EIF",
    "EIF(delta_T=0.5, v_reset=none)",
    "Izhikevich(a=0.5, b=0.2)",
    "Izhikevich(a=0.3, b=0.1, v_reset=none, tau_w=3.0, w_rest=0.1)",
    "KLIF",
    "KLIF(scale_reset=true)",
    "KLIF(scale_reset=true, v_reset=none, decay_input=false, detach_reset=true)",
    "LIAF",
    'LIAF(act="tanh", threshold_related=false, v_reset=none)',
    'LIAF(act="sigmoid", surrogate=Erf())',
    "CUBALIF",
    "CUBALIF(v_reset=none, surrogate=ATan())",
    "CUBALIF(c_decay=0.3, v_decay=0.9, detach_reset=true)",
    "NonSpikingIF",
    "NonSpikingLIF",
    "NonSpikingLIF(tau=3.5)",
]


@pytest.mark.parametrize("call", MORE_NEURONS)
def test_catalogue_neuron_matches_spikingjelly(call):
    """States (every one of them), outputs, input and parameter gradients, both forms."""
    require_spikingjelly()
    spec = f"network N {{ input x: [6]\n output y = x -> sn: {call} }}"
    net = snndsl.resolve(spec)
    torch.manual_seed(0)
    multi = snndsl.load(spec, mode="multi")()
    single = snndsl.load(spec, mode="single")()
    ref = OracleNetwork(net)
    single.load_state_dict(multi.state_dict())
    ref.load_state_dict(multi.state_dict())
    x = torch.randn(6, 3, 6) * 1.5
    xm, xs, xr = (x.clone().requires_grad_(True) for _ in range(3))
    ym, yr = multi(xm), ref(xr)
    ys = torch.stack([single(step) for step in xs])
    assert torch.equal(ym, yr) and torch.equal(ys, yr)
    ref_states = ref.neuron_states()
    names = module_names(net)
    (node,) = net.neurons
    for s in node.states:
        attr, ref_state = names.state(node, s.name), ref_states[(node.attr, s.name)]
        assert torch.equal(getattr(multi, attr), ref_state), s.name
        assert torch.equal(getattr(single, attr), ref_state), s.name
    weights = torch.linspace(-1, 1, ym.numel()).reshape(ym.shape)
    for y in (ym, yr, ys):
        (y * weights).sum().backward()
    scale = xr.grad.abs().max().clamp_min(1e-12)
    assert ((xm.grad - xr.grad).abs().max() / scale).item() <= 1e-6
    assert ((xs.grad - xr.grad).abs().max() / scale).item() <= 1e-6
    ref_params = dict(ref.named_parameters())
    for name, p in multi.named_parameters():
        q = ref_params[name].grad
        assert ((p.grad - q).abs().max() / q.abs().max().clamp_min(1e-12)).item() <= 1e-6, name


def test_multi_state_neurons_carry_every_state_through_the_loop():
    # Regression: a state whose last value came from 'charge' or 'update' (not 'reset')
    # must feed the next step inside the multi-step loop too.
    src = snndsl.generate("network N { input x: [3]\n output y = x -> sn: CUBALIF }", "multi")
    loop = src[src.index("for _x in") :]
    assert "_c = _c_h" in loop.split("_spikes.append")[0]


def test_learnable_parameters_live_under_the_layer_name():
    spec = "network N { input x: [3]\n a = x -> p: ParametricLIF(init_tau=3.0)\n output y = a -> k: KLIF }"
    model = snndsl.load(spec, mode="single")()
    assert list(model.state_dict()) == ["p.w", "k.k"]
    assert model.p.w.item() == pytest.approx(-math.log(2.0))
    assert model.k.k.requires_grad


@pytest.mark.parametrize(
    "call",
    [
        "LIF(store_v_seq=true)",
        "IF(store_v_seq=true, v_reset=none)",
        "Izhikevich(store_v_seq=true, a=0.5, b=0.3)",
        "CUBALIF(store_v_seq=true)",
        "LIAF(store_v_seq=true)",
        "ParametricLIF(store_v_seq=true)",
        "QIF(store_v_seq=true)",
        "EIF(store_v_seq=true)",
        "KLIF(store_v_seq=true, scale_reset=true)",
    ],
)
def test_store_v_seq_records_like_spikingjelly(call):
    require_spikingjelly()
    spec = f"network N {{ input x: [6]\n output y = x -> sn: {call} }}"
    net = snndsl.resolve(spec)
    multi = snndsl.load(spec, mode="multi")()
    single = snndsl.load(spec, mode="single")()
    ref = OracleNetwork(net)
    single.load_state_dict(multi.state_dict())
    ref.load_state_dict(multi.state_dict())
    x = torch.randn(5, 3, 6) * 1.5
    multi(x)
    for step in x:
        single(step)
    ref(x)
    recorded = ref.v_seqs()["sn_v_seq"]
    assert recorded.shape == (5, 3, 6)
    assert torch.equal(multi.sn_v_seq, recorded)
    assert torch.equal(single.sn_v_seq, recorded)
    single.reset()
    assert single.sn_v_seq is None


def test_store_v_seq_is_off_by_default_and_its_name_is_checked():
    src = snndsl.generate("network N { input x: [2]\n output y = x -> sn: LIF }", "multi")
    assert "v_seq" not in src
    with pytest.raises(snndsl.SpecError) as info:
        snndsl.resolve(
            "network N { input x: [2]\n sn_v_seq = x -> Linear(2)\n"
            " output y = sn_v_seq -> sn: LIF(store_v_seq=true) }"
        )
    assert info.value.codes == ("E0102",)


def test_the_input_inside_a_comparison_is_the_layer_input():
    """x inside where()/comparisons is substituted like everywhere else (both forms)."""
    spec = """
neuron Gate(v_threshold: float = 1.0) {
    state v = 0.0
    charge v = v + where(x > 0.5, x, 0.0)
    fire v >= v_threshold
    reset v = 0.0
}
network N {
    input inp: [3]
    output y = inp -> fc: Linear(3) -> sn: Gate
}
"""
    for mode in ("single", "multi"):
        source = snndsl.generate(spec, mode=mode)
        assert "where(fc > 0.5, fc, 0.0)" in source or "where(_x > 0.5, _x, 0.0)" in source
    multi = snndsl.load(spec, mode="multi")()
    single = snndsl.load(spec, mode="single")()
    single.load_state_dict(multi.state_dict())
    x = torch.rand(4, 2, 3) * 4
    assert torch.equal(multi(x), torch.stack([single(x[t]) for t in range(4)]))
