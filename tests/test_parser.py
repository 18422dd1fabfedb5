"""Text front end: grammar coverage, spans, numbers, comments, syntax errors."""

from __future__ import annotations

import pytest

import snndsl
from snndsl.syntax import ast
from snndsl.syntax.parser import parse_text


def _net(text: str) -> ast.Network:
    (net,) = parse_text(text).networks()
    return net


def test_seed_shape_of_the_ast():
    net = _net("network Seed {\n    input x: [8]\n    output y = x -> Linear(4) -> IF\n}\n")
    inp, out = net.body
    assert inp == ast.Input("x", (ast.Num(8),))
    assert isinstance(out, ast.Output) and out.name == "y"
    steps = out.chain.steps
    assert [s.call.func for s in steps] == ["Linear", "IF"]
    assert steps[0].call.args == (ast.Arg(None, ast.Num(4)),)
    assert steps[1].call.args == ()


def test_spans_are_one_based_and_cover_the_token():
    net = _net(
        "network N {\n  input x: [8]\n  y = x -> fc: Linear(in_features=8, out_features=2)\n}"
    )
    assign = net.body[1]
    assert (assign.name_span.line, assign.name_span.column) == (3, 3)
    step = assign.chain.steps[0]
    assert (step.label_span.line, step.label_span.column) == (3, 12)
    assert (step.call.func_span.column, step.call.func_span.end_column) == (16, 22)
    kw = step.call.args[1]
    assert kw.name == "out_features" and kw.name_span.column == 38


@pytest.mark.parametrize(
    "text,value",
    [
        ("8", 8),
        ("8.", 8.0),
        ("0.5", 0.5),
        (".5", 0.5),
        ("1e-5", 1e-5),
        ("2E3", 2000.0),
        ("1.5e+2", 150.0),
    ],
)
def test_numbers_keep_int_or_float(text, value):
    net = _net(f"network N {{ input x: [2]\n y = x -> Dropout({text}) }}")
    num = net.body[1].chain.steps[0].call.args[0].value
    assert num.value == value and type(num.value) is type(value)


def test_number_overflow_is_a_diagnostic():
    with pytest.raises(snndsl.SpecError) as info:
        parse_text("network N { input x: [2]\n y = x -> Dropout(1e999) }")
    assert info.value.codes == ("E0002",)


def test_expressions_precedence_and_associativity():
    (neuron,) = parse_text(
        "neuron K(a = 1.0) { state v = 0.0\n charge v = v - x - a * -v ** 2 / a\n fire v >= a }"
    ).neurons()
    e = neuron.body[1].value
    # ((v - x) - ((a * (-(v ** 2))) / a))
    assert e.op == "-" and e.left.op == "-"
    assert e.right.op == "/" and e.right.left.op == "*"
    assert e.right.left.right == ast.Unary("-", ast.Binary("**", ast.Name("v"), ast.Num(2)))


def test_keywords_are_contextual_where_unambiguous():
    (neuron,) = parse_text(
        "neuron K(surrogate = Sigmoid(), state_x = 1.0) { state v = 0.0\n charge v = v + x\n"
        " fire v >= state_x, surrogate: surrogate }"
    ).neurons()
    assert [p.name for p in neuron.params] == ["surrogate", "state_x"]


def test_comments_attach_to_the_next_statement_or_same_line():
    module = parse_text(
        "# leading\nnetwork N {\n    # about x\n    input x: [2]\n"
        "    output y = x -> IF  # trailing\n}\n# the end\n"
    )
    net = module.networks()[0]
    assert net.comments == ("leading",)
    assert net.body[0].comments == ("about x",)
    assert net.body[1].comments == ("trailing",)
    assert module.trailing_comments == ("the end",)


def test_all_item_kinds_and_statements_parse():
    module = parse_text("""
    surrogate S(k: float = 1.0) { require k > 0.0, "k" let z = k * x primitive z gradient k }
    neuron M(t: float? = none) {
        state v = t ?? 0.0
        let d = v * 2.0
        if t == none and not false { charge v = v + x } else if t > 1.0 { charge v = x }
        else { charge v = v }
        fire v >= 1.0, surrogate: S(k=2.0)
        reset none
    }
    network N(h = 3) { input x: [h, 2] output x }
    """)
    assert [type(i).__name__ for i in module.items] == ["SurrogateDef", "NeuronDef", "Network"]
    neuron = module.neurons()[0]
    if_stmt = neuron.body[2]
    assert isinstance(if_stmt.orelse[0], ast.If)
    assert neuron.body[-1] == ast.Reset("none")


@pytest.mark.parametrize(
    "text,line,col,needle",
    [
        ("network N {\n  input x: [8]\n", 2, 15, "end of file"),
        ("network N {\n  input x: [8] $\n}", 2, 16, "unexpected character '$'"),
        ("network N {\n  input x [8]\n}", 2, 11, "unexpected '['"),
        ("network N {\n  output y = x -> Linear(4,, 2)\n}", 2, 28, "unexpected ','"),
    ],
)
def test_syntax_errors_are_located(text, line, col, needle):
    with pytest.raises(snndsl.SpecError) as info:
        parse_text(text, "t.snn")
    (d,) = info.value.diagnostics
    assert d.code == "E0001" and needle in d.message
    assert (d.span.line, d.span.column) == (line, col)
    assert d.render().startswith(f"t.snn:{line}:{col}: error[E0001]:")


def test_python_capitalised_constants_get_a_hint():
    with pytest.raises(snndsl.SpecError) as info:
        snndsl.resolve("network N { input x: [2]\n output y = x -> Linear(2, bias=False) }")
    (d,) = info.value.diagnostics
    assert d.code == "E0103" and d.hint == "write 'false'"
    assert (d.span.line, d.span.column) == (2, 33)


def test_grammar_is_conflict_free_under_strict_lark():
    from snndsl.syntax.parser import build_parser

    build_parser(strict=True)  # raises on any LALR conflict or terminal collision


def test_cached_parser_tables_give_the_same_trees(tmp_path, monkeypatch):
    from snndsl.syntax import parser

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("SNNDSL_NO_CACHE", raising=False)
    text = "network N {\n    input x: [2]  # c\n    output y = x -> IF\n}\n"
    fresh = parser.build_parser().parse(text, start="start")
    parser._parser.cache_clear()
    try:
        built = parser._parser()  # builds and writes the cache
        assert list((tmp_path / "snndsl").glob("parser-*.pickle"))
        parser._parser.cache_clear()
        loaded = parser._parser()  # reads it
        assert loaded is not built
        assert loaded.parse(text, start="start") == fresh
        from_cache = parser.parse_text(text, "t.snn")  # comments still collected
        monkeypatch.setenv("SNNDSL_NO_CACHE", "1")
        parser._parser.cache_clear()
        assert parser.parse_text(text, "t.snn") == from_cache
        assert "comments=('c',)" in repr(from_cache)
    finally:
        parser._parser.cache_clear()
