"""Backends: the resolved IR rendered as source for a target.

:mod:`snndsl.backends.registry` defines the seam (a backend object, registered by
name); each target lives in a folder of its own and registers its backends when
imported.  Adding a backend touches its folder and the one import line below.
"""

from __future__ import annotations

from snndsl.backends import torch as _torch  # noqa: F401  (registers eager, fused, compile)
from snndsl.backends import triton as _triton  # noqa: F401  (registers triton)
from snndsl.backends.registry import (
    MODES,
    Backend,
    GenerationError,
    get,
    names,
    register,
    render,
)

BACKENDS = names()

__all__ = ["BACKENDS", "MODES", "Backend", "GenerationError", "get", "names", "register", "render"]
