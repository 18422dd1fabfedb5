"""Identifier rules and the generated-name namespace."""

from __future__ import annotations

import pytest
import torch

from snndsl.names import (
    NN_MODULE_ATTRIBUTES,
    NN_MODULE_PRIVATE,
    Namespace,
    identifier_problem,
    snake_case,
)


def test_reserved_lists_cover_the_installed_torch():
    public = {n for n in dir(torch.nn.Module) if not n.startswith("_")}
    public |= {n for n in vars(torch.nn.Module()) if not n.startswith("_")}
    assert public <= NN_MODULE_ATTRIBUTES, sorted(public - NN_MODULE_ATTRIBUTES)
    private = {
        n
        for n in [*dir(torch.nn.Module), *vars(torch.nn.Module())]
        if n.startswith("_") and not n.startswith("__")
    }
    assert private <= NN_MODULE_PRIVATE, sorted(private - NN_MODULE_PRIVATE)


@pytest.mark.parametrize("name", ["x", "fc1", "Seed", "hidden_2", "A"])
def test_valid(name):
    assert identifier_problem(name) is None


@pytest.mark.parametrize(
    "name,why",
    [
        ("_x", "reserved"),
        ("1a", "identifier"),
        ("a-b", "identifier"),
        ("class", "keyword"),
        ("match", "keyword"),
        ("torch", "shadow"),
        ("self", "shadow"),
        ("forward", "shadow"),
        ("state_dict", "shadow"),
        ("training", "shadow"),
        ("reset", "shadow"),
        ("é", "identifier"),
        ("a\n", "identifier"),
    ],
)
def test_invalid(name, why):
    problem = identifier_problem(name)
    assert problem is not None and why in problem


def test_namespace():
    ns = Namespace({"_t"})
    assert ns.fresh("_v") == "_v"
    assert ns.fresh("_v") == "_v_2"
    assert ns.fresh("_t") == "_t_2"
    assert ns.numbered("linear") == "linear_1"
    ns.reserve("linear_2")
    assert ns.numbered("linear") == "linear_3"
    assert ns.fresh("class") == "class_2"
    assert snake_case("BatchNorm2d") == "batchnorm2d"
