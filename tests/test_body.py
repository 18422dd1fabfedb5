"""The one walker for definition bodies (``snndsl.semantics.body``) and the option validator.

Neurons, parallel neurons and surrogates all run their bodies through ``BodyWalker``:
``require``, ``if`` and ``let`` are handled there once, every other statement by the
kind's ``visit_<Statement>``, and a statement a kind has no method for is a located
diagnostic.  The import graph of ``snndsl.semantics`` has no cycle.
"""

from __future__ import annotations

import ast as pyast
from pathlib import Path

import pytest

import snndsl
from snndsl import SpecError
from snndsl.diagnostics import Reporter
from snndsl.semantics import body
from snndsl.semantics.body import BodyWalker, OptionRules
from snndsl.semantics.definitions import Definitions, SurrogateRequires
from snndsl.semantics.evaluate import Evaluator
from snndsl.semantics.neurons import NeuronCompiler
from snndsl.semantics.parallel import ParallelCompiler
from snndsl.semantics.surrogates import SurrogateBody
from snndsl.syntax import ast

SEMANTICS = Path(body.__file__).parent
NET = "\nnetwork N {{ input x: [4]\n output y = x -> {call} }}\n"


def neuron(stmts: str, call: str = "Foo") -> str:
    return f"neuron Foo(a: float = 1.0, k: int = 2) {{\n{stmts}\n}}" + NET.format(call=call)


def parallel(stmts: str, call: str = "Bad") -> str:
    return f"parallel neuron Bad(T: int = 4) {{\n{stmts}\n}}" + NET.format(call=call)


def surrogate(stmts: str, call: str = "IF(surrogate=Sg())") -> str:
    head = "surrogate Sg(alpha: float = 1.0, n: int = 2) {\n"
    return head + stmts + "\n}" + NET.format(call=call)


NEURON = "state v = 0.0\ncharge v = v + x * q\nfire v >= a"
PARALLEL = "steps T\nparam w[T, T] = 0.1\nparam b[T, 1] = -1.0\ncharge h = w @ x + b\nfire h >= q"
SURROGATE = "gradient alpha * x * q"


def diagnostic(text: str):
    with pytest.raises(SpecError) as info:
        snndsl.generate(text)
    d = info.value.diagnostics[0]
    return d.code, d.message, d.hint, d.span.line, d.span.column


# ------------------------------------------------------------------ require / if / let once
@pytest.mark.parametrize("cls", [NeuronCompiler, ParallelCompiler, SurrogateBody])
def test_no_kind_handles_if_or_let_itself(cls):
    for name in ("visit_If", "visit_Let", "walk", "visit", "branch"):
        assert getattr(cls, name) is getattr(BodyWalker, name), (cls, name)


def test_only_surrogates_pass_over_require():
    assert NeuronCompiler.visit_Require is BodyWalker.visit_Require
    assert ParallelCompiler.visit_Require is BodyWalker.visit_Require
    # a surrogate's requires are checked at each call, by the same walker, leniently
    assert SurrogateBody.visit_Require is not BodyWalker.visit_Require
    assert SurrogateRequires.visit_Require is BodyWalker.visit_Require
    assert SurrogateRequires.LENIENT and not BodyWalker.LENIENT


KINDS = [
    (neuron, NEURON, NeuronCompiler),
    (parallel, PARALLEL, ParallelCompiler),
    (surrogate, SURROGATE, SurrogateBody),
]


@pytest.mark.parametrize("make,rest,cls", KINDS)
def test_let_and_if_go_through_the_shared_walker(make, rest, cls, monkeypatch):
    seen = []
    for name in ("visit_If", "visit_Let"):
        original = getattr(BodyWalker, name)

        def spy(self, stmt, original=original):
            seen.append((type(self), type(stmt).__name__))
            return original(self, stmt)

        monkeypatch.setattr(BodyWalker, name, spy)
    text = make("if 1 > 2 { let q = 1.0 } else { let q = 2.0 }\n" + rest)
    assert "2.0" in snndsl.generate(text)
    assert (cls, "If") in seen and (cls, "Let") in seen


@pytest.mark.parametrize("make,rest,cls", KINDS)
def test_require_goes_through_the_shared_walker(make, rest, cls, monkeypatch):
    seen = []
    original = BodyWalker.visit_Require

    def spy(self, stmt):
        seen.append(type(self))
        return original(self, stmt)

    monkeypatch.setattr(BodyWalker, "visit_Require", spy)
    code, message, _, _, _ = diagnostic(make('let q = 1.0\nrequire 1 > 2, "never"\n' + rest))
    assert code == "E0403" and message.endswith(": never")
    walker = SurrogateRequires if cls is SurrogateBody else cls
    assert walker in seen, seen


@pytest.mark.parametrize(
    "make,rest,cond,expected",
    [
        (
            neuron,
            NEURON,
            "a",
            ("E0401", "an 'if' condition must be a constant bool (parameters only)", None, 2, 1),
        ),
        (
            parallel,
            PARALLEL,
            "T",
            ("E0401", "an 'if' condition must be a constant bool (parameters only)", None, 2, 1),
        ),
        (
            surrogate,
            SURROGATE,
            "alpha > 0.0",
            (
                "E0405",
                "an 'if' in a surrogate may only test constants and int parameters "
                "(float parameters are runtime values in the backward pass)",
                None,
                2,
                4,
            ),
        ),
    ],
)
def test_an_if_that_is_not_constant_is_located(make, rest, cond, expected):
    assert diagnostic(make(f"if {cond} {{ let z = 1.0 }}\nlet q = 1.0\n" + rest)) == expected


@pytest.mark.parametrize(
    "make,rest,name,message",
    [
        (neuron, NEURON, "spike", "'spike' names the neuron's spike after 'fire'"),
        (neuron, NEURON, "k", "'k' is already defined here"),
        (parallel, PARALLEL, "index", "'index' is already defined here"),
        (surrogate, SURROGATE, "x", "'x' is already defined here"),
    ],
)
def test_a_let_that_takes_a_known_name_is_located(make, rest, name, message):
    got = diagnostic(make(f"let {name} = 1.0\nlet q = 1.0\n" + rest))
    assert got[1:] == (message, None, 2, 1), got


def test_a_surrogate_require_is_checked_at_the_call_leniently():
    # a require that is not a bool fails at the call (not as a definition error)
    got = diagnostic(surrogate('require alpha, "alpha"\nlet q = 1.0\n' + SURROGATE))
    assert got == ("E0403", "Sg: alpha", "the requirement is: alpha", 7, 31)


# ------------------------------------------------------------------ statement kinds
@pytest.mark.parametrize(
    "text,expected",
    [
        (
            neuron("primitive x\n" + NEURON),
            ("E0401", "'primitive' belongs in a surrogate, not a neuron", None, 2, 1),
        ),
        (
            parallel("let q = 0.0\nstate v = 0.0\n" + PARALLEL),
            (
                "E0401",
                "'state' has no place in a parallel neuron",
                "a parallel neuron has no state: it uses steps, param, buffer, charge "
                "h = M @ x + b, window and fire",
                3,
                1,
            ),
        ),
        (
            surrogate("reset none\nlet q = 1.0\n" + SURROGATE),
            ("E0405", "'reset' belongs in a neuron, not a surrogate", None, 2, 1),
        ),
    ],
)
def test_a_statement_of_another_kind_is_a_located_diagnostic(text, expected):
    assert diagnostic(text) == expected


class _FireOnly(BodyWalker):
    """A walker that knows ``fire`` only."""

    def __init__(self, definition, reporter):
        self.definition, self.reporter, self.env = definition, reporter, {"a": 1.0, "k": 2}
        self.fired = []

    def evaluator(self):
        return Evaluator(self.env, self.reporter)

    def misplaced(self, stmt):
        return self.fail(f"no {type(stmt).__name__}", stmt.span)

    def bind_tensor(self, stmt, value):
        return value

    def visit_Fire(self, stmt):
        self.fired.append(stmt)


def _walker(stmts: str) -> _FireOnly:
    module = snndsl.parse(f"neuron Foo(a: float = 1.0, k: int = 2) {{\n{stmts}\n}}")
    (definition,) = module.items
    walker = _FireOnly(definition, Reporter(module.source))
    walker.walk(definition.body)
    return walker


def test_the_walker_dispatches_by_statement_type_and_takes_the_constant_branch():
    walker = _walker("let b = 2.0\nif k > 1 { fire b >= a } else { fire a >= b }")
    assert walker.env["b"] == 2.0
    (fire,) = walker.fired
    assert isinstance(fire.condition.left, ast.Name) and fire.condition.left.id == "b"


def test_a_statement_without_a_visit_method_is_the_kinds_diagnostic():
    with pytest.raises(SpecError) as info:
        _walker("fire a >= 1.0\nstate v = 0.0")
    d = info.value.diagnostics[0]
    assert (d.code, d.message, d.span.line, d.span.column) == ("E0401", "no State", 3, 1)


# ------------------------------------------------------------------ options
RULES = OptionRules("fire", (("surrogate", "surrogate"), ("gain", "float")))


def _options(line: str):
    module = snndsl.parse(f"neuron Foo() {{\n{line}\n}}")
    (fire,) = module.items[0].body
    return fire.options, Evaluator({}, Reporter(module.source))


def _option_error(fn):
    with pytest.raises(SpecError) as info:
        fn()
    d = info.value.diagnostics[0]
    return d.code, d.message, d.hint, d.span.column


def test_an_unknown_option_is_e0202_with_a_close_name_or_the_list():
    options, ev = _options("fire x >= 1.0, gian: 2.0")
    assert _option_error(lambda: RULES.check_names(options, ev.reporter)) == (
        "E0202",
        "'fire' has no option 'gian'",
        "did you mean 'gain'?",
        16,
    )
    options, ev = _options("fire x >= 1.0, zzz: 2.0")
    assert _option_error(lambda: RULES.check_names(options, ev.reporter))[2] == (
        "its options are: surrogate, gain"
    )
    fixed = OptionRules("fire", (("surrogate", "surrogate"),), "its option is: surrogate")
    options, ev = _options("fire x >= 1.0, zzz: 2.0")
    assert _option_error(lambda: fixed.check_name(options[0], ev.reporter))[2] == (
        "its option is: surrogate"
    )


def test_an_option_of_the_wrong_type_is_e0204_at_its_value():
    options, ev = _options("fire x >= 1.0, gain: true")
    assert _option_error(lambda: RULES.value(options[0], ev)) == (
        "E0204",
        "option 'gain': expected float, got bool",
        None,
        22,
    )


def test_first_checks_every_name_then_takes_the_first_value():
    options, ev = _options("fire x >= 1.0, gain: 2, gain: true")
    assert RULES.first(options, "gain", ev, None) == 2.0
    assert RULES.first(options, "surrogate", ev, "default") == "default"
    options, ev = _options("fire x >= 1.0, gain: 2, bad: 1")
    assert _option_error(lambda: RULES.first(options, "gain", ev, None))[0] == "E0202"


def test_an_untyped_option_is_returned_as_evaluated():
    rules = OptionRules("window", (("when", None),))
    module = snndsl.parse("parallel neuron P() {\nwindow 2, when: 1 > 2\n}")
    (window,) = module.items[0].body
    assert rules.value(window.options[0], Evaluator({}, Reporter(module.source))) is False


# ------------------------------------------------------------------ imports
def _imports(path: Path):
    """(module-level semantics imports, semantics imports inside functions) of a file."""
    tree = pyast.parse(path.read_text())
    top, local = set(), set()
    for node in pyast.walk(tree):
        if not isinstance(node, pyast.ImportFrom) or not node.module:
            continue
        names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found = {n.split(".")[2] for n in names if n.startswith("snndsl.semantics.")}
        (top if node in tree.body else local).update(found)
    return top, local


def test_the_semantics_modules_import_each_other_without_a_cycle():
    modules = {p.stem for p in SEMANTICS.glob("*.py")} - {"__init__"}
    graph = {}
    for m in modules:
        top, local = _imports(SEMANTICS / f"{m}.py")
        assert not local & modules, f"{m} imports {local & modules} inside a function"
        graph[m] = top & modules
    for start in graph:  # no module reaches itself
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            assert m != start, f"import cycle through {start}"
            if m not in seen:
                seen.add(m)
                todo.extend(graph[m])


def test_no_private_name_is_imported_from_another_semantics_module():
    for path in SEMANTICS.glob("*.py"):
        for node in pyast.walk(pyast.parse(path.read_text())):
            if isinstance(node, pyast.ImportFrom) and (node.module or "").startswith(
                "snndsl.semantics"
            ):
                assert not [a.name for a in node.names if a.name.startswith("_")], path


@pytest.mark.parametrize(
    "alpha,message", [(1.0, "Sg: else"), (True, "Sg: then"), (7, "Sg: else"), (None, "Sg: else")]
)
def test_the_call_time_require_walk_takes_else_when_a_condition_is_not_true(alpha, message):
    module = snndsl.parse(
        "surrogate Sg(alpha: float = 1.0) {\n"
        '    if alpha { require false, "then" } else { require alpha == 0.5, "else" }\n'
        "    let q = undefined_name\n"  # lets are not walked at the call
        "    gradient x\n}"
    )
    (definition,) = module.items
    reporter = Reporter(module.source)
    call = ast.Call("Sg", ())
    walker = SurrogateRequires(Definitions(reporter), definition, {"alpha": alpha}, reporter, call)
    with pytest.raises(SpecError) as info:
        walker.walk(definition.body)
    assert info.value.diagnostics[0].message == message
    SurrogateRequires(Definitions(reporter), definition, {"alpha": 0.5}, reporter, call).walk(
        definition.body
    )
