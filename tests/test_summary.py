"""snndsl summary: counts from the IR against the generated modules, SynOps, the CLI.

Parameter and buffer counts are compared with the generated modules of every shipped spec,
node by node; state sizes with the tensors the single-step module holds after its first
steps; SynOps with hand-computed cases and with torch's own FLOP counter.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import ROOT, SPECS, multi_step_only, spec_id

import snndsl
from snndsl import ir
from snndsl.backends.torch.naming import module_names
from snndsl.cli import main
from snndsl.exports.summary import NetworkSummary, node_name, summarize

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

SEED = ROOT / "specs" / "seed.snn"
CONV = ROOT / "specs" / "conv.snn"
ERROR_LINE = re.compile(r"^(?P<path>.+):(?P<line>\d+):(?P<col>\d+): error\[(?P<code>E\d{4})\]: ")

# Every synaptic layer kind, small enough to count by hand.
HAND = """\
network Hand {
    input x: [3, 8]
    input img: [4, 9, 9]
    output a = x -> fc: Linear(5)
    output b = x -> c1: Conv1d(4, 3, padding=1)
    output c = img
        -> c2: Conv2d(8, 3, stride=2, groups=2)
        -> t2: ConvTranspose2d(2, 2, stride=2, bias=false)
        -> sn: LIF
}
"""
# fc: Linear(8 -> 5) at each of 3 positions: 3 * 8 * 5 = 120 MACs; 8 * 5 + 5 = 45 params.
# c1: Conv1d(3 -> 4, k=3, padding 1): 8 output positions * 4 * 3 * 3 = 288; 36 + 4 = 40.
# c2: Conv2d(4 -> 8, k=3, stride 2, groups 2): 4x4 outputs * 8 * (4 / 2) * 9 = 2304;
#     8 * 2 * 9 + 8 = 152 params.
# t2: ConvTranspose2d(8 -> 2, k=2, stride 2): 4x4 inputs scatter 8 * 2 * 4 = 1024; 64 params.
HAND_COUNTS = {
    "fc": (45, 120, (3, 5)),
    "c1": (40, 288, (4, 8)),
    "c2": (152, 2304, (8, 4, 4)),
    "t2": (64, 1024, (2, 8, 8)),
}


def _modes(spec) -> list[str]:
    return ["multi"] if multi_step_only(spec) else ["single", "multi"]


def _submodule_counts(module, name: str) -> tuple[int, int]:
    try:
        sub = module.get_submodule(name)  # a layer's name is its module path
    except AttributeError:
        return 0, 0
    return (
        sum(p.numel() for p in sub.parameters()),
        sum(b.numel() for b in sub.buffers()),
    )


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("spec", "mode"),
    [(spec, mode) for spec in SPECS for mode in _modes(spec)],
    ids=lambda v: spec_id(v) if hasattr(v, "name") else v,
)
def test_parameter_and_buffer_counts_equal_the_generated_module(spec, mode):
    summary = snndsl.summary(str(spec))
    module = snndsl.load(str(spec), mode=mode)()
    assert summary.params == sum(p.numel() for p in module.parameters())
    assert summary.buffers == sum(b.numel() for b in module.buffers())
    assert summary.params > 0
    # a layer's row is named by its module path; a value (a merge's) may share a group's
    layers = {
        ir.module_key(n)
        for n in snndsl.resolve(str(spec)).nodes
        if isinstance(n, (ir.LayerIR, ir.NeuronIR, ir.ParallelIR))
    }
    for row in summary.nodes:
        held = _submodule_counts(module, row.name) if row.name in layers else (0, 0)
        assert (row.params, row.buffers) == held, row.name


def test_every_shipped_spec_is_covered():
    names = {p.name for p in SPECS}
    assert names >= {"seed.snn", "conv.snn", "mlp.yaml", "custom.snn", "zoo.snn", "psn.snn"}


def test_buffers_are_not_parameters():
    summary = snndsl.summary(str(CONV))
    bn1 = next(r for r in summary.nodes if r.name == "bn1")
    assert (bn1.params, bn1.buffers) == (16, 17)  # weight, bias; running mean, var, count
    text = summary.render()
    assert "buffers (not parameters): 17 (bn1 17)" in text
    assert f"parameters: {summary.params:,}\n" in text


def test_parameter_counts_follow_the_arguments():
    spec = """\
network Args {
    input x: [6, 5, 5]
    output y = x
        -> bn: BatchNorm2d(affine=false, track_running_stats=false)
        -> gn: GroupNorm(3)
        -> ln: LayerNorm([5, 5], bias=false)
        -> ln2: LayerNorm(elementwise_affine=false)
        -> c: Conv2d(6, 3, groups=3, bias=false)
        -> flat: Flatten
        -> fc: Linear(4, bias=false)
        -> sn: ParametricLIF
}
"""
    rows = {r.name: r for r in snndsl.summary(spec).nodes}
    got = {name: (rows[name].params, rows[name].buffers) for name in rows}
    assert got == {
        "x": (0, 0),
        "bn": (0, 0),
        "gn": (12, 0),
        "ln": (25, 0),
        "ln2": (0, 0),
        "c": (6 * 2 * 9, 0),
        "flat": (0, 0),
        "fc": (6 * 9 * 4, 0),
        "sn": (1, 0),
    }
    module = snndsl.load(spec, mode="single")()
    for name, counts in got.items():
        assert counts == _submodule_counts(module, name), name


# --------------------------------------------------------------------------- state


def _held_state(module, net, steps: int, batch: int) -> dict[str, int]:
    """Elements per sample of every tensor the module keeps between calls, by attribute."""
    torch.manual_seed(0)
    module.train()
    recorded = {n.v_seq for n in net.neurons if n.v_seq}
    for _ in range(steps):
        module(*(torch.rand(batch, *i.shape) * 4 for i in net.inputs))
    held = {}
    for attr, value in vars(module).items():
        tensors = value if isinstance(value, list) else [value]
        if attr in recorded or not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
            continue
        total = sum(t.numel() for t in tensors)
        assert total % batch == 0, attr
        held[attr] = total // batch
    return held


def _state_attrs(net) -> dict[str, str]:
    """The module attributes holding state, by the summary row (node name) owning them."""
    out = {}
    names = module_names(net)
    for n in net.nodes:
        attrs = []
        if isinstance(n, ir.NeuronIR):
            attrs = [names.state(n, s.name) for s in n.states]
        elif isinstance(n, ir.DropoutIR):
            attrs = [names.masks[n.value]]
        elif isinstance(n, ir.DelayIR):
            attrs = [names.delays[n.value]]
        elif isinstance(n, ir.ParallelIR):
            attrs = [names.queues[n.attr], names.steps[n.attr]]
        out.update((a, node_name(n)) for a in attrs)
    return out


@pytest.mark.parametrize("spec", [s for s in SPECS if not multi_step_only(s)], ids=spec_id)
def test_state_sizes_equal_the_single_step_module(spec):
    """One step fills every neuron state and mask; k steps fill a k-input window."""
    net = snndsl.resolve(str(spec))
    summary = summarize(net)
    steps = max([1, *(n.window or 1 for n in net.parallels)])
    held = _held_state(snndsl.load(str(spec), mode="single")(), net, steps, batch=3)
    owner = _state_attrs(net)
    claimed: dict[str, str] = {}
    for row in summary.nodes:
        mine = [a for a in held if owner.get(a) == row.name]
        for a in mine:
            assert a not in claimed, (a, row.name, claimed.get(a))
            claimed[a] = row.name
        assert row.state == sum(held[a] for a in mine), row.name
    assert sorted(claimed) == sorted(held)  # no held tensor is missing from the summary
    assert summary.state == sum(held.values()) > 0
    assert summary.state_bytes == 4 * summary.state


def test_state_of_the_conv_net():
    rows = {r.name: r for r in snndsl.summary(str(CONV)).nodes}
    assert (rows["sn1"].state, rows["sn1"].state_of) == (8 * 28 * 28, "v")
    assert (rows["drop"].state, rows["drop"].state_of) == (1568, "mask, training only")
    assert rows["fc1"].state == 0
    text = snndsl.summary(str(CONV)).render()
    assert "dropout masks 1,568, training only" in text


def test_state_of_neurons_with_two_variables_and_windows():
    rows = {r.name: r for r in snndsl.summary(str(ROOT / "specs" / "zoo.snn")).nodes}
    assert (rows["sn5"].state, rows["sn5"].state_of) == (16, "v, w")
    assert (rows["sn17"].state, rows["sn17"].state_of) == (24, "last 3 inputs")
    assert (rows["sn18"].state, rows["sn18"].state_of) == (32, "last 4 inputs")


def test_parallel_neurons_without_a_single_step_form_hold_no_state():
    summary = snndsl.summary(str(ROOT / "specs" / "psn.snn"))
    rows = {r.name: r for r in summary.nodes}
    assert (rows["psn"].state, rows["masked"].state) == (0, 0)
    assert (rows["psn"].params, rows["masked"].params, rows["sliding"].params) == (72, 72, 5)
    assert any(n.startswith("psn: no single-step form") for n in summary.notes)


# --------------------------------------------------------------------------- SynOps


def test_synops_hand_computed():
    summary = snndsl.summary(HAND)
    rows = {r.name: r for r in summary.nodes}
    for name, (params, synops, shape) in HAND_COUNTS.items():
        assert (rows[name].params, rows[name].synops, rows[name].shape) == (params, synops, shape)
    assert rows["sn"].synops is None and rows["x"].synops is None
    assert summary.synops == 120 + 288 + 2304 + 1024
    assert summary.params == 45 + 40 + 152 + 64


def _torch_synops(spec, net, mode: str, batch: int) -> dict:
    """torch's FLOP count of each layer of the generated module, run on its own input
    shape (the single-step form calls some layers functionally, so counting inside the
    network's forward would not attribute them), per sample."""
    module = snndsl.load(spec, mode=mode)()
    out = {}
    for n in net.layers:
        layer = module.get_submodule(ir.module_key(n))
        with FlopCounterMode(display=False) as counter:
            layer(torch.rand(batch, *n.in_shape))
        total = counter.get_total_flops()
        if total:
            out[ir.module_key(n)] = total // (2 * batch)
    for m in net.nodes:  # MatMul: a product of two activations, torch.matmul's FLOPs
        if isinstance(m, ir.MergeIR) and m.op == "matmul":
            a, b = (torch.rand(batch, *net.shape_of(s)) for s in m.sources)
            with FlopCounterMode(display=False) as counter:
                torch.matmul(a, b)
            out[m.value] = counter.get_total_flops() // (2 * batch)
    return out


@pytest.mark.parametrize(
    "spec", [*SPECS, "HAND"], ids=lambda p: spec_id(p) if hasattr(p, "name") else p
)
def test_synops_equal_torch_flop_counts(spec):
    """torch counts 2 FLOPs per multiply-accumulate of Linear and every convolution."""
    text = HAND if spec == "HAND" else str(spec)
    net = snndsl.resolve(text)
    mode = "multi" if spec != "HAND" and multi_step_only(spec) else "single"
    measured = _torch_synops(text, net, mode, batch=2)
    counted = {r.name: r.synops for r in summarize(net).nodes if r.synops is not None}
    assert counted == measured


def test_render_columns_and_totals():
    text = snndsl.summary(str(SEED)).render()
    lines = text.splitlines()
    assert lines[0] == "network Seed: per sample and per time step (no T, no N)"
    assert lines[1].split() == ["node", "output", "params", "state", "SynOps/step", "op"]
    assert lines[4].split()[:5] == ["linear_1", "[4]", "36", "32", "Linear(in_features=8,"]
    assert lines[5].split()[:5] == ["if_1", "[4]", "0", "4", "(v)"]
    assert "parameters: 46" in lines
    assert "state per sample: 6 elements = 24 bytes as float32" in lines
    assert any(line.startswith("SynOps per step per sample: 40 ") for line in lines)


def test_summary_is_a_typed_result():
    s = snndsl.summary(str(CONV), params={"channels": 4})
    assert isinstance(s, NetworkSummary)
    conv1 = next(r for r in s.nodes if r.name == "conv1")
    assert (conv1.op, conv1.kind, conv1.shape, conv1.params) == ("Conv2d", "layer", (4, 28, 28), 36)
    assert s.render() == snndsl.summary(str(CONV), params={"channels": 4}).render()


# --------------------------------------------------------------------------- CLI


def test_cli_summary(capsys):
    assert main(["summary", str(CONV)]) == 0
    out, err = capsys.readouterr()
    assert out == snndsl.summary(str(CONV)).render()
    assert err == ""


def test_cli_summary_set_and_network(tmp_path, capsys):
    assert main(["summary", str(CONV), "--set", "channels=4", "--set", "classes=3"]) == 0
    out = capsys.readouterr().out
    assert out == snndsl.summary(str(CONV), params={"channels": 4, "classes": 3}).render()
    assert "outputs: logits [3]" in out
    two = tmp_path / "two.snn"
    two.write_text(
        SEED.read_text(encoding="utf-8")
        + "network Other {\n    input x: [3]\n    output y = x -> IF\n}\n",
        encoding="utf-8",
    )
    assert main(["summary", str(two)]) == 1
    assert "error[E0105]" in capsys.readouterr().err
    assert main(["summary", str(two), "--network", "Other"]) == 0
    assert capsys.readouterr().out.startswith("network Other:")


def test_cli_summary_spec_error_is_located(tmp_path, capsys):
    bad = tmp_path / "bad.snn"
    bad.write_text("network N {\n    input x: [8]\n    output y = x -> Lnear(4)\n}\n")
    assert main(["summary", str(bad)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    m = ERROR_LINE.match(err)
    assert m and (m["path"], m["line"], m["col"], m["code"]) == (str(bad), "3", "21", "E0201")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["summary"],
        ["summary", "specs/seed.snn", "--set", "=3"],
        ["summary", "specs/seed.snn", "-o", "x"],
    ],
    ids=" ".join,
)
def test_cli_summary_usage_errors_exit_2(argv, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: snndsl" in capsys.readouterr().err


def test_cli_summary_does_not_import_torch():
    code = (
        "import sys, snndsl.cli; rc = snndsl.cli.main(['summary', 'specs/conv.snn']); "
        "assert rc == 0, rc; assert 'torch' not in sys.modules"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "parameters: 101,154" in proc.stdout


def test_names_and_ops_come_from_the_ir_fields():
    """A dropout's row is named by its step label, a merge's op is the spec's name."""
    net = snndsl.resolve("""
    network N {
        input x: [4]
        a = x -> drop: Dropout(0.1)
        b = x -> drop2: Dropout(0.2)
        s = Add(a, b)
        e = SEW(s, x, "IAND")
        c = Cat(e, x, dim=0)
        output y = Mul(a, b, x)
        output z = c
    }
    """)
    drops = [n for n in net.nodes if isinstance(n, ir.DropoutIR)]
    masks = module_names(net).masks
    assert [(n.label, masks[n.value]) for n in drops] == [
        ("drop", "_drop_mask"),
        ("drop2", "_drop2_mask"),
    ]
    merges = [n for n in net.nodes if isinstance(n, ir.MergeIR)]
    assert [(n.op, n.op_name) for n in merges] == [
        ("add", "Add"),
        ("sew", "SEW"),
        ("cat", "Cat"),
        ("mul", "Mul"),
    ]
    rows = {r.name: r for r in summarize(net).nodes}
    assert [rows[k].op for k in ("drop", "drop2", "s", "e", "c")] == [
        "Dropout",
        "Dropout",
        "Add",
        "SEW",
        "Cat",
    ]


def test_tensor_ops_hold_nothing_and_matmul_counts_its_products():
    """Tensor operations are inline (no module, nothing held, not synaptic); MatMul of
    [*B, m, k] and [*B, k, n] is prod(B) * m * k * n multiply-accumulates."""
    text = """
    network Attn {
        input x: [2, 3, 4]
        k = x -> t: Transpose(-2, -1)
        output y = MatMul(x, k) -> s: Scale(0.125) -> f: Flatten -> v: VotingLayer(2)
    }
    """
    rows = {r.name: r for r in snndsl.summary(text).nodes}
    assert rows["t"].op == "Transpose" and rows["t"].kind == "layer"
    for name in ("t", "s", "f", "v"):
        assert (rows[name].params, rows[name].buffers, rows[name].synops) == (0, 0, None)
    matmul = next(r for r in rows.values() if r.op == "MatMul")
    assert matmul.shape == (2, 3, 3)
    assert matmul.synops == 2 * 3 * 4 * 3
    assert rows["v"].shape == (9,)
