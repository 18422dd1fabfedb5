"""Bind call arguments to a signature: positional and keyword, defaults, inferred values.

One binder serves layers, neurons and surrogates, so every call in a spec reports
unknown, missing, duplicated and surplus arguments the same way.  Parameters marked
``inferable`` (``in_features``, ``num_features``, ...) may be left out: a call with
fewer positional arguments than required skips them, so ``Linear(4)`` means
``out_features=4`` while ``Linear(8, 4)`` gives both, as in torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from snndsl.diagnostics import Reporter, did_you_mean
from snndsl.semantics.evaluate import Evaluator, Value, coerce, describe
from snndsl.syntax import ast

REQUIRED = object()


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str  # see evaluate.coerce; 'size' is an int or a list of ints, 'any' is unchecked
    default: object = REQUIRED
    inferable: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Bound:
    """Bound arguments: values by parameter name, and where each came from."""

    values: dict[str, Value]
    nodes: dict[str, ast.Arg]
    given: frozenset[str]

    def span_of(self, name: str, call: ast.Call):
        arg = self.nodes.get(name)
        return arg.span if arg is not None else call.span


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _coerce_one(value: Value, base: str, ndim: int | None) -> Value:
    if base == "any":
        return value
    if base == "size":  # an int, or one int per spatial dimension
        if _is_int(value):
            return value
        if isinstance(value, tuple) and value and all(_is_int(v) for v in value):
            if ndim is not None and len(value) != ndim:
                raise TypeError(f"expected an int or a list of {ndim} ints")
            return value
        raise TypeError(
            f"expected an int or a list of {ndim or 'several'} ints, got {describe(value)}"
        )
    if base == "fsize":  # a number, or one per spatial dimension (as floats)
        if _is_int(value) or isinstance(value, float):
            return float(value)
        if (
            isinstance(value, tuple)
            and value
            and all(_is_int(v) or isinstance(v, float) for v in value)
        ):
            if ndim is not None and len(value) != ndim:
                raise TypeError(f"expected a number or a list of {ndim} numbers")
            return tuple(float(v) for v in value)
        raise TypeError(f"expected a number or a list of numbers, got {describe(value)}")
    return coerce(value, base)


def _coerce(value: Value, type_: str, ndim: int | None) -> Value:
    """Coerce to ``type_``: a base type, ``a|b`` alternatives, ``?`` for optional."""
    optional = type_.endswith("?")
    if value is None and optional:
        return None
    errors = []
    for base in type_.rstrip("?").split("|"):
        try:
            return _coerce_one(value, base, ndim)
        except TypeError as err:
            errors.append(str(err))
    if len(errors) == 1:
        raise TypeError(errors[0])
    raise TypeError(
        " or ".join(e.removeprefix("expected ").split(", got")[0] for e in errors)
        + f" expected, got {describe(value)}"
    )


def bind(
    call: ast.Call,
    params: tuple[ParamSpec, ...],
    evaluator: Evaluator,
    reporter: Reporter,
    what: str,
    ndim: int | None = None,
) -> Bound:
    """Bind ``call``'s arguments; raise SpecError on the first problem."""
    names = [p.name for p in params]
    by_name = {p.name: p for p in params}
    values: dict[str, Value] = {}
    nodes: dict[str, ast.Arg] = {}
    positional = [a for a in call.args if a.name is None]
    keywords = [a for a in call.args if a.name is not None]
    seen_keyword = False
    for a in call.args:
        if a.name is not None:
            seen_keyword = True
        elif seen_keyword:
            raise reporter.fail("E0001", "positional argument after a keyword argument", a.span)
    for a in keywords:
        if a.name not in by_name:
            raise reporter.fail(
                "E0202",
                f"{what} has no argument '{a.name}'",
                a.name_span,
                did_you_mean(a.name, names) or f"its arguments are: {', '.join(names)}",
            )
        if a.name in nodes:
            raise reporter.fail("E0205", f"argument '{a.name}' given twice", a.span)
        nodes[a.name] = a
    free = [p for p in params if p.name not in nodes]
    needed = [p for p in free if p.required]
    if len(positional) < len(needed):
        # Leave out inferable parameters, as many as needed, from the front.
        skippable = [p for p in needed if p.inferable]
        skip = len(needed) - len(positional)
        skipped = {p.name for p in skippable[:skip]}
        free = [p for p in free if p.name not in skipped]
    if len(positional) > len(free):
        raise reporter.fail(
            "E0206",
            f"{what} takes at most {len(free) + len(nodes)} argument(s) here, got {len(call.args)}",
            positional[len(free)].span,
            f"its arguments are: {', '.join(names)}",
        )
    for p, a in zip(free, positional):
        nodes[p.name] = a
    for name, a in nodes.items():
        raw = evaluator.eval(a.value)
        try:
            values[name] = _coerce(raw, by_name[name].type, ndim)
        except TypeError as err:
            raise reporter.fail(
                "E0204", f"argument '{name}' of {what}: {err}", a.value.span
            ) from None
    for p in params:
        if p.name in values:
            continue
        if p.inferable:
            continue
        if p.required:
            raise reporter.fail(
                "E0203",
                f"{what} needs argument '{p.name}'",
                call.span,
                f"write {call.func}(..., {p.name}=...)",
            )
        values[p.name] = p.default
    return Bound(values, nodes, frozenset(nodes))
