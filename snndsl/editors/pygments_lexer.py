"""A Pygments lexer for ``.snn`` spec files.

Registered under the name ``snn`` (aliases ``snn``, ``snndsl``; files ``*.snn``) by the
``pygments.lexers`` entry point in pyproject.toml, so after ``pip install snndsl``
``pygments.lexers.get_lexer_by_name("snn")`` finds it and Sphinx and MkDocs highlight
```` ```snn```` blocks.  This is the only snndsl module that imports Pygments.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

from snndsl.editors.keywords import (
    CONSTANTS,
    DEFINITIONS,
    IDENTIFIER,
    IMPORTS,
    MODIFIERS,
    OPERATOR_WORDS,
    STATEMENTS,
    STRING_ESCAPE,
)

__all__ = ["SnnLexer"]

_WORD_END = r"\b"
# The grammar's lexer is contextual: a keyword is an ordinary name where the keyword cannot
# come (`steps = 8` as a network parameter, `surrogate: surrogate` as an option).  A word
# followed by `=`, `:`, `,`, a closing bracket, a comment or the end of the line is a name.
RESERVED_WORDS = DEFINITIONS + MODIFIERS + IMPORTS + STATEMENTS
NAME_FOLLOWS = r"(?=[ \t]*(?:=(?!=)|[:,)\]}#\n]|$))"


class SnnLexer(RegexLexer):
    """Lexer for snndsl spiking-network specs (``.snn``)."""

    name = "snn"
    aliases = ["snn", "snndsl"]
    filenames = ["*.snn"]
    mimetypes = ["text/x-snn"]
    url = "https://github.com/snndsl/snndsl"

    # Every keyword group this lexer colours, with its token type (tests/test_editors.py
    # checks their union against the grammar).
    KEYWORD_GROUPS = {
        Keyword.Declaration: DEFINITIONS + MODIFIERS,
        Keyword.Namespace: IMPORTS,
        Keyword: STATEMENTS,
        Operator.Word: OPERATOR_WORDS,
        Keyword.Constant: CONSTANTS,
    }

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"', String.Double, "string"),
            (words(RESERVED_WORDS, prefix=r"\b", suffix=NAME_FOLLOWS), Name),
            # `network Seed`, `parallel neuron PSN`: the name of a definition.
            (
                rf"\b({'|'.join(DEFINITIONS)})([ \t]+)({IDENTIFIER})",
                bygroups(Keyword.Declaration, Whitespace, Name.Class),
            ),
            (words(DEFINITIONS + MODIFIERS, suffix=_WORD_END), Keyword.Declaration),
            (words(IMPORTS, suffix=_WORD_END), Keyword.Namespace),
            (words(CONSTANTS, suffix=_WORD_END), Keyword.Constant),
            (words(OPERATOR_WORDS, suffix=_WORD_END), Operator.Word),
            (words(STATEMENTS, suffix=_WORD_END), Keyword),
            # `snntorch.Leaky(...)`, `norse.LIF`: a library name; `sn.v`: a layer's state.
            (
                rf"({IDENTIFIER})(\.)({IDENTIFIER})(?=\s*\()",
                bygroups(Name.Namespace, Punctuation, Name.Function),
            ),
            (
                rf"({IDENTIFIER})(\.)([A-Z]\w*)",
                bygroups(Name.Namespace, Punctuation, Name.Class),
            ),
            (
                rf"({IDENTIFIER})(\.)({IDENTIFIER})",
                bygroups(Name.Variable, Punctuation, Name.Attribute),
            ),
            (rf"{IDENTIFIER}(?=\s*\()", Name.Function),
            (IDENTIFIER, Name),
            (r"(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+", Number.Float),
            (r"\d+", Number.Integer),
            (r"->|\?\?|\*\*|-=|==|!=|<=|>=|[<>=+\-*/@?]", Operator),
            (r"[()\[\]{},.:]", Punctuation),
        ],
        "string": [
            (r'"', String.Double, "#pop"),
            (STRING_ESCAPE, String.Escape),
            (r'[^"\\\n]+', String.Double),
        ],
    }
