"""docs/tutorial.md stays true: its spec, commands and code run in order, as written."""

from __future__ import annotations

import contextlib
import io
import re
import shlex

import pytest
from conftest import ROOT

pytest.importorskip("torch")
pytest.importorskip("sklearn")

DOC = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")


def test_the_tutorial_runs(tmp_path, monkeypatch, capsys):
    from snndsl.cli import main

    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```(snn|sh|python)\n(.*?)```", DOC, re.S)
    assert [kind for kind, _ in blocks] == ["snn", "sh", "python", "python", "python", "sh"]
    namespace: dict = {}
    for kind, text in blocks:
        if kind == "snn":
            (tmp_path / "digits.snn").write_text(text, encoding="utf-8")
        elif kind == "sh":
            for line in text.strip().splitlines():
                words = shlex.split(line)
                assert words[0] == "snndsl"
                assert main(words[1:]) == 0, line
        else:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(text, "docs/tutorial.md", "exec"), namespace)
    assert namespace["accuracy"] > 0.8
    assert "PASS" in capsys.readouterr().out  # the check of step 2
    from snndsl.testing import assert_generated

    assert_generated("digits.snn", "digits_single.py", mode="single")
