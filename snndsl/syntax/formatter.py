"""Canonical text printer: turns a spec AST back into ``.snn`` text (``snndsl fmt``).

The output parses back to an equal AST (comments included) and formatting it again
gives the same bytes.  Expressions get the fewest parentheses that keep the tree
exactly as it is; header and chain lines longer than :data:`MAX_WIDTH` are broken.
"""

from __future__ import annotations

from snndsl.syntax import ast

INDENT = "    "
MAX_WIDTH = 100

# Binding strength of each expression form, loosest first (see grammar/snn.lark).
_COALESCE, _OR, _AND, _NOT, _COMPARE, _SUM, _PRODUCT, _UNARY, _POWER, _ATOM = range(1, 11)

_BINARY_LEVEL = {
    "??": _COALESCE,
    "or": _OR,
    "and": _AND,
    **{op: _COMPARE for op in ast.COMPARE_OPS},
    "+": _SUM,
    "-": _SUM,
    "*": _PRODUCT,
    "/": _PRODUCT,
    "@": _PRODUCT,
    "**": _POWER,
}

# The lowest level each operand may have without parentheses: (left, right).
_OPERAND_LEVELS = {
    _COALESCE: (_OR, _COALESCE),  # right-associative
    _OR: (_OR, _AND),
    _AND: (_AND, _NOT),
    _COMPARE: (_SUM, _SUM),  # non-associative
    _SUM: (_SUM, _PRODUCT),
    _PRODUCT: (_PRODUCT, _UNARY),
    _POWER: (_ATOM, _UNARY),  # atom ** unary
}


# --------------------------------------------------------------------------- expressions


def format_expr(expr: ast.Expr) -> str:
    """Print one expression with the minimum parentheses that preserve its tree."""
    return _expr(expr, _COALESCE)


def _level(expr: ast.Expr) -> int:
    if isinstance(expr, ast.Binary):
        return _BINARY_LEVEL[expr.op]
    if isinstance(expr, ast.Unary):
        return _NOT if expr.op == "not" else _UNARY
    return _ATOM


def _expr(expr: ast.Expr, min_level: int) -> str:
    text = _bare(expr)
    return f"({text})" if _level(expr) < min_level else text


def _bare(expr: ast.Expr) -> str:
    if isinstance(expr, ast.Binary):
        left_min, right_min = _OPERAND_LEVELS[_BINARY_LEVEL[expr.op]]
        return f"{_expr(expr.left, left_min)} {expr.op} {_expr(expr.right, right_min)}"
    if isinstance(expr, ast.Unary):
        if expr.op == "not":
            return f"not {_expr(expr.operand, _NOT)}"
        return f"{expr.op}{_expr(expr.operand, _UNARY)}"
    if isinstance(expr, ast.Num):
        return format_number(expr.value)
    if isinstance(expr, ast.Bool):
        return "true" if expr.value else "false"
    if isinstance(expr, ast.NoneLit):
        return "none"
    if isinstance(expr, ast.Str):
        return quote_string(expr.value)
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Call):
        return f"{expr.func}({_args(expr.args)})"
    if isinstance(expr, ast.ListExpr):
        return "[" + ", ".join(format_expr(item) for item in expr.items) + "]"
    raise TypeError(f"not an expression node: {expr!r}")


def format_number(value: float) -> str:
    """``str`` for ints, ``repr`` for floats: both read back to the same value and type."""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def quote_string(value: str) -> str:
    """A double-quoted string literal using only the escapes the grammar accepts."""
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _args(args: tuple[ast.Arg, ...]) -> str:
    return ", ".join(
        format_expr(a.value) if a.name is None else f"{a.name}={format_expr(a.value)}" for a in args
    )


# --------------------------------------------------------------------------- module


def format_module(module: ast.Module) -> str:
    """Print a whole spec in canonical style; the empty module prints as ''."""
    blocks = []
    for item in module.items:
        lines: list[str] = []
        _comments(item.comments, 0, lines)
        if isinstance(item, ast.Network):
            _network(item, lines)
        elif isinstance(item, ast.BlockDef):
            _network(item, lines, "block")
        elif isinstance(item, ast.Import):
            lines.append(f"import {quote_string(item.path)}")
        elif isinstance(item, ast.NeuronDef):
            _definition("parallel neuron" if item.parallel else "neuron", item, lines)
        elif isinstance(item, ast.SurrogateDef):
            _definition("surrogate", item, lines)
        else:
            raise TypeError(f"not an item: {item!r}")
        blocks.append("\n".join(lines))
    if module.trailing_comments:
        lines = []
        _comments(module.trailing_comments, 0, lines)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _comments(comments: tuple[str, ...], depth: int, out: list[str]) -> None:
    for text in comments:
        out.append(f"{INDENT * depth}# {text}" if text else f"{INDENT * depth}#")


def _header(keyword: str, name: str, params: tuple[ast.Param, ...], parens: bool) -> list[str]:
    """``keyword Name(params) {``, one parameter per line when it would be too long."""
    if not params and not parens:
        return [f"{keyword} {name} {{"]
    printed = [_param(p) for p in params]
    line = f"{keyword} {name}({', '.join(printed)}) {{"
    if len(line) <= MAX_WIDTH or not printed:
        return [line]
    return [f"{keyword} {name}(", *(f"{INDENT}{p}," for p in printed), ") {"]


def _param(param: ast.Param) -> str:
    type_ = f": {param.type}" if param.type is not None else ""
    if param.default is None:
        return f"{param.name}{type_}"
    return f"{param.name}{type_} = {format_expr(param.default)}"


def _network(net: ast.Network | ast.BlockDef, out: list[str], keyword="network") -> None:
    out.extend(_header(keyword, net.name, net.params, parens=False))
    for stmt in net.body:
        _comments(stmt.comments, 1, out)
        if isinstance(stmt, ast.Input) and stmt.shape is None:
            out.append(f"{INDENT}input {stmt.name}")
        elif isinstance(stmt, ast.Input):
            shape = ", ".join(format_expr(e) for e in stmt.shape)
            out.append(f"{INDENT}input {stmt.name}: [{shape}]")
        elif isinstance(stmt, ast.Defaults):
            out.append(f"{INDENT}defaults {stmt.call.func}({_args(stmt.call.args)})")
        elif isinstance(stmt, ast.Assign):
            _chain_lines(f"{stmt.name} = ", stmt.chain, out)
        elif isinstance(stmt, ast.Output):
            if stmt.chain is None:
                out.append(f"{INDENT}output {stmt.name}")
            else:
                _chain_lines(f"output {stmt.name} = ", stmt.chain, out)
        else:
            raise TypeError(f"not a network statement: {stmt!r}")
    out.append("}")


def _step(step: ast.Step) -> str:
    call = step.call
    text = f"{call.func}({_args(call.args)})" if call.args else call.func
    return f"{step.label}: {text}" if step.label is not None else text


def _source(step: ast.Step) -> str:
    """A merge or delay source: always with parentheses, even with no arguments."""
    text = f"{step.call.func}({_args(step.call.args)})"
    return f"{step.label}: {text}" if step.label is not None else text


def _chain_lines(prefix: str, chain: ast.Chain, out: list[str]) -> None:
    steps = [_step(s) for s in chain.steps]
    source = chain.source.id if isinstance(chain.source, ast.Name) else _source(chain.source)
    line = INDENT + prefix + " -> ".join([source, *steps])
    if len(line) <= MAX_WIDTH or not steps:
        out.append(line)
        return
    out.append(INDENT + prefix + source)
    out.extend(f"{INDENT * 2}-> {s}" for s in steps)


def _definition(keyword: str, item: ast.NeuronDef | ast.SurrogateDef, out: list[str]) -> None:
    out.extend(_header(keyword, item.name, item.params, parens=True))
    _statements(item.body, 1, out)
    out.append("}")


def _options(options: tuple[ast.Option, ...]) -> str:
    return "".join(f", {o.name}: {format_expr(o.value)}" for o in options)


def _statements(body: tuple, depth: int, out: list[str]) -> None:
    pad = INDENT * depth
    for stmt in body:
        _comments(stmt.comments, depth, out)
        if isinstance(stmt, ast.If):
            _if(stmt, depth, out, pad + "if ")
        else:
            out.append(pad + _simple_statement(stmt))


def _simple_statement(stmt) -> str:
    if isinstance(stmt, ast.Let):
        return f"let {stmt.name} = {format_expr(stmt.value)}"
    if isinstance(stmt, ast.State):
        return f"state {stmt.name} = {format_expr(stmt.init)}"
    if isinstance(stmt, ast.Charge):
        return f"charge {stmt.name} = {format_expr(stmt.value)}"
    if isinstance(stmt, (ast.Learn, ast.Buffer)):
        keyword = "param" if isinstance(stmt, ast.Learn) else "buffer"
        shape = "" if stmt.shape is None else f"[{', '.join(map(format_expr, stmt.shape))}]"
        return f"{keyword} {stmt.name}{shape} = {format_expr(stmt.value)}"
    if isinstance(stmt, ast.Steps):
        return f"steps {format_expr(stmt.value)}"
    if isinstance(stmt, ast.Window):
        return f"window {format_expr(stmt.value)}{_options(stmt.options)}"
    if isinstance(stmt, ast.Update):
        return f"update {stmt.name} = {format_expr(stmt.value)}"
    if isinstance(stmt, ast.Emit):
        return f"emit {format_expr(stmt.value)}"
    if isinstance(stmt, ast.Fire):
        return f"fire {format_expr(stmt.condition)}{_options(stmt.options)}"
    if isinstance(stmt, ast.Reset):
        if stmt.kind == "none":
            return "reset none"
        op = "-=" if stmt.kind == "soft" else "="
        return f"reset {stmt.target} {op} {format_expr(stmt.value)}{_options(stmt.options)}"
    if isinstance(stmt, ast.Require):
        return f"require {format_expr(stmt.condition)}, {quote_string(stmt.message)}"
    if isinstance(stmt, ast.Primitive):
        return f"primitive {format_expr(stmt.value)}"
    if isinstance(stmt, ast.Gradient):
        return f"gradient {format_expr(stmt.value)}"
    raise TypeError(f"not a statement: {stmt!r}")


def _if(stmt: ast.If, depth: int, out: list[str], opener: str) -> None:
    """``if c {`` (or ``} else if c {`` via ``opener``) with its branches."""
    pad = INDENT * depth
    out.append(f"{opener}{format_expr(stmt.condition)} {{")
    _statements(stmt.then, depth + 1, out)
    orelse = stmt.orelse
    if len(orelse) == 1 and isinstance(orelse[0], ast.If) and not orelse[0].comments:
        # `else if` reads back as an else block holding just that `if`: the same tree.
        _if(orelse[0], depth, out, pad + "} else if ")
        return
    if orelse:
        out.append(pad + "} else {")
        _statements(orelse, depth + 1, out)
    out.append(pad + "}")
