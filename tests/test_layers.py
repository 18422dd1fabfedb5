"""Every catalogue layer: shape inference equals torch, and both generated forms equal
SpikingJelly 2.0.0 in multi-step mode (eval, and training where the layer has state)."""

from __future__ import annotations

import pytest
import torch
from conftest import require_spikingjelly

import snndsl
from snndsl.oracle.crosscheck import run_single
from snndsl.oracle.spikingjelly import OracleNetwork
from snndsl.semantics.catalogue import OPS

CASES = [
    ([7], "Linear(5)"),
    ([3, 7], "Linear(4, bias=false)"),
    ([3, 16], "Conv1d(4, 3)"),
    ([3, 16], "Conv1d(6, 5, stride=2, padding=2, dilation=2, groups=3, bias=false)"),
    ([3, 16], 'Conv1d(4, 3, padding="same", padding_mode="reflect")'),
    ([3, 9, 11], "Conv2d(4, 3)"),
    ([3, 9, 11], 'Conv2d(4, [3, 5], padding="same", dilation=[1, 2])'),
    ([3, 9, 11], 'Conv2d(4, 3, padding="valid", padding_mode="circular")'),
    ([2, 6, 7, 8], "Conv3d(4, 3, stride=[1, 2, 2], padding=1)"),
    ([3, 8], "ConvTranspose1d(4, 3, stride=2, output_padding=1)"),
    ([3, 6, 7], "ConvTranspose2d(4, [3, 2], stride=2, padding=1, dilation=2, groups=1)"),
    ([2, 4, 5, 6], "ConvTranspose3d(4, 2, stride=[1, 2, 1], bias=false)"),
    ([5], "BatchNorm1d"),
    ([5, 9], "BatchNorm1d(momentum=none)"),
    ([4, 6, 6], "BatchNorm2d(eps=0.001, momentum=0.2)"),
    ([4, 3, 5, 5], "BatchNorm3d(affine=false)"),
    ([6, 5, 5], "GroupNorm(3)"),
    ([6, 10], "GroupNorm(2, 6, eps=0.0001, affine=false)"),
    ([4, 10], "LayerNorm"),
    ([4, 10], "LayerNorm([4, 10], elementwise_affine=false)"),
    ([3, 17], "MaxPool1d(3, stride=2, padding=1, dilation=2, ceil_mode=true)"),
    ([3, 9, 11], "MaxPool2d(2)"),
    ([3, 9, 11], "MaxPool2d([3, 2], stride=[2, 1], padding=1, ceil_mode=true)"),
    ([2, 6, 7, 8], "MaxPool3d(2, ceil_mode=true)"),
    ([3, 17], "AvgPool1d(4, stride=3, padding=2, ceil_mode=true, count_include_pad=false)"),
    ([3, 9, 11], "AvgPool2d(3, padding=1, divisor_override=4)"),
    ([2, 6, 7, 8], "AvgPool3d([2, 3, 2], count_include_pad=false)"),
    ([3, 17], "AdaptiveAvgPool1d(5)"),
    ([3, 9, 11], "AdaptiveAvgPool2d([4, 3])"),
    ([2, 6, 7, 8], "AdaptiveAvgPool3d(2)"),
    ([3, 17], "AdaptiveMaxPool1d(4)"),
    ([3, 9, 11], "AdaptiveMaxPool2d(1)"),
    ([2, 6, 7, 8], "AdaptiveMaxPool3d([1, 2, 3])"),
    ([3, 4, 5], "Flatten"),
    ([3, 4, 5], "Flatten(start=0, end=1)"),
    ([3, 4, 5], "Flatten(start=-2)"),
    ([6, 4], "Reshape([2, 3, 4])"),
    ([6, 4], "Reshape([-1, 8])"),
    ([2, 3, 4], "Transpose(-2, -1)"),
    ([2, 3, 4], "Transpose(0, 2)"),
    ([2, 3, 4], "Permute([2, 0, 1])"),
    ([3, 2, 4], "Select(1)"),
    ([3, 2, 4], "Select(-1, dim=-1)"),
    ([3, 5], "Scale(0.125)"),
    ([3, 5], "Softmax"),
    ([3, 5], "Softmax(0)"),
    ([20], "VotingLayer(5)"),
    ([23], "VotingLayer"),
    ([3, 8], 'Upsample(scale_factor=2.0, mode="linear")'),
    ([3, 5, 6], "Upsample(size=[7, 9])"),
    ([3, 5, 6], 'Upsample(scale_factor=1.5, mode="bilinear", align_corners=true)'),
    ([3, 5, 6], 'Upsample(scale_factor=[2.0, 1.0], mode="bicubic")'),
    ([2, 3, 4, 5], 'Upsample(scale_factor=2, mode="trilinear")'),
    ([3, 5, 6], 'Upsample(size=4, mode="nearest-exact")'),
    ([5, 3], "Identity"),
]


def _spec(shape, call):
    dims = ", ".join(map(str, shape))
    return f"network L {{ input x: [{dims}]\n output y = x -> layer: {call} }}"


def test_every_layer_op_is_covered():
    covered = {call.split("(")[0] for _, call in CASES}
    assert covered | {"Dropout", "Dropout2d"} == set(OPS)


@pytest.mark.parametrize("shape,call", CASES, ids=[c for _, c in CASES])
def test_layer_matches_torch_and_spikingjelly(shape, call):
    require_spikingjelly()
    spec = _spec(shape, call)
    net = snndsl.resolve(spec)
    torch.manual_seed(0)
    single = snndsl.load(spec, mode="single")()
    multi = snndsl.load(spec, mode="multi")()
    multi.load_state_dict(single.state_dict())
    ref = OracleNetwork(net)
    ref.load_state_dict(single.state_dict())
    x = torch.randn(3, 2, *shape)
    for mode in ("eval", "train"):
        for m in (single, multi, ref):
            getattr(m, mode)()
        y_multi, y_ref = multi(x), ref(x)
        assert tuple(y_multi.shape) == (3, 2, *net.outputs[0].shape)
        assert torch.equal(y_multi, y_ref), mode
        if mode == "eval" or "BatchNorm" not in call:
            # training-mode BatchNorm normalises over T*N in multi-step and over N per
            # step in single-step: different by definition
            y_single = run_single(single, [x])[0]
            assert torch.equal(y_single, y_multi), mode
    for a, b in zip(multi.state_dict().values(), ref.state_dict().values()):
        assert torch.equal(a, b), "running statistics updated identically"


@pytest.mark.parametrize(
    "shape,call,code",
    [
        ([3, 16], 'Conv1d(4, 3, stride=2, padding="same")', "E0207"),
        ([3, 16], 'Conv1d(4, 3, padding="full")', "E0207"),
        ([3, 16], 'Conv1d(4, 3, padding_mode="mirror")', "E0207"),
        ([3, 8], "ConvTranspose1d(4, 3, stride=2, output_padding=2)", "E0207"),
        ([6, 5], "GroupNorm(4)", "E0207"),
        ([4, 10], "LayerNorm(4)", "E0301"),
        ([3, 5, 6], "Upsample(size=4, scale_factor=2.0)", "E0207"),
        ([3, 5, 6], 'Upsample(scale_factor=2.0, mode="linear")', "E0301"),
        ([3, 5, 6], "Upsample(scale_factor=2.0, align_corners=true)", "E0207"),
        ([3, 5], "BatchNorm2d", "E0301"),
        ([3, 5, 6], "AdaptiveAvgPool2d([2, 2, 2])", "E0204"),
        ([3, 5, 6], "MaxPool2d(2, padding=2)", "E0207"),
        ([3, 5, 6], "Flatten(start=3)", "E0207"),
        ([3, 5, 6], "Flatten(start=2, end=1)", "E0207"),
        ([3, 5, 6], "Flatten(1)", "E0206"),
        ([3, 5, 6], "Flatten(start_dim=2)", "E0202"),
        ([3, 5, 6], "Reshape([7, -1])", "E0301"),
        ([3, 5, 6], "Reshape([3, 5, 5])", "E0301"),
        ([3, 5, 6], "Reshape([-1, -1])", "E0207"),
        ([3, 5, 6], "Reshape([3, 0, 30])", "E0207"),
        ([3, 5, 6], "Transpose(0, 3)", "E0207"),
        ([3, 5, 6], "Transpose(-4, 0)", "E0207"),
        ([3, 5, 6], "Permute([0, 1])", "E0207"),
        ([3, 5, 6], "Permute([0, 1, 1])", "E0207"),
        ([3, 5, 6], "Select(3)", "E0207"),
        ([3, 5, 6], "Select(0, dim=3)", "E0207"),
        ([6], "Select(0)", "E0207"),
        ([3, 5, 6], "Softmax(-4)", "E0207"),
        ([3, 5, 6], "Scale(true)", "E0204"),
        ([3, 10], "VotingLayer(5)", "E0301"),
        ([4], "VotingLayer(5)", "E0207"),
        ([10], "VotingLayer(0)", "E0207"),
    ],
)
def test_layer_argument_errors_are_located(shape, call, code):
    with pytest.raises(snndsl.SpecError) as info:
        snndsl.resolve(_spec(shape, call))
    (d,) = info.value.diagnostics
    assert d.code == code, d.render()
    assert d.span.line == 2 and d.span.column >= 23, d.render()


def test_dropout2d_matches_spikingjelly_in_training():
    require_spikingjelly()
    spec = "network D { input x: [4, 5, 5]\n output y = x -> drop: Dropout2d(0.4) -> sn: LIF }"
    multi = snndsl.load(spec, mode="multi")().train()
    single = snndsl.load(spec, mode="single")().train()
    ref = OracleNetwork(snndsl.resolve(spec)).train()
    x = torch.rand(3, 2, 4, 5, 5) * 4
    outs = []
    for model in (multi, ref):
        torch.manual_seed(7)
        outs.append(model(x))
    torch.manual_seed(7)
    outs.append(run_single(single, [x])[0])
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[2], outs[1])
    mask = multi._drop_mask
    assert mask.shape == (2, 4, 5, 5)
    assert bool(((mask == 0) | (mask.amax(dim=(2, 3), keepdim=True) == mask)).all()), "per channel"


def test_matmul_merge_equals_torch_matmul_in_both_forms():
    """MatMul(a, b) of two activations is torch.matmul over the per-sample dimensions,
    batched over T and N, in both forms and in the SpikingJelly oracle."""
    spec = """
    network M {
        input x: [2, 3, 4]
        input z: [2, 4, 5]
        output y = MatMul(x, z)
        output w = MatMul(x, kt)
        kt = x -> Transpose(-2, -1)
    }
    """
    multi = snndsl.load(spec, mode="multi")()
    single = snndsl.load(spec, mode="single")()
    x, z = torch.randn(3, 2, 2, 3, 4), torch.randn(3, 2, 2, 4, 5)
    y, w = multi(x, z)
    assert torch.equal(y, torch.matmul(x, z))
    assert torch.equal(w, x @ x.transpose(-2, -1))
    y_s, w_s = run_single(single, [x, z])
    assert torch.equal(y_s, y) and torch.equal(w_s, w)
    require_spikingjelly()
    y_r, w_r = OracleNetwork(snndsl.resolve(spec))(x, z)
    assert torch.equal(y_r, y) and torch.equal(w_r, w)
