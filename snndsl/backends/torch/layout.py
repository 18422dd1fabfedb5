"""Python statements as structure, laid out to 88 columns the way ``ruff format`` does.

Generated code is never re-parsed: each statement whose length depends on spec names
(calls, assignments, returns, merges) is built from code nodes (:class:`Call`,
:class:`Tup`, :class:`Chain`, ...) and printed here with a small Wadler/Prettier-style
document printer (``ruff format``'s own model: groups that print flat when they fit,
else break their soft lines).  An assignment tries ruff's layouts in its order: all on
one line, the value's own brackets split, the value in parentheses, and last the value
split inside parentheses (or, when the value's head cannot fit even there, its own
brackets split).  tests/test_layout.py checks the results against ruff itself for
names of every length.
"""

from __future__ import annotations

from dataclasses import dataclass

LINE_LENGTH = 88

# --------------------------------------------------------------------------- code nodes


@dataclass(frozen=True)
class Atom:
    """Text that never breaks: a name, a number, a string literal, ``a.b``."""

    text: str


@dataclass(frozen=True)
class Kw:
    """A keyword argument ``name=value``."""

    name: str
    value: Code


@dataclass(frozen=True)
class Call:
    """``func(args...)``; ``func`` is any code node (``self.fc1``, ``x.flatten``)."""

    func: Code
    args: tuple[Code | Kw, ...] = ()


@dataclass(frozen=True)
class Attr:
    """``value.name`` where ``value`` may itself break (``f(x).shape``)."""

    value: Code
    name: str


@dataclass(frozen=True)
class Sub:
    """``value[index]``; ``split``: a subscript ruff splits before the brackets after it
    (a numbered group's member in a module path, ``self.layer3[\n    1\n].conv1(x)``)."""

    value: Code
    index: Code
    split: bool = False


@dataclass(frozen=True)
class Tup:
    """A parenthesised tuple ``(a, b)`` (``(a,)`` for one item)."""

    items: tuple[Code, ...]


@dataclass(frozen=True)
class Lst:
    """A list display ``[a, b]``."""

    items: tuple[Code, ...]


@dataclass(frozen=True)
class Chain:
    """Operands joined by operators of one precedence level: ``a + b - c``.  An operand
    that is itself a :class:`Chain` is printed in parentheses (``a * (1.0 - b)``)."""

    first: Code
    rest: tuple[tuple[str, Code], ...]


@dataclass(frozen=True)
class Logic:
    """Operands joined by ``or``/``and`` or a comparison: like :class:`Chain`, but a
    nested one splits at the same indentation and without parentheses."""

    first: Code
    rest: tuple[tuple[str, Code], ...]


Code = Atom | Call | Attr | Sub | Tup | Lst | Chain | Logic


def call(func: str | Code, *args: Code | Kw | str) -> Call:
    """A call; string arguments are atoms."""
    head = Atom(func) if isinstance(func, str) else func
    return Call(head, tuple(Atom(a) if isinstance(a, str) else a for a in args))


def chain(op: str, operands: list[Code | str]) -> Code:
    """``a op b op c``."""
    codes = [Atom(o) if isinstance(o, str) else o for o in operands]
    if len(codes) == 1:
        return codes[0]
    return Chain(codes[0], tuple((op, c) for c in codes[1:]))


# --------------------------------------------------------------------------- documents
# A document is a str, a list of documents, or one of these.


@dataclass(frozen=True)
class _Line:
    soft: bool  # flat: '' when soft, ' ' otherwise


@dataclass(frozen=True)
class _Group:
    doc: object
    broken: bool = False  # printed broken whether or not it fits


@dataclass(frozen=True)
class _Indent:
    doc: object


@dataclass(frozen=True)
class _IfBreak:
    text: str


SOFT = _Line(True)
LINE = _Line(False)


def _joined(items: list, trailing: bool) -> list:
    out: list = []
    for i, item in enumerate(items):
        if i:
            out += [",", LINE]
        out.append(item)
    if trailing:
        out.append(_IfBreak(","))
    return out


def _brackets(open_: str, body, close: str) -> _Group:
    return _Group([open_, _Indent([SOFT, body]), SOFT, close])


def _doc(c: Code):
    if isinstance(c, Atom):
        return c.text
    if isinstance(c, Kw):
        return [c.name, "=", _doc(c.value)]
    if isinstance(c, Call):
        if not c.args:
            return [_doc(c.func), "()"]
        args = [_doc(a) for a in c.args]
        # call arguments try one shared line before one per line; a lone argument
        # never gets a magic trailing comma
        return [_doc(c.func), _brackets("(", _Group(_joined(args, len(args) > 1)), ")")]
    if isinstance(c, Attr):
        return [_doc(c.value), ".", c.name]
    if isinstance(c, Sub) and c.split:
        return [_doc(c.value), _brackets("[", _doc(c.index), "]")]
    if isinstance(c, Sub):  # a subscript stays on its line (ruff splits it only last)
        return [_doc(c.value), "[", _doc(c.index), "]"]
    if isinstance(c, Tup):
        if len(c.items) == 1:
            return _brackets("(", [_doc(c.items[0]), ","], ")")
        return _brackets("(", _joined([_doc(i) for i in c.items], True), ")")
    if isinstance(c, Lst):
        return _brackets("[", _joined([_doc(i) for i in c.items], True), "]")
    if isinstance(c, (Chain, Logic)):
        return _Group(_chain_parts(c))
    raise TypeError(f"not a code node: {c!r}")


def _operand(c: Code):
    if isinstance(c, Logic):
        return _Group(_chain_parts(c))
    if isinstance(c, Chain):  # a nested chain keeps its parentheses
        return _brackets("(", _Group(_chain_parts(c)), ")")
    return _doc(c)


def _chain_parts(c: Chain | Logic) -> list:
    parts: list = [_operand(c.first)]
    for op, operand in c.rest:
        parts += [LINE, op, " ", _operand(operand)]
    return parts


def _print(doc, indent: int) -> list[str]:
    """Print a document whose first line starts at column ``indent`` (that line's
    indentation is left to the caller): a group prints flat when it and what follows
    it up to the next line break fit in LINE_LENGTH, else it breaks its lines."""
    out: list[str] = [""]
    stack: list[tuple[int, bool, object]] = [(indent, False, doc)]  # (indent, flat, doc)
    while stack:
        ind, flat, d = stack.pop()
        if isinstance(d, str):
            out[-1] += d
        elif isinstance(d, list):
            stack.extend((ind, flat, x) for x in reversed(d))
        elif isinstance(d, _Indent):
            stack.append((ind + 4, flat, d.doc))
        elif isinstance(d, _IfBreak):
            if not flat:
                out[-1] += d.text
        elif isinstance(d, _Line):
            if flat:
                out[-1] += "" if d.soft else " "
            else:
                out.append(" " * ind)
        elif isinstance(d, _Group):
            if not flat and not d.broken:
                column = len(out[-1]) + (indent if len(out) == 1 else 0)
                flat = _fits((ind, True, d.doc), stack, LINE_LENGTH - column)
            stack.append((ind, flat, d.doc))
        else:  # pragma: no cover - a bug in this module
            raise TypeError(d)
    return out


def _fits(first, rest: list, room: int) -> bool:
    """Whether ``first`` printed flat, and what follows it up to the next line break,
    fit in ``room`` columns."""
    cmds = [first]
    rest_index = len(rest)
    while room >= 0:
        if not cmds:
            if rest_index == 0:
                return True
            rest_index -= 1
            cmds.append(rest[rest_index])
            continue
        ind, flat, d = cmds.pop()
        if isinstance(d, str):
            room -= len(d)
        elif isinstance(d, list):
            cmds.extend((ind, flat, x) for x in reversed(d))
        elif isinstance(d, _Indent):
            cmds.append((ind + 4, flat, d.doc))
        elif isinstance(d, _IfBreak):
            room -= 0 if flat else len(d.text)
        elif isinstance(d, _Line):
            if not flat:
                return True
            room -= 0 if d.soft else 1
        elif isinstance(d, _Group):
            cmds.append((ind, flat and not d.broken, d.doc))
    return False


# --------------------------------------------------------------------------- statements


def flat(c: Code) -> str:
    """The code on one line (what every group prints when flat, built directly: most
    statements fit and never need a document)."""
    if isinstance(c, Atom):
        return c.text
    if isinstance(c, Kw):
        return f"{c.name}={flat(c.value)}"
    if isinstance(c, Call):
        return f"{flat(c.func)}({', '.join(flat(a) for a in c.args)})"
    if isinstance(c, Attr):
        return f"{flat(c.value)}.{c.name}"
    if isinstance(c, Sub):
        return f"{flat(c.value)}[{flat(c.index)}]"
    if isinstance(c, Tup):
        if len(c.items) == 1:
            return f"({flat(c.items[0])},)"
        return f"({', '.join(flat(i) for i in c.items)})"
    if isinstance(c, Lst):
        return f"[{', '.join(flat(i) for i in c.items)}]"
    if isinstance(c, (Chain, Logic)):
        parts = [_flat_operand(c.first)]
        parts += [f"{op} {_flat_operand(operand)}" for op, operand in c.rest]
        return " ".join(parts)
    raise TypeError(f"not a code node: {c!r}")


def _flat_operand(c: Code) -> str:
    return f"({flat(c)})" if isinstance(c, Chain) else flat(c)


def _own_brackets(c: Code):
    """The document of ``c`` with its last bracket pair broken, or None when it has
    none of its own (a name, an attribute, a call without arguments)."""
    d = _doc(c)
    if isinstance(c, Chain):
        last = c.rest[-1][1]
        if not isinstance(last, Chain):
            return None
        prefix = flat(Chain(c.first, c.rest[:-1])) if len(c.rest) > 1 else flat(c.first)
        return [prefix, f" {c.rest[-1][0]} ", _Group(_operand(last).doc, broken=True)]
    if isinstance(c, Call) and c.args:
        return [*d[:-1], _Group(d[-1].doc, broken=True)]
    if isinstance(c, Sub):
        inner = _own_brackets(c.value)
        return None if inner is None else [inner, "[", _doc(c.index), "]"]
    if isinstance(c, (Tup, Lst)):
        return _Group(d.doc, broken=True)
    return None


def _fits_all(lines: list[str], indent: int) -> bool:
    return indent + len(lines[0]) <= LINE_LENGTH and all(
        len(line) <= LINE_LENGTH for line in lines[1:]
    )


def statement(targets: str | Code, value: Code, indent: int, comment: str = "") -> list[str]:
    """``targets = value  # comment`` (or the bare ``value`` when ``targets`` is empty)
    from column ``indent``, as ruff formats it.  The first line carries no indentation;
    the continuation lines carry all of theirs.

    A statement with a subscript (a layer in a numbered group, ``self.layer3[1].conv1``)
    that would still have a line too long is kept on one line marked ``# fmt: skip``:
    ruff would split the subscript itself, which these layouts do not model.
    """
    suffix = f"  # {comment}" if comment else ""
    if not isinstance(targets, str):  # a target given as code: a module path
        target = flat(targets)
        one = f"{target} = {flat(value)}{suffix}"
        if not _has_subscript(targets):
            return _statement(target, value, indent, comment)
        if indent + len(one) <= LINE_LENGTH:
            return [one]
        # the value's own brackets split; else ruff would split the target's subscripts
        own = _own_brackets(value)
        if own is not None:
            own_lines = _print([f"{target} = ", own], indent)
            own_lines[-1] += suffix
            if _fits_all(own_lines, indent):
                return own_lines
        return [f"{one}  # fmt: skip"]
    laid = _statement(targets, value, indent, comment)
    too_long = indent + len(laid[0]) > LINE_LENGTH or any(len(x) > LINE_LENGTH for x in laid)
    if too_long and _has_subscript(value):
        one = (f"{targets} = " if targets else "") + flat(value)
        return [f"{one}{suffix}  # fmt: skip"]
    return laid


def _split_head(c: Code) -> bool:
    """Whether ``c`` is a call whose callee has a splitting subscript
    (``self.layer3[1].conv1(x)``)."""
    if not isinstance(c, Call):
        return False
    func = c.func
    while isinstance(func, (Attr, Sub)):
        if isinstance(func, Sub) and func.split:
            return True
        func = func.value
    return False


def _has_subscript(c: Code) -> bool:
    """Whether ``c`` reaches a layer in a numbered group (a splitting subscript)."""
    if isinstance(c, Sub):
        return c.split or _has_subscript(c.value)
    if isinstance(c, Kw):
        return _has_subscript(c.value)
    if isinstance(c, Call):
        return _has_subscript(c.func) or any(_has_subscript(a) for a in c.args)
    if isinstance(c, Attr):
        return _has_subscript(c.value)
    if isinstance(c, (Tup, Lst)):
        return any(_has_subscript(i) for i in c.items)
    if isinstance(c, (Chain, Logic)):
        return _has_subscript(c.first) or any(_has_subscript(o) for _, o in c.rest)
    return False


def _statement(targets: str, value: Code, indent: int, comment: str = "") -> list[str]:
    """:func:`statement` as ruff lays it out when no subscript needs splitting.

    ruff's order: everything on one line; the value's own last brackets split (when
    all its lines then fit); the value alone inside parentheses; and when nothing fits,
    the value split inside parentheses if all its lines fit there (always for an
    operator chain or a tuple target), else its own brackets split.
    """
    suffix = f"  # {comment}" if comment else ""
    head = f"{targets} = " if targets else ""
    one = head + flat(value) + suffix
    if indent + len(one) <= LINE_LENGTH:
        return [one]
    if _split_head(value):  # its subscripts split first, then its arguments
        normal = _print([head, _doc(value)], indent)
        normal[-1] += suffix
        if _fits_all(normal, indent):
            return normal
    own = _own_brackets(value)
    own_lines = None
    if own is not None:
        own_lines = _print([head, own], indent)
        own_lines[-1] += suffix
        if _fits_all(own_lines, indent):
            return own_lines
    if not head:
        if own_lines is not None:
            return own_lines
        return [one]
    pad = " " * (indent + 4)
    if "," in targets and indent + len(head) + 1 > LINE_LENGTH:
        # not even ``a, b = (`` fits: the targets split as a tuple
        names = [pad + t.strip() + "," for t in targets.split(",")]
        rest = _print([") = ", own], indent) if own is not None else [") = " + flat(value)]
        rest[-1] += suffix
        return ["(", *names, " " * indent + rest[0], *rest[1:]]
    if isinstance(value, Atom) and value.text in ("[]", "()"):
        return [one]  # an empty display has brackets of its own: never parenthesised
    if own_lines is None and not isinstance(value, Chain):
        # nothing to break: parentheses help only when the value and its comment then fit
        inside = [head + "(", pad + flat(value) + suffix, " " * indent + ")"]
        return inside if _fits_all(inside, indent) else [one]
    inside = [head + "(", pad + flat(value), " " * indent + ")" + suffix]
    if _fits_all(inside, indent):
        return inside
    chained = isinstance(value, Chain)
    own_first_fits = own_lines is not None and indent + len(own_lines[0]) <= LINE_LENGTH
    if own_first_fits and not chained:
        return own_lines
    broken = _print(_doc(value), indent + 4)
    inside = [head + "(", pad + broken[0], *broken[1:], " " * indent + ")" + suffix]
    if own_lines is None or "," in targets or _fits_all(inside, indent):
        return inside  # a tuple unpacking's value is always split inside parentheses
    if chained:  # a chain splits inside parentheses unless its last operand's own do
        return own_lines if own_first_fits and len(own_lines[-1]) <= LINE_LENGTH else inside
    return own_lines


def lines(targets: str | Code, value: Code, indent: int, comment: str = "", shift: int = 0) -> str:
    """:func:`statement` as one string for a template line: laid out for column
    ``indent``, continuation lines ``shift`` columns left of it (a template that
    indents the whole block further afterwards adds them back)."""
    return joined(statement(targets, value, indent, comment), shift)


def joined(laid: list[str], shift: int = 0) -> str:
    """Laid-out lines as one string for a template line, continuation lines ``shift``
    columns left of where they were laid out."""
    first, *rest = laid
    return "\n".join([first, *(line[shift:] for line in rest)])


def header(keyword: str, value: Code, indent: int, tail: str = "") -> list[str]:
    """``keyword value tail`` (``raise ValueError(...)``, ``def f(...) -> T:``): the
    value's own brackets split when the line is too long."""
    one = f"{keyword}{flat(value)}{tail}"
    if indent + len(one) <= LINE_LENGTH:
        return [one]
    own = _own_brackets(value)
    if own is None:
        return [one]
    return _print([keyword, own, tail], indent)


def condition(keyword: str, cond: Code, indent: int) -> list[str]:
    """``keyword cond:`` (``if``, ``while``); a condition too long for its line goes
    inside parentheses, split at its operators."""
    one = f"{keyword} {flat(cond)}:"
    if indent + len(one) <= LINE_LENGTH:
        return [one]
    inner = _print(_doc(cond), indent + 4)
    pad = " " * (indent + 4)
    return [f"{keyword} (", pad + inner[0], *inner[1:], " " * indent + "):"]


def returns(values: list[str], indent: int) -> list[str]:
    """``return a, b`` on one line, or the tuple one value per line as ruff splits it."""
    one = f"return {', '.join(values)}"
    if indent + len(one) <= LINE_LENGTH or len(values) == 1:
        return [one]
    pad = " " * (indent + 4)
    return ["return (", *(f"{pad}{v}," for v in values), " " * indent + ")"]
