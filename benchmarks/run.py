"""Benchmark snndsl's generated modules against SpikingJelly, snnTorch and ANN floors.

    python benchmarks/run.py [--quick] [--only P1,P2,...] [--threads N] [--device cpu|cuda]
                             [--backends eager,...] [--runs N] [--out docs/benchmarks.md]

Prints each section's Markdown table as it finishes and writes the whole report (machine,
versions, the command, the date) to --out.  Sections: P1 (one LIF layer), P1H (the same in
float16 over T = 32), P2 (a convolutional SNN), P3 (long sequence), P4 (streaming
latency), NEURON (user-defined neurons against LIF), MEM (peak memory: resident set on
the CPU, the caching allocator's peak on a GPU), GEN (code generation and cold start).
Every variant is checked against SpikingJelly on the same weights and input before it is
timed; one that disagrees is left out of its table and the exit status is 1 (on a GPU or
in float16, where kernels round differently, it is timed and the difference noted).
With ``--runs N`` the suite runs N times, each in a fresh process, and the report gives
every number's median and range over the runs, with claims at the low end
(benchmarks/aggregate.py).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aggregate  # noqa: E402
import harness  # noqa: E402
import problems  # noqa: E402

DEFAULT_OUT = harness.ROOT / "docs" / "benchmarks.md"
QUICK_OUT = harness.ROOT / "benchmarks" / "quick.md"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer repetitions, smaller sizes, one thread (a smoke run, not for comparing)",
    )
    parser.add_argument(
        "--only",
        default=None,
        help=f"comma-separated sections to run, of {','.join(problems.SECTIONS)} (default: "
        f"{','.join(problems.DEFAULT_SECTIONS['cpu'])} on the CPU, "
        f"{','.join(problems.DEFAULT_SECTIONS['cuda'])} on a GPU)",
    )
    parser.add_argument(
        "--device",
        choices=harness.DEVICES,
        default="cpu",
        help="where tensors and modules live (default: cpu); cuda synchronises around "
        "every timing and measures peak GPU memory",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="run the suite this many times, each in a fresh process, and report every "
        "number's median and range over the runs, claims at the low end (default: 1)",
    )
    parser.add_argument(
        "--malloc",
        choices=harness.MALLOC_POLICIES,
        default="glibc",
        help="glibc's allocator while timing: its defaults, what a PyTorch process has "
        "(default; page faults on large tensors depend on what ran before), or keep "
        "freed memory for reuse, as a caching allocator such as jemalloc does (see "
        "harness.set_malloc_policy)",
    )
    parser.add_argument("--json", default=None, help=argparse.SUPPRESS)  # one run's data
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: torch's own choice, 1 with --quick); on a "
        "machine shared with other work, fewer threads than cores keeps timings stable",
    )
    parser.add_argument(
        "--backends",
        default=None,
        help="comma-separated snndsl backends to run (default: all of snndsl.BACKENDS; "
        "'default' names the default one)",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="Markdown report to write (default: docs/benchmarks.md; with --quick, "
        "benchmarks/quick.md, so a quick run never replaces the committed report)",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = str(QUICK_OUT if args.quick else DEFAULT_OUT)
    if args.only is None:
        args.only = ",".join(problems.DEFAULT_SECTIONS[args.device])
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    only = [s.strip().upper() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in problems.SECTIONS]
    if unknown or not only:
        parser.error(f"--only: unknown section(s) {unknown}; choose from {list(problems.SECTIONS)}")
    args.only = [s for s in problems.SECTIONS if s in only]
    if args.backends is not None:
        names = [b.strip() for b in args.backends.split(",") if b.strip()]
        unknown = harness.select_backends(names)
        if unknown or not names:
            parser.error(
                f"--backends: unknown backend(s) {unknown}; snndsl has "
                f"{list(harness.available_backends())}"
            )
    return args


def header(argv: list[str], started: str, args: argparse.Namespace) -> str:
    rows = harness.machine_rows(argv, started)
    if problems.sj_modules() is not None:
        checked = "Every timed SNN variant is checked against SpikingJelly 2.0.0"
    else:
        checked = (
            "SpikingJelly is not installed: the snndsl variants are checked only against each other"
        )
    lines = [
        "# snndsl benchmarks",
        "",
        "Generated by `benchmarks/run.py`; rerun it to reproduce (see README, "
        f'"Benchmarks"). Device: {args.device}. Times are medians of repetitions '
        "measured round-robin, so every variant sees the same machine load; the ratio "
        "columns divide a row's "
        f"median by the named row's. {checked} on the same weights and input first (outputs "
        f"identical, gradients within {problems.GRAD_RTOL:g} relative in float32 and as "
        "many epsilons of float16 in float16), so each table "
        "compares one computation; snnTorch's neuron differs and is timed for its cost only. "
        "*build + first call* holds one-off costs such as compilation; torch.compile keeps "
        "its kernels in an on-disk cache (its state at the start is in the table below), "
        "so its first call on a fresh machine, or after the generated code changes, can "
        "take far longer than shown here.",
        "",
    ]
    if args.quick:
        lines += ["**Quick run** (`--quick`): small sizes, few repetitions; not for comparing.", ""]
    lines += [harness.md_table(["machine", ""], rows), ""]
    return "\n".join(lines)


def notes() -> str:
    items = [*harness.VARIANT_NOTES, *(f"check failed: {f}" for f in problems.FAILURES)]
    if not items:
        return ""
    return "\n".join(["## Notes", "", *(f"- {item}" for item in items), ""])


def write_atomic(path: Path, text: str) -> None:
    """The report, written as snndsl writes every file (snndsl/files.py)."""
    from snndsl.files import write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)


def child_args(args: argparse.Namespace) -> list[str]:
    """The options of one run of a ``--runs`` report (everything but --runs/--out/--json)."""
    out = ["--only", ",".join(args.only), "--device", args.device, "--malloc", args.malloc]
    if args.quick:
        out.append("--quick")
    if args.threads is not None:
        out += ["--threads", str(args.threads)]
    if args.backends is not None:
        out += ["--backends", args.backends]
    return out


def run_many(argv: list[str], args: argparse.Namespace) -> int:
    """``--runs N``: the suite N times, each in a fresh interpreter writing its results as
    JSON, then one report of their medians and ranges (aggregate.py)."""
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = f"python {shlex.join([sys.argv[0], *argv])}"
    top = header([sys.argv[0], *argv], started, args)  # the checkout and load at the start
    runs, status = [], 0
    with tempfile.TemporaryDirectory(prefix="snndsl-bench-") as tmp:
        for i in range(args.runs):
            data = Path(tmp) / f"run{i + 1}.json"
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                *child_args(args),
                "--out",
                str(Path(tmp) / f"run{i + 1}.md"),
                "--json",
                str(data),
            ]
            print(f"== run {i + 1} of {args.runs}: {shlex.join(cmd[1:])}", file=sys.stderr)
            code = subprocess.call(cmd, stdout=sys.stderr)
            if code not in (0, 1) or not data.exists():
                print(f"run {i + 1} failed (exit status {code})", file=sys.stderr)
                return code or 1
            status = max(status, code)
            runs.append(json.loads(data.read_text(encoding="utf-8")))
    text = aggregate.report(top, runs, command)
    write_atomic(Path(args.out), text)
    print(text)
    print(f"wrote {args.out}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.threads is None and args.quick:
        args.threads = 1  # a smoke run: one thread is fastest on a busy machine
    if args.threads is not None:
        if args.threads < 1:
            print("benchmarks/run.py: --threads must be at least 1", file=sys.stderr)
            return 2
        harness.set_threads(args.threads)
    try:
        harness.set_device(args.device)
    except RuntimeError as exc:
        print(f"benchmarks/run.py: {exc}", file=sys.stderr)
        return 2
    harness.set_malloc_policy(args.malloc)  # (in a --runs parent: for its header)
    if args.runs > 1:
        return run_many(argv, args)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    top = header([sys.argv[0], *argv], started, args)
    print(top, flush=True)
    parts = [top]
    sections = []
    t0 = time.perf_counter()
    for name in args.only:
        t = time.perf_counter()
        first_table = len(harness.TABLES)
        text = problems.SECTIONS[name](args.quick)
        sections.append({"name": name, "markdown": text, "tables": harness.TABLES[first_table:]})
        print(text, flush=True)
        print(f"({name}: {time.perf_counter() - t:.0f} s)\n", file=sys.stderr, flush=True)
        parts.append(text)
    tail = notes()
    if tail:
        print(tail)
        parts.append(tail)
    total = time.perf_counter() - t0
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else ""
    parts.append(f"Total run time {total:.0f} s; load average at end: {load}.\n")
    out = Path(args.out)
    write_atomic(out, "\n".join(parts))
    print(f"wrote {out}", file=sys.stderr)
    if args.json:
        data = {
            "sections": sections,
            "medians": harness.MEDIANS,
            "notes": [*harness.VARIANT_NOTES, *(f"check failed: {f}" for f in problems.FAILURES)],
            "failures": problems.FAILURES,
            "total_s": total,
        }
        write_atomic(Path(args.json), json.dumps(data, indent=1, ensure_ascii=False))
    return 1 if problems.FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
