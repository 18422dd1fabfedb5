"""benchmarks/run.py end to end: a quick run of P1 and P4 writes a well-formed report.

Correctness only, never timing: the run must finish, every expected row must be there with
numbers in its cells (or a skip note for a library that is not installed), and every
snndsl variant must have passed its check against SpikingJelly.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"

pytest.importorskip("torch")

NUMBER = re.compile(r"^\d{1,3}(,\d{3})*(\.\d+)?$")
RATIO = re.compile(r"^\d+\.\d\d×$")


def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def sections(text: str) -> dict[str, str]:
    """Level-2 sections by the title's first word (``P1``, ``P4``, ``Notes``, ...)."""
    out = {}
    for chunk in text.split("\n## ")[1:]:
        title = chunk.split("\n", 1)[0]
        out[title.split(":")[0].split()[0]] = chunk
    return out


def tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table in ``text``: its rows (header first, rule dropped) as cells."""
    found, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(set(c) <= set("-:") for c in cells):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    return found


def check_rows(table: list[list[str]], expected: dict[str, bool]) -> None:
    """``expected``: label -> whether it must be measured (else a skip note is expected).
    Rows for snndsl variants beyond the default ones (``snndsl[...]``) must be measured."""
    header, *rows = table
    by_label = {row[0]: dict(zip(header, row)) for row in rows}
    for label in expected:
        assert label in by_label, f"row {label!r} missing from {list(by_label)}"
    for label, cells in by_label.items():
        measured = expected.get(label, label.startswith("snndsl"))
        numbers = [v for k, v in cells.items() if k.startswith(("median", "min", "max"))]
        ratios = [v for k, v in cells.items() if k.startswith("÷")]
        assert len(numbers) == 3 and ratios, cells
        if measured:
            assert all(NUMBER.match(v) and float(v.replace(",", "")) > 0 for v in numbers), cells
            assert all(RATIO.match(v) for v in ratios), cells
            assert NUMBER.match(cells["build + first call (s)"]), cells
        else:
            assert numbers == ["—"] * 3 and "skipped" in cells["note"], cells


def quick_backends() -> list[str]:
    """``--backends`` for the quick run: every snndsl backend but ``compile``, whose first
    torch.compile of each module takes about a minute on a small CPU with a cold cache
    (the compile backend has its own tests)."""
    import snndsl

    backends = list(getattr(snndsl, "BACKENDS", ()))
    if "compile" not in backends:
        return []
    return ["--backends", ",".join(b for b in backends if b != "compile")]


def test_quick_run_of_p1_and_p4(tmp_path):
    out = tmp_path / "bench.md"
    args = ["--quick", "--only", "P1,P4", "--out", str(out), *quick_backends()]
    proc = subprocess.run(
        [sys.executable, str(RUN), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,  # a smoke run; generous so a loaded machine cannot fail it
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text(encoding="utf-8")
    assert "## P1" in proc.stdout and "## P4" in proc.stdout  # the tables are printed too
    assert "FAILED" not in text and "EXCLUDED" not in text

    machine = {row[0]: row[1] for row in tables(text.split("\n## ")[0])[0][1:]}
    for key in ("CPU", "torch", "spikingjelly", "snntorch", "snndsl", "date"):
        assert machine.get(key), f"machine table lacks {key}: {machine}"
    assert re.match(r"\d+ logical", machine["cores"])
    assert "run.py --quick --only P1,P4 --out" in machine["command"]
    assert machine["snndsl variants"].startswith("snndsl")

    found = sections(text)
    assert {"P1", "P4"} <= set(found)
    assert not {"P2", "P3", "Peak", "Code"} & set(found), list(found)

    sj, snntorch = installed("spikingjelly"), installed("snntorch")
    (p1,) = tables(found["P1"])
    assert p1[0][:4] == ["variant", "median (ms)", "min (ms)", "max (ms)"]
    check_rows(
        p1,
        {
            "snndsl multi": True,
            "snndsl multi, forward_chunked(chunk=1, checkpoint=True)": True,
            "snndsl single, loop over T": True,
            "spikingjelly multi": sj,
            "spikingjelly single, loop over T": sj,
            "snntorch Leaky, loop over T": snntorch,
            "floor: relu(x)": True,
        },
    )
    assert dict((r[0], r[4]) for r in p1[1:])["snndsl multi"] == "1.00×"

    seed, conv = tables(found["P4"])
    for table in (seed, conv):
        assert table[0][1] == "median (µs/step)"
        check_rows(table, {"snndsl single": True, "spikingjelly single": sj})
    if sj:  # every snndsl variant was compared with SpikingJelly before timing
        for section in ("P1", "P4"):
            labels = [r[0] for t in tables(found[section]) for r in t[1:]]
            for label in labels:
                if label.startswith("snndsl"):
                    assert f"- {label}: outputs identical" in found[section], label


@pytest.mark.parametrize(
    "args, message",
    [(["--only", "P9"], "unknown section"), (["--backends", "nope"], "unknown backend")],
)
def test_usage_errors(args, message):
    proc = subprocess.run(
        [sys.executable, str(RUN), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 2 and message in proc.stderr


def test_synthetic_codegen_spec_has_the_requested_node_count():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import problems
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    import snndsl

    summary = snndsl.summary(problems.chain_spec(20))
    ops = [node.op for node in summary.nodes]
    assert ops.count("Linear") == 10 and ops.count("LIF") == 10
