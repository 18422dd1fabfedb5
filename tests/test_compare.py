"""The form comparison judges by principle: rounding passes, faults fail.

Unit tests of :mod:`snndsl.oracle.compare`, then whole checks: correct networks PASS at
batch 1, odd T, other seeds and input scales (the cases a fixed tolerance FAILed), and
each injected fault FAILs: a constant off by 1e-4 relative, a reset swapped, a time step
skipped, a gradient scaled by 1 + 1e-4.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from conftest import ROOT

import snndsl
from snndsl import ir
from snndsl.backends import render
from snndsl.loader import import_source
from snndsl.oracle.compare import compare
from snndsl.oracle.crosscheck import CheckReport, check_modules, run_check

SPEC = """
network Net {
    input x: [12]
    h = x -> fc1: Linear(16) -> sn1: LIF(tau=2.0)
    output y = h -> fc2: Linear(5) -> sn2: LIF(tau=2.0)
}
"""


def _sums(n: int, seed: int):
    """The same sum added in two orders, in float32 and float64."""
    x = torch.rand(n, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    forward = x.sum(0, keepdim=True)
    backward = x.flip(0).cumsum(0)[-1:]
    x64 = x.double()
    return forward, backward, x64.sum(0, keepdim=True), x64.flip(0).cumsum(0)[-1:]


def test_identical_tensors():
    a = torch.rand(10)
    assert compare("t", a, a.clone(), a.double(), a.double()).verdict == "identical"


def test_a_different_reduction_order_is_rounding():
    for seed in range(20):
        a32, b32, a64, b64 = _sums(10_000, seed)
        row = compare("t", a32, b32, a64, b64)
        assert row.ok, row.describe()
        if row.verdict == "rounding":
            assert row.difference <= row.bound


def test_a_relative_fault_of_1e_4_fails():
    a32, b32, a64, b64 = _sums(10_000, 0)
    row = compare("t", a32, b32 * 1.0001, a64, b64 * 1.0001)
    assert row.verdict == "MISMATCH", row.describe()


def test_spike_flips_are_counted_when_float64_agrees():
    a = torch.tensor([0.0, 1.0, 1.0, 0.0])
    b = torch.tensor([0.0, 1.0, 0.0, 0.0])  # one spike flipped in float32
    row = compare("s", a, b, a.double(), a.double())
    assert row.verdict == "spikes" and row.flips == 1 and row.elements == 4
    assert "1 of 4 spikes" in row.describe()
    wrong = compare("s", a, b, a.double(), b.double())  # float64 disagrees too: a fault
    assert wrong.verdict == "MISMATCH"


def test_a_gradient_one_run_lacks_fails_with_the_reason():
    from snndsl.oracle.compare import compare_runs

    rows = compare_runs("", {"g": None}, {"g": torch.ones(2)}, lambda: ({}, {}))
    assert rows[0].verdict == "MISMATCH"
    assert rows[0].describe() == "MISMATCH: no gradient in the first run"
    rows = compare_runs("", {"g": None}, {"g": torch.zeros(2)}, lambda: ({}, {}))
    assert rows[0].verdict == "identical"


def test_a_shape_difference_fails():
    a, b = torch.zeros(3), torch.zeros(4)
    assert compare("t", a, b, a.double(), b.double()).verdict == "MISMATCH"


# --------------------------------------------------------------------------- whole checks


@pytest.mark.parametrize(
    "options",
    [
        {"batch": 1},
        {"batch": 1, "steps": 3},
        {"batch": 2, "seed": 3},
        {"batch": 5, "steps": 7, "seed": 11, "scale": 0.5},
        {"batch": 3, "seed": 2, "scale": 40.0},
    ],
)
@pytest.mark.parametrize("spec", ["seed.snn", "conv.snn", "custom.snn", "shd_rnn.snn"])
def test_correct_networks_pass_at_any_batch_t_seed_and_scale(spec, options):
    if spec == "custom.snn":  # its PSN runs exactly 8 steps
        options = {k: v for k, v in options.items() if k != "steps"}
    report = run_check(str(ROOT / "specs" / spec), against="none", **options)
    assert report.ok, report.render()
    assert any(r.verdict == "identical" for r in report.rows)


def _classes(text: str, single_text: str | None = None, mutate=None):
    """The generated forms of ``text``; the single-step form from ``single_text`` or
    from the IR changed by ``mutate``, when given (the fault)."""
    net = snndsl.resolve(text)
    multi = import_source(render(net, "multi"), net.name, "multi")
    faulty = snndsl.resolve(single_text) if single_text else net
    if mutate is not None:
        faulty = mutate(faulty)
    single = import_source(render(faulty, "single"), net.name, "single")
    return net, multi, single


def _check(net, multi, single, steps: int = 8, batch: int = 2) -> CheckReport:
    report = CheckReport(net.name, steps, batch, seed=1)
    return check_modules(report, net, multi, single, against="none")


def _scale_constants(e: ir.PyExpr, factor: float) -> ir.PyExpr:
    if isinstance(e, ir.Const) and isinstance(e.value, float) and e.value not in (0.0, 1.0):
        return ir.Const(e.value * factor)
    return ir.map_children(e, lambda c: _scale_constants(c, factor))


def test_the_unfaulted_forms_pass():
    report = _check(*_classes(SPEC))
    assert report.ok, report.render()
    assert all(rate > 0 for _, rate in report.rates), report.render()


def test_a_constant_changed_by_1e_4_relative_fails():
    def mutate(net: ir.NetworkIR) -> ir.NetworkIR:
        nodes = []
        for n in net.nodes:
            if isinstance(n, ir.NeuronIR):
                step = tuple(replace(a, value=_scale_constants(a.value, 1.0001)) for a in n.step)
                n = replace(n, step=step)
            nodes.append(n)
        return replace(net, nodes=tuple(nodes))

    net, multi, single = _classes(SPEC, mutate=mutate)
    report = _check(net, multi, single)
    assert not report.ok, report.render()


def test_a_swapped_reset_fails():
    soft = SPEC.replace("LIF(tau=2.0)", "LIF(tau=2.0, v_reset=none)")
    report = _check(*_classes(SPEC, single_text=soft))
    assert not report.ok, report.render()


def test_a_skipped_time_step_fails():
    net, multi, single = _classes(SPEC)

    class Skipping(multi):
        def forward(self, x):  # step 3 dropped, the last step repeated
            return super().forward(torch.cat([x[:3], x[4:], x[-1:]]))

    report = _check(net, Skipping, single)
    assert not report.ok, report.render()


def test_a_gradient_scaled_by_1e_4_fails():
    net, multi, single = _classes(SPEC)

    class Scaled(multi):
        def forward(self, x):
            y = super().forward(x)
            if y.requires_grad:
                y.register_hook(lambda g: g * 1.0001)
            return y

    report = _check(net, Scaled, single)
    assert not report.ok, report.render()
    failed = [r.label for r in report.rows if not r.ok]
    assert all("grad" in label or "input" in label for label in failed), failed
