"""The bounds snndsl puts on its input, in one place.

Every limit exists so that a hostile or mistaken spec is refused quickly, with a located
diagnostic (code E0030) that names the limit, instead of growing memory or time without
bound or ending in a Python traceback.  Each is far above what a real network needs:
the largest shipped spec has a few hundred nodes, the code-generation benchmark 10,000.

A diagnostic names the limit by its constant here, so a user who truly needs more knows
what to change.
"""

from __future__ import annotations

MAX_SPEC_BYTES = 1 << 20
"""Bytes in one spec file, an imported one included (1 MiB).  A larger file (or an
endless one, such as ``/dev/zero``) is refused after reading one byte past the limit."""

MAX_NODES = 20_000
"""Nodes of one checked network: layers, neurons, merges, delays, aliases, after every
``repeat`` and block instance is expanded.  ``repeat`` counts are checked against it
before anything is expanded."""

MAX_SAMPLE_ELEMENTS = 1 << 32
"""Elements of one sample of any value at one time step (inputs and every layer's
output): 2^32 float32 elements are 16 GiB, beyond any network snndsl could check."""

MAX_BLOCK_INSTANCES = 2_000
"""Block instances in one network, nested ones included (a ResNet-18 has 8)."""

MAX_BLOCK_DEPTH = 64
"""Blocks instantiated inside one another (the instance of a block inside an instance of
another, and so on)."""

MAX_NESTING = 100
"""Levels of nesting in the syntax tree of one file: parentheses, operators, calls and
lists inside one another, ``if`` blocks inside ``if`` blocks.  Deeper input could exhaust
Python's recursion in a later phase; the shipped specs and the prelude nest under 20."""

MAX_EXPR_DEPTH = 200
"""Levels of nesting in one generated expression: ``sum(i, 0, n, term)`` unrolls to a
sum nested n deep, and the code generator walks expressions recursively."""

MAX_YAML_NODES = 50_000
"""YAML nodes a document expands to, every alias counted at the size of what it refers
to (a "billion laughs" document is refused, not expanded)."""

MAX_INT = 2**63 - 1
"""Magnitude of an integer constant (int64, what torch can hold)."""

MAX_POWER = 1024
"""Largest integer exponent of a constant ``**`` whose base is more than 1 in size."""

MAX_SUM_TERMS = 1024
"""Terms of one ``sum(i, start, stop, term)`` (it is unrolled when generating)."""


def describe(name: str) -> str:
    """How a diagnostic names the limit: ``MAX_NODES = 20,000 (snndsl/limits.py)``."""
    return f"{name} = {globals()[name]:,} in snndsl/limits.py"
