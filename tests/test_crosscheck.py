"""Cross-checks: both generated forms agree, and agree with SpikingJelly 2.0.0."""

from __future__ import annotations

import linecache

import pytest
import torch
from conftest import ROOT, SJ_ZOO, SPECS, require_spikingjelly, spec_id

import snndsl
from snndsl.oracle.crosscheck import run_single

SEED = str(ROOT / "specs" / "seed.snn")
CONV = str(ROOT / "specs" / "conv.snn")
# `snndsl check` options: the full-width VGG-11 check takes 6 s (up to 30 s on a busy
# 2-core machine), so it runs narrowed; every other spec at its defaults (the check
# calibrates the weights so that every neuron layer fires).
CHECK_OPTIONS = {"vgg11.snn": {"params": {"width": 16}}}
# Feedback through delay() has no generic SpikingJelly counterpart in `snndsl check`; these
# are compared with SpikingJelly's recurrent containers in tests/test_zoo.py.
RECURRENT = {"shd_rnn.snn"}


# specs/spikingjelly/ is compared with SpikingJelly's own model classes, checkpoints loaded
# as they are, in tests/test_sj_checkpoints.py; its ResNets are checked here too, its VGG
# (a 4096-wide classifier, slow to check twice) and MNISTNet only there.
CHECKED = [s for s in SPECS if s.parent != SJ_ZOO or "resnet" in s.stem]


@pytest.mark.parametrize("spec", CHECKED, ids=spec_id)
def test_every_spec_cross_checks(spec):
    require_spikingjelly()
    options = CHECK_OPTIONS.get(spec.name, {})
    report = snndsl.check(str(spec), **options)
    assert report.ok, report.render()
    assert not any(n.startswith("warning") for n in report.notes), report.render()
    labels = [r.label for r in report.rows]
    if "user-defined" in report.oracle:  # specs/custom.snn: nothing to compare against
        assert report.oracle.startswith("no counterpart: neuron 'ExpIF'")
    elif spec.name in RECURRENT:
        assert report.oracle.startswith("no counterpart: feedback through delay()")
    else:
        assert report.oracle.startswith("compared in its multi-step"), report.render()
        assert any(label.startswith("multi vs SpikingJelly: output") for label in labels)
    # every neuron layer fires in the calibrated band (or is reported)
    assert report.rates, report.render()
    for name, rate in report.rates:
        assert 0.0 < rate and (rate < 1.0 or name in report.analog), report.render()
    # outputs of the forms are identical, or equal to rounding (parallel neurons' window
    # sum vs T x T matrix; spikes flipped at the threshold), never a mismatch
    assert all(r.verdict in ("identical", "rounding", "spikes") for r in report.rows)


def _tutorial_pair():
    single = snndsl.load(SEED, mode="single")()
    multi = snndsl.load(SEED, mode="multi")()
    multi.load_state_dict(single.state_dict())
    return single, multi


def test_seed_matches_the_spikingjelly_tutorial_exactly():
    require_spikingjelly()
    from spikingjelly.activation_based import functional, layer, neuron

    torch.manual_seed(4)  # a weight draw under which the tutorial input reaches the output
    single, multi = _tutorial_pair()
    ref = torch.nn.Sequential(
        layer.Linear(8, 4), neuron.IFNode(), layer.Linear(4, 2), neuron.IFNode()
    )
    functional.set_step_mode(ref, "m")
    ref[0].load_state_dict(single.linear_1.state_dict())
    ref[2].load_state_dict(single.linear_2.state_dict())
    x_seq = torch.rand([4, 2, 8]) * 256.0
    y_multi = multi(x_seq)
    y_single = run_single(single, [x_seq])[0]
    y_ref = ref(x_seq)
    assert y_multi.sum() > 0, "the tutorial input must make the network spike"
    assert (y_multi - y_single).abs().max().item() == 0.0
    assert (y_multi - y_ref).abs().max().item() == 0.0
    assert torch.equal(multi._if_2_v, ref[3].v)


def test_conv_net_oracle_forward_and_gradients():
    require_spikingjelly()
    from snndsl.oracle.spikingjelly import OracleNetwork

    net = snndsl.resolve(CONV)
    torch.manual_seed(3)
    multi = snndsl.load(CONV, mode="multi")().eval()
    ref = OracleNetwork(net).eval()
    ref.load_state_dict(multi.state_dict())
    x = (torch.rand(6, 3, 1, 28, 28) * 4).requires_grad_(True)
    x_ref = x.detach().clone().requires_grad_(True)
    y, y_ref = multi(x), ref(x_ref)
    assert y.sum() > 0
    assert torch.equal(y, y_ref)
    y.sum().backward()
    y_ref.sum().backward()
    for (name, p), (_, q) in zip(multi.named_parameters(), ref.named_parameters()):
        scale = q.grad.abs().max().clamp_min(1e-12)
        assert ((p.grad - q.grad).abs().max() / scale).item() <= 1e-6, name
    assert ((x.grad - x_ref.grad).abs().max() / x_ref.grad.abs().max()).item() <= 1e-6


def test_state_dict_keys_identical_and_portable():
    single, multi = _tutorial_pair()
    assert list(single.state_dict()) == list(multi.state_dict())
    conv_s = snndsl.load(CONV, mode="single")()
    conv_m = snndsl.load(CONV, mode="multi")()
    assert list(conv_s.state_dict()) == list(conv_m.state_dict())
    conv_m.load_state_dict(conv_s.state_dict())  # strict


def test_state_kept_between_calls_and_reset():
    torch.manual_seed(0)
    single, multi = _tutorial_pair()
    x = torch.rand(6, 2, 8) * 8
    whole = multi(x)
    multi.reset()
    halves = torch.cat([multi(x[:3]), multi(x[3:])])
    assert torch.equal(whole, halves), "multi-step keeps state after the call"
    multi.reset()
    assert multi._if_1_v == 0.0 and multi._if_2_v == 0.0
    assert torch.equal(multi(x), whole)
    stepped = run_single(single, [x])[0]
    assert torch.equal(stepped, whole)


def test_state_rebuilt_after_reset_when_batch_size_changes():
    single, multi = _tutorial_pair()
    multi(torch.rand(3, 2, 8))
    with pytest.raises(ValueError, match="call reset"):  # (tests/test_runtime_checks.py)
        multi(torch.rand(3, 5, 8))
    multi.reset()
    y = multi(torch.rand(3, 5, 8))  # new batch size after reset(): state refilled
    assert y.shape == (3, 5, 2)
    assert multi._if_1_v.shape == (5, 4)
    single(torch.rand(2, 8))
    single.reset()
    assert single(torch.rand(7, 8)).shape == (7, 2)


def test_dropout_one_mask_per_sequence_in_training():
    spec = """
    network Drop {
        input x: [16]
        output y = x -> Linear(16) -> drop: Dropout(0.5) -> IF(v_threshold=0.5)
    }
    """
    single = snndsl.load(spec, mode="single")().train()
    multi = snndsl.load(spec, mode="multi")().train()
    multi.load_state_dict(single.state_dict())
    x = torch.rand(5, 3, 16) * 4
    torch.manual_seed(11)
    y_multi = multi(x)
    mask = multi._drop_mask
    torch.manual_seed(11)
    y_single = run_single(single, [x])[0]
    assert torch.equal(mask, single._drop_mask), "the same draw from the same RNG state"
    assert torch.equal(y_multi, y_single)
    assert ((mask == 0) | (mask == 2.0)).all() and (mask == 0).any()
    single.reset()
    assert single._drop_mask is None
    single.eval()
    single(x[0])
    assert single._drop_mask is None, "dropout is the identity in eval mode"


def test_dropout_matches_spikingjelly_in_training():
    require_spikingjelly()
    from snndsl.oracle.spikingjelly import OracleNetwork

    spec = """
    network Drop {
        input x: [16]
        output y = x -> Linear(16) -> drop: Dropout(0.3) -> LIF
    }
    """
    multi = snndsl.load(spec, mode="multi")().train()
    ref = OracleNetwork(snndsl.resolve(spec)).train()
    ref.load_state_dict(multi.state_dict())
    x = torch.rand(4, 3, 16) * 4
    torch.manual_seed(5)
    y = multi(x)
    torch.manual_seed(5)
    y_ref = ref(x)
    assert torch.equal(y, y_ref)


def test_gradients_equal_between_forms():
    torch.manual_seed(0)
    single, multi = _tutorial_pair()
    x = torch.rand(5, 2, 8) * 8
    multi(x).sum().backward()
    run_single(single, [x])[0].sum().backward()
    for (name, p), (_, q) in zip(multi.named_parameters(), single.named_parameters()):
        assert p.grad is not None and p.grad.abs().sum() > 0, name
        assert torch.allclose(p.grad, q.grad, rtol=1e-6, atol=1e-7), name


def test_tracebacks_show_generated_lines():
    cls = snndsl.load(SEED, mode="multi")
    filename = cls.forward.__code__.co_filename
    assert filename.startswith("<snndsl:")
    lines = linecache.getlines(filename)
    assert "".join(lines) == cls.__snndsl_source__
    with pytest.raises(ValueError) as info:
        cls()(torch.rand(2, 2, 9))  # wrong feature count: forward()'s own check
    frames = [f for f in info.traceback if str(f.path) == filename]
    assert frames, "the generated forward appears in the traceback"


def test_each_load_is_a_distinct_module():
    a = snndsl.load(SEED, mode="multi")
    b = snndsl.load(SEED, mode="multi")
    assert a is not b and a.__module__ != b.__module__
