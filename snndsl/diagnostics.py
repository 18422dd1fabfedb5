"""Diagnostics as data: a code, a message, a span, an optional hint, and their rendering.

Every phase reports problems by raising :class:`SpecError` with one or more
:class:`Diagnostic` values.  Nothing in this module knows about any phase; it only
knows how to locate a span in a source file and print it the way compilers do::

    specs/bad.snn:3:20: error[E0201]: unknown operation 'Lnear'
      3 |   y = x -> Linear(4) -> Lnear(2)
        |                         ^^^^^
      = hint: did you mean 'Linear'?
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# The catalogue of diagnostic codes.  Codes are stable: tests and users match on them.
CODES: dict[str, str] = {
    "E0001": "syntax error",
    "E0002": "invalid number",
    "E0010": "file cannot be read",
    "E0020": "YAML document has the wrong shape",
    "E0021": "YAML cannot be parsed",
    "E0030": "a limit is exceeded (see snndsl/limits.py)",
    "E0101": "invalid identifier",
    "E0102": "duplicate name",
    "E0103": "undefined name",
    "E0104": "no network in the spec",
    "E0105": "ambiguous network selection",
    "E0106": "unused or missing output",
    "E0107": "cycle with no delay",
    "E0108": "output not computed from any input",
    "E0109": "import or block cycle",
    "E0110": "label given twice in a group",
    "E0111": "a layer and a group of layers share a name",
    "E0112": "bad position or member in a group",
    "E0201": "unknown operation",
    "E0202": "unknown argument",
    "E0203": "missing argument",
    "E0204": "wrong argument type",
    "E0205": "argument given twice",
    "E0206": "too many arguments",
    "E0207": "invalid argument value",
    "E0208": "no single-step form",
    "E0209": "no Triton kernel for a neuron layer",
    "E0301": "shape mismatch",
    "E0302": "invalid shape",
    "E0401": "invalid neuron definition",
    "E0402": "expression cannot be evaluated",
    "E0403": "requirement failed",
    "E0404": "unknown function",
    "E0405": "invalid surrogate definition",
    "E0601": "cannot be exported to NIR",
    "E0602": "NIR node cannot be imported",
    "E0603": "weights do not fit the network",
    "E0604": "NIR file cannot be read",
    "W0101": "unused value",
}


@dataclass(frozen=True)
class Span:
    """A half-open region of a source file, 1-based lines and columns."""

    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def point(line: int, column: int) -> Span:
        return Span(line, column, line, column + 1)

    def shifted(self, line: int, column: int) -> Span:
        """Place a span measured inside an embedded string at (line, column) of its host."""
        if self.line == 1:
            return Span(
                line,
                column + self.column - 1,
                line + self.end_line - 1,
                (column + self.end_column - 1) if self.end_line == 1 else self.end_column,
            )
        return Span(line + self.line - 1, self.column, line + self.end_line - 1, self.end_column)


UNKNOWN_SPAN = Span(1, 1, 1, 2)


@dataclass(frozen=True)
class SourceFile:
    """The text of one spec file, kept so diagnostics can show the offending line."""

    path: str
    text: str

    def line_text(self, line: int) -> str:
        # Only '\n' ends a line, as in the lexer (str.splitlines would also split on
        # form feeds and Unicode line separators inside comments).
        lines = self.text.split("\n")
        if 1 <= line <= len(lines):
            return lines[line - 1]
        return ""


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    source: SourceFile | None = None
    hint: str | None = None
    severity: str = "error"
    notes: tuple[str, ...] = field(default=())

    def render(self) -> str:
        path = self.source.path if self.source is not None else "<spec>"
        head = (
            f"{path}:{self.span.line}:{self.span.column}: "
            f"{self.severity}[{self.code}]: {self.message}"
        )
        lines = [head]
        if self.source is not None:
            text = self.source.line_text(self.span.line)
            if text or self.span.line == 1:
                gutter = str(self.span.line)
                pad = " " * len(gutter)
                shown = "".join(
                    " " if c == "\t" else (c if c.isprintable() else "?") for c in text.rstrip("\r")
                )
                start = max(self.span.column - 1, 0)
                if self.span.end_line == self.span.line:
                    width = max(self.span.end_column - self.span.column, 1)
                else:
                    width = max(len(shown) - start, 1)
                width = min(width, max(len(shown) - start, 1))
                lines.append(f"{gutter} | {shown}")
                lines.append(f"{pad} | {' ' * start}{'^' * width}")
        for note in self.notes:
            lines.append(f"  = note: {note}")
        if self.hint:
            lines.append(f"  = hint: {self.hint}")
        return "\n".join(lines)


class SpecError(Exception):
    """Raised by any phase with the diagnostics that stop it."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))

    def render(self) -> str:
        return "\n".join(d.render() for d in self.diagnostics)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(d.code for d in self.diagnostics)


class Reporter:
    """Collects diagnostics for one source file so a phase can report several at once."""

    def __init__(self, source: SourceFile | None):
        self.source = source
        self.diagnostics: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []

    def error(
        self,
        code: str,
        message: str,
        span: Span | None,
        hint: str | None = None,
        source: SourceFile | None = None,
    ) -> Diagnostic:
        if code not in CODES:  # pragma: no cover - programming error
            raise KeyError(code)
        diag = Diagnostic(code, message, span or UNKNOWN_SPAN, source or self.source, hint)
        self.diagnostics.append(diag)
        return diag

    def fail(
        self,
        code: str,
        message: str,
        span: Span | None,
        hint: str | None = None,
        source: SourceFile | None = None,
    ) -> SpecError:
        """Record an error and return the exception that carries everything so far."""
        self.error(code, message, span, hint, source)
        return SpecError(self.diagnostics)

    def warn(self, code: str, message: str, span: Span | None, hint: str | None = None):
        """A diagnostic that does not stop generation (kept apart from the errors)."""
        if code not in CODES:  # pragma: no cover - programming error
            raise KeyError(code)
        diag = Diagnostic(
            code, message, span or UNKNOWN_SPAN, self.source, hint, severity="warning"
        )
        self.warnings.append(diag)
        return diag

    def raise_if_errors(self) -> None:
        if self.diagnostics:
            raise SpecError(self.diagnostics)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, compared case-insensitively."""
    pool = sorted(set(candidates))
    lowered = {c.lower(): c for c in pool}
    if name.lower() in lowered and lowered[name.lower()] != name:
        return f"did you mean '{lowered[name.lower()]}'?"
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    if close:
        return f"did you mean '{lowered[close[0]]}'?"
    return None
