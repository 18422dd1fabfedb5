"""Golden workflow: `generate --check` and snndsl.testing.assert_generated."""

from __future__ import annotations

import os

import pytest
from conftest import ROOT

import snndsl
from snndsl.cli import main
from snndsl.testing import assert_generated

SEED = str(ROOT / "specs" / "seed.snn")


def test_check_passes_on_a_current_file_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "seed.py"
    assert main(["generate", SEED, "--mode", "single", "-o", str(out)]) == 0
    before = os.stat(out)
    assert main(["generate", SEED, "--mode", "single", "-o", str(out), "--check"]) == 0
    after = os.stat(out)
    assert (before.st_mtime_ns, before.st_ino) == (after.st_mtime_ns, after.st_ino)
    assert capsys.readouterr().out == ""


def test_check_fails_with_a_diff_and_leaves_the_file(tmp_path, capsys):
    out = tmp_path / "seed.py"
    main(["generate", SEED, "-o", str(out)])
    stale = out.read_text().replace("Linear(8, 4)", "Linear(8, 5)")
    out.write_text(stale)
    assert main(["generate", SEED, "-o", str(out), "--check"]) == 1
    captured = capsys.readouterr()
    assert "-        self.linear_1 = nn.Linear(8, 5)" in captured.out
    assert "+        self.linear_1 = nn.Linear(8, 4)" in captured.out
    assert "out of date" in captured.err
    assert out.read_text() == stale


def test_check_of_another_mode_or_option_fails(tmp_path):
    out = tmp_path / "seed.py"
    main(["generate", SEED, "--mode", "single", "-o", str(out)])
    assert main(["generate", SEED, "--mode", "multi", "-o", str(out), "--check"]) == 1
    assert main(["generate", SEED, "--mode", "single", "-o", str(out), "--check"]) == 0


def test_check_of_a_missing_file_fails_and_creates_nothing(tmp_path):
    out = tmp_path / "missing.py"
    assert main(["generate", SEED, "-o", str(out), "--check"]) == 1
    assert not out.exists()


def test_check_needs_an_output_file(capsys):
    assert main(["generate", SEED, "--check"]) == 2
    assert "--check needs -o FILE" in capsys.readouterr().err


def test_assert_generated(tmp_path):
    out = tmp_path / "net.py"
    out.write_text(snndsl.generate(SEED, mode="single", backend="eager"))
    assert_generated(SEED, out, mode="single")
    with pytest.raises(AssertionError, match="not what snndsl generates"):
        assert_generated(SEED, out, mode="multi")
    out.write_text(out.read_text() + "# edited\n")
    with pytest.raises(AssertionError, match=r"\+?-# edited"):
        assert_generated(SEED, out, mode="single")
