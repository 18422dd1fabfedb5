"""Neuron language features (issue 13, item 1): strict firing, a reset by the previous
step's spike, per-neuron and matrix params/buffers, states from a param, ``W @ v``,
``detach()``, neurons without a spike.

Each feature: compiled IR, both forms equal (single-step calls against the multi-step
form), the fused backend's derived backward against autograd (forward bit-identical,
gradients within 1e-6 relative, ``test_fused._compare``), and, where the feature exists
in a peer library, snnTorch 1.0 / Norse 1.1 as the oracle.  Located diagnostics for
what is still unsupported.
"""

from __future__ import annotations

import pytest
import torch
from test_diagnostics import expect, resolve_error
from test_fused import TOLERANCE, _compare, _rel

import snndsl
from snndsl import ir
from snndsl.syntax.formatter import format_module
from snndsl.syntax.yaml_io import dump_yaml, load_yaml


def _net(neuron: str, chain: str, shape: int = 4) -> str:
    return f"{neuron}\nnetwork N {{\n    input x: [{shape}]\n    output y = x -> {chain}\n}}\n"


def _both_forms(spec: str, x: torch.Tensor) -> torch.Tensor:
    """The multi-step output, after checking the single-step form gives the same."""
    torch.manual_seed(0)
    multi = snndsl.load(spec, mode="multi")()
    single = snndsl.load(spec, mode="single")()
    single.load_state_dict(multi.state_dict())
    ym = multi(x)
    ys = torch.stack([single(xt) for xt in x])
    assert torch.equal(ym, ys)
    return ym


def _neuron(spec: str) -> ir.NeuronIR:
    return snndsl.resolve(spec).neurons[0]


# ------------------------------------------------------------------ strict firing

STRICT = """
neuron Step(threshold: float = 1.0) {
    state v = 0.0
    charge v = v + x
    fire v > threshold
    reset v = 0.0
}
"""


def test_strict_fire_does_not_spike_on_the_threshold():
    spec = _net(STRICT, "sn: Step()")
    (spike,) = [a.value for a in _neuron(spec).step if isinstance(a.value, ir.Spike)]
    assert spike.strict
    x = torch.tensor([[[1.0, 0.5, 1.5, 0.0]], [[0.0, 0.5, 0.0, 1.0]]])
    y = _both_forms(spec, x)
    assert y.tolist() == [[[0.0, 0.0, 1.0, 0.0]], [[0.0, 0.0, 0.0, 0.0]]]  # 1.0 is not > 1.0
    # the same neuron with >= spikes where the membrane lands on the threshold
    y2 = _both_forms(spec.replace("v > threshold", "v >= threshold"), x)
    assert y2[0, 0, 0] == 1.0
    source = snndsl.generate(spec, mode="single")
    assert "class _Sigmoid_strict(_Sigmoid):" in source and "(x > 0).to(x)" in source


def test_strict_fire_fused_matches_autograd():
    _compare(_net(STRICT, "Linear(5) -> sn: Step(threshold=0.5)"), steps=6)


def test_non_strict_fire_generates_no_strict_class():
    source = snndsl.generate(_net(STRICT.replace(">", ">="), "sn: Step()"), mode="multi")
    assert "_strict" not in source


# ------------------------------------------------------------------ reset by the previous spike

LEAKY = """
neuron Leaky(beta: float = 0.9, threshold: float = 1.0, zero: bool = false) {
    buffer b = beta
    buffer thr = threshold
    state v = 0.0
    if zero {
        reset v = 0.0, delay: true, detach: true
    }
    charge v = clamp(b, 0.0, 1.0) * v + x
    if not zero {
        reset v -= thr, delay: true, detach: true
    }
    fire v > thr, surrogate: ATan()
}
"""


def test_delayed_reset_is_a_state_holding_the_previous_spike():
    n = _neuron(_net(LEAKY, "sn: Leaky()"))
    assert [s.name for s in n.states] == ["v", "spike"]
    # the reset reads the previous spike, before this step fires
    reset = next(i for i, a in enumerate(n.step) if a.target.startswith("_v_r"))
    fire = next(i for i, a in enumerate(n.step) if isinstance(a.value, ir.Spike))
    assert reset < fire


@pytest.mark.parametrize("zero", [False, True])
def test_delayed_reset_matches_snntorch_leaky(zero):
    snntorch = pytest.importorskip("snntorch")
    spec = _net(LEAKY, f"sn: Leaky(zero={'true' if zero else 'false'})", shape=6)
    torch.manual_seed(1)
    x = torch.randn(12, 3, 6) * 1.2
    x[2, 0, :3] = 1.0  # membranes landing exactly on the threshold
    ours = _both_forms(spec, x)
    peer = snntorch.Leaky(beta=0.9, reset_mechanism="zero" if zero else "subtract")
    xp = x.clone().requires_grad_(True)
    mem = peer.init_leaky()
    spikes = []
    for xt in xp:
        spk, mem = peer(xt, mem)
        spikes.append(spk)
    spikes = torch.stack(spikes)
    assert torch.equal(ours, spikes)
    weights = torch.linspace(-1, 1, spikes.numel()).reshape(spikes.shape)
    (spikes * weights).sum().backward()
    for backend in ("eager", "fused"):
        model = snndsl.load(spec, mode="multi", backend=backend)()
        xo = x.clone().requires_grad_(True)
        y = model(xo)
        assert torch.equal(y, spikes.detach())
        (y * weights).sum().backward()
        assert _rel(xo.grad, xp.grad) <= TOLERANCE, backend


def test_delayed_reset_fused_matches_autograd():
    _compare(_net(LEAKY, "Linear(5) -> sn: Leaky(beta=0.8)"), steps=8)
    _compare(_net(LEAKY, "Linear(5) -> sn: Leaky(zero=true)"), steps=8)
    # without detach, the gradient flows through the previous spike
    _compare(_net(LEAKY.replace(", detach: true", ""), "Linear(5) -> sn: Leaky()"), steps=8)


# ------------------------------------------------------------------ per-neuron params, buffers

VECTOR = """
neuron Vec(beta: float = 0.9) {
    param b[features] = beta
    buffer thr[features] = 1.0
    param v0[features] = 0.25
    state v = v0
    charge v = b * v + x
    fire v >= thr
    reset v -= thr
}
"""


def test_per_neuron_params_have_the_layer_shape_and_predictable_keys():
    spec = _net(VECTOR, "Linear(5) -> sn: Vec()")
    n = _neuron(spec)
    assert [(t.name, t.learnable, t.shape) for t in n.tensors] == [
        ("b", True, (5,)),
        ("thr", False, (5,)),
        ("v0", True, (5,)),
    ]
    assert n.states[0].init == ir.ParamRef("sn", "v0")
    model = snndsl.load(spec, mode="multi")()
    state = model.state_dict()
    assert state["sn.b"].shape == (5,) and state["sn.thr"].shape == (5,)
    assert {k for k, _ in model.named_parameters()} == {
        "linear_1.weight",
        "linear_1.bias",
        "sn.b",
        "sn.v0",
    }
    x = torch.randn(6, 2, 4)
    _both_forms(spec, x)
    _compare(spec, steps=6)


def test_state_from_a_param_starts_there_and_learns():
    spec = _net(VECTOR, "sn: Vec()", shape=3)
    model = snndsl.load(spec, mode="single")()
    with torch.no_grad():
        model.sn.v0.copy_(torch.tensor([0.9, -1.0, 0.0]))
    y = model(torch.tensor([[0.2, 0.0, 0.0]]))
    assert y.tolist() == [[1.0, 0.0, 0.0]]  # 0.9 * 0.9 + 0.2 >= 1
    model.reset()
    assert model(torch.tensor([[0.0, 0.0, 0.0]])).sum() == 0  # 0.81 < 1 after reset()


def test_vector_param_of_the_wrong_shape_is_located():
    text = _net(VECTOR.replace("b[features]", "b[7]"), "Linear(5) -> sn: Vec()")
    expect(resolve_error(text), "E0302", 3, 5, ..., "'b[7]' does not fit this layer of shape [5]")


def test_scalar_shapes_stay_scalar_and_buffers_are_not_learned():
    spec = _net(
        "neuron S() {\n    param a[] = 0.5\n    buffer c = 2.0\n    state v = 0.0\n"
        "    charge v = a * v + x / c\n    fire v >= 1.0\n    reset v = 0.0\n}\n",
        "sn: S()",
    )
    model = snndsl.load(spec, mode="multi")()
    assert model.sn.a.shape == () and [k for k, _ in model.named_parameters()] == ["sn.a"]
    assert [k for k, _ in model.named_buffers()] == ["sn.c"]


# ------------------------------------------------------------------ matrices and @

RECURRENT = """
neuron Rec(beta: float = 0.9, autapses: bool = false) {
    param W[features, features] = kaiming_uniform(sqrt(5.0))
    buffer mask[features, features] = diagonal(0.0, 1.0)
    state v = 0.0
    state s = 0.0
    if autapses {
        charge v = beta * v + x + W @ s
    } else {
        charge v = beta * v + x + (W * mask) @ s
    }
    fire v > 0.5
    update s = spike
    reset v -= 0.5
}
"""


def test_matrix_param_applies_with_matmul():
    spec = _net(RECURRENT, "Linear(5) -> sn: Rec()")
    n = _neuron(spec)
    assert [(t.name, t.shape) for t in n.tensors] == [("W", (5, 5)), ("mask", (5, 5))]
    assert any(isinstance(a.value, ir.BinOp) and "MatVec" in repr(a.value) for a in n.step)
    model = snndsl.load(spec, mode="multi")()
    assert torch.equal(model.sn.mask, 1.0 - torch.eye(5))
    _both_forms(spec, torch.randn(8, 2, 4) * 2)
    source = snndsl.generate(spec, mode="multi")
    assert "torch.nn.functional.linear(_s, _W * _mask" in source


@pytest.mark.parametrize("autapses", ["true", "false"])
def test_matrix_fused_matches_autograd(autapses):
    _, fused = _compare(_net(RECURRENT, f"Linear(5) -> sn: Rec(autapses={autapses})"), steps=8)
    source = type(fused).__snndsl_source__
    assert "_RecLoop_sn.apply(" in source and "torch.mm(" in source


def test_zeroed_diagonal_gets_no_gradient():
    spec = _net(RECURRENT, "Linear(5) -> sn: Rec()")
    model = snndsl.load(spec, mode="multi", backend="fused")()
    model(torch.randn(8, 2, 4) * 2).sum().backward()
    assert torch.equal(model.sn.W.grad.diagonal(), torch.zeros(5))
    assert model.sn.W.grad.abs().sum() > 0


def test_norse_recurrent_weights_without_autapses():
    """Norse's LIFRecurrent without autapses keeps the recurrent weight's diagonal at
    zero: its recurrent input is F.linear(z, W); ours, (W * mask) @ s, is the same."""
    norse = pytest.importorskip("norse")
    cell = norse.torch.LIFRecurrentCell(4, 4, autapses=False)
    spec = _net(RECURRENT, "sn: Rec()")
    model = snndsl.load(spec, mode="single")()
    with torch.no_grad():
        model.sn.W.copy_(cell.recurrent_weights)
    s = (torch.rand(3, 4) > 0.5).float()
    torch.testing.assert_close(
        torch.nn.functional.linear(s, model.sn.W * model.sn.mask),
        torch.nn.functional.linear(s, cell.recurrent_weights),
        rtol=0,
        atol=0,
    )


@pytest.mark.parametrize(
    ("body", "line", "column", "message"),
    [
        ("    charge v = v + x @ v\n", 4, 20, "the left side of '@' is a matrix"),
        ("    charge v = v + W * v\n", 4, 20, "a matrix combines element-wise only"),
        ("    charge v = v + W @ W\n", 4, 24, "the right side of '@' is a vector"),
        ("    charge v = W\n", 4, 16, "a charge equation is a matrix"),
    ],
)
def test_matrix_misuse_is_located(body, line, column, message):
    neuron = (
        "neuron M() {\n    param W[features, features] = 0.0\n    state v = 0.0\n"
        + body
        + "    fire v >= 1.0\n}\n"
    )
    err = resolve_error(_net(neuron, "sn: M()"))
    d = err.diagnostics[0]
    assert (d.span.line, d.span.column) == (line, column) and message in d.message, d


def test_matrix_on_a_multi_dimensional_layer_is_located():
    neuron = (
        "neuron M() {\n    param W[features, features] = 0.0\n    state v = 0.0\n"
        "    charge v = v + x\n    fire v >= 1.0\n}\n"
    )
    text = f"{neuron}network N {{\n    input x: [2, 3]\n    output y = x -> sn: M()\n}}\n"
    expect(resolve_error(text), "E0302", 2, 5, ..., "does not fit this layer of shape [2, 3]")


# ------------------------------------------------------------------ detach, emit-only

NORSE_LI = """
neuron NorseLI(tau_syn_inv: float = 200.0, tau_mem_inv: float = 100.0,
               v_leak: float = 0.0, dt: float = 0.001) {
    buffer tsi = tau_syn_inv
    buffer tmi = tau_mem_inv
    buffer vl = v_leak
    state v = vl
    state i = 0.0
    charge i = i + x
    charge v = v + dt * tmi * ((vl - v) + i)
    update i = i + -dt * tsi * i
    emit v
}
"""


def test_emit_only_neuron_matches_norse_li():
    norse = pytest.importorskip("norse")
    spec = _net(NORSE_LI, "li: NorseLI()", shape=5)
    assert _neuron(spec).neuron == "NorseLI"
    torch.manual_seed(2)
    x = torch.randn(10, 3, 5)
    ours = _both_forms(spec, x)
    xp = x.clone().requires_grad_(True)
    peer, _ = norse.torch.LI()(xp)
    assert torch.equal(ours, peer.detach())
    weights = torch.linspace(-1, 1, peer.numel()).reshape(peer.shape)
    (peer * weights).sum().backward()
    for backend in ("eager", "fused"):
        xo = x.clone().requires_grad_(True)
        y = snndsl.load(spec, mode="multi", backend=backend)()(xo)
        assert torch.equal(y, peer.detach())
        (y * weights).sum().backward()
        assert _rel(xo.grad, xp.grad) <= TOLERANCE, backend


def test_emit_only_neuron_has_no_surrogate():
    net = snndsl.resolve(_net(NORSE_LI, "Linear(5) -> li: NorseLI()"))
    assert net.surrogates == ()
    _compare(_net(NORSE_LI, "Linear(5) -> li: NorseLI()"), steps=6)


DETACHED = """
neuron D(tau: float = 2.0) {
    state v = 0.0
    charge v = v + (x - detach(v)) / tau
    fire v >= 0.5
    reset v = 0.0
}
"""


def test_detach_cuts_the_gradient():
    spec = _net(DETACHED, "Linear(4) -> sn: D()")
    assert "_v.detach()" in snndsl.generate(spec, mode="multi")
    _compare(spec, steps=6)
    # detach of a constant is the constant
    folded = _net(DETACHED.replace("detach(v)", "detach(2.0) * v"), "sn: D()")
    assert "2.0 * _v" in snndsl.generate(folded, mode="single")


# ------------------------------------------------------------------ order rules, diagnostics


@pytest.mark.parametrize(
    ("body", "line", "column", "message"),
    [
        (
            "    charge v = v + x\n    fire v > 1.0\n    reset v -= 1.0, delay: true\n",
            5,
            5,
            "a reset by the previous step's spike comes before 'fire'",
        ),
        (
            "    charge v = v + x\n    reset v -= 1.0, delay: true\n"
            "    fire v > 1.0\n    reset v = 0.0\n",
            6,
            5,
            "a neuron resets once per step",
        ),
        (
            "    charge v = v + x\n    reset v -= 1.0, delay: true\n    emit v\n",
            4,
            5,
            "this neuron does not fire",
        ),
        ("    charge v = v + x\n    fire v < 1.0\n", 4, 10, "'a > b'"),
        ("    charge v = v + x\n    reset v -= 1.0, delay: 1\n    fire v > 1.0\n", 4, 28, ""),
    ],
)
def test_order_rules_are_located(body, line, column, message):
    neuron = "neuron O() {\n    state v = 0.0\n" + body + "}\n"
    d = resolve_error(_net(neuron, "sn: O()")).diagnostics[0]
    assert (d.span.line, d.span.column) == (line, column) and message in d.message, d


def test_features_spells_the_layer_shape_in_a_param_only():
    neuron = "neuron Feat() {\n    state v = 0.0\n    charge v = v + x * features\n    fire v >= 1.0\n}\n"
    err = resolve_error(_net(neuron, "sn: Feat()"))
    assert err.diagnostics[0].code == "E0402"


# ------------------------------------------------------------------ round trips

ROUND_TRIP = LEAKY + VECTOR + RECURRENT + NORSE_LI + DETACHED


def test_formatter_and_yaml_round_trip_the_new_syntax():
    module = snndsl.parse(ROUND_TRIP)
    text = format_module(module)
    assert "fire v > thr, surrogate: ATan()" in text
    assert "reset v -= thr, delay: true, detach: true" in text
    assert "param W[features, features] = kaiming_uniform(sqrt(5.0))" in text
    assert "W * mask @ s" in text and "detach(v)" in text  # * and @ group left to right
    assert snndsl.parse(text) == module
    assert load_yaml(dump_yaml(module)) == module


# ------------------------------------------------------------------ a neuron's states as values

READS = """
network R {
    input x: [6]
    h = x -> sn: Leaky()
    output spikes = h
    output mem = sn.v
    output both = Add(sn.v, h) -> Linear(2)
}
"""


def test_state_reads_are_values_in_both_forms_and_match_snntorch_mem():
    snntorch = pytest.importorskip("snntorch")
    spec = LEAKY + READS
    net = snndsl.resolve(spec)
    (read,) = [n for n in net.nodes if isinstance(n, ir.StateReadIR)]
    assert (read.layer, read.state, read.spec) == ("sn", "v", "sn.v")
    assert [o.name for o in net.outputs] == ["spikes", "mem", "both"]
    torch.manual_seed(3)
    x = torch.randn(10, 2, 6) * 1.2
    peer = snntorch.Leaky(beta=0.9)
    mem = peer.init_leaky()
    mems = []
    for xt in x:
        _, mem = peer(xt, mem)
        mems.append(mem)
    single = snndsl.load(spec, mode="single")()
    for backend in ("eager", "fused"):
        multi = snndsl.load(spec, mode="multi", backend=backend)()
        single.load_state_dict(multi.state_dict())
        single.reset()
        outs = multi(x)
        steps = [single(xt) for xt in x]
        for i, out in enumerate(outs):
            assert torch.equal(out, torch.stack([s[i] for s in steps]))
        assert torch.equal(outs[1], torch.stack(mems))
    _compare(spec, steps=8)


@pytest.mark.parametrize(
    ("read", "message"),
    [
        ("nope.v", "undefined name 'nope.v'"),
        ("fc.v", "'fc' labels a step that is not a neuron layer"),
        ("sn.w", "neuron layer 'sn' (LIF) has no state 'w'"),
        ("sn.spike", "has no state 'spike'"),
        ("Add(sn.w, h)", "has no state 'w'"),
        ("delay(sn.v)", "delay() reads a value of the network"),
    ],
)
def test_bad_state_reads_are_located(read, message):
    text = (
        "network N {\n    input x: [4]\n    h = x -> fc: Linear(4) -> sn: LIF()\n"
        f"    output y = {read}\n}}\n"
    )
    d = resolve_error(text).diagnostics[0]
    assert d.span.line == 4 and message in d.message, d


def test_state_reads_round_trip():
    module = snndsl.parse(LEAKY + READS)
    text = format_module(module)
    assert "output mem = sn.v" in text and "Add(sn.v, h)" in text
    assert snndsl.parse(text) == module
    assert load_yaml(dump_yaml(module)) == module


DOTTED = """
neuron R(n: int = 4) {
    param recurrent.weight[features, features] = kaiming_uniform(sqrt(5.0))
    param recurrent.bias[features] = 0.5
    buffer recurrent.scale = 2.0
    state v = 0.0
    charge v = v + x + (recurrent.weight @ v + recurrent.bias) * recurrent.scale
    fire v >= 1.0
    reset v = 0.0
}

network N {
    input x: [4]
    output y = x -> sn: R
}
"""


def test_a_dotted_tensor_name_is_kept_in_a_submodule():
    for mode in ("single", "multi"):
        for backend in ("eager", "fused"):
            if mode == "single" and backend == "fused":
                continue
            model = snndsl.load(DOTTED, mode=mode, backend=backend)()
            keys = list(model.state_dict())
            assert keys == ["sn.recurrent.weight", "sn.recurrent.bias", "sn.recurrent.scale"]
            assert isinstance(model.sn.recurrent, torch.nn.Module)
            assert [n for n, _ in model.named_parameters()] == keys[:2]
    single = snndsl.load(DOTTED, mode="single")()
    multi = snndsl.load(DOTTED, mode="multi")()
    multi.load_state_dict(single.state_dict(), strict=True)
    xs = torch.rand(5, 2, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        w = single.sn.recurrent.weight
        ys, v = [], torch.zeros(2, 4)
        for x in xs:  # the equations by hand
            h = v + x + (v @ w.t() + 0.5) * 2.0
            s = (h >= 1.0).float()
            v = h * (1.0 - s)
            ys.append(s)
        assert torch.equal(multi(xs), torch.stack(ys))
        assert torch.equal(torch.stack([single(x) for x in xs]), torch.stack(ys))
