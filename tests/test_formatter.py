"""The canonical text printer: exact output, lossless round trips and idempotence."""

from __future__ import annotations

import keyword

import pytest
from conftest import SEED_SPEC  # noqa: E402
from hypothesis import given, settings
from hypothesis import strategies as st

from snndsl.diagnostics import SourceFile
from snndsl.syntax import ast
from snndsl.syntax.formatter import MAX_WIDTH, format_expr, format_module
from snndsl.syntax.parser import parse_expression, parse_text

SEED_CANONICAL = """\
# The SpikingJelly step-mode tutorial network.
network Seed {
    input x: [8]
    # two IF layers
    output y = x -> Linear(4) -> IF -> Linear(2) -> IF
}

neuron LIF(
    tau = 2.0,
    decay_input = true,
    v_threshold = 1.0,
    v_reset: float? = 0.0,
    surrogate = Sigmoid(),
    detach_reset = false,
) {
    require tau > 1.0, "tau must be greater than 1"
    let vr = v_reset ?? 0.0
    state v = vr
    if decay_input {
        charge v = v + (x - (v - vr)) / tau
    } else {
        charge v = v - (v - vr) / tau + x
    }
    fire v >= v_threshold, surrogate: surrogate
    if v_reset == none {
        reset v -= v_threshold, detach: detach_reset
    } else {
        reset v = v_reset, detach: detach_reset
    }
}

surrogate Sigmoid(alpha = 4.0) {
    let s = sigmoid(alpha * x)
    primitive s
    gradient (1.0 - s) * s * alpha
}
"""

# Every statement kind, labels, keyword arguments, string escapes, else-if chains,
# an output without a chain, an empty network and comments in awkward places.
ALL_KINDS_CANONICAL = r"""# leading comment
network Net(hidden: int = 4, scale = 0.5) {
    input x: [1, 28, 28]
    # hidden layer
    h = x -> fc1: Linear(hidden * 2, bias=false) -> LIF(tau=2.0, surrogate=ATan(alpha=2.0))
    out = h -> Flatten
    output y = out -> fc2: Linear(10) -> IF
    output h
}

network Empty {
}

neuron N(v_threshold = 1.0, v_reset: float? = none, tag = "a \"q\" \\ b\tc\nd") {
    require v_threshold > 0.0, "threshold must be \"positive\"\n"
    let vr = v_reset ?? 0.0
    state v = vr
    # charge it
    charge v = v + x
    fire v >= v_threshold, surrogate: Sigmoid(alpha=4.0), scale: -1.5
    if v_reset == none {
        reset v -= v_threshold
    } else if v_threshold > 2 {
        reset v = vr, detach: true
    } else if not flag {
        reset v = [1, 2.5e-07, -3]
    } else {
        # nothing to do
        reset none
    }
    if a {
    }
}

surrogate S(alpha = 4.0) {
    require alpha > 0, "alpha"
    let s = sigmoid(alpha * x)
    primitive s
    gradient (1.0 - s) * s * alpha
}

# trailing one
# trailing two
"""


def strict(node) -> str:
    """A comparison key that also tells ints from floats (``1 == 1.0`` in Python)."""
    return repr(node)


def reformat(text: str) -> str:
    return format_module(parse_text(text))


def test_seed_spec_canonical_text():
    assert reformat(SEED_SPEC) == SEED_CANONICAL


def test_seed_spec_round_trip_and_idempotence():
    module = parse_text(SEED_SPEC)
    text = format_module(module)
    again = parse_text(text)
    assert again == module
    assert strict(again) == strict(module)
    assert format_module(again) == text


def test_all_kinds_is_a_fixed_point():
    module = parse_text(ALL_KINDS_CANONICAL)
    assert format_module(module) == ALL_KINDS_CANONICAL


def test_all_kinds_ast():
    module = parse_text(ALL_KINDS_CANONICAL)
    net, empty, neuron, surrogate = module.items
    assert isinstance(net, ast.Network) and [p.type for p in net.params] == [
        "int",
        None,
    ]
    assert [type(s).__name__ for s in net.body] == [
        "Input",
        "Assign",
        "Assign",
        "Output",
        "Output",
    ]
    fc1 = net.body[1].chain.steps[0]
    assert fc1.label == "fc1" and fc1.call.args[1] == ast.Arg("bias", ast.Bool(False))
    assert net.body[4].chain is None
    assert empty.body == ()
    assert neuron.params[2].default == ast.Str('a "q" \\ b\tc\nd')
    assert neuron.body[0].message == 'threshold must be "positive"\n'
    assert neuron.body[3].comments == ("charge it",)
    reset_if = neuron.body[5]
    assert reset_if.then == (ast.Reset("soft", "v", ast.Name("v_threshold")),)
    inner = reset_if.orelse[0].orelse[0]
    assert inner.condition == ast.Unary("not", ast.Name("flag"))
    assert inner.orelse[0] == ast.Reset("none", comments=("nothing to do",))
    assert neuron.body[6] == ast.If(ast.Name("a"), ())
    assert [type(s).__name__ for s in surrogate.body] == [
        "Require",
        "Let",
        "Primitive",
        "Gradient",
    ]
    assert module.trailing_comments == ("trailing one", "trailing two")


def test_empty_module():
    assert format_module(ast.Module(())) == ""
    assert parse_text("") == ast.Module(())
    assert format_module(ast.Module((), ("only a comment",))) == "# only a comment\n"


COMMENTED = """\
network A {  # on the header line
    input x: [1]   # same line
    # before output
    output y = x
        -> IF  # inside a broken chain
}
#
#  indented comment text
neuron N() {
    # in then
    if a {
        let b = 1
        # dangling at end of block
    } else {
        # an else-if that has its own comment
        if c {
            let d = 2
        }
    }
}
# at the very end
"""

COMMENTED_CANONICAL = """\
network A {
    # on the header line
    # same line
    input x: [1]
    # before output
    # inside a broken chain
    output y = x -> IF
}

#
#  indented comment text
neuron N() {
    # in then
    if a {
        let b = 1
    } else {
        # dangling at end of block
        # an else-if that has its own comment
        if c {
            let d = 2
        }
    }
}

# at the very end
"""


def test_comments_are_kept_and_attached_to_the_next_statement():
    module = parse_text(COMMENTED)
    text = format_module(module)
    assert text == COMMENTED_CANONICAL
    assert parse_text(text) == module
    assert format_module(parse_text(text)) == text
    neuron = module.items[1]
    assert neuron.comments == ("", " indented comment text")
    assert neuron.body[0].orelse[0].comments == (
        "dangling at end of block",
        "an else-if that has its own comment",
    )


def test_else_if_without_comments_prints_as_else_if():
    text = "neuron N() {\n    if a {\n    } else {\n        if b {\n        }\n    }\n}\n"
    assert reformat(text) == "neuron N() {\n    if a {\n    } else if b {\n    }\n}\n"


def test_comment_on_item_and_statement_nodes_built_by_hand():
    module = ast.Module(
        (
            ast.NeuronDef(
                "N",
                (),
                (
                    ast.Let("a", ast.Num(1), comments=("first", "second")),
                    ast.If(
                        ast.Name("c"),
                        (),
                        (ast.If(ast.Name("d"), (), comments=("on else-if",)),),
                    ),
                ),
                comments=("item",),
            ),
        ),
        ("tail",),
    )
    text = format_module(module)
    assert parse_text(text) == module
    assert "# item\nneuron N() {\n    # first\n    # second\n    let a = 1\n" in text


# --------------------------------------------------------------------------- long lines


def test_long_chain_is_broken_one_step_per_line():
    steps = " -> ".join(f"layer{i}: Linear({i * 100}, bias=false)" for i in range(5))
    text = f"network A {{\n    input x: [1]\n    output y = x -> {steps}\n}}\n"
    out = reformat(text)
    assert all(len(line) <= MAX_WIDTH for line in out.splitlines())
    assert "    output y = x\n        -> layer0: Linear(0, bias=false)\n" in out
    assert parse_text(out) == parse_text(text)
    assert reformat(out) == out


def test_long_header_puts_one_param_per_line():
    params = ", ".join(f"parameter_{i} = {i}.5" for i in range(8))
    text = f"network A({params}) {{\n}}\n"
    out = reformat(text)
    assert out.startswith("network A(\n    parameter_0 = 0.5,\n    parameter_1 = 1.5,\n")
    assert out.endswith("    parameter_7 = 7.5,\n) {\n}\n")
    assert parse_text(out) == parse_text(text)
    assert reformat(out) == out


def test_short_lines_are_not_broken():
    text = "network A(p = 1) {\n    output y = x -> IF\n}\n"
    assert reformat(text) == text


# --------------------------------------------------------------------------- expressions


def parse_expr(text: str) -> ast.Expr:
    return parse_expression(text, SourceFile("<t>", text), 1, 1)


CANONICAL_EXPRESSIONS = [
    "a - (b - c)",
    "a - b - c",
    "a + (b + c)",
    "a * (b * c)",
    "a / (b / c)",
    "a / b * c",
    "a - (b + c)",
    "(a + b) * c",
    "a ** b ** c",
    "(a ** b) ** c",
    "2 ** -1",
    "(-a) ** 2",
    "-a ** 2",
    "-(a * b)",
    "--a",
    "-+a",
    "a * -b",
    "a - -1",
    "(a < b) == c",
    "a < (b < c)",
    "a + 1 < b * 2",
    "not a == b",
    "(not a) == b",
    "a == (not b)",
    "not not a",
    "not (a and b)",
    "not a and b",
    "-(not a)",
    "not -a",
    "a and b or c",
    "a and (b or c)",
    "a or b and c",
    "(a or b) and c",
    "a or (b or c)",
    "a and (b and c)",
    "a ?? b ?? c",
    "(a ?? b) ?? c",
    "a or b ?? c",
    "a ?? b or c",
    "(a ?? b) or c",
    "(a ?? b) + 1",
    "f(a ?? b, k=c or d)",
    "f()",
    "[a ?? b, c, -1]",
    "[]",
    "[[1, 2], [3.5, 1e-05]]",
    "1e+16 * 0.1",
    "123456789012345678901234567890",
    'x == "a\\"b\\\\c\\nd\\te"',
    "true and false or none",
    "sigmoid(alpha * x) * (1.0 - sigmoid(alpha * x))",
]


@pytest.mark.parametrize("text", CANONICAL_EXPRESSIONS)
def test_canonical_expressions_print_as_written(text):
    expr = parse_expr(text)
    assert format_expr(expr) == text
    again = parse_expr(format_expr(expr))
    assert again == expr and strict(again) == strict(expr)


NORMALISED = [
    ("(a - b) - c", "a - b - c"),
    ("((a))", "a"),
    ("a ** (-b)", "a ** -b"),
    ("(a * b) + (c / d)", "a * b + c / d"),
    ("(a ?? (b ?? c))", "a ?? b ?? c"),
    ("not (a == b)", "not a == b"),
    ("f( a ,k = 1, )", "f(a, k=1)"),
    ("[1,2,]", "[1, 2]"),
    ("1.50", "1.5"),
    ("0.00001", "1e-05"),
    ("1E3", "1000.0"),
    (".5", "0.5"),
    ("007", "7"),
]


@pytest.mark.parametrize(("text", "expected"), NORMALISED)
def test_redundant_syntax_is_normalised(text, expected):
    expr = parse_expr(text)
    assert format_expr(expr) == expected
    assert strict(parse_expr(expected)) == strict(expr)


def n(name: str) -> ast.Name:
    return ast.Name(name)


HAND_BUILT = [
    (ast.Binary("-", n("a"), ast.Binary("-", n("b"), n("c"))), "a - (b - c)"),
    (ast.Binary("**", ast.Unary("-", n("a")), ast.Num(2)), "(-a) ** 2"),
    (ast.Binary("**", n("a"), ast.Unary("-", ast.Num(1))), "a ** -1"),
    (ast.Binary("<", ast.Binary("<", n("a"), n("b")), n("c")), "(a < b) < c"),
    (ast.Binary("??", ast.Binary("??", n("a"), n("b")), n("c")), "(a ?? b) ?? c"),
    (ast.Unary("not", ast.Binary("or", n("a"), n("b"))), "not (a or b)"),
    (ast.Num(1e-05), "1e-05"),
    (ast.Num(2.0), "2.0"),
    (ast.Num(2), "2"),
    (ast.Str("tab\there"), '"tab\\there"'),
    (ast.Call("Sigmoid", ()), "Sigmoid()"),
]


@pytest.mark.parametrize(("expr", "expected"), HAND_BUILT)
def test_hand_built_trees(expr, expected):
    assert format_expr(expr) == expected
    assert strict(parse_expr(expected)) == strict(expr)


def test_numbers_keep_their_type():
    for value in (0, 7, 10**30, 0.0, 0.1, 2.0, 1e-05, 1e16, 1.5e300, 5e-324):
        text = format_expr(ast.Num(value))
        back = parse_expr(text)
        assert type(back.value) is type(value) and back.value == value, text


KEYWORDS = {
    "network",
    "neuron",
    "surrogate",
    "input",
    "output",
    "let",
    "state",
    "charge",
    "fire",
    "reset",
    "require",
    "if",
    "else",
    "primitive",
    "gradient",
    "true",
    "false",
    "none",
    "and",
    "or",
    "not",
}

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True).filter(
    lambda s: s not in KEYWORDS and not keyword.iskeyword(s)
)
numbers = st.one_of(
    st.integers(min_value=0, max_value=10**20),
    st.floats(min_value=0.0, allow_nan=False, allow_infinity=False),
).map(ast.Num)
leaves = st.one_of(numbers, names.map(ast.Name))
BINARY_OPS = [
    "??",
    "or",
    "and",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "**",
]

expressions = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.builds(ast.Binary, st.sampled_from(BINARY_OPS), children, children),
        st.builds(ast.Unary, st.sampled_from(["-", "+", "not"]), children),
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(expressions)
def test_random_expressions_round_trip(expr):
    text = format_expr(expr)
    back = parse_expr(text)
    assert back == expr
    assert strict(back) == strict(expr)
    assert format_expr(back) == text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20))
def test_random_strings_round_trip(value):
    expr = ast.Str(value)
    assert parse_expr(format_expr(expr)) == expr
    stmt = ast.Require(ast.Bool(True), value)
    module = ast.Module((ast.NeuronDef("N", (), (stmt,)),))
    assert parse_text(format_module(module)) == module


comment_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\n\r"),
    max_size=15,
).map(str.rstrip)


@settings(max_examples=150, deadline=None)
@given(st.lists(comment_text, max_size=3), st.lists(comment_text, max_size=3))
def test_random_comments_round_trip(before, trailing):
    module = ast.Module(
        (ast.Network("A", (), (ast.Output("y", comments=tuple(before)),), tuple(before)),),
        tuple(trailing),
    )
    text = format_module(module)
    assert parse_text(text) == module
    assert format_module(parse_text(text)) == text
