"""Property tests: no input, however broken, gets anything but a located SpecError.

(a) random text and grammar-ish token soup into ``parse``/``resolve``;
(b) random mutations of the example specs, which must either fail with a SpecError or
    generate source that Python accepts, in both modes;
(c) random YAML-ish text into the YAML front end.

Huge integers (``8 ** 8 ** 8``) are among the inputs: every folded constant is bounded
(snndsl/limits.py).  The long opt-in run, 100,000 cases over every shipped spec and
generated specs through every backend, is ``tests/fuzz/run_fuzz.py`` (see the README).
"""

from __future__ import annotations

import ast as pyast

from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snndsl
from snndsl.diagnostics import CODES
from snndsl.syntax.yaml_io import load_yaml

SEED_TEXT = (ROOT / "specs" / "seed.snn").read_text(encoding="utf-8")
CONV_TEXT = (ROOT / "specs" / "conv.snn").read_text(encoding="utf-8")
CUSTOM_TEXT = (ROOT / "specs" / "custom.snn").read_text(encoding="utf-8")
# The prelude's multi-state and parallel neurons, renamed so they can be user definitions.
PRELUDE_TEXT = (ROOT / "snndsl" / "prelude" / "builtin.snn").read_text(encoding="utf-8")
_KLIF_AND_CUBA = PRELUDE_TEXT[PRELUDE_TEXT.index("# KLIF") :]
NEURONS_TEXT = (
    _KLIF_AND_CUBA.replace("neuron KLIF(", "neuron MyKLIF(")
    .replace("neuron LIAF(", "neuron MyLIAF(")
    .replace("neuron CUBALIF(", "neuron MyCUBA(")
    .replace("neuron NonSpikingIF(", "neuron MyNonSpikingIF(")
    .replace("neuron NonSpikingLIF(", "neuron MyNonSpikingLIF(")
    .replace("neuron PSN(", "neuron MyPSN(")
    .replace("neuron MaskedPSN(", "neuron MyMaskedPSN(")
    .replace("neuron SlidingPSN(", "neuron MySlidingPSN(")
    + "network N {\n    input x: [4]\n    a = x -> MyKLIF(scale_reset=true)\n"
    '    b = a -> MyLIAF(act="tanh")\n    output y = b -> MyCUBA\n'
    "    output z = x -> MySlidingPSN(3) -> MyMaskedPSN(2, 4, lambda_init=1.0)\n}\n"
)

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

KEYWORDS = [
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
    "not",
    "and",
    "or",
    "True",
    "None",
]
NAMES = [
    "x",
    "y",
    "h",
    "v",
    "N",
    "Seed",
    "tau",
    "alpha",
    "surrogate",
    "detach",
    "Linear",
    "Lnear",
    "Conv2d",
    "BatchNorm2d",
    "MaxPool2d",
    "AvgPool2d",
    "Flatten",
    "Dropout",
    "Dropout2d",
    "LIF",
    "IF",
    "lif",
    "Sigmoid",
    "ATan",
    "sigmoid",
    "atan",
    "exp",
    "pi",
    "class",
    "_x",
    "torch",
    "self",
    "forward",
    "state_dict",
    "in_features",
    "out_features",
    "kernel_size",
    "padding",
    "bias",
    "p",
    "v_reset",
    "v_threshold",
]
NUMBERS = [
    "0",
    "1",
    "2",
    "3",
    "8",
    "28",
    "2.0",
    "0.5",
    ".5",
    "1.",
    "1e3",
    "1e999",
    "-1",
    "0.0",
]
PUNCT = [
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "=",
    "->",
    "-=",
    "??",
    "**",
    "+",
    "-",
    "*",
    "/",
    ">=",
    "<=",
    "==",
    "!=",
    "<",
    ">",
    "?",
    '"',
    "#",
    "$",
    "@",
    "\\",
] + ['"tau must be > 1"', "# note\n", "\n", " ", "\t", "\r\n"]
TOKENS = KEYWORDS + NAMES + NUMBERS + PUNCT

MUTATION_TOKENS = [*TOKENS, "8 ** 8 ** 8", "9223372036854775807 * 2", "(1e308 * 10)", "@"]


def check_error(err: snndsl.SpecError) -> None:
    """Every diagnostic has a catalogued code and a 1-based location; render() works."""
    assert err.diagnostics, "a SpecError without diagnostics"
    for d in err.diagnostics:
        assert d.code in CODES, d.code
        assert d.span.line >= 1, d
        assert d.span.column >= 1, d
        assert d.message
    rendered = err.render()
    assert f"error[{err.diagnostics[0].code}]" in rendered


def parse_and_resolve(text: str):
    """Parse and resolve ``text``; the resolved IR, or None after a checked SpecError."""
    try:
        module = snndsl.parse(text, path="fuzz.snn")
        return module, snndsl.resolve(module)
    except snndsl.SpecError as err:
        check_error(err)
        return None, None


token_soup = st.lists(st.sampled_from(TOKENS), max_size=60).map(" ".join)
tight_soup = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)


# --------------------------------------------------------------------------- (a)


@FUZZ
@given(st.text(max_size=200))
def test_random_text_only_spec_errors(text):
    parse_and_resolve(text)


@FUZZ
@given(st.one_of(token_soup, tight_soup))
def test_token_soup_only_spec_errors(text):
    parse_and_resolve(text)


@FUZZ
@given(st.lists(st.sampled_from(MUTATION_TOKENS), max_size=25).map(" ".join))
def test_network_body_soup_only_spec_errors(body):
    """Token soup inside a well-formed network, so the checker is reached more often."""
    parse_and_resolve(f"network N {{\n    input x: [8]\n    {body}\n}}\n")


# --------------------------------------------------------------------------- (b)


MUTATIONS = [
    "delete",
    "insert",
    "replace",
    "insert_token",
    "replace_token",
    "delete_token",
    "swap_lines",
    "duplicate_line",
]


@st.composite
def mutated_spec(draw, base: str) -> str:
    text = base
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(MUTATIONS))
        pos = draw(st.integers(0, len(text)))
        if kind == "delete":
            n = draw(st.integers(1, 8))
            text = text[:pos] + text[pos + n :]
        elif kind == "insert":
            text = text[:pos] + draw(st.text(min_size=1, max_size=3)) + text[pos:]
        elif kind == "replace":
            text = text[:pos] + draw(st.characters()) + text[pos + 1 :]
        elif kind in ("insert_token", "replace_token", "delete_token"):
            words = text.split(" ")
            i = draw(st.integers(0, max(len(words) - 1, 0)))
            token = draw(st.sampled_from(MUTATION_TOKENS))
            if kind == "insert_token":
                words.insert(i, token)
            elif kind == "replace_token":
                words[i] = token
            elif len(words) > 1:
                del words[i]
            text = " ".join(words)
        else:
            lines = text.split("\n")
            if len(lines) > 1:
                i = draw(st.integers(0, len(lines) - 1))
                j = draw(st.integers(0, len(lines) - 1))
                if kind == "swap_lines":
                    lines[i], lines[j] = lines[j], lines[i]
                else:
                    lines.insert(j, lines[i])
            text = "\n".join(lines)
    return text


def check_mutant(text: str) -> None:
    module, net = parse_and_resolve(text)
    if net is None:
        return
    for mode in ("single", "multi"):
        try:
            source = snndsl.generate(module, mode)
        except snndsl.SpecError as err:  # only "no single-step form" may appear here
            assert mode == "single" and set(err.codes) == {"E0208"}, err.render()
            continue
        pyast.parse(source)


@FUZZ
@given(mutated_spec(SEED_TEXT))
def test_mutated_seed(text):
    check_mutant(text)


@FUZZ
@given(mutated_spec(CONV_TEXT))
def test_mutated_conv(text):
    check_mutant(text)


@FUZZ
@given(mutated_spec(CUSTOM_TEXT))
def test_mutated_user_neuron_and_surrogate(text):
    check_mutant(text)


@FUZZ
@given(mutated_spec(NEURONS_TEXT))
def test_mutated_multi_state_neurons(text):
    check_mutant(text)


def test_unmutated_specs_generate():
    """The property's positive branch is reachable: the originals resolve and generate."""
    for text in (SEED_TEXT, CONV_TEXT, CUSTOM_TEXT, NEURONS_TEXT):
        _, net = parse_and_resolve(text)
        assert net is not None
        check_mutant(text)


# --------------------------------------------------------------------------- (c)

YAML_TOKENS = [
    *(
        f"{key}: "
        for key in [
            "network",
            "neuron",
            "surrogate",
            "body",
            "params",
            "input",
            "shape",
            "output",
            "assign",
            "chain",
            "op",
            "args",
            "kwargs",
            "label",
            "name",
            "default",
            "type",
            "comments",
            "let",
            "value",
            "state",
            "init",
            "charge",
            "fire",
            "reset",
            "subtract",
            "options",
            "require",
            "message",
            "if",
            "then",
            "else",
            "primitive",
            "gradient",
        ]
    ),
    *[
        "[",
        "]",
        "{",
        "}",
        ",",
        "x",
        "y",
        "N",
        "Linear",
        "LIF",
        "8",
        "4",
        "-1",
        "2.5",
        ".inf",
        ".nan",
        "1e999",
        "'",
        '"',
        "null",
        "~",
        "true",
        "yes",
        "*a",
        "#c",
    ],
    *["- ", ": ", "\n", "\n  ", "\n    ", "  ", "\t", "'x -> '", '"4 +"', "&a "],
    *["!!int ", "!!str ", "!!float ", "!!binary ", "!!python/object ", "!!timestamp "],
    *["!custom ", "? ", "|\n  ", ">\n  ", "---\n", "...\n", "%YAML 1.1\n", "<<: *a"],
    *["\x00", "\ufeff"],
]

yaml_soup = st.lists(st.sampled_from(YAML_TOKENS), max_size=50).map("".join)


def yaml_only_spec_errors(text: str) -> None:
    try:
        load_yaml(text, "fuzz.yaml")
    except snndsl.SpecError as err:
        check_error(err)


@FUZZ
@given(st.one_of(st.text(max_size=200), yaml_soup))
def test_yaml_soup_only_spec_errors(text):
    yaml_only_spec_errors(text)


SEED_YAML = """\
- network: Seed
  body:
  - input: x
    shape: [8]
  - output: y
    chain: [x, {op: Linear, args: [4]}, {op: IF}, {op: Linear, args: [2]}, {op: IF}]
"""


@FUZZ
@given(mutated_spec(SEED_YAML))
def test_mutated_yaml_only_spec_errors(text):
    yaml_only_spec_errors(text)
