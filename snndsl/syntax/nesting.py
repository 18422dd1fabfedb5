"""The nesting bound on a parsed spec: ``limits.MAX_NESTING`` levels of syntax tree.

The checker, the formatter and the code generator walk expressions and ``if`` blocks
recursively, so a spec nested deeper than Python's recursion allows would end in a
``RecursionError`` somewhere after parsing.  Both front ends (text and YAML) call
:func:`check_nesting` on what they parsed; it walks the tree with an explicit stack and
refuses, at the first node found too deep, with a located E0030.
"""

from __future__ import annotations

import dataclasses
import functools

from snndsl import limits
from snndsl.diagnostics import Diagnostic, SourceFile, Span, SpecError
from snndsl.syntax import ast


@functools.cache
def _child_fields(cls: type) -> tuple[str, ...]:
    """The fields of an AST class that may hold nodes (not spans, names or comments)."""
    skip = {"span", "name_span", "func_span", "label_span", "path_span", "comments"}
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in skip)


def check_nesting(module: ast.Module, source: SourceFile | None = None) -> ast.Module:
    """``module`` itself, or SpecError (E0030) when its tree nests more than
    ``MAX_NESTING`` levels (each item, statement and expression node is one level)."""
    stack: list[tuple[object, int]] = [(item, 1) for item in module.items]
    while stack:
        node, level = stack.pop()
        if isinstance(node, tuple):
            stack.extend((child, level) for child in node)
            continue
        if not dataclasses.is_dataclass(node) or isinstance(node, Span):
            continue
        if level > limits.MAX_NESTING:
            span = getattr(node, "span", None) or Span(1, 1, 1, 2)
            raise SpecError(
                [
                    Diagnostic(
                        "E0030",
                        f"the spec nests more than {limits.MAX_NESTING} levels deep here",
                        span,
                        source or module.source,
                        f"split it with 'let's or blocks; the limit is "
                        f"{limits.describe('MAX_NESTING')}",
                    )
                ]
            )
        for name in _child_fields(type(node)):
            value = getattr(node, name)
            if isinstance(value, tuple) or dataclasses.is_dataclass(value):
                stack.append((value, level + 1))
    return module
