"""Walk the statements of a definition's body, in order, for every kind of definition.

:class:`BodyWalker` handles the statements every body may hold: ``require`` (evaluated;
a failure is located at the call), ``if`` (the branch its constant condition takes) and
``let`` (binds a name; a tensor value goes through the kind's :meth:`bind_tensor`).
Every other statement goes to the kind's ``visit_<Statement>`` method (``visit_Fire``);
a statement the kind has no method for is its located "does not belong here" diagnostic.
:class:`OptionRules` validates a statement's options (``fire ..., surrogate: s``).
"""

from __future__ import annotations

from dataclasses import dataclass

from snndsl import ir
from snndsl.diagnostics import Reporter, SpecError, did_you_mean
from snndsl.names import identifier_problem
from snndsl.semantics.evaluate import Dyn, Evaluator, as_ir, coerce
from snndsl.syntax import ast
from snndsl.syntax.formatter import format_expr


class BodyWalker:
    """Runs a definition's body; a definition kind subclasses it with its statements.

    A subclass sets ``reporter``, ``definition``, ``env`` (the names the body reads),
    ``call`` and ``bound`` (the call and its bound arguments; ``bound`` None when a
    failed ``require`` points at the whole call) before :meth:`walk`, and provides
    :meth:`evaluator`, :meth:`misplaced` and a ``visit_<Statement>`` per statement kind.
    """

    CODE = "E0401"  # the code of this kind's definition errors
    LENIENT = False  # True: a condition that is not a bool counts as false, no error
    RESERVED: tuple[str, ...] = ()  # names a 'let' may not take besides those in env

    reporter: Reporter
    definition: ast.NeuronDef | ast.SurrogateDef
    env: dict[str, object]
    call: ast.Call
    bound: object | None = None

    # ------------------------------------------------------------------ walking
    def walk(self, body) -> None:
        for stmt in body:
            if self.finished():
                return
            self.visit(stmt)

    def visit(self, stmt) -> None:
        handler = getattr(self, f"visit_{type(stmt).__name__}", None)
        if handler is None:
            raise self.misplaced(stmt)
        handler(stmt)

    def visit_Require(self, stmt: ast.Require) -> None:
        ok = self.evaluator().eval(stmt.condition)
        if not isinstance(ok, bool) and not self.LENIENT:
            raise self.fail("a 'require' condition must be a bool", stmt.span)
        if ok is not True:
            raise self.require_failed(stmt)

    def visit_If(self, stmt: ast.If) -> None:
        self.walk(self.branch(self.evaluator().eval(stmt.condition), stmt))

    def visit_Let(self, stmt: ast.Let) -> None:
        self.check_new_name(stmt.name, stmt.span)
        value = self.evaluator().eval(stmt.value)
        if isinstance(value, Dyn):
            value = Dyn(self.bind_tensor(stmt, as_ir(value)), matrix=value.matrix)
        self.env[stmt.name] = value

    # ------------------------------------------------------------------ hooks
    def evaluator(self) -> Evaluator:
        """An evaluator over the names bound so far."""
        raise NotImplementedError

    def misplaced(self, stmt) -> SpecError:
        """The located error for a statement this kind of definition cannot hold."""
        raise NotImplementedError

    def finished(self) -> bool:
        """True once the rest of the body is not to be walked."""
        return False

    def fail(self, message: str, span, hint: str | None = None) -> SpecError:
        return self.reporter.fail(self.CODE, message, span, hint)

    def branch(self, cond, stmt: ast.If) -> tuple:
        """The statements of the branch a constant ``if`` takes."""
        if not isinstance(cond, bool):
            if not self.LENIENT:
                raise self.non_constant_if(stmt)
            cond = False
        return stmt.then if cond else stmt.orelse

    def non_constant_if(self, stmt: ast.If) -> SpecError:
        return self.fail("an 'if' condition must be a constant bool (parameters only)", stmt.span)

    def require_failed(self, stmt: ast.Require) -> SpecError:
        return require_failure(self.reporter, self.definition.name, stmt, self.call, self.bound)

    def check_new_name(self, name: str, span) -> None:
        problem = identifier_problem(name)
        if problem:
            raise self.reporter.fail("E0101", problem, span)
        if name in self.RESERVED or name in self.env:
            raise self.reporter.fail("E0102", f"'{name}' is already defined here", span)

    def bind_tensor(self, stmt: ast.Let, value: ir.PyExpr) -> ir.PyExpr:
        """What the name of a tensor-valued ``let`` stands for (usually a new local)."""
        raise NotImplementedError


def require_failure(
    reporter: Reporter, owner: str, stmt: ast.Require, call: ast.Call, bound=None
) -> SpecError:
    """The E0403 of a failed ``require`` in a definition called by ``call``: located at
    the first argument the condition reads that the call gave (with ``bound``), else at
    the whole call."""
    span = call.span if bound is None else require_span(stmt.condition, bound, call)
    return reporter.fail(
        "E0403",
        f"{owner}: {stmt.message}",
        span,
        f"the requirement is: {format_expr(stmt.condition)}",
    )


def require_span(condition: ast.Expr, bound, call: ast.Call):
    """Where a failed ``require`` points: the first argument it reads that the call gave,
    else the whole call."""
    for name in names_in(condition):
        if name in bound.given and name in bound.nodes:
            return bound.nodes[name].span
    return call.span


def names_in(expr: ast.Expr) -> list[str]:
    """The plain names ``expr`` reads, in order (call names and keywords excluded)."""
    if isinstance(expr, ast.Name):
        return [expr.id]
    if isinstance(expr, ast.Binary):
        return names_in(expr.left) + names_in(expr.right)
    if isinstance(expr, ast.Unary):
        return names_in(expr.operand)
    if isinstance(expr, ast.Call):
        return [n for a in expr.args for n in names_in(a.value)]
    if isinstance(expr, ast.ListExpr):
        return [n for i in expr.items for n in names_in(i)]
    return []


def body_has(body, cls) -> bool:
    """Whether a statement of type ``cls`` is in ``body``, on any branch."""
    for stmt in body:
        if isinstance(stmt, cls):
            return True
        if isinstance(stmt, ast.If) and (body_has(stmt.then, cls) or body_has(stmt.orelse, cls)):
            return True
    return False


@dataclass(frozen=True)
class OptionRules:
    """The options one statement keyword takes (``fire``: ``surrogate``), each with its
    type (None: the statement checks the value itself).  ``hint`` replaces the usual
    hint (a close name, else the list of options) of an unknown option."""

    keyword: str
    types: tuple[tuple[str, str | None], ...]
    hint: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.types)

    def check_name(self, opt: ast.Option, reporter: Reporter) -> None:
        """E0202 when the statement has no option called ``opt.name``."""
        if opt.name not in self.names:
            raise reporter.fail(
                "E0202",
                f"'{self.keyword}' has no option '{opt.name}'",
                opt.span,
                self.hint
                or did_you_mean(opt.name, self.names)
                or f"its options are: {', '.join(self.names)}",
            )

    def check_names(self, options: tuple[ast.Option, ...], reporter: Reporter) -> None:
        for opt in options:
            self.check_name(opt, reporter)

    def value(self, opt: ast.Option, ev: Evaluator):
        """The value of ``opt`` converted to its type (E0204 when it is not one)."""
        value = ev.eval(opt.value)
        type_ = dict(self.types)[opt.name]
        if type_ is None:
            return value
        try:
            return coerce(value, type_)
        except TypeError as err:
            raise ev.reporter.fail("E0204", f"option '{opt.name}': {err}", opt.value.span) from None

    def first(self, options: tuple[ast.Option, ...], name: str, ev: Evaluator, default):
        """All names checked, then the value of the first option called ``name``."""
        self.check_names(options, ev.reporter)
        for opt in options:
            if opt.name == name:
                return self.value(opt, ev)
        return default
