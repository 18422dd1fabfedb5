"""YAML front end and back end: the spec AST read from and written to its YAML form.

The document is a list of items (``- network: Seed``, ``- neuron: LIF``, ``- surrogate:
Sigmoid``) whose statements are mappings keyed by their kind.  Expression fields take
YAML numbers, booleans, null, lists, ``{op, args, kwargs}`` call mappings, or strings
parsed as DSL expressions.  Every problem becomes a located :class:`SpecError`: E0021
when the YAML cannot be parsed, E0020 when the document has the wrong shape, E0101 for
names that are not identifiers, and the text parser's codes inside expression strings.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from snndsl import limits
from snndsl.diagnostics import Diagnostic, SourceFile, Span, SpecError, did_you_mean
from snndsl.syntax import ast
from snndsl.syntax.formatter import format_expr
from snndsl.syntax.nesting import check_nesting
from snndsl.syntax.parser import parse_expression

_TAG = "tag:yaml.org,2002:"
_STR, _SEQ, _MAP = _TAG + "str", _TAG + "seq", _TAG + "map"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# a param or buffer name: a name, or names joined by '.' (a submodule of the layer)
_TENSOR_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
# a step label: a name, or a dotted module path (`layer2.0.conv1`) as in .snn
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.([A-Za-z_][A-Za-z0-9_]*|[0-9]+))*\Z")
_STATE_READ = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*\Z")  # sn.v
_TYPE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\??\Z")
_START = Span(1, 1, 1, 2)
_TOO_DEEP = "the YAML document is nested too deeply"

# kind: (AST class, the keys it allows besides its own, the keys it requires)
_SCHEMA: dict[str, tuple[type, tuple[str, ...], tuple[str, ...]]] = {
    "network": (ast.Network, ("comments", "params", "body"), ("body",)),
    "block": (ast.BlockDef, ("comments", "params", "body"), ("body",)),
    "import": (ast.Import, ("comments",), ()),
    "defaults": (ast.Defaults, ("comments", "args", "kwargs"), ()),
    "neuron": (ast.NeuronDef, ("comments", "parallel", "params", "body"), ("body",)),
    "surrogate": (ast.SurrogateDef, ("comments", "params", "body"), ("body",)),
    "input": (ast.Input, ("comments", "shape"), ()),
    "assign": (ast.Assign, ("comments", "chain"), ("chain",)),
    "output": (ast.Output, ("comments", "chain"), ()),
    "let": (ast.Let, ("comments", "value"), ("value",)),
    "state": (ast.State, ("comments", "init"), ("init",)),
    "charge": (ast.Charge, ("comments", "value"), ("value",)),
    "param": (ast.Learn, ("comments", "shape", "init"), ("init",)),
    "buffer": (ast.Buffer, ("comments", "shape", "init"), ("init",)),
    "steps": (ast.Steps, ("comments",), ()),
    "window": (ast.Window, ("comments", "options"), ()),
    "update": (ast.Update, ("comments", "value"), ("value",)),
    "emit": (ast.Emit, ("comments",), ()),
    "fire": (ast.Fire, ("comments", "options"), ()),
    "reset": (ast.Reset, ("comments", "value", "subtract", "options"), ()),
    "require": (ast.Require, ("comments", "message"), ("message",)),
    "if": (ast.If, ("comments", "then", "else"), ("then",)),
    "primitive": (ast.Primitive, ("comments",), ()),
    "gradient": (ast.Gradient, ("comments",), ()),
}
_KIND_OF = {cls: kind for kind, (cls, _, _) in _SCHEMA.items()}
_ITEM_KINDS = ("network", "neuron", "surrogate", "block", "import")
_NETWORK_KINDS = ("input", "assign", "output", "defaults")
_NEURON_KINDS = (
    "let",
    "state",
    "charge",
    "fire",
    "reset",
    "require",
    "if",
    "param",
    "update",
    "emit",
    "buffer",
    "steps",
    "window",
)
_SURROGATE_KINDS = ("let", "primitive", "gradient", "require", "if")
_BODY_KINDS = {
    "network": _NETWORK_KINDS,
    "block": _NETWORK_KINDS,
    "neuron": _NEURON_KINDS,
    "surrogate": _SURROGATE_KINDS,
}
_CALL_KEYS = ("op", "args", "kwargs")
_STEP_KEYS = ("op", "args", "kwargs", "label")
_PARAM_KEYS = ("name", "type", "default")

# Names the text grammar reads as keywords in that position, so they cannot round-trip.
_RESERVED_CALL = _RESERVED_KWARG = frozenset({"true", "false", "none", "not"})
_RESERVED_ASSIGN = frozenset({"input", "output"})


def _span(node: Node) -> Span:
    start, end = node.start_mark, node.end_mark
    return Span(start.line + 1, start.column + 1, end.line + 1, end.column + 1)


def _join(first: Node, last: Node) -> Span:
    a, b = _span(first), _span(last)
    return Span(a.line, a.column, b.end_line, b.end_column)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _describe(node: Node) -> str:
    if isinstance(node, (MappingNode, SequenceNode)):
        word = "a mapping" if isinstance(node, MappingNode) else "a list"
        return word if node.tag in (_MAP, _SEQ) else f"{word} tagged '{node.tag}'"
    kind = node.tag.removeprefix(_TAG)
    words = {
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "bool": "a boolean",
        "null": "null",
        "timestamp": "a date",
        "binary": "binary data",
    }
    return words.get(kind, f"a value tagged '{node.tag}'")


# --------------------------------------------------------------------------- loading


def load_yaml(text: str, path: str = "<spec>") -> ast.Module:
    """Read a YAML spec; raise :class:`SpecError` with located diagnostics on bad input."""
    source = SourceFile(path, text)
    loader, root = _compose(text, source)
    try:
        return check_nesting(_Reader(source, loader).module(root))
    except RecursionError:
        raise _error(source, "E0020", _TOO_DEEP) from None


def _error(source: SourceFile, code: str, message: str, at: Span = _START) -> SpecError:
    return SpecError([Diagnostic(code, message, at, source)])


def _compose(text: str, source: SourceFile) -> tuple[yaml.SafeLoader, Node | None]:
    """The YAML node graph (with marks), or E0021 at the point where parsing failed."""
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        return loader, loader.get_single_node()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        span = Span.point(mark.line + 1, mark.column + 1) if mark else _START
        notes: tuple[str, ...] = ()
        message = err.problem or err.context or "invalid YAML"
        if err.problem and err.context and err.problem.startswith("but "):
            message = f"{err.context}, {err.problem}"
        elif err.problem and err.context:
            where = err.context_mark
            at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
            notes = (err.context + at,)
        raise SpecError([Diagnostic("E0021", message, span, source, notes=notes)]) from None
    except yaml.YAMLError as err:  # ReaderError: a character YAML does not allow
        pos = min(max(getattr(err, "position", 0) or 0, 0), len(text))
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        message = str(err).split("\n")[0]
        raise _error(source, "E0021", message, Span.point(line, column)) from None
    except RecursionError:
        raise _error(source, "E0021", _TOO_DEEP) from None
    finally:
        if loader is not None:
            loader.dispose()


class _Reader:
    """Walks the composed node graph and builds the AST, failing at the first problem."""

    def __init__(self, source: SourceFile, loader: yaml.SafeLoader):
        self.source = source
        self.loader = loader
        self.values: dict[int, ast.Expr] = {}
        self.sizes: dict[int, int] = {}  # expanded nodes of each value in ``values``
        self.active: set[int] = set()
        self.visited = 0

    # ------------------------------------------------------------------ plumbing
    def fail(
        self, node: Node, message: str, hint: str | None = None, code: str = "E0020"
    ) -> NoReturn:
        raise SpecError([Diagnostic(code, message, _span(node), self.source, hint)])

    @contextmanager
    def visit(self, node: Node) -> Iterator[None]:
        """Guards against aliases that contain themselves or expand without bound."""
        key = id(node)
        if key in self.active:
            self.fail(node, "this YAML alias refers to a node that contains it")
        self.count(node, 1)
        self.active.add(key)
        try:
            yield
        finally:
            self.active.discard(key)

    def count(self, node: Node, nodes: int) -> None:
        """Count ``nodes`` more nodes of the expanded document, within MAX_YAML_NODES."""
        self.visited += nodes
        if self.visited > limits.MAX_YAML_NODES:
            self.fail(
                node,
                f"the document expands to too many nodes (more than "
                f"{limits.MAX_YAML_NODES:,}, aliases counted at the size of what they name)",
                f"the limit is {limits.describe('MAX_YAML_NODES')}",
                "E0030",
            )

    def mapping(self, node: Node, what: str) -> dict[str, tuple[Node, Node]]:
        if not isinstance(node, MappingNode) or node.tag != _MAP:
            self.fail(node, f"expected {what} (a mapping), got {_describe(node)}")
        fields: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag != _STR:
                merge = key_node.tag == _TAG + "merge"
                hint = "merge keys ('<<') are not supported" if merge else None
                got = _describe(key_node)
                self.fail(key_node, f"expected a string key, got {got}", hint)
            if key_node.value in fields:
                self.fail(key_node, f"duplicate key '{key_node.value}' in {what}")
            fields[key_node.value] = (key_node, value_node)
        return fields

    def sequence(self, node: Node, what: str) -> list[Node]:
        if not isinstance(node, SequenceNode) or node.tag != _SEQ:
            self.fail(node, f"expected {what} (a list), got {_describe(node)}")
        return list(node.value)

    def string(self, node: Node, what: str) -> str:
        if not isinstance(node, ScalarNode) or node.tag != _STR:
            self.fail(node, f"expected {what} (a string), got {_describe(node)}")
        return node.value

    def name(self, node: Node, what: str, reserved: frozenset[str] = frozenset()) -> str:
        text = self.string(node, what)
        if not _IDENT.match(text):
            hint = "a name starts with a letter or '_' and has only letters, digits and '_'"
            self.fail(node, f"'{text}' is not valid as {what}", hint, "E0101")
        if text in reserved:
            message = f"'{text}' is a keyword here and cannot be {what}"
            self.fail(node, message, code="E0101")
        return text

    def kind(self, node: Node, fields: dict, kinds: tuple[str, ...], what: str) -> str:
        for key in fields:
            if key in kinds:
                return key
        known = {k for kind in kinds for k in _SCHEMA[kind][1]}
        offenders = [k for k in fields if k not in known] or list(fields)
        choices = ", ".join(f"'{k}'" for k in kinds)
        if not offenders:
            self.fail(node, f"expected {_article(what)} {what}: one of the keys {choices}")
        key = offenders[0]
        hint = did_you_mean(key, kinds) or f"expected one of {choices}"
        self.fail(fields[key][0], f"unknown {what} kind '{key}'", hint)

    def check_keys(
        self,
        node: Node,
        fields: dict,
        allowed: tuple[str, ...],
        required: tuple[str, ...],
        what: str,
    ) -> None:
        for key, (key_node, _) in fields.items():
            if key not in allowed:
                choices = ", ".join(f"'{k}'" for k in allowed)
                hint = did_you_mean(key, allowed) or f"expected one of {choices}"
                self.fail(key_node, f"unknown key '{key}' in {what}", hint)
        for key in required:
            if key not in fields:
                self.fail(node, f"{what} is missing the key '{key}'")

    def comments(self, fields: dict) -> tuple[str, ...]:
        if "comments" not in fields:
            return ()
        out = []
        for node in self.sequence(fields["comments"][1], "a list of comments"):
            text = self.string(node, "a comment")
            if "\n" in text:
                self.fail(node, "a comment must be a single line")
            out.append(text)
        return tuple(out)

    # ------------------------------------------------------------------ values
    def value(self, node: Node) -> ast.Expr:
        """An expression field: a YAML literal, list, call mapping or expression string."""
        key = id(node)
        if key in self.values:  # an alias: the value is shared, its expansion counted
            self.count(node, self.sizes[key])
            return self.values[key]
        before = self.visited
        with self.visit(node):
            self.values[key] = self._value(node)
        self.sizes[key] = self.visited - before
        return self.values[key]

    def _value(self, node: Node) -> ast.Expr:
        if isinstance(node, SequenceNode) and node.tag == _SEQ:
            return ast.ListExpr(tuple(self.value(n) for n in node.value), _span(node))
        if isinstance(node, MappingNode) and node.tag == _MAP:
            fields = self.mapping(node, "a call")
            self.check_keys(node, fields, _CALL_KEYS, ("op",), "a call")
            return self.call(node, fields, _RESERVED_CALL)
        if not isinstance(node, ScalarNode):
            self.fail(node, f"expected a value, got {_describe(node)}")
        if node.tag == _STR:
            return self.expression(node)
        try:
            data = self.loader.construct_object(node)
        except Exception as err:  # noqa: BLE001 - explicit tags skip the resolver: `!!int abc`
            problem = getattr(err, "problem", None) or str(err)
            self.fail(node, f"cannot read {_describe(node)}: {problem}")
        span = _span(node)
        if data is None:
            return ast.NoneLit(span)
        if isinstance(data, bool):
            return ast.Bool(data, span)
        if isinstance(data, (int, float)):
            if isinstance(data, float) and not math.isfinite(data):
                self.fail(node, "expected a finite number")
            if node.value.lstrip().startswith("-"):
                inner = Span(span.line, span.column + 1, span.end_line, span.end_column)
                return ast.Unary("-", ast.Num(-data, inner), span)
            return ast.Num(data, span)
        expected = "a number, boolean, null, list, call mapping or expression string"
        self.fail(node, f"expected {expected}, got {_describe(node)}")

    def expression(self, node: ScalarNode) -> ast.Expr:
        """Parse a string scalar as a DSL expression, located where its text starts."""
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        if node.style in ("'", '"'):
            column += 1
        elif node.style in ("|", ">"):
            line += 1
            text = self.source.line_text(line)
            column = len(text) - len(text.lstrip(" ")) + 1
        return parse_expression(node.value, self.source, line, column)

    def call(self, node: Node, fields: dict, reserved: frozenset[str]) -> ast.Call:
        """A call from ``{op, args?, kwargs?}``; ``op`` may also hold a whole call."""
        op_node = fields["op"][1]
        text = self.string(op_node, "an operation name")
        if _IDENT.match(text):
            func = self.name(op_node, "an operation name", reserved)
            args: list[ast.Arg] = []
        else:
            parsed = self.expression(op_node)
            if not isinstance(parsed, ast.Call):
                message = f"expected an operation name or a call, got '{text}'"
                self.fail(op_node, message)
            if "args" in fields or "kwargs" in fields:
                extra = fields["args" if "args" in fields else "kwargs"][0]
                self.fail(extra, "the arguments are already given inside 'op'")
            return ast.Call(parsed.func, parsed.args, _span(node), parsed.func_span)
        if "args" in fields:
            for item in self.sequence(fields["args"][1], "a list of arguments"):
                args.append(ast.Arg(None, self.value(item), _span(item)))
        if "kwargs" in fields:
            kwargs = self.mapping(fields["kwargs"][1], "keyword arguments")
            for key, (key_node, value_node) in kwargs.items():
                self.name(key_node, "an argument name", _RESERVED_KWARG)
                span = _join(key_node, value_node)
                args.append(ast.Arg(key, self.value(value_node), span, _span(key_node)))
        return ast.Call(func, tuple(args), _span(node), _span(op_node))

    def options(self, node: Node) -> tuple[ast.Option, ...]:
        """``{name: value, ...}``, or a list of one-key mappings when a name repeats."""
        if isinstance(node, SequenceNode) and node.tag == _SEQ:
            pairs = []
            for entry in node.value:
                fields = self.mapping(entry, "an option")
                if len(fields) != 1:
                    self.fail(entry, "expected an option: a mapping with one key")
                pairs.extend(fields.values())
        else:
            pairs = list(self.mapping(node, "options such as {surrogate: s}").values())
        return tuple(
            ast.Option(self.name(k, "an option name"), self.value(v), _join(k, v)) for k, v in pairs
        )

    # ------------------------------------------------------------------ networks
    def module(self, root: Node | None) -> ast.Module:
        if root is None or (isinstance(root, ScalarNode) and root.tag == _TAG + "null"):
            return ast.Module((), (), self.source)
        if not isinstance(root, SequenceNode) or root.tag != _SEQ:
            got = _describe(root)
            hint = "start each item with '- network: Name' (or neuron, surrogate)"
            self.fail(root, f"expected the document to be a list of items, got {got}", hint)
        entries = list(root.value)
        items: list[ast.Item] = []
        trailing: tuple[str, ...] = ()
        for index, node in enumerate(entries):
            fields = self.mapping(node, "an item")
            if list(fields) == ["comments"]:
                if index != len(entries) - 1:
                    self.fail(node, "an entry with only comments must come last")
                trailing = self.comments(fields)
                continue
            with self.visit(node):
                items.append(self.item(node, fields))
        return ast.Module(tuple(items), trailing, self.source)

    def item(self, node: Node, fields: dict) -> ast.Item:
        kind = self.kind(node, fields, _ITEM_KINDS, "item")
        _, allowed, required = _SCHEMA[kind]
        self.check_keys(node, fields, (kind, *allowed), required, f"a {kind}")
        if kind == "import":
            path_node = fields["import"][1]
            path = self.string(path_node, "a file path")
            return ast.Import(path, self.comments(fields), _span(node), _span(path_node))
        name_node = fields[kind][1]
        name = self.name(name_node, f"a {kind} name")
        params = self.params(fields["params"][1]) if "params" in fields else ()
        comments = self.comments(fields)
        body = self.block(fields["body"][1], _BODY_KINDS[kind], f"{kind} body")
        item = _SCHEMA[kind][0](name, params, body, comments, _span(node), _span(name_node))
        if "parallel" in fields:
            flag = fields["parallel"][1]
            if not (isinstance(flag, ScalarNode) and flag.tag == _TAG + "bool"):
                self.fail(flag, f"'parallel' is true or false, got {_describe(flag)}")
            if self.loader.construct_object(flag):
                item = dataclasses.replace(item, parallel=True)
        return item

    def params(self, node: Node) -> tuple[ast.Param, ...]:
        out = []
        for entry in self.sequence(node, "a list of parameters"):
            fields = self.mapping(entry, "a parameter")
            required = ("name",)
            self.check_keys(entry, fields, _PARAM_KEYS, required, "a parameter")
            name = self.name(fields["name"][1], "a parameter name")
            type_ = None
            if "type" in fields:
                type_node = fields["type"][1]
                type_ = self.string(type_node, "a parameter type")
                if not _TYPE.match(type_):
                    message = f"'{type_}' is not a type such as 'float' or 'float?'"
                    self.fail(type_node, message)
            default = self.value(fields["default"][1]) if "default" in fields else None
            out.append(ast.Param(name, default, type_, _span(entry)))
        return tuple(out)

    def chain(self, node: Node) -> ast.Chain:
        elements = self.sequence(node, "a chain such as [x, {op: Linear}, IF]")
        if not elements:
            self.fail(node, "a chain needs at least its source name")
        first, *rest = elements
        source: ast.Name | ast.Step
        scalar = isinstance(first, ScalarNode) and first.tag == _STR
        plain = scalar and (_IDENT.match(first.value) or _STATE_READ.match(first.value))
        if plain and _STATE_READ.match(first.value):  # the state v of neuron layer sn
            source = ast.Name(first.value, _span(first))
        elif plain or not (isinstance(first, MappingNode) or isinstance(first, ScalarNode)):
            source = ast.Name(self.name(first, "the chain source"), _span(first))
        else:  # a merge or delay: {op: Add, args: [a, b]} or 'Add(a, b)'
            source = self.step(first)
        return ast.Chain(source, tuple(self.step(s) for s in rest), _span(node))

    def step(self, node: Node) -> ast.Step:
        if isinstance(node, ScalarNode) and node.tag == _STR:
            call = self.call(node, {"op": (node, node)}, frozenset())
            return ast.Step(call, None, _span(node), call.func_span)
        if not isinstance(node, MappingNode):
            what = "an operation name or a mapping with 'op'"
            self.fail(node, f"expected a chain step: {what}, got {_describe(node)}")
        fields = self.mapping(node, "a chain step")
        self.check_keys(node, fields, _STEP_KEYS, ("op",), "a chain step")
        call = self.call(node, fields, frozenset())
        if "label" not in fields:
            return ast.Step(call, None, _span(node), call.func_span)
        label_node = fields["label"][1]
        label = self.string(label_node, "a step label")
        if not _LABEL.match(label):
            hint = "a name, or names and indices joined by '.' (layer2.0.conv1)"
            self.fail(label_node, f"'{label}' is not valid as a step label", hint, "E0101")
        return ast.Step(call, label, _span(node), _span(label_node))

    # ------------------------------------------------------------------ statements
    def block(self, node: Node, kinds: tuple[str, ...], what: str) -> tuple:
        return tuple(self.statement(n, kinds) for n in self.sequence(node, f"a {what}"))

    def statement(self, node: Node, kinds: tuple[str, ...]):
        with self.visit(node):
            fields = self.mapping(node, "a statement")
            kind = self.kind(node, fields, kinds, "statement")
            _, allowed, required = _SCHEMA[kind]
            what = f"{_article(kind)} {kind} statement"
            self.check_keys(node, fields, (kind, *allowed), required, what)
            return self._statement(node, kind, fields, self.comments(fields), kinds)

    def _statement(
        self,
        node: Node,
        kind: str,
        fields: dict,
        comments: tuple[str, ...],
        kinds: tuple[str, ...],
    ):
        span = _span(node)
        head = fields[kind][1]
        if kind == "input":
            shape = None
            if "shape" in fields:
                shape_node = fields["shape"][1]
                shape = tuple(self.value(n) for n in self.sequence(shape_node, "a shape"))
            return ast.Input(self.name(head, "an input name"), shape, comments, span, _span(head))
        if kind == "defaults":
            call = self.call(node, {**fields, "op": fields["defaults"]}, frozenset())
            return ast.Defaults(call, comments, span)
        if kind == "assign":
            name = self.name(head, "an assigned name", _RESERVED_ASSIGN)
            chain = self.chain(fields["chain"][1])
            return ast.Assign(name, chain, comments, span, _span(head))
        if kind == "output":
            name = self.name(head, "an output name")
            chain = self.chain(fields["chain"][1]) if "chain" in fields else None
            return ast.Output(name, chain, comments, span, _span(head))
        if kind in ("param", "buffer"):  # a name, or dotted: in a submodule of the layer
            name = self.string(head, f"a {kind} name")
            if not _TENSOR_PATH.match(name):
                hint = "a name, or names joined by '.' (recurrent.weight)"
                self.fail(head, f"'{name}' is not valid as a {kind} name", hint, "E0101")
            shape = None
            if "shape" in fields:
                shape_node = fields["shape"][1]
                shape = tuple(self.value(n) for n in self.sequence(shape_node, "a shape"))
            value = self.value(fields["init"][1])
            return _SCHEMA[kind][0](name, value, comments, span, shape)
        if kind == "window":
            options = self.options(fields["options"][1]) if "options" in fields else ()
            return ast.Window(self.value(head), options, comments, span)
        if kind in ("let", "state", "charge", "update"):
            field = "init" if kind == "state" else "value"
            name = self.name(head, f"a {kind} name")
            return _SCHEMA[kind][0](name, self.value(fields[field][1]), comments, span)
        if kind == "fire":
            options = self.options(fields["options"][1]) if "options" in fields else ()
            return ast.Fire(self.value(head), options, comments, span)
        if kind == "reset":
            return self.reset(node, fields, comments)
        if kind == "require":
            message = self.string(fields["message"][1], "a message")
            return ast.Require(self.value(head), message, comments, span)
        if kind == "if":
            then = self.block(fields["then"][1], kinds, "list of statements")
            else_node = fields["else"][1] if "else" in fields else None
            orelse = self.block(else_node, kinds, "list") if else_node is not None else ()
            return ast.If(self.value(head), then, orelse, comments, span)
        return _SCHEMA[kind][0](self.value(head), comments, span)

    def reset(self, node: Node, fields: dict, comments: tuple[str, ...]) -> ast.Reset:
        head = fields["reset"][1]
        span = _span(node)
        is_none = isinstance(head, ScalarNode) and (
            head.tag == _TAG + "null" or (head.tag == _STR and head.value == "none")
        )
        if is_none:
            for key in ("value", "subtract", "options"):
                if key in fields:
                    self.fail(fields[key][0], f"'reset: none' takes no '{key}'")
            return ast.Reset("none", None, None, (), comments, span)
        target = self.name(head, "a reset target")
        if "value" in fields and "subtract" in fields:
            message = "give either 'value' or 'subtract', not both"
            self.fail(fields["subtract"][0], message)
        if "value" not in fields and "subtract" not in fields:
            message = "a reset is missing the key 'value' (hard) or 'subtract' (soft)"
            self.fail(node, message)
        kind, key = ("hard", "value") if "value" in fields else ("soft", "subtract")
        options = self.options(fields["options"][1]) if "options" in fields else ()
        value = self.value(fields[key][1])
        return ast.Reset(kind, target, value, options, comments, span)


# --------------------------------------------------------------------------- dumping


class _Dumper(yaml.SafeDumper):
    """SafeDumper with flow-style leaves, no anchors, and NEL-safe strings."""

    def ignore_aliases(self, data) -> bool:
        return True


class _Flow(list):
    """A list written in flow style: ``[8]``, ``[x, {op: Linear, args: [4]}, IF]``."""


class _FlowMap(dict):
    """A mapping written in flow style: ``{op: ATan, kwargs: {alpha: 2.0}}``."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # PyYAML's plain and single-quoted styles fold NEL (U+0085) into a space.
    style = '"' if "\x85" in data else None
    return dumper.represent_scalar(_STR, data, style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(
    _Flow, lambda dumper, data: dumper.represent_sequence(_SEQ, data, flow_style=True)
)
_Dumper.add_representer(
    _FlowMap, lambda dumper, data: dumper.represent_mapping(_MAP, data, flow_style=True)
)


def dump_yaml(module: ast.Module) -> str:
    """The canonical YAML form of a spec; :func:`load_yaml` reads it back equal."""
    data: list = [_dump_item(item) for item in module.items]
    if module.trailing_comments:
        data.append({"comments": list(module.trailing_comments)})
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096)


def _head(kind: str, value, comments: tuple[str, ...]) -> dict:
    out = {kind: value}
    if comments:
        out["comments"] = list(comments)
    return out


def _dump_item(item: ast.Item) -> dict:
    if isinstance(item, ast.Import):
        return _head("import", item.path, item.comments)
    out = _head(_KIND_OF[type(item)], item.name, item.comments)
    if getattr(item, "parallel", False):
        out["parallel"] = True
    if item.params:
        out["params"] = [_dump_param(p) for p in item.params]
    out["body"] = [_dump_statement(s) for s in item.body]
    return out


def _dump_param(param: ast.Param) -> dict:
    out = _FlowMap(name=param.name)
    if param.type is not None:
        out["type"] = param.type
    if param.default is not None:
        out["default"] = _dump_value(param.default)
    return out


def _dump_value(expr: ast.Expr):
    """Literals as YAML scalars, lists as lists, calls as mappings, the rest as text."""
    if isinstance(expr, ast.Num) and _non_negative(expr.value):
        return expr.value
    if (
        isinstance(expr, ast.Unary)
        and expr.op == "-"
        and isinstance(expr.operand, ast.Num)
        and _non_negative(expr.operand.value)
        and (isinstance(expr.operand.value, float) or expr.operand.value != 0)
    ):
        return -expr.operand.value  # -0 has no int form: it is written as text below
    if isinstance(expr, ast.Bool):
        return expr.value
    if isinstance(expr, ast.NoneLit):
        return None
    if isinstance(expr, ast.ListExpr):
        return _Flow(_dump_value(e) for e in expr.items)
    if isinstance(expr, ast.Call) and _regular(expr.args):
        return _dump_call(expr)
    return format_expr(expr)


def _non_negative(value: float) -> bool:
    if isinstance(value, float):
        return math.isfinite(value) and math.copysign(1.0, value) > 0
    return value >= 0


def _regular(args: tuple[ast.Arg, ...]) -> bool:
    """Whether ``{args, kwargs}`` keeps these arguments: positionals first, no repeats."""
    names = [a.name for a in args if a.name is not None]
    first = len(args) - len(names)
    in_order = all(a.name is None for a in args[:first])
    return in_order and len(set(names)) == len(names)


def _dump_call(call: ast.Call) -> dict:
    out = _FlowMap(op=call.func)
    positional = [_dump_value(a.value) for a in call.args if a.name is None]
    keyword = _FlowMap((a.name, _dump_value(a.value)) for a in call.args if a.name is not None)
    if positional:
        out["args"] = _Flow(positional)
    if keyword:
        out["kwargs"] = keyword
    return out


def _dump_step(step: ast.Step):
    call = step.call
    if not _regular(call.args):
        text = format_expr(call)
        return text if step.label is None else _FlowMap(op=text, label=step.label)
    if step.label is None and not call.args:
        return call.func
    out = _dump_call(call)
    if step.label is not None:
        out["label"] = step.label
    return out


def _dump_source(step: ast.Step):
    """A merge or delay source; never a bare name, which would read back as a Name."""
    out = _dump_step(step)
    if isinstance(out, str) and _IDENT.match(out):
        out = _FlowMap(op=out, args=_Flow([]))
    return out


def _dump_chain(chain: ast.Chain) -> list:
    """Short chains on one line; longer ones one step per line, each step in flow style."""
    source = chain.source
    first = source.id if isinstance(source, ast.Name) else _dump_source(source)
    items = [first, *(_dump_step(s) for s in chain.steps)]
    short = len(items) <= 5 and not any(isinstance(i, dict) and "kwargs" in i for i in items)
    return _Flow(items) if short else items


def _dump_options(options: tuple[ast.Option, ...]):
    names = [o.name for o in options]
    if len(set(names)) == len(names):
        return _FlowMap((o.name, _dump_value(o.value)) for o in options)
    return _Flow(_FlowMap([(o.name, _dump_value(o.value))]) for o in options)


def _dump_statement(stmt) -> dict:
    kind, c = _KIND_OF[type(stmt)], stmt.comments
    if isinstance(stmt, ast.Defaults):
        out = _head(kind, stmt.call.func, c)
        out.update((k, v) for k, v in _dump_call(stmt.call).items() if k != "op")
        return out
    if isinstance(stmt, (ast.Fire, ast.Require, ast.If)):
        out = _head(kind, _dump_value(stmt.condition), c)
    elif isinstance(stmt, (ast.Primitive, ast.Gradient, ast.Emit, ast.Steps, ast.Window)):
        out = _head(kind, _dump_value(stmt.value), c)
    else:  # `reset: null` for `reset none`
        out = _head(kind, stmt.target if isinstance(stmt, ast.Reset) else stmt.name, c)
    if isinstance(stmt, ast.Input) and stmt.shape is not None:
        out["shape"] = _Flow(_dump_value(e) for e in stmt.shape)
    elif isinstance(stmt, (ast.Assign, ast.Output)) and stmt.chain is not None:
        out["chain"] = _dump_chain(stmt.chain)
    elif isinstance(stmt, (ast.Let, ast.Charge, ast.Update)):
        out["value"] = _dump_value(stmt.value)
    elif isinstance(stmt, ast.State):
        out["init"] = _dump_value(stmt.init)
    elif isinstance(stmt, (ast.Learn, ast.Buffer)):
        if stmt.shape is not None:
            out["shape"] = _Flow(_dump_value(e) for e in stmt.shape)
        out["init"] = _dump_value(stmt.value)
    elif isinstance(stmt, ast.Reset) and stmt.kind != "none":
        out["value" if stmt.kind == "hard" else "subtract"] = _dump_value(stmt.value)
    elif isinstance(stmt, ast.Require):
        out["message"] = stmt.message
    elif isinstance(stmt, ast.If):
        out["then"] = [_dump_statement(s) for s in stmt.then]
        if stmt.orelse:
            out["else"] = [_dump_statement(s) for s in stmt.orelse]
    if getattr(stmt, "options", ()):
        out["options"] = _dump_options(stmt.options)
    return out
