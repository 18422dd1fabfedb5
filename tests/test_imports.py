"""The import graph of the package ``snndsl/``: no cycles, no private names across modules.

The graph is read from the source files with :mod:`ast` (nothing is imported), so the
check runs without torch and sees every import, including the ones inside functions:

- ``import snndsl.a.b`` and ``from snndsl.a.b import x`` are edges to ``snndsl.a.b``
  (to its ``__init__`` when it is a package); relative imports resolve the same way;
- ``from snndsl.pkg import mod`` where ``mod`` is a submodule is an edge to that
  submodule; the other imported names are an edge to ``snndsl.pkg`` itself;
- the parent packages Python also runs on an import are not edges: every module would
  otherwise reach ``snndsl/__init__.py``, which imports the public API.

Private names are ``_x`` (dunder names such as ``__version__`` are public): importing
one from another snndsl module, or reading ``mod._x`` on an imported snndsl module, fails.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT

PACKAGE = "snndsl"

# ``from snndsl import __version__`` (snndsl/backends/torch/codegen.py, and lazily
# snndsl/semantics/checker.py) reads one constant that ``snndsl/__init__.py`` binds
# before it imports anything; ``snndsl/__init__.py`` itself imports the public API
# (api -> codegen), so counting that as an edge into ``snndsl/__init__`` would report
# a cycle Python never trips over.  Only this exact name set, only for the top-level
# package, is exempt; any other name imported from ``snndsl`` is a real edge.
INIT_ONLY_NAMES = frozenset({"__version__"})


@dataclass(frozen=True)
class Edge:
    source: str  # importing module (dotted)
    target: str  # imported module (dotted)
    line: int
    lazy: bool  # inside a function


@dataclass(frozen=True)
class PrivateUse:
    module: str
    line: int
    target: str
    name: str

    def __str__(self) -> str:
        return f"{self.module} line {self.line}: {self.target}.{self.name}"


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def package_sources(root: Path = ROOT, package: str = PACKAGE) -> dict[str, tuple[str, bool]]:
    """``{dotted module name: (source text, is a package __init__)}`` for every .py file."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        parts = list(rel.parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts.pop()
        out[".".join(parts)] = (path.read_text(encoding="utf-8"), is_pkg)
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(tree: ast.AST):
    """Every node with whether it is inside a function; skips ``if TYPE_CHECKING:`` bodies
    (never executed, so they cannot take part in an import cycle at run time)."""
    stack = [(tree, False)]
    while stack:
        node, lazy = stack.pop()
        yield node, lazy
        inner = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            children = [node.test, *node.orelse]
        else:
            children = list(ast.iter_child_nodes(node))
        stack.extend((child, inner) for child in reversed(children))


def _resolve_from(module: str, is_pkg: bool, node: ast.ImportFrom) -> str | None:
    if node.level == 0:
        return node.module
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


class ImportGraph:
    """Edges and private-name uses of a set of module sources (see :func:`package_sources`)."""

    def __init__(self, sources: dict[str, tuple[str, bool]], package: str = PACKAGE):
        self.modules = set(sources)
        self.package = package
        self.edges: list[Edge] = []
        self.private: list[PrivateUse] = []
        for name, (text, is_pkg) in sorted(sources.items()):
            self._scan(name, is_pkg, ast.parse(text, filename=name))

    def _internal(self, dotted: str | None) -> bool:
        return dotted is not None and (
            dotted == self.package or dotted.startswith(self.package + ".")
        )

    def _scan(self, module: str, is_pkg: bool, tree: ast.Module) -> None:
        bound: dict[str, str] = {}  # local name -> snndsl module it refers to
        attrs: list[tuple[ast.Attribute, bool]] = []
        for node, lazy in _walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if not self._internal(alias.name):
                        continue
                    self._edge(module, alias.name, node.lineno, lazy)
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        head = alias.name.split(".")[0]
                        bound[head] = head
            elif isinstance(node, ast.ImportFrom):
                base = _resolve_from(module, is_pkg, node)
                if not self._internal(base):
                    continue
                plain = []
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    if sub in self.modules:
                        self._edge(module, sub, node.lineno, lazy)
                        bound[alias.asname or alias.name] = sub
                    else:
                        plain.append(alias.name)
                        if is_private(alias.name):
                            self.private.append(PrivateUse(module, node.lineno, base, alias.name))
                if plain and not (base == self.package and set(plain) <= INIT_ONLY_NAMES):
                    self._edge(module, base, node.lineno, lazy)
            elif isinstance(node, ast.Attribute):
                attrs.append((node, lazy))
        for node, _ in attrs:
            self._attribute(module, node, bound)

    def _edge(self, source: str, target: str, line: int, lazy: bool) -> None:
        if target in self.modules and target != source:
            self.edges.append(Edge(source, target, line, lazy))

    def _attribute(self, module: str, node: ast.Attribute, bound: dict[str, str]) -> None:
        # Every link of ``a.b.c`` is its own node; each reports only its last attribute.
        chain = []
        cur: ast.expr = node
        while isinstance(cur, ast.Attribute):
            chain.append(cur.attr)
            cur = cur.value
        if not isinstance(cur, ast.Name) or cur.id not in bound:
            return
        chain.reverse()
        target = bound[cur.id]
        for i, attr in enumerate(chain):
            if f"{target}.{attr}" in self.modules:
                target = f"{target}.{attr}"
                continue
            if i == len(chain) - 1 and is_private(attr) and target != module:
                self.private.append(PrivateUse(module, node.lineno, target, attr))
            return

    def cycle(self) -> list[Edge] | None:
        """One import cycle as its edges (first found, deterministic), or None."""
        succ: dict[str, list[Edge]] = {}
        for edge in self.edges:
            succ.setdefault(edge.source, []).append(edge)
        state: dict[str, int] = {}  # 1: on the path, 2: done
        path: list[Edge] = []

        def visit(node: str) -> list[Edge] | None:
            state[node] = 1
            for edge in succ.get(node, ()):
                if state.get(edge.target) == 1:
                    start = next(
                        (i for i, e in enumerate(path) if e.source == edge.target), len(path)
                    )
                    return [*path[start:], edge]
                if edge.target not in state:
                    path.append(edge)
                    found = visit(edge.target)
                    if found:
                        return found
                    path.pop()
            state[node] = 2
            return None

        for node in sorted(self.modules):
            if node not in state:
                found = visit(node)
                if found:
                    return found
        return None


def describe_cycle(cycle: list[Edge]) -> str:
    return "\n".join(
        f"  {e.source} -> {e.target}  (line {e.line}{', inside a function' if e.lazy else ''})"
        for e in cycle
    )


def test_no_import_cycles():
    graph = ImportGraph(package_sources())
    found = graph.cycle()
    assert found is None, "import cycle:\n" + describe_cycle(found)


def test_no_private_names_across_modules():
    graph = ImportGraph(package_sources())
    assert not graph.private, "private names used across modules:\n" + "\n".join(
        f"  {use}" for use in graph.private
    )


def test_graph_sees_the_package():
    graph = ImportGraph(package_sources())
    assert "snndsl.api" in graph.modules and "snndsl.syntax.parser" in graph.modules
    assert any(e.source == "snndsl.api" and e.target == "snndsl.syntax.parser" for e in graph.edges)


# --- the checker itself must be able to fail --------------------------------------------

SYNTHETIC = {
    "pkg": ("from pkg.a import run\n__version__ = '1'\n", True),
    "pkg.sub": ("", True),
    "pkg.a": ("from pkg import __version__\nfrom pkg.sub import b\n", False),
    "pkg.sub.b": ("def f():\n    from ..c import g\n", False),
    "pkg.c": (
        "import pkg.a as am\nfrom pkg.a import _hidden, __version__\nx = am._secret\n",
        False,
    ),
    "pkg.e": ("import pkg.sub.b\nz = pkg.sub.b._deep.public\nw = pkg.sub.b.ok\n", False),
    "pkg.d": (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.c import g\n",
        False,
    ),
}


def test_checker_detects_a_lazy_relative_cycle():
    graph = ImportGraph(SYNTHETIC, package="pkg")
    found = graph.cycle()
    assert found is not None
    assert {(e.source, e.target) for e in found} == {
        ("pkg.a", "pkg.sub.b"),
        ("pkg.sub.b", "pkg.c"),
        ("pkg.c", "pkg.a"),
    }
    assert any(e.lazy for e in found)
    assert "inside a function" in describe_cycle(found)
    # ``from pkg import __version__`` alone is not an edge into pkg/__init__ ...
    assert not any(e.source == "pkg.a" and e.target == "pkg" for e in graph.edges)
    # ... and an ``if TYPE_CHECKING:`` import is not an edge at all.
    assert not any(e.source == "pkg.d" for e in graph.edges)


def test_checker_detects_private_imports_and_attributes():
    graph = ImportGraph(SYNTHETIC, package="pkg")
    assert {(u.module, u.target, u.name) for u in graph.private} == {
        ("pkg.c", "pkg.a", "_hidden"),
        ("pkg.c", "pkg.a", "_secret"),
        ("pkg.e", "pkg.sub.b", "_deep"),
    }


def test_checker_without_the_cycle_is_clean():
    sources = dict(SYNTHETIC, **{"pkg.sub.b": ("def f():\n    pass\n", False)})
    assert ImportGraph(sources, package="pkg").cycle() is None
    # Any other name imported from the top-level package is a real edge.
    sources["pkg.a"] = ("from pkg import __version__, helper\n", False)
    found = ImportGraph(sources, package="pkg").cycle()
    assert found is not None and {e.source for e in found} == {"pkg", "pkg.a"}
