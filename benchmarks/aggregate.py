"""Combine several runs of the benchmark suite into one report: medians and ranges.

``run.py --runs N`` runs the suite N times, each run a separate process that writes its
results as JSON (``run.py --json``): every table's cells, every timing table's medians in
seconds, and each section's Markdown.  This module reads those results and writes one
report in which every number is the median over the runs of that run's value, followed by
its range across runs, and whose summary states each claim at the end of its range least
favourable to snndsl.  Nothing here times anything.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import harness

# a claim names a ratio per run, and which end of its range is the cautious one
SPEEDUP = "speed-up over"  # higher is better for snndsl: the lowest run is stated
COST = "time ÷"  # lower is better for snndsl: the highest run is stated


def parse_cell(cell: str) -> tuple[float, str] | None:
    """The number in a cell this harness wrote (``1,234``, ``0.512``, ``1.23×``) and its
    unit suffix, or None for text (labels, notes, ``—``)."""
    text = cell.strip()
    suffix = ""
    if text.endswith("×"):
        text, suffix = text[:-1], "×"
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return (value, suffix) if math.isfinite(value) else None


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}×"


def combine_cells(cells: Sequence[str]) -> str:
    """One cell from the same cell of every run: ``median (low–high)`` for numbers, the
    text itself when every run wrote the same, else each distinct text once."""
    parsed = [parse_cell(c) for c in cells]
    if cells and all(p is not None for p in parsed) and len({p[1] for p in parsed}) == 1:
        values = [p[0] for p in parsed]
        suffix = parsed[0][1]
        fmt = fmt_ratio if suffix else harness.fmt_num
        mid = fmt(statistics.median(values))
        if len(values) == 1 or min(values) == max(values):
            return mid
        low, high = fmt(min(values)), fmt(max(values))
        return f"{mid} ({low.rstrip('×')}–{high})"
    distinct = list(dict.fromkeys(c for c in cells))
    return distinct[0] if len(distinct) == 1 else " / ".join(distinct)


def combine_tables(tables: Sequence[dict]) -> str:
    """The same table from every run as one Markdown table, rows matched by their first
    cell (in the first run's order); a row some runs lack says in how many it was."""
    first = tables[0]
    headers = first["headers"]
    by_run = [{row[0]: row for row in t["body"]} for t in tables]
    labels = list(dict.fromkeys(row[0] for t in tables for row in t["body"]))
    body = []
    for label in labels:
        rows = [r[label] for r in by_run if label in r and len(r[label]) == len(headers)]
        cells = [label]
        for i in range(1, len(headers)):
            cells.append(combine_cells([row[i] for row in rows]))
        if len(rows) < len(tables):
            cells[-1] = (cells[-1] + f" (in {len(rows)} of {len(tables)} runs)").strip()
        body.append(cells)
    return harness.md_table(headers, body)


def combine_section(sections: Sequence[dict]) -> str:
    """A section's Markdown from the first run with each of its tables replaced by the
    table combined over every run that has the section."""
    text = sections[0]["markdown"]
    count = len(sections[0]["tables"])
    for i in range(count):
        same = [s["tables"][i] for s in sections if len(s["tables"]) == count]
        text = text.replace(sections[0]["tables"][i]["markdown"], combine_tables(same), 1)
    return text


# ----------------------------------------------------------------------------- claims


def _is_sj(label: str) -> bool:
    return label.startswith("spikingjelly multi")


def _snndsl_rows(medians: dict[str, float]) -> list[str]:
    """The snndsl rows a claim is made for: every multi-step form, and the single-step
    loop of the compile backend (what compile multi is compared with)."""
    return [
        label
        for label in medians
        if label.startswith("snndsl")
        and (label.endswith(" multi") or label.endswith("single, loop over T"))
    ]


def claims_per_run(medians: dict[str, dict[str, float]]) -> dict[tuple[str, str, str], float]:
    """The ratios one run supports, keyed (problem, claim, row): each snndsl row's speed-up
    over SpikingJelly's fastest multi-step implementation, its time over the floor, the
    compile backend's multi-step form over its single-step loop, and each user-defined
    neuron's time over LIF's, implementation by implementation."""
    out: dict[tuple[str, str, str], float] = {}
    for problem, rows in medians.items():
        if problem.startswith("NEURON"):
            continue
        sj = [t for label, t in rows.items() if _is_sj(label) and t]
        floor = next((t for label, t in rows.items() if label.startswith("floor")), None)
        for label in _snndsl_rows(rows):
            t = rows[label]
            if not t:
                continue
            if sj:
                key = (problem, f"{SPEEDUP} SpikingJelly multi (its fastest)", label)
                out[key] = min(sj) / t
            if floor:
                out[(problem, f"{COST} the floor", label)] = t / floor
        multi = rows.get(f"{harness.variant_label('compile')} multi")
        loop = rows.get(f"{harness.variant_label('compile')} single, loop over T")
        if multi and loop:
            key = (problem, f"{COST} the compiled single-step loop", "compile multi")
            out[key] = multi / loop
    lif = medians.get("NEURON LIF", {})
    for key, rows in medians.items():
        if not key.startswith("NEURON ") or key == "NEURON LIF":
            continue
        name = key.removeprefix("NEURON ")
        for label, t in rows.items():
            if label in lif and lif[label] and t and not label.startswith("floor"):
                out[("NEURON", f"{COST} its own LIF time, on {name}", label)] = t / lif[label]
    return out


def claims_table(runs: Sequence[dict]) -> str:
    """Every claim with its median and range over the runs and the value stated, the end
    of the range least favourable to snndsl."""
    per_run = [claims_per_run(run["medians"]) for run in runs]
    keys = list(dict.fromkeys(k for claims in per_run for k in claims))
    body = []
    for problem, claim, label in keys:
        values = [c[(problem, claim, label)] for c in per_run if (problem, claim, label) in c]
        stated = min(values) if claim.startswith(SPEEDUP) else max(values)
        body.append(
            [
                problem,
                label,
                claim,
                fmt_ratio(statistics.median(values)),
                f"{min(values):.2f}–{max(values):.2f}×",
                fmt_ratio(stated),
                f"{len(values)} of {len(runs)}",
            ]
        )
    headers = ["problem", "row", "ratio", "median", "range", "stated", "runs"]
    return harness.md_table(headers, body, text_columns=3)


def report(header: str, runs: Sequence[dict], command: str) -> str:
    """The combined report: ``header`` (machine table and the method), the claims, then
    every section combined over the runs that have it, then each run's notes."""
    n = len(runs)
    parts = [
        header,
        f"**{n} runs**, each a separate process started one after another by `{command}`. "
        "In every table a number is the median over the runs of that run's value (itself "
        "a median of interleaved repetitions), followed by the lowest and highest run in "
        "parentheses. The summary takes each ratio from one run at a time (both times "
        "from the same round-robin, so machine load cancels) and states it at the end of "
        "its range least favourable to snndsl: the lowest speed-up, the highest cost.",
        "",
        "## Summary: claims at the low end",
        "",
        "Per run: each snndsl row's speed-up over SpikingJelly's fastest multi-step "
        "implementation (its time ÷ the row's; above 1 is faster), the row's time ÷ the "
        "floor (ReLU / ANN), the compile backend's multi-step form ÷ its compiled "
        "single-step loop, and each user-defined neuron's time ÷ the same implementation's "
        "LIF time. *stated* is the lowest speed-up or the highest time ratio of the runs.",
        "",
        claims_table(runs),
        "",
    ]
    names = list(dict.fromkeys(s["name"] for run in runs for s in run["sections"]))
    for name in names:
        sections = [s for run in runs for s in run["sections"] if s["name"] == name]
        parts.append(combine_section(sections))
    notes = list(dict.fromkeys(note for run in runs for note in run.get("notes", [])))
    if notes:
        parts += ["## Notes", "", *(f"- {note}" for note in notes), ""]
    totals = ", ".join(f"{run.get('total_s', 0):.0f}" for run in runs)
    parts.append(f"Run times: {totals} s.\n")
    return "\n".join(parts)
