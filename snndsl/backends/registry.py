"""The backend seam: what a backend is, and the registry that finds one by name.

A backend turns a resolved :class:`snndsl.ir.NetworkIR` into the source text of one
form ('single' or 'multi').  It is an object with a ``name``, a one-line
``description`` and ``render(net, mode) -> str``; :func:`register` adds it, and
:func:`render` dispatches to it.  Nothing here knows a target language.
"""

from __future__ import annotations

from typing import Protocol

from snndsl import ir

MODES = ("single", "multi")


class GenerationError(Exception):
    """Generated source failed to compile: a bug in snndsl, never a spec problem."""


class Backend(Protocol):
    name: str
    description: str

    def render(self, net: ir.NetworkIR, mode: str) -> str:
        """Source text of the ``mode`` form of ``net``."""
        ...


_REGISTRY: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    """Add a backend under its name (a name can be registered once)."""
    if backend.name in _REGISTRY:
        raise ValueError(f"a backend named {backend.name!r} is already registered")
    _REGISTRY[backend.name] = backend
    return backend


def names() -> tuple[str, ...]:
    """The registered backends' names, in registration order."""
    return tuple(_REGISTRY)


def get(name: str) -> Backend:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"backend must be one of {names()}, got {name!r}") from None


def render(net: ir.NetworkIR, mode: str, backend: str = "eager") -> str:
    """Source of the ``mode`` form of ``net`` from the backend named ``backend``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return get(backend).render(net, mode)
