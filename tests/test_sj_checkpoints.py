"""SpikingJelly model-zoo checkpoints load as they are: each spec of specs/spikingjelly/
against the SpikingJelly 2.0.0 model class it writes out, built with the call its comment
gives.  The model's own ``state_dict()`` (with every tensor redrawn, as a trained
checkpoint would have it) loads with ``strict=True`` into both generated forms without
renaming, and the outputs are bit-identical (the same operations in the same order):
single-step against SpikingJelly's step mode 's' over T calls, multi-step against mode
'm'.  SpikingJelly's model package imports torchvision at the top (it is used only for
pretrained downloads), so torchvision is stubbed while the four model files are loaded.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch
from conftest import ROOT, require_spikingjelly

import snndsl
from snndsl.oracle.calibrate import calibrate_weights
from snndsl.oracle.crosscheck import run_single

SJ = ROOT / "specs" / "spikingjelly"
STEPS, BATCH = 3, 2


@pytest.fixture(scope="module")
def sj():
    """SpikingJelly's functional, neuron, surrogate and the four model modules."""
    require_spikingjelly()
    import spikingjelly.activation_based as ab
    from spikingjelly.activation_based import functional, neuron, surrogate

    folder = Path(ab.__file__).parent / "model"
    models = types.SimpleNamespace(functional=functional, neuron=neuron, surrogate=surrogate)
    with pytest.MonkeyPatch.context() as mp:
        for name in ("", ".models", ".models.utils", "._internally_replaced_utils"):
            stub = types.ModuleType("torchvision" + name)
            stub.load_state_dict_from_url = None  # only pretrained=True calls it
            mp.setitem(sys.modules, "torchvision" + name, stub)
        for stem in ("parametric_lif_net", "spiking_vgg", "spiking_resnet", "sew_resnet"):
            name = f"spikingjelly.activation_based.model.{stem}"
            spec = importlib.util.spec_from_file_location(name, folder / f"{stem}.py")
            module = importlib.util.module_from_spec(spec)
            mp.setitem(sys.modules, name, module)
            spec.loader.exec_module(module)
            setattr(models, stem, module)
    return models


# spec, its parameters, and the SpikingJelly call with the same values (the spec's
# comment), at small sizes
def _mnist(sj):
    kw = dict(surrogate_function=sj.surrogate.ATan(), detach_reset=True)
    return sj.parametric_lif_net.MNISTNet(8, spiking_neuron=sj.neuron.ParametricLIFNode, **kw)


def _vgg(sj):
    kw = dict(surrogate_function=sj.surrogate.ATan(), detach_reset=True)
    return sj.spiking_vgg.spiking_vgg11_bn(spiking_neuron=sj.neuron.LIFNode, num_classes=10, **kw)


def _resnet(sj):
    kw = dict(surrogate_function=sj.surrogate.ATan(), detach_reset=True)
    return sj.spiking_resnet.spiking_resnet18(spiking_neuron=sj.neuron.IFNode, num_classes=10, **kw)


def _sew(cnf):
    def build(sj):
        kw = dict(surrogate_function=sj.surrogate.ATan(), detach_reset=True)
        return sj.sew_resnet.sew_resnet18(
            cnf=cnf, spiking_neuron=sj.neuron.IFNode, num_classes=10, **kw
        )

    return build


SMALL = {"classes": 10, "size": 32}
CASES = {
    "plif_mnist": ("plif_mnist.snn", {"channels": 8, "classes": 10, "size": 28}, _mnist, 1),
    "spiking_vgg11_bn": ("spiking_vgg11_bn.snn", SMALL, _vgg, 3),
    "spiking_resnet18": ("spiking_resnet18.snn", SMALL, _resnet, 3),
    "sew_resnet18-ADD": ("sew_resnet18.snn", {**SMALL, "cnf": "ADD"}, _sew("ADD"), 3),
    "sew_resnet18-IAND": ("sew_resnet18.snn", {**SMALL, "cnf": "IAND"}, _sew("IAND"), 3),
}
# Dropout draws a mask in training, differently from SpikingJelly's: those two compare in
# eval mode only; the ResNets in training too (BatchNorm on batch statistics).
TRAINS = {"spiking_resnet18", "sew_resnet18-ADD", "sew_resnet18-IAND"}


def _checkpoint(model: torch.nn.Module, seed: int) -> None:
    """Redraw every tensor of ``model`` as a trained checkpoint might hold it (no
    BatchNorm at its initial identity, ParametricLIF's ``w`` not at its initial value),
    so that no key is left at a value both sides start from."""
    gen = torch.Generator().manual_seed(seed)

    def draw(t: torch.Tensor, low: float, high: float) -> None:
        t.copy_(low + (high - low) * torch.rand(t.shape, generator=gen))

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                draw(m.weight, 0.5, 1.5)
                draw(m.bias, -0.5, 0.5)
                draw(m.running_mean, -0.5, 0.5)
                draw(m.running_var, 0.5, 1.5)
            elif isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                bound = (3.0 / m.weight[0].numel()) ** 0.5  # unit gain for unit inputs
                draw(m.weight, -2 * bound, 2 * bound)
                if m.bias is not None:
                    draw(m.bias, -0.5, 0.5)
            elif isinstance(getattr(m, "w", None), torch.nn.Parameter):
                draw(m.w, -0.5, 0.5)  # ParametricLIF: tau = 1 / sigmoid(w), about 2


def _input(params, scale: float) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    shape = (1, 28, 28) if "channels" in params else (3, params["size"], params["size"])
    return torch.rand(STEPS, BATCH, *shape, generator=gen) * scale


def _sj_outputs(sj, model, x, mode: str) -> torch.Tensor:
    sj.functional.reset_net(model)
    sj.functional.set_step_mode(model, mode)
    if mode == "m":
        return model(x)
    return torch.stack([model(x_t) for x_t in x])


def _ours(spec, params, mode: str, backend: str = "eager") -> torch.nn.Module:
    return snndsl.load(str(SJ / spec), mode=mode, params=params, backend=backend)()


def _run(module, x, mode: str) -> torch.Tensor:
    module.reset()
    return module(x) if mode == "multi" else run_single(module, [x])[0]


def _trained(sj, case: str, seed: int):
    """SpikingJelly's model for ``case`` holding a checkpoint: every tensor redrawn
    (:func:`_checkpoint`), then the weights feeding each neuron layer scaled so that it
    fires on the test input (the cross-check's calibration, run on the generated module
    the checkpoint was loaded into and loaded back: the keys are the same both ways)."""
    spec, params, build, scale = CASES[case]
    torch.manual_seed(0)
    theirs = build(sj)
    _checkpoint(theirs, seed)
    x = _input(params, scale)
    ours = _ours(spec, params, "multi")
    ours.load_state_dict(theirs.state_dict(), strict=True)
    calibrate_weights(snndsl.resolve(str(SJ / spec), params=params), ours, [x])
    theirs.load_state_dict(ours.state_dict(), strict=True)
    return theirs, x


@pytest.mark.parametrize("case", list(CASES))
def test_checkpoint_loads_strictly_and_outputs_are_identical(sj, case):
    spec, params, _, _ = CASES[case]
    theirs, x = _trained(sj, case, seed=3)
    checkpoint = {k: v.clone() for k, v in theirs.state_dict().items()}
    training = (False, True) if case in TRAINS else (False,)
    for mode, sj_mode in (("single", "s"), ("multi", "m")):
        ours = _ours(spec, params, mode)
        assert list(ours.state_dict()) == list(checkpoint)  # same keys, same order
        for name, group in ours.named_modules():  # numbered groups as long as theirs
            if isinstance(group, torch.nn.ModuleList):
                assert len(group) == len(theirs.get_submodule(name)), name
        ours.load_state_dict(checkpoint, strict=True)
        for train in training:
            theirs.load_state_dict(checkpoint)
            ours.load_state_dict(checkpoint)
            theirs.train(train)
            ours.train(train)
            expected = _sj_outputs(sj, theirs, x, sj_mode)
            got = _run(ours, x, mode)
            # the input reaches the output: the samples' outputs differ
            assert not torch.equal(expected[:, 0], expected[:, 1]), (mode, train)
            assert torch.equal(got, expected), (mode, train, (got - expected).abs().max())
            if train:  # the running statistics moved the same way
                after = theirs.state_dict()
                for key, value in ours.state_dict().items():
                    assert torch.equal(value, after[key]), key


@pytest.mark.parametrize("case", ["plif_mnist", "spiking_resnet18"])
def test_checkpoint_loads_into_the_fused_and_compile_backends(sj, case):
    spec, params, _, _ = CASES[case]
    theirs, x = _trained(sj, case, seed=4)
    theirs.eval()
    expected = _sj_outputs(sj, theirs, x, "m")
    fused = _ours(spec, params, "multi", "fused").eval()
    fused.load_state_dict(theirs.state_dict(), strict=True)
    assert torch.equal(_run(fused, x, "multi"), expected)
    compiled = _ours(spec, params, "multi", "compile")  # compiled on its first call
    compiled.load_state_dict(theirs.state_dict(), strict=True)


def test_a_renamed_key_or_a_changed_weight_is_caught(sj):
    spec, params, _, _ = CASES["plif_mnist"]
    theirs, x = _trained(sj, "plif_mnist", seed=5)
    theirs.eval()
    checkpoint = theirs.state_dict()
    ours = _ours(spec, params, "multi").eval()
    # the flat spelling of a key (what earlier versions needed) is refused
    renamed = {k.replace("conv_fc.2.w", "conv_fc_2.w"): v for k, v in checkpoint.items()}
    with pytest.raises(RuntimeError, match="conv_fc.2.w"):
        ours.load_state_dict(renamed, strict=True)
    ours.load_state_dict(checkpoint, strict=True)
    expected = _sj_outputs(sj, theirs, x, "m")
    assert torch.equal(_run(ours, x, "multi"), expected)
    # one weight changed: the outputs are no longer identical
    changed = dict(checkpoint)
    changed["conv_fc.13.weight"] = checkpoint["conv_fc.13.weight"] * 1.5
    ours.load_state_dict(changed, strict=True)
    assert not torch.equal(_run(ours, x, "multi"), expected)
