"""No spec name can shadow a name that generated code relies on.

A spec's network name becomes a module-level class, its labels become submodule
attributes and locals of ``forward``, its value names locals of ``forward``; any of them
spelled like a global the generated code reads (``contextlib``, ``zip``, ``ValueError``,
...) or like one of the network class's own methods (``forward_chunked``) would break
the module.  The set of such names is derived here from the generated code itself, with
:mod:`symtable`, for every shipped spec in every mode and backend, so it cannot drift from
the templates; every one must be refused, with a located diagnostic, as a network name,
a label and a value name.
"""

from __future__ import annotations

import symtable

import pytest
import torch
from conftest import SPECS

import snndsl
from snndsl import SpecError
from snndsl.backends import BACKENDS, MODES
from snndsl.names import identifier_problem


def _globals(table: symtable.SymbolTable, names: set[str]) -> None:
    """Names bound at module level or read as globals (builtins included) in any scope."""
    for symbol in table.get_symbols():
        if table.get_type() == "module" or (symbol.is_global() and symbol.is_referenced()):
            names.add(symbol.get_name())
    for child in table.get_children():
        _globals(child, names)


def _members(table: symtable.SymbolTable, class_name: str) -> set[str]:
    """What the network class itself defines (methods, class attributes)."""
    (cls,) = [c for c in table.get_children() if c.get_name() == class_name]
    return {s.get_name() for s in cls.get_symbols() if s.is_assigned() or s.is_namespace()}


def names_generated_code_uses() -> set[str]:
    """Every global and network-class member of every generated form of the shipped specs,
    less the spec's own network name and the reserved ``_`` names."""
    used: set[str] = set()
    for spec in SPECS:
        for mode in MODES:
            for backend in BACKENDS:
                try:
                    net, source = snndsl.api.build(str(spec), mode, backend=backend)
                except SpecError as err:  # a multi-step-only spec in single-step mode
                    assert set(err.codes) == {"E0208"}, err.render()
                    continue
                table = symtable.symtable(source, str(spec), "exec")
                found: set[str] = set()
                _globals(table, found)
                found |= _members(table, net.name)
                used |= found - {net.name}
    return {n for n in used if not n.startswith("_")}


USED = sorted(names_generated_code_uses())

AS_NETWORK = "network {name} {{\n    input x: [8]\n    output y = x -> Linear(4) -> LIF\n}}\n"
AS_LABEL = "network N {{\n    input x: [8]\n    output y = x -> {name}: Linear(4) -> LIF\n}}\n"
AS_VALUE = "network N {{\n    input x: [8]\n    {name} = x -> Linear(4)\n    output y = {name} -> LIF\n}}\n"


def test_the_derived_set_sees_what_it_should():
    # one of each kind, so an empty or broken derivation cannot pass the tests below
    assert {"torch", "nn", "F", "contextlib", "zip", "ValueError", "forward_chunked"} <= set(USED)


@pytest.mark.parametrize(
    "template", [AS_NETWORK, AS_LABEL, AS_VALUE], ids=["network", "label", "value"]
)
@pytest.mark.parametrize("name", USED)
def test_refused(template, name):
    assert identifier_problem(name) is not None
    text = template.format(name=name)
    with pytest.raises(SpecError) as caught:
        snndsl.resolve(text)
    (diag,) = caught.value.diagnostics
    # located at the (first) occurrence of the name
    line = next(i for i, s in enumerate(text.splitlines(), 1) if f" {name}" in s)
    column = text.splitlines()[line - 1].index(f" {name}") + 2
    assert (diag.span.line, diag.span.column) == (line, column), diag.render()
    assert diag.code == "E0101" and f"'{name}'" in diag.message, diag.render()


# Each of these once generated a module that failed at run time.
KNOWN_BREAKAGES = {
    "network contextlib": AS_NETWORK.format(name="contextlib"),
    "network zip": AS_NETWORK.format(name="zip"),
    "network getattr": AS_NETWORK.format(name="getattr"),
    "network setattr": AS_NETWORK.format(name="setattr"),
    "label forward_chunked": AS_LABEL.format(name="forward_chunked"),
    "value ValueError next to a PSN": (
        "network N {\n    input x: [8]\n    ValueError = x -> Linear(4)\n"
        "    output y = ValueError -> PSN(4)\n}\n"
    ),
}


@pytest.mark.parametrize("text", KNOWN_BREAKAGES.values(), ids=KNOWN_BREAKAGES.keys())
def test_known_breakages_are_refused(text):
    with pytest.raises(SpecError) as caught:
        snndsl.generate(text, mode="multi")
    (diag,) = caught.value.diagnostics
    assert diag.code == "E0101" and "would shadow a name that generated code uses" in diag.message


def test_names_next_to_the_refused_ones_still_work():
    """The refusals are exact: a name that merely contains a refused one generates and runs."""
    text = (
        "network zip_net {\n    input x: [8]\n    ValueErrors = x -> forward_chunked_1: Linear(4)\n"
        "    output y = ValueErrors -> PSN(4)\n}\n"
    )
    module = snndsl.load(text, mode="multi")()
    y = module.forward_chunked(torch.rand(4, 2, 8), chunk=4)
    assert y.shape == (4, 2, 4)
    with pytest.raises(ValueError, match="needs 4 steps"):
        module(torch.rand(3, 2, 8))
