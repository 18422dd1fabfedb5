"""The wheel carries the grammar, the templates and the prelude, and works on its own."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
from conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    if build.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{build.stdout}\n{build.stderr}")
    (path,) = out.glob("snndsl-*.whl")
    return path


def test_wheel_contains_data_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "snndsl/grammar/snn.lark",
        "snndsl/templates/module.py.j2",
        "snndsl/templates/blocks.py.j2",
        "snndsl/templates/triton.py.j2",
        "snndsl/prelude/builtin.snn",
    ):
        assert required in names, required


def test_unpacked_wheel_generates_without_the_source_tree(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    spec = tmp_path / "net.snn"
    spec.write_text((ROOT / "specs" / "seed.snn").read_text())
    code = (
        "import sys, snndsl; assert snndsl.__file__.startswith(sys.argv[1]), snndsl.__file__;"
        "sys.stdout.write(snndsl.generate(sys.argv[2], 'multi'))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(site), str(spec)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "class Seed(nn.Module):" in run.stdout


def test_wheel_registers_the_pygments_lexer(wheel):
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    assert "snndsl/editors/pygments_lexer.py" in names
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = archive.read(entry_points).decode()
    assert "[pygments.lexers]\nsnn = snndsl.editors.pygments_lexer:SnnLexer" in text
