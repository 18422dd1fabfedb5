"""Locate the files that ship with snndsl: the grammar, the templates and the prelude.

Installed, they live inside the wheel as the packages ``snndsl.grammar``,
``snndsl.templates`` and ``snndsl.prelude`` (``pyproject.toml`` maps the top-level
``grammar/`` and ``templates/`` folders there).  In a source checkout or an editable
install they are read from the repository folders directly.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
_FALLBACK = {
    "snndsl.grammar": _REPO / "grammar",
    "snndsl.templates": _REPO / "templates",
    "snndsl.prelude": Path(__file__).resolve().parent / "prelude",
}


@functools.cache
def resource_dir(package: str):
    """A Traversable for one of the data packages."""
    try:
        root = resources.files(package)
        if root.is_dir():
            return root
    except ModuleNotFoundError:
        pass
    return _FALLBACK[package]


def read_text(package: str, name: str) -> str:
    return resource_dir(package).joinpath(name).read_text(encoding="utf-8")
