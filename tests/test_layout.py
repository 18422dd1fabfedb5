"""Statement layout (snndsl/backends/torch/layout.py) against ruff itself.

Generated statements are laid out from structure, never re-parsed; these tests hold the
layout to what ``ruff format`` would make of the same code: statement by statement for
names of many lengths, and on whole generated modules whose labels are 1 to 120
characters long (the language puts no limit on a label).
"""

from __future__ import annotations

import random
import re
import subprocess
import sys

import pytest
from conftest import ROOT

import snndsl
from snndsl.backends.torch import layout
from snndsl.backends.torch.layout import Atom, Chain, Kw, Tup, call, chain


def _ruff_format(source: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--isolated", "-"],
        input=source,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def _cases(seed: int) -> list[tuple[str, object, str, int]]:
    """Statements of every shape the torch backend emits, with names of many lengths."""
    rng = random.Random(seed)
    out = []
    for _ in range(150):
        name = "a" * rng.choice([1, 5, 20, 40, 60, 70, 75, 80, 85, 90, 110])
        other = "b" * rng.choice([1, 5, 20, 40, 60, 70, 80])
        comment = rng.choice(["", "[T * N, 32]", "c" * len(other)])
        shapes = [
            ("self." + name, call("nn.Linear", "20", "32", Kw("bias", Atom("False")))),
            (name, call("self." + name, call("x.flatten", "0", "1"))),
            ("_v", call("_state", f"self._{name}_v", "_xs[0]", "-0.1")),
            ("h", chain("+", [name, other, "c" * len(other)])),
            ("h", Chain(Atom(name), (("*", chain("-", ["1.0", other])),))),
            (name, call("torch.cat", Tup((Atom(name), Atom(other))), "1")),
            (f"self._{name}_v", Atom("_v")),
            ("h, _v", call(f"_LIFLoop_{name}.apply", "_xs", "_v", f"self.{other}.tau")),
            ("", call(f"self.{name}.register_buffer", '"w"', call("torch.ones", "8", "8"))),
        ]
        targets, value = rng.choice(shapes)
        out.append((targets, value, comment, rng.choice([8, 12, 16])))
    return out


def _laid_and_ruff(seed: int) -> tuple[str, str]:
    """The statements of ``_cases(seed)`` laid out here, and ruff's formatting of them."""
    flat, laid = ["class A:\n    def f(self):\n"], ["class A:\n    def f(self):\n"]
    for targets, value, comment, indent in _cases(seed):
        guards = "".join(" " * (8 + 4 * d) + "if x:\n" for d in range((indent - 8) // 4))
        pad = " " * indent
        head = f"{targets} = " if targets else ""
        tail = f"  # {comment}" if comment else ""
        flat.append(f"{guards}{pad}{head}{layout.flat(value)}{tail}\n")
        laid.append(f"{guards}{pad}{layout.lines(targets, value, indent, comment)}\n")
    return "".join(laid), _ruff_format("".join(flat))


@pytest.mark.parametrize("seed", range(4))
def test_statements_are_laid_out_as_ruff_lays_them_out(seed):
    laid, ruff = _laid_and_ruff(seed)
    assert laid == ruff


def _member(group: str, name: str) -> layout.Code:
    """``self.<group>[1].<name>``: a layer in a numbered group."""
    return layout.Attr(layout.Sub(layout.Attr(Atom("self"), group), Atom("1"), split=True), name)


@pytest.mark.parametrize("length", [1, 20, 40, 60, 70, 80, 90, 110])
def test_module_paths_with_subscripts_are_left_as_ruff_leaves_them(length):
    """A layer in a numbered group (``self.layer3[1].conv1``) splits its subscript before
    its arguments; a statement that still has a line too long is one line marked
    ``# fmt: skip``.  ruff changes nothing in either."""
    name, group = "a" * length, "g" * (length // 2 + 1)
    lines = ["class A:\n    def f(self):\n"]
    for targets, value in [
        (name, call(_member(group, name), "x")),
        (name, call(_member(group, name), call("x.flatten", "0", "1"))),
        (name, call("F.linear", "x", layout.Attr(_member(group, name), "weight"))),
        (_member(group, name), call("nn.Conv2d", "64", "64", "3", Kw("bias", Atom("False")))),
    ]:
        for comment in ("", "[T * N, 64, 8, 8]"):
            lines.append(" " * 8 + layout.lines(targets, value, 8, comment) + "\n")
    source = "".join(lines)
    assert _ruff_format(source) == source


def test_a_wrong_rule_is_caught(monkeypatch):
    """The comparison above can fail: with the line length off by a few columns the
    layout no longer matches ruff's."""
    monkeypatch.setattr(layout, "LINE_LENGTH", 84)
    laid, ruff = _laid_and_ruff(0)
    assert laid != ruff


SPECS = (
    "conv.snn",
    "custom.snn",
    "shd_rnn.snn",
    "psn.snn",
    "spikingjelly/sew_resnet18.snn",  # groups, numbered (self.layer1[0].conv1) and named
    "zoo.snn",
)


def _long_labels(text: str, n: int) -> str:
    """Every step label of a spec made ``n`` characters longer."""
    for label in sorted(set(re.findall(r"\b([a-z][a-z0-9_]*): [A-Z]", text)), key=len)[::-1]:
        text = re.sub(rf"\b{label}: ([A-Z])", rf"{label}_{'q' * n}: \1", text)
    # a numbered group's name: conv_fc.3 -> conv_fc_qqq.3
    return re.sub(r"\b([a-z][a-z0-9_]*)\.([0-9]+): ", rf"\1_{'q' * n}.\2: ", text)


def _ruff_problems(n: int, folder) -> str:
    """What ruff says of every generated module of SPECS with labels ``n`` longer ('' when
    it has nothing to say)."""
    count = 0
    for spec in SPECS:
        text = _long_labels((ROOT / "specs" / spec).read_text(encoding="utf-8"), n)
        for mode in snndsl.api.MODES:
            for backend in snndsl.BACKENDS:
                try:
                    source = snndsl.generate(text, mode=mode, backend=backend)
                except snndsl.SpecError as err:
                    assert set(err.codes) == {"E0208"}, err.render()  # no single-step form
                    continue
                name = spec[:-4].replace("/", "-")
                (folder / f"{name}_{mode}_{backend}.py").write_text(source)
                count += 1
    assert count >= 30
    problems = ""
    for args in (["format", "--check", "--diff"], ["check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args, "--isolated", str(folder)],
            capture_output=True,
            text=True,
        )
        if result.returncode:
            problems += result.stdout[-4000:] + result.stderr[-2000:]
    return problems


@pytest.mark.parametrize("n", [1, 40, 63, 64, 90, 120])
def test_generated_modules_are_ruff_clean_for_any_label_length(n, tmp_path):
    assert _ruff_problems(n, tmp_path) == ""


def test_the_label_length_check_catches_a_statement_left_unsplit(monkeypatch, tmp_path):
    """With every statement kept on one line, ruff has something to say."""

    def one_line(targets, value, indent, comment=""):
        targets = targets if isinstance(targets, str) else layout.flat(targets)
        return [(f"{targets} = " if targets else "") + layout.flat(value)]

    monkeypatch.setattr(layout, "statement", one_line)
    assert _ruff_problems(90, tmp_path) != ""
