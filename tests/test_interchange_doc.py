"""docs/interchange.md stays runnable: its python blocks run in order, in one namespace,
and the printed node list is what they print; its sh block names the real options."""

from __future__ import annotations

import contextlib
import io
import re

import pytest
from conftest import ROOT

pytest.importorskip("torch")
pytest.importorskip("nir")
pytest.importorskip("nirtorch")

DOC = (ROOT / "docs" / "interchange.md").read_text(encoding="utf-8")


def test_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", DOC, re.S)
    assert len(blocks) == 3
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, "docs/interchange.md", "exec"), namespace)
    shown = re.search(r"print\(sorted\(graph.nodes\)\)\s+# (\[.*\])", blocks[0]).group(1)
    assert out.getvalue().splitlines()[0] == shown
    shown = re.search(r"print\(step.state_names\)\s+# (\(.*\))", blocks[1]).group(1)
    assert out.getvalue().splitlines()[1] == shown


def test_commands_match_the_cli():
    from snndsl.cli import build_parser

    sh = "".join(re.findall(r"```sh\n(.*?)```", DOC, re.S))
    parser = build_parser()
    for line in sh.strip().splitlines():
        words = re.sub(r"\[([^\]]*)\]", r"\1", line).split()[1:]
        parser.parse_args(words)  # exits (SystemExit) on an unknown option
