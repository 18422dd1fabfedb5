"""Editor support: the Pygments lexer and the TextMate grammar highlight every shipped spec,
and both know exactly the keywords of grammar/snn.lark (read from the grammar here, so
neither can drift from it)."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys

import pytest
from conftest import ROOT

from snndsl.editors import keywords, textmate

SPECS = sorted((ROOT / "specs").rglob("*.snn")) + sorted(
    (ROOT / "snndsl" / "prelude").glob("*.snn")
)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def grammar_keywords() -> set[str]:
    """The quoted literals of the grammar's rules and terminals that are words: strings
    inside a rule or terminal body, comments and regex terminals (/.../) left out."""
    text = (ROOT / "grammar" / "snn.lark").read_text(encoding="utf-8")
    found = set()
    for line in text.splitlines():
        line = re.sub(r"//.*", "", line)  # comments (no `//` inside the grammar's strings)
        line = re.sub(r"/(?:[^/\\\n]|\\.)+/", "", line)  # regex terminals
        for literal in re.findall(r'"((?:[^"\\]|\\.)*)"', line):
            if IDENTIFIER.fullmatch(literal):
                found.add(literal)
    return found


def lark_keywords() -> set[str]:
    """The same set as Lark itself compiles it: terminals whose pattern is a word string."""
    from lark import Lark

    parser = Lark((ROOT / "grammar" / "snn.lark").read_text(encoding="utf-8"), parser="lalr")
    return {
        t.pattern.value
        for t in parser.terminals
        if t.pattern.type == "str" and IDENTIFIER.fullmatch(t.pattern.value)
    }


def test_grammar_keyword_extraction_agrees_with_lark():
    assert grammar_keywords() == lark_keywords()
    assert {"network", "parallel", "surrogate", "window", "none", "and"} <= grammar_keywords()


def test_keyword_table_is_the_grammars():
    groups = (
        keywords.DEFINITIONS,
        keywords.MODIFIERS,
        keywords.IMPORTS,
        keywords.STATEMENTS,
        keywords.OPERATOR_WORDS,
        keywords.CONSTANTS,
    )
    listed = [word for group in groups for word in group]
    assert len(listed) == len(set(listed)), "a keyword is in two groups"
    assert set(listed) == keywords.KEYWORDS == grammar_keywords()


# ----------------------------------------------------------------------------- Pygments


def _lexer():
    pytest.importorskip("pygments")
    from snndsl.editors.pygments_lexer import SnnLexer

    return SnnLexer()


def test_lexer_keyword_groups_are_the_grammars():
    lexer = _lexer()
    words = [w for group in lexer.KEYWORD_GROUPS.values() for w in group]
    assert sorted(words) == sorted(grammar_keywords())


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_lexer_has_no_error_tokens(path):
    from pygments.token import Error

    text = path.read_text(encoding="utf-8")
    tokens = list(_lexer().get_tokens(text))
    assert [(t, v) for t, v in tokens if t in Error] == []
    assert "".join(v for _, v in tokens) == (text if text.endswith("\n") else text + "\n")


def test_lexer_token_kinds():
    from pygments.token import Comment, Keyword, Name, Number, Operator, String

    src = (
        '# a comment\nimport "lib.snn"\nparallel neuron N(T: int?, steps = 8) {\n'
        "    let a = x ?? none\n    fire a >= 1.5e-1 and not false, surrogate: surrogate\n"
        "    reset v = 0\n}\nnetwork Net {\n    input x: [8]\n"
        "    output y = x -> snntorch.Leaky(beta=0.5) -> sn: IF -> Linear(2 ** 2) @ w\n"
        "    z = sn.v\n}\n"
    )
    tokens = [(t, v) for t, v in _lexer().get_tokens(src) if v.strip()]
    kinds = {}
    for t, v in tokens:
        kinds.setdefault(v, set()).add(t)
    assert kinds["# a comment"] == {Comment.Single}
    assert String.Double in kinds["lib.snn"]
    assert kinds["import"] == {Keyword.Namespace}
    assert kinds["parallel"] == {Keyword.Declaration}
    assert kinds["neuron"] == {Keyword.Declaration}
    assert kinds["N"] == {Name.Class}
    assert kinds["Net"] == {Name.Class}
    assert kinds["steps"] == {Name}  # a keyword is a name where the keyword cannot come
    assert kinds["surrogate"] == {Name}
    assert kinds["let"] == kinds["fire"] == kinds["reset"] == kinds["input"] == {Keyword}
    assert kinds["none"] == kinds["false"] == {Keyword.Constant}
    assert kinds["and"] == kinds["not"] == {Operator.Word}
    assert kinds["1.5e-1"] == {Number.Float}
    assert kinds["8"] == {Number.Integer}
    for op in ("->", "??", ">=", "**", "@"):
        assert kinds[op] == {Operator}, op
    assert kinds["snntorch"] == {Name.Namespace}
    assert kinds["Leaky"] == {Name.Function}
    assert kinds["Linear"] == {Name.Function}
    assert kinds["v"] == {Name, Name.Attribute}  # `reset v`, `sn.v`


def _entry_point() -> str:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return project["project"]["entry-points"]["pygments.lexers"]["snn"]


def test_entry_point_in_pyproject_imports_the_lexer():
    pytest.importorskip("pygments")
    module, _, attr = _entry_point().partition(":")
    lexer = getattr(importlib.import_module(module), attr)
    assert lexer.name == "snn" and set(lexer.aliases) == {"snn", "snndsl"}
    assert lexer.filenames == ["*.snn"]


def test_pygments_finds_the_lexer_through_the_entry_point(tmp_path, monkeypatch):
    """Pygments' own plugin discovery, given the entry point as pyproject.toml declares it
    (in a stand-in distribution's metadata, so this holds without installing snndsl)."""
    pytest.importorskip("pygments")
    dist = tmp_path / "snndsl_editors_probe-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: snndsl-editors-probe\nVersion: 0\n"
    )
    (dist / "entry_points.txt").write_text(f"[pygments.lexers]\nsnn = {_entry_point()}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename

    assert type(get_lexer_by_name("snn")).__name__ == "SnnLexer"
    assert type(get_lexer_by_name("snndsl")).__name__ == "SnnLexer"
    assert type(get_lexer_for_filename("net.snn")).__name__ == "SnnLexer"


def test_installed_package_registers_the_lexer():
    pytest.importorskip("pygments")
    from importlib.metadata import entry_points

    if not [e for e in entry_points(group="pygments.lexers") if e.name == "snn"]:
        pytest.skip("the installed snndsl metadata predates the pygments.lexers entry point")
    from pygments.lexers import get_lexer_by_name

    assert type(get_lexer_by_name("snn")).__name__ == "SnnLexer"


def test_generate_does_not_import_pygments():
    code = (
        "import sys, snndsl, snndsl.editors.textmate;"
        "snndsl.generate(sys.argv[1], 'multi');"
        "assert 'pygments' not in sys.modules, 'pygments imported'"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "specs" / "seed.snn")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr


# ----------------------------------------------------------------------------- TextMate

GRAMMAR_FILES = [
    ROOT / "editors" / "snn.tmLanguage.json",
    ROOT / "editors" / "vscode" / "syntaxes" / "snn.tmLanguage.json",
]


@pytest.mark.parametrize("path", GRAMMAR_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_textmate_grammar_is_generated(path):
    assert path.read_text(encoding="utf-8") == textmate.render(), (
        f"regenerate: python -m snndsl.editors.textmate > {path.relative_to(ROOT)}"
    )


def test_generator_command_prints_the_grammar():
    run = subprocess.run(
        [sys.executable, "-m", "snndsl.editors.textmate"], capture_output=True, text=True, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == textmate.render()


def _rules(node):
    """Every pattern object of the grammar, nested ones included."""
    if isinstance(node, dict):
        if "match" in node or "begin" in node:
            yield node
        for value in node.values():
            yield from _rules(value)
    elif isinstance(node, list):
        for value in node:
            yield from _rules(value)


def test_textmate_patterns_compile():
    grammar = json.loads(GRAMMAR_FILES[0].read_text(encoding="utf-8"))
    assert grammar["scopeName"] == "source.snn"
    count = 0
    for rule in _rules(grammar):
        for key in ("match", "begin", "end"):
            if key in rule:
                re.compile(rule[key])
                count += 1
    assert count > 10


def _scope_of_word(word: str, line: str | None = None) -> str | None:
    """The scope TextMate gives the first token of ``line`` (default: the word alone):
    the earliest match, ties to the first pattern, as the engine picks."""
    grammar = textmate.grammar()
    line = word if line is None else line
    best = None
    for include in grammar["patterns"]:
        rule = grammar["repository"][include["include"][1:]]
        for sub in rule.get("patterns", [rule]):
            if "match" not in sub:
                continue
            m = re.search(sub["match"], line)
            if m and (best is None or m.start() < best[0]):
                name = sub.get("name") or sub["captures"]["1"]["name"]
                best = (m.start(), name, m.group(0))
    return best[1] if best and best[0] == 0 and best[2].startswith(word) else None


def test_textmate_keywords_are_exactly_the_grammars():
    scopes = set(textmate.KEYWORD_SCOPES)
    words = set()
    for rule in textmate.grammar()["repository"]["keywords"]["patterns"]:
        alternation = re.fullmatch(r"\\b\(\?:([a-z|]+)\)\\b", rule["match"])
        assert alternation, rule["match"]
        words |= set(alternation.group(1).split("|"))
    assert words == grammar_keywords()
    for word in grammar_keywords():
        assert _scope_of_word(word, word + " x") in scopes, word
    for word in ("delay", "repeat", "networks", "x", "Linear", "inputs", "nonexistent"):
        assert _scope_of_word(word, word + " x") not in scopes, word


def test_textmate_scopes_on_a_line():
    assert _scope_of_word("network", "network Net {") == "storage.type.definition.snn"
    assert _scope_of_word("steps", "steps = 8") == "variable.other.snn"
    assert _scope_of_word("snntorch", "snntorch.Leaky(beta=0.5)") == "entity.name.namespace.snn"
    assert _scope_of_word("sn", "sn.v") == "variable.other.snn"
    assert _scope_of_word("1.5e-3", "1.5e-3") == "constant.numeric.snn"
    assert _scope_of_word("#", "# note") == "comment.line.number-sign.snn"
    assert _scope_of_word("->", "-> IF") == "keyword.operator.arrow.snn"
    assert _scope_of_word("??", "?? none") == "keyword.operator.coalesce.snn"


def test_vscode_extension_layout():
    folder = ROOT / "editors" / "vscode"
    package = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    (language,) = package["contributes"]["languages"]
    (grammar,) = package["contributes"]["grammars"]
    assert language["id"] == grammar["language"] == "snn"
    assert language["extensions"] == [".snn"]
    assert grammar["scopeName"] == "source.snn"
    assert (folder / grammar["path"]).resolve() == GRAMMAR_FILES[1]
    config = json.loads((folder / language["configuration"]).read_text(encoding="utf-8"))
    assert config["comments"] == {"lineComment": "#"}
    assert ["{", "}"] in config["brackets"] and ["(", ")"] in config["brackets"]
