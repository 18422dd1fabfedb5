"""``snndsl trace``: the rates table, the PNG and SVG pictures (checked by decoding them,
not by eye), the message when matplotlib is missing, and the recording probe."""

from __future__ import annotations

import importlib.util
import io
import sys
import xml.etree.ElementTree as ET

import pytest
from conftest import ROOT

from snndsl.cli import main

SEED = ROOT / "specs" / "seed.snn"
CONV = ROOT / "specs" / "conv.snn"
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
needs_matplotlib = pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib not installed")
LAYERS = {SEED: ("if_1", "if_2"), CONV: ("sn1", "sn2", "sn3")}


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    target = tmp_path / "raster.png"
    assert main(["trace", str(SEED), "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert "matplotlib" in err and 'pip install "snndsl[plot]"' in err
    assert "Traceback" not in err
    assert not target.exists()


def test_unknown_suffix_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["trace", str(SEED), "-o", str(tmp_path / "raster.jpg")])
    assert exc.value.code == 2
    assert ".png, .svg" in capsys.readouterr().err


def test_probe_records_every_neuron_state():
    pytest.importorskip("torch")
    from snndsl.api import resolve
    from snndsl.exports.trace import run_trace

    trace = run_trace(SEED, steps=5, batch=3, seed=2)
    assert [t.name for t in trace.layers] == ["if_1", "if_2"]
    for t, node in zip(trace.layers, resolve(SEED).neurons):
        assert tuple(t.spikes.shape) == (5, 3, *node.shape)
        assert tuple(t.potential.shape) == (5, 3, *node.shape)
        assert t.state == node.states[0].name
        assert t.rate == pytest.approx(float((t.spikes != 0).float().mean()))
        assert 0.0 < t.rate < 1.0  # calibrated: firing, not saturated
    # the same rates as snndsl check reports (same weights, calibration and input)
    from snndsl.oracle.crosscheck import run_check

    report = run_check(SEED, steps=5, batch=3, seed=2, against="none")
    assert report.rates == [(t.name, pytest.approx(t.rate)) for t in trace.layers]


def _rates_printed(out: str, layers) -> None:
    lines = out.splitlines()
    header = next(
        i
        for i, line in enumerate(lines)
        if line.split()[:4] == ["layer", "neuron", "units", "rate"]
    )
    rows = [line.split() for line in lines[header + 1 : header + 1 + len(layers)]]
    assert [r[0] for r in rows] == list(layers)
    for r in rows:
        assert r[3].endswith("%")


@needs_matplotlib
@pytest.mark.parametrize("spec", [SEED, CONV], ids=["seed", "conv"])
def test_png_is_drawn_and_not_blank(spec, tmp_path, capsys):
    from matplotlib.image import imread

    target = tmp_path / "raster.png"
    assert main(["trace", str(spec), "-o", str(target)]) == 0
    _rates_printed(capsys.readouterr().out, LAYERS[spec])
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG")
    image = imread(io.BytesIO(data), format="png")
    height, width = image.shape[:2]
    assert width >= 600 and height >= 150 * (len(LAYERS[spec]) + 1)
    rgb = image[..., :3]
    background = (rgb > 0.98).all(axis=-1)
    assert (~background).mean() > 0.02  # axes, ticks, spikes, traces, bars
    assert rgb.std() > 0.05
    # some strongly coloured pixels: the bars and the membrane traces
    saturation = rgb.max(axis=-1) - rgb.min(axis=-1)
    assert (saturation > 0.3).sum() > 500
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raster.png"]


@needs_matplotlib
@pytest.mark.parametrize("spec", [SEED, CONV], ids=["seed", "conv"])
def test_svg_parses_and_names_every_layer(spec, tmp_path, capsys):
    target = tmp_path / "raster.svg"
    assert main(["trace", str(spec), "-o", str(target), "--steps", "6", "--batch", "2"]) == 0
    out = capsys.readouterr().out
    _rates_printed(out, LAYERS[spec])
    assert "T=6, N=2" in out
    text = target.read_text(encoding="utf-8")
    root = ET.fromstring(text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    for name in LAYERS[spec]:
        assert name in text
    assert "firing rate" in text
    assert text == target.read_text(encoding="utf-8")


@needs_matplotlib
def test_svg_is_deterministic(tmp_path):
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    assert main(["trace", str(SEED), "-o", str(a)]) == 0
    assert main(["trace", str(SEED), "-o", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()


def test_rates_table_without_drawing():
    pytest.importorskip("torch")
    from snndsl.exports.trace import run_trace

    table = run_trace(CONV).table()
    assert table.startswith("network ConvNet: T=8, N=4, seed=1")
    _rates_printed(table, LAYERS[CONV])


def test_given_weights_and_input_are_what_runs(tmp_path):
    """--weights and --input replace the seeded weights and input: the recorded spikes are
    the generated module's own on them, and T and N come from the input."""
    torch = pytest.importorskip("torch")
    import snndsl
    from snndsl.exports.trace import run_trace

    torch.manual_seed(7)
    module = snndsl.load(str(SEED), mode="multi")()
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(3.0)
    xs = torch.rand(5, 3, 8) * 2
    trace = run_trace(SEED, weights=module.state_dict(), inputs=xs)
    assert (trace.steps, trace.batch) == (5, 3)
    assert "weights: as given" in trace.notes and "input: as given" in trace.notes
    probe = snndsl.load(str(SEED), mode="multi")()
    probe.load_state_dict(module.state_dict())
    with torch.no_grad():
        y = probe(xs)
    assert torch.equal(trace.layers[-1].spikes, y) and 0 < trace.layers[-1].rate < 1


@pytest.mark.parametrize(
    "inputs, message",
    [
        ("shape", "input 'x': expected [T, N, 8] with T, N >= 1, got [5, 3, 7]"),
        ("names", "do not match the network's inputs ['x']"),
        ("count", "2 input tensors for 1 inputs ['x']"),
        ("int", "input 'x': expected a float tensor"),
    ],
)
def test_inputs_that_do_not_fit_are_reported(tmp_path, capsys, inputs, message):
    torch = pytest.importorskip("torch")
    bad = {
        "shape": torch.rand(5, 3, 7),
        "names": {"y": torch.rand(5, 3, 8)},
        "count": [torch.rand(5, 3, 8), torch.rand(5, 3, 8)],
        "int": torch.zeros(5, 3, 8, dtype=torch.int64),
    }[inputs]
    path = tmp_path / "x.pt"
    torch.save(bad, path)
    target = tmp_path / "t.png"
    assert main(["trace", str(SEED), "--input", str(path), "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not target.exists()


def test_weights_that_do_not_fit_are_reported(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    path = tmp_path / "w.pt"
    torch.save({"nope.weight": torch.zeros(2)}, path)
    target = tmp_path / "t.png"
    assert main(["trace", str(SEED), "--weights", str(path), "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert "the weights do not fit network Seed" in err and "nope.weight" in err
    assert not target.exists()
    path.write_bytes(b"junk")
    assert main(["trace", str(SEED), "--weights", str(path), "-o", str(target)]) == 1
    assert "cannot read weights" in capsys.readouterr().err
