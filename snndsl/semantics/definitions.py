"""The neuron, surrogate and block definitions a spec can call, and calls bound to them.

:class:`Definitions` holds the prelude's and the user's definitions (prelude first),
checks each as it is added (its name, its parameters, a surrogate's one result), computes
their signatures, and binds calls to surrogates into surrogate values, checking the
surrogate's ``require`` statements with the call's arguments.
"""

from __future__ import annotations

import dataclasses

from snndsl.diagnostics import Reporter, did_you_mean
from snndsl.names import identifier_problem
from snndsl.semantics.body import BodyWalker, body_has
from snndsl.semantics.evaluate import PARAM_TYPES, Evaluator, SurrogateValue, coerce, infer_type
from snndsl.semantics.signature import ParamSpec, bind
from snndsl.syntax import ast


class Definitions:
    """The neuron and surrogate definitions visible to a spec (prelude first)."""

    def __init__(self, reporter: Reporter):
        self.reporter = reporter
        self.neurons: dict[str, ast.NeuronDef] = {}
        self.surrogates: dict[str, ast.SurrogateDef] = {}
        self.blocks: dict[str, ast.BlockDef] = {}
        self.origin: dict[str, str] = {}
        self.sources: dict[str, object] = {}  # imported definitions: their SourceFile
        # memos for one check run: many layers call the same definition the same way
        self._signatures: dict[int, tuple[ParamSpec, ...]] = {}
        self.compiled: dict[tuple, object] = {}  # a neuron's memo key -> its NeuronStep

    def add(
        self,
        item: ast.NeuronDef | ast.SurrogateDef,
        origin: str,
        reporter: Reporter,
        namespace: str | None = None,
    ):
        """Add one definition; with ``namespace`` (a library's prelude file), it is
        called ``namespace.Name`` and its name in the IR is that qualified name."""
        problem = identifier_problem(item.name)
        if problem:
            raise reporter.fail("E0101", problem, item.name_span)
        if namespace is not None:
            item = dataclasses.replace(item, name=f"{namespace}.{item.name}")
        if item.name in self.neurons or item.name in self.surrogates or item.name in self.blocks:
            raise reporter.fail(
                "E0102",
                f"'{item.name}' is already defined ({self.origin[item.name]})",
                item.name_span,
                "give your definition a new name",
            )
        self.origin[item.name] = origin
        if isinstance(item, ast.BlockDef):
            check_params(item.params, reporter, f"block '{item.name}'")
            self.blocks[item.name] = item
            return
        forbidden = ("x",) if isinstance(item, ast.SurrogateDef) else ("x", "spike")
        check_params(item.params, reporter, f"'{item.name}'", forbidden=forbidden)
        if isinstance(item, ast.SurrogateDef):
            check_one_result(item.body, reporter)
        if isinstance(item, ast.NeuronDef):
            self.neurons[item.name] = item
        else:
            self.surrogates[item.name] = item

    # ------------------------------------------------------------------ signatures
    def signature(self, definition, reporter: Reporter) -> tuple[ParamSpec, ...]:
        """The parameters of ``definition`` with their evaluated defaults (computed once
        per definition; a failure is raised again on every call, never remembered)."""
        known = self._signatures.get(id(definition))
        if known is None:
            known = self._signatures[id(definition)] = self._signature(definition, reporter)
        return known

    def _signature(self, definition, reporter: Reporter) -> tuple[ParamSpec, ...]:
        specs = []
        ev = Evaluator({}, reporter, self.call_hook, f"the defaults of '{definition.name}'")
        for p in definition.params:
            if p.default is None:
                specs.append(ParamSpec(p.name, p.type))
                continue
            default = ev.eval(p.default)
            type_ = p.type or infer_type(default)
            if type_ is None:
                raise reporter.fail(
                    "E0401",
                    f"cannot infer the type of parameter '{p.name}' from its default",
                    p.span,
                    f"annotate it: {p.name}: float? = none",
                )
            try:
                default = coerce(default, type_)
            except TypeError as err:
                raise reporter.fail(
                    "E0204", f"default of '{p.name}': {err}", p.default.span
                ) from None
            specs.append(ParamSpec(p.name, type_, default))
        return tuple(specs)

    def surrogate_signature(self, definition, reporter: Reporter) -> tuple[ParamSpec, ...]:
        """A surrogate's parameters plus the implicit ``spiking`` switch."""
        params = self.signature(definition, reporter)
        for p, node in zip(params, definition.params):
            if p.required:
                raise reporter.fail(
                    "E0405",
                    f"surrogate parameters need defaults; '{p.name}' has none",
                    node.span,
                    f"write {p.name}: {p.type} = ...",
                )
            if p.type not in ("float", "int"):
                raise reporter.fail(
                    "E0405",
                    f"surrogate parameters are floats (or ints, fixed when generating); "
                    f"'{p.name}' is {p.type}",
                    node.span,
                    f"write {p.name}: float = 1.0",
                )
        if any(p.name == "spiking" for p in params):
            return params
        return (*params, ParamSpec("spiking", "bool", True))

    def default_surrogate(self, name: str) -> SurrogateValue:
        """A prelude surrogate with its default parameters (``Sigmoid()``, ``ATan()``)."""
        return self.call_hook(ast.Call(name, ()), Evaluator({}, self.reporter))

    def call_hook(self, call: ast.Call, ev: Evaluator):
        """Calls inside expressions may construct surrogate values."""
        definition = self.surrogates.get(call.func)
        if definition is None:
            return NotImplemented
        params = self.surrogate_signature(definition, ev.reporter)
        bound = bind(call, params, ev, ev.reporter, f"surrogate '{call.func}'")
        args = tuple((p.name, bound.values[p.name]) for p in params if p.name != "spiking")
        spiking = bound.values["spiking"]
        SurrogateRequires(self, definition, dict(args), ev.reporter, call).walk(definition.body)
        if not spiking and not body_has(definition.body, ast.Primitive):
            raise ev.reporter.fail(
                "E0207",
                f"'{definition.name}' defines no primitive function, so spiking=false "
                "is not available",
                bound.span_of("spiking", call),
            )
        return SurrogateValue(definition, args, spiking)


class SurrogateRequires(BodyWalker):
    """A surrogate's ``require`` statements, checked with the concrete arguments of one call.

    Only ``require`` and ``if`` are walked, leniently (a condition that is not true takes
    the ``else`` branch, a requirement that is not true fails at the call); the rest of
    the body is checked when the surrogate is compiled.
    """

    LENIENT = True

    def __init__(self, defs: Definitions, definition, env: dict, reporter: Reporter, call):
        self.defs, self.definition, self.env = defs, definition, env
        self.reporter, self.call = reporter, call

    def visit(self, stmt) -> None:
        if isinstance(stmt, (ast.Require, ast.If)):
            super().visit(stmt)

    def evaluator(self) -> Evaluator:
        return Evaluator(self.env, self.reporter, self.defs.call_hook)


def check_params(
    params: tuple[ast.Param, ...],
    reporter: Reporter,
    owner: str,
    forbidden: tuple[str, ...] = (),
) -> None:
    seen: set[str] = set()
    for p in params:
        problem = identifier_problem(p.name)
        if problem:
            raise reporter.fail("E0101", problem, p.span)
        if p.name in forbidden:
            raise reporter.fail(
                "E0101", f"'{p.name}' is the input of {owner} and cannot be a parameter", p.span
            )
        if p.name in seen:
            raise reporter.fail("E0102", f"parameter '{p.name}' of {owner} given twice", p.span)
        seen.add(p.name)
        if p.default is None and p.type is None:
            raise reporter.fail(
                "E0401",
                f"parameter '{p.name}' of {owner} has neither a type nor a default",
                p.span,
                f"write {p.name}: int (a required argument) or {p.name} = 1",
            )
        if p.type is not None and p.type.rstrip("?") not in PARAM_TYPES:
            raise reporter.fail(
                "E0401",
                f"unknown type '{p.type}'",
                p.span,
                did_you_mean(p.type.rstrip("?"), PARAM_TYPES)
                or f"types are: {', '.join(PARAM_TYPES)}",
            )


def check_one_result(body, reporter: Reporter, seen: frozenset = frozenset()) -> None:
    """On every path through a surrogate body, at most one primitive and one gradient."""
    seen = set(seen)
    for stmt in body:
        if isinstance(stmt, (ast.Primitive, ast.Gradient)):
            kind = type(stmt).__name__.lower()
            if kind in seen:
                raise reporter.fail("E0405", f"a surrogate has one '{kind}'", stmt.span)
            seen.add(kind)
        elif isinstance(stmt, ast.If):
            check_one_result(stmt.then, reporter, frozenset(seen))
            check_one_result(stmt.orelse, reporter, frozenset(seen))
