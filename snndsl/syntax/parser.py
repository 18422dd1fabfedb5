"""Text front end: Lark (LALR, strict) turns ``.snn`` text into the spec AST.

Every AST node gets the span of its source text.  Syntax errors become
:class:`~snndsl.diagnostics.Diagnostic` values (code E0001) that name what was found
and what would have been accepted, in words rather than Lark terminal names.  Comments
are collected by a lexer callback and attached to the statement or item they precede
(or share a line with), so the formatter can keep them.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import re
import sys
from pathlib import Path

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken, VisitError

from snndsl import limits
from snndsl.diagnostics import Diagnostic, SourceFile, Span, SpecError
from snndsl.names import DSL_KEYWORDS
from snndsl.resources import read_text
from snndsl.syntax import ast

# Terminal names as a user would say them.
_TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a string",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "COLON": "':'",
    "EQUAL": "'='",
    "COMPARE_OP": "a comparison",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*', '/' or '@'",
    "OPTIONAL_MARK": "'?'",
    "$END": "end of file",
}

_STATEMENT_ITEMS = (
    "network",
    "neuron",
    "surrogate",
    "block_def",
    "import_stmt",
    "defaults_stmt",
    "buffer_stmt",
    "steps_stmt",
    "window_stmt",
    "input_stmt",
    "assign_stmt",
    "output_stmt",
    "let_stmt",
    "state_stmt",
    "charge_stmt",
    "fire_stmt",
    "reset_hard",
    "reset_soft",
    "reset_none",
    "require_stmt",
    "if_stmt",
    "primitive_stmt",
    "gradient_stmt",
    "param_stmt",
    "update_stmt",
    "emit_stmt",
)
_CONTAINERS = ("network", "neuron", "surrogate", "block_def", "if_stmt")


@functools.cache
def grammar_text() -> str:
    return read_text("snndsl.grammar", "snn.lark")


_COMMENT_SINKS: list[list[Token]] = []


def _collect_comment(token: Token) -> Token:
    if _COMMENT_SINKS:
        _COMMENT_SINKS[-1].append(token)
    return token


def build_parser(strict: bool = False) -> Lark:
    """The LALR parser for both entry points: whole specs and single expressions.

    ``strict=True`` makes Lark refuse any shift/reduce conflict or terminal collision;
    tests/test_parser.py builds it that way, so the grammar stays conflict-free while the
    command line skips the extra analysis at start-up (and keeps the analysed tables in
    the user's cache, see ``_parser``).
    """
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        start=["start", "expr"],
        propagate_positions=True,
        maybe_placeholders=False,
        strict=strict,
        lexer_callbacks={"COMMENT": _collect_comment},
    )


def _cache_name() -> str:
    """The cache entry (:mod:`snndsl.cache`) for the parser tables, named by the grammar,
    Lark's version and this module (which holds the parser's options)."""
    import lark

    from snndsl import cache

    key = cache.key(lark.__version__, grammar_text(), cache.module_source(sys.modules[__name__]))
    return f"parser-{key}.pickle"


@functools.cache
def _parser() -> Lark:
    from snndsl import cache

    name = _cache_name()
    data = cache.read_bytes(name)
    if data is not None:
        try:
            return Lark.load(io.BytesIO(data))
        except Exception:  # a stale or foreign entry: build without it
            pass
    parser = build_parser()
    buffer = io.BytesIO()
    parser.save(buffer)  # with its lexer callback, pickled by reference
    cache.write_bytes(name, buffer.getvalue())
    return parser


def _terminal_word(name: str, parser: Lark) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    for term in parser.terminals:
        if term.name == name and term.pattern.type == "str":
            return f"'{term.pattern.value}'"
    return name.strip("_").lower()


def _expected_words(expected: set[str], parser: Lark) -> str:
    words = sorted({_terminal_word(e, parser) for e in expected})
    if not words:
        return ""
    if len(words) > 8:
        words = words[:8] + ["..."]
    return ", ".join(words)


def _token_span(token: Token) -> Span:
    line = token.line or 1
    col = token.column or 1
    end_line = token.end_line or line
    end_col = token.end_column or col + max(len(str(token)), 1)
    return Span(line, col, end_line, end_col)


def _meta_span(meta) -> Span:
    if getattr(meta, "empty", True):
        return Span(1, 1, 1, 2)
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _unclosed(text: str) -> str | None:
    """The bracket left open at the end of the text, if any (comments and strings aside)."""
    stack = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for tok in re.finditer(r'#[^\n]*|"(?:[^"\\\n]|\\.)*"|[(){}\[\]]', text):
        c = tok.group()
        if c in "([{":
            stack.append(c)
        elif c in pairs and stack and stack[-1] == pairs[c]:
            stack.pop()
    return {"(": "')'", "[": "']'", "{": "'}'"}[stack[-1]] if stack else None


def _syntax_error(err: Exception, source: SourceFile, parser: Lark) -> Diagnostic:
    if isinstance(err, UnexpectedCharacters):
        char = source.text[err.pos_in_stream] if err.pos_in_stream < len(source.text) else ""
        expected = _expected_words(set(err.allowed or ()), parser)
        msg = f"unexpected character {char!r}"
        return Diagnostic(
            "E0001",
            msg,
            Span.point(err.line, err.column),
            source,
            hint=f"expected {expected}" if expected else None,
        )
    if isinstance(err, UnexpectedEOF):
        lines = source.text.split("\n")
        line = len(lines)
        expected = _unclosed(source.text) or _expected_words(set(err.expected or ()), parser)
        return Diagnostic(
            "E0001",
            "unexpected end of file",
            Span.point(line, len(lines[-1]) + 1),
            source,
            hint=f"expected {expected}" if expected else None,
        )
    assert isinstance(err, UnexpectedToken)
    token = err.token
    expected = _expected_words(set(err.expected or ()), parser)
    if token.type == "$END":
        lines = source.text.rstrip("\n").split("\n")
        span = Span.point(len(lines), len(lines[-1]) + 1)
        found = "end of file"
        expected = _unclosed(source.text) or expected
    else:
        span = _token_span(token)
        found = repr(str(token))
    hint = f"expected {expected}" if expected else None
    if token.type == "NAME" and token.value in {"True", "False", "None"}:
        hint = f"write '{token.value.lower()}'"
    return Diagnostic("E0001", f"unexpected {found}", span, source, hint=hint)


class _CommentMap:
    """Assigns each comment to the statement or item it precedes or shares a line with."""

    def __init__(self, tree: Tree, comments: list[Token]):
        nodes: list[tuple[int, int, int, Tree]] = []  # (start, depth, end, node)
        self._by_meta: dict[int, list[str]] = {}
        self.trailing: list[str] = []

        def walk(t: Tree, depth: int) -> None:
            for child in t.children:
                if isinstance(child, Tree):
                    if child.data in _STATEMENT_ITEMS and not child.meta.empty:
                        nodes.append((child.meta.line, depth, child.meta.end_line, child))
                    walk(child, depth + 1)

        walk(tree, 0)
        nodes.sort(key=lambda n: (n[0], n[1]))
        for tok in comments:
            line = tok.line or 1
            text = str(tok)[1:].rstrip()
            if text.startswith(" "):
                text = text[1:]
            owner = None
            # A statement that spans the comment's line (deepest leaf wins).
            for start, _depth, end, node in nodes:
                if start <= line <= end and node.data not in _CONTAINERS:
                    owner = node
            if owner is None:
                for start, _depth, _end, node in nodes:
                    if start > line:
                        owner = node
                        break
            if owner is None:
                for start, _depth, _end, node in nodes:
                    if start == line and node.data in _CONTAINERS:
                        owner = node
                        break
            if owner is None:
                self.trailing.append(text)
            else:
                self._by_meta.setdefault(id(owner.meta), []).append(text)

    def of(self, meta) -> tuple[str, ...]:
        return tuple(self._by_meta.get(id(meta), ()))


def _unescape(raw: str) -> str:
    body = raw[1:-1]
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1]
            out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


class _ParseFailure(Exception):
    def __init__(self, code: str, message: str, span: Span):
        self.code, self.message, self.span = code, message, span


def parse_number(text: str, span: Span) -> ast.Num:
    """Parse a NUMBER token: ints stay ints, anything with '.' or an exponent is a float."""
    if any(c in text for c in ".eE"):
        value = float(text)
        if math.isinf(value):
            raise _ParseFailure("E0002", f"number {text} is too large for a float", span)
        return ast.Num(value, span)
    try:
        return ast.Num(int(text), span)
    except ValueError:  # more digits than int() accepts
        raise _ParseFailure("E0002", f"integer {text[:20]}... is too long", span) from None


@v_args(meta=True)
class _ToAst(Transformer):
    def __init__(self, comments: _CommentMap):
        super().__init__()
        self._comments = comments

    def __default_token__(self, token: Token) -> Token:
        # The contextual lexer reads a keyword as a NAME where the keyword cannot appear;
        # words that would change meaning when printed back are refused as names.
        if token.type == "NAME" and token.value in DSL_KEYWORDS:
            raise _ParseFailure(
                "E0101", f"'{token.value}' is a keyword and cannot be a name", _token_span(token)
            )
        return token

    # ------------------------------------------------------------------ expressions
    def number(self, meta, children):
        (tok,) = children
        return parse_number(str(tok), _token_span(tok))

    def true(self, meta, children):
        return ast.Bool(True, _meta_span(meta))

    def false(self, meta, children):
        return ast.Bool(False, _meta_span(meta))

    def none(self, meta, children):
        return ast.NoneLit(_meta_span(meta))

    def string(self, meta, children):
        (tok,) = children
        return ast.Str(_unescape(str(tok)), _token_span(tok))

    def name(self, meta, children):
        (tok,) = children
        return ast.Name(str(tok), _token_span(tok))

    def qualified_name(self, meta, children):
        """``snntorch.Leaky``: one name token spanning both parts."""
        space, name = children
        return Token(
            "NAME",
            f"{space}.{name}",
            space.start_pos,
            space.line,
            space.column,
            name.end_line,
            name.end_column,
            name.end_pos,
        )

    def call(self, meta, children):
        tok, args = children
        return ast.Call(str(tok), args, _meta_span(meta), _token_span(tok))

    def call_args(self, meta, children):
        return tuple(children)

    def arg(self, meta, children):
        (value,) = children
        return ast.Arg(None, value, _meta_span(meta))

    def kwarg(self, meta, children):
        tok, value = children
        return ast.Arg(str(tok), value, _meta_span(meta), _token_span(tok))

    def list(self, meta, children):
        return ast.ListExpr(tuple(children), _meta_span(meta))

    def binary(self, meta, children):
        left, op, right = children
        return ast.Binary(str(op), left, right, _meta_span(meta))

    def compare(self, meta, children):
        left, op, right = children
        return ast.Binary(str(op), left, right, _meta_span(meta))

    def power(self, meta, children):
        left, right = children
        return ast.Binary("**", left, right, _meta_span(meta))

    def coalesce(self, meta, children):
        left, right = children
        return ast.Binary("??", left, right, _meta_span(meta))

    def or_(self, meta, children):
        left, right = children
        return ast.Binary("or", left, right, _meta_span(meta))

    def and_(self, meta, children):
        left, right = children
        return ast.Binary("and", left, right, _meta_span(meta))

    def not_(self, meta, children):
        (operand,) = children
        return ast.Unary("not", operand, _meta_span(meta))

    def unary_op(self, meta, children):
        op, operand = children
        return ast.Unary(str(op), operand, _meta_span(meta))

    # ------------------------------------------------------------------ shared
    def params(self, meta, children):
        return tuple(children)

    def param(self, meta, children):
        name, *rest = children
        type_ = next((c for c in rest if isinstance(c, str)), None)
        default = next((c for c in rest if not isinstance(c, str)), None)
        return ast.Param(str(name), default, type_, _meta_span(meta))

    def type(self, meta, children):
        return "".join(str(c) for c in children)

    # ------------------------------------------------------------------ networks
    def network(self, meta, children):
        name = children[0]
        rest = children[1:]
        params: tuple = ()
        if rest and isinstance(rest[0], tuple):
            params, rest = rest[0], rest[1:]
        return ast.Network(
            str(name),
            params,
            tuple(rest),
            self._comments.of(meta),
            _meta_span(meta),
            _token_span(name),
        )

    def block_def(self, meta, children):
        net = self.network(meta, children)
        return ast.BlockDef(net.name, net.params, net.body, net.comments, net.span, net.name_span)

    def import_stmt(self, meta, children):
        (tok,) = children
        return ast.Import(
            _unescape(str(tok)), self._comments.of(meta), _meta_span(meta), _token_span(tok)
        )

    def defaults_stmt(self, meta, children):
        name, args = children
        op_span = _token_span(name)
        call_span = Span(op_span.line, op_span.column, meta.end_line, meta.end_column)
        call = ast.Call(str(name), args, call_span, op_span)
        return ast.Defaults(call, self._comments.of(meta), _meta_span(meta))

    def input_stmt(self, meta, children):
        name, *rest = children
        shape = rest[0] if rest else None
        return ast.Input(
            str(name), shape, self._comments.of(meta), _meta_span(meta), _token_span(name)
        )

    def shape(self, meta, children):
        return tuple(children)

    def assign_stmt(self, meta, children):
        name, chain = children
        return ast.Assign(
            str(name), chain, self._comments.of(meta), _meta_span(meta), _token_span(name)
        )

    def output_stmt(self, meta, children):
        name = children[0]
        chain = children[1] if len(children) > 1 else None
        return ast.Output(
            str(name), chain, self._comments.of(meta), _meta_span(meta), _token_span(name)
        )

    def chain(self, meta, children):
        source, *steps = children
        return ast.Chain(source, tuple(steps), _meta_span(meta))

    def source(self, meta, children):
        (tok,) = children
        return ast.Name(str(tok), _token_span(tok))

    def source_state(self, meta, children):
        """``sn.v``: one name, dotted (the state v of the neuron layer labelled sn)."""
        layer, state = children
        return ast.Name(f"{layer}.{state}", _meta_span(meta))

    state_name = source_state

    def source_call(self, meta, children):
        return self.step(meta, children)

    def step(self, meta, children):
        args: tuple = ()
        if isinstance(children[-1], tuple):
            args = children[-1]
            children = children[:-1]
        if len(children) == 2:
            label, op = children
        else:
            label, op = None, children[0]
        op_span = _token_span(op)
        call_span = Span(op_span.line, op_span.column, meta.end_line, meta.end_column)
        call = ast.Call(str(op), args, call_span, op_span)
        return ast.Step(
            call,
            str(label) if label is not None else None,
            _meta_span(meta),
            _token_span(label) if label is not None else op_span,
        )

    # ------------------------------------------------------------------ neurons
    def _definition(self, cls, meta, children):
        name, params, *body = children
        return cls(
            str(name),
            params,
            tuple(body),
            self._comments.of(meta),
            _meta_span(meta),
            _token_span(name),
        )

    def _named(self, cls, meta, children):
        name, value = children
        return cls(str(name), value, self._comments.of(meta), _meta_span(meta))

    def neuron(self, meta, children):
        parallel = isinstance(children[0], Token) and children[0].type == "PARALLEL"
        item = self._definition(ast.NeuronDef, meta, children[1:] if parallel else children)
        return dataclasses.replace(item, parallel=True) if parallel else item

    def let_stmt(self, meta, children):
        return self._named(ast.Let, meta, children)

    def state_stmt(self, meta, children):
        return self._named(ast.State, meta, children)

    def charge_stmt(self, meta, children):
        return self._named(ast.Charge, meta, children)

    def _tensor_decl(self, cls, meta, children):
        name, *shape, value = children
        return cls(
            str(name),
            value,
            self._comments.of(meta),
            _meta_span(meta),
            shape[0] if shape else None,
        )

    def param_stmt(self, meta, children):
        return self._tensor_decl(ast.Learn, meta, children)

    def buffer_stmt(self, meta, children):
        return self._tensor_decl(ast.Buffer, meta, children)

    def steps_stmt(self, meta, children):
        (value,) = children
        return ast.Steps(value, self._comments.of(meta), _meta_span(meta))

    def window_stmt(self, meta, children):
        value, options = children
        return ast.Window(value, options, self._comments.of(meta), _meta_span(meta))

    def update_stmt(self, meta, children):
        return self._named(ast.Update, meta, children)

    def emit_stmt(self, meta, children):
        (value,) = children
        return ast.Emit(value, self._comments.of(meta), _meta_span(meta))

    def options(self, meta, children):
        return tuple(children)

    def option(self, meta, children):
        name, value = children
        return ast.Option(str(name), value, _meta_span(meta))

    def fire_stmt(self, meta, children):
        cond, options = children
        return ast.Fire(cond, options, self._comments.of(meta), _meta_span(meta))

    def reset_hard(self, meta, children):
        target, value, options = children
        return ast.Reset(
            "hard", str(target), value, options, self._comments.of(meta), _meta_span(meta)
        )

    def reset_soft(self, meta, children):
        target, value, options = children
        return ast.Reset(
            "soft", str(target), value, options, self._comments.of(meta), _meta_span(meta)
        )

    def reset_none(self, meta, children):
        return ast.Reset("none", None, None, (), self._comments.of(meta), _meta_span(meta))

    def require_stmt(self, meta, children):
        cond, message = children
        return ast.Require(cond, _unescape(str(message)), self._comments.of(meta), _meta_span(meta))

    def block(self, meta, children):
        return tuple(children)

    def if_stmt(self, meta, children):
        cond, then, *rest = children
        orelse = rest[0] if rest else ()
        return ast.If(cond, then, orelse, self._comments.of(meta), _meta_span(meta))

    def else_part(self, meta, children):
        (block,) = children
        return block

    def else_if(self, meta, children):
        (if_stmt,) = children
        return (if_stmt,)

    # ------------------------------------------------------------------ surrogates
    def surrogate(self, meta, children):
        return self._definition(ast.SurrogateDef, meta, children)

    def primitive_stmt(self, meta, children):
        (value,) = children
        return ast.Primitive(value, self._comments.of(meta), _meta_span(meta))

    def gradient_stmt(self, meta, children):
        (value,) = children
        return ast.Gradient(value, self._comments.of(meta), _meta_span(meta))

    def start(self, meta, children):
        return tuple(children)


def _run(text: str, source: SourceFile, start: str):
    parser = _parser()
    comments: list[Token] = []
    try:
        tree = _parse_with_comments(parser, text, comments, start)
    except (UnexpectedCharacters, UnexpectedEOF, UnexpectedToken) as err:
        raise SpecError([_syntax_error(err, source, parser)]) from None
    except RecursionError:
        raise SpecError([_too_deep(source)]) from None
    try:
        cmap = _CommentMap(tree, comments)
        result = _ToAst(cmap).transform(tree)
    except RecursionError:
        raise SpecError([_too_deep(source)]) from None
    except _ParseFailure as f:
        raise SpecError([Diagnostic(f.code, f.message, f.span, source)]) from None
    except VisitError as err:
        if isinstance(err.orig_exc, _ParseFailure):
            f = err.orig_exc
            raise SpecError([Diagnostic(f.code, f.message, f.span, source)]) from None
        if isinstance(err.orig_exc, RecursionError):
            raise SpecError([_too_deep(source)]) from None
        raise
    return result, tuple(cmap.trailing)


def _too_deep(source: SourceFile) -> Diagnostic:
    return Diagnostic(
        "E0001",
        "the spec is nested too deeply to parse",
        Span(1, 1, 1, 2),
        source,
        hint="split long expressions with 'let'",
    )


def _parse_with_comments(parser: Lark, text: str, comments: list[Token], start: str) -> Tree:
    # Lark runs lexer callbacks for ignored terminals too; the sink stack keeps nested
    # parses (a YAML file parsing its embedded expressions) apart.
    _COMMENT_SINKS.append(comments)
    try:
        return parser.parse(text, start=start)
    finally:
        _COMMENT_SINKS.pop()


def parse_text(text: str, path: str = "<spec>") -> ast.Module:
    """Parse spec text; raise :class:`SpecError` with located diagnostics on bad input."""
    from snndsl.syntax.nesting import check_nesting

    source = SourceFile(path, text)
    items, trailing = _run(text, source, "start")
    return check_nesting(ast.Module(items, trailing, source))


def parse_expression(text: str, source: SourceFile, line: int, column: int) -> ast.Expr:
    """Parse one expression embedded at (line, column) of ``source`` (used by YAML)."""
    inner = SourceFile(source.path, text)
    try:
        expr, _ = _run(text, inner, "expr")
    except SpecError as err:
        raise SpecError([_relocate(d, source, line, column) for d in err.diagnostics]) from None
    return _shift_expr(expr, line, column)


def _relocate(d: Diagnostic, source: SourceFile, line: int, column: int) -> Diagnostic:
    return Diagnostic(d.code, d.message, d.span.shifted(line, column), source, d.hint)


def _shift_expr(node, line: int, column: int):
    """Move every span in an expression tree from string coordinates to file coordinates."""
    import dataclasses

    if isinstance(node, tuple):
        return tuple(_shift_expr(n, line, column) for n in node)
    if not dataclasses.is_dataclass(node):
        return node
    changes = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if isinstance(value, Span):
            changes[f.name] = value.shifted(line, column)
        elif dataclasses.is_dataclass(value) or isinstance(value, tuple):
            changes[f.name] = _shift_expr(value, line, column)
    return dataclasses.replace(node, **changes)


class ReadFailure(Exception):
    """A spec file that cannot be read as a spec: ``code`` (E0010 or E0030), what went
    wrong, and a hint; callers place it (the file itself, or the import naming it)."""

    def __init__(self, code: str, reason: str, hint: str | None = None):
        super().__init__(reason)
        self.code, self.reason, self.hint = code, reason, hint


def read_spec_text(path: str | Path) -> str:
    """The text of a spec file; :class:`ReadFailure` when it is missing or unreadable,
    a symlink loop, a path with a NUL byte, more than ``MAX_SPEC_BYTES`` (read no further
    than one byte past the limit, so ``/dev/zero`` is refused too), or not UTF-8."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(limits.MAX_SPEC_BYTES + 1)
    except OSError as err:
        raise ReadFailure("E0010", str(err.strerror or err)) from None
    except ValueError:  # open() refuses a NUL byte in the path
        raise ReadFailure("E0010", "the path contains a NUL byte") from None
    if len(data) > limits.MAX_SPEC_BYTES:
        raise ReadFailure(
            "E0030",
            f"larger than {limits.MAX_SPEC_BYTES:,} bytes",
            f"the limit is {limits.describe('MAX_SPEC_BYTES')}",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ReadFailure("E0010", f"not UTF-8 text ({err.reason} at byte {err.start})") from None


def read_source(path: str | Path) -> SourceFile:
    """The spec file as a :class:`SourceFile`; SpecError (E0010, E0030) at 1:1 when it
    cannot be read as a spec."""
    try:
        return SourceFile(str(path), read_spec_text(path))
    except ReadFailure as err:
        message = f"cannot read spec: {err.reason}"
        if err.code == "E0030":
            message = f"spec is {err.reason}"
        elif err.reason.startswith("not UTF-8"):
            message = f"spec is {err.reason}"
        raise SpecError(
            [Diagnostic(err.code, message, Span(1, 1, 1, 2), SourceFile(str(path), ""), err.hint)]
        ) from None
