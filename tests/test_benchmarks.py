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


# --------------------------------------------------------------------------- harness units
# The pieces below time nothing: variant selection, the correctness check's policy and
# the combination of several runs into one report.


@pytest.fixture
def bench_modules(monkeypatch):
    """benchmarks/harness, problems and aggregate, imported as run.py imports them."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import aggregate
    import harness
    import problems

    monkeypatch.delenv(harness.DEVICE_ENV, raising=False)
    monkeypatch.delenv(harness.BACKENDS_ENV, raising=False)
    return harness, problems, aggregate


class _Renamed:
    """A backend registered under a new name that prints eager's module plus a comment
    (so its source differs): stands in for one added later, such as triton."""

    name = "bench_test_backend"
    description = "eager's output under another name"

    def render(self, net, mode):
        from snndsl.backends import registry

        return registry.get("eager").render(net, mode) + "# rendered by a test backend\n"


def test_variants_follow_the_backend_registry(bench_modules, monkeypatch):
    harness, _, _ = bench_modules
    from snndsl.backends import registry

    spec = ROOT / "benchmarks" / "specs" / "p1_lif.snn"
    before = [label for label, _ in harness.snndsl_variants(spec, "multi")]
    assert "snndsl[bench_test_backend]" not in before
    monkeypatch.setitem(registry._REGISTRY, _Renamed.name, _Renamed())
    labels = [label for label, _ in harness.snndsl_variants(spec, "multi")]
    assert labels == [*before, "snndsl[bench_test_backend]"]
    assert harness.select_backends(["default", _Renamed.name]) == []
    assert [label for label, _ in harness.snndsl_variants(spec, "multi")] == [
        "snndsl",
        "snndsl[bench_test_backend]",
    ]


def test_triton_is_timed_on_a_gpu_only(bench_modules, monkeypatch):
    harness, _, _ = bench_modules
    spec = ROOT / "benchmarks" / "specs" / "p1_lif.snn"
    monkeypatch.delenv(harness.BACKENDS_ENV, raising=False)
    labels = [label for label, _ in harness.snndsl_variants(spec, "multi")]
    assert "snndsl[triton]" not in labels and "snndsl[compile]" in labels
    assert any("snndsl[triton] is not timed on the CPU" in n for n in harness.VARIANT_NOTES)
    monkeypatch.setenv(harness.DEVICE_ENV, "cuda")  # loading only: nothing runs on it
    labels = [label for label, _ in harness.snndsl_variants(spec, "multi")]
    assert "snndsl[triton]" in labels


def test_sections_and_spikingjelly_rows_depend_on_the_device(bench_modules, monkeypatch):
    harness, problems, _ = bench_modules
    assert set(problems.DEFAULT_SECTIONS["cpu"]) <= set(problems.SECTIONS)
    assert set(problems.DEFAULT_SECTIONS["cuda"]) <= set(problems.SECTIONS)
    assert {"P1", "P1H", "P2", "MEM"} <= set(problems.DEFAULT_SECTIONS["cuda"])
    assert problems.sj_implementations() == ("torch",)
    assert problems.sj_label("spikingjelly multi", "torch") == "spikingjelly multi"
    monkeypatch.setenv(harness.DEVICE_ENV, "cuda")  # labels only: nothing runs on it
    assert problems.sj_implementations() == problems.SJ_IMPLEMENTATIONS
    assert problems.sj_label("spikingjelly multi", "triton") == "spikingjelly multi [triton]"
    assert problems.dtype_of("P1H") == torch_dtype("float16")
    assert problems.grad_rtol(torch_dtype("float32")) == pytest.approx(problems.GRAD_RTOL)
    assert problems.grad_rtol(torch_dtype("float16")) > 1000 * problems.GRAD_RTOL


def torch_dtype(name: str):
    import torch

    return getattr(torch, name)


def _constant_variant(problems, label: str, value: float):
    import torch

    def make():
        y = torch.full((4,), value)
        return problems.Bench(lambda: y, dict)

    return problems.Variant(label, make)


@pytest.mark.parametrize("device, excluded", [("cpu", True), ("cuda", False)])
def test_a_variant_that_differs_is_excluded_only_where_rounding_is_exact(
    bench_modules, monkeypatch, device, excluded
):
    harness, problems, _ = bench_modules
    monkeypatch.setenv(harness.DEVICE_ENV, device)
    monkeypatch.setattr(harness, "sync", lambda: None)  # no GPU here
    monkeypatch.setattr(problems, "FAILURES", [])
    variants = [
        _constant_variant(problems, "snndsl multi", 1.0),
        _constant_variant(problems, "snndsl[other] multi", 0.0),
    ]
    benches, rows, lines = problems.build_and_check(variants)
    note = {r.label: r.note for r in rows}["snndsl[other] multi"]
    assert ("snndsl[other] multi" not in benches) == excluded
    assert bool(problems.FAILURES) == excluded
    assert note.startswith("EXCLUDED") == excluded
    if not excluded:
        assert note == "4 of 4 outputs differ from snndsl multi (rounding); timed"


def test_a_variant_that_cannot_run_is_skipped_with_its_reason(bench_modules):
    _, problems, _ = bench_modules

    def broken():
        raise RuntimeError("No available sj_lif CUDA implementation")

    variants = [
        _constant_variant(problems, "snndsl multi", 1.0),
        problems.Variant("spikingjelly multi [cupy]", broken),
    ]
    benches, rows, _ = problems.build_and_check(variants)
    assert list(benches) == ["snndsl multi"]
    note = {r.label: r.note for r in rows}["spikingjelly multi [cupy]"]
    assert note == "skipped: RuntimeError: No available sj_lif CUDA implementation"


def _run(medians: dict, cells: list[list[str]]) -> dict:
    table = {
        "headers": ["variant", "median (ms)", "÷ floor: relu(x)", "note"],
        "body": cells,
        "markdown": f"TABLE {cells[0][1]}",
    }
    section = {
        "name": "P1",
        "markdown": f"## P1\n\nintro\n\n{table['markdown']}\n",
        "tables": [table],
    }
    return {"sections": [section], "medians": medians, "notes": ["a note"], "total_s": 10.0}


def test_runs_combine_into_medians_ranges_and_cautious_claims(bench_modules):
    _, _, aggregate = bench_modules
    runs = [
        _run(
            {
                "P1": {
                    "snndsl[compile] multi": 0.010,
                    "snndsl[compile] single, loop over T": 0.020,
                    "spikingjelly multi": 0.030,
                    "floor: relu(x)": 0.008,
                }
            },
            [
                ["snndsl[compile] multi", "10.0", "1.25×", ""],
                ["floor: relu(x)", "8.00", "1.00×", "x"],
            ],
        ),
        _run(
            {
                "P1": {
                    "snndsl[compile] multi": 0.020,
                    "snndsl[compile] single, loop over T": 0.019,
                    "spikingjelly multi": 0.030,
                    "floor: relu(x)": 0.010,
                }
            },
            [
                ["snndsl[compile] multi", "20.0", "2.00×", ""],
                ["floor: relu(x)", "10.0", "1.00×", "x"],
            ],
        ),
        _run(
            {
                "P1": {
                    "snndsl[compile] multi": 0.012,
                    "snndsl[compile] single, loop over T": 0.024,
                    "spikingjelly multi": 0.036,
                    "floor: relu(x)": 0.009,
                }
            },
            [
                ["snndsl[compile] multi", "12.0", "1.33×", ""],
                ["floor: relu(x)", "9.00", "1.00×", "x"],
            ],
        ),
    ]
    text = aggregate.report("# header\n", runs, "python run.py --runs 3")
    assert "**3 runs**" in text and "## P1\n\nintro" in text
    assert "| snndsl[compile] multi | 12.0 (10.0–20.0) | 1.33× (1.25–2.00×) |  |" in text
    assert "| floor: relu(x) | 9.00 (8.00–10.0) | 1.00× | x |" in text
    claims = {tuple(row[:3]): row[3:] for row in tables(text.split("## P1")[0])[0][1:]}
    # speed-up over SpikingJelly per run: 3.0, 1.5, 3.0 -> stated at the lowest
    sj = claims[("P1", "snndsl[compile] multi", "speed-up over SpikingJelly multi (its fastest)")]
    assert sj == ["3.00×", "1.50–3.00×", "1.50×", "3 of 3"]
    # time over the floor per run: 1.25, 2.0, 1.33 -> stated at the highest
    floor = claims[("P1", "snndsl[compile] multi", "time ÷ the floor")]
    assert floor == ["1.33×", "1.25–2.00×", "2.00×", "3 of 3"]
    loop = claims[("P1", "compile multi", "time ÷ the compiled single-step loop")]
    assert loop[2] == "1.05×"  # 0.020 / 0.019, the one run where multi was slower
    assert "- a note" in text


def test_combined_cells_keep_text_and_mark_differences(bench_modules):
    _, _, aggregate = bench_modules
    assert aggregate.combine_cells(["—", "—"]) == "—"
    assert aggregate.combine_cells(["1,200", "1,000", "1,100"]) == "1,100 (1,000–1,200)"
    assert aggregate.combine_cells(["skipped: x", "3.00"]) == "skipped: x / 3.00"
    assert aggregate.combine_cells(["2.00×", "2.00×"]) == "2.00×"


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is not None and __import__("torch").cuda.is_available(),
    reason="a GPU is here: --device cuda would run",
)
def test_device_cuda_without_a_gpu_is_a_usage_error():
    proc = subprocess.run(
        [sys.executable, str(RUN), "--device", "cuda", "--only", "P1", "--out", "/dev/null"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 2 and "no CUDA device" in proc.stderr


def test_gpu_memory_table_reads_the_allocator_counters(bench_modules, monkeypatch):
    """The GPU memory section's plumbing without a GPU: torch.cuda's counters stand in
    for a device whose steps allocate a known amount each."""
    harness, problems, _ = bench_modules
    import torch

    monkeypatch.setenv(harness.DEVICE_ENV, "cuda")
    counters = {"allocated": 3 * 2**20, "peak": 0}
    for name in ("synchronize", "empty_cache"):
        monkeypatch.setattr(torch.cuda, name, lambda: None)
    monkeypatch.setattr(
        torch.cuda, "reset_peak_memory_stats", lambda: counters.update(peak=counters["allocated"])
    )
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda: counters["allocated"])
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda: counters["peak"])

    def allocating(mib: int):
        def step():
            counters["peak"] = max(counters["peak"], counters["allocated"] + mib * 2**20)

        return lambda: problems.Bench(step, dict)

    def broken():
        raise RuntimeError("no cupy")

    def fake_problem(quick):
        return [
            problems.Variant("snndsl multi", allocating(10), memory=True),
            problems.Variant("spikingjelly multi [torch]", allocating(20), memory=True),
            problems.Variant("spikingjelly multi [cupy]", broken, memory=True),
            problems.Variant("not in the table", allocating(1)),
            problems.Variant("floor: relu(x)", allocating(5), memory=True),
        ]

    monkeypatch.setattr(problems, "MEMORY_PROBLEMS", {"P1": fake_problem})
    monkeypatch.setattr(problems, "p1h_variants", fake_problem)
    text = problems.section_mem(quick=True)
    assert "max_memory_allocated" in text
    p1, p1h = tables(text)
    assert p1 == p1h
    assert p1[0][:5] == [
        "variant",
        "peak (MiB)",
        "÷ snndsl multi",
        "÷ spikingjelly multi [torch]",
        "÷ floor: relu(x)",
    ]
    rows = {row[0]: row[1:] for row in p1[1:]}
    assert rows["snndsl multi"] == ["10.0", "1.00×", "0.50×", "2.00×", ""]
    assert rows["floor: relu(x)"][:4] == ["5.00", "0.50×", "0.25×", "1.00×"]
    assert rows["spikingjelly multi [cupy]"][:4] == ["—"] * 4
    assert rows["spikingjelly multi [cupy]"][4] == "not measured: RuntimeError: no cupy"
    assert "not in the table" not in rows


def test_malloc_policies(bench_modules):
    harness, _, _ = bench_modules
    with pytest.raises(ValueError, match="unknown malloc policy"):
        harness.set_malloc_policy("tcmalloc")
    assert harness.set_malloc_policy("glibc") and harness.malloc_policy() == "glibc"
    rows = dict(harness.machine_rows(["run.py"], "now"))
    assert rows["CPU memory allocator (--malloc)"].startswith("glibc's defaults")
