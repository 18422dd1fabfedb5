"""specs/spikingjelly/spiking_resnet18.snn and sew_resnet18.snn against ResNets built by hand from
SpikingJelly 2.0.0 modules, following its model/spiking_resnet.py and model/sew_resnet.py
(that package needs torchvision, so the tests write the same classes out), with the same
weights: outputs bit-identical, gradients within 1e-6 relative."""

from __future__ import annotations

import pytest
import torch
from conftest import ROOT, require_spikingjelly
from torch import nn

import snndsl

RESNET = str(ROOT / "specs" / "spikingjelly" / "spiking_resnet18.snn")
SEW = str(ROOT / "specs" / "spikingjelly" / "sew_resnet18.snn")


def _sj():
    require_spikingjelly()
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    return functional, layer, neuron, surrogate


def _if():
    _, _, neuron, surrogate = _sj()
    return neuron.IFNode(surrogate_function=surrogate.ATan(), detach_reset=True)


class _Block(nn.Module):
    """SpikingJelly's BasicBlock: spiking (sew=None) or SEW with connect function cnf."""

    def __init__(self, inplanes: int, planes: int, stride: int, cnf: str | None):
        super().__init__()
        _, layer, _, _ = _sj()
        self.conv1 = layer.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = layer.BatchNorm2d(planes)
        self.sn1 = _if()
        self.conv2 = layer.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = layer.BatchNorm2d(planes)
        self.sn2 = _if()
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                layer.Conv2d(inplanes, planes, 1, stride, bias=False), layer.BatchNorm2d(planes)
            )
            if cnf is not None:
                self.downsample_sn = _if()
        self.cnf = cnf

    def forward(self, x):
        identity = x
        out = self.bn2(self.conv2(self.sn1(self.bn1(self.conv1(x)))))
        if self.cnf is None:  # spiking_resnet: out += identity; out = sn2(out)
            if self.downsample is not None:
                identity = self.downsample(x)
            return self.sn2(out + identity)
        out = self.sn2(out)  # sew_resnet: sew_function(identity, out, cnf)
        if self.downsample is not None:
            identity = self.downsample_sn(self.downsample(x))
        if self.cnf == "ADD":
            return identity + out
        if self.cnf == "AND":
            return identity * out
        return identity * (1.0 - out)


class _ResNet18(nn.Module):
    def __init__(self, classes: int, cnf: str | None):
        super().__init__()
        functional, layer, _, _ = _sj()
        self.conv1 = layer.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = layer.BatchNorm2d(64)
        self.sn1 = _if()
        self.maxpool = layer.MaxPool2d(3, 2, 1)
        inplanes = 64
        for i, planes in enumerate((64, 128, 256, 512), 1):
            stride = 1 if i == 1 else 2
            blocks = [_Block(inplanes, planes, stride, cnf), _Block(planes, planes, 1, cnf)]
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
            inplanes = planes
        self.avgpool = layer.AdaptiveAvgPool2d((1, 1))
        self.fc = layer.Linear(512, classes)
        functional.set_step_mode(self, "m")

    def forward(self, x):
        x = self.maxpool(self.sn1(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 2))


@pytest.mark.parametrize(
    "spec,cnf",
    [(RESNET, None), (SEW, "ADD"), (SEW, "IAND")],
    ids=["spiking", "sew-add", "sew-iand"],
)
def test_resnet18_matches_spikingjelly(spec, cnf):
    params = {"cnf": cnf} if cnf else {}
    torch.manual_seed(0)
    model = snndsl.load(spec, mode="multi", params=params)().eval()
    ref = _ResNet18(10, cnf).eval()
    ours = model.state_dict()
    theirs = ref.state_dict()
    assert sorted(theirs) == sorted(ours)  # the spec's groups are SpikingJelly's
    ref.load_state_dict(ours)
    x = torch.rand(2, 2, 3, 32, 32) * 4
    xm, xr = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ym, yr = model(xm), ref(xr)
    assert torch.equal(ym, yr)
    assert ym.abs().sum() > 0
    w = torch.linspace(-1, 1, ym.numel()).reshape(ym.shape)
    (ym * w).sum().backward()
    (yr * w).sum().backward()
    assert ((xm.grad - xr.grad).abs().max() / xr.grad.abs().max()).item() <= 1e-6
    grads = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        q = grads[name].grad
        rel = ((p.grad - q).abs().max() / q.abs().max().clamp_min(1e-12)).item()
        assert rel <= 1e-6, (name, rel)
