"""Resolve ``import "other.snn"`` items: the definitions other spec files contribute.

An import names a file relative to the importing file (``.snn`` text or ``.yaml``/``.yml``).
Its neurons, surrogates and blocks become visible to the importer, transitively; its
networks do not (a network is selected from the file given on the command line).  A file
imported twice along different paths is read once; a cycle of imports is error E0109,
located at the import that closes it; a file that cannot be read is E0010 at its import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from snndsl.diagnostics import Reporter, SourceFile, SpecError
from snndsl.syntax import ast
from snndsl.syntax.parser import ReadFailure

DEFINITION_TYPES = (ast.NeuronDef, ast.SurrogateDef, ast.BlockDef)


@dataclass(frozen=True)
class Imported:
    """A definition from another file, with that file's source for its diagnostics."""

    item: ast.NeuronDef | ast.SurrogateDef | ast.BlockDef
    source: SourceFile


def _read(path: Path) -> ast.Module:
    """The imported file's module; ReadFailure when it cannot be read as a spec."""
    from snndsl.syntax.parser import parse_text, read_spec_text
    from snndsl.syntax.yaml_io import load_yaml

    text = read_spec_text(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        return load_yaml(text, str(path))
    return parse_text(text, str(path))


def _target(base: Path, name: str) -> Path | str:
    """The imported file's absolute path, or why it has none (a NUL byte in the name,
    a symlink loop: Python raises ValueError, RuntimeError or OSError for these)."""
    if "\0" in name:
        return "the path contains a NUL byte"
    try:
        return (base.parent / name).resolve()
    except (OSError, RuntimeError, ValueError) as err:
        return f"the path cannot be resolved ({err})"


def resolve_imports(module: ast.Module, reporter: Reporter) -> list[Imported]:
    """The definitions ``module``'s imports make visible, in import order."""
    out: list[Imported] = []
    if not module.imports():
        return out
    here = Path(module.source.path) if module.source is not None else Path("<spec>")
    seen: set[Path] = set()
    _visit(module, here.resolve(), [here.resolve()], seen, out, reporter)
    return out


def _visit(module, path: Path, chain: list[Path], seen, out, reporter: Reporter) -> None:
    for imp in module.imports():
        source = module.source
        shown = imp.path if imp.path.isprintable() else repr(imp.path)[1:-1]
        target = _target(path, imp.path)
        if isinstance(target, str):
            raise reporter.fail(
                "E0010",
                f"cannot read imported file '{shown}': {target}",
                imp.path_span,
                source=source,
            )
        if target in chain:
            cycle = " -> ".join(p.name for p in [*chain[chain.index(target) :], target])
            raise reporter.fail(
                "E0109",
                f"import cycle: {cycle}",
                imp.path_span,
                "move the shared definitions into a file both import",
                source=source,
            )
        if target in seen:
            continue
        try:
            imported = _read(target)
        except ReadFailure as err:
            raise reporter.fail(
                err.code,
                f"cannot read imported file '{shown}': {err.reason}",
                imp.path_span,
                err.hint,
                source=source,
            ) from None
        except SpecError as err:  # its own located diagnostics
            raise err from None
        seen.add(target)
        _visit(imported, target, [*chain, target], seen, out, reporter)
        out.extend(
            Imported(item, imported.source)
            for item in imported.items
            if isinstance(item, DEFINITION_TYPES)
        )
