"""The reserved words of ``.snn`` files, grouped by how editors colour them.

The union of the groups is exactly the set of quoted keyword literals (and the
``PARALLEL`` terminal) of ``grammar/snn.lark``; ``tests/test_editors.py`` extracts those
from the grammar, so a keyword added there fails the test until it is listed here.
No imports: the Pygments lexer and the TextMate generator both read this module.
"""

from __future__ import annotations

# Words that open a top-level definition followed by its name (`network Seed`).
DEFINITIONS = ("network", "neuron", "surrogate", "block")
# Modifiers of a definition (`parallel neuron PSN(...)`).
MODIFIERS = ("parallel",)
# `import "other.snn"`.
IMPORTS = ("import",)
# Statements of network bodies and of neuron/surrogate bodies, and control flow.
STATEMENTS = (
    "input",
    "output",
    "defaults",
    "let",
    "state",
    "charge",
    "fire",
    "reset",
    "param",
    "buffer",
    "steps",
    "window",
    "update",
    "emit",
    "require",
    "primitive",
    "gradient",
    "if",
    "else",
)
# Word operators of expressions.
OPERATOR_WORDS = ("and", "or", "not")
# Literal constants.
CONSTANTS = ("true", "false", "none")

KEYWORDS = frozenset(DEFINITIONS + MODIFIERS + IMPORTS + STATEMENTS + OPERATOR_WORDS + CONSTANTS)

# The spellings of the grammar's tokens that editors need too.
IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
NUMBER = r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?"
STRING_ESCAPE = r'\\["\\nt]'
