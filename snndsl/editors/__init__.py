"""Editor support for ``.snn`` files: a Pygments lexer (``pygments_lexer``, registered as
``snn`` through the ``pygments.lexers`` entry point) and a TextMate grammar generator
(``textmate``, ``python -m snndsl.editors.textmate``).  Both read their keywords from
``keywords``; ``tests/test_editors.py`` checks those against ``grammar/snn.lark``.

Nothing here is imported by the rest of snndsl, and only ``pygments_lexer`` imports Pygments.
"""
