"""Every SpikingJelly 2.0.0 surrogate, in both spiking modes, against SpikingJelly itself.

For each surrogate at its default and at non-default parameters, with spiking=true and
(where SpikingJelly has a primitive) spiking=false, inside IF and a soft-reset LIF, in
both generated forms: outputs and membrane potentials bit-identical, input gradients
within 1e-6 relative.
"""

from __future__ import annotations

import pytest
import torch
from conftest import require_spikingjelly

import snndsl
from snndsl.oracle.spikingjelly import OracleNetwork

NON_DEFAULT = {
    "Sigmoid": "alpha=2.5",
    "ATan": "alpha=0.7",
    "PiecewiseQuadratic": "alpha=1.5",
    "PiecewiseExp": "alpha=2.0",
    "SoftSign": "alpha=3.0",
    "Erf": "alpha=1.2",
    "NonzeroSignLogAbs": "alpha=2.0",
    "PiecewiseLeakyReLU": "w=0.5, c=0.1",
    "SquarewaveFourierSeries": "n=4, T_period=6.0",
    "S2NN": "alpha=3.0, beta=0.5",
    "QPseudoSpike": "alpha=3.0",
    "LeakyKReLU": "leak=0.1, k=2.0",
    "FakeNumericalGradient": "alpha=0.5",
    "LogTailedReLU": "alpha=0.1",
    "SuperSpike": "alpha=2.0",
    "Rect": "alpha=0.8",
}
NO_PRIMITIVE = {"FakeNumericalGradient", "SuperSpike"}  # as in SpikingJelly


def _cases():
    for name, args in NON_DEFAULT.items():
        for params in ("", args):
            for spiking in (True, False):
                if not spiking and name in NO_PRIMITIVE:
                    continue
                inner = ", ".join(p for p in (params, "" if spiking else "spiking=false") if p)
                for neuron in ("IF(surrogate={})", "LIF(v_reset=none, surrogate={})"):
                    yield neuron.format(f"{name}({inner})")


@pytest.mark.parametrize("call", list(_cases()))
def test_surrogate_matches_spikingjelly(call):
    require_spikingjelly()
    spec = f"network N {{ input x: [6]\n output y = x -> sn: {call} }}"
    net = snndsl.resolve(spec)
    ref = OracleNetwork(net)
    torch.manual_seed(0)
    x = torch.randn(5, 3, 6) * 1.5
    x[0, 0, :2] = torch.tensor([1.0, -1.0])  # exactly at threshold
    weights = torch.linspace(-1, 1, x.numel() // 6 * 6).reshape(x.shape)
    xr = x.clone().requires_grad_(True)
    yr = ref(xr)
    (yr * weights).sum().backward()
    for mode in ("multi", "single"):
        model = snndsl.load(spec, mode=mode)()
        xm = x.clone().requires_grad_(True)
        ym = model(xm) if mode == "multi" else torch.stack([model(step) for step in xm])
        assert torch.equal(ym, yr), mode
        assert torch.equal(model._sn_v, ref.sn.v), mode
        (ym * weights).sum().backward()
        assert not torch.isnan(xm.grad).any()
        scale = xr.grad.abs().max().clamp_min(1e-12)
        assert ((xm.grad - xr.grad).abs().max() / scale).item() <= 1e-6, mode


@pytest.mark.parametrize("name", sorted(NO_PRIMITIVE))
def test_spiking_false_needs_a_primitive(name):
    with pytest.raises(snndsl.SpecError) as info:
        snndsl.resolve(
            f"network N {{ input x: [2]\n output y = x -> IF(surrogate={name}(spiking=false)) }}"
        )
    (d,) = info.value.diagnostics
    assert d.code == "E0207" and "no primitive" in d.message
    assert d.span.line == 2


def test_int_parameters_give_one_class_per_value():
    spec = """
    network N { input x: [2]
        a = x -> IF(surrogate=SquarewaveFourierSeries(n=3))
        output y = a -> IF(surrogate=SquarewaveFourierSeries(n=5, T_period=4.0))
    }
    """
    src = snndsl.generate(spec, mode="single")
    assert "class _SquarewaveFourierSeries_n3(" in src
    assert "class _SquarewaveFourierSeries_n5(" in src
    assert "_SquarewaveFourierSeries_n5.spike(_h - 1.0, 4.0)" in src


def test_float_parameters_are_runtime_arguments_of_one_class():
    spec = """
    network N { input x: [2]
        a = x -> IF(surrogate=ATan(alpha=1.0))
        output y = a -> IF(surrogate=ATan(alpha=3.0))
    }
    """
    src = snndsl.generate(spec, mode="single")
    assert src.count("class _ATan(") == 1
    assert "_ATan.spike(_h - 1.0, 1.0)" in src and "_ATan.spike(_h - 1.0, 3.0)" in src


def test_spiking_false_emits_the_primitive_inline():
    src = snndsl.generate(
        "network N { input x: [2]\n output y = x -> IF(surrogate=Sigmoid(alpha=2.0, spiking=false)) }",
        mode="single",
    )
    assert "class _Sigmoid" not in src
    assert "_u = _h - 1.0" in src and "_spike = torch.sigmoid(_u * 2.0)" in src
