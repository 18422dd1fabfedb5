"""The YAML form: loading, dumping, round trips through text, and located errors."""

from __future__ import annotations

import math

import pytest
import yaml
from conftest import ROOT, SEED_SPEC  # noqa: E402
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snndsl.diagnostics import Span, SpecError
from snndsl.syntax import ast
from snndsl.syntax.formatter import format_module
from snndsl.syntax.parser import parse_text
from snndsl.syntax.yaml_io import dump_yaml, load_yaml

ALL_KINDS_SPEC = r"""# leading comment
network Net(hidden: int = 4, scale = 0.5, neg = -2, zero = -0, fzero = -0.0) {
    input x: [1, 28, 28]
    # hidden layer
    h = x -> fc1: Linear(hidden * 2, bias=false) -> LIF(tau=2.0, surrogate=ATan(alpha=2.0))
    out = h -> Flatten -> odd: F(k=1, 2) -> G(k=1, k=2)
    output y = out -> fc2: Linear(10) -> IF
    output h
}

network Empty {
}

neuron N(v_threshold = 1.0, v_reset: float? = none, tag = "a \"q\" \\ b\tc\nd", t = true) {
    require v_threshold > 0.0, "threshold must be \"positive\"\n"
    let vr = v_reset ?? 0.0
    let small = 1e-05 + 1e+16 + 0.1
    let odd = f(k=1, 2) + [yes, on, null_, "true", "1.0", -1.5]
    state v = vr
    charge v = v + x
    fire v >= v_threshold, surrogate: Sigmoid(alpha=4.0), scale: -1.5, scale: 2
    if v_reset == none {
        reset v -= v_threshold
    } else if v_threshold > 2 {
        reset v = vr, detach: true
    } else {
        # nothing to do
        reset none
    }
}

surrogate S(alpha = 4.0) {
    require alpha > 0, "alpha"
    let s = sigmoid(alpha * x)
    primitive s
    gradient (1.0 - s) * s * alpha
}
# trailing
"""

BRIEF_YAML = """\
- network: Seed              # item kind key first, its value the name
  params: [{name: hidden, default: 4}]
  comments: ["the seed"]
  body:
    - input: x
      shape: [8]
    - assign: h
      chain: [x, {op: Linear, args: [hidden * 2]}, IF]
    - output: y
      chain: [h, {op: Linear, args: [2], kwargs: {bias: false}, label: fc2}, IF]
    - output: z
- neuron: MyIF
  params:
    - {name: v_threshold, default: 1.0}
    - name: v_reset
      type: float?         # PyYAML needs quotes for `float?` inside {...}: 'float?'
      default: 0.0
    - {name: surrogate, default: {op: ATan, kwargs: {alpha: 2.0}}}
  body:
    - require: "v_threshold > 0.0"
      message: "must be positive"
    - let: vr
      value: "v_reset ?? 0.0"
    - state: v
      init: vr
    - charge: v
      value: "v + x"
    - fire: "v >= v_threshold"
      options: {surrogate: surrogate}
    - if: "v_reset == none"
      then:
        - reset: v
          subtract: v_threshold
      else:
        - reset: v
          value: v_reset
          options: {detach: detach_reset}
        - reset: none
        - reset: null
- surrogate: Sigmoid
  params: [{name: alpha, default: 4.0}]
  body:
    - let: s
      value: "sigmoid(alpha * x)"
    - primitive: s
    - gradient: "(1.0 - s) * s * alpha"
    - require: '"same" == "same"'
      message: ok
"""

BRIEF_TEXT = """\
# the seed
network Seed(hidden = 4) {
    input x: [8]
    h = x -> Linear(hidden * 2) -> IF
    output y = h -> fc2: Linear(2, bias=false) -> IF
    output z
}
neuron MyIF(v_threshold = 1.0, v_reset: float? = 0.0, surrogate = ATan(alpha=2.0)) {
    require v_threshold > 0.0, "must be positive"
    let vr = v_reset ?? 0.0
    state v = vr
    charge v = v + x
    fire v >= v_threshold, surrogate: surrogate
    if v_reset == none {
        reset v -= v_threshold
    } else {
        reset v = v_reset, detach: detach_reset
        reset none
        reset none
    }
}
surrogate Sigmoid(alpha = 4.0) {
    let s = sigmoid(alpha * x)
    primitive s
    gradient (1.0 - s) * s * alpha
    require "same" == "same", "ok"
}
"""


def strict(node) -> str:
    """Spans are not compared, but ints and floats must stay apart (``1 == 1.0``)."""
    return repr(node)


def assert_same(a, b) -> None:
    assert a == b
    assert strict(a) == strict(b)


# --------------------------------------------------------------------------- round trips


TENSOR_OPS_SPEC = (
    (ROOT / "specs" / "spikformer.snn").read_text()
    + """
network Ops {
    input x: [6, 20]
    a = x -> Reshape([2, 3, -1]) -> Permute([0, 2, 1]) -> Softmax(dim=-2)
    b = x -> Reshape([2, 3, 20]) -> Transpose(-2, -1)
    output y = MatMul(a, b) -> Select(1, dim=0) -> Scale(0.5) -> Flatten(start=0, end=-1)
    output z = x -> Flatten -> l: Linear(30) -> VotingLayer(voting_size=10)
}
"""
)


GROUPS_SPEC = (
    (ROOT / "specs" / "spikingjelly" / "plif_mnist.snn").read_text()
    + (ROOT / "specs" / "spikingjelly" / "spiking_resnet18.snn").read_text()
    + """
neuron R() {
    param recurrent.weight[features, features] = kaiming_uniform(sqrt(5.0))
    buffer recurrent.scale = 2.0
    state v = 0.0
    charge v = v + x + recurrent.weight @ v * recurrent.scale
    fire v >= 1.0
    reset v = 0.0
}
"""
)


@pytest.mark.parametrize(
    "text",
    [SEED_SPEC, ALL_KINDS_SPEC, TENSOR_OPS_SPEC, GROUPS_SPEC],
    ids=["seed", "all", "tensor-ops", "groups"],
)
def test_yaml_round_trips(text):
    module = parse_text(text)
    dumped = dump_yaml(module)
    loaded = load_yaml(dumped, "spec.yaml")
    assert_same(loaded, module)
    assert_same(parse_text(format_module(loaded)), module)
    assert dump_yaml(loaded) == dumped


def test_brief_yaml_loads_to_the_same_ast_as_text():
    module = load_yaml(BRIEF_YAML, "brief.yaml")
    assert_same(module, parse_text(BRIEF_TEXT))
    assert module.source is not None and module.source.path == "brief.yaml"
    assert_same(load_yaml(dump_yaml(module)), module)


def test_seed_dump_is_readable():
    dumped = dump_yaml(parse_text(SEED_SPEC))
    assert dumped.startswith(
        "- network: Seed\n"
        "  comments:\n"
        "  - The SpikingJelly step-mode tutorial network.\n"
        "  body:\n"
        "  - input: x\n"
        "    shape: [8]\n"
        "  - output: y\n"
        "    comments:\n"
        "    - two IF layers\n"
        "    chain: [x, {op: Linear, args: [4]}, IF, {op: Linear, args: [2]}, IF]\n"
    )
    assert "  - {name: surrogate, default: {op: Sigmoid}}\n" in dumped
    assert "    value: v + (x - (v - vr)) / tau\n" in dumped
    assert "  - if: v_reset == none\n    then:\n    - reset: v\n      subtract: v_threshold\n" in (
        dumped
    )
    assert "    options: {detach: detach_reset}\n" in dumped


def test_empty_documents():
    assert load_yaml("") == ast.Module(())
    assert load_yaml("# just a comment\n") == ast.Module(())
    assert load_yaml("[]") == ast.Module(())
    assert dump_yaml(ast.Module(())) == "[]\n"
    module = ast.Module((), ("a", "b"))
    assert dump_yaml(module) == "- comments:\n  - a\n  - b\n"
    assert load_yaml(dump_yaml(module)) == module


# --------------------------------------------------------------------------- values


def let_value(yaml_value: str) -> ast.Expr:
    module = load_yaml(f"- neuron: N\n  body:\n    - let: a\n      value: {yaml_value}\n")
    return module.items[0].body[0].value


@pytest.mark.parametrize(
    ("yaml_value", "expected"),
    [
        ("4", ast.Num(4)),
        ("4.0", ast.Num(4.0)),
        ("1.0e-05", ast.Num(1e-05)),
        ("1e-5", ast.Num(1e-05)),  # not a YAML 1.1 float: parsed as a DSL number
        ("-1.5", ast.Unary("-", ast.Num(1.5))),
        ("-3", ast.Unary("-", ast.Num(3))),
        ("-0", ast.Unary("-", ast.Num(0))),
        ("'-0'", ast.Unary("-", ast.Num(0))),
        ("-0.0", ast.Unary("-", ast.Num(0.0))),
        ("+2", ast.Num(2)),
        ("0x10", ast.Num(16)),
        ("true", ast.Bool(True)),
        ("yes", ast.Bool(True)),
        ("'yes'", ast.Name("yes")),
        ("null", ast.NoneLit()),
        ("~", ast.NoneLit()),
        ("none", ast.NoneLit()),
        ("'\"same\"'", ast.Str("same")),
        (
            "[1, -2, [a]]",
            ast.ListExpr((ast.Num(1), ast.Unary("-", ast.Num(2)), ast.ListExpr((ast.Name("a"),)))),
        ),
        ("'[1, a]'", ast.ListExpr((ast.Num(1), ast.Name("a")))),
        ("v + x", ast.Binary("+", ast.Name("v"), ast.Name("x"))),
        ("{op: Sigmoid}", ast.Call("Sigmoid", ())),
        ("'Sigmoid()'", ast.Call("Sigmoid", ())),
        (
            "{op: 'f(k=1, 2)'}",
            ast.Call("f", (ast.Arg("k", ast.Num(1)), ast.Arg(None, ast.Num(2)))),
        ),
        (
            "{op: ATan, args: [1], kwargs: {alpha: 2.0}}",
            ast.Call("ATan", (ast.Arg(None, ast.Num(1)), ast.Arg("alpha", ast.Num(2.0)))),
        ),
        ("!!str 1.5", ast.Num(1.5)),
        ("!!float 1", ast.Num(1.0)),
    ],
)
def test_values(yaml_value, expected):
    assert_same(let_value(yaml_value), expected)


@pytest.mark.parametrize(
    ("expr", "dumped"),
    [
        (ast.Num(1e-05), "1.0e-05"),
        (ast.Num(1e16), "1.0e+16"),
        (ast.Num(3), "3"),
        (ast.Unary("-", ast.Num(1.5)), "-1.5"),
        (ast.Unary("-", ast.Num(0)), "'-0'"),
        (ast.Unary("-", ast.Num(0.0)), "-0.0"),
        (ast.Unary("+", ast.Num(1)), "'+1'"),
        (ast.Name("yes"), "'yes'"),
        (ast.Name("null"), "'null'"),
        (ast.Str("true"), "'\"true\"'"),
        (ast.Bool(False), "false"),
        (ast.NoneLit(), "null"),
        (ast.ListExpr((ast.Num(1), ast.Name("a"))), "[1, a]"),
        (
            ast.Call("f", (ast.Arg("k", ast.Num(1)), ast.Arg(None, ast.Num(2)))),
            "f(k=1, 2)",
        ),
    ],
)
def test_dumped_values(expr, dumped):
    module = ast.Module((ast.NeuronDef("N", (), (ast.Let("a", expr),)),))
    text = dump_yaml(module)
    assert f"    value: {dumped}\n" in text
    assert_same(load_yaml(text), module)


def test_steps_may_be_call_strings():
    text = "- network: A\n  body:\n    - output: y\n      chain: [x, 'Linear(4)', IF, {op: 'G(k=1, 2)', label: g}]\n"
    chain = load_yaml(text).items[0].body[0].chain
    expected = parse_text("network A { output y = x -> Linear(4) -> IF -> g: G(k=1, 2) }")
    assert_same(chain, expected.items[0].body[0].chain)


def test_duplicate_options_use_a_list():
    module = parse_text("neuron N() { fire a, s: 1, s: 2 }")
    text = dump_yaml(module)
    assert "options: [{s: 1}, {s: 2}]" in text
    assert_same(load_yaml(text), module)


def test_spans_point_into_the_yaml_file():
    module = load_yaml(BRIEF_YAML)
    net = module.items[0]
    assert net.name_span == Span(1, 12, 1, 16)
    assign = net.body[1]
    assert assign.span.line == 7 and assign.name_span == Span(7, 15, 7, 16)
    hidden = assign.chain.steps[0].call.args[0].value  # `hidden * 2` in `args: [hidden * 2]`
    assert hidden.left.span == Span(8, 38, 8, 44)
    charge = module.items[1].body[3]
    assert charge.value.right.span == Span(27, 19, 27, 20)  # the x of "v + x"
    fc2 = net.body[2].chain.steps[0]
    assert fc2.label_span == Span(10, 72, 10, 75)
    assert fc2.call.func_span == Span(10, 23, 10, 29)


# --------------------------------------------------------------------------- errors

# fmt: off
ERRORS = [
    pytest.param('- network: Seed\n  body:\n    - assign: x\n',
                 'E0020', 3, 7, "an assign statement is missing the key 'chain'", None, id='missing-key'),
    pytest.param('- neuron: N\n  body:\n    - let: a\n      valeu: 1\n',
                 'E0020', 4, 7, "unknown key 'valeu' in a let statement", "did you mean 'value'?", id='unknown-key'),
    pytest.param('- network: Seed\n  body:\n    - input: x\n      shape: 8\n',
                 'E0020', 4, 14, 'expected a shape (a list), got an integer', None, id='wrong-type'),
    pytest.param('- network: Seed\n  body:\n    - input: x: y\n',
                 'E0021', 3, 15, 'mapping values are not allowed here', None, id='yaml-syntax'),
    pytest.param('- network: Seed\n  body: [\n    - input: x\n',
                 'E0021', 3, 5, "expected the node content, but found '-'", None, id='yaml-unclosed-flow'),
    pytest.param('- neuron: N\n  body:\n    - let: a\n      value: v + * 2\n',
                 'E0001', 4, 18, "unexpected '*'", 'expected', id='bad-expression-plain'),
    pytest.param('- neuron: N\n  body:\n    - let: a\n      value: "v + * 2"\n',
                 'E0001', 4, 19, "unexpected '*'", None, id='bad-expression-double-quoted'),
    pytest.param("- neuron: N\n  body:\n    - let: a\n      value: 'v + ) 2'\n",
                 'E0001', 4, 19, "unexpected ')'", None, id='bad-expression-single-quoted'),
    pytest.param('- neuron: N\n  body:\n    - fire: v >=\n',
                 'E0001', 3, 17, 'unexpected end of file', None, id='truncated-expression'),
    pytest.param('- nework: Seed\n  body: []\n',
                 'E0020', 1, 3, "unknown item kind 'nework'", "did you mean 'network'?", id='unknown-item-kind'),
    pytest.param('- neuron: N\n  body:\n    - lett: a\n      value: 1\n',
                 'E0020', 3, 7, "unknown statement kind 'lett'", "did you mean 'let'?", id='unknown-statement-kind'),
    pytest.param('- surrogate: S\n  body:\n    - state: v\n      init: 0\n',
                 'E0020', 3, 7, "unknown statement kind 'state'", None, id='statement-not-allowed-in-surrogate'),
    pytest.param('- network: Seed\n  body:\n    - input: 1x\n      shape: [1]\n',
                 'E0101', 3, 14, "'1x' is not valid as an input name", None, id='invalid-name'),
    pytest.param('- network: A\n  body:\n    - assign: output\n      chain: [x]\n',
                 'E0101', 3, 15, "'output' is a keyword here", None, id='keyword-name'),
    pytest.param('- network: Seed\n  body: []\n  body: []\n',
                 'E0020', 3, 3, "duplicate key 'body' in an item", None, id='duplicate-key'),
    pytest.param('- neuron: N\n  body:\n    - reset: v\n      value: 0\n      subtract: 1\n',
                 'E0020', 5, 7, "give either 'value' or 'subtract', not both", None, id='reset-both'),
    pytest.param('- neuron: N\n  body:\n    - reset: v\n',
                 'E0020', 3, 7, "a reset is missing the key 'value' (hard) or 'subtract' (soft)", None, id='reset-neither'),
    pytest.param('- neuron: N\n  body:\n    - reset: null\n      value: 1\n',
                 'E0020', 4, 7, "'reset: none' takes no 'value'", None, id='reset-none-with-value'),
    pytest.param('- neuron: N\n  body:\n    - let: a\n      value: &x [1, *x]\n',
                 'E0020', 4, 14, 'alias refers to a node that contains it', None, id='recursive-alias'),
    pytest.param('- neuron: N\n  body:\n    - let: a\n      value: .inf\n',
                 'E0020', 4, 14, 'expected a finite number', None, id='infinite'),
    pytest.param('- neuron: N\n  body:\n    - let: a\n      value: !!int abc\n',
                 'E0020', 4, 14, 'cannot read an integer', None, id='bad-explicit-tag'),
    pytest.param('- neuron: N\n  body:\n    - let: a\n      value: 2001-01-01\n',
                 'E0020', 4, 14, 'got a date', None, id='date'),
    pytest.param('- neuron: N\n  body:\n    - let: a\n      value: 1e999\n',
                 'E0002', 4, 14, 'too large', None, id='huge-number'),
    pytest.param('- network: A\n  body: []\n---\n- network: B\n  body: []\n',
                 'E0021', 3, 1, 'expected a single document in the stream, but found another', None, id='two-documents'),
    pytest.param('network: A\n',
                 'E0020', 1, 1, 'expected the document to be a list of items, got a mapping', '- network', id='not-a-list'),
    pytest.param('- network: A\x00\n',
                 'E0021', 1, 13, 'unacceptable character', None, id='nul-character'),
    pytest.param('- network: A\n  body:\n    - output: y\n      chain: [x, {op: Linear, arg: [4]}]\n',
                 'E0020', 4, 31, "unknown key 'arg' in a chain step", "did you mean 'args'?", id='unknown-step-key'),
    pytest.param("- network: A\n  body:\n    - output: y\n      chain: [x, {op: 'Linear(4)', args: [1]}]\n",
                 'E0020', 4, 36, "already given inside 'op'", None, id='args-twice'),
    pytest.param('- network: A\n  body:\n    - output: y\n      chain: []\n',
                 'E0020', 4, 14, 'a chain needs at least its source name', None, id='empty-chain'),
    pytest.param('- neuron: N\n  params: [{type: int}]\n  body: []\n',
                 'E0020', 2, 12, "a parameter is missing the key 'name'", None, id='param-without-name'),
    pytest.param("- neuron: N\n  params: [{name: a, type: 'float!', default: 1}]\n  body: []\n",
                 'E0020', 2, 28, 'is not a type', None, id='bad-type'),
    pytest.param('- neuron: N\n  body:\n    - require: a\n      message: 5\n',
                 'E0020', 4, 16, 'expected a message (a string), got an integer', None, id='message-not-string'),
    pytest.param('- comments: [a]\n- network: A\n  body: []\n',
                 'E0020', 1, 3, 'only comments must come last', None, id='comments-entry-not-last'),
    pytest.param('- network: A\n  comments: ["a\\nb"]\n  body: []\n',
                 'E0020', 2, 14, 'a comment must be a single line', None, id='multi-line-comment'),
    pytest.param('- network: A\n  yes: 1\n  body: []\n',
                 'E0020', 2, 3, 'expected a string key, got a boolean', None, id='boolean-key'),
]
# fmt: on


@pytest.mark.parametrize(("text", "code", "line", "column", "message", "hint"), ERRORS)
def test_errors_are_located(text, code, line, column, message, hint):
    with pytest.raises(SpecError) as info:
        load_yaml(text, "bad.yaml")
    (diag,) = info.value.diagnostics
    assert diag.code == code
    assert (diag.span.line, diag.span.column) == (line, column)
    assert message in diag.message
    if hint is not None:
        assert diag.hint is not None and hint in diag.hint
    assert diag.source is not None and diag.source.path == "bad.yaml"
    assert "bad.yaml:" in diag.render()


def test_pathological_inputs_are_errors():
    digits = "9" * 5000  # beyond Python's int() digit limit
    for value in (digits, f'"{digits}"'):
        with pytest.raises(SpecError) as info:
            load_yaml(f"- neuron: N\n  body:\n    - let: a\n      value: {value}\n")
        assert info.value.codes in (("E0020",), ("E0001",), ("E0002",))
        assert info.value.diagnostics[0].span.line == 4
    deep = "- neuron: N\n  body:\n    - let: a\n      value: " + "[" * 1000 + "]" * 1000
    with pytest.raises(SpecError) as info:
        load_yaml(deep)
    assert info.value.codes in (("E0020",), ("E0021",))
    deep_expr = "- neuron: N\n  body:\n    - let: a\n      value: " + "-" * 3000 + "a\n"
    with pytest.raises(SpecError) as info:
        load_yaml(deep_expr)
    assert info.value.codes == ("E0001",)
    bomb = "- neuron: N\n  body:\n    - if: c\n      then: &t0 [{let: a, value: 1}]\n"
    for i in range(1, 25):
        bomb += f"    - if: c\n      then: &t{i} [{{if: c, then: *t{i - 1}}}, {{if: c, then: *t{i - 1}}}]\n"
    with pytest.raises(SpecError) as info:
        load_yaml(bomb)
    assert "too many nodes" in info.value.diagnostics[0].message


def test_shared_values_through_aliases_are_fine():
    text = "- neuron: N\n  body:\n    - let: a\n      value: &v [1, 2]\n    - let: b\n      value: *v\n"
    body = load_yaml(text).items[0].body
    assert body[0].value == body[1].value == ast.ListExpr((ast.Num(1), ast.Num(2)))


# --------------------------------------------------------------------------- fuzzing


def load_or_error(text: str):
    try:
        return load_yaml(text)
    except SpecError as err:
        assert err.diagnostics
        for diag in err.diagnostics:
            diag.render()
        return None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_random_text_never_crashes(text):
    load_or_error(text)


YAML_ALPHABET = "-:[]{},'\"!&*?|>#%@`~ \n\t0123456789aeoxyz.+_"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_yaml_never_crashes(data):
    base = data.draw(st.sampled_from([BRIEF_YAML, dump_yaml(parse_text(ALL_KINDS_SPEC))]))
    text = base
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = data.draw(st.text(alphabet=YAML_ALPHABET, min_size=1, max_size=3))
        if action == "insert":
            text = text[:pos] + piece + text[pos:]
        elif action == "delete":
            text = text[:pos] + text[pos + len(piece) :]
        else:
            text = text[:pos] + piece + text[pos + len(piece) :]
    module = load_or_error(text)
    if module is not None:
        assert_same(load_yaml(dump_yaml(module)), module)


names = st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True).filter(
    lambda s: s not in {"true", "false", "none", "and", "or", "not", "if", "else"}
)
safe_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)
numbers = st.one_of(
    st.integers(min_value=0, max_value=10**20),
    st.floats(min_value=0.0, allow_nan=False, allow_infinity=False),
).map(ast.Num)
leaves = st.one_of(
    numbers,
    names.map(ast.Name),
    st.booleans().map(ast.Bool),
    st.just(ast.NoneLit()),
    safe_text.map(ast.Str),
    numbers.map(lambda num: ast.Unary("-", num)),
)
args = st.lists(
    st.tuples(st.one_of(st.none(), names), st.deferred(lambda: expressions)), max_size=3
).map(lambda pairs: tuple(ast.Arg(name, value) for name, value in pairs))
expressions = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.builds(
            ast.Binary,
            st.sampled_from(["??", "or", "==", "+", "*", "**"]),
            children,
            children,
        ),
        st.builds(ast.Unary, st.sampled_from(["-", "not"]), children),
        st.lists(children, max_size=3).map(lambda items: ast.ListExpr(tuple(items))),
        st.builds(ast.Call, names, args),
    ),
    max_leaves=8,
)
comments = st.lists(
    st.text(
        alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\n\r"),
        max_size=12,
    ).map(str.rstrip),
    max_size=2,
).map(tuple)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions, expressions, safe_text, comments, names)
def test_random_modules_round_trip(expr, other, message, notes, label):
    neuron = ast.NeuronDef(
        "N",
        (ast.Param("p", other, "float?"),),
        (
            ast.Let("a", expr, notes),
            ast.Require(other, message),
            ast.Fire(expr, (ast.Option("surrogate", other),)),
        ),
        notes,
    )
    step = ast.Step(ast.Call("Linear", tuple(ast.Arg(None, e) for e in (expr, other))), label)
    network = ast.Network("A", (), (ast.Output("y", ast.Chain(ast.Name("x"), (step,)), notes),))
    module = ast.Module((network, neuron), notes)
    loaded = load_yaml(dump_yaml(module))
    assert_same(loaded, module)
    assert_same(parse_text(format_module(loaded)), module)


def test_floats_survive_yaml():
    for value in (1e-05, 1e16, 0.1, 5e-324, 1.7976931348623157e308, 2.0):
        module = ast.Module((ast.NeuronDef("N", (), (ast.Let("a", ast.Num(value)),)),))
        loaded = load_yaml(dump_yaml(module)).items[0].body[0].value
        assert isinstance(loaded.value, float) and loaded.value == value
        assert not math.isnan(loaded.value)
    assert yaml.safe_load(dump_yaml(parse_text("neuron N() { let a = 1e-05 }")))


def test_the_whole_prelude_round_trips_through_yaml_and_text():
    from snndsl.semantics.checker import prelude
    from snndsl.syntax.formatter import format_module
    from snndsl.syntax.parser import parse_text

    module = prelude()
    assert load_yaml(dump_yaml(module)) == module
    assert parse_text(format_module(module)) == module
    assert parse_text(format_module(load_yaml(dump_yaml(module)))) == module


def test_a_step_label_is_a_name_or_a_dotted_module_path():
    text = (
        "- network: N\n  body:\n  - input: x\n    shape: [8]\n  - output: y\n"
        "    chain: [x, {op: Linear, args: [4], label: %s}]\n"
    )
    module = load_yaml(text % "fc.0", "n.yaml")
    assert module == parse_text("network N {\n input x: [8]\n output y = x -> fc.0: Linear(4)\n}")
    for bad in ("fc..0", "0.fc", "fc.", "fc.-1"):
        with pytest.raises(SpecError) as info:
            load_yaml(text % f'"{bad}"', "n.yaml")
        assert info.value.codes == ("E0101",), bad
        assert f"'{bad}' is not valid as a step label" in info.value.render()
