"""Blocks, repeat, scoped defaults and imports: expansion, names, errors, round trips."""

from __future__ import annotations

import pytest
import torch
from conftest import require_spikingjelly

import snndsl
from snndsl import ir
from snndsl.syntax.formatter import format_module
from snndsl.syntax.parser import parse_text
from snndsl.syntax.yaml_io import dump_yaml, load_yaml

SEW = """
block Basic(planes: int, cnf: string = "ADD") {
    input x
    defaults IF(detach_reset=true)
    a = x -> conv1: Conv2d(planes, 3, padding=1, bias=false) -> bn1: BatchNorm2d -> sn1: IF
    output y = SEW(a, x, cnf)
}

block Stage(planes: int, blocks: int = 2) {
    input x
    output y = x -> first: Basic(planes) -> rest: repeat(blocks - 1, Basic(planes, "IAND"))
}

network Net(width = 4) {
    input img: [4, 6, 6]
    defaults IF(surrogate=ATan(), v_threshold=0.5)
    h = img -> stem: Conv2d(width, 1, bias=false) -> sn: IF(v_threshold=1.0)
    output y = h -> layer1: Stage(width, blocks=3) -> flat: Flatten
}
"""


def test_blocks_expand_into_groups_with_prefixed_value_names():
    net = snndsl.resolve(SEW)
    layers = [n.attr for n in net.layers]
    assert layers == [
        "stem",
        "layer1_first_conv1",
        "layer1_first_bn1",
        "layer1_rest_0_conv1",
        "layer1_rest_0_bn1",
        "layer1_rest_1_conv1",
        "layer1_rest_1_bn1",
    ]  # flat: Flatten is a tensor operation, not a module
    # an instance is a group of layers, a repeat a numbered one
    assert [ir.module_key(n) for n in net.layers] == [
        "stem",
        "layer1.first.conv1",
        "layer1.first.bn1",
        "layer1.rest.0.conv1",
        "layer1.rest.0.bn1",
        "layer1.rest.1.conv1",
        "layer1.rest.1.bn1",
    ]
    for mode in ("single", "multi"):
        model = snndsl.load(SEW, mode=mode)()
        keys = [k for k in model.state_dict() if k.endswith("weight")]
        assert keys == [f"{ir.module_key(n)}.weight" for n in net.layers]
        assert isinstance(model.layer1.rest, torch.nn.ModuleList)


def test_defaults_are_scoped_and_merged_by_argument():
    net = snndsl.resolve(SEW)
    spec = {n.attr: n.spec for n in net.neurons}
    # the network's defaults reach into blocks; the block's own add detach_reset
    assert spec["layer1_first_sn1"] == (
        "IF(v_threshold=0.5, v_reset=0.0, surrogate=ATan(alpha=2.0), detach_reset=true)"
    )
    # an explicit argument wins over a default
    assert spec["sn"].startswith("IF(v_threshold=1.0,")
    assert "detach_reset=false" in spec["sn"]  # the block's defaults stay in the block


def test_sew_merges_in_blocks():
    net = snndsl.resolve(SEW)
    sew = {m.value: m.cnf for m in net.nodes if type(m).__name__ == "MergeIR"}
    assert sew == {"layer1_first": "ADD", "layer1_rest_0": "IAND", "layer1": "IAND"}


def test_block_network_matches_spikingjelly():
    require_spikingjelly()
    report = snndsl.check(SEW, steps=3, batch=2)
    assert report.ok, report.render()
    assert report.oracle.startswith("compared in its multi-step")


def test_blocks_round_trip_through_fmt_and_yaml():
    module = parse_text(SEW, "sew.snn")
    assert parse_text(format_module(module), "x") == module
    assert load_yaml(dump_yaml(module)) == module


def test_defaults_do_not_override_positional_arguments():
    spec = """
network P {
    input x: [4, 8, 8]
    defaults Conv2d(kernel_size=3, padding=1, bias=false)
    defaults IF(v_threshold=0.25)
    output y = x -> c1: Conv2d(6) -> s1: IF(0.5) -> c2: Conv2d(2, 1, padding=0) -> s2: IF
}
"""
    net = snndsl.resolve(spec)
    c1, c2 = net.layers
    assert c1.shape == (6, 8, 8) and ir.Binding("bias", False) in c1.ctor_args
    assert c2.shape == (2, 8, 8)  # kernel_size 1 given by position, padding by keyword
    s1, s2 = net.neurons
    assert s1.spec.startswith("IF(v_threshold=0.5,") and s2.spec.startswith("IF(v_threshold=0.25,")


def test_imports(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "common.snn").write_text(
        'import "neurons.yaml"\n'
        "block Pair(n: int) {\n    input x\n    output y = x -> fc: Linear(n) -> sn: Leaky\n}\n"
    )
    (tmp_path / "lib" / "neurons.yaml").write_text(
        "- neuron: Leaky\n  params:\n  - {name: tau, default: 2.0}\n  body:\n"
        "  - state: v\n    init: 0.0\n  - charge: v\n    value: v + (x - v) / tau\n"
        "  - fire: v >= 1.0\n  - reset: v\n    value: 0.0\n"
    )
    main = tmp_path / "main.snn"
    main.write_text(
        'import "lib/common.snn"\nnetwork M {\n    input x: [3]\n'
        "    output y = x -> p1: Pair(4) -> p2: Pair(2)\n}\n"
    )
    net = snndsl.resolve(str(main))
    assert [n.attr for n in net.neurons] == ["p1_sn", "p2_sn"]
    assert [n.neuron for n in net.neurons] == ["Leaky", "Leaky"]
    snndsl.load(str(main), mode="single")


def _error(spec, path=None):
    with pytest.raises(snndsl.SpecError) as info:
        snndsl.resolve(spec if path is None else str(path))
    return info.value.diagnostics[0]


def test_import_errors(tmp_path):
    a, b = tmp_path / "a.snn", tmp_path / "b.snn"
    a.write_text('import "b.snn"\nnetwork A {\n input x: [2]\n output y = x\n}\n')
    b.write_text('import "a.snn"\n')
    d = _error(None, a)
    assert d.code == "E0109" and d.message == "import cycle: a.snn -> b.snn -> a.snn"
    assert d.source.path == str(b) and (d.span.line, d.span.column) == (1, 8)
    a.write_text('import "missing.snn"\nnetwork A {\n input x: [2]\n output y = x\n}\n')
    d = _error(None, a)
    assert d.code == "E0010" and "cannot read imported file 'missing.snn'" in d.message


def test_errors_inside_an_imported_block_point_into_its_file(tmp_path):
    (tmp_path / "lib.snn").write_text(
        "block Bad(n: int) {\n    input x\n    output y = x -> fc: Linear(n) -> Lnear(2)\n}\n"
    )
    main = tmp_path / "main.snn"
    main.write_text('import "lib.snn"\nnetwork M {\n input x: [3]\n output y = x -> Bad(4)\n}\n')
    d = _error(None, main)
    assert d.code == "E0201" and d.source.path.endswith("lib.snn")
    assert (d.span.line, d.span.column) == (3, 38)


def test_errors_inside_an_imported_neuron_point_into_its_file(tmp_path):
    """A neuron body's error is located in the file that defines it, with a note naming
    the call; a failed `require` stays at the call."""
    (tmp_path / "lib.snn").write_text(
        "neuron Vec(n: int, k: float = 1.0) {\n"
        '    require k > 0.0, "k must be positive"\n'
        "    param w[n] = k\n"
        "    state v = 0.0\n"
        "    charge v = v + w * x\n"
        "    fire v >= 1.0\n"
        "}\n"
    )
    main = tmp_path / "main.snn"
    main.write_text(
        'import "lib.snn"\nnetwork M {\n input x: [3]\n output y = x -> sn: Vec(4)\n}\n'
    )
    d = _error(None, main)
    assert d.code == "E0302" and d.source.path.endswith("lib.snn")
    assert (d.span.line, d.span.column) == (3, 5)
    assert d.notes == (f"in neuron 'Vec', called at {main}:4:22",)
    main.write_text(main.read_text().replace("Vec(4)", "Vec(3)"))
    assert snndsl.resolve(str(main)).neurons
    main.write_text(main.read_text().replace("Vec(3)", "Vec(3, k=-1.0)"))
    d = _error(None, main)
    assert d.code == "E0403" and d.source.path == str(main) and d.span.line == 4
    assert "k must be positive" in d.message and not d.notes


def test_errors_inside_a_library_neuron_point_into_the_prelude():
    spec = "network P {\n input x: [2, 6]\n output y = x -> sn: snntorch.RLeaky(0.9, linear_features=6)\n}\n"
    with pytest.raises(snndsl.SpecError) as info:
        snndsl.resolve(spec)
    (d,) = info.value.diagnostics
    assert d.source.path == "<prelude>/snntorch.snn" and "recurrent.weight" in d.message
    assert d.notes == ("in neuron 'snntorch.RLeaky', called at <spec>:3:22",)


@pytest.mark.parametrize(
    "body,code,message",
    [
        ("output y = x -> Loop(1)", "E0109", "block 'Loop' instantiates itself (Loop -> Loop)"),
        ("output y = x -> Two(1)", "E0206", "has 1 inputs and 2 outputs"),
        ("output y = x -> Sized(1)", "E0301", "block 'Sized' takes [5], got [3]"),
        ("output y = x -> Undef(1)", "E0103", "undefined name 'nope' in block 'Undef'"),
        ("output y = x -> repeat(0, Sized(1))", "E0207", "repeat count must be an int"),
        ("defaults Lif(tau=2.0)\n output y = x", "E0201", "defaults for unknown operation"),
        ("defaults LIF(2.0)\n output y = x", "E0204", "defaults are keyword arguments"),
    ],
)
def test_block_errors(body, code, message):
    spec = f"""
block Loop(n: int) {{
    input x
    output y = x -> Loop(n)
}}
block Two(n: int) {{
    input x
    output y = x
    output z = x
}}
block Sized(n: int) {{
    input x: [5]
    output y = x
}}
block Undef(n: int) {{
    input x
    output y = nope -> IF
}}
network N {{
 input x: [3]
 {body}
}}
"""
    d = _error(spec)
    assert d.code == code and message in d.message, d.render()


def test_network_inputs_need_a_shape():
    d = _error("network N {\n input x\n output y = x\n}\n")
    assert d.code == "E0302" and "network input 'x' needs a shape" in d.message


def test_block_names_clash_with_definitions():
    d = _error(
        "block LIF() {\n input x\n output y = x\n}\nnetwork N {\n input x: [2]\n output y = x\n}\n"
    )
    assert d.code == "E0102" and "'LIF' is already defined (built in)" in d.message
