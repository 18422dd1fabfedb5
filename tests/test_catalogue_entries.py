"""Every catalogue entry states its counts and its functional fast path, and both hold.

For one or more example calls of every layer in :data:`OPS`, the entry's counts are
compared with the torch module built from the IR's constructor (parameters, buffers, and
SynOps against torch's FLOP counter), and its functional call with the module's output.
"""

from __future__ import annotations

import dataclasses

import pytest

import snndsl
from snndsl import ir
from snndsl.semantics.catalogue import OPS, Counts, FunctionalCall, LayerOp, holds_nothing

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

# (per-sample input shape, call) of every layer, with non-default arguments where they
# change the counts or the fast path.
EXAMPLES: list[tuple[tuple[int, ...], str]] = [
    ((3, 8), "Linear(5)"),
    ((8,), "Linear(5, bias=false)"),
    ((3, 10), "Conv1d(4, 3, padding=1)"),
    ((3, 10), 'Conv1d(6, 3, padding=2, padding_mode="circular", groups=3)'),
    ((4, 9, 9), "Conv2d(8, 3, stride=2, groups=2)"),
    ((4, 9, 9), 'Conv2d(4, 3, padding=1, padding_mode="reflect", bias=false)'),
    ((4, 9, 9), 'Conv2d(4, 3, padding="same", dilation=2)'),
    ((2, 5, 6, 7), "Conv3d(4, [1, 2, 3])"),
    ((3, 6), "ConvTranspose1d(2, 3, stride=2)"),
    ((8, 4, 4), "ConvTranspose2d(2, 2, stride=2, bias=false)"),
    ((4, 3, 3, 3), "ConvTranspose3d(4, 2, groups=2)"),
    ((6, 5), "BatchNorm1d"),
    ((6,), "BatchNorm1d(affine=false)"),
    ((4, 5, 5), "BatchNorm2d"),
    ((4, 5, 5), "BatchNorm2d(track_running_stats=false)"),
    ((3, 2, 4, 4), "BatchNorm3d"),
    ((6, 5, 5), "GroupNorm(3)"),
    ((6, 5), "GroupNorm(2, affine=false)"),
    ((4, 6), "LayerNorm"),
    ((4, 6), "LayerNorm([4, 6], bias=false)"),
    ((4, 6), "LayerNorm(elementwise_affine=false)"),
    ((3, 8), "MaxPool1d(2)"),
    ((3, 8, 8), "MaxPool2d(2)"),
    ((2, 4, 4, 4), "MaxPool3d(2)"),
    ((3, 8), "AvgPool1d(2)"),
    ((3, 8, 8), "AvgPool2d(2)"),
    ((2, 4, 4, 4), "AvgPool3d(2)"),
    ((3, 8), "AdaptiveAvgPool1d(2)"),
    ((3, 8, 8), "AdaptiveAvgPool2d(2)"),
    ((2, 4, 4, 4), "AdaptiveAvgPool3d(2)"),
    ((3, 8), "AdaptiveMaxPool1d(2)"),
    ((3, 8, 8), "AdaptiveMaxPool2d(2)"),
    ((2, 4, 4, 4), "AdaptiveMaxPool3d(2)"),
    ((2, 3, 4), "Flatten"),
    ((6, 4), "Reshape([2, 3, 4])"),
    ((2, 3, 4), "Transpose(-2, -1)"),
    ((2, 3, 4), "Permute([2, 0, 1])"),
    ((3, 2, 4), "Select(0)"),
    ((3, 4), "Scale(0.125)"),
    ((3, 4), "Softmax"),
    ((20,), "VotingLayer(5)"),
    ((3, 4, 4), "Upsample(scale_factor=2)"),
    ((3, 4), "Identity"),
    ((3, 4), "Dropout(0.1)"),
    ((3, 4, 4), "Dropout2d"),
]


def _spec(shape: tuple[int, ...], call: str) -> str:
    dims = ", ".join(map(str, shape))
    return f"network N {{ input x: [{dims}]\n output y = x -> layer: {call} }}"


def _node(shape, call) -> ir.Node:
    (node,) = snndsl.resolve(_spec(shape, call)).nodes
    return node


def _module(node: ir.LayerIR):
    """The torch module the generated code builds: ``eval(ctor)`` with the IR's args."""
    positional = [a.value for a in node.ctor_args if a.name is None]
    named = {a.name: a.value for a in node.ctor_args if a.name is not None}
    return eval(OPS[node.op].ctor, {"nn": torch.nn})(*positional, **named)


def _counts(node: ir.LayerIR) -> Counts:
    op = OPS[node.op]
    return op.counts(op.ctor_values(node.ctor_args), node.in_shape, node.shape)


def test_every_entry_states_its_counts_and_fast_path():
    for op in OPS.values():
        assert callable(op.counts), op.name
        assert op.functional is None or isinstance(op.functional, FunctionalCall), op.name
        if op.functional is not None:
            assert hasattr(torch.nn.functional, op.functional.function), op.name


def test_an_entry_cannot_leave_them_out():
    """Both fields are keyword-only without a default: no entry falls through silently."""
    linear = OPS["Linear"]
    base = {
        f.name: getattr(linear, f.name)
        for f in dataclasses.fields(LayerOp)
        if f.name not in ("counts", "functional")
    }
    with pytest.raises(TypeError):
        LayerOp(**base, functional=None)
    with pytest.raises(TypeError):
        LayerOp(**base, counts=holds_nothing)


def test_every_entry_has_an_example():
    assert {call.split("(")[0] for _, call in EXAMPLES} == set(OPS)


@pytest.mark.parametrize(("shape", "call"), EXAMPLES, ids=[c for _, c in EXAMPLES])
def test_counts_equal_the_torch_module(shape, call):
    node = _node(shape, call)
    if isinstance(node, (ir.DropoutIR, ir.TensorOpIR)):  # inline: no module, nothing held
        op = OPS[call.split("(")[0]]
        args = {b.name: b.value for b in getattr(node, "args", ())}
        assert op.counts(args, shape, node.shape) == (0, 0, None)
        module = snndsl.load(_spec(shape, call), mode="single")()
        assert [*module.parameters(), *module.buffers()] == []
        return
    params, buffers, synops = _counts(node)
    module = _module(node)
    assert params == sum(p.numel() for p in module.parameters())
    assert buffers == sum(b.numel() for b in module.buffers())
    with FlopCounterMode(display=False) as counter:
        module(torch.rand(2, *shape))
    flops = counter.get_total_flops()  # 2 per multiply-accumulate, for Linear and convs
    assert (synops or 0) == flops // (2 * 2)
    assert (synops is None) == (flops == 0)


@pytest.mark.parametrize(("shape", "call"), EXAMPLES, ids=[c for _, c in EXAMPLES])
def test_functional_call_equals_the_module(shape, call):
    node = _node(shape, call)
    op = OPS[call.split("(")[0]]
    if isinstance(node, ir.TensorOpIR):
        assert op.functional is None and op.ctor is None
        return
    if op.functional is None or not op.functional.applies(op.ctor_values(node.ctor_args)):
        return
    torch.manual_seed(0)
    module = _module(node)
    x = torch.rand(2, *shape)
    fn = getattr(torch.nn.functional, op.functional.function)
    direct = fn(x, *(getattr(module, a) for a in op.functional.attrs))
    assert torch.equal(direct, module(x))


def test_the_fast_path_excludes_non_zero_padding():
    """Where the predicate says no, the bare functional call would compute something else."""
    shape, call = (4, 9, 9), 'Conv2d(4, 3, padding=1, padding_mode="reflect", bias=false)'
    node = _node(shape, call)
    op = OPS["Conv2d"]
    assert not op.functional.applies(op.ctor_values(node.ctor_args))
    module = _module(node)
    x = torch.rand(2, *shape)
    direct = torch.nn.functional.conv2d(x, *(getattr(module, a) for a in op.functional.attrs))
    assert not torch.allclose(direct, module(x))
    single = snndsl.generate(_spec(shape, call), mode="single")
    assert "F.conv2d" not in single and "self.layer(" in single
