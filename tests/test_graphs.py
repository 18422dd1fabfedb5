"""Graphs: merges (Add, Mul, Cat, SEW), feedback through delay(), evaluation order, loops.

Recurrent specs are compared with SpikingJelly's own recurrent containers built by hand
(ElementWiseRecurrentContainer, LinearRecurrentContainer), SEW merges with its
sew_function; both generated forms must agree exactly.
"""

from __future__ import annotations

import pytest
import torch
from conftest import require_spikingjelly

import snndsl
from snndsl.oracle.crosscheck import run_check
from snndsl.syntax.formatter import format_module
from snndsl.syntax.parser import parse_text
from snndsl.syntax.yaml_io import dump_yaml, load_yaml

ELEMENTWISE = """
network ElementWise {
    input x: [5]
    a = x -> fc: Linear(5)
    output h = Add(delay(h), a) -> sn: LIF(tau=2.0, surrogate=ATan())
}
"""

LINEAR = """
network LinearRecurrent(features = 4) {
    input x: [features]
    output h = Cat(x, delay(h, shape=[features]), dim=0) -> rc: Linear(features)
        -> sn: IF(v_threshold=0.5)
}
"""

RING = """
# A loop through two named statements, a value read in the same step (a) and one read
# only through a delay outside the loop (late).
network Ring {
    input x: [3]
    a = x -> fc_in: Linear(4)
    r = delay(h, shape=[4]) -> fc_rec: Linear(4, bias=false)
    h = Add(a, r) -> sn: LIF(tau=3.0, v_reset=none)
    late = delay(h)
    output y = Cat(h, late, dim=-1) -> fc_out: Linear(2)
    output s = SEW(h, late, "IAND")
}
"""


def _pair(spec: str):
    torch.manual_seed(0)
    multi = snndsl.load(spec, mode="multi")()
    single = snndsl.load(spec, mode="single")()
    single.load_state_dict(multi.state_dict())
    return multi, single


@pytest.mark.parametrize("spec", [ELEMENTWISE, LINEAR, RING], ids=["elementwise", "linear", "ring"])
def test_forms_agree_and_state_carries_over_calls(spec):
    report = run_check(spec, against="none")
    assert report.ok, report.render()
    multi, single = _pair(spec)
    net = snndsl.resolve(spec)
    x = torch.randn(6, 3, *net.inputs[0].shape) * 3
    first = multi(x[:3])
    second = multi(x[3:])  # fed-back values and neuron states carry over between calls
    steps = [single(x[t]) for t in range(6)]
    ys_multi = [torch.cat((a, b)) for a, b in zip(_tuple(first), _tuple(second))]
    ys_single = [torch.stack(s) for s in zip(*[_tuple(y) for y in steps])]
    for a, b in zip(ys_multi, ys_single):
        assert torch.equal(a, b)
    assert any(y.abs().sum() > 0 for y in ys_multi)
    multi.reset()
    assert all(torch.equal(a, b) for a, b in zip(_tuple(multi(x[:3])), _tuple(first)))


def _tuple(y):
    return y if isinstance(y, tuple) else (y,)


def test_elementwise_loop_matches_spikingjelly_container():
    require_spikingjelly()
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    multi, _ = _pair(ELEMENTWISE)
    fc = torch.nn.Linear(5, 5)
    fc.load_state_dict(multi.fc.state_dict())
    lif = neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan())
    rec = layer.ElementWiseRecurrentContainer(lif, lambda y, x: y + x)
    x = torch.randn(7, 4, 5) * 2
    xm, xr = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ym = multi(xm)
    yr = torch.stack([rec(fc(xr[t])) for t in range(7)])
    assert torch.equal(ym, yr)
    assert 0 < ym.mean() < 1
    w = torch.linspace(-1, 1, ym.numel()).reshape(ym.shape)
    (ym * w).sum().backward()
    (yr * w).sum().backward()
    assert ((xm.grad - xr.grad).abs().max() / xr.grad.abs().max()).item() <= 1e-6
    assert torch.allclose(multi.fc.weight.grad, fc.weight.grad, rtol=1e-5, atol=1e-7)
    functional.reset_net(rec)


def test_linear_recurrent_matches_spikingjelly_container():
    require_spikingjelly()
    from spikingjelly.activation_based import layer, neuron

    multi, single = _pair(LINEAR)
    sub = neuron.IFNode(v_threshold=0.5)
    rec = layer.LinearRecurrentContainer(sub, in_features=4, out_features=4)
    rec.rc.load_state_dict(multi.rc.state_dict())
    x = torch.randn(6, 3, 4) * 2
    ym = multi(x)
    yr = torch.stack([rec(x[t]) for t in range(6)])
    assert torch.equal(ym, yr)
    assert 0 < ym.mean() < 1


def test_sew_merges_match_spikingjelly_sew_function():
    require_spikingjelly()
    for cnf in ("ADD", "AND", "IAND"):
        spec = f"""
network Sew {{
    input x: [6]
    a = x -> sn1: IF
    b = x -> fc: Linear(6) -> sn2: IF
    output y = SEW(a, b, "{cnf}")
}}
"""
        report = snndsl.check(spec)
        assert report.ok, report.render()
        assert report.oracle.startswith("compared in its multi-step")


def test_loops_in_the_ir_and_generated_code():
    net = snndsl.resolve(RING)
    # the delay feeding fc_rec, fc_rec, the merge and the neuron: one loop, in order
    assert net.loops == (("delay_1", "r", "add_1", "h"),)
    source = snndsl.generate(RING, mode="multi")
    assert "for _t in range(x.shape[0]):" in source
    assert source.count("for _t in range") == 1  # one fused loop; fc_in and fc_out folded
    assert "self.fc_in(x.flatten(0, 1))" in source
    assert "_delayed_seq(" in source  # `late` is not on the loop: shifted at once


def test_statements_may_come_in_any_order():
    spec = """
network Order {
    output y = b -> fc2: Linear(2)
    b = a -> sn: IF
    a = x -> fc1: Linear(3)
    input x: [4]
}
"""
    net = snndsl.resolve(spec)
    assert [n.value for n in net.nodes] == ["a", "b", "y"]


def test_graph_syntax_round_trips_through_fmt_and_yaml():
    module = parse_text(RING, "ring.snn")
    text = format_module(module)
    assert parse_text(text, "x") == module
    assert load_yaml(dump_yaml(module)) == module
    assert "r = delay(h, shape=[4]) -> fc_rec: Linear(4, bias=false)" in text


def _error(spec: str):
    with pytest.raises(snndsl.SpecError) as info:
        snndsl.resolve(spec)
    return info.value.diagnostics[0]


def test_cycle_without_delay_is_located():
    d = _error(
        "network C {\n input x: [2]\n a = Add(x, b)\n b = a -> fc: Linear(2)\n output y = b\n}\n"
    )
    assert d.code == "E0107"
    assert "depends on itself with no delay" in d.message
    assert (d.span.line, d.span.column) == (3, 13)
    assert d.hint == "feed a value back through delay(b): its value one step earlier"


def test_merge_shape_mismatch_is_located():
    d = _error("network M {\n input x: [2]\n a = x -> fc: Linear(3)\n output y = Add(x, a)\n}\n")
    assert d.code == "E0301" and "Add needs equal shapes, got [2] (x), [3] (a)" in d.message
    assert (d.span.line, d.span.column) == (4, 13)


def test_delay_shape_must_be_known_or_declared():
    d = _error(
        "network D {\n input x: [2]\n r = delay(h) -> fc: Linear(2)\n"
        " output h = Add(x, r) -> IF\n}\n"
    )
    assert d.code == "E0301" and "cannot tell the shape of delay(h)" in d.message
    assert d.hint == "give it: delay(h, shape=[...])"
    d = _error(
        "network D {\n input x: [2]\n r = delay(h, shape=[3]) -> fc: Linear(2)\n"
        " output h = Add(x, r) -> IF\n}\n"
    )
    assert d.code == "E0301" and "declared [3]" not in d.message
    assert "taken as [3] here, but 'h' is [2]" in d.message


def test_output_not_computed_from_an_input():
    d = _error(
        "network O {\n input x: [2]\n output y = delay(y, shape=[2]) -> IF\n output z = x\n}\n"
    )
    assert d.code == "E0108" and "'y' is not computed from any input" in d.message


def test_unused_values_warn_but_generate():
    net = snndsl.resolve(
        "network U {\n input x: [2]\n spare = x -> fc: Linear(3)\n output y = x -> IF\n}\n"
    )
    (w,) = net.warnings
    assert w.code == "W0101" and w.severity == "warning"
    assert "'spare' is computed but no output uses it" in w.message
    assert w.render().startswith("<spec>:3:2: warning[W0101]")


def test_merge_arguments_must_be_names():
    d = _error("network A {\n input x: [2]\n output y = Add(x, 1.0)\n}\n")
    assert d.code == "E0204" and "merge arguments are names or delay(name)" in d.message
    d = _error("network A {\n input x: [2]\n output y = Linear(4)\n}\n")
    assert d.code == "E0201" and d.hint == "start the chain with its input: x -> Linear(...)"
