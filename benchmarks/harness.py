"""Timing, memory, machine and report helpers shared by the benchmark problems.

Everything here is independent of the problems themselves (problems.py) and of the command
line (run.py).  The one place that decides which snndsl variants are benchmarked is
:func:`snndsl_variants`.
"""

from __future__ import annotations

import gc
import inspect
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
SPECS = BENCH_DIR / "specs"

THREADS_ENV = "SNNDSL_BENCH_THREADS"
BACKENDS_ENV = "SNNDSL_BENCH_BACKENDS"
DEVICE_ENV = "SNNDSL_BENCH_DEVICE"
# backends whose kernels are GPU code: on the CPU only an interpreter runs them
GPU_ONLY_BACKENDS = ("triton",)
DEVICES = ("cpu", "cuda")

# Variants left out (not loadable here, or identical to another); run.py lists these.
VARIANT_NOTES: list[str] = []
# Every table of this run as data (md_table records it) and every timing table's medians
# in seconds by label: what ``run.py --json`` writes and aggregate.py combines over runs.
TABLES: list[dict] = []
MEDIANS: dict[str, dict[str, float]] = {}


# --------------------------------------------------------------------------- variants


def snndsl_variants(spec, mode: str) -> list[tuple[str, type]]:
    """(label, generated module class) for every snndsl variant to benchmark.

    This is the one place to add variants: every problem verifies, times and measures each
    pair returned here.  Without a ``backend`` keyword on ``snndsl.load`` it is the one
    generated module.  With one, every backend in ``snndsl.BACKENDS`` is included: the
    default backend labelled ``snndsl``, the others ``snndsl[<backend>]``.  A backend whose
    generated source is identical to an earlier one's (in this mode) is not repeated, and
    one that fails to load here is left out; both are listed in the report's notes.
    ``--backends`` (:func:`select_backends`) narrows the list.
    """
    import snndsl

    param = inspect.signature(snndsl.load).parameters.get("backend")
    if param is None:
        return [("snndsl", snndsl.load(spec, mode=mode))]
    variants: list[tuple[str, type]] = []
    sources: dict[str, str] = {}
    for backend in selected_backends():
        label = variant_label(backend)
        if backend in GPU_ONLY_BACKENDS and device() != "cuda":
            _note(
                f"{label} is not timed on the CPU: its kernels run there only under Triton's "
                "interpreter (TRITON_INTERPRET=1), a correctness tool; --device cuda times it"
            )
            continue
        try:
            cls = snndsl.load(spec, mode=mode, backend=backend)
        except Exception as exc:  # a backend this machine cannot run
            _note(f"{label} ({mode}-step) not loaded: {type(exc).__name__}: {exc}")
            continue
        source = getattr(cls, "__snndsl_source__", None)
        if source is not None and source in sources:
            _note(
                f"{label} generates the same {mode}-step source as {sources[source]}; "
                "its rows are not repeated"
            )
            continue
        if source is not None:
            sources[source] = label
        variants.append((label, cls))
    return variants


def available_backends() -> tuple[str, ...]:
    """snndsl's backends, or ("default",) when ``snndsl.load`` takes no ``backend``."""
    import snndsl

    if "backend" not in inspect.signature(snndsl.load).parameters:
        return ("default",)
    try:  # the registry now, so a backend registered after import (triton) is included
        from snndsl.backends import registry

        return registry.names()
    except ImportError:
        return tuple(getattr(snndsl, "BACKENDS", ("default",)))


def default_backend() -> str:
    import snndsl

    param = inspect.signature(snndsl.load).parameters.get("backend")
    return "default" if param is None else param.default


def selected_backends() -> tuple[str, ...]:
    """The backends to run: all, or those named by --backends (kept in the environment so
    the memory subprocesses see the same choice)."""
    chosen = os.environ.get(BACKENDS_ENV)
    available = available_backends()
    if not chosen:
        return available
    names = chosen.split(",")
    return tuple(b for b in available if b in names)


def select_backends(names: Sequence[str]) -> list[str]:
    """Restrict the snndsl variants to ``names`` (``default`` names the default backend);
    returns the names that snndsl does not have."""
    default = default_backend()
    names = [default if n == "default" else n for n in names]
    unknown = [n for n in names if n not in available_backends()]
    os.environ[BACKENDS_ENV] = ",".join(names)
    return unknown


def variant_label(backend: str) -> str:
    default = default_backend()
    return "snndsl" if backend in (default, "default") else f"snndsl[{backend}]"


def describe_variants() -> str:
    """What the snndsl labels mean, for the report header."""
    available, selected = available_backends(), selected_backends()
    if available == ("default",):
        return "snndsl: the generated module"
    default = default_backend()
    names = [
        f"{variant_label(b)} = backend {b!r}" + (" (default)" if b == default else "")
        for b in selected
    ]
    skipped = [b for b in available if b not in selected]
    if skipped:
        names.append(f"not run (--backends): {', '.join(skipped)}")
    return "; ".join(names)


def device() -> str:
    """The device the problems run on: ``cpu`` unless run.py was given ``--device``."""
    return os.environ.get(DEVICE_ENV) or "cpu"


def set_device(name: str) -> None:
    """Run on ``name`` here and in the subprocesses; a CUDA device must be usable."""
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; choose from {DEVICES}")
    if name == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda: torch sees no CUDA device here")
    os.environ[DEVICE_ENV] = name


# glibc's malloc policy while timing (``mallopt`` parameters): "keep" holds freed memory
# for reuse, as the caching allocators do (jemalloc and tcmalloc, which PyTorch's CPU
# tuning guide recommends, and CUDA's on a GPU); "glibc" leaves its defaults alone.
MALLOC_POLICIES = ("keep", "glibc")
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_KEEP = 1 << 30  # 1 GiB: no block the problems allocate is mapped on its own or trimmed
_malloc_policy = "glibc"


def set_malloc_policy(policy: str) -> bool:
    """Apply ``policy`` to this process's glibc allocator; False where there is no glibc
    (then the platform's allocator runs as it is, and the report says so).

    Why: with glibc's defaults a block of 32 MiB or more (a [T, N, ...] tensor of P1) is
    mapped fresh on every allocation and each of its 4 KiB pages faults in, zeroed, when
    first written; smaller blocks come from the heap, whose top is returned to the system
    whenever enough of it is free.  How many pages a call faults in then depends on what
    the process allocated and freed before it, which in a round-robin is the previous
    variant: the same variant measured 15 ms or 50 ms on P1 from one repetition to the
    next.  Keeping freed memory makes every call after the warm-up find its memory
    resident, so the times measure the computation."""
    global _malloc_policy
    if policy not in MALLOC_POLICIES:
        raise ValueError(f"unknown malloc policy {policy!r}; choose from {MALLOC_POLICIES}")
    if policy == "glibc":
        _malloc_policy = policy
        return True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        ok = all(
            libc.mallopt(param, value) == 1
            for param, value in (
                (_M_MMAP_THRESHOLD, _KEEP),
                (_M_TRIM_THRESHOLD, _KEEP),
                (_M_TOP_PAD, 64 << 20),
            )
        )
    except (OSError, AttributeError):
        ok = False
    _malloc_policy = policy if ok else "platform default (mallopt unavailable)"
    return ok


def malloc_policy() -> str:
    return _malloc_policy


def sync() -> None:
    """Wait for the device's queued work, so a timer read after it covers that work."""
    if device() == "cuda":
        import torch

        torch.cuda.synchronize()


def _note(text: str) -> None:
    if text not in VARIANT_NOTES:
        VARIANT_NOTES.append(text)


def set_threads(n: int) -> None:
    """Use ``n`` torch threads here and in the memory subprocesses."""
    import torch

    torch.set_num_threads(n)
    os.environ[THREADS_ENV] = str(n)


def apply_threads() -> None:
    """In a subprocess: the thread count the parent was given, if any."""
    n = os.environ.get(THREADS_ENV)
    if n:
        import torch

        torch.set_num_threads(int(n))


def optional_import(name: str):
    """The module, or None when it is not installed (the benchmark skips its rows)."""
    try:
        return __import__(name, fromlist=["__name__"])
    except Exception:
        return None


# --------------------------------------------------------------------------- timing


def interleaved(
    fns: dict[str, Callable[[], object]],
    reps: int,
    warmup: int = 1,
    before: dict[str, Callable[[], None]] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each function, measured round-robin.

    Every repetition runs each function once, so a slowdown of the (shared, noisy) machine
    hits all variants alike; the starting variant rotates between repetitions so none is
    always first after a garbage collection.  On a GPU the device is synchronised before
    the timer starts and before it is read, so each time covers the kernels the call
    queued and nothing earlier.  ``before[label]``, when given, runs untimed ahead of
    each call of that function (a library setting that is global, say).
    """
    labels = list(fns)
    before = before or {}
    for _ in range(warmup):
        for label in labels:
            before.get(label, _nothing)()
            fns[label]()
    times: dict[str, list[float]] = {label: [] for label in labels}
    for rep in range(reps):
        k = rep % len(labels) if labels else 0
        for label in labels[k:] + labels[:k]:
            before.get(label, _nothing)()
            gc.collect()
            sync()
            t0 = time.perf_counter()
            fns[label]()
            sync()
            times[label].append(time.perf_counter() - t0)
    return times


def _nothing() -> None:
    pass


@dataclass
class Row:
    """One table row: a measured variant (samples) or a skipped one (note only)."""

    label: str
    samples: list[float] | None = None
    note: str = ""
    first: float | None = None  # seconds to build the variant and run it the first time

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


def fmt_num(value: float | None, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (no exponent for ordinary sizes)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:,.{decimals}f}"


def ratio(value: float | None, reference: float | None) -> str:
    if value is None or not reference:
        return "—"
    return f"{value / reference:.2f}×"


def timing_table(
    rows: Sequence[Row],
    unit: str,
    scale: float,
    reference: str | None,
    floor: str | None,
    first_header: str = "variant",
) -> str:
    """Markdown table of medians, min and max, and the ratios to two reference rows."""
    by_label = {r.label: r for r in rows}
    ref = by_label[reference].median if reference in by_label else None
    flo = by_label[floor].median if floor in by_label else None
    headers = [first_header, f"median ({unit})", f"min ({unit})", f"max ({unit})"]
    if reference:
        headers.append(f"÷ {reference}")
    if floor:
        headers.append(f"÷ {floor}")
    with_first = any(r.first is not None for r in rows)
    if with_first:
        headers.append("build + first call (s)")
    headers.append("note")
    body = []
    for r in rows:
        m = r.median
        cells = [
            r.label,
            fmt_num(m * scale if m is not None else None),
            fmt_num(min(r.samples) * scale if r.samples else None),
            fmt_num(max(r.samples) * scale if r.samples else None),
        ]
        if reference:
            cells.append(ratio(m, ref))
        if floor:
            cells.append(ratio(m, flo))
        if with_first:
            cells.append(fmt_num(r.first, 2))
        cells.append(r.note)
        body.append(cells)
    return md_table(headers, body)


def md_table(headers: Sequence[str], body: Sequence[Sequence[str]], text_columns: int = 1) -> str:
    """A Markdown table: the first ``text_columns`` columns and text columns (headed
    "note" or nothing) left-aligned, the rest (numbers) right-aligned."""

    def esc(cell: str) -> str:
        return str(cell).replace("|", "\\|")

    def rule(i: int, h: str) -> str:
        return "---" if i < text_columns or h in ("note", "") else "---:"

    lines = ["| " + " | ".join(esc(h) for h in headers) + " |"]
    lines.append("|" + "|".join(rule(i, h) for i, h in enumerate(headers)) + "|")
    for cells in body:
        lines.append("| " + " | ".join(esc(c) for c in cells) + " |")
    text = "\n".join(lines)
    TABLES.append(
        {
            "headers": [str(h) for h in headers],
            "body": [[str(c) for c in r] for r in body],
            "markdown": text,
        }
    )
    return text


# --------------------------------------------------------------------------- memory


def reset_peak_rss() -> bool:
    """Reset this process's peak-RSS counter to its current RSS (Linux's
    ``/proc/self/clear_refs``, value 5); ``ru_maxrss`` then reports the peak from here on.
    False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def release_free_memory() -> None:
    """Return free heap memory to the OS (glibc's ``malloc_trim``), where there is one."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


_LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def run_child(code: str, timeout: float = 1800) -> dict:
    """Run ``code`` in a fresh interpreter with benchmarks/ importable; its last stdout line
    is a JSON object, returned."""
    prelude = (
        f"import sys; sys.path.insert(0, {str(BENCH_DIR)!r}); "
        "import harness; harness.apply_threads(); "
    )
    # Started through a small launcher: Linux carries the peak RSS of the process that
    # execs into the new program's ru_maxrss, so a child started straight from this (large)
    # process would begin with our high-water mark and show no growth at all.
    # A fixed mmap threshold: glibc then maps every large block (tensors) on its own and
    # unmaps it when freed, instead of raising the threshold and keeping freed tensors in
    # the heap, so the resident set follows the live tensors.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}
    proc = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, sys.executable, "-c", prelude + code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- machine


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def version_of(name: str) -> str:
    module = optional_import(name)
    if module is None:
        return "not installed"
    version = getattr(module, "__version__", None)
    if version is None:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version

        try:
            version = dist_version(name)
        except PackageNotFoundError:
            version = "unknown"
    return str(version)


def git_revision() -> str:
    """Short commit of the checkout, marked when snndsl's own sources have local changes."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "snndsl", "grammar", "templates"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    if not rev:
        return ""
    return f"git {rev}" + (", with local changes to snndsl sources" if dirty else "")


def compile_cache_state() -> str:
    """How full torch.compile's on-disk cache is now: a first compile with an empty cache
    takes far longer than one that finds its kernels there."""
    try:
        from torch._inductor.runtime.cache_dir_utils import cache_dir

        path = Path(cache_dir())
    except Exception:
        return "unknown"
    files = sum(len(names) for _, _, names in os.walk(path)) if path.is_dir() else 0
    if not files:
        return f"empty ({path})"
    return f"{files:,} files in {path}"


def _describe_malloc() -> str:
    if _malloc_policy == "keep":
        return (
            "keep: glibc holds freed memory for reuse (mallopt: mmap and trim thresholds "
            "1 GiB), as a caching allocator does"
        )
    if _malloc_policy == "glibc":
        return "glibc's defaults (large blocks mapped and unmapped per allocation)"
    return _malloc_policy


def machine_rows(argv: Sequence[str], started: str) -> list[tuple[str, str]]:
    import torch

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        affinity = os.cpu_count()
    snndsl_version = version_of("snndsl")
    revision = git_revision()
    if revision:
        snndsl_version += f" ({revision})"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else ""
    gpu = []
    if device() == "cuda":
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        gpu = [
            ("GPU", f"{props.name}, {props.total_memory / 2**30:.0f} GiB"),
            ("CUDA (torch build)", str(torch.version.cuda)),
        ]
    return [
        ("device", device()),
        *gpu,
        ("CPU", cpu_model()),
        (
            "cores",
            f"{os.cpu_count()} logical ({affinity} usable by this process); "
            f"torch threads: {torch.get_num_threads()}",
        ),
        ("python", f"{platform.python_version()} ({sys.executable})"),
        ("torch", torch.__version__),
        ("spikingjelly", version_of("spikingjelly")),
        ("snntorch", version_of("snntorch")),
        ("snndsl", snndsl_version),
        ("snndsl variants", describe_variants()),
        ("torch.compile cache at start", compile_cache_state()),
        ("CPU memory allocator (--malloc)", _describe_malloc()),
        ("command", f"`python {shlex.join(argv)}`"),
        ("date", started),
        ("load average at start (1, 5, 15 min)", load),
    ]
