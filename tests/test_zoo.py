"""The model zoo against SpikingJelly 2.0.0 networks built by hand.

specs/fmnist.snn is the CSNN of SpikingJelly's Fashion-MNIST tutorial, specs/vgg11.snn a
spiking VGG-11 for CIFAR-10, specs/shd_rnn.snn a recurrent network shaped for the Spiking
Heidelberg Digits.  Each test builds the SpikingJelly network from its own layer, neuron
and surrogate modules the way SpikingJelly writes it (``spikingjelly.activation_based.model``
and the tutorial itself cannot be imported here: they need torchvision), copies the
generated module's ``state_dict`` into it with every key renamed from the spec's label to
SpikingJelly's module path (a strict load, so no weight is left out), and runs both in
multi-step mode (``functional.set_step_mode(net, "m")``) on the same input.

Outputs and every neuron's final membrane potential must be bit-identical
(``torch.equal``); the gradients of a weighted sum of the outputs with respect to the input
and every parameter within 1e-6 relative (max abs difference over max abs value).  No
larger gap is needed: measured, every gradient in these tests is bit-identical to
SpikingJelly's (relative error 0.0), since the generated code runs the same torch ops on
the same time-folded ``[T*N, ...]`` batches as SpikingJelly's layers, and IF/LIF with ATan
in the same order as SpikingJelly's neurons.

A fresh random draw leaves deep layers silent (BatchNorm in eval mode with its initial
statistics, a last IF layer behind a wide Linear, a LIF layer behind sparse spikes), which
would make "bit-identical" a comparison of zeros.  So the tests run BatchNorm in training
mode and then in eval mode on the batch's statistics, scale a few weights up (as training
would), and assert that every neuron layer fires.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from conftest import ROOT, require_spikingjelly
from torch import nn

import snndsl

FMNIST = str(ROOT / "specs" / "fmnist.snn")
VGG11 = str(ROOT / "specs" / "vgg11.snn")
SHD = str(ROOT / "specs" / "shd_rnn.snn")
GRAD_TOLERANCE = 1e-6


# --------------------------------------------------------------------------- helpers


def _generated(spec: str, mode: str = "multi", params=None, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return snndsl.load(spec, mode=mode, params=params)()


def _renamed(state: dict[str, torch.Tensor], paths: dict[str, str]) -> dict[str, torch.Tensor]:
    """The spec's keys (``conv1.weight``) under SpikingJelly's paths (``0.weight``)."""
    out = {}
    for key, value in state.items():
        label, rest = key.split(".", 1)
        out[f"{paths[label]}.{rest}"] = value.clone()
    return out


def _copy_weights(module: nn.Module, ref: nn.Module, paths: dict[str, str]) -> None:
    ref.load_state_dict(_renamed(module.state_dict(), paths))  # strict: every key of both


def _kinds(spec: str, params=None) -> list[tuple[str, str]]:
    """The spec's layers and neurons in order, named as SpikingJelly's classes."""
    from snndsl import ir

    kinds = []
    for node in snndsl.resolve(spec, params=params).nodes:
        if isinstance(node, ir.LayerIR):
            kinds.append((node.attr, node.op))
        elif isinstance(node, ir.TensorOpIR):  # Flatten: no module, SpikingJelly's has one
            kinds.append((node.label, node.op))
        elif isinstance(node, ir.NeuronIR):
            kinds.append((node.attr, f"{node.neuron}Node"))
    return kinds


def _submodule(ref: nn.Module, path: str) -> nn.Module:
    return ref.get_submodule(path)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    scale = b.abs().max().clamp_min(1e-12)
    return ((a - b).abs().max() / scale).item()


def _spike_rates(ref: nn.Module, paths: dict[str, str], neurons: list[str]) -> dict[str, float]:
    """Forward hooks recording each SpikingJelly neuron layer's firing rate over all its
    calls (a neuron inside a recurrent container is called once per step)."""
    counts: dict[str, list[float]] = {label: [0.0, 0.0] for label in neurons}
    rates: dict[str, float] = {}

    def hook(module, inputs, output, label):
        counts[label][0] += output.detach().float().sum().item()
        counts[label][1] += output.numel()
        rates[label] = counts[label][0] / counts[label][1]

    for label in neurons:
        _submodule(ref, paths[label]).register_forward_hook(
            lambda m, i, o, label=label: hook(m, i, o, label)
        )
    return rates


def _compare(
    module: nn.Module,
    ref: nn.Module,
    x: torch.Tensor,
    paths: dict[str, str],
    neurons: list[str],
) -> dict[str, float]:
    """Run both on x; outputs and neuron states equal; relative gradient errors by key."""
    x_m = x.clone().requires_grad_(True)
    x_r = x.clone().requires_grad_(True)
    y_m, y_r = module(x_m), ref(x_r)
    assert torch.equal(y_m, y_r)
    for label in neurons:
        assert torch.equal(getattr(module, f"_{label}_v"), _submodule(ref, paths[label]).v), label
    gen = torch.Generator().manual_seed(7)
    w = torch.randn(y_m.shape, generator=gen)  # a weighted sum: no symmetric gradients
    (y_m * w).sum().backward()
    (y_r * w).sum().backward()
    errors = {"input": _rel(x_m.grad, x_r.grad)}
    ref_params = dict(ref.named_parameters())
    for key, p in module.named_parameters():
        label, rest = key.split(".", 1)
        q = ref_params[f"{paths[label]}.{rest}"]
        assert p.grad is not None and q.grad is not None, key
        errors[key] = _rel(p.grad, q.grad)
    assert x_r.grad.abs().max() > 0
    return errors


def _train_then_eval(module, ref, x, paths, neurons):
    """Compare in training mode (BatchNorm on batch statistics), then in evaluation mode
    on the running statistics that call left.  BatchNorm's momentum is set to None (a
    cumulative average) in both networks, so one call makes the running statistics the
    batch's own and evaluation mode fires as much as training mode did (with the default
    0.1 they would stay near mean 0, variance 1 and silence the deep layers).  Returns the
    gradient errors and firing rates of both phases."""
    from spikingjelly.activation_based import functional

    for m in (*module.modules(), *ref.modules()):
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None
    module.train(), ref.train()
    rates = _spike_rates(ref, paths, neurons)
    errors = _compare(module, ref, x, paths, neurons)
    _buffers_equal(module, ref, paths)  # running statistics, updated alike

    module.eval(), ref.eval()
    module.reset(), functional.reset_net(ref)
    _zero_grads(module, ref)
    eval_rates = _spike_rates(ref, paths, neurons)
    eval_errors = _compare(module, ref, x, paths, neurons)
    return errors, dict(rates), eval_errors, eval_rates


def _zero_grads(*modules: nn.Module) -> None:
    for m in modules:
        for p in m.parameters():
            p.grad = None


def _buffers_equal(module: nn.Module, ref: nn.Module, paths: dict[str, str]) -> None:
    ref_buffers = dict(ref.named_buffers())
    for key, b in module.named_buffers():
        label, rest = key.split(".", 1)
        assert torch.equal(b, ref_buffers[f"{paths[label]}.{rest}"]), key


# --------------------------------------------------------------------------- Fashion-MNIST

# Module paths of conv_fashion_mnist.CSNN.conv_fc, by spec label.
CSNN_PATHS = {
    "conv1": "0",
    "bn1": "1",
    "sn1": "2",
    "pool1": "3",
    "conv2": "4",
    "bn2": "5",
    "sn2": "6",
    "pool2": "7",
    "flat": "8",
    "fc1": "9",
    "sn3": "10",
    "fc2": "11",
    "sn4": "12",
}
CSNN_NEURONS = ["sn1", "sn2", "sn3", "sn4"]


def _csnn(channels: int) -> nn.Module:
    """``CSNN(T, channels).conv_fc`` of spikingjelly/activation_based/examples/
    conv_fashion_mnist.py, copied verbatim (the example imports torchvision)."""
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    conv_fc = nn.Sequential(
        layer.Conv2d(1, channels, kernel_size=3, padding=1, bias=False),
        layer.BatchNorm2d(channels),
        neuron.IFNode(surrogate_function=surrogate.ATan()),
        layer.MaxPool2d(2, 2),  # 14 * 14
        layer.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False),
        layer.BatchNorm2d(channels),
        neuron.IFNode(surrogate_function=surrogate.ATan()),
        layer.MaxPool2d(2, 2),  # 7 * 7
        layer.Flatten(),
        layer.Linear(channels * 7 * 7, channels * 4 * 4, bias=False),
        neuron.IFNode(surrogate_function=surrogate.ATan()),
        layer.Linear(channels * 4 * 4, 10, bias=False),
        neuron.IFNode(surrogate_function=surrogate.ATan()),
    )
    functional.set_step_mode(conv_fc, step_mode="m")
    return conv_fc


def test_fmnist_has_the_tutorial_layers_at_its_default_width():
    require_spikingjelly()
    module = _generated(FMNIST)  # channels = 128, the tutorial's default
    ref = _csnn(128)
    _copy_weights(module, ref, CSNN_PATHS)  # strict: the same tensors under every key
    assert sum(p.numel() for p in module.parameters()) == 13_014_656
    assert _kinds(FMNIST) == [
        (label, type(ref.get_submodule(CSNN_PATHS[label])).__name__) for label in CSNN_PATHS
    ]


def test_fmnist_matches_the_tutorial_network():
    """Forward, state and gradients, in training mode and then in evaluation mode, at
    channels = 16 (the same layers as the default 128, a sixty-fourth of the work)."""
    require_spikingjelly()

    module = _generated(FMNIST, params={"channels": 16})
    with torch.no_grad():  # the last IF layer fires only with weights larger than a fresh draw's
        module.fc2.weight.mul_(4.0)
    ref = _csnn(16)
    _copy_weights(module, ref, CSNN_PATHS)
    # the tutorial's encoding: one static image repeated over T steps
    T, N = 4, 2
    img = torch.rand(N, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    x_seq = img.unsqueeze(0).repeat(T, 1, 1, 1, 1)
    errors, rates, eval_errors, eval_rates = _train_then_eval(
        module, ref, x_seq, CSNN_PATHS, CSNN_NEURONS
    )
    assert max(errors.values()) <= GRAD_TOLERANCE, errors
    assert max(eval_errors.values()) <= GRAD_TOLERANCE, eval_errors
    assert all(r > 0 for r in rates.values()), rates
    assert all(r > 0 for r in eval_rates.values()), eval_rates


# --------------------------------------------------------------------------- VGG-11

VGG11_CONFIG = [1, "M", 2, "M", 4, 4, "M", 8, 8, "M", 8, 8, "M"]  # "A", in units of width


def _vgg11(width: int, classes: int = 10) -> tuple[nn.Module, dict[str, str]]:
    """A spiking VGG-11 the way SpikingJelly's model/spiking_vgg.py builds one
    (``make_layers`` with a BatchNorm2d and a neuron after every Conv2d), with the
    classifier on the flattened 1x1 map; and the SpikingJelly path of every spec label."""
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    layers: list[nn.Module] = []
    paths: dict[str, str] = {}
    in_channels, conv, pool = 3, 0, 0
    for v in VGG11_CONFIG:
        if v == "M":
            pool += 1
            paths[f"pool{pool}"] = f"features.{len(layers)}"
            layers.append(layer.MaxPool2d(kernel_size=2, stride=2))
            continue
        conv += 1
        for i, label in enumerate(("conv", "bn", "sn")):
            paths[f"{label}{conv}"] = f"features.{len(layers) + i}"
        layers += [
            layer.Conv2d(in_channels, v * width, kernel_size=3, padding=1),
            layer.BatchNorm2d(v * width),
            neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan()),
        ]
        in_channels = v * width
    net = nn.Sequential(
        OrderedDict(
            features=nn.Sequential(*layers),
            flatten=layer.Flatten(),
            classifier=layer.Linear(in_channels, classes),
        )
    )
    paths.update(flat="flatten", fc="classifier")
    functional.set_step_mode(net, "m")
    return net, paths


VGG11_NEURONS = [f"sn{i}" for i in range(1, 9)]


def test_vgg11_has_the_vgg11_layers_at_full_width():
    require_spikingjelly()
    module = _generated(VGG11)  # width 64: 64, 128, 256, 256, 512, 512, 512, 512
    ref, paths = _vgg11(64)
    _copy_weights(module, ref, paths)  # strict: the same tensors under every key
    assert sum(p.numel() for p in module.parameters()) == 9_231_114
    widths = [m.out_channels for m in ref.modules() if isinstance(m, nn.Conv2d)]
    assert widths == [64, 128, 256, 256, 512, 512, 512, 512]
    assert _kinds(VGG11) == [
        (label, type(ref.get_submodule(path)).__name__) for label, path in paths.items()
    ]


def test_vgg11_matches_spikingjelly_vgg():
    """Training mode (batch statistics: every layer fires), then evaluation mode on the
    running statistics it updated, at width 8 (channels 8 .. 64, the full depth)."""
    require_spikingjelly()

    module = _generated(VGG11, params={"width": 8})
    ref, paths = _vgg11(8)
    _copy_weights(module, ref, paths)
    x = torch.rand(4, 2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    errors, rates, eval_errors, eval_rates = _train_then_eval(module, ref, x, paths, VGG11_NEURONS)
    assert max(errors.values()) <= GRAD_TOLERANCE, errors
    assert max(eval_errors.values()) <= GRAD_TOLERANCE, eval_errors
    assert all(r > 0 for r in rates.values()), rates
    assert all(r > 0 for r in eval_rates.values()), eval_rates


# --------------------------------------------------------------------------- SHD

SHD_PATHS = {"fc_in": "fc_in", "rc": "rec.rc", "sn1": "rec.sub_module", "fc_out": "fc_out"}


def _shd(features: int = 700, hidden: int = 128, classes: int = 20) -> nn.Module:
    """An input projection, SpikingJelly's LinearRecurrentContainer around a LIF layer,
    and a Linear readout, in multi-step mode (set_step_mode leaves the container's LIF
    single-step: the container loops over time itself)."""
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    net = nn.Sequential(
        OrderedDict(
            fc_in=layer.Linear(features, hidden),
            rec=layer.LinearRecurrentContainer(
                neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan()),
                in_features=hidden,
                out_features=hidden,
            ),
            fc_out=layer.Linear(hidden, classes),
        )
    )
    functional.set_step_mode(net, "m")
    assert net.rec.sub_module.step_mode == "s"
    return net


def _shd_input(T: int, N: int, seed: int) -> torch.Tensor:
    """Spike trains on 700 channels, as the SHD dataset's, at a 20 % firing rate."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(T, N, 700, generator=gen) < 0.2).float()


def test_shd_rnn_matches_linear_recurrent_container():
    require_spikingjelly()
    from spikingjelly.activation_based import functional

    module = _generated(SHD)
    with torch.no_grad():  # fresh weights on sparse spikes barely charge the LIF (0 % .. 3 %)
        module.fc_in.weight.mul_(8.0)
        module.rc.weight.mul_(4.0)
    ref = _shd()
    _copy_weights(module, ref, SHD_PATHS)
    rates = _spike_rates(ref, SHD_PATHS, ["sn1"])
    x = _shd_input(6, 3, seed=3)
    errors = _compare(module, ref, x, SHD_PATHS, ["sn1"])
    assert max(errors.values()) <= GRAD_TOLERANCE, errors
    assert 0.05 < rates["sn1"] < 0.95, rates
    assert torch.equal(module._delay_1_prev, ref.rec.y)  # the fed-back spikes, kept

    # state carries over between calls, in both (two calls fold 2 * 3 and 4 * 3 samples,
    # so they are compared with SpikingJelly making the same two calls: torch's Linear is
    # not bit-identical across batch sizes, ~1e-6 apart); then the single-step form against
    # the whole network in single-step mode, stepped by hand
    module.reset(), functional.reset_net(ref)
    with torch.no_grad():
        assert torch.equal(module(x[:2]), ref(x[:2]))
        assert torch.equal(module(x[2:]), ref(x[2:]))
        assert torch.equal(module._delay_1_prev, ref.rec.y)
        single = _generated(SHD, mode="single")
        single.load_state_dict(module.state_dict())
        functional.reset_net(ref)
        functional.set_step_mode(ref, "s")
        for t in range(x.shape[0]):
            assert torch.equal(single(x[t]), ref(x[t])), t
