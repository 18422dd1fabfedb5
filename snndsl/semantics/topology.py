"""The network as a graph of named values: dependencies, evaluation order, recurrent loops.

A network statement ``name = chain`` defines ``name`` (and the labelled values along the
chain) from the names its source reads: a plain name, the arguments of a merge such as
``Add(a, b)``, or, through ``delay(h)``, the value ``h`` had one time step earlier.  A
delayed read is a feedback edge: it may point at a value defined later, or at the value
being defined, and it is the only way to close a cycle.

:func:`order` returns the statements in an evaluation order: every value after the values
it reads directly, and, where there is no cycle, after the values it reads through a delay
too (so a multi-step form can shift that sequence at once).  Statements on a cycle form a
strongly connected component; they run step by step together.  A cycle with no delay on it
is error E0107, located at the read that closes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from snndsl.diagnostics import Reporter, did_you_mean
from snndsl.syntax import ast

DELAY = "delay"


@dataclass(frozen=True)
class Read:
    """A name read by a chain's source: directly, or through ``delay(name)``."""

    name: str
    delayed: bool
    span: object


def reads(chain: ast.Chain) -> list[Read]:
    """The names ``chain`` reads, in source order."""
    source = chain.source
    if isinstance(source, ast.Name):
        return [Read(source.id, False, source.span)]
    if source.call.func == DELAY:
        return _delay_reads(source.call)
    out: list[Read] = []
    for arg in value_args(source.call):
        value = arg.value
        if isinstance(value, ast.Name):
            out.append(Read(value.id, False, value.span))
        elif isinstance(value, ast.Call) and value.func == DELAY:
            out.extend(_delay_reads(value))
    return out


def value_args(call: ast.Call) -> list[ast.Arg]:
    """The arguments of a merge that name values (or delays): its positional ones, but
    for SEW's third, which is the connect function."""
    positional = [a for a in call.args if a.name is None]
    return positional[:2] if call.func == "SEW" else positional


def _delay_reads(call: ast.Call) -> list[Read]:
    positional = [a for a in call.args if a.name is None]
    if positional and isinstance(positional[0].value, ast.Name):
        name = positional[0].value
        return [Read(name.id, True, name.span)]
    return []  # malformed: the checker reports it


def components(names: list[str], edges: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components of ``edges`` (node -> the nodes it reads), each in
    ``names`` order; a component comes after every component it reads."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    position = {n: i for i, n in enumerate(names)}

    for root in names:
        if root in index:
            continue
        # iterative DFS: (node, iterator position)
        work = [(root, 0)]
        while work:
            node, pos = work.pop()
            if pos == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = edges.get(node, [])
            if pos < len(targets):
                work.append((node, pos + 1))
                nxt = targets[pos]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            for t in targets:
                if t in on_stack:
                    low[node] = min(low[node], low[t])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                out.append(sorted(comp, key=position.__getitem__))
    return out


def _emit_component(comp: list[str], direct: dict[str, list[str]], out: list[str]) -> None:
    """Append a component's names: each after the members it reads directly (those reads
    form a DAG), otherwise in statement order."""
    members, done = set(comp), set()

    def visit(n: str) -> None:
        if n in done:
            return
        done.add(n)
        for t in direct[n]:
            if t in members:
                visit(t)
        out.append(n)

    for n in comp:
        visit(n)


@dataclass(frozen=True)
class Plan:
    """The statements in evaluation order, and which names share a recurrent loop."""

    order: tuple[str, ...]
    loop_of: dict[str, int]  # name -> loop number, for names on a cycle


def order(defs: dict[str, ast.Chain], known: set[str], reporter: Reporter) -> Plan:
    """Evaluation order of the chains in ``defs`` (by the name they define; dict order is
    statement order); ``known`` are the inputs.  Raises located errors for unknown names
    and for cycles with no delay."""
    names = list(defs)
    # sn.v (a neuron's state) is read from the statement whose chain labels sn
    labels = {
        step.label: name
        for name, chain in defs.items()
        for step in (*chain.steps, chain.source)
        if isinstance(step, ast.Step) and step.label
    }
    direct: dict[str, list[str]] = {}
    delayed: dict[str, list[str]] = {}
    spans: dict[tuple[str, str], object] = {}
    for name, chain in defs.items():
        direct[name], delayed[name] = [], []
        for r in reads(chain):
            if "." in r.name and r.name.split(".")[0] in labels:
                r = Read(labels[r.name.split(".")[0]], r.delayed, r.span)
            if r.name not in defs and r.name not in known:
                hint = did_you_mean(r.name, [*known, *defs]) or (
                    f"define it ({r.name} = ... or input {r.name}: [...])"
                )
                raise reporter.fail("E0103", f"undefined name '{r.name}'", r.span, hint)
            if r.name in known:
                continue
            (delayed if r.delayed else direct)[name].append(r.name)
            spans.setdefault((name, r.name), r.span)
    # a cycle of direct reads alone is an error
    for comp in components(names, direct):
        if len(comp) > 1 or comp[0] in direct[comp[0]]:
            first = comp[0]
            target = next(t for t in direct[first] if t in comp)
            path = " -> ".join([*comp, comp[0]]) if len(comp) > 1 else f"{first} -> {first}"
            raise reporter.fail(
                "E0107",
                f"'{first}' depends on itself with no delay ({path})",
                spans[(first, target)],
                f"feed a value back through delay({target}): its value one step earlier",
            )
    every = {n: direct[n] + delayed[n] for n in names}
    comps = components(names, every)  # reverse topological order of the condensation
    loop_of: dict[str, int] = {}
    loops = 0
    for comp in comps:
        if len(comp) > 1 or comp[0] in every[comp[0]]:
            for n in comp:
                loop_of[n] = loops
            loops += 1
    result: list[str] = []
    for comp in comps:
        _emit_component(comp, direct, result)
    return Plan(tuple(result), loop_of)
