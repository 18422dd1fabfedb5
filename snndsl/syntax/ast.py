"""The spec AST: what the text and the YAML front ends both produce.

Nodes are frozen dataclasses.  Every node carries a :class:`Span` (excluded from
equality, so a spec parsed from text and the same spec loaded from YAML compare
equal) and a reference to its :class:`SourceFile` lives on the :class:`Module`.
Leading comments are kept on items and statements so ``snndsl fmt`` does not drop them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from snndsl.diagnostics import UNKNOWN_SPAN, SourceFile, Span


def _span() -> Span:
    return field(default=UNKNOWN_SPAN, compare=False, repr=False)


# --------------------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Num:
    value: int | float
    span: Span = _span()


@dataclass(frozen=True)
class Bool:
    value: bool
    span: Span = _span()


@dataclass(frozen=True)
class NoneLit:
    span: Span = _span()


@dataclass(frozen=True)
class Str:
    value: str
    span: Span = _span()


@dataclass(frozen=True)
class Name:
    id: str
    span: Span = _span()


@dataclass(frozen=True)
class Arg:
    """One call argument; ``name`` is None for a positional argument."""

    name: str | None
    value: Expr
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Arg, ...]
    span: Span = _span()
    func_span: Span = _span()


@dataclass(frozen=True)
class Unary:
    op: str  # '-', '+', 'not'
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Binary:
    """Arithmetic, comparison, boolean and null-coalescing binary operators."""

    op: str  # + - * / ** == != < <= > >= and or ??
    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(frozen=True)
class ListExpr:
    items: tuple[Expr, ...]
    span: Span = _span()


Expr = Num | Bool | NoneLit | Str | Name | Call | Unary | Binary | ListExpr

ARITH_OPS = ("+", "-", "*", "/", "@", "**")
COMPARE_OPS = ("==", "!=", "<", "<=", ">", ">=")
BOOL_OPS = ("and", "or")

# --------------------------------------------------------------------------- networks


@dataclass(frozen=True)
class Param:
    """A parameter of a network or neuron: ``name[: type] = default`` or ``name: type``
    (a neuron parameter every call must give)."""

    name: str
    default: Expr | None
    type: str | None = None  # 'float', 'int', 'bool', 'surrogate', with '?' for optional
    span: Span = _span()


@dataclass(frozen=True)
class Step:
    """One operation in a chain, optionally labelled: ``fc1: Linear(4)``."""

    call: Call
    label: str | None = None
    span: Span = _span()
    label_span: Span = _span()


@dataclass(frozen=True)
class Chain:
    """``source -> step -> ...``; the source is a name, a merge such as ``Add(a, b)``, or
    ``delay(h)`` (the value of ``h`` one time step earlier)."""

    source: Name | Step
    steps: tuple[Step, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Input:
    name: str
    shape: tuple[Expr, ...] | None  # None: a block input, shaped by its instance
    comments: tuple[str, ...] = ()
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Assign:
    name: str
    chain: Chain
    comments: tuple[str, ...] = ()
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Output:
    """``output y`` or ``output y = chain``."""

    name: str
    chain: Chain | None = None
    comments: tuple[str, ...] = ()
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Defaults:
    """``defaults LIF(tau=2.0)``: keyword arguments for every call of LIF in this scope
    (and in the blocks it instantiates) that does not give them itself."""

    call: Call
    comments: tuple[str, ...] = ()
    span: Span = _span()


NetStmt = Input | Assign | Output | Defaults


@dataclass(frozen=True)
class Network:
    name: str
    params: tuple[Param, ...]
    body: tuple[NetStmt, ...]
    comments: tuple[str, ...] = ()
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class BlockDef:
    """A reusable, parameterised piece of network with its own inputs and one output."""

    name: str
    params: tuple[Param, ...]
    body: tuple[NetStmt, ...]
    comments: tuple[str, ...] = ()
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Import:
    """``import "path.snn"``: the definitions of another spec file (relative to this one)."""

    path: str
    comments: tuple[str, ...] = ()
    span: Span = _span()
    path_span: Span = _span()


# --------------------------------------------------------------------------- neurons


@dataclass(frozen=True)
class Let:
    name: str
    value: Expr
    comments: tuple[str, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class State:
    name: str
    init: Expr
    comments: tuple[str, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Charge:
    name: str
    value: Expr
    comments: tuple[str, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Learn:
    """``param w = init``: a learnable parameter of each neuron layer.

    A scalar, or in a parallel neuron a tensor: ``param weight[T, T] = kaiming_uniform(a)``.
    A dotted name (``recurrent.weight``) keeps it in a submodule of the layer.
    """

    name: str
    value: Expr
    comments: tuple[str, ...] = ()
    span: Span = _span()
    shape: tuple[Expr, ...] | None = None


@dataclass(frozen=True)
class Buffer:
    """``buffer m[T, T] = init``: a tensor a parallel neuron keeps but does not learn."""

    name: str
    value: Expr
    comments: tuple[str, ...] = ()
    span: Span = _span()
    shape: tuple[Expr, ...] | None = None


@dataclass(frozen=True)
class Steps:
    """``steps T``: a parallel neuron runs on sequences of exactly T steps."""

    value: Expr
    comments: tuple[str, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Window:
    """``window k[, when: cond]``: single-step form keeps the last k inputs (when cond)."""

    value: Expr
    options: tuple[Option, ...] = ()
    comments: tuple[str, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Update:
    """``update w = e``: a new value for a state variable, after the spike."""

    name: str
    value: Expr
    comments: tuple[str, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Emit:
    """``emit e``: what the neuron outputs instead of its spike (e.g. LIAF)."""

    value: Expr
    comments: tuple[str, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Option:
    name: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Fire:
    """``fire v >= v_threshold, surrogate: s``: spike = surrogate(v - v_threshold)."""

    condition: Expr
    options: tuple[Option, ...] = ()
    comments: tuple[str, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Reset:
    """``reset v = value`` (hard), ``reset v -= value`` (soft) or ``reset none``."""

    kind: str  # 'hard', 'soft', 'none'
    target: str | None = None
    value: Expr | None = None
    options: tuple[Option, ...] = ()
    comments: tuple[str, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Require:
    condition: Expr
    message: str
    comments: tuple[str, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class If:
    condition: Expr
    then: tuple[BodyStmt, ...]
    orelse: tuple[BodyStmt, ...] = ()
    comments: tuple[str, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class NeuronDef:
    name: str
    params: tuple[Param, ...]
    body: tuple[NeuronStmt, ...]
    comments: tuple[str, ...] = ()
    span: Span = _span()
    name_span: Span = _span()
    parallel: bool = False  # `parallel neuron`: sequence-level equations


# --------------------------------------------------------------------------- surrogates


@dataclass(frozen=True)
class Primitive:
    value: Expr
    comments: tuple[str, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Gradient:
    value: Expr
    comments: tuple[str, ...] = ()
    span: Span = _span()


# Neuron and surrogate bodies share one statement syntax (the checker says which
# statements belong where).
BodyStmt = (
    Let
    | State
    | Charge
    | Fire
    | Reset
    | Require
    | If
    | Primitive
    | Gradient
    | Learn
    | Update
    | Emit
    | Buffer
    | Steps
    | Window
)
NeuronStmt = BodyStmt
SurrogateStmt = BodyStmt


@dataclass(frozen=True)
class SurrogateDef:
    """A surrogate spike function: Heaviside forward, ``gradient`` as its derivative."""

    name: str
    params: tuple[Param, ...]
    body: tuple[SurrogateStmt, ...]
    comments: tuple[str, ...] = ()
    span: Span = _span()
    name_span: Span = _span()


Item = Network | NeuronDef | SurrogateDef | BlockDef | Import


@dataclass(frozen=True)
class Module:
    items: tuple[Item, ...]
    trailing_comments: tuple[str, ...] = ()
    source: SourceFile | None = field(default=None, compare=False, repr=False)

    def networks(self) -> tuple[Network, ...]:
        return tuple(i for i in self.items if isinstance(i, Network))

    def neurons(self) -> tuple[NeuronDef, ...]:
        return tuple(i for i in self.items if isinstance(i, NeuronDef))

    def blocks(self) -> tuple[BlockDef, ...]:
        return tuple(i for i in self.items if isinstance(i, BlockDef))

    def imports(self) -> tuple[Import, ...]:
        return tuple(i for i in self.items if isinstance(i, Import))

    def surrogates(self) -> tuple[SurrogateDef, ...]:
        return tuple(i for i in self.items if isinstance(i, SurrogateDef))
