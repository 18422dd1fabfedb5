"""The fused multi-step backend: derived backward passes against autograd and SpikingJelly.

Every neuron of the prelude, every surrogate (spiking, and spiking=false, whose primitive
is differentiated symbolically), every reset option, and a user-defined neuron: the fused
form's forward must be bit-identical to the eager form's, and its input and parameter
gradients equal to autograd's over the same equations within 1e-6 relative (learnable
neuron scalars within 1e-4, see SCALAR_TOLERANCE).  Modules run in eval mode: dropout masks
would otherwise be drawn from different random states.
"""

from __future__ import annotations

import pytest
import torch
from conftest import ROOT, require_spikingjelly
from test_oracle_matrix import NEURONS, SURROGATES, _branches, _inputs, _spec

import snndsl
from snndsl import ir
from snndsl.backends.torch.printer import PythonPrinter
from snndsl.ir import autodiff
from snndsl.names import Namespace
from snndsl.semantics.functions import FUNCTIONS

TOLERANCE = 1e-6
# A learnable neuron scalar (ParametricLIF's w, KLIF's k) gets the sum of its adjoint over
# every element and step: the fused backward sums each step, then the steps; autograd sums
# the broadcast gradient its own way.  Each term agrees to float32 rounding; the different
# summation order of thousands of terms with cancellation moved KLIF's k by up to 1.1e-5
# (the same effect test_oracle_matrix.py measures against SpikingJelly, bounded there too).
SCALAR_TOLERANCE = 1e-4


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def _compare(spec: str, steps: int = 4, seed: int = 0, inputs=None):
    torch.manual_seed(seed)
    eager = snndsl.load(spec, mode="multi")().eval()
    fused = snndsl.load(spec, mode="multi", backend="fused")().eval()
    fused.load_state_dict(eager.state_dict())
    net = snndsl.resolve(spec)
    if inputs is None:
        inputs = [torch.randn(steps, 2, *i.shape) * 1.5 for i in net.inputs]
    xe = [x.clone().requires_grad_(True) for x in inputs]
    xf = [x.clone().requires_grad_(True) for x in inputs]
    ye, yf = eager(*xe), fused(*xf)
    ye = ye if isinstance(ye, tuple) else (ye,)
    yf = yf if isinstance(yf, tuple) else (yf,)
    for a, b in zip(ye, yf):
        assert torch.equal(a, b)
    weights = [torch.linspace(-1, 1, y.numel()).reshape(y.shape) for y in ye]
    sum((y * w).sum() for y, w in zip(ye, weights)).backward()
    sum((y * w).sum() for y, w in zip(yf, weights)).backward()
    for a, b in zip(xf, xe):
        if b.grad.abs().max() > 0:
            assert _rel(a.grad, b.grad) <= TOLERANCE
    eager_params = dict(eager.named_parameters())
    for name, p in fused.named_parameters():
        q = eager_params[name].grad
        if q is not None and q.abs().max() > 0:
            limit = SCALAR_TOLERANCE if p.dim() == 0 else TOLERANCE
            assert _rel(p.grad, q) <= limit, name
    return eager, fused


@pytest.mark.parametrize("neuron", list(NEURONS))
@pytest.mark.parametrize("surrogate", ["Sigmoid()", "ATan(alpha=3.0)", "Erf(spiking=false)"])
def test_fused_neurons_match_autograd(neuron, surrogate):
    spec = _spec(neuron, surrogate)
    _, fused = _compare(spec, inputs=_inputs(len(_branches(neuron)), 4))
    assert "Loop_sn0.apply(" in type(fused).__snndsl_source__


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_fused_surrogates_match_autograd(surrogate):
    _compare(_spec("LIF", surrogate), inputs=_inputs(len(_branches("LIF")), 4))


def test_user_neuron_and_layers_match_autograd():
    _compare(str(ROOT / "specs" / "custom.snn"), steps=8)
    _compare(str(ROOT / "specs" / "conv.snn"), steps=3)


def test_fused_matches_spikingjelly():
    require_spikingjelly()
    for spec in ("conv.snn", "seed.snn"):
        report = snndsl.check(str(ROOT / "specs" / spec), backend="fused")
        assert report.ok, report.render()


def test_state_carries_over_calls_and_through_backward():
    spec = "network S {\n input x: [3]\n output y = x -> sn: LIF(tau=3.0)\n}\n"
    eager, fused = _compare(spec, steps=2)
    x = torch.randn(5, 2, 3) * 2
    xe, xf = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    for m, xx in ((eager, xe), (fused, xf)):
        m.reset()
        first = m(xx[:2])
        second = m(xx[2:])  # the state after the first call feeds the second
        (torch.cat((first, second)) * torch.arange(10.0).reshape(5, 2, 1)).sum().backward()
    assert _rel(xf.grad, xe.grad) <= TOLERANCE
    assert xf.grad[:2].abs().max() > 0


def test_recording_neurons_stay_eager():
    spec = "network R {\n input x: [3]\n output y = x -> sn: LIF(store_v_seq=true)\n}\n"
    source = snndsl.generate(spec, mode="multi", backend="fused")
    assert "Loop_sn" not in source and "_spikes.append(" in source


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_derivative(name):
    """d/dx of each tensor function, printed and run, against torch.autograd."""
    fn = FUNCTIONS[name]
    x = ir.Local("_x")
    if name == "where":
        expr = ir.Func(name, (ir.Compare(">", x, ir.Const(0.2)), ir.BinOp("*", x, x), x))
    elif fn.arity == 1:
        expr = ir.Func(name, (x,))
    elif name == "clamp":
        expr = ir.Func(name, (x, ir.Const(-0.5), ir.Const(0.7)))
    else:
        expr = ir.Func(name, (x, ir.Const(0.3)))
    step = (ir.Assignment("_y", expr),)
    back = autodiff.derive(step, "_x", (), (), "_y", Namespace({"_x", "_y"}))
    env = {"torch": torch}
    value = torch.linspace(0.1, 1.9, 7) if name in ("log", "sqrt") else torch.linspace(-2, 2, 9)
    env["_x"] = value
    env["grad_output"] = torch.linspace(0.5, 1.5, value.numel())
    for a in (*back.recompute, *back.adjoint):
        env[a.target] = eval(PythonPrinter().print(a.value), env)  # noqa: S307 - our own printed IR
    xr = value.clone().requires_grad_(True)
    y = eval(PythonPrinter().print(expr), {**env, "_x": xr})  # noqa: S307
    if name == "detach":  # no gradient flows through it
        assert back.grad_x is None and not y.requires_grad
        return
    y.backward(env["grad_output"])
    got = env[back.grad_x] if back.grad_x else torch.zeros_like(value)
    assert torch.allclose(got, xr.grad, rtol=1e-6, atol=1e-7), (name, got, xr.grad)
