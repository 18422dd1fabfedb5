"""The library namespaces (snndsl/prelude/snntorch.snn, norse.snn) against their peers.

Every library neuron, over its options, is checked by ``snndsl check``'s own machinery
against snnTorch 1.0.0 or Norse 1.1.0 (snndsl/oracle/peers.py): both generated forms in
each backend, the peer driven on whole sequences and step by step.  Outputs and final
states must be bit-identical; gradients identical or equal to float32 rounding by the
check's float64-referenced bound (a different reduction or multiplication order, e.g.
a surrogate's ``grad * g`` against the peer's ``g * grad``).  Set
``SNNDSL_REQUIRE_PEERS=1`` to make a missing peer a failure instead of a skip.
"""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")

import snndsl  # noqa: E402
from snndsl.diagnostics import SpecError  # noqa: E402
from snndsl.oracle import peers  # noqa: E402
from snndsl.oracle.crosscheck import run_check  # noqa: E402
from snndsl.oracle.reference_map import PEER_NEURONS  # noqa: E402


def _need(library: str) -> None:
    if not peers.available(library):
        if os.environ.get("SNNDSL_REQUIRE_PEERS") == "1":
            pytest.fail(f"{library} is not installed")
        pytest.skip(f"{library} is not installed")


SNNTORCH = [
    "snntorch.Leaky(beta=0.9)",
    'snntorch.Leaky(beta=0.8, reset_mechanism="zero")',
    'snntorch.Leaky(beta=0.8, reset_mechanism="none")',
    "snntorch.Leaky(beta=0.9, reset_delay=false)",
    'snntorch.Leaky(beta=0.9, reset_mechanism="zero", reset_delay=false)',
    "snntorch.Leaky(beta=1.3, threshold=0.5, learn_beta=true, learn_threshold=true)",
    "snntorch.Leaky(beta=0.9, graded_spikes_factor=2.0, learn_graded_spikes_factor=true)",
    "snntorch.Leaky(beta=0.9, spike_grad=snntorch.FastSigmoid(slope=10.0))",
    # slope 25 (the default) overflows exp(-slope * x) to inf / inf = nan below x = -3.5
    # in float32, in snnTorch as here (docs/peers.md), so a smaller slope is compared
    "snntorch.Leaky(beta=0.9, spike_grad=snntorch.Sigmoid(slope=5.0))",
    "snntorch.Leaky(beta=0.9, spike_grad=snntorch.Triangular(threshold=0.5))",
    "snntorch.Leaky(beta=0.9, spike_grad=snntorch.StraightThroughEstimator())",
    "snntorch.Leaky(beta=0.9, spike_grad=snntorch.Heaviside())",
    "snntorch.Synaptic(alpha=0.8, beta=0.9)",
    'snntorch.Synaptic(alpha=0.8, beta=0.9, reset_mechanism="zero")',
    'snntorch.Synaptic(alpha=0.7, beta=0.9, reset_mechanism="none", learn_alpha=true)',
    "snntorch.Synaptic(alpha=0.8, beta=0.9, reset_delay=false)",
    'snntorch.Synaptic(alpha=0.8, beta=0.9, reset_mechanism="zero", reset_delay=false)',
    "snntorch.Alpha(alpha=0.9, beta=0.8)",
    'snntorch.Alpha(alpha=0.9, beta=0.8, reset_mechanism="subtract")',
    'snntorch.Alpha(alpha=0.95, beta=0.7, reset_mechanism="none", learn_beta=true)',
    "snntorch.Lapicque(beta=0.9)",
    "snntorch.Lapicque(R=2.0, C=3.0)",
    "snntorch.Lapicque(beta=0.8, R=2.0)",
    'snntorch.Lapicque(beta=0.8, C=3.0, reset_mechanism="zero")',
    "snntorch.RLeaky(beta=0.9, linear_features=5)",
    # all_to_all "zero": test_dense_zero_reset_matches_snntorch below (docs/peers.md)
    'snntorch.RLeaky(beta=0.8, all_to_all=false, reset_mechanism="zero")',
    'snntorch.RLeaky(beta=0.8, all_to_all=false, reset_mechanism="zero", reset_delay=false)',
    'snntorch.RLeaky(beta=0.9, linear_features=5, reset_mechanism="none", learn_beta=true)',
    "snntorch.RLeaky(beta=0.9, linear_features=5, reset_delay=false)",
    "snntorch.RLeaky(beta=0.9, all_to_all=false, V=0.5)",
    "snntorch.RLeaky(beta=0.9, all_to_all=false, learn_recurrent=false)",
    "snntorch.RLeaky(beta=0.9, linear_features=5, learn_recurrent=false)",
    "snntorch.RSynaptic(alpha=0.8, beta=0.9, linear_features=5)",
    'snntorch.RSynaptic(alpha=0.8, beta=0.9, all_to_all=false, reset_mechanism="zero")',
    "snntorch.RSynaptic(alpha=0.8, beta=0.9, linear_features=5, learn_recurrent=false)",
    'snntorch.RSynaptic(alpha=0.7, beta=0.9, all_to_all=false, V=0.5, reset_mechanism="none",'
    " learn_alpha=true)",
]
NORSE = [
    "norse.LIF",
    "norse.LIF(v_leak=-0.5, v_reset=-0.2, v_th=0.5, tau_mem_inv=50.0, dt=0.002)",
    'norse.LIF(method="triangle", alpha=0.3)',
    'norse.LIF(method="tanh", alpha=2.0)',
    'norse.LIF(method="circ", alpha=2.0)',
    'norse.LIF(method="heavi_erfc", alpha=2.0)',
    "norse.LIFBox",
    'norse.LIFBox(reset_method="reset_subtract", tau_mem_inv=200.0)',
    "norse.LSNN",
    "norse.LSNN(beta=0.5, tau_adapt_inv=10.0, v_reset=-0.1)",
    "norse.LIFAdEx",
    "norse.LIFAdEx(adaptation_current=2.0, delta_T=0.8, v_leak=0.1)",
    "norse.LI",
    "norse.LI(v_leak=0.5, tau_syn_inv=100.0)",
]


def _spec(call: str) -> str:
    return f"network P {{\n    input x: [6]\n    output y = x -> fc: Linear(5) -> sn: {call}\n}}\n"


def _check(call: str, backend: str):
    report = run_check(_spec(call), backend=backend, steps=10, batch=3)
    rows = [r for r in report.rows if "vs" in r.label and "single:" not in r.label]
    assert rows, report.render()
    assert report.ok, report.render()
    for r in rows:
        if r.label.split(": ", 1)[1].startswith(("output", "state")):
            assert r.verdict == "identical", report.render()
    return report


@pytest.mark.parametrize("backend", ["eager", "fused"])
@pytest.mark.parametrize("call", SNNTORCH)
def test_snntorch_neurons_match_snntorch(call, backend):
    _need("snntorch")
    report = _check(call, backend)
    assert ("snnTorch 1.0.0", "compared in its multi-step use and step by step (rows above)") in (
        report.peers
    )


@pytest.mark.parametrize("backend", ["eager", "fused"])
@pytest.mark.parametrize("call", NORSE)
def test_norse_neurons_match_norse(call, backend):
    _need("norse")
    report = _check(call, backend)
    assert ("Norse 1.1.0", "compared in its multi-step use and step by step (rows above)") in (
        report.peers
    )


@pytest.mark.parametrize("call", ["snntorch.Leaky(beta=0.9)", "norse.LSNN"])
def test_compile_backend_matches_the_peer(call):
    _need(call.split(".")[0])
    _check(call, "compile")


@pytest.mark.parametrize(
    "call",
    [
        'snntorch.RLeaky(beta=0.8, linear_features=5, reset_mechanism="zero")',
        'snntorch.RSynaptic(alpha=0.8, beta=0.9, linear_features=5, reset_mechanism="zero")',
    ],
)
@pytest.mark.parametrize("mode", ["multi", "single"])
def test_dense_zero_reset_matches_snntorch(call, mode):
    """Dense recurrence with reset to zero.  snnTorch's spike is float32 even in a float64
    module (its surrogate's forward is ``(x > 0).float()`` and a 0-dim factor does not
    promote it), so its float64 run, which `snndsl check` bounds rounding with, rounds
    every gradient through a spike to float32 and cannot serve as the reference.
    Compared directly instead: outputs and final states bit-identical, input and
    parameter gradients within 1e-6 relative (the issue's bound)."""
    _need("snntorch")
    from snndsl.oracle.peers import PeerNetwork

    spec = _spec(call)
    net = snndsl.resolve(spec)
    torch.manual_seed(0)
    module = snndsl.load(spec, mode=mode)()
    peer = PeerNetwork(net, step_mode="m" if mode == "multi" else "s")
    peer.load_state_dict(module.state_dict())
    with torch.no_grad():  # a recurrence strong enough to matter
        module.sn.recurrent.weight.mul_(3.0)
        peer.load_state_dict(module.state_dict())
    xs = torch.randn(10, 3, 6, generator=torch.Generator().manual_seed(1)) * 1.5
    x_ours, x_peer = xs.clone().requires_grad_(True), xs.clone().requires_grad_(True)
    if mode == "multi":
        ours, theirs = module(x_ours), peer(x_peer)
    else:
        ours = torch.stack([module(x) for x in x_ours])
        theirs = torch.stack([peer(x) for x in x_peer])
    assert torch.equal(ours, theirs) and 0 < float(ours.mean()) < 1
    weights = torch.linspace(-1, 1, ours.numel()).reshape(ours.shape)
    (ours * weights).sum().backward()
    (theirs * weights).sum().backward()
    pairs = [(x_ours.grad, x_peer.grad)]
    peer_params = dict(peer.named_parameters())  # snnTorch's keys are ours
    pairs += [(p.grad, peer_params[key].grad) for key, p in module.named_parameters()]
    for a, b in pairs:
        assert ((a - b).abs().max() / b.abs().max()).item() <= 1e-6


def test_every_library_neuron_is_tested():
    tested = {c.split("(")[0] for c in SNNTORCH + NORSE}
    assert tested == set(PEER_NEURONS)


@pytest.mark.parametrize(
    "call, make",
    [
        ("snntorch.Leaky(beta=0.9)", lambda s: s.Leaky(beta=0.9)),
        ("snntorch.Leaky(beta=0.9, learn_beta=true)", lambda s: s.Leaky(0.9, learn_beta=True)),
        ("snntorch.Synaptic(alpha=0.8, beta=0.9)", lambda s: s.Synaptic(0.8, 0.9)),
        ("snntorch.Alpha(alpha=0.9, beta=0.8)", lambda s: s.Alpha(0.9, 0.8)),
        ("snntorch.Lapicque(beta=0.9)", lambda s: s.Lapicque(beta=0.9)),
        # the recurrent nn.Linear: `param recurrent.weight[...]`, snnTorch's own keys
        (
            "snntorch.RLeaky(beta=0.9, linear_features=5)",
            lambda s: s.RLeaky(beta=0.9, linear_features=5),
        ),
        (
            "snntorch.RSynaptic(alpha=0.8, beta=0.9, linear_features=5)",
            lambda s: s.RSynaptic(alpha=0.8, beta=0.9, linear_features=5),
        ),
        (
            "snntorch.RLeaky(beta=0.9, all_to_all=false, learn_recurrent=false)",
            lambda s: s.RLeaky(beta=0.9, all_to_all=False, learn_recurrent=False),
        ),
    ],
)
def test_snntorch_checkpoints_load_strictly(call, make):
    _need("snntorch")
    import snntorch

    peer = make(snntorch)
    with torch.no_grad():  # a trained-looking checkpoint: every value moved
        for t in peer.state_dict().values():
            if t.is_floating_point():
                t.mul_(0.95)
    for mode in ("single", "multi"):
        module = snndsl.load(_spec(call), mode=mode)()
        module.sn.load_state_dict(peer.state_dict(), strict=True)
        for key, value in peer.state_dict().items():
            ours = module.sn.state_dict()[key]
            assert torch.equal(ours, value.to(ours.dtype)), key
        back = make(snntorch)
        back.load_state_dict(module.sn.state_dict(), strict=True)


def test_norse_heaviside_has_no_gradient_and_the_same_spikes():
    """Norse's method="heaviside" is torch.gt: no gradient at all (the check's backward
    cannot run on it); the forward pass is compared here, the gradient is zero."""
    _need("norse")
    import norse.torch as norse

    spec = 'network P {\n input x: [5]\n output y = x -> sn: norse.LIF(method="heaviside")\n}'
    xs = torch.rand(12, 2, 5, generator=torch.Generator().manual_seed(3)) * 40
    theirs, _ = norse.LIF(norse.LIFParameters(method="heaviside"))(xs)
    for mode in ("single", "multi"):
        module = snndsl.load(spec, mode=mode)()
        ours = module(xs) if mode == "multi" else torch.stack([module(x) for x in xs])
        assert torch.equal(ours, theirs) and float(ours.mean()) > 0


def test_peer_state_dict_drives_the_generated_module():
    """A loaded snnTorch checkpoint (beta, threshold moved) gives snnTorch's outputs."""
    _need("snntorch")
    import snntorch

    peer = snntorch.Leaky(beta=0.9, threshold=1.0)
    with torch.no_grad():
        peer.beta.fill_(0.7)
        peer.threshold.fill_(0.6)
    spec = "network P {\n input x: [5]\n output y = x -> sn: snntorch.Leaky(beta=0.9)\n}"
    module = snndsl.load(spec, mode="single")()
    module.sn.load_state_dict(peer.state_dict())
    xs = torch.rand(12, 2, 5, generator=torch.Generator().manual_seed(3))
    ours = torch.stack([module(x) for x in xs])
    theirs = torch.stack([peer(x)[0] for x in xs])
    assert torch.equal(ours, theirs) and 0 < float(ours.mean()) < 1


@pytest.mark.parametrize("cls", ["RLeaky", "RSynaptic"])
def test_snntorch_recurrent_checkpoint_drives_the_generated_module(cls):
    """A snnTorch RLeaky/RSynaptic state_dict (its recurrent.weight, recurrent.bias)
    loads with strict=True, as it is, and gives snnTorch's outputs."""
    _need("snntorch")
    import snntorch

    torch.manual_seed(0)
    args = {"alpha": 0.8} if cls == "RSynaptic" else {}
    peer = getattr(snntorch, cls)(beta=0.9, linear_features=5, **args)
    with torch.no_grad():
        peer.recurrent.weight.mul_(3.0)  # the recurrence matters
    assert {"recurrent.weight", "recurrent.bias"} <= set(peer.state_dict())
    alpha = "alpha=0.8, " if cls == "RSynaptic" else ""
    spec = (
        "network P {\n input x: [5]\n"
        f" output y = x -> sn: snntorch.{cls}({alpha}beta=0.9, linear_features=5)\n}}"
    )
    xs = torch.rand(12, 2, 5, generator=torch.Generator().manual_seed(3)) * 2
    with torch.no_grad():
        states = peer.init_rleaky() if cls == "RLeaky" else peer.init_rsynaptic()
        theirs = []
        for x in xs:  # RLeaky: (spk, mem) in and out; RSynaptic: (spk, syn, mem)
            states = peer(x, *states)
            theirs.append(states[0])
        theirs = torch.stack(theirs)
        for mode in ("single", "multi"):
            module = snndsl.load(spec, mode=mode)()
            module.sn.load_state_dict(peer.state_dict(), strict=True)
            ours = module(xs) if mode == "multi" else torch.stack([module(x) for x in xs])
            assert torch.equal(ours, theirs), mode
    assert 0 < float(theirs.mean()) < 1


def test_unknown_library_names_are_located_with_a_suggestion():
    with pytest.raises(SpecError) as err:
        snndsl.generate(_spec("snntorch.Leeky(beta=0.9)"))
    text = str(err.value)
    assert "3:42" in text and "unknown operation 'snntorch.Leeky'" in text
    assert "did you mean 'snntorch.Leaky'" in text
    with pytest.raises(SpecError) as err:
        snndsl.generate(_spec("snntroch.Leaky(beta=0.9)"))
    assert "did you mean 'snntorch.Leaky'" in str(err.value)
    with pytest.raises(SpecError) as err:
        snndsl.generate(_spec("snntorch.Leaky(beta=0.9, spike_grad=snntorch.Atan())"))
    assert "snntorch.Atan" in str(err.value)


def test_library_neurons_take_the_peers_arguments():
    src = snndsl.generate(_spec('snntorch.Leaky(0.9, 1.0, reset_mechanism="zero")'))
    assert "snntorch.Leaky(beta=0.9" in src
    with pytest.raises(SpecError) as err:
        snndsl.generate(_spec('snntorch.Leaky(beta=0.9, reset_mechanism="zeros")'))
    assert "reset_mechanism is" in str(err.value)
    with pytest.raises(SpecError) as err:
        snndsl.generate(_spec("snntorch.Lapicque(beta=0.9, R=1.0, C=2.0)"))
    assert "not three" in str(err.value)
    # automatic names use the last part: leaky_1
    src = snndsl.generate(
        "network P {\n input x: [3]\n output y = x -> snntorch.Leaky(beta=0.5)\n}"
    )
    assert "leaky_1" in src


def test_library_definitions_do_not_clash_with_builtins():
    """snntorch.Sigmoid and the built-in Sigmoid are different surrogates (classes
    _snntorch_Sigmoid and _Sigmoid) in one module."""
    spec = (
        "network P {\n input x: [3]\n a = x -> LIF\n"
        " b = x -> snntorch.Leaky(beta=0.5, spike_grad=snntorch.Sigmoid())\n"
        " output y = Add(a, b)\n}"
    )
    src = snndsl.generate(spec)
    assert "class _Sigmoid(" in src and "class _snntorch_Sigmoid_strict(" in src
