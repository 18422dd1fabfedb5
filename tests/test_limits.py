"""Bounds on the input (snndsl/limits.py): each refused quickly, with a located E0030
that names the limit, instead of growing memory or time without bound or ending in a
RecursionError.  Also: every limit is documented in the README."""

from __future__ import annotations

import os
import re
import time

import pytest
from conftest import ROOT

import snndsl
from snndsl import limits
from snndsl.diagnostics import CODES
from snndsl.syntax.yaml_io import load_yaml

# seconds: refusals take about 0.1 s on an idle machine; the bound is generous so a loaded
# machine does not fail it, while unbounded growth (minutes, gigabytes) still does
FAST = 5.0


def refused(fn, limit: str) -> snndsl.SpecError:
    """Run ``fn``; it must raise E0030 naming ``limit``, within FAST seconds."""
    start = time.perf_counter()
    with pytest.raises(snndsl.SpecError) as info:
        fn()
    elapsed = time.perf_counter() - start
    d = info.value.diagnostics[0]
    assert d.code == "E0030", info.value.render()
    assert limit in (d.hint or ""), d.hint
    assert d.span.line >= 1 and d.span.column >= 1
    assert elapsed < FAST, f"refused after {elapsed:.2f} s"
    return info.value


def network(chain: str, blocks: str = "") -> str:
    return blocks + f"network N {{\n    input x: [4]\n    output y = {chain}\n}}\n"


IF_BLOCK = "block B {\n    input x\n    output y = x -> IF\n}\n"


# --------------------------------------------------------------------------- file size


def test_oversized_spec_file(tmp_path):
    big = tmp_path / "big.snn"
    big.write_text(network("x -> IF") + "#" * limits.MAX_SPEC_BYTES, encoding="utf-8")
    err = refused(lambda: snndsl.parse(big), "MAX_SPEC_BYTES")
    assert err.diagnostics[0].source.path == str(big)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_endless_spec_file():
    refused(lambda: snndsl.parse("/dev/zero"), "MAX_SPEC_BYTES")


def test_oversized_imported_file(tmp_path):
    (tmp_path / "big.snn").write_text("#" * (limits.MAX_SPEC_BYTES + 1), encoding="utf-8")
    main = tmp_path / "main.snn"
    main.write_text('import "big.snn"\n' + network("x -> IF"), encoding="utf-8")
    err = refused(lambda: snndsl.resolve(snndsl.parse(main)), "MAX_SPEC_BYTES")
    d = err.diagnostics[0]
    assert (d.source.path, d.span.line, d.span.column) == (str(main), 1, 8)
    assert "cannot read imported file 'big.snn'" in d.message


def test_a_spec_at_the_size_limit_is_read(tmp_path):
    text = network("x -> IF")
    spec = tmp_path / "full.snn"
    spec.write_text(text + "#" * (limits.MAX_SPEC_BYTES - len(text)), encoding="utf-8")
    assert snndsl.parse(spec).networks()[0].name == "N"


# --------------------------------------------------------------------------- repeat, nodes


@pytest.mark.parametrize("op", ["IF", "B", "Linear(4)"])
def test_huge_repeat_count(op):
    text = network(f"x -> repeat(1000000000, {op})", IF_BLOCK)
    err = refused(lambda: snndsl.resolve(text), "MAX_NODES")
    d = err.diagnostics[0]
    assert (d.span.line, d.span.column) == (7, 21)
    assert "repeat(1000000000, ...) expands to more than" in d.message


def test_repeat_of_blocks_that_each_expand_a_lot():
    inner = "block Wide {\n    input x\n    output y = x -> repeat(2000, IF)\n}\n"
    text = network("x -> repeat(1000, Wide)", inner)
    err = refused(lambda: snndsl.resolve(text), "MAX_NODES")
    assert "this repeat expands to more than" in err.diagnostics[0].message


def test_node_count_without_repeat(monkeypatch):
    monkeypatch.setattr(limits, "MAX_NODES", 30)
    text = network("x" + " -> IF" * 40)
    err = refused(lambda: snndsl.resolve(text), "MAX_NODES")
    # at the step that would be node 31 (the input's alias is node 1)
    assert (err.diagnostics[0].span.line, err.diagnostics[0].span.column) == (3, 21 + 30 * 6)
    snndsl.resolve(network("x" + " -> IF" * 29))  # 30 nodes with the input's alias


def test_block_fan_out_is_bounded():
    """Blocks that each instantiate the previous one ten times: 10**6 IFs."""
    text = "block B0 {\n    input x\n    output y = x -> IF\n}\n"
    for i in range(1, 7):
        text += f"block B{i} {{\n    input x\n    output y = x{f' -> B{i - 1}' * 10}\n}}\n"
    start = time.perf_counter()
    with pytest.raises(snndsl.SpecError) as info:
        snndsl.resolve(network("x -> B6", text))
    assert info.value.codes == ("E0030",)
    assert time.perf_counter() - start < 2 * FAST


def test_block_nesting_depth():
    def nested(depth: int) -> str:
        text = "".join(
            f"block B{i} {{\n    input x\n    output y = x -> B{i + 1}\n}}\n" for i in range(depth)
        )
        return text + f"block B{depth} {{\n    input x\n    output y = x -> IF\n}}\n"

    err = refused(lambda: snndsl.resolve(network("x -> B0", nested(400))), "MAX_BLOCK_DEPTH")
    assert "blocks nest more than" in err.diagnostics[0].message
    deepest = limits.MAX_BLOCK_DEPTH - 1  # B0 .. B63: 64 blocks inside one another
    ok = snndsl.resolve(network("x -> B0", nested(deepest)))
    assert ok.neurons[0].attr.count("_1_") == limits.MAX_BLOCK_DEPTH
    refused(lambda: snndsl.resolve(network("x -> B0", nested(deepest + 1))), "MAX_BLOCK_DEPTH")


# --------------------------------------------------------------------------- nesting


def neuron_with(charge: str) -> str:
    return (
        f"neuron M() {{\n    state v = 0.0\n    charge v = {charge}\n"
        "    fire v >= 1.0\n    reset v = 0.0\n}\n" + network("x -> M")
    )


def nested_negation(depth: int) -> str:
    expr = "x"
    for _ in range(depth):
        expr = f"-({expr})"
    return expr


@pytest.mark.parametrize(
    "text",
    [
        neuron_with("v + " + nested_negation(400)),
        neuron_with("v + " + " + ".join(["x"] * 400)),
        neuron_with("v + " + "abs(" * 150 + "x" + ")" * 150),
        "neuron M() {\n    state v = 0.0\n" + "    if true {\n" * 150 + "    charge v = v + x\n"
        "" + "    }\n" * 150 + "    fire v >= 1.0\n    reset v = 0.0\n}\n" + network("x -> M"),
    ],
    ids=["negations", "sum-of-terms", "calls", "ifs"],
)
def test_deep_nesting_is_refused_before_any_recursion(text):
    """Each of these parses, but would end in a RecursionError in a later phase."""
    err = refused(lambda: snndsl.generate(text), "MAX_NESTING")
    assert "nests more than" in err.diagnostics[0].message


def test_nesting_below_the_limit_generates():
    for backend in snndsl.BACKENDS:
        snndsl.generate(neuron_with("v + " + nested_negation(90)), backend=backend)


def test_deep_yaml_statements():
    inner = "{let: a, value: 1}"
    for _ in range(120):
        inner = "{if: c, then: [" + inner + "]}"
    text = "- neuron: N\n  body:\n  - " + inner + "\n"
    refused(lambda: load_yaml(text), "MAX_NESTING")


def test_sum_unrolls_within_the_expression_depth():
    text = neuron_with("v + sum(i, 0, 1000, x * i)")
    err = refused(lambda: snndsl.generate(text), "MAX_EXPR_DEPTH")
    assert (err.diagnostics[0].span.line, err.diagnostics[0].span.column) == (3, 20)
    nested = neuron_with("v + sum(i, 0, 150, sum(j, 0, 150, x * j))")
    refused(lambda: snndsl.generate(nested), "MAX_EXPR_DEPTH")
    snndsl.generate(neuron_with("v + sum(i, 0, 150, x * i)"), backend="fused")


# --------------------------------------------------------------------------- YAML aliases


def alias_bomb(levels: int) -> str:
    lines = ["- network: N", "  params:", "  - {name: a0, default: &a0 [1, 1]}"]
    for i in range(1, levels):
        lines.append(f"  - {{name: a{i}, default: &a{i} [*a{i - 1}, *a{i - 1}]}}")
    lines += [
        "  body:",
        "  - {input: x, shape: [4]}",
        "  - {output: y, chain: [x, {op: Linear, args: [2]}]}",
    ]
    return "\n".join(lines) + "\n"


def test_yaml_aliases_in_parameter_defaults():
    text = alias_bomb(30)  # 2**30 leaves once expanded
    assert len(text) < 1500
    err = refused(lambda: snndsl.parse(text, path="bomb.yaml"), "MAX_YAML_NODES")
    assert "too many nodes" in err.diagnostics[0].message


def test_a_few_yaml_aliases_are_fine():
    net = snndsl.resolve(snndsl.parse(alias_bomb(8), path="small.yaml"))
    assert net.name == "N"


# --------------------------------------------------------------------------- documented


def test_every_limit_is_documented():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = [n for n in vars(limits) if re.fullmatch(r"MAX_[A-Z_]+", n)]
    assert len(names) >= 8
    for name in names:
        assert f"`{name}`" in readme, f"README does not document {name}"
    assert "E0030" in CODES


@pytest.mark.parametrize(
    "shape, chain, line",
    [
        ("[1, 8, 8]", "x -> Upsample(scale_factor=1e300)", 3),
        ("[1, 8, 8]", "x -> Upsample(size=[9223372036854775807, 2])", 3),
        ("[9223372036854775807, 9223372036854775807]", "x -> Flatten -> Linear(2)", 2),
        ("[65536, 65537]", "x -> IF", 2),
    ],
)
def test_values_too_large_for_any_tensor(shape, chain, line):
    text = f"network N {{\n    input x: {shape}\n    output y = {chain}\n}}\n"
    err = refused(lambda: snndsl.resolve(text), "MAX_SAMPLE_ELEMENTS")
    assert err.diagnostics[0].span.line == line
    assert "elements per sample" in err.diagnostics[0].message
