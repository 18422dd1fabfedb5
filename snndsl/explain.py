"""What each diagnostic code means, with a wrong and a right example (``snndsl explain``).

One entry per code of :data:`snndsl.diagnostics.CODES`.  ``docs/errors.md`` is generated
from these entries (:func:`markdown`), and the tests check that every code the checker can
raise has one, that each wrong example really raises its code and that each right example
is accepted.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from snndsl.diagnostics import CODES


@dataclass(frozen=True)
class Explanation:
    code: str
    meaning: str
    wrong: str  # a spec that raises the code (its first diagnostic)
    right: str  # the same spec, fixed
    yaml: bool = False  # the examples are YAML documents
    command: str = ""  # the command that raises it, when not generate (e.g. export)

    @property
    def title(self) -> str:
        return CODES[self.code]


def _net(body: str, head: str = "", name: str = "N") -> str:
    return f"{head}network {name} {{\n{body}}}\n"


def _yaml(shape: str = "[8]", key: str = "output") -> str:
    return (
        f"- network: N\n  body:\n  - input: x\n    shape: {shape}\n"
        f"  - {key}: y\n    chain: [x, {{op: IF}}]\n"
    )


_EXPLANATIONS = (
    Explanation(
        "E0001",
        "The text does not follow the grammar: a missing brace or arrow, a misplaced "
        "keyword, a stray character. The caret points at the first token that cannot "
        "continue what came before; the hint lists what could.",
        _net("    input x: [8]\n    output y = x -> Linear(4) IF\n"),
        _net("    input x: [8]\n    output y = x -> Linear(4) -> IF\n"),
    ),
    Explanation(
        "E0002",
        "A number literal cannot be represented: a float beyond the double range, or an "
        "integer with more digits than any shape or count could need.",
        _net("    input x: [8]\n    output y = x -> Linear(4) -> LIF(tau=1e400)\n"),
        _net("    input x: [8]\n    output y = x -> Linear(4) -> LIF(tau=2.0)\n"),
    ),
    Explanation(
        "E0010",
        "A file cannot be read: the spec itself or a file it imports does not exist, is a "
        "folder, is not UTF-8 text, or its path is malformed. Import paths are relative to "
        "the importing file.",
        'import "no_such_file.snn"\n' + _net("    input x: [8]\n    output y = x -> IF\n"),
        _net("    input x: [8]\n    output y = x -> IF\n"),
    ),
    Explanation(
        "E0020",
        "A YAML spec parses as YAML but not as a spec: a key that is not part of the "
        "schema, a list where a mapping is expected, a missing required field.",
        _yaml(key="outputt"),
        _yaml(),
        yaml=True,
    ),
    Explanation(
        "E0021",
        "The YAML text itself is malformed (indentation, an unclosed bracket or quote).",
        _yaml(shape="[8"),
        _yaml(),
        yaml=True,
    ),
    Explanation(
        "E0030",
        "A spec exceeds one of the limits that keep generation bounded in time and memory "
        "(file size, nodes, repeat counts, block depth, nesting, YAML aliases). The hint "
        "names the limit and where it is set (snndsl/limits.py).",
        _net("    input x: [8]\n    output y = x -> repeat(1000000, IF)\n"),
        _net("    input x: [8]\n    output y = x -> repeat(4, IF)\n"),
    ),
    Explanation(
        "E0101",
        "A name cannot be used: it is not an identifier, starts with '_' (reserved for "
        "generated names), is a Python or DSL keyword, or would shadow a name generated "
        "code relies on (torch, self, forward, ...).",
        _net("    input x: [8]\n    output y = x -> forward: Linear(4)\n"),
        _net("    input x: [8]\n    output y = x -> fc: Linear(4)\n"),
    ),
    Explanation(
        "E0102",
        "A name is defined twice in the same scope: two values, a label equal to a value, "
        "two definitions of a neuron or surrogate, a definition named like a built-in one.",
        _net("    input x: [8]\n    h = x -> Linear(4)\n    h = x -> IF\n    output y = h\n"),
        _net("    input x: [8]\n    h = x -> Linear(4)\n    output y = h -> IF\n"),
    ),
    Explanation(
        "E0103",
        "A name is used but never defined (a value, a parameter, a neuron's variable). "
        "The hint suggests the closest defined name.",
        _net("    input x: [8]\n    output y = z -> Linear(4)\n"),
        _net("    input x: [8]\n    output y = x -> Linear(4)\n"),
    ),
    Explanation(
        "E0104",
        "The spec defines no network (only neurons, surrogates or blocks), or --network "
        "names one it does not define.",
        "neuron Leak(tau: float = 2.0) {\n    state v = 0.0\n    charge v = v + (x - v) / tau\n"
        "    fire v >= 1.0\n    reset v = 0.0\n}\n",
        _net("    input x: [8]\n    output y = x -> IF\n"),
    ),
    Explanation(
        "E0105",
        "The spec defines several networks and none was chosen: pass --network NAME "
        "(or network= in the Python API).",
        _net("    input x: [8]\n    output y = x -> IF\n", name="A")
        + _net("    input x: [8]\n    output y = x -> LIF\n", name="B"),
        _net("    input x: [8]\n    output y = x -> IF\n", name="A"),
    ),
    Explanation(
        "E0106",
        "A network has no input or no output, so there is nothing to compute or nothing to return.",
        _net("    input x: [8]\n    h = x -> Linear(4) -> IF\n"),
        _net("    input x: [8]\n    output h = x -> Linear(4) -> IF\n"),
    ),
    Explanation(
        "E0107",
        "Values depend on each other in a cycle that no delay(...) breaks, so no time step "
        "can compute them. Read the previous step's value with delay(name).",
        _net(
            "    input x: [8]\n    h = Add(x, r) -> IF\n    r = h -> Linear(8)\n    output y = h\n"
        ),
        _net(
            "    input x: [8]\n    h = Add(x, r) -> IF\n"
            "    r = delay(h, shape=[8]) -> Linear(8)\n    output y = h\n"
        ),
    ),
    Explanation(
        "E0108",
        "An output is not computed from any input: it only reads delays of itself, so it "
        "would stay at its initial value forever.",
        _net(
            "    input x: [8]\n    a = x -> IF\n    h = delay(h, shape=[8]) -> Linear(8)\n"
            "    output y = h\n    output z = a\n"
        ),
        _net("    input x: [8]\n    h = x -> Linear(8)\n    output y = h\n"),
    ),
    Explanation(
        "E0109",
        "Files import each other in a cycle, or a block instantiates itself (directly or "
        "through other blocks): the expansion would never end.",
        "block B(n: int) {\n    input x\n    output y = x -> Linear(n) -> B(n)\n}\n"
        + _net("    input x: [8]\n    output y = x -> B(4)\n"),
        "block B(n: int) {\n    input x\n    output y = x -> Linear(n) -> IF\n}\n"
        + _net("    input x: [8]\n    output y = x -> B(4)\n"),
    ),
    Explanation(
        "E0110",
        "A dotted label places a step in a group of layers (`conv_fc.2: LIF` is position 2 "
        "of the numbered group conv_fc); two steps of one network or block body gave the "
        "same one, so the group would hold two layers under one name.",
        _net(
            "    input x: [8]\n    output y = x -> fc.0: Linear(8) -> fc.1: IF\n"
            "        -> fc.1: Linear(4)\n"
        ),
        _net(
            "    input x: [8]\n    output y = x -> fc.0: Linear(8) -> fc.1: IF\n"
            "        -> fc.2: Linear(4)\n"
        ),
    ),
    Explanation(
        "E0111",
        "A name is both a layer and a group of layers: a label names a layer (`fc`) and "
        "another puts steps inside it (`fc.0`), or a block instance or a repeat (a group) "
        "shares its name with a layer. A layer's module cannot hold other layers.",
        _net("    input x: [8]\n    output y = x -> fc: Linear(8) -> fc.0: Linear(4)\n"),
        _net("    input x: [8]\n    output y = x -> fc.0: Linear(8) -> fc.1: Linear(4)\n"),
    ),
    Explanation(
        "E0112",
        "A group's members are all positions (a numbered group, a list: 0, 1, 2, ...) or all "
        "names; a label mixed the two in one group, wrote a position with a leading zero "
        "(`fc.01`: the state_dict key would not be the list's), or gave a position past "
        "any network's size.",
        _net("    input x: [8]\n    output y = x -> fc.0: Linear(8) -> fc.out: Linear(4)\n"),
        _net("    input x: [8]\n    output y = x -> fc.0: Linear(8) -> fc.1: Linear(4)\n"),
    ),
    Explanation(
        "E0201",
        "A chain step names an operation that is neither a catalogue layer, a neuron, a "
        "block nor a merge. The hint suggests the closest name; docs/coverage.md lists them.",
        _net("    input x: [8]\n    output y = x -> Lnear(4)\n"),
        _net("    input x: [8]\n    output y = x -> Linear(4)\n"),
    ),
    Explanation(
        "E0202",
        "A keyword argument (or --set NAME) is not a parameter of what it is given to, or "
        "a required network parameter has no value.",
        _net("    input x: [8]\n    output y = x -> Linear(4, biass=false)\n"),
        _net("    input x: [8]\n    output y = x -> Linear(4, bias=false)\n"),
    ),
    Explanation(
        "E0203",
        "A required argument is missing.",
        _net("    input x: [3, 8, 8]\n    output y = x -> Conv2d(4)\n"),
        _net("    input x: [3, 8, 8]\n    output y = x -> Conv2d(4, 3)\n"),
    ),
    Explanation(
        "E0204",
        "An argument has the wrong type: a float where an int is needed, a string where a "
        "number is, a number where a surrogate is.",
        _net("    input x: [8]\n    output y = x -> Linear(4.5)\n"),
        _net("    input x: [8]\n    output y = x -> Linear(4)\n"),
    ),
    Explanation(
        "E0205",
        "The same argument is given twice (by position and by keyword, or twice by keyword).",
        _net("    input x: [8]\n    output y = x -> LIF(tau=2.0, tau=3.0)\n"),
        _net("    input x: [8]\n    output y = x -> LIF(tau=3.0)\n"),
    ),
    Explanation(
        "E0206",
        "More positional arguments are given than the operation takes, or a function gets "
        "the wrong number of arguments.",
        _net("    input x: [8]\n    output y = x -> Linear(8, 4, true, 1)\n"),
        _net("    input x: [8]\n    output y = x -> Linear(8, 4, true)\n"),
    ),
    Explanation(
        "E0207",
        "An argument has the right type but a value the operation cannot take (a negative "
        "size, a probability above 1, an unknown choice).",
        _net("    input x: [8]\n    output y = x -> Dropout(1.5) -> IF\n"),
        _net("    input x: [8]\n    output y = x -> Dropout(0.5) -> IF\n"),
    ),
    Explanation(
        "E0208",
        "The single-step form was asked for, but a parallel neuron mixes all time steps "
        "at once (PSN, MaskedPSN with lambda_init < 1): it has no step-by-step form. "
        "Generate the multi-step form, or use a neuron with a window (SlidingPSN).",
        _net("    input x: [8]\n    output y = x -> Linear(8) -> PSN(4)\n"),
        _net("    input x: [8]\n    output y = x -> Linear(8) -> SlidingPSN(3)\n"),
    ),
    Explanation(
        "E0209",
        "`--backend triton` has no kernel for a multi-step neuron layer whose step has a "
        "matrix product (`W @ v`: each neuron reads the whole layer, so the layer is not "
        "element-wise), e.g. snntorch.RLeaky with all_to_all. The message names the "
        "layer; nothing is generated (never a silent fallback). Use --backend fused or "
        "eager for that network.",
        _net(
            "    input x: [8]\n"
            "    output y = x -> sn: snntorch.RLeaky(beta=0.9, linear_features=8)\n"
        ),
        _net(
            "    input x: [8]\n"
            "    output y = x -> sn: snntorch.RLeaky(beta=0.9, all_to_all=false)\n"
        ),
        command="snndsl generate SPEC --backend triton",
    ),
    Explanation(
        "E0301",
        "Shapes do not fit: a layer's declared input size differs from the inferred one, "
        "merged values have different shapes, a layer gets a tensor of the wrong rank.",
        _net("    input x: [8]\n    output y = x -> Linear(6, 4)\n"),
        _net("    input x: [8]\n    output y = x -> Linear(8, 4)\n"),
    ),
    Explanation(
        "E0302",
        "A declared shape is invalid in itself: an input without a shape, a dimension "
        "that is not a positive int, a delay shape that is not a list of them.",
        _net("    input x: [8, 0]\n    output y = x -> IF\n"),
        _net("    input x: [8, 1]\n    output y = x -> IF\n"),
    ),
    Explanation(
        "E0401",
        "A neuron definition is malformed: statements out of order (a state is declared "
        "before it is charged; fire comes after charge; reset after fire), a statement "
        "repeated, or one that does not belong in a neuron.",
        "neuron Bad(tau: float = 2.0) {\n    state v = 0.0\n    fire v >= 1.0\n"
        "    charge v = v + (x - v) / tau\n    reset v = 0.0\n}\n"
        + _net("    input x: [8]\n    output y = x -> Bad\n"),
        "neuron Good(tau: float = 2.0) {\n    state v = 0.0\n    charge v = v + (x - v) / tau\n"
        "    fire v >= 1.0\n    reset v = 0.0\n}\n"
        + _net("    input x: [8]\n    output y = x -> Good\n"),
    ),
    Explanation(
        "E0402",
        "An expression cannot be evaluated: a division by zero or an overflow among "
        "constants, an operator applied to values it does not take, a constant that folds "
        "to infinity.",
        _net("    input x: [8]\n    output y = x -> LIF(tau=2.0 / 0.0)\n"),
        _net("    input x: [8]\n    output y = x -> LIF(tau=2.0 / 1.0)\n"),
    ),
    Explanation(
        "E0403",
        "A `require` of the definition fails for the arguments given; the message is the "
        "definition's own.",
        _net("    input x: [8]\n    output y = x -> LIF(tau=0.5)\n"),
        _net("    input x: [8]\n    output y = x -> LIF(tau=2.0)\n"),
    ),
    Explanation(
        "E0404",
        "An equation calls a function that is not in the closed table (exp, log, sqrt, "
        "abs, sigmoid, tanh, where, clamp, ...).",
        "neuron Bad(tau: float = 2.0) {\n    state v = 0.0\n    charge v = v + softplus(x) / tau\n"
        "    fire v >= 1.0\n    reset v = 0.0\n}\n"
        + _net("    input x: [8]\n    output y = x -> Bad\n"),
        "neuron Good(tau: float = 2.0) {\n    state v = 0.0\n    charge v = v + relu(x) / tau\n"
        "    fire v >= 1.0\n    reset v = 0.0\n}\n"
        + _net("    input x: [8]\n    output y = x -> Good\n"),
    ),
    Explanation(
        "E0405",
        "A surrogate definition is malformed: no `gradient`, two of them on one path, a "
        "statement that belongs in a neuron.",
        "surrogate Bad(alpha: float = 1.0) {\n    primitive sigmoid(alpha * x)\n}\n"
        + _net("    input x: [8]\n    output y = x -> LIF(surrogate=Bad())\n"),
        "surrogate Good(alpha: float = 1.0) {\n    primitive sigmoid(alpha * x)\n"
        "    gradient alpha * sigmoid(alpha * x) * (1.0 - sigmoid(alpha * x))\n}\n"
        + _net("    input x: [8]\n    output y = x -> LIF(surrogate=Good())\n"),
    ),
    Explanation(
        "E0601",
        "`snndsl export --to nir` cannot write a node: NIR has no counterpart for it (a soft "
        "reset, BatchNorm unless folded with --fold-batchnorm, MaxPool, QIF/EIF/Izhikevich/"
        "KLIF/LIAF, parallel neurons, SEW merges). The message names the node; no file is "
        "written. See docs/interchange.md.",
        _net("    input x: [8]\n    output y = x -> fc: Linear(4) -> sn: LIF(v_reset=none)\n"),
        _net("    input x: [8]\n    output y = x -> fc: Linear(4) -> sn: LIF(v_reset=0.0)\n"),
        command="snndsl export SPEC --weights W.pt --to nir -o NET.nir",
    ),
    Explanation(
        "E0602",
        "`snndsl import` cannot express a NIR node in the language (a non-spiking "
        "integrator the importer does not map yet, parameters that differ within a layer, "
        "time constants that do not fit the discretisation at this --dt). Located at the "
        "node in a listing of the file's nodes.",
        _net("    input x: [8]\n    output y = x -> fc: Linear(4) -> sn: LIF(v_reset=none)\n"),
        _net("    input x: [8]\n    output y = x -> fc: Linear(4) -> sn: LIF(v_reset=0.0)\n"),
        command="snndsl import NET.nir -o NET.snn --weights-out NET.pt",
    ),
    Explanation(
        "E0603",
        "The weights given to `snndsl export` do not fit the spec: a missing key or a "
        "tensor of the wrong shape. Pass the state_dict of this network's generated module.",
        _net("    input x: [8]\n    output y = x -> fc: Linear(4) -> sn: LIF\n"),
        _net("    input x: [8]\n    output y = x -> fc: Linear(4) -> sn: LIF\n"),
        command="snndsl export SPEC --weights W.pt --to nir -o NET.nir",
    ),
    Explanation(
        "E0604",
        "The file given to `snndsl import` is not a NIR graph (not HDF5, or not NIR's layout).",
        _net("    input x: [8]\n    output y = x -> fc: Linear(4) -> sn: LIF\n"),
        _net("    input x: [8]\n    output y = x -> fc: Linear(4) -> sn: LIF\n"),
        command="snndsl import NET.nir -o NET.snn --weights-out NET.pt",
    ),
    Explanation(
        "W0101",
        "A warning, not an error: a value is computed but no output uses it, so generated "
        "code computes it for nothing. Use it, mark it as an output, or remove it.",
        _net("    input x: [8]\n    h = x -> Linear(4) -> IF\n    output y = x -> IF\n"),
        _net("    input x: [8]\n    h = x -> Linear(4) -> IF\n    output y = h\n"),
    ),
)

EXPLANATIONS: dict[str, Explanation] = {e.code: e for e in _EXPLANATIONS}


def explain(code: str) -> str | None:
    """The text ``snndsl explain CODE`` prints, or None for an unknown code."""
    e = EXPLANATIONS.get(code.upper())
    if e is None:
        return None
    kind = "YAML" if e.yaml else ".snn"
    return (
        f"{e.code}: {e.title}\n\n{_wrap(e.meaning)}\n\n"
        + (f"Raised by: {e.command}\n\n" if e.command else "")
        + f"Wrong ({kind}):\n\n{_indent(e.wrong)}\n\nRight:\n\n{_indent(e.right)}\n"
    )


def markdown() -> str:
    """docs/errors.md: every code, its meaning and its examples."""
    lines = [
        "# Diagnostic codes",
        "",
        "Every diagnostic snndsl reports, with a spec that raises it and the same spec",
        "fixed. `snndsl explain CODE` prints one entry. Generated from `snndsl/explain.py`",
        "(`snndsl explain --markdown > docs/errors.md`); `tests/test_explain.py` checks",
        "that every example does what it says and that this file is current.",
        "",
    ]
    for e in _EXPLANATIONS:
        fence = "yaml" if e.yaml else "snn"
        lines += [
            f"## {e.code}: {e.title}",
            "",
            e.meaning,
            "",
            *([f"Raised by `{e.command}`.", ""] if e.command else []),
            "Wrong:",
            "",
            f"```{fence}",
            e.wrong.rstrip("\n"),
            "```",
            "",
            "Right:",
            "",
            f"```{fence}",
            e.right.rstrip("\n"),
            "```",
            "",
        ]
    return "\n".join(lines)


def _indent(text: str) -> str:
    return textwrap.indent(text.rstrip("\n"), "    ")


def _wrap(text: str, width: int = 88) -> str:
    return textwrap.fill(text, width, break_long_words=False, break_on_hyphens=False)
