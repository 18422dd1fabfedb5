"""specs/spikformer.snn against SpikingJelly 2.0.0's Spikformer, built by hand.

The reference is the patch stem and one ``SpikformerBlock`` of SpikingJelly's
``model/spikformer.py`` (patch_size=4), with SpikingJelly's own
``layer.SpikingSelfAttention`` inside.  The ``model`` package cannot be imported here (it
needs h5py and torchvision), so ``SpikformerPatchStem``, ``SpikformerMLP`` and
``SpikformerBlock`` are rebuilt below from SpikingJelly's layers and neurons, forward
line for line and every module under SpikingJelly's path, so that the generated module's
``state_dict`` loads into it strictly with the keys renamed from the spec's labels.

Both generated forms are compared with it: outputs and every LIF's final membrane
bit-identical, gradients within 1e-6 relative (as tests/test_zoo.py does).  The weights are
calibrated first (as ``snndsl check`` does) so that every neuron layer fires.
"""

from __future__ import annotations

import torch
from conftest import ROOT, require_spikingjelly
from torch import nn

import snndsl
from snndsl import ir

SPEC = str(ROOT / "specs" / "spikformer.snn")
DIM, HEADS, GRID = 32, 2, 4
GRAD_TOLERANCE = 1e-6


def _paths() -> dict[str, str]:
    """The spec's labels under SpikingJelly's module paths."""
    paths = {}
    for i in range(4):
        for j, part in enumerate(("conv", "bn")):
            paths[f"patch_embed_stage{i}_{part}"] = f"patch_embed.stages.{i}.conv_bn.block.{j}"
        paths[f"patch_embed_stage{i}_lif"] = f"patch_embed.stages.{i}.neuron"
    paths["patch_embed_rpe_conv"] = "patch_embed.positional_encoding.conv_bn.block.0"
    paths["patch_embed_rpe_bn"] = "patch_embed.positional_encoding.conv_bn.block.1"
    paths["patch_embed_rpe_lif"] = "patch_embed.positional_encoding.neuron"
    for part in ("qkv", "proj"):
        paths[f"block0_attn_{part}_conv"] = f"block.attn.{part}_conv_bn.0"
        paths[f"block0_attn_{part}_bn"] = f"block.attn.{part}_conv_bn.1"
        paths[f"block0_attn_{part}_lif"] = f"block.attn.{part}_lif"
    paths["block0_attn_attn_lif"] = "block.attn.attn_lif"
    for k in (1, 2):
        paths[f"block0_mlp_fc{k}_conv"] = f"block.mlp.fc{k}.0"
        paths[f"block0_mlp_fc{k}_bn"] = f"block.mlp.fc{k}.1"
        paths[f"block0_mlp_fc{k}_lif"] = f"block.mlp.neuron{k}"
    return paths


def _lif():
    from spikingjelly.activation_based import neuron

    return neuron.LIFNode(tau=2.0, detach_reset=True, step_mode="m")


class _ConvBNLIF(nn.Module):  # model/spikformer.py: SpikformerConv2dBNLIF
    def __init__(self, cin: int, cout: int, pool: bool):
        from spikingjelly.activation_based import layer

        super().__init__()
        layers = [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)]
        if pool:
            layers.append(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        self.conv_bn = nn.Module()
        self.conv_bn.block = layer.SeqToANNContainer(*layers)
        self.neuron = _lif()

    def forward(self, x_seq):
        return self.neuron(self.conv_bn.block(x_seq))


class _PatchStem(nn.Module):  # SpikformerPatchStem(patch_size=4)
    def __init__(self, dim: int):
        super().__init__()
        dims = [dim // 8, dim // 4, dim // 2, dim]
        ins = [3, *dims[:-1]]
        self.stages = nn.Sequential(
            *(_ConvBNLIF(i, o, k >= 2) for k, (i, o) in enumerate(zip(ins, dims)))
        )
        self.positional_encoding = _ConvBNLIF(dim, dim, False)

    def forward(self, x_seq):
        x_seq = self.stages(x_seq)
        residual = x_seq
        x_seq = self.positional_encoding(x_seq)
        return x_seq + residual


class _MLP(nn.Module):  # SpikformerMLP
    def __init__(self, dim: int, hidden: int):
        from spikingjelly.activation_based import layer

        super().__init__()
        self.fc1 = layer.SeqToANNContainer(
            nn.Conv1d(dim, hidden, kernel_size=1, bias=False), nn.BatchNorm1d(hidden)
        )
        self.neuron1 = _lif()
        self.fc2 = layer.SeqToANNContainer(
            nn.Conv1d(hidden, dim, kernel_size=1, bias=False), nn.BatchNorm1d(dim)
        )
        self.neuron2 = _lif()

    def forward(self, x_seq):
        x_seq = self.neuron1(self.fc1(x_seq))
        return self.neuron2(self.fc2(x_seq))


class _Block(nn.Module):  # SpikformerBlock(dim, num_heads, mlp_ratio=4.0)
    def __init__(self, dim: int, heads: int):
        from spikingjelly.activation_based.layer.attention import SpikingSelfAttention

        super().__init__()
        self.attn = SpikingSelfAttention(dim=dim, num_heads=heads)
        self.mlp = _MLP(dim, 4 * dim)

    def forward(self, x_seq):
        T, N, C, H, W = x_seq.shape
        x_tokens = x_seq.flatten(3)
        x_tokens = x_tokens + self.attn(x_tokens)
        x_tokens = x_tokens + self.mlp(x_tokens)
        return x_tokens.reshape(T, N, C, H, W).contiguous()


class _Reference(nn.Module):
    def __init__(self):
        from spikingjelly.activation_based import functional

        super().__init__()
        self.patch_embed = _PatchStem(DIM)
        self.block = _Block(DIM, HEADS)
        functional.set_step_mode(self, "m")

    def forward(self, x_seq):
        return self.block(self.patch_embed(x_seq))


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def test_spikformer_shapes_and_layers():
    net = snndsl.resolve(SPEC)
    assert net.inputs[0].shape == (3, 16, 16) and net.outputs[0].shape == (DIM, GRID, GRID)
    ops = {n.value.removeprefix("block0_attn_"): n for n in net.nodes}
    assert ops["qkv"].shape == (3, HEADS, DIM // HEADS, GRID * GRID)
    assert ops["k"].shape == (HEADS, GRID * GRID, DIM // HEADS)
    assert isinstance(ops["vk"], ir.MergeIR) and ops["vk"].op == "matmul"
    assert ops["vk"].shape == (HEADS, DIM // HEADS, DIM // HEADS)
    held = {n.attr for n in net.nodes if isinstance(n, (ir.LayerIR, ir.NeuronIR))}
    assert set(_paths()) == held - {"patch_embed_stage2_pool", "patch_embed_stage3_pool"}


def _in_reference(node, paths) -> bool:
    """Whether ``node`` is a layer or neuron the reference has a module for."""
    return isinstance(node, (ir.LayerIR, ir.NeuronIR)) and node.attr in paths


def test_spikformer_matches_spikingjelly():
    require_spikingjelly()
    from snndsl.oracle.calibrate import calibrate_weights
    from snndsl.oracle.crosscheck import run_single

    net = snndsl.resolve(SPEC)
    torch.manual_seed(0)
    multi = snndsl.load(SPEC, mode="multi")()
    single = snndsl.load(SPEC, mode="single")()
    x = torch.rand(4, 2, 3, 16, 16)
    calibrate_weights(net, multi, [x])
    single.load_state_dict(multi.state_dict())
    paths = _paths()
    # the generated module's path of each layer (patch_embed.stage0.conv) -> the reference's
    by_key = {ir.module_key(n): paths[n.attr] for n in net.nodes if _in_reference(n, paths)}

    def theirs(key: str) -> str:
        held, leaf = key.rsplit(".", 1)
        return f"{by_key[held]}.{leaf}"

    ref = _Reference()
    renamed = {theirs(key): value.clone() for key, value in multi.state_dict().items()}
    ref.load_state_dict(renamed)  # strict: every key of both
    for m in (multi, single, ref):
        m.eval()
    x_m, x_s, x_r = (x.clone().requires_grad_(True) for _ in range(3))
    y_m, y_r = multi(x_m), ref(x_r)
    y_s = run_single(single, [x_s])[0]
    assert torch.equal(y_m, y_r) and torch.equal(y_s, y_r)
    lifs = [n.attr for n in net.neurons]
    for label in lifs:
        v_ref = ref.get_submodule(paths[label]).v
        assert torch.equal(getattr(multi, f"_{label}_v"), v_ref), label
        assert torch.equal(getattr(single, f"_{label}_v"), v_ref), label
    attn = ref.block.attn.attn_lif
    assert 0 < float(attn.v.detach().abs().sum()), "the attention LIF sees input"
    w = torch.randn(y_m.shape, generator=torch.Generator().manual_seed(7))
    for y in (y_m, y_s, y_r):
        (y * w).sum().backward()
    assert x_r.grad.abs().max() > 0
    assert _rel(x_m.grad, x_r.grad) <= GRAD_TOLERANCE
    assert _rel(x_s.grad, x_r.grad) <= GRAD_TOLERANCE
    ref_params = dict(ref.named_parameters())
    for module in (multi, single):
        for key, p in module.named_parameters():
            q = ref_params[theirs(key)]
            assert _rel(p.grad, q.grad) <= GRAD_TOLERANCE, key


def test_spikformer_check_passes():
    require_spikingjelly()
    from snndsl.oracle.crosscheck import run_check

    report = run_check(SPEC, steps=4, batch=2)
    assert report.ok, report.render()
    assert any(r.label.startswith("multi vs SpikingJelly: output") for r in report.rows)
    assert all(rate > 0 for _, rate in report.rates), report.rates
