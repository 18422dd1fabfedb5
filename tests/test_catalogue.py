"""Shape inference of every layer, checked against what torch actually produces."""

from __future__ import annotations

import itertools

import pytest
import torch

import snndsl
from snndsl import ir


def _infer(shape, call):
    dims = ", ".join(map(str, shape))
    net = snndsl.resolve(f"network N {{ input x: [{dims}]\n output y = x -> layer: {call} }}")
    return net.outputs[0].shape, net


CONV_CASES = [
    f"Conv2d(4, {k}, stride={s}, padding={p}, dilation={d})"
    for k, s, p, d in itertools.product((1, 3), (1, 2), (0, 1), (1, 2))
]
POOL_CASES = [
    f"{op}({k}, stride={s}, padding={p}, ceil_mode={c})"
    for op, k, s, p, c in itertools.product(
        ("MaxPool2d", "AvgPool2d"), (2, 3), (1, 2), (0, 1), ("true", "false")
    )
]


@pytest.mark.parametrize(
    "call",
    CONV_CASES
    + POOL_CASES
    + [
        "Linear(5)",
        "BatchNorm2d",
        "Flatten",
        "Flatten(start=1)",
        "Flatten(start=0, end=1)",
        "Flatten(start=-2)",
        "Reshape([9, -1])",
        "Reshape([3, 99])",
        "Transpose(0, -1)",
        "Transpose(1, 2)",
        "Permute([2, 0, 1])",
        "Select(1, dim=1)",
        "Select(-1)",
        "Scale(0.5)",
        "Softmax(1)",
        "MaxPool2d([2, 3])",
        "AvgPool2d(3, divisor_override=2)",
        "Conv2d(6, [3, 1], groups=3)",
        "Dropout(0.1)",
        "Dropout2d",
    ],
)
def test_inferred_shape_matches_torch(call):
    shape = (3, 9, 11)
    if call.startswith("Linear"):
        shape = (3, 7)
    out, net = _infer(shape, call)
    model = snndsl.load(net_spec(shape, call), mode="single")().eval()
    y = model(torch.rand(2, *shape))
    assert tuple(y.shape[1:]) == out


def net_spec(shape, call):
    dims = ", ".join(map(str, shape))
    return f"network N {{ input x: [{dims}]\n output y = x -> layer: {call} }}"


@pytest.mark.parametrize(
    "call,code,arg_col",
    [
        ("Conv2d(4, 12)", "E0207", 20),  # kernel larger than the input
        ("MaxPool2d(2, padding=2)", "E0207", 23),
        ("Linear(in_features=5, out_features=2)", "E0301", 20),
        ("BatchNorm2d(4)", "E0301", 20),
        ("Conv2d(4, 3, groups=2)", "E0207", 20),  # 3 input channels, 2 groups
        ("Flatten(0)", "E0206", 20),
        ("Flatten(start=3)", "E0207", 20),
        ("Reshape([2, -1])", "E0301", 20),
        ("Transpose(0, 3)", "E0207", 20),
        ("Select(0, dim=-4)", "E0207", 20),
        ("Softmax(3)", "E0207", 20),
        ("VotingLayer(3)", "E0301", 20),
        ("Dropout(1.0)", "E0207", 20),
        ("Conv2d(4, [3, 3, 3])", "E0204", 20),
    ],
)
def test_shape_and_value_errors_are_located(call, code, arg_col):
    with pytest.raises(snndsl.SpecError) as info:
        _infer((3, 9, 11), call)
    (d,) = info.value.diagnostics
    assert d.code == code, d.render()
    assert d.span.line == 2 and d.span.column >= arg_col, d.render()


def test_channels_inferred_through_a_chain():
    net = snndsl.resolve("""
    network N {
        input x: [2, 8, 8]
        output y = x -> Conv2d(6, 3, padding=1) -> BatchNorm2d -> MaxPool2d(2) -> Flatten
            -> Linear(10)
    }
    """)
    shapes = [n.shape if isinstance(n, (ir.LayerIR, ir.TensorOpIR)) else None for n in net.nodes]
    assert shapes == [(6, 8, 8), (6, 8, 8), (6, 4, 4), (96,), (10,)]
    assert net.layers[0].ctor_args[:3] == tuple(ir.Binding(None, n) for n in (2, 6, 3))
