"""Opt-in fuzz run: parse -> check -> generate on mutated and generated specs.

Not part of ``pytest`` (no ``test_`` file here).  Run it from the repository root::

    python tests/fuzz/run_fuzz.py --cases 100000 --workers 2

Each case (tests/fuzz/cases.py) is parsed (text or YAML front end), checked, and, when it
checks, generated in both modes (``single``, ``multi``) with every backend (``eager``,
``fused``, ``compile``) through the Python API, and every generated source must pass
``compile()``.  Cases run in worker processes; a case that runs longer than
``--timeout`` seconds is a hang (its worker is killed and replaced).  The run counts:

* ``uncaught``: any exception but :class:`snndsl.SpecError` (MemoryError and
  RecursionError included), or a SpecError whose diagnostics are malformed (a code not
  in ``CODES``, a line or column below 1, no message, or ``render()`` failing);
* ``hangs``: cases over the timeout;
* ``not compiling``: generated sources that ``compile()`` refuses.

Findings are written to ``--out`` (one file per case, with its seed and index, the
spec and the traceback); ``--replay FILE`` runs one saved spec in this process and
prints what happens.  Exit status 0 when all three counts are 0, else 1.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from multiprocessing.connection import wait
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

MODES = ("single", "multi")
MEMORY_LIMIT = 4 << 30  # bytes of address space per worker: a runaway case gets MemoryError


# --------------------------------------------------------------------------- one case


def diagnostics_problem(err) -> str | None:
    """Why a SpecError does not meet the diagnostics contract, or None."""
    from snndsl.diagnostics import CODES

    if not err.diagnostics:
        return "a SpecError without diagnostics"
    for d in err.diagnostics:
        if d.code not in CODES:
            return f"unknown code {d.code}"
        if d.span.line < 1 or d.span.column < 1:
            return f"span {d.span} is not 1-based"
        if not d.message:
            return "empty message"
    text = err.render()
    if f"[{err.diagnostics[0].code}]" not in text:
        return "render() lacks the code"
    return None


def run_case(text: str, path: str) -> tuple[str, str]:
    """(outcome, detail): outcome is ok, spec-error, e0208, uncaught or not-compiling."""
    import snndsl
    from snndsl.backends import render
    from snndsl.semantics.checker import check_mode

    try:
        module = snndsl.parse(text, path=path)
        net = snndsl.resolve(module)
        outcome = "ok"
        for mode in MODES:
            try:
                check_mode(net, mode, module.source)
            except snndsl.SpecError as err:
                if mode == "single" and set(err.codes) == {"E0208"}:
                    outcome = "e0208"
                    continue
                raise
            for backend in snndsl.BACKENDS:
                source = render(net, mode, backend)
                try:
                    compile(source, f"<{mode}-{backend}>", "exec")
                except SyntaxError as err:
                    return "not-compiling", f"{mode}/{backend}: {err}\n\n{source}"
        return outcome, ""
    except snndsl.SpecError as err:
        try:
            problem = diagnostics_problem(err)
        except Exception:  # noqa: BLE001 - render() itself failed
            problem = traceback.format_exc()
        return ("uncaught", f"malformed diagnostic: {problem}") if problem else ("spec-error", "")
    except Exception:  # noqa: BLE001 - every other one (MemoryError, RecursionError too)
        return "uncaught", traceback.format_exc()


# --------------------------------------------------------------------------- workers


def _worker(conn, seed: int, indices: list[int], workdir: str) -> None:
    """Run ``indices`` in order, reporting ("start", i) and ("done", i, outcome, detail)."""
    os.chdir(workdir)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ValueError, OSError):
        pass
    from cases import make_case

    for i in indices:
        case = make_case(seed, i)
        conn.send(("start", i))
        outcome, detail = run_case(case.text, case.path)
        conn.send(("done", i, case.kind, outcome, detail))
    conn.send(("finished",))


def _record(out: Path, seed: int, index: int, kind: str, outcome: str, detail: str) -> None:
    from cases import make_case

    case = make_case(seed, index)
    out.mkdir(parents=True, exist_ok=True)
    suffix = ".yaml" if case.path.endswith(".yaml") else ".snn"
    (out / f"{outcome}-{seed}-{index}{suffix}").write_text(case.text, encoding="utf-8")
    (out / f"{outcome}-{seed}-{index}.txt").write_text(
        f"seed {seed} index {index} kind {kind} outcome {outcome}\n\n{detail}\n", encoding="utf-8"
    )


def run(args) -> int:
    from cases import text_corpus, yaml_corpus

    text_corpus(), yaml_corpus()  # fail early if the corpus cannot be read
    out = Path(args.out)
    workdir = tempfile.mkdtemp(prefix="snndsl-fuzz-")
    shutil.copy(HERE.parents[1] / "specs" / "seed.snn", workdir)
    ctx = mp.get_context("fork")
    pending = list(range(args.start, args.start + args.cases))
    chunk = max(1, min(500, len(pending) // (args.workers * 4) or 1))
    queue = [pending[i : i + chunk] for i in range(0, len(pending), chunk)]
    workers: dict = {}  # conn -> [process, remaining indices, current index, started]
    counts: Counter = Counter()
    by_kind: Counter = Counter()
    findings: Counter = Counter()
    started = time.monotonic()
    last_report = started

    def spawn(indices: list[int]) -> None:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(child, args.seed, indices, workdir), daemon=True)
        proc.start()
        child.close()
        workers[parent] = [proc, list(indices), None, None]

    while queue and len(workers) < args.workers:
        spawn(queue.pop(0))
    while workers:
        ready = wait(list(workers), timeout=0.5)
        for conn in ready:
            state = workers[conn]
            try:
                msg = conn.recv()
            except (EOFError, OSError):  # the worker died: its case is a crash
                i = state[2]
                if i is not None:
                    counts["uncaught"] += 1
                    findings["worker died"] += 1
                    _record(out, args.seed, i, "?", "uncaught", "worker process died")
                    state[1] = state[1][state[1].index(i) + 1 :]
                del workers[conn]
                state[0].join()
                if state[1]:
                    queue.insert(0, state[1])
                continue
            if msg[0] == "start":
                state[2], state[3] = msg[1], time.monotonic()
            elif msg[0] == "done":
                _, i, kind, outcome, detail = msg
                state[1].remove(i)
                state[2] = None
                counts[outcome] += 1
                by_kind[kind, outcome] += 1
                if outcome in ("uncaught", "not-compiling"):
                    head = detail.strip().splitlines()[-1][:100] if detail.strip() else outcome
                    findings[head] += 1
                    _record(out, args.seed, i, kind, outcome, detail)
            else:  # finished
                del workers[conn]
                state[0].join()
        now = time.monotonic()
        for conn, state in list(workers.items()):
            i, since = state[2], state[3]
            if i is not None and now - since > args.timeout:
                state[0].kill()
                state[0].join()
                counts["hang"] += 1
                findings["hang"] += 1
                _record(out, args.seed, i, "?", "hang", f"over {args.timeout} s")
                rest = state[1][state[1].index(i) + 1 :]
                del workers[conn]
                if rest:
                    queue.insert(0, rest)
        while queue and len(workers) < args.workers:
            spawn(queue.pop(0))
        if now - last_report > args.report_every:
            last_report = now
            done = sum(counts.values())
            print(
                f"  {done:,} cases, {done / (now - started):.1f}/s, "
                f"uncaught {counts['uncaught']}, hangs {counts['hang']}, "
                f"not compiling {counts['not-compiling']}",
                file=sys.stderr,
                flush=True,
            )
    elapsed = time.monotonic() - started
    shutil.rmtree(workdir, ignore_errors=True)
    total = sum(counts.values())
    print(f"fuzz run: seed {args.seed}, cases {args.start}..{args.start + args.cases - 1}")
    print(f"cases:          {total:,} in {elapsed:.0f} s ({total / elapsed:.1f} cases/s)")
    print(
        f"generated:      {counts['ok'] + counts['e0208']:,} (checked, then 2 modes x 3 backends)"
    )
    print(f"spec errors:    {counts['spec-error']:,} (located diagnostics)")
    print(f"uncaught:       {counts['uncaught']}")
    print(f"hangs (>{args.timeout:g} s): {counts['hang']}")
    print(f"not compiling:  {counts['not-compiling']}")
    for kind in sorted({k for k, _ in by_kind}):
        parts = ", ".join(f"{o} {n}" for (k, o), n in sorted(by_kind.items()) if k == kind)
        print(f"  {kind}: {parts}")
    for head, n in findings.most_common(20):
        print(f"  finding x{n}: {head}")
    if findings:
        print(f"findings written to {out}/")
    bad = counts["uncaught"] + counts["hang"] + counts["not-compiling"]
    return 1 if bad else 0


def replay(path: str) -> int:
    text = Path(path).read_text(encoding="utf-8")
    name = "fuzz.yaml" if path.endswith((".yaml", ".yml")) else "fuzz.snn"
    started = time.monotonic()
    outcome, detail = run_case(text, name)
    print(f"{outcome} in {time.monotonic() - started:.2f} s\n{detail}")
    return 0 if outcome in ("ok", "e0208", "spec-error") else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=100_000, help="how many (default 100,000)")
    p.add_argument("--start", type=int, default=0, help="first case index (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the case generator (default 0)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds before a hang")
    p.add_argument(
        "--out",
        default=os.path.join(tempfile.gettempdir(), "snndsl-fuzz-findings"),
        help="folder for findings (default: snndsl-fuzz-findings in the temp folder)",
    )
    p.add_argument("--report-every", type=float, default=30.0, help="progress interval (s)")
    p.add_argument("--replay", metavar="FILE", help="run one saved spec here and exit")
    args = p.parse_args(argv)
    if args.replay:
        return replay(args.replay)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
