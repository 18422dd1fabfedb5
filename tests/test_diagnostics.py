"""Located diagnostics: one test per kind of bad input, asserting code, line, column, hint.

Every code of ``snndsl.diagnostics.CODES`` that the implementation can produce is
triggered by at least one test here (``test_every_producible_code_is_covered`` keeps the
list honest).  (A malformed string is a lexer error, E0001: the STRING terminal only
matches well-formed strings, so no separate code exists for it.)

The last section holds regression tests for inputs that once crashed with a Python
traceback, were silently accepted, or reported a misleading location or hint.
"""

from __future__ import annotations

import re

import pytest

import snndsl
from snndsl import SpecError
from snndsl.diagnostics import CODES


def _fail(fn) -> SpecError:
    with pytest.raises(SpecError) as info:
        fn()
    err = info.value
    assert err.diagnostics
    for d in err.diagnostics:
        assert d.code in CODES
    return err


def parse_error(text: str, path: str = "t.snn") -> SpecError:
    return _fail(lambda: snndsl.parse(text, path=path))


def resolve_error(text: str, path: str = "t.snn", **kw) -> SpecError:
    return _fail(lambda: snndsl.resolve(snndsl.parse(text, path=path), **kw))


def expect(err: SpecError, code: str, line: int, column: int, hint=..., message=None):
    """Assert the first diagnostic's code and location, and its hint when ``hint`` is
    given: an exact string, None for "no hint", or a compiled regex to search for."""
    d = err.diagnostics[0]
    assert (d.code, d.span.line, d.span.column) == (code, line, column), d
    if isinstance(hint, re.Pattern):
        assert d.hint is not None and hint.search(d.hint), d.hint
    elif hint is not ...:
        assert d.hint == hint, d.hint
    if message is not None:
        assert message in d.message, d.message
    return d


def net(chain: str, inp: str = "[8]") -> str:
    """A one-output network; the chain starts at line 3, column 16 (its source)."""
    return f"network N {{\n    input x: {inp}\n    output y = {chain}\n}}\n"


# ============================================================================ syntax E0001


def test_missing_closing_brace():
    err = parse_error("network N {\n    input x: [8]\n    output y = x -> Linear(4)\n")
    expect(err, "E0001", 3, 30, re.compile("^expected "), "unexpected end of file")


def test_missing_closing_brace_before_next_network():
    text = (
        "network A {\n    input x: [8]\n    output y = x -> IF\n\n"
        "network B {\n    input x: [8]\n    output y = x -> IF\n}\n"
    )
    # `network` is read as the name of a new statement, so the error is at `B`.
    expect(parse_error(text), "E0001", 5, 9, "expected '='", "unexpected 'B'")


def test_missing_opening_brace():
    text = "network A\n    input x: [8]\n    output y = x -> IF\n}\n"
    expect(parse_error(text), "E0001", 2, 5, "expected '(', '{'", "unexpected 'input'")


def test_stray_character():
    text = "network N {\n    input x: [8] $\n    output y = x -> Linear(4)\n}\n"
    expect(
        parse_error(text),
        "E0001",
        2,
        18,
        "expected '=', '}', a name",
        "unexpected character '$'",
    )


def test_stray_character_after_last_item():
    text = net("x -> IF") + "$\n"
    expect(
        parse_error(text),
        "E0001",
        5,
        1,
        "expected 'block', 'import', 'network', 'neuron', 'parallel', 'surrogate'",
        "unexpected character '$'",
    )


def test_unexpected_end_of_file_inside_call():
    err = parse_error("network N {\n    input x: [8]\n    output y = x -> Linear(4")
    expect(err, "E0001", 3, 29, re.compile("^expected .*'\\)'"), "unexpected end of file")


def test_extra_closing_brace():
    text = net("x -> IF").rstrip("\n") + "}\n"
    expect(
        parse_error(text),
        "E0001",
        4,
        2,
        "expected 'block', 'import', 'network', 'neuron', 'parallel', 'surrogate'",
        "unexpected '}'",
    )


def test_unterminated_string_is_a_syntax_error():
    err = parse_error(net('x -> Linear("abc)'))
    expect(err, "E0001", 3, 28, re.compile("a string"), "unexpected character '\"'")


def test_capitalised_true_where_a_shape_is_expected_hints_lowercase():
    text = "network N {\n    input x: True\n    output y = x -> IF\n}\n"
    expect(parse_error(text), "E0001", 2, 14, "write 'true'", "unexpected 'True'")


def test_capitalised_none_after_an_expression_hints_lowercase():
    text = "network N(a = 1 None) {\n    input x: [8]\n    output y = x -> IF\n}\n"
    expect(parse_error(text), "E0001", 1, 17, "write 'none'", "unexpected 'None'")


def test_positional_argument_after_keyword():
    err = resolve_error(net("x -> Linear(out_features=4, 5)"))
    expect(err, "E0001", 3, 44, None, "positional argument after a keyword argument")


def test_missing_closing_brace_hint_names_the_brace():
    err = parse_error("network N {\n    input x: [8]\n    output y = x -> Linear(4)\n")
    d = err.diagnostics[0]
    assert "'}'" in d.hint
    assert "'charge'" not in d.hint and "']'" not in d.hint


def test_wrong_arrow_hint_names_the_arrow():
    err = parse_error(net("x => IF"))
    expect(err, "E0001", 3, 18, re.compile("'->'"), "unexpected '='")


# ============================================================================ E0002


def test_number_too_large_for_a_float():
    text = "network N(a = 1e999) {\n    input x: [8]\n    output y = x -> IF\n}\n"
    expect(parse_error(text), "E0002", 1, 15, None, "too large")


# ============================================================================ E0010


def test_unreadable_spec_file(tmp_path):
    missing = tmp_path / "missing.snn"
    err = _fail(lambda: snndsl.parse(str(missing)))
    d = expect(err, "E0010", 1, 1, None, "cannot read spec")
    assert d.source.path == str(missing)


def test_spec_file_not_utf8(tmp_path):
    bad = tmp_path / "latin1.snn"
    bad.write_bytes(b"# caf\xe9\n" + net("x -> IF").encode())
    expect(_fail(lambda: snndsl.parse(bad)), "E0010", 1, 1, None, "not UTF-8")


# ============================================================================ YAML E0020/1


def test_yaml_wrong_shape():
    text = "- network: N\n  body: [1]\n"
    expect(
        parse_error(text, "t.yaml"),
        "E0020",
        2,
        10,
        None,
        "expected a statement (a mapping), got an integer",
    )


def test_yaml_unknown_item_kind():
    err = parse_error("- foo: N\n", "t.yaml")
    expect(
        err,
        "E0020",
        1,
        3,
        "expected one of 'network', 'neuron', 'surrogate', 'block', 'import'",
        "unknown item kind 'foo'",
    )


def test_yaml_cannot_be_parsed():
    expect(parse_error("- network: N\n  body: [\n", "t.yaml"), "E0021", 3, 1)


def test_yaml_invalid_name():
    err = parse_error("- network: 'a b'\n  body: []\n", "t.yaml")
    expect(err, "E0101", 1, 12, re.compile("a name starts with a letter"))


# ============================================================================ E0201


def test_unknown_op_did_you_mean_linear():
    err = resolve_error(net("x -> Lnear(4)"))
    expect(err, "E0201", 3, 21, "did you mean 'Linear'?", "unknown operation 'Lnear'")


def test_unknown_op_lowercase_neuron_did_you_mean_LIF():
    err = resolve_error(net("x -> Linear(4) -> lif"))
    expect(err, "E0201", 3, 34, "did you mean 'LIF'?", "unknown operation 'lif'")


def test_surrogate_used_as_a_layer():
    err = resolve_error(net("x -> Sigmoid"))
    expect(
        err,
        "E0201",
        3,
        21,
        "pass it to a neuron: LIF(surrogate=Sigmoid())",
        "is a surrogate function, not a layer",
    )


# ============================================================================ E0202


def test_unknown_argument_did_you_mean():
    err = resolve_error(net("x -> Linear(4, bais=false)"))
    expect(err, "E0202", 3, 31, "did you mean 'bias'?", "'Linear' has no argument 'bais'")


def test_unknown_argument_lists_the_arguments():
    err = resolve_error(net("x -> Flatten(zzz=1)"))
    expect(err, "E0202", 3, 29, "its arguments are: start, end")


def test_unknown_fire_option():
    text = (
        "neuron Foo(a = 1.0) {\n    state v = 0.0\n    charge v = v + x\n"
        "    fire v >= a, surogate: Sigmoid()\n}\n" + net("x -> Foo")
    )
    err = resolve_error(text)
    expect(err, "E0202", 4, 18, "did you mean 'surrogate'?", "'fire' has no option")


def test_unknown_network_parameter_override():
    err = resolve_error(net("x -> IF"), params={"channels": 4})
    expect(err, "E0202", 1, 9, None, "network 'N' has no parameter 'channels'")


# ============================================================================ E0203


def test_missing_required_argument():
    err = resolve_error(net("x -> Linear"))
    expect(
        err,
        "E0203",
        3,
        21,
        "write Linear(..., out_features=...)",
        "'Linear' needs argument 'out_features'",
    )


def test_missing_kernel_size():
    err = resolve_error(net("x -> MaxPool2d()", "[1, 8, 8]"))
    expect(err, "E0203", 3, 21, "write MaxPool2d(..., kernel_size=...)")


# ============================================================================ E0204


def test_wrong_type_bool_for_int():
    err = resolve_error(net("x -> Linear(out_features=true)"))
    expect(
        err,
        "E0204",
        3,
        41,
        None,
        "argument 'out_features' of 'Linear': expected int, got bool",
    )


def test_wrong_type_string_for_float():
    err = resolve_error(net('x -> LIF(tau="a")'))
    expect(err, "E0204", 3, 29, None, "argument 'tau' of neuron 'LIF': expected float")


def test_infinite_float_refused_where_it_is_folded():
    # every folded constant is bounded where it is computed (a neuron equation folding
    # to inf would otherwise reach the code generator), arguments included
    err = resolve_error(net("x -> LIF(tau=1e308 * 10)"))
    expect(err, "E0402", 3, 29, None, "the result is not a finite number")


def test_wrong_type_size_list_length():
    err = resolve_error(net("x -> Conv2d(4, [3, 3, 3])", "[1, 8, 8]"))
    expect(err, "E0204", 3, 31, None, "expected an int or a list of 2 ints")


def test_wrong_type_neuron_parameter_default():
    text = (
        "neuron Foo(a: int = 1.0) {\n    state v = 0.0\n    charge v = v + x\n"
        "    fire v >= a\n}\n" + net("x -> Foo")
    )
    expect(resolve_error(text), "E0204", 1, 21, None, "default of 'a': expected int")


# ============================================================================ E0205/E0206


def test_argument_given_twice():
    err = resolve_error(net("x -> Linear(out_features=4, out_features=4)"))
    expect(err, "E0205", 3, 44, None, "argument 'out_features' given twice")


def test_too_many_arguments():
    err = resolve_error(net("x -> Linear(8, 4, true, 5)"))
    expect(
        err,
        "E0206",
        3,
        40,
        "its arguments are: in_features, out_features, bias",
        "takes at most 3 argument(s) here, got 4",
    )


def test_function_arity_in_an_equation():
    text = (
        "neuron Foo(a = 1.0) {\n    state v = 0.0\n    charge v = v + exp(x, 2)\n"
        "    fire v >= a\n}\n" + net("x -> Foo")
    )
    expect(resolve_error(text), "E0206", 3, 20, None, "'exp' takes 1 argument(s), got 2")


# ============================================================================ E0207/E0403


def test_lif_tau_fails_the_prelude_requirement_located_at_the_argument():
    err = resolve_error(net("x -> LIF(tau=1.0)"))
    d = expect(
        err,
        "E0403",
        3,
        25,
        "the requirement is: tau > 1.0",
        "LIF: tau must be greater than 1",
    )
    assert d.source.path == "t.snn"  # located in the user's file, not the prelude
    assert (d.span.end_line, d.span.end_column) == (3, 32)


def test_requirement_on_defaults_is_located_at_the_call():
    err = resolve_error(net("x -> QIF(v_reset=1.5)"))
    d = expect(err, "E0403", 3, 25, "the requirement is: v_threshold > v_reset")
    # v_threshold was not given, v_reset was: the caret points at v_reset
    assert d.span.end_column == 36
    err = resolve_error(net("x -> PSN(T=0)"))  # a required argument given by position
    expect(err, "E0403", 3, 25, "the requirement is: T >= 1", "PSN: T must be at least 1")


def test_if_threshold_below_reset_fails_requirement():
    err = resolve_error(net("x -> IF(v_threshold=-1.0)"))
    expect(
        err,
        "E0403",
        3,
        24,
        "the requirement is: v_threshold > v_reset",
        "v_threshold must be greater than v_reset",
    )


def test_surrogate_requirement_located_at_the_surrogate_call():
    err = resolve_error(net("x -> LIF(surrogate=ATan(alpha=-1.0))"))
    expect(
        err,
        "E0403",
        3,
        35,
        "the requirement is: alpha > 0.0",
        "ATan: alpha must be positive",
    )


def test_dropout_p_one_is_invalid():
    err = resolve_error(net("x -> Dropout(p=1.0)"))
    expect(err, "E0207", 3, 29, None, "Dropout: p must be in [0, 1), got 1.0")


def test_negative_kernel_size():
    err = resolve_error(net("x -> Conv2d(4, -3)", "[1, 8, 8]"))
    expect(err, "E0207", 3, 31, None, "kernel_size must be positive, got -3")


def test_kernel_larger_than_input():
    err = resolve_error(net("x -> Conv2d(4, 5)", "[1, 4, 4]"))
    expect(err, "E0207", 3, 31, None, "does not fit the 4x4 input")


def test_flatten_torch_numbering_is_explained():
    """Flatten's start_dim/end_dim counted the batch as dimension 0; dimensions now count
    per sample, and the old spelling says so where it stands, with the new numbers."""
    err = resolve_error(net("x -> Flatten(start_dim=2)", "[3, 4, 5]"))
    expect(
        err,
        "E0202",
        3,
        29,
        "'start_dim' counted the batch as dimension 0; write start=1 (0 is a sample's first "
        "dimension, negative ones count from the last)",
    )
    err = resolve_error(net("x -> Flatten(end_dim=-1)", "[3, 4, 5]"))
    expect(err, "E0202", 3, 29, message="'Flatten' has no argument 'end_dim'")
    assert "write end=-1" in err.diagnostics[0].hint


def test_flatten_takes_no_positional_dimension():
    err = resolve_error(net("x -> Flatten(1)", "[3, 4, 5]"))
    expect(err, "E0206", 3, 29, message="'Flatten' takes its arguments by name only")
    assert "Flatten(2) is Flatten(start=1)" in err.diagnostics[0].hint


def test_wrong_dimension_is_located_with_the_rule():
    err = resolve_error(net("x -> Transpose(0, 3)", "[3, 4, 5]"))
    expect(
        err,
        "E0207",
        3,
        34,
        "dimensions count per sample: 0..2, or -3..-1 from the last",
        "Transpose: dim1=3 is not a dimension of a [3, 4, 5] sample",
    )
    err = resolve_error(net("Cat(x, x, dim=3)", "[3, 4, 5]"))
    expect(err, "E0207", 3, 30, "dimensions count per sample: 0..2, or -3..-1 from the last")


def test_reshape_element_count_mismatch():
    err = resolve_error(net("x -> Reshape([5, 5])", "[3, 4, 5]"))
    expect(
        err,
        "E0301",
        3,
        29,
        "the sizes must multiply to the input's; one of them may be -1",
        "Reshape: shape=[5, 5] has 25 elements per sample, the input [3, 4, 5] has 60",
    )


def test_matmul_shape_mismatch():
    err = resolve_error(net("MatMul(x, x)", "[2, 3, 4]"))
    expect(
        err,
        "E0301",
        3,
        16,
        message="MatMul(x, x) needs [*B, m, k] and [*B, k, n], got [2, 3, 4] and [2, 3, 4]",
    )
    assert "Transpose(-2, -1)" in err.diagnostics[0].hint
    err = resolve_error(net("MatMul(x, x)", "[4]"))
    expect(err, "E0301", 3, 16, "Reshape it to [..., m, k] first")
    err = resolve_error(net("MatMul(x, x, x)", "[4, 4]"))
    expect(err, "E0206", 3, 16, message="'MatMul' merges two values")


def test_pool_padding_too_large():
    err = resolve_error(net("x -> MaxPool2d(2, padding=2)", "[1, 8, 8]"))
    expect(err, "E0207", 3, 34, None, "must be at most half of kernel_size")


# ============================================================================ E0301/E0302


def test_linear_in_features_mismatch():
    err = resolve_error(net("x -> Linear(in_features=7, out_features=4)"))
    expect(
        err,
        "E0301",
        3,
        28,
        "write in_features=8, or leave it out to infer it",
        "Linear: in_features=7 does not match the input, which has 8",
    )


def test_conv2d_on_a_1d_input():
    err = resolve_error(net("x -> Conv2d(4, 3)"))
    expect(
        err,
        "E0301",
        3,
        21,
        "its input has 1 dimension(s) per sample; it needs 3",
        "expects a per-sample input of shape [C, H, W], got [8]",
    )


def test_pooling_after_linear():
    err = resolve_error(net("x -> Linear(4) -> MaxPool2d(2)"))
    expect(err, "E0301", 3, 34, "its input has 1 dimension(s) per sample; it needs 3")


def test_zero_shape_dimension():
    err = resolve_error(net("x -> IF", "[0]"))
    expect(err, "E0302", 2, 15, None, "must be a positive int, got 0")


def test_empty_shape():
    err = resolve_error(net("x -> IF", "[]"))
    expect(err, "E0302", 2, 5, "for scalar inputs write [1]")


def test_string_shape_dimension():
    err = resolve_error(net("x -> IF", '[8, "a"]'))
    expect(err, "E0302", 2, 18, None, 'got "a"')


# ============================================================================ E0101


def test_python_keyword_as_input_name():
    # `class` is not a keyword of the grammar: it lexes as a NAME and the checker
    # rejects it where it is declared.
    err = resolve_error("network N {\n    input class: [3]\n    output y = class -> IF\n}\n")
    expect(err, "E0101", 2, 11, None, "'class' is a Python keyword")


def test_python_keyword_as_label():
    err = resolve_error(net("x -> lambda: Linear(4)"))
    expect(err, "E0101", 3, 21, None, "'lambda' is a Python keyword")


def test_python_keyword_as_network_name():
    err = resolve_error("network class {\n    input x: [8]\n    output y = x -> IF\n}\n")
    expect(err, "E0101", 1, 9, None, "'class' is a Python keyword")


def test_python_soft_keyword_as_value_name():
    err = resolve_error(net("x -> IF").replace("output y", "output match"))
    expect(err, "E0101", 3, 12, None, "'match' is a Python keyword")


@pytest.mark.parametrize(
    "name",
    ["_x", "torch", "forward", "self", "state_dict"],
)
def test_names_that_would_shadow_generated_code(name):
    text = f"network N {{\n    input {name}: [3]\n    output y = {name} -> IF\n}}\n"
    d = expect(resolve_error(text), "E0101", 2, 11, "rename it")
    assert f"'{name}'" in d.message


def test_label_shadowing_the_module_api():
    err = resolve_error(net("x -> self: Linear(4)"))
    expect(err, "E0101", 3, 21, "rename it", "would shadow a name that generated code uses")


def test_output_named_forward():
    err = resolve_error(net("x -> IF").replace("output y", "output forward"))
    expect(err, "E0101", 3, 12, "rename it")


def test_neuron_parameter_named_x():
    text = (
        "neuron Foo(x = 1.0) {\n    state v = 0.0\n    charge v = v + x\n"
        "    fire v >= 1.0\n}\n" + net("x -> Foo")
    )
    expect(resolve_error(text), "E0101", 1, 12, None, "is the input of 'Foo'")


def test_underscore_neuron_name():
    text = (
        "neuron _Foo(a = 1.0) {\n    state v = 0.0\n    charge v = v + x\n"
        "    fire v >= a\n}\n" + net("x -> IF")
    )
    expect(resolve_error(text), "E0101", 1, 8, None, "starts with '_'")


# ============================================================================ E0102


def test_two_assignments_to_the_same_name():
    text = (
        "network N {\n    input x: [8]\n    h = x -> Linear(4)\n    h = x -> Linear(4)\n"
        "    output y = h -> IF\n}\n"
    )
    expect(resolve_error(text), "E0102", 4, 5, None, "name 'h' is already defined")


def test_label_equal_to_a_value_name():
    text = "network N {\n    input x: [8]\n    h = x -> h: Linear(4)\n    output y = h -> IF\n}\n"
    expect(resolve_error(text), "E0102", 3, 14, None, "name 'h' is already defined")


def test_value_name_equal_to_an_earlier_label():
    text = "network N {\n    input x: [8]\n    h = x -> fc: Linear(4)\n    output fc = h -> IF\n}\n"
    expect(resolve_error(text), "E0102", 4, 12, None, "name 'fc' is already defined")


def test_same_output_twice():
    text = "network N {\n    input x: [8]\n    output y = x -> IF\n    output y\n}\n"
    expect(resolve_error(text), "E0102", 4, 12, None, "'y' is already an output")


def test_user_neuron_named_like_a_builtin():
    text = (
        "neuron LIF(a = 1.0) {\n    state v = 0.0\n    charge v = v + x\n"
        "    fire v >= a\n}\n" + net("x -> LIF")
    )
    expect(
        resolve_error(text),
        "E0102",
        1,
        8,
        "give your definition a new name",
        "'LIF' is already defined (built in)",
    )


def test_user_surrogate_named_like_a_builtin():
    text = "surrogate ATan(alpha = 1.0) {\n    gradient alpha\n}\n" + net("x -> IF")
    expect(resolve_error(text), "E0102", 1, 11, "give your definition a new name")


def test_neuron_parameter_given_twice():
    text = (
        "neuron Foo(a = 1.0, a = 2.0) {\n    state v = 0.0\n    charge v = v + x\n"
        "    fire v >= 1.0\n}\n" + net("x -> Foo")
    )
    expect(resolve_error(text), "E0102", 1, 21, None, "parameter 'a' of 'Foo' given twice")


# ============================================================================ E0103


def test_undefined_source_of_a_chain():
    err = resolve_error(net("z -> Linear(4)"))
    expect(
        err,
        "E0103",
        3,
        16,
        "define it (z = ... or input z: [...])",
        "undefined name 'z'",
    )


def test_undefined_source_did_you_mean():
    text = "network N {\n    input spikes: [8]\n    output y = spkes -> IF\n}\n"
    expect(resolve_error(text), "E0103", 3, 16, "did you mean 'spikes'?")


def test_undefined_bare_output():
    text = "network N {\n    input x: [8]\n    h = x -> Linear(4)\n    output z\n}\n"
    expect(resolve_error(text), "E0103", 4, 12, None, "undefined name 'z'")


def test_undefined_name_in_arguments():
    err = resolve_error(net("x -> Linear(features)"))
    expect(err, "E0103", 3, 28, None, "undefined name 'features'")


def test_capitalised_true_in_an_argument_hints_lowercase():
    err = resolve_error(net("x -> Linear(4, bias=True)"))
    expect(err, "E0103", 3, 36, "write 'true'", "undefined name 'True'")


def test_capitalised_none_in_an_argument_hints_lowercase():
    err = resolve_error(net("x -> LIF(v_reset=None)"))
    expect(err, "E0103", 3, 33, "write 'none'", "undefined name 'None'")


# ============================================================================ E0104-E0106


def test_no_network():
    text = "neuron Foo(a = 1.0) {\n    state v = 0.0\n    charge v = v + x\n    fire v >= a\n}\n"
    expect(resolve_error(text), "E0104", 1, 1, "add: network Name { input x: [8] ... }")


def test_empty_spec_has_no_network():
    expect(resolve_error(""), "E0104", 1, 1)


def test_two_networks_without_selection():
    text = net("x -> IF") + net("x -> IF").replace("network N", "network M")
    expect(
        resolve_error(text),
        "E0105",
        5,
        9,
        "pick one with --network: N, M",
        "the spec defines 2 networks",
    )


def test_selecting_an_unknown_network():
    err = resolve_error(net("x -> IF"), network="n")
    expect(err, "E0105", 1, 1, "did you mean 'N'?", "no network named 'n'")


def test_network_without_input():
    expect(
        resolve_error("network N {\n}\n"),
        "E0106",
        1,
        9,
        "add: input x: [features]",
        "network 'N' has no input",
    )


def test_network_without_output():
    text = "network N {\n    input x: [3]\n    h = x -> Linear(4)\n}\n"
    expect(
        resolve_error(text),
        "E0106",
        1,
        9,
        "add: output y = x -> ...",
        "network 'N' has no output",
    )


# ============================================================================ E0401


def test_neuron_without_fire():
    text = "neuron Foo(a = 1.0) {\n    state v = 0.0\n}\n" + net("x -> Foo")
    expect(
        resolve_error(text),
        "E0401",
        1,
        8,
        "a neuron without a spike outputs what it emits: 'emit v'",
        "neuron 'Foo' has no 'fire' statement (nor an 'emit')",
    )


def test_charge_of_an_undeclared_state():
    text = (
        "neuron Foo(a = 1.0) {\n    state v = 0.0\n    charge u = v + x\n"
        "    fire v >= a\n}\n" + net("x -> Foo")
    )
    expect(
        resolve_error(text),
        "E0401",
        3,
        5,
        None,
        "'charge' needs a state variable, 'u' is not one",
    )


def test_fire_without_greater_equal():
    text = (
        "neuron Foo(a = 1.0) {\n    state v = 0.0\n    charge v = v + x\n"
        "    fire v < a\n}\n" + net("x -> Foo")
    )
    expect(
        resolve_error(text),
        "E0401",
        4,
        10,
        None,
        "a fire condition is written 'a >= b' (it spikes where a - b >= 0) or 'a > b'",
    )


def test_reset_before_fire():
    text = (
        "neuron Foo(a = 1.0) {\n    state v = 0.0\n    charge v = v + x\n"
        "    reset v = 0.0\n    fire v >= a\n}\n" + net("x -> Foo")
    )
    expect(
        resolve_error(text),
        "E0401",
        4,
        5,
        "or reset by the previous step's spike: 'reset ..., delay: true'",
        "'reset' must come after 'fire'",
    )


def test_unknown_parameter_type():
    text = (
        "neuron Foo(a: flaot = 1.0) {\n    state v = 0.0\n    charge v = v + x\n"
        "    fire v >= a\n}\n" + net("x -> Foo")
    )
    expect(resolve_error(text), "E0401", 1, 12, "did you mean 'float'?", "unknown type")


def test_parameter_type_cannot_be_inferred():
    text = (
        "neuron Foo(a = none) {\n    state v = 0.0\n    charge v = v + x\n"
        "    fire v >= 1.0\n}\n" + net("x -> Foo")
    )
    expect(resolve_error(text), "E0401", 1, 12, "annotate it: a: float? = none")


# ============================================================================ E0402/E0404


def test_division_by_zero_in_a_parameter():
    text = "network N(a = 1 / 0) {\n    input x: [8]\n    output y = x -> IF\n}\n"
    expect(
        resolve_error(text),
        "E0402",
        1,
        15,
        None,
        "cannot evaluate '/': division by zero",
    )


def test_not_of_a_number():
    err = resolve_error(net("x -> LIF(tau=not 1.0)"))
    expect(err, "E0402", 3, 29, None, "'not' needs a bool, got float")


def test_float_overflow_in_a_power():
    err = resolve_error(net("x -> LIF(tau=2.0 ** 2000)"))
    expect(err, "E0402", 3, 29, None, "cannot evaluate '**'")


def test_tensor_comparison_outside_fire_is_a_mask():
    # Comparisons of tensors are 0.0/1.0 masks in equations (SpikingJelly's `(x > a).to(x)`).
    text = (
        "neuron Foo(a = 1.0) {\n    state v = 0.0\n    charge v = v + (x > 0.0)\n"
        "    fire v >= a\n}\n" + net("x -> Foo")
    )
    source = snndsl.generate(text, mode="single")
    assert "_h = _v + (x > 0.0).to(x)" in source


def test_comparing_a_tensor_with_a_bool_is_an_error():
    text = (
        "neuron Foo(a = 1.0) {\n    state v = 0.0\n    charge v = v + (x > true)\n"
        "    fire v >= a\n}\n" + net("x -> Foo")
    )
    expect(resolve_error(text), "E0402", 3, 25, None, "compares numbers or tensors")


def test_unknown_function_in_an_equation():
    text = (
        "neuron Foo(a = 1.0) {\n    state v = 0.0\n    charge v = v + sigmod(x)\n"
        "    fire v >= a\n}\n" + net("x -> Foo")
    )
    expect(
        resolve_error(text),
        "E0404",
        3,
        20,
        "did you mean 'sigmoid'?",
        "unknown function 'sigmod'",
    )


# ============================================================================ E0405


def test_user_surrogate_without_gradient():
    text = "surrogate Box(alpha = 1.0) {\n    primitive x\n}\n" + net("x -> LIF(surrogate=Box())")
    expect(resolve_error(text), "E0405", 1, 11, None, "surrogate 'Box' has no 'gradient'")


def test_unused_user_surrogate_is_still_checked():
    text = "surrogate Box(alpha = 1.0) {\n    primitive x\n}\n" + net("x -> IF")
    expect(resolve_error(text), "E0405", 1, 11)


def test_surrogate_with_two_gradients():
    text = "surrogate Box(alpha = 1.0) {\n    gradient alpha\n    gradient alpha\n}\n" + net(
        "x -> LIF(surrogate=Box())"
    )
    expect(resolve_error(text), "E0405", 3, 5, None, "a surrogate has one 'gradient'")


# ============================================================================ regressions


def test_huge_shape_dimension():
    err = resolve_error(net("x -> Linear(4)", "[10 ** 5000]"))
    expect(err, "E0402", 2, 15)


def test_huge_layer_argument():
    err = resolve_error(net("x -> Linear(10 ** 5000)"))
    expect(err, "E0402", 3, 28)


def test_huge_int_for_a_float_argument():
    err = resolve_error(net("x -> LIF(tau=2 ** 2000)"))
    expect(err, "E0402", 3, 29)


@pytest.mark.parametrize("gradient", ['"abc"', "[1, 2]"])
def test_non_numeric_surrogate_gradient(gradient):
    text = f"surrogate S(alpha = 1.0) {{\n    gradient {gradient}\n}}\n" + net(
        "x -> LIF(surrogate=S())"
    )
    expect(resolve_error(text), "E0405", 2, 14)


@pytest.mark.parametrize("default", ['"hi"', "Sigmoid()"])
def test_non_numeric_surrogate_parameter(default):
    text = f"surrogate S(alpha = {default}) {{\n    gradient x\n}}\n" + net(
        "x -> LIF(surrogate=S())"
    )
    expect(resolve_error(text), "E0405", 1, 13)


def test_network_parameter_default_of_the_wrong_type():
    text = "network N(a: int = 1.5) {\n    input x: [8]\n    output y = x -> IF\n}\n"
    expect(resolve_error(text), "E0204", 1, 20)


@pytest.mark.parametrize("odd", ["\x0c", "\x85", "\u2028"])
def test_odd_line_break_in_a_comment_does_not_shift_locations(odd):
    text = f"# a comment {odd} with an odd character\n" + net("x -> Lnear(4)")
    err = resolve_error(text)
    expect(err, "E0201", 4, 21)
    assert "4 |     output y = x -> Lnear(4)" in err.render()
    eof = parse_error(f"# a comment {odd} with an odd character\nnetwork N {{\n")
    expect(eof, "E0001", 2, 12)


# ============================================================================ rendering


def caret_column(rendered: str, source_line: str) -> tuple[int, str]:
    """The 1-based column of the first caret, measured against the source text."""
    lines = rendered.splitlines()
    i = next(i for i, line in enumerate(lines) if line.endswith(source_line))
    gutter = lines[i].index(" | ") + 3
    caret = lines[i + 1]
    assert caret[:gutter].strip() == "|"
    return caret.index("^") - gutter + 1, caret[gutter:].strip()


def test_render_format_source_line_and_caret():
    err = resolve_error(net("x -> Linear(4) -> Lnear(2)"), path="specs/bad.snn")
    rendered = err.render()
    lines = rendered.splitlines()
    assert lines[0] == "specs/bad.snn:3:34: error[E0201]: unknown operation 'Lnear'"
    assert lines[1] == "3 |     output y = x -> Linear(4) -> Lnear(2)"
    column, carets = caret_column(rendered, "output y = x -> Linear(4) -> Lnear(2)")
    assert column == 34 == err.diagnostics[0].span.column
    assert carets == "^^^^^"
    assert lines[-1] == "  = hint: did you mean 'Linear'?"
    assert "Traceback" not in rendered


def test_render_of_a_syntax_error():
    rendered = parse_error(
        "network N {\n    input x: [8] $\n    output y = x -> IF\n}\n", path="s.snn"
    ).render()
    assert rendered.startswith("s.snn:2:18: error[E0001]: unexpected character '$'\n")
    assert "2 |     input x: [8] $" in rendered
    assert caret_column(rendered, "input x: [8] $") == (18, "^")


def test_render_with_tabs_keeps_the_caret_aligned():
    text = "network N {\n\tinput x: [8]\n\toutput y = x -> Lnear(4)\n}\n"
    err = resolve_error(text)
    expect(err, "E0201", 3, 18)
    rendered = err.render()
    line = "3 |  output y = x -> Lnear(4)"  # the tab is shown as one space
    assert line in rendered
    column, carets = caret_column(rendered, " output y = x -> Lnear(4)")
    assert (column, carets) == (18, "^^^^^")


def test_render_of_a_multiline_span_marks_the_rest_of_the_first_line():
    text = "network N {\n    input x: [8]\n    output y = x -> Lnear(\n        4)\n}\n"
    err = resolve_error(text)
    d = expect(err, "E0201", 3, 21)
    assert (d.span.end_line, d.span.end_column) == (3, 26)
    text = "network N {\n    input x: [8]\n    output y = x -> LIF(tau=\n        1.0)\n}\n"
    err = resolve_error(text)
    d = expect(err, "E0403", 3, 25)
    assert (d.span.end_line, d.span.end_column) == (4, 12)
    column, carets = caret_column(err.render(), "output y = x -> LIF(tau=")
    assert (column, carets) == (25, "^^^^")


def test_render_of_an_error_in_an_empty_file():
    rendered = resolve_error("", path="empty.snn").render()
    assert rendered.startswith("empty.snn:1:1: error[E0104]: the spec defines no network")


def test_spec_error_str_is_the_rendering():
    err = resolve_error(net("x -> Lnear(4)"))
    assert str(err) == err.render()
    assert err.codes == ("E0201",)


# ============================================================================ coverage

UNPRODUCIBLE: set[str] = set()


def test_no_single_step_form():
    err = _fail(lambda: snndsl.generate(net("x -> PSN(4)"), mode="single"))
    expect(err, "E0208", 3, 21, "generate --mode multi", "no single-step form")


def test_no_triton_kernel_for_a_matrix_product():
    chain = "x -> sn: snntorch.RLeaky(beta=0.9, linear_features=8)"
    err = _fail(lambda: snndsl.generate(net(chain), mode="multi", backend="triton"))
    expect(err, "E0209", 3, 25, "use --backend fused (or eager) for this network", "matrix product")


def test_every_producible_code_is_covered():
    """Every catalogued error code but the unproducible ones is asserted by some expect()
    (warnings, W codes, are asserted where they are produced: tests/test_graphs.py)."""
    with open(__file__, encoding="utf-8") as fh:
        source = fh.read()
    asserted = set(re.findall(r'expect\(\s*\w+(?:\([^()]*\))?,\s*"(E\d{4})"', source))
    assert asserted <= set(CODES)
    assert not (UNPRODUCIBLE & asserted)
    errors = {c for c in CODES if c.startswith("E")}
    missing = errors - UNPRODUCIBLE - asserted
    assert not missing, f"no test asserts {sorted(missing)}"


def test_graph_errors_are_located():
    err = resolve_error(
        "network C {\n    input x: [2]\n    a = Add(x, b)\n    b = a -> IF\n    output y = b\n}\n"
    )
    expect(
        err,
        "E0107",
        3,
        16,
        "feed a value back through delay(b): its value one step earlier",
        "'a' depends on itself with no delay (a -> b -> a)",
    )
    err = resolve_error(
        "network O {\n    input x: [2]\n    output y = delay(y, shape=[2])\n    output z = x\n}\n"
    )
    expect(
        err,
        "E0108",
        3,
        12,
        "every output must depend on an input of the network",
        "output 'y' is not computed from any input",
    )


def test_block_instantiating_itself():
    text = "block B() {\n    input x\n    output y = x -> B\n}\n" + net("x -> B")
    expect(resolve_error(text), "E0109", 3, 21, None, "block 'B' instantiates itself (B -> B)")


# ============================================================================ hardening (issue 11)


def test_spec_larger_than_the_limit(tmp_path):
    from snndsl import limits

    big = tmp_path / "big.snn"
    big.write_bytes(b"#" * (limits.MAX_SPEC_BYTES + 1))
    hint = "the limit is MAX_SPEC_BYTES = 1,048,576 in snndsl/limits.py"
    err = _fail(lambda: snndsl.parse(big))
    expect(err, "E0030", 1, 1, hint, "larger than")


def test_block_output_named_like_its_input():
    """Once a KeyError: the output's value was renamed to the instance's input."""
    for body in ("output x = x -> IF", "a = x -> IF\n    output x = a -> IF"):
        text = f"block B {{\n    input x\n    {body}\n}}\n" + net("x -> B")
        line = 3 + body.count("\n")
        err = resolve_error(text)
        expect(err, "E0102", line, 12, "give the output another name", "under the name of its")
    # an identity block, `output x` with no chain, is still fine
    snndsl.resolve(snndsl.parse("block B {\n    input x\n    output x\n}\n" + net("x -> B")))


def test_matrix_product_in_a_neuron_equation():
    """Once a KeyError: '@' in the code generator."""
    text = (
        "neuron M() {\n    state v = 0.0\n    charge v = v @ x\n"
        "    fire v >= 1.0\n    reset v = 0.0\n}\n" + net("x -> M")
    )
    expect(resolve_error(text), "E0402", 3, 16, None, "the left side of '@' is a matrix")


def test_matrix_product_of_constants():
    """Once silently computed as a power: 2 @ 3 was 8."""
    text = "network N(a = 2 @ 3) {\n    input x: [8]\n    output y = x -> Linear(a)\n}\n"
    expect(resolve_error(text), "E0402", 1, 15, ..., "the left side of '@' is a matrix")


@pytest.mark.parametrize(
    "text, line, column",
    [
        (
            "neuron M() {\n    state v = 0.0\n    charge v = v + x * (1e308 * 10.0)\n"
            "    fire v >= 1.0\n    reset v = 0.0\n}\n" + net("x -> M"),
            3,
            25,
        ),
        (
            "surrogate S() {\n    gradient x * (1e200 * 1e200)\n}\n"
            + net("x -> LIF(surrogate=S())"),
            2,
            19,
        ),
        (
            "surrogate S() {\n    gradient x * (0.0 - 1e308 - 1e308)\n}\n"
            + net("x -> LIF(surrogate=S())"),
            2,
            19,
        ),
        (
            "neuron M() {\n    state v = 0.0\n    charge v = v + x * (exp(709.0) * exp(709.0))\n"
            "    fire v >= 1.0\n    reset v = 0.0\n}\n" + net("x -> M"),
            3,
            25,
        ),
    ],
    ids=["neuron", "surrogate", "negative", "functions"],
)
def test_constant_folding_to_inf_in_an_equation(text, line, column):
    """Once a ValueError in the code generator (it cannot print inf)."""
    err = _fail(lambda: snndsl.generate(text))
    expect(err, "E0402", line, column, None, "not a finite number")


def test_sum_of_huge_integers_is_bounded():
    text = "network N(a = sum(i, 0, 4, 9223372036854775807)) {\n    input x: [8]\n"
    text += "    output y = x -> Linear(a)\n}\n"
    expect(resolve_error(text), "E0402", 1, 15, None, "more than 64 bits")


def _importer(tmp_path, target: str):
    main = tmp_path / "main.snn"
    main.write_text(f'import "{target}"\n' + net("x -> IF"), encoding="utf-8")
    return lambda: snndsl.resolve(snndsl.parse(main))


def test_imported_file_not_utf8(tmp_path):
    (tmp_path / "latin1.snn").write_bytes(b"# caf\xe9\n")
    err = _fail(_importer(tmp_path, "latin1.snn"))
    expect(err, "E0010", 1, 8, None, "cannot read imported file 'latin1.snn': not UTF-8")


def test_imported_file_is_a_symlink_loop(tmp_path):
    (tmp_path / "loop.snn").symlink_to("loop.snn")
    err = _fail(_importer(tmp_path, "loop.snn"))
    expect(err, "E0010", 1, 8, None, "cannot read imported file 'loop.snn'")


def test_imported_path_with_a_nul_byte(tmp_path):
    main = tmp_path / "main.snn"
    main.write_text('import "a\x00b.snn"\n' + net("x -> IF"), encoding="utf-8")
    err = _fail(lambda: snndsl.resolve(snndsl.parse(main)))
    expect(err, "E0010", 1, 8, None, "'a\\x00b.snn': the path contains a NUL byte")


def test_spec_path_with_a_nul_byte():
    expect(_fail(lambda: snndsl.parse("a\x00b.snn")), "E0010", 1, 1, None, "NUL byte")


def test_imported_directory(tmp_path):
    (tmp_path / "lib.snn").mkdir()
    err = _fail(_importer(tmp_path, "lib.snn"))
    expect(err, "E0010", 1, 8, None, "cannot read imported file 'lib.snn'")


# ============================================================================ E0601-E0604 (NIR)


def test_nir_export_and_import_diagnostics(tmp_path):
    pytest.importorskip("nir")
    torch = pytest.importorskip("torch")
    from snndsl.exports.nir import to_nir
    from snndsl.importers.nir import from_nir

    spec = net("x -> fc: Linear(4) -> sn: LIF(v_reset=none)")
    sd = snndsl.load(spec)().state_dict()
    err = _fail(lambda: to_nir(spec, sd))
    expect(err, "E0601", 3, 42, "give it a hard reset, e.g. v_reset=0.0")
    sd["fc.weight"] = torch.zeros(4, 7)
    err = _fail(lambda: to_nir(spec, sd))
    expect(err, "E0603", 3, 25, "pass the state_dict of this network's generated module")
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"")
    err = _fail(lambda: from_nir(str(bad)))
    expect(err, "E0604", 1, 1, ..., "cannot read NIR")
    import nir
    import numpy as np

    g = nir.NIRGraph(
        nodes={
            "x": nir.Input(input_type={"input": np.array([4])}),
            "li": nir.CubaLI(
                tau_syn=np.ones(4),
                tau_mem=np.ones(4),
                r=np.ones(4),
                v_leak=np.zeros(4),
                w_in=np.ones(4),
            ),
            "y": nir.Output(output_type={"output": np.array([4])}),
        },
        edges=[("x", "li"), ("li", "y")],
    )
    err = _fail(lambda: from_nir(g))
    expect(err, "E0602", 1, 1, ..., "non-spiking current-based integrator")


# ============================================================================ groups (issue 12)


def test_a_dotted_label_given_twice():
    err = resolve_error(net("x -> fc.0: Linear(8) -> fc.0: Linear(4)"))
    expect(err, "E0110", 3, 40, re.compile("own position"), "'fc.0' labels two steps")


def test_a_layer_and_a_group_share_a_name():
    err = resolve_error(net("x -> fc: Linear(8) -> fc.0: Linear(4)"))
    expect(err, "E0111", 3, 38, ..., "'fc' is a layer, so 'fc.0' cannot be in it")
    err = resolve_error(net("x -> fc.0: Linear(8) -> fc: Linear(4)"))
    expect(err, "E0111", 3, 40, ..., "'fc' is already a group of layers")
    block = "block B() {\n    input x\n    output y = x -> Linear(4)\n}\n"
    err = resolve_error(block + net("x -> fc.0: Linear(8) -> fc.0.a: B"))
    expect(err, "E0111", 7, 40, ..., "'fc.0' is a layer, so 'fc.0.a' cannot be in it")


def test_bad_positions_and_members_of_a_group():
    err = resolve_error(net("x -> fc.0: Linear(8) -> fc.out: Linear(4)"))
    expect(err, "E0112", 3, 40, ..., "group 'fc' has numbered members, so 'out' cannot be one")
    err = resolve_error(net("x -> fc.01: Linear(8)"))
    expect(err, "E0112", 3, 21, "write 1: a numbered group's positions are 0, 1, 2, ...")
    err = resolve_error(net("x -> fc.99999999: Linear(8)"))
    expect(err, "E0112", 3, 21, re.compile("the limit is"), "past any network's size")


def test_a_group_member_that_would_shadow_a_module_attribute():
    err = resolve_error(net("x -> forward.0: Linear(8)"))
    expect(err, "E0101", 3, 21, "rename it", "'forward.0': 'forward' would shadow")


def test_a_dotted_param_name_is_checked_part_by_part():
    text = (
        "neuron R() {\n    param a.forward = 1.0\n    state v = 0.0\n    charge v = v + x\n"
        "    fire v >= 1.0\n    reset v = 0.0\n}\n" + net("x -> R")
    )
    expect(resolve_error(text), "E0101", 2, 5, None, "'a.forward': 'forward' would shadow")


def test_a_parallel_neuron_refuses_a_dotted_tensor_name():
    text = (
        "parallel neuron P(T: int) {\n    steps T\n    param a.w[T, T] = kaiming_uniform(1.0)\n"
        "    charge h = a.w @ x\n    fire h >= 1.0\n}\n" + net("x -> P(4)")
    )
    err = resolve_error(text)
    expect(err, "E0101", 3, 5, re.compile("param a_w"), "a parallel neuron's params take plain")
