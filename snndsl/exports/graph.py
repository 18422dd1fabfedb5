"""Draw a resolved network as a graph: DOT text, or SVG from our own layered layout.

The network is a DAG of named values: inputs, nodes reading one or more sources, and
outputs.  :func:`network_graph` turns the IR into a :class:`Graph` (one node per input,
IR node and output; edges from each node's sources).  :func:`to_dot` prints it for
Graphviz; :func:`to_svg` needs no Graphviz: :func:`layered_layout` places any DAG given as
(node, sources) pairs in layers (longest path from the inputs), routes edges that skip
layers through bend points, orders each layer by barycentre sweeps to reduce crossings,
and centres nodes under their sources; feedback edges (a delay reading the previous step)
run dashed in lanes right of the graph, around the boxes.  Every label is escaped for
DOT and for XML, and the output is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from snndsl import ir
from snndsl.exports.summary import summarize


@dataclass(frozen=True)
class GraphNode:
    id: str  # unique: the spec name, or 'output.<name>' for an output
    kind: str  # 'input', 'output', 'layer', 'dropout', 'neuron', 'parallel', 'alias'
    lines: tuple[str, ...]  # the label, one entry per line
    tooltip: str  # the resolved call, or ''


@dataclass(frozen=True)
class Graph:
    name: str
    nodes: tuple[GraphNode, ...]
    sources: tuple[tuple[str, ...], ...]  # per node, in order: the ids of the nodes it reads
    feedback: tuple[tuple[str, str], ...] = ()  # (source id, delay id): previous-step reads

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        return tuple((s, n.id) for n, srcs in zip(self.nodes, self.sources) for s in srcs)


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def network_graph(net: ir.NetworkIR) -> Graph:
    """Inputs, IR nodes and outputs of a network, with the edges between them."""
    producer: dict[str, str] = {}  # value name -> id of the graph node that computes it
    nodes: list[GraphNode] = []
    sources: list[tuple[str, ...]] = []
    for row in summarize(net).nodes:
        if row.kind == "input":
            lines = (f"input {row.name}", _shape(row.shape))
        elif row.kind == "alias":
            lines = (f"{row.name} = {row.sources[0]}", _shape(row.shape))
        else:
            lines = (f"{row.name}: {row.op}", _shape(row.shape))
        tooltip = row.spec if row.kind not in ("input", "alias") else ""
        nodes.append(GraphNode(row.name, row.kind, lines, tooltip))
        sources.append(tuple(producer[s] for s in row.sources))
        producer[row.value] = row.name
    feedback = tuple((producer[d.source], d.value) for d in net.delays)
    for out in net.outputs:
        nodes.append(
            GraphNode(f"output.{out.name}", "output", (f"output {out.name}", _shape(out.shape)), "")
        )
        sources.append((producer[out.source],))
    return Graph(net.name, tuple(nodes), tuple(sources), feedback)


def graph(spec, network: str | None = None, params=None) -> Graph:
    """Parse and check a spec and return the graph of its network."""
    from snndsl.api import resolve

    return network_graph(resolve(spec, network, params))


# --------------------------------------------------------------------------- DOT


def dot_string(text: str) -> str:
    """``text`` as a double-quoted DOT string (a newline becomes DOT's centred ``\\n``)."""
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{body}"'


_DOT_STYLE = {
    "input": 'shape=ellipse, style=filled, fillcolor="#dbe9f6"',
    "output": 'shape=ellipse, style=filled, fillcolor="#dcefd8"',
    "neuron": 'style="rounded,filled", fillcolor="#fbe3c6"',
    "parallel": 'style="rounded,filled", fillcolor="#fbe3c6"',
}


def to_dot(g: Graph) -> str:
    lines = [
        f"digraph {dot_string(g.name)} {{",
        '    node [shape=box, fontname="monospace", fontsize=10];',
    ]
    for n in g.nodes:
        attrs = [f"label={dot_string(chr(10).join(n.lines))}"]
        if n.tooltip:
            attrs.append(f"tooltip={dot_string(n.tooltip)}")
        if n.kind in _DOT_STYLE:
            attrs.append(_DOT_STYLE[n.kind])
        lines.append(f"    {dot_string(n.id)} [{', '.join(attrs)}];")
    for src, dst in g.edges:
        lines.append(f"    {dot_string(src)} -> {dot_string(dst)};")
    for src, dst in g.feedback:  # drawn dashed, and not used to rank the nodes
        lines.append(
            f"    {dot_string(src)} -> {dot_string(dst)} [style=dashed, constraint=false];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    """Centre ``x`` and layer of every node; per edge, its bend points (layer, x)."""

    x: dict[str, float]
    layer: dict[str, int]
    bends: tuple[tuple[str, str, tuple[tuple[int, float], ...]], ...]  # (src, dst, points)
    width: float  # from the left edge of the leftmost box to the right edge of the rightmost


def _layers(deps: Sequence[tuple[str, Sequence[str]]]) -> dict[str, int]:
    """Longest-path layers: a node sits one layer below the lowest of its sources."""
    known = {n for n, _ in deps}
    if len(known) != len(deps):
        raise ValueError("node names must be unique")
    for n, srcs in deps:
        for s in srcs:
            if s not in known:
                raise ValueError(f"{n!r} reads unknown node {s!r}")
    layer: dict[str, int] = {}
    pending = list(deps)
    while pending:
        rest = []
        for n, srcs in pending:
            if all(s in layer for s in srcs):
                layer[n] = 1 + max((layer[s] for s in srcs), default=-1)
            else:
                rest.append((n, srcs))
        if len(rest) == len(pending):
            raise ValueError(f"the graph has a cycle through {rest[0][0]!r}")
        pending = rest
    return layer


def _crossings(upper: list[int], lower: list[int], down: dict[int, list[int]]) -> int:
    pos = {v: i for i, v in enumerate(lower)}
    edges = [(i, pos[w]) for i, v in enumerate(upper) for w in down[v]]
    return sum(
        1
        for a in range(len(edges))
        for b in range(a + 1, len(edges))
        if (edges[a][0] - edges[b][0]) * (edges[a][1] - edges[b][1]) < 0
    )


def layered_layout(
    deps: Sequence[tuple[str, Sequence[str]]],
    width: Callable[[str], float],
    gap: float = 24.0,
    sweeps: int = 8,
) -> Layout:
    """Place a DAG given as (node, sources) pairs; ``width`` gives each node's box width.

    Edges that span several layers get one bend point per layer they cross (a zero-width
    placeholder that takes part in ordering and spacing), so they pass between boxes.
    """
    layer_of = _layers(deps)
    names = [n for n, _ in deps]
    index = {n: i for i, n in enumerate(names)}
    vlayer = [layer_of[n] for n in names]  # vertices: the nodes, then bend points
    vwidth = [float(width(n)) for n in names]
    up: dict[int, list[int]] = {i: [] for i in range(len(names))}
    down: dict[int, list[int]] = {i: [] for i in range(len(names))}
    chains: list[tuple[str, str, list[int]]] = []
    for n, srcs in deps:
        for s in srcs:
            prev, chain = index[s], []
            for lay in range(layer_of[s] + 1, layer_of[n]):
                v = len(vlayer)
                vlayer.append(lay)
                vwidth.append(0.0)
                up[v], down[v] = [prev], []
                down[prev].append(v)
                chain.append(v)
                prev = v
            down[prev].append(index[n])
            up[index[n]].append(prev)
            chains.append((s, n, chain))
    depth = max(vlayer, default=-1) + 1
    order: list[list[int]] = [[] for _ in range(depth)]
    for v, lay in enumerate(vlayer):
        order[lay].append(v)

    def total(o: list[list[int]]) -> int:
        return sum(_crossings(o[i], o[i + 1], down) for i in range(depth - 1))

    def sweep(o: list[list[int]], layers, links) -> list[list[int]]:
        o = [list(row) for row in o]
        for lay in layers:
            ref = {v: i for i, v in enumerate(o[lay - 1 if links is up else lay + 1])}

            def key(item, ref=ref):
                i, v = item
                linked = [ref[w] for w in links[v]]
                return (sum(linked) / len(linked) if linked else float(i), i)

            o[lay] = [v for _, v in sorted(enumerate(o[lay]), key=key)]
        return o

    best, best_cost = order, total(order)
    for _ in range(sweeps):
        order = sweep(order, range(1, depth), up)
        order = sweep(order, range(depth - 2, -1, -1), down)
        cost = total(order)
        if cost < best_cost:
            best, best_cost = order, cost

    x = [0.0] * len(vlayer)

    def place(row: list[int], links: dict[int, list[int]] | None) -> None:
        """Keep the order and spacing of ``row``; pull each vertex toward its links."""
        want = []
        for v in row:
            linked = [x[w] for w in links[v]] if links is not None else []
            want.append(sum(linked) / len(linked) if linked else x[v])
        left = None
        for v, target in zip(row, want):
            lo = None if left is None else left + vwidth[v] / 2
            x[v] = target if lo is None else max(lo, target)
            left = x[v] + vwidth[v] / 2 + gap
        shift = sum(t - x[v] for v, t in zip(row, want)) / len(row) if row else 0.0
        for v in row:
            x[v] += shift

    for row in best:  # packed, then pulled down, up and down again
        for i, v in enumerate(row):
            x[v] = sum(vwidth[w] + gap for w in row[:i]) + vwidth[v] / 2
    for lay in range(1, depth):
        place(best[lay], up)
    for lay in range(depth - 2, -1, -1):
        place(best[lay], down)
    for lay in range(1, depth):
        place(best[lay], up)
    origin = min((x[v] - vwidth[v] / 2 for v in range(len(vlayer))), default=0.0)
    extent = max((x[v] + vwidth[v] / 2 for v in range(len(vlayer))), default=0.0)
    return Layout(
        {n: x[index[n]] - origin for n in names},
        dict(layer_of),
        tuple((s, n, tuple((vlayer[v], x[v] - origin) for v in chain)) for s, n, chain in chains),
        extent - origin,
    )


# --------------------------------------------------------------------------- SVG

CHAR_WIDTH = 7.2  # of the 12px monospace font
LINE_HEIGHT = 16.0
PAD_X, PAD_Y = 10.0, 8.0
LAYER_GAP = 36.0
MARGIN = 16.0
_FILL = {
    "input": "#dbe9f6",
    "output": "#dcefd8",
    "neuron": "#fbe3c6",
    "parallel": "#fbe3c6",
}


def _num(v: float) -> str:
    return f"{v:.1f}".removesuffix(".0")


def _ports(lay: Layout, box_w) -> tuple[list[float], list[float]]:
    """Where each edge leaves its source and enters its target: spread along the box
    edge in the order of where the edges go (come from), so they do not overlap."""
    start = [lay.x[s] for s, _, _ in lay.bends]
    end = [lay.x[d] for _, d, _ in lay.bends]
    for which, ends in ((0, start), (1, end)):
        groups: dict[str, list[tuple[float, int]]] = {}
        for e, (s, d, bends) in enumerate(lay.bends):
            if which == 0:
                key, toward = s, (bends[0][1] if bends else lay.x[d])
            else:
                key, toward = d, (bends[-1][1] if bends else lay.x[s])
            groups.setdefault(key, []).append((toward, e))
        for node, group in groups.items():
            if len(group) < 2:
                continue
            step = min(12.0, 0.7 * box_w(node) / (len(group) - 1))
            for i, (_, e) in enumerate(sorted(group)):
                ends[e] = lay.x[node] + (i - (len(group) - 1) / 2) * step
    return start, end


FEEDBACK_GAP = 16.0  # from the graph's right edge to the first feedback lane
FEEDBACK_LANE = 10.0  # between feedback lanes


def _feedback_path(
    i: int, src: tuple[float, float, float], dst: tuple[float, float, float], lane: float
) -> str:
    """A feedback edge routed around the boxes: out of the source box's right side, down
    (or up) into the gap between layers, right to its own lane beyond the graph, along
    the lane to the gap beside the target's layer, back left and into the target box's
    right side.  ``src`` and ``dst`` are (right edge, top, height) of the boxes."""
    (sx, stop, h), (dx, dtop, _) = src, dst
    side = 8.0 + 2.0 * (i % 3)  # how far right of a box the edge turns
    off = 8.0 + 4.0 * (i % 4)  # how far into the gap between layers it runs
    sy, dy = stop + h / 2 + 3.0, dtop + h / 2 - 3.0
    sgap = stop + h + off  # the gap below the source's layer
    dgap = dtop - off if dtop < stop else sgap  # above the target's layer (it is higher)
    points = [
        (sx, sy),
        (sx + side, sy),
        (sx + side, sgap),
        (lane, sgap),
        (lane, dgap),
        (dx + side, dgap),
        (dx + side, dy),
        (dx, dy),
    ]
    return " ".join(
        f"{'M' if k == 0 else 'L'}{_num(px)},{_num(py)}" for k, (px, py) in enumerate(points)
    )


def to_svg(g: Graph) -> str:
    """A standalone SVG drawing of the graph, laid out by :func:`layered_layout`."""
    by_id = {n.id: n for n in g.nodes}
    lines_max = max((len(n.lines) for n in g.nodes), default=1)
    box_h = lines_max * LINE_HEIGHT + 2 * PAD_Y

    def box_w(node_id: str) -> float:
        return max(len(line) for line in by_id[node_id].lines) * CHAR_WIDTH + 2 * PAD_X

    lay = layered_layout(
        [(n.id, srcs) for n, srcs in zip(g.nodes, g.sources)], box_w, gap=2 * PAD_X
    )
    depth = max(lay.layer.values(), default=0) + 1
    loops = len(g.feedback)  # each gets its own lane right of the graph
    width = lay.width + 2 * MARGIN + (FEEDBACK_GAP + loops * FEEDBACK_LANE if loops else 0)
    height = depth * box_h + (depth - 1) * LAYER_GAP + 2 * MARGIN + (LAYER_GAP if loops else 0)

    def top(layer: int) -> float:
        return MARGIN + layer * (box_h + LAYER_GAP)

    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(width)}" '
        f'height="{_num(height)}" viewBox="0 0 {_num(width)} {_num(height)}" '
        'font-family="monospace" font-size="12">',
        f"<title>{escape(g.name)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/>'
        "</marker></defs>",
    ]
    start, end = _ports(lay, box_w)
    for e, (src, dst, bends) in enumerate(lay.bends):
        points = [(MARGIN + start[e], top(lay.layer[src]) + box_h)]
        for layer, x in bends:
            points += [(MARGIN + x, top(layer)), (MARGIN + x, top(layer) + box_h)]
        points.append((MARGIN + end[e], top(lay.layer[dst])))
        d = " ".join(
            f"{'M' if i == 0 else 'L'}{_num(px)},{_num(py)}" for i, (px, py) in enumerate(points)
        )
        out.append(
            f'<path class="edge" d="{d}" fill="none" stroke="#555" marker-end="url(#arrow)"/>'
        )
    for i, (src, dst) in enumerate(g.feedback):
        d = _feedback_path(
            i,
            (MARGIN + lay.x[src] + box_w(src) / 2, top(lay.layer[src]), box_h),
            (MARGIN + lay.x[dst] + box_w(dst) / 2, top(lay.layer[dst]), box_h),
            MARGIN + lay.width + FEEDBACK_GAP + i * FEEDBACK_LANE,
        )
        out.append(
            f'<path class="feedback" d="{d}" fill="none" stroke="#555" '
            'stroke-dasharray="5,3" marker-end="url(#arrow)">'
            f"<title>{escape(src)} at the previous step -&gt; {escape(dst)}</title></path>"
        )
    for n in g.nodes:
        w = box_w(n.id)
        cx, y = MARGIN + lay.x[n.id], top(lay.layer[n.id])
        rx = box_h / 2 if n.kind in ("input", "output") else 4
        out.append(f'<g class="node" id={quoteattr(n.id)}>')
        if n.tooltip:
            out.append(f"<title>{escape(n.tooltip)}</title>")
        out.append(
            f'<rect class="node" x="{_num(cx - w / 2)}" y="{_num(y)}" width="{_num(w)}" '
            f'height="{_num(box_h)}" rx="{_num(rx)}" fill="{_FILL.get(n.kind, "#ffffff")}" '
            'stroke="#333"/>'
        )
        first = y + (box_h - len(n.lines) * LINE_HEIGHT) / 2 + LINE_HEIGHT * 0.75
        for i, line in enumerate(n.lines):
            out.append(
                f'<text x="{_num(cx)}" y="{_num(first + i * LINE_HEIGHT)}" '
                f'text-anchor="middle">{escape(line)}</text>'
            )
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
