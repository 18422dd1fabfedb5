"""Exports that keep their state: torch.export and ONNX of the generated modules.

A single-step module keeps its neuron state in plain attributes, which a traced export
bakes in; snndsl.exports.onnx.stateful_step passes the state in and out instead.  These
tests step the exports T times, feeding the state back, against eager stepping.
"""

from __future__ import annotations

import pytest
from conftest import ROOT

torch = pytest.importorskip("torch")

import snndsl  # noqa: E402
from snndsl.exports.onnx import onnx_bytes, state_specs, stateful_step  # noqa: E402

SPECS = {  # spec, input scale (so that the neurons fire)
    "seed": ("specs/seed.snn", 1.0),
    "conv": ("specs/conv.snn", 3.0),
    "shd_rnn": ("specs/shd_rnn.snn", 3.0),
}
T, N = 6, 3


def _models(name: str):
    """A single-step and a multi-step module with the same weights, and T inputs."""
    path, scale = SPECS[name]
    torch.manual_seed(0)
    single = snndsl.load(ROOT / path, "single")().eval()
    if name == "seed":  # positive weights, so that both IF layers fire now and then
        with torch.no_grad():
            for p in single.parameters():
                p.abs_()
    multi = snndsl.load(ROOT / path, "multi")().eval()
    multi.load_state_dict(single.state_dict())
    net = type(single).__snndsl_network__
    xs = [torch.rand(N, *net.inputs[0].shape) * scale for _ in range(T)]
    return single, multi, xs


def _eager(single, xs, dtype=torch.float32):
    single.reset()
    model = single if dtype == torch.float32 else _copy(single).to(dtype)
    with torch.no_grad():
        ys = [model(x.to(dtype)) for x in xs]
    single.reset()
    return ys


def _copy(single):
    clone = type(single)().eval()
    clone.load_state_dict(single.state_dict())
    return clone


def test_state_names_and_order():
    single, _, _ = _models("shd_rnn")
    step = stateful_step(single)
    assert step.input_names == ("x",)
    assert step.state_names == ("state_delay_1_prev", "state_sn1_v")
    assert step.output_names == ("scores", "new_state_delay_1_prev", "new_state_sn1_v")
    states = step.initial_states(N)
    assert [tuple(s.shape) for s in states] == [(N, 128), (N, 128)]
    assert all(float(s.abs().sum()) == 0.0 for s in states)
    seed = stateful_step(_models("seed")[0])
    assert seed.state_names == ("state_if_1_v", "state_if_2_v")


@pytest.mark.parametrize("name", sorted(SPECS))
def test_torch_export_steps_bit_identical(name):
    single, _, xs = _models(name)
    ref = _eager(single, xs)
    assert any(float(y.abs().sum()) > 0 for y in ref), "the test needs activity"
    step = stateful_step(single)
    states = step.initial_states(N)
    program = torch.export.export(step, (xs[0], *states))
    run = program.module()
    with torch.no_grad():
        for t, x in enumerate(xs):
            y, *states = run(x, *states)
            assert torch.equal(y, ref[t]), f"step {t}"
    # the wrapped module's own state is untouched by the wrapper
    assert single._batch is None


@pytest.mark.filterwarnings("ignore:The tensor attributes")
@pytest.mark.parametrize("name", ["seed", "shd_rnn"])
def test_plain_export_drops_state(name):
    """Why the wrapper exists: exporting the module itself keeps step 0's state."""
    single, _, xs = _models(name)
    ref = _eager(single, xs)
    run = torch.export.export(single, (xs[0],)).module()
    single.reset()
    with torch.no_grad():
        got = [run(x) for x in xs]
    assert torch.equal(got[0], ref[0])
    assert any(not torch.equal(g, r) for g, r in zip(got[1:], ref[1:]))


def test_refuses_a_queue():
    sliding = "network S {\n input x: [4]\n output y = x -> sn: SlidingPSN(3)\n}\n"
    with pytest.raises(ValueError, match="queue"):
        state_specs(snndsl.resolve(sliding))


def test_store_v_seq_is_not_carried():
    """The recording is written by each step, never read: the export leaves it out, and
    the module's own recording is left as it was."""
    spec = "network R {\n input x: [3]\n output y = x -> sn: LIF(store_v_seq=true)\n}\n"
    model = snndsl.load(spec, "single")().eval()
    step = stateful_step(model)
    assert step.state_names == ("state_sn_v",)
    xs = [torch.rand(2, 3) * 2 for _ in range(5)]
    ref = _eager(model, xs)
    states = step.initial_states(2)
    run = torch.export.export(step, (xs[0], *states)).module()
    seq = []
    with torch.no_grad():
        for t, x in enumerate(xs):
            y, *states = run(x, *states)
            assert torch.equal(y, ref[t])
            seq.append(states[0])
    with torch.no_grad():
        for x in xs:
            model(x)
    assert torch.equal(torch.stack(seq), model.sn_v_seq)


# ---------------------------------------------------------------------------- ONNX


def _session(data: bytes):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name", sorted(SPECS))
def test_onnx_single_step_matches_eager(name):
    pytest.importorskip("onnxscript")
    single, _, xs = _models(name)
    ref = _eager(single, xs)
    ref64 = _eager(single, xs, torch.float64)
    # float32 rounding of the eager module itself, measured against float64: ONNX
    # Runtime may order float operations differently, by no more than that much again
    rounding = max(float((r.double() - r64).abs().max()) for r, r64 in zip(ref, ref64))
    scale = max(float(r.abs().max()) for r in ref)
    bound = 2 * rounding + 4 * torch.finfo(torch.float32).eps * scale
    session = _session(onnx_bytes(single, "single", batch_size=N))
    step = stateful_step(single)
    names = [i.name for i in session.get_inputs()]
    assert names == [*step.input_names, *step.state_names]
    assert [o.name for o in session.get_outputs()] == list(step.output_names)
    states = [s.numpy() for s in step.initial_states(N)]
    for t, x in enumerate(xs):
        y, *states = session.run(None, dict(zip(names, [x.numpy(), *states])))
        diff = float((torch.from_numpy(y) - ref[t]).abs().max())
        assert diff <= bound, f"step {t}: {diff} > {bound}"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_onnx_multi_step_matches_eager(name):
    pytest.importorskip("onnxscript")
    _, multi, xs = _models(name)
    seq = torch.stack(xs)
    with torch.no_grad():
        ref = multi(seq)
    multi.reset()
    session = _session(onnx_bytes(multi, "multi", batch_size=N, steps=T))
    (y,) = session.run(None, {session.get_inputs()[0].name: seq.numpy()})
    assert float((torch.from_numpy(y) - ref).abs().max()) <= 4 * torch.finfo(
        torch.float32
    ).eps * max(1.0, float(ref.abs().max()))


@pytest.mark.parametrize("mode", ["single", "multi"])
def test_cli_export_onnx(tmp_path, mode):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    from snndsl.cli import main

    single, _, _ = _models("seed")
    weights = tmp_path / "w.pt"
    torch.save(single.state_dict(), weights)
    out = tmp_path / "net.onnx"
    argv = ["export", str(ROOT / "specs/seed.snn"), "--weights", str(weights)]
    argv += ["--to", "onnx", "--mode", mode, "--batch", "2", "-o", str(out)]
    assert main(argv) == 0
    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    inputs = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    if mode == "single":
        assert inputs == ["x", "state_if_1_v", "state_if_2_v"]
        assert outputs == ["y", "new_state_if_1_v", "new_state_if_2_v"]
    else:
        assert inputs == ["x"] and outputs == ["y"]
        dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
        assert dims == [8, 2, 8]


def test_cli_export_onnx_refuses_a_queue(tmp_path, capsys):
    pytest.importorskip("onnxscript")
    from snndsl.cli import main

    spec = tmp_path / "s.snn"
    spec.write_text("network S {\n input x: [4]\n output y = x -> sn: SlidingPSN(3)\n}\n")
    model = snndsl.load(spec, "single")()
    weights = tmp_path / "w.pt"
    torch.save(model.state_dict(), weights)
    argv = ["export", str(spec), "--weights", str(weights), "--to", "onnx"]
    assert main([*argv, "-o", str(tmp_path / "s.onnx")]) != 0
    assert "queue" in capsys.readouterr().err
    assert not (tmp_path / "s.onnx").exists()


def test_cli_export_onnx_weights_that_do_not_fit(tmp_path, capsys):
    from snndsl.cli import main

    single, _, _ = _models("seed")
    weights = tmp_path / "w.pt"
    torch.save(single.state_dict(), weights)
    argv = ["export", str(ROOT / "specs/shd_rnn.snn"), "--weights", str(weights)]
    assert main([*argv, "--to", "onnx", "-o", str(tmp_path / "n.onnx")]) == 1
    assert "do not fit" in capsys.readouterr().err
    assert not (tmp_path / "n.onnx").exists()
