"""The resolved IR: the contract between the semantic checks and the code generator.

Everything here is validated and resolved: shapes are concrete, neuron equations are
trees of a closed set of :data:`PyExpr` node types, constants are Python values.  The IR
says *what* a network computes, never *how* a target spells it: spec names (labels,
values, outputs) are validated identifiers, locals are names scoped to one neuron's
equations, surrogates are referred to by :class:`SurrogateKey`.  Module attributes,
class names and the final spelling of locals belong to each backend's own namespace
(for PyTorch, :mod:`snndsl.backends.torch.naming`).  Backends only read this IR; they
never see the spec AST.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# --------------------------------------------------------------------------- expressions
# The closed set of expression nodes generated code is printed from (a backend's printer,
# e.g. snndsl.backends.torch.printer.PythonPrinter, has one method per node type).


@dataclass(frozen=True)
class Const:
    value: int | float | bool | None


@dataclass(frozen=True)
class Local:
    """A value local to one neuron's (or surrogate's) equations.  Names are unique within
    that scope; a backend may respell one that clashes with its own names."""

    name: str


@dataclass(frozen=True)
class BinOp:
    op: str  # + - * / **
    left: PyExpr
    right: PyExpr


@dataclass(frozen=True)
class Neg:
    operand: PyExpr


@dataclass(frozen=True)
class Func:
    """An element-wise function of :data:`snndsl.semantics.functions.FUNCTIONS`."""

    name: str
    args: tuple[PyExpr, ...]


@dataclass(frozen=True)
class Compare:
    """An element-wise comparison: a bool tensor."""

    op: str  # == != < <= > >=
    left: PyExpr
    right: PyExpr


@dataclass(frozen=True)
class AsFloat:
    """A bool tensor as 0.0/1.0 in the dtype of ``like``: ``(cond).to(like)``."""

    operand: PyExpr
    like: PyExpr


@dataclass(frozen=True)
class FullLike:
    """A tensor shaped like ``like`` (with its dtype and device) filled with the scalar
    ``value``: what a ``where`` between two scalars needs to keep the network's dtype
    (``torch.where(c, 1.0, 0.1)`` alone would be float32 in a float64 or fp16 model)."""

    value: PyExpr
    like: PyExpr


@dataclass(frozen=True)
class ParamRef:
    """A parameter (or buffer) ``name`` held by the neuron layer labelled ``layer``."""

    layer: str
    name: str


@dataclass(frozen=True)
class Index:
    """``operand[index]``: the row of ``operand`` for the current time step (``index``
    is the neuron-scoped name of the step counter)."""

    operand: PyExpr
    index: str


@dataclass(frozen=True)
class Detach:
    operand: PyExpr


@dataclass(frozen=True)
class MatVec:
    """``matrix @ vector`` in a neuron: the matrix applied to each sample's feature vector
    (``[n, m]`` times ``[N, m]`` is ``[N, n]``); with ``transpose``, its transpose applied
    (what a derived backward pass needs)."""

    matrix: PyExpr
    vector: PyExpr
    transpose: bool = False


@dataclass(frozen=True)
class Outer:
    """The sum over samples of the outer products of ``left`` and ``right`` (``[N, n]``
    and ``[N, m]`` give ``[n, m]``): the gradient of a :class:`MatVec`'s matrix."""

    left: PyExpr
    right: PyExpr


@dataclass(frozen=True)
class SurrogateKey:
    """Which surrogate function: its definition name and the values of its int
    parameters (fixed at generation time: one backward pass per set of values)."""

    name: str
    static: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Spike:
    """Heaviside step of ``arg`` in the forward pass (1 where ``arg >= 0``, or where
    ``arg > 0`` when ``strict``), whose gradient is the surrogate's derivative with the
    runtime float ``params`` (the same for both)."""

    surrogate: SurrogateKey
    arg: PyExpr
    params: tuple[float, ...]
    strict: bool = False  # fire a > b (snnTorch, Norse, NIR) rather than a >= b


@dataclass(frozen=True)
class SurrogateGrad:
    """The surrogate's derivative at ``arg`` (used by derived backward passes, see
    autodiff.py)."""

    surrogate: SurrogateKey
    arg: PyExpr
    params: tuple[float, ...]


PyExpr = (
    Const
    | Local
    | BinOp
    | Neg
    | Func
    | Compare
    | AsFloat
    | FullLike
    | ParamRef
    | Index
    | Detach
    | MatVec
    | Outer
    | Spike
    | SurrogateGrad
)


def map_children(e: PyExpr, f) -> PyExpr:
    """``e`` with each of its direct sub-expressions replaced by ``f(sub-expression)``."""
    if isinstance(e, (BinOp, Compare, Outer)):
        return replace(e, left=f(e.left), right=f(e.right))
    if isinstance(e, MatVec):
        return replace(e, matrix=f(e.matrix), vector=f(e.vector))
    if isinstance(e, (Neg, Detach, Index)):
        return replace(e, operand=f(e.operand))
    if isinstance(e, AsFloat):
        return replace(e, operand=f(e.operand), like=f(e.like))
    if isinstance(e, FullLike):
        return replace(e, value=f(e.value), like=f(e.like))
    if isinstance(e, Func):
        return replace(e, args=tuple(f(a) for a in e.args))
    if isinstance(e, (Spike, SurrogateGrad)):
        return replace(e, arg=f(e.arg))
    return e  # Const, Local, ParamRef


def substitute(e: PyExpr, mapping: dict[str, PyExpr]) -> PyExpr:
    """``e`` with each local named in ``mapping`` replaced by its expression."""
    if isinstance(e, Local):
        return mapping.get(e.name, e)
    return map_children(e, lambda child: substitute(child, mapping))


def rename_locals(e: PyExpr, names: dict[str, str]) -> PyExpr:
    """``e`` with each local (and index) named in ``names`` respelled."""
    if isinstance(e, Local):
        return Local(names[e.name]) if e.name in names else e
    if isinstance(e, Index) and e.index in names:
        e = replace(e, index=names[e.index])
    return map_children(e, lambda child: rename_locals(child, names))


def locals_used(e: PyExpr) -> set[str]:
    """The names of the locals an expression reads."""
    if isinstance(e, Local):
        return {e.name}
    if isinstance(e, (BinOp, Compare, Outer)):
        return locals_used(e.left) | locals_used(e.right)
    if isinstance(e, MatVec):
        return locals_used(e.matrix) | locals_used(e.vector)
    if isinstance(e, Index):
        return locals_used(e.operand) | {e.index}
    if isinstance(e, (Neg, Detach)):
        return locals_used(e.operand)
    if isinstance(e, AsFloat):
        return locals_used(e.operand) | locals_used(e.like)
    if isinstance(e, FullLike):
        return locals_used(e.value) | locals_used(e.like)
    if isinstance(e, Func):
        return set().union(*(locals_used(a) for a in e.args))
    if isinstance(e, (Spike, SurrogateGrad)):
        return locals_used(e.arg)
    return set()


@dataclass(frozen=True)
class Assignment:
    target: str
    value: PyExpr


@dataclass(frozen=True)
class Binding:
    """A named value: a bound neuron argument, a constructor argument (``name`` None for
    a positional one), a learnable's initial value."""

    name: str | None
    value: object


# --------------------------------------------------------------------------- surrogates


@dataclass(frozen=True)
class SurrogateIR:
    """One surrogate spike function, by its key: the derivative its backward pass uses
    (runtime float parameters stay arguments; int parameters are fixed in the key)."""

    key: SurrogateKey  # e.g. SurrogateKey('Sigmoid')
    params: tuple[str, ...]  # runtime float parameters, in order
    backward: tuple[Assignment, ...]  # lets evaluated in backward, in order
    gradient: PyExpr
    doc: str  # one line describing it, with its parameters' defaults

    @property
    def name(self) -> str:
        return self.key.name


# --------------------------------------------------------------------------- network


@dataclass(frozen=True)
class InputIR:
    name: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class LayerIR:
    """A stateless layer of the catalogue (``op``) with its constructor arguments."""

    attr: str  # the spec label of the layer, e.g. 'fc1'
    value: str  # the spec name of the value it produces
    source: str
    op: str  # catalogue name, e.g. 'Linear'
    ctor_args: tuple[Binding, ...]  # positional (name None) then keyword arguments
    in_shape: tuple[int, ...]
    shape: tuple[int, ...]  # of one sample of the output
    spec: str
    # the groups the layer sits in and its own name: ('layer2', '0', 'conv1') for the
    # label `layer2.0.conv1`, or a block instance's layer; a part of digits is a position
    # in a numbered group.  () means (attr,).  See module_path.
    path: tuple[str, ...] = ()
    # where the spec writes this step: (diagnostics.SourceFile | None, Span) of its call,
    # for diagnostics of exports (not part of equality)
    where: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class TensorOpIR:
    """A parameterless operation on each sample, without a module or state: 'Flatten',
    'Reshape', 'Transpose', 'Permute', 'Select', 'Scale', 'Softmax', 'VotingLayer' (the
    catalogue's name).  ``args`` are resolved: every dimension is a per-sample one,
    0-based and non-negative (never the batch or time), a reshape's sizes are concrete."""

    label: str  # the spec name of the step, e.g. 'split'
    value: str
    source: str
    op: str
    args: tuple[Binding, ...]  # every argument by name, in the catalogue's order
    in_shape: tuple[int, ...]
    shape: tuple[int, ...]
    spec: str
    # the step's place in groups (as LayerIR's): it holds no module, but a numbered
    # group keeps its position
    path: tuple[str, ...] = ()
    where: object = field(default=None, compare=False, repr=False)

    def arg(self, name: str):
        return next(b.value for b in self.args if b.name == name)


@dataclass(frozen=True)
class DropoutIR:
    """Dropout with one mask per sequence (SpikingJelly's ``layer.Dropout``/``Dropout2d``);
    the mask is state kept between calls until reset."""

    value: str
    source: str
    p: float
    channelwise: bool
    shape: tuple[int, ...]
    spec: str
    label: str  # the spec name of the step, e.g. 'drop'
    # the step's place in groups (as LayerIR's): it holds no module, but a numbered
    # group keeps its position
    path: tuple[str, ...] = ()
    # where the spec writes this step: (diagnostics.SourceFile | None, Span) of its call,
    # for diagnostics of exports (not part of equality)
    where: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class StateIR:
    """A state of a neuron layer, kept between time steps (and calls) until reset."""

    name: str  # name in the neuron definition, e.g. 'v' ('spike': the previous spike)
    local: str  # the local the step reads it from (and writes it back to), e.g. '_v'
    init: float | ParamRef  # a number, or a param/buffer of the layer (broadcast)


@dataclass(frozen=True)
class StateUpdate:
    """After a step, ``state`` takes the value of the local ``local``."""

    state: str
    local: str


@dataclass(frozen=True)
class SurrogateRef:
    """A surrogate argument of a neuron: its definition name and parameter values."""

    name: str
    params: tuple[tuple[str, float], ...]
    spiking: bool = True


@dataclass(frozen=True)
class NeuronIR:
    """A spiking neuron layer: states, one step of equations, and the spike it returns."""

    attr: str  # the spec name of the layer, e.g. 'sn1'
    value: str
    source: str
    neuron: str  # neuron definition name, e.g. 'LIF'
    shape: tuple[int, ...]
    states: tuple[StateIR, ...]
    step: tuple[Assignment, ...]
    output: str  # local holding the step's output spike
    final: tuple[StateUpdate, ...]  # each state's value after the step
    spec: str
    params: tuple[Binding, ...]  # bound parameters (SurrogateRef for surrogates)
    learn: tuple[Binding, ...] = ()  # learnable scalars of the layer, initial values
    setup: tuple[Assignment, ...] = ()  # before the time loop (reading the learnables)
    v_seq: str | None = None  # name recording the first state over time (store_v_seq)
    # shaped params (one value per neuron, or a [n, n] matrix) and buffers of the layer,
    # kept under its name like ``learn``; ``setup`` reads them too
    tensors: tuple[TensorIR, ...] = ()
    # the groups the layer sits in and its own name: ('layer2', '0', 'conv1') for the
    # label `layer2.0.conv1`, or a block instance's layer; a part of digits is a position
    # in a numbered group.  () means (attr,).  See module_path.
    path: tuple[str, ...] = ()
    # where the spec writes this step: (diagnostics.SourceFile | None, Span) of its call,
    # for diagnostics of exports (not part of equality)
    where: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Fill:
    """Every element ``value``."""

    value: float


@dataclass(frozen=True)
class Values:
    """A vector given element by element."""

    values: tuple[float, ...]


@dataclass(frozen=True)
class Kaiming:
    """``nn.init.kaiming_uniform_(w, a=a)``; a vector is drawn as one ``[1, n]`` row."""

    a: float


@dataclass(frozen=True)
class Band:
    """A square 0/1 matrix with ones on the diagonal and ``width - 1`` diagonals below."""

    width: int


@dataclass(frozen=True)
class Diagonal:
    """A square matrix: ``diagonal`` on its diagonal, ``off`` everywhere else."""

    diagonal: float
    off: float


TensorInit = Fill | Values | Kaiming | Band | Diagonal


@dataclass(frozen=True)
class TensorIR:
    """A tensor ``param`` (learnable) or ``buffer`` of a (parallel) neuron layer."""

    name: str
    learnable: bool
    shape: tuple[int, ...]
    init: TensorInit


@dataclass(frozen=True)
class ParallelIR:
    """A parallel spiking neuron: ``h = M @ x_seq + b`` over time, then a spike.

    ``matrix`` is M as an expression of the neuron's tensors (:class:`ParamRef`), or None
    when M is ``sliding(<vector param named by sliding>)``; see semantics/parallel.py.
    Whether it has a single-step form follows from ``window`` and ``window_holds``
    (:func:`snndsl.semantics.parallel.single_step_problem` says why not).
    """

    attr: str
    value: str
    source: str
    shape: tuple[int, ...]
    neuron: str  # definition name, e.g. 'PSN'
    spec: str
    args: tuple[tuple[str, object], ...]  # bound arguments (SurrogateRef for surrogates)
    tensors: tuple[TensorIR, ...]
    steps: int | None  # the sequence length it needs, if fixed
    matrix: PyExpr | None
    sliding: str | None
    setup: tuple[Assignment, ...]  # lets computing M, before it is used
    bias: PyExpr | None
    bias_per_step: bool  # the bias has one row per step: single-step reads bias[t]
    spike_steps: tuple[Assignment, ...]  # the spike of local '_h'
    spike: PyExpr
    window: int | None  # single-step: how many past inputs it keeps
    window_when: PyExpr | None  # ... while this holds (checked at run time)
    window_when_text: str | None
    window_holds: bool | None  # the condition's value when known at generation time
    window_values: tuple[Binding, ...]  # the known values the condition reads
    surrogate: SurrogateRef
    span: object  # diagnostics.Span of the call (where a single-step error points)
    # the groups the layer sits in and its own name: ('layer2', '0', 'conv1') for the
    # label `layer2.0.conv1`, or a block instance's layer; a part of digits is a position
    # in a numbered group.  () means (attr,).  See module_path.
    path: tuple[str, ...] = ()
    # where the spec writes this step: (diagnostics.SourceFile | None, Span) of its call,
    # for diagnostics of exports (not part of equality)
    where: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class MergeIR:
    """Several values combined into one: 'add', 'mul', 'cat' (along ``dim`` of a
    sample), SEW-ResNet's connect functions 'ADD', 'AND', 'IAND' (``sew``), or 'matmul'
    (two values, a matrix product over the last two per-sample dimensions, batched over
    the others)."""

    value: str
    sources: tuple[str, ...]
    op: str  # 'add', 'mul', 'cat', 'sew', 'matmul'
    cnf: str | None  # for 'sew': 'ADD', 'AND' or 'IAND'
    dim: int | None  # for 'cat': the dimension of one sample (0-based, non-negative)
    shape: tuple[int, ...]
    spec: str
    op_name: str  # the merge as the spec writes it: 'Add', 'Mul', 'Cat', 'SEW', 'MatMul'
    # where the spec writes this step: (diagnostics.SourceFile | None, Span) of its call,
    # for diagnostics of exports (not part of equality)
    where: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class DelayIR:
    """``delay(source)``: the value ``source`` had one time step earlier (zeros at the
    first step, and after reset()); kept between calls."""

    value: str
    source: str
    shape: tuple[int, ...]
    spec: str
    # where the spec writes this step: (diagnostics.SourceFile | None, Span) of its call,
    # for diagnostics of exports (not part of equality)
    where: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class AliasIR:
    value: str
    source: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class StateReadIR:
    """``sn.v``: the value state ``state`` of the neuron layer ``layer`` (whose output is
    ``source``) holds after each step, as a value of the network."""

    value: str
    source: str
    layer: str
    state: str
    shape: tuple[int, ...]
    spec: str  # 'sn.v'
    where: object = field(default=None, compare=False, repr=False)


Node = (
    LayerIR
    | TensorOpIR
    | DropoutIR
    | NeuronIR
    | ParallelIR
    | MergeIR
    | DelayIR
    | AliasIR
    | StateReadIR
)


@dataclass(frozen=True)
class OutputIR:
    name: str
    source: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class NetworkIR:
    name: str  # class name of the generated module
    spec_text: str  # canonical spec text, for the docstring
    inputs: tuple[InputIR, ...]
    nodes: tuple[Node, ...]
    outputs: tuple[OutputIR, ...]
    surrogates: tuple[SurrogateIR, ...]
    source_path: str
    # values computed step by step in one loop in the multi-step form (a recurrent part of
    # the graph), each loop in evaluation order
    loops: tuple[tuple[str, ...], ...] = ()
    warnings: tuple = ()  # diagnostics.Diagnostic with severity 'warning'
    overrides: tuple[Binding, ...] = ()  # network parameters set from outside (--set)

    # ------------------------------------------------------------------ graph queries
    @staticmethod
    def reads(node: Node, delayed: bool = False) -> tuple[str, ...]:
        """The values ``node`` reads, in order: those of the same time step, and with
        ``delayed`` also the one a delay reads from the previous step (a feedback edge).
        Every consumer of the graph's edges asks this."""
        if isinstance(node, MergeIR):
            return node.sources
        if isinstance(node, DelayIR):
            return (node.source,) if delayed else ()
        return (node.source,)

    def node(self, value: str) -> Node:
        """The node computing ``value``."""
        for n in self.nodes:
            if n.value == value:
                return n
        raise KeyError(value)

    def shape_of(self, value: str) -> tuple[int, ...]:
        """The shape of one sample of ``value`` (an input or a node's value)."""
        for i in self.inputs:
            if i.name == value:
                return i.shape
        return self.node(value).shape

    @property
    def neurons(self) -> tuple[NeuronIR, ...]:
        return tuple(n for n in self.nodes if isinstance(n, NeuronIR))

    @property
    def parallels(self) -> tuple[ParallelIR, ...]:
        return tuple(n for n in self.nodes if isinstance(n, ParallelIR))

    @property
    def layers(self) -> tuple[LayerIR, ...]:
        return tuple(n for n in self.nodes if isinstance(n, LayerIR))

    @property
    def delays(self) -> tuple[DelayIR, ...]:
        return tuple(n for n in self.nodes if isinstance(n, DelayIR))

    @property
    def dropouts(self) -> tuple[DropoutIR, ...]:
        return tuple(n for n in self.nodes if isinstance(n, DropoutIR))


def module_path(node: LayerIR | NeuronIR | ParallelIR) -> tuple[str, ...]:
    """Where a layer's parameters live: its groups and its name, ``('layer2', '0',
    'conv1')`` (its label alone when it is in no group)."""
    return node.path or (node.attr,)


def module_key(node: LayerIR | NeuronIR | ParallelIR) -> str:
    """The layer's module path joined by '.': the prefix of its ``state_dict`` keys,
    ``layer2.0.conv1`` (then ``layer2.0.conv1.weight``)."""
    return ".".join(module_path(node))
