"""snndsl: a declarative spec language for spiking neural networks.

Write a network in a compact ``.snn`` file (or YAML), get standalone PyTorch source in a
single-step and a multi-step form, cross-checked against each other and SpikingJelly.

    >>> import snndsl
    >>> source = snndsl.generate("specs/seed.snn", mode="multi")   # no torch needed
    >>> Seed = snndsl.load("specs/seed.snn", mode="single")         # the module class
    >>> report = snndsl.check("specs/seed.snn")                     # both forms + oracle
    >>> print(snndsl.summary("specs/seed.snn").render())            # shapes, params, state
"""

from __future__ import annotations

__version__ = "0.1.0"

from snndsl.api import generate, parse, resolve  # noqa: E402
from snndsl.backends import BACKENDS  # noqa: E402  (the registered backends)
from snndsl.diagnostics import Diagnostic, SpecError  # noqa: E402

# Imported eagerly: a lazy import of the submodule would rebind ``snndsl.summary`` to it.
from snndsl.exports.summary import NetworkSummary, NodeSummary, summary  # noqa: E402


def load(spec, mode: str = "multi", network: str | None = None, params=None, backend="eager"):
    """Generate, import under a unique module name, and return the network class."""
    from snndsl.loader import load_class

    return load_class(spec, mode, network, params, backend)


def check(spec, **options):
    """Cross-check both generated forms (and SpikingJelly when installed); a report."""
    from snndsl.oracle.crosscheck import run_check

    return run_check(spec, **options)


__all__ = [
    "BACKENDS",
    "Diagnostic",
    "NetworkSummary",
    "NodeSummary",
    "SpecError",
    "__version__",
    "check",
    "generate",
    "load",
    "parse",
    "resolve",
    "summary",
]
