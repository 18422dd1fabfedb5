"""snndsl graph: DOT text, the SVG of our own layered layout, escaping, the CLI.

The DOT output is read back with a small parser of the DOT subset it uses, so every
node, edge and label is checked, not just looked for.  SVG output is parsed as XML.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from conftest import ROOT, SPECS, spec_id

import snndsl
from snndsl.cli import main
from snndsl.exports.graph import (
    Graph,
    GraphNode,
    graph,
    layered_layout,
    network_graph,
    to_dot,
    to_svg,
)
from snndsl.exports.summary import node_name

SEED = ROOT / "specs" / "seed.snn"
SVG = "{http://www.w3.org/2000/svg}"
NASTY = "a \"quoted\" \\ back<slash> & 'amp'"

_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|(->)|([{}\[\];,=])|([\w.#]+))', re.S)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        assert m and m.end() > pos, f"unexpected DOT text at {text[pos : pos + 30]!r}"
        quoted, arrow, punct, word = m.groups()
        if quoted is not None:
            out.append(("id", re.sub(r"\\(.)", lambda e: "\n" if e[1] == "n" else e[1], quoted)))
        else:
            out.append(("op", arrow or punct) if (arrow or punct) else ("id", word))
        pos = m.end()
    return out


def parse_dot(text: str) -> tuple[str, dict[str, dict[str, str]], list[tuple[str, str]]]:
    """(graph name, node id -> attributes, edges) of a ``digraph`` in the subset we emit."""
    toks = _tokens(text)
    assert toks[0] == ("id", "digraph") and toks[2] == ("op", "{") and toks[-1] == ("op", "}")
    name, body = toks[1][1], toks[3:-1]
    nodes: dict[str, dict[str, str]] = {}
    edges: list[tuple[str, str]] = []
    while body:
        end = body.index(("op", ";"))
        stmt, body = body[:end], body[end + 1 :]
        attrs: dict[str, str] = {}
        if ("op", "[") in stmt:
            start = stmt.index(("op", "["))
            assert stmt[-1] == ("op", "]")
            items = stmt[start + 1 : -1]
            for i in range(0, len(items), 4):
                key, eq, value = items[i : i + 3]
                assert eq == ("op", "=") and items[i + 3 : i + 4] in ([], [("op", ",")])
                attrs[key[1]] = value[1]
            stmt = stmt[:start]
        if stmt == [("id", "node")]:
            continue  # default attributes
        ids = [t[1] for t in stmt[::2]]
        assert all(t == ("op", "->") for t in stmt[1::2]) and all(t[0] == "id" for t in stmt[::2])
        if len(ids) == 1:
            assert ids[0] not in nodes, f"node {ids[0]} declared twice"
            nodes[ids[0]] = attrs
        else:
            edges.extend(zip(ids, ids[1:]))
    return name, nodes, edges


def _shape(shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def expected(spec) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """From the IR directly: node id -> first label line, and the edges."""
    net = snndsl.resolve(spec)
    labels: dict[str, str] = {}
    producer: dict[str, str] = {}
    edges = set()
    for i in net.inputs:
        labels[i.name] = f"input {i.name}\n{_shape(i.shape)}"
        producer[i.name] = i.name
    for n in net.nodes:
        name = node_name(n)
        edges.update((producer[s], name) for s in net.reads(n))
        producer[n.value] = name
        labels[name] = name
    for o in net.outputs:
        labels[f"output.{o.name}"] = f"output {o.name}\n{_shape(o.shape)}"
        edges.add((producer[o.source], f"output.{o.name}"))
    # feedback: the value a delay reads one step earlier (drawn dashed)
    edges.update((producer[d.source], node_name(d)) for d in net.delays)
    return labels, edges


# --------------------------------------------------------------------------- DOT


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_dot_has_every_node_and_edge(spec):
    labels, edges = expected(str(spec))
    name, nodes, got_edges = parse_dot(to_dot(graph(str(spec))))
    assert name == snndsl.resolve(str(spec)).name
    assert sorted(nodes) == sorted(labels)
    assert len(got_edges) == len(set(got_edges)) and set(got_edges) == edges
    shapes = {r.name: _shape(r.shape) for r in snndsl.summary(str(spec)).nodes}
    for node_id, label in labels.items():
        if "\n" in label:  # inputs and outputs: the whole label
            assert nodes[node_id]["label"] == label
        else:  # 'name: Op' and the output shape
            assert nodes[node_id]["label"].startswith(f"{label}: ")
            assert nodes[node_id]["label"].endswith(f"\n{shapes[node_id]}")


def test_dot_of_the_conv_net_labels_and_tooltips():
    _, nodes, _ = parse_dot(to_dot(graph(str(ROOT / "specs" / "conv.snn"))))
    assert nodes["conv1"]["label"] == "conv1: Conv2d\n[8, 28, 28]"
    assert nodes["conv1"]["tooltip"] == (
        "Conv2d(in_channels=1, out_channels=8, kernel_size=3, padding=1, bias=false)"
    )
    assert nodes["sn1"]["fillcolor"] == "#fbe3c6"


def test_dot_escapes_quotes_in_spec_strings():
    spec = (
        'network Q {\n    input x: [2, 8]\n    output y = x -> c: Conv1d(2, 3, padding="same")\n}\n'
    )
    _, nodes, _ = parse_dot(to_dot(graph(spec)))
    assert nodes["c"]["tooltip"] == (
        'Conv1d(in_channels=2, out_channels=2, kernel_size=3, padding="same")'
    )


def _nasty_graph() -> Graph:
    return Graph(
        NASTY,
        (
            GraphNode(NASTY, "input", (NASTY, "[1]"), ""),
            GraphNode("b<&>", "layer", ("b: <&>", "[1]"), NASTY),
        ),
        ((), (NASTY,)),
    )


def test_dot_escaping_round_trips():
    name, nodes, edges = parse_dot(to_dot(_nasty_graph()))
    assert name == NASTY
    assert nodes[NASTY]["label"] == f"{NASTY}\n[1]"
    assert nodes["b<&>"]["tooltip"] == NASTY
    assert edges == [(NASTY, "b<&>")]


# --------------------------------------------------------------------------- SVG


def _svg_nodes(svg: str) -> dict[str, tuple[list[str], ET.Element]]:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    out = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") != "node":
            continue
        rects = [r for r in g.iter(f"{SVG}rect") if r.get("class") == "node"]
        assert len(rects) == 1
        out[g.get("id")] = ([t.text for t in g.iter(f"{SVG}text")], rects[0])
    return out


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_svg_is_well_formed_with_one_box_per_node(spec):
    g = graph(str(spec))
    svg = to_svg(g)
    root = ET.fromstring(svg)
    boxes = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "node"]
    assert len(boxes) == len(g.nodes)
    nodes = _svg_nodes(svg)
    assert sorted(nodes) == sorted(n.id for n in g.nodes)
    for n in g.nodes:
        assert nodes[n.id][0] == list(n.lines)
    paths = [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
    assert len(paths) == len(g.edges)
    # boxes lie inside the drawing and never overlap
    width, height = float(root.get("width")), float(root.get("height"))
    rects = [
        tuple(float(r.get(k)) for k in ("x", "y", "width", "height")) for _, r in nodes.values()
    ]
    for x, y, w, h in rects:
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            overlap = all(a[k] < b[k] + b[k + 2] and b[k] < a[k] + a[k + 2] for k in (0, 1))
            assert not overlap, (a, b)


def test_svg_escaping_round_trips():
    svg = to_svg(_nasty_graph())
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title").text == NASTY
    nodes = _svg_nodes(svg)
    assert nodes[NASTY][0] == [NASTY, "[1]"]
    assert nodes["b<&>"][0] == ["b: <&>", "[1]"]
    assert [t.text for t in root.iter(f"{SVG}title")][1:] == [NASTY]


# --------------------------------------------------------------------------- layout


DAG = [
    ("a", []),
    ("b", ["a"]),
    ("c", ["a"]),
    ("d", ["b", "c"]),  # a merge
    ("e", ["a", "d"]),  # a skip edge over two layers
    ("out", ["e", "b", "a"]),
]


def test_layout_of_a_general_dag():
    width = {"a": 40, "b": 60, "c": 30, "d": 50, "e": 40, "out": 80}
    lay = layered_layout(DAG, width.__getitem__, gap=10)
    assert lay.layer == {"a": 0, "b": 1, "c": 1, "d": 2, "e": 3, "out": 4}
    bends = {(s, d): pts for s, d, pts in lay.bends}
    assert sorted(bends) == sorted((s, n) for n, srcs in DAG for s in srcs)
    for (s, d), pts in bends.items():
        assert [layer for layer, _ in pts] == list(range(lay.layer[s] + 1, lay.layer[d]))
    # in each layer, boxes and bend points keep at least the gap between them
    for layer in range(5):
        spans = [
            (lay.x[n] - width[n] / 2, lay.x[n] + width[n] / 2)
            for n in width
            if lay.layer[n] == layer
        ]
        spans += [(x, x) for pts in bends.values() for lay_, x in pts if lay_ == layer]
        spans.sort()
        for (_, right), (left, _) in zip(spans, spans[1:]):
            assert left - right >= 10 - 1e-9
    assert min(lay.x[n] - width[n] / 2 for n in width) == pytest.approx(0, abs=1e-9)
    assert lay.width >= max(lay.x[n] + width[n] / 2 for n in width)


def test_layout_orders_layers_to_remove_crossings():
    # listed so that the first order crosses: a -> q, b -> p
    deps = [("a", []), ("b", []), ("p", ["b"]), ("q", ["a"])]
    lay = layered_layout(deps, lambda n: 20)
    assert (lay.x["a"] < lay.x["b"]) == (lay.x["q"] < lay.x["p"])


@pytest.mark.parametrize(
    ("deps", "message"),
    [
        ([("a", ["b"]), ("b", ["a"])], "cycle"),
        ([("a", ["zz"])], "unknown node"),
        ([("a", []), ("a", [])], "unique"),
    ],
)
def test_layout_rejects_bad_graphs(deps, message):
    with pytest.raises(ValueError, match=message):
        layered_layout(deps, lambda n: 10)


def test_network_graph_sources_follow_the_ir():
    g = network_graph(snndsl.resolve(str(ROOT / "specs" / "psn.snn")))
    sources = dict(zip((n.id for n in g.nodes), g.sources))
    assert sources["fc1"] == ("x",) and sources["psn"] == ("fc1",)
    assert sources["output.h"] == ("psn",) and sources["x"] == ()


# --------------------------------------------------------------------------- CLI


def test_cli_graph_dot_to_stdout(capsys):
    assert main(["graph", str(SEED)]) == 0
    assert capsys.readouterr().out == to_dot(graph(str(SEED)))


@pytest.mark.parametrize("suffix", [".dot", ".svg"])
def test_cli_graph_writes_a_file(tmp_path, capsys, suffix):
    target = tmp_path / f"net{suffix}"
    conv = str(ROOT / "specs" / "conv.snn")
    assert main(["graph", conv, "--set", "channels=4", "-o", str(target)]) == 0
    assert capsys.readouterr().out == ""
    g = graph(conv, params={"channels": 4})
    assert target.read_text(encoding="utf-8") == (to_svg(g) if suffix == ".svg" else to_dot(g))
    assert "[4, 28, 28]" in target.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file


def test_cli_graph_spec_error_leaves_the_output_untouched(tmp_path, capsys):
    bad = tmp_path / "bad.snn"
    bad.write_text("network N {\n    input x: [8]\n    output y = x -> Lnear(4)\n}\n")
    target = tmp_path / "net.svg"
    target.write_text("old\n", encoding="utf-8")
    assert main(["graph", str(bad), "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}:3:21: error[E0201]: unknown operation 'Lnear'")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.snn", "net.svg"]


@pytest.mark.parametrize(
    "argv",
    [
        ["graph"],
        ["graph", "specs/seed.snn", "-o", "net.png"],
        ["graph", "specs/seed.snn", "--mode", "single"],
        ["graph", "specs/seed.snn", "--set", "hidden"],
    ],
    ids=" ".join,
)
def test_cli_graph_usage_errors_exit_2(argv, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: snndsl" in capsys.readouterr().err
    assert not (ROOT / "net.png").exists()


def _points(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", d)]


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_svg_draws_the_feedback_edges_of_the_dot_output(spec):
    g = graph(str(spec))
    dot_feedback = [line for line in to_dot(g).splitlines() if "style=dashed" in line]
    root = ET.fromstring(to_svg(g))
    paths = [p for p in root.iter(f"{SVG}path") if p.get("class") == "feedback"]
    assert len(paths) == len(dot_feedback) == len(g.feedback)
    if spec.name == "shd_rnn.snn":
        assert len(paths) >= 1  # the recurrent loop is drawn, not left as a lone source
    nodes = _svg_nodes(to_svg(g))
    boxes = {
        i: tuple(float(r.get(k)) for k in ("x", "y", "width", "height"))
        for i, (_, r) in nodes.items()
    }
    width, height = float(root.get("width")), float(root.get("height"))
    for path, (src, dst) in zip(paths, g.feedback):
        assert path.get("stroke-dasharray")  # dashed, as in the DOT output
        assert src in path.find(f"{SVG}title").text and dst in path.find(f"{SVG}title").text
        points = _points(path.get("d"))
        (x0, y0), (x1, y1) = points[0], points[-1]
        sx, sy, sw, sh = boxes[src]
        dx, dy, dw, dh = boxes[dst]
        assert x0 == pytest.approx(sx + sw) and sy < y0 < sy + sh  # leaves the source's side
        assert x1 == pytest.approx(dx + dw) and dy < y1 < dy + dh  # enters the delay's side
        for px, py in points:
            assert 0 <= px <= width and 0 <= py <= height
        for (ax, ay), (bx, by) in zip(points, points[1:]):  # routed around every box
            assert ax == bx or ay == by
            for x, y, w, h in boxes.values():
                inside_x = min(ax, bx) < x + w and x < max(ax, bx)
                inside_y = min(ay, by) < y + h and y < max(ay, by)
                if ax == bx:  # vertical: must not run through a box
                    assert not (x < ax < x + w and inside_y), (ax, ay, by, (x, y, w, h))
                else:
                    assert not (y < ay < y + h and inside_x), (ay, ax, bx, (x, y, w, h))
