"""The resolved IR: the contract between the semantic checks and the code generator.

Everything here is validated and resolved: names are safe Python identifiers, shapes are
concrete, neuron equations are trees of a closed set of :data:`PyExpr` node types,
constants are Python values.  Templates only read this IR (through a backend,
:mod:`snndsl.backends`);
they never see the spec AST.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# --------------------------------------------------------------------------- expressions
# The closed set of expression nodes generated code is printed from (see pyexpr.py).


@dataclass(frozen=True)
class Const:
    value: int | float | bool | None


@dataclass(frozen=True)
class Local:
    """A local variable of generated code (a validated or generated identifier)."""

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
    """A tensor function from the closed table in :mod:`snndsl.backends.torch.printer`."""

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
class ParamRef:
    """A learnable parameter (or buffer) of a neuron layer: ``self.<container>.<name>``."""

    container: str
    name: str


@dataclass(frozen=True)
class Member:
    """``owner.name``: a tensor of a submodule bound to the local ``owner``."""

    owner: str
    name: str


@dataclass(frozen=True)
class Index:
    """``operand[index]`` with a generated integer local as the index."""

    operand: PyExpr
    index: str


@dataclass(frozen=True)
class Detach:
    operand: PyExpr


@dataclass(frozen=True)
class Spike:
    """``<surrogate class>.spike(arg, *params)``: Heaviside forward, surrogate backward
    (through the class's autograd.Function when ``arg`` requires a gradient)."""

    surrogate: str  # the generated autograd.Function class name
    arg: PyExpr
    params: tuple[float, ...]


@dataclass(frozen=True)
class SurrogateGrad:
    """``<surrogate class>.gradient(arg, *params)``: the surrogate's derivative at ``arg``
    (used by derived backward passes, see autodiff.py)."""

    surrogate: str
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
    | ParamRef
    | Member
    | Index
    | Detach
    | Spike
    | SurrogateGrad
)


def map_children(e: PyExpr, f) -> PyExpr:
    """``e`` with each of its direct sub-expressions replaced by ``f(sub-expression)``."""
    if isinstance(e, (BinOp, Compare)):
        return replace(e, left=f(e.left), right=f(e.right))
    if isinstance(e, (Neg, Detach, Index)):
        return replace(e, operand=f(e.operand))
    if isinstance(e, AsFloat):
        return replace(e, operand=f(e.operand), like=f(e.like))
    if isinstance(e, Func):
        return replace(e, args=tuple(f(a) for a in e.args))
    if isinstance(e, (Spike, SurrogateGrad)):
        return replace(e, arg=f(e.arg))
    return e  # Const, Local, ParamRef, Member


def substitute(e: PyExpr, mapping: dict[str, PyExpr]) -> PyExpr:
    """``e`` with each local named in ``mapping`` replaced by its expression."""
    if isinstance(e, Local):
        return mapping.get(e.name, e)
    return map_children(e, lambda child: substitute(child, mapping))


def locals_used(e: PyExpr) -> set[str]:
    """The names of the locals an expression reads."""
    if isinstance(e, Local):
        return {e.name}
    if isinstance(e, Member):
        return {e.owner}
    if isinstance(e, (BinOp, Compare)):
        return locals_used(e.left) | locals_used(e.right)
    if isinstance(e, (Neg, Detach, Index)):
        return locals_used(e.operand)
    if isinstance(e, AsFloat):
        return locals_used(e.operand) | locals_used(e.like)
    if isinstance(e, Func):
        return set().union(*(locals_used(a) for a in e.args))
    if isinstance(e, (Spike, SurrogateGrad)):
        return locals_used(e.arg)
    return set()


@dataclass(frozen=True)
class Assignment:
    target: str
    value: PyExpr


# --------------------------------------------------------------------------- surrogates


@dataclass(frozen=True)
class SurrogateIR:
    """One surrogate spike function, emitted once as a ``torch.autograd.Function``."""

    name: str  # spec name, e.g. 'Sigmoid'
    class_name: str  # generated, e.g. '_Sigmoid'
    params: tuple[str, ...]
    backward: tuple[Assignment, ...]  # lets evaluated in backward, in order
    gradient: PyExpr
    doc: str


# --------------------------------------------------------------------------- network


@dataclass(frozen=True)
class InputIR:
    name: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class LayerIR:
    """A stateless torch layer held as a submodule: ``self.<attr> = nn.<Op>(...)``."""

    attr: str
    value: str  # local name of the value it produces
    source: str
    op: str
    ctor: str  # e.g. 'nn.Linear'
    ctor_args: tuple[tuple[str | None, object], ...]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    spec: str


@dataclass(frozen=True)
class DropoutIR:
    """Dropout with one mask per sequence (SpikingJelly's ``layer.Dropout``/``Dropout2d``)."""

    attr: str  # state attribute holding the mask
    value: str
    source: str
    p: float
    channelwise: bool
    shape: tuple[int, ...]
    spec: str
    label: str  # the spec name of the step, e.g. 'drop'


@dataclass(frozen=True)
class StateIR:
    name: str  # name in the neuron definition, e.g. 'v'
    attr: str  # module attribute holding it between calls, e.g. '_sn1_v'
    local: str  # local variable inside forward, e.g. '_v'
    init: float


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
    final: tuple[tuple[str, str], ...]  # (state attr, local) written back after the step
    spec: str
    params: tuple[tuple[str, object], ...]  # bound parameters (SurrogateRef for surrogates)
    learn: tuple[tuple[str, float], ...] = ()  # learnable scalars in self.<attr>, initial values
    setup: tuple[Assignment, ...] = ()  # before the time loop (reading the learnables)
    v_seq: str | None = None  # attribute recording the first state over time (store_v_seq)


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


TensorInit = Fill | Values | Kaiming | Band


@dataclass(frozen=True)
class TensorIR:
    """A tensor ``param`` (learnable) or ``buffer`` of a parallel neuron."""

    name: str
    learnable: bool
    shape: tuple[int, ...]
    init: TensorInit


@dataclass(frozen=True)
class ParallelIR:
    """A parallel spiking neuron: ``h = M @ x_seq + b`` over time, then a spike.

    ``matrix`` is M as an expression of the neuron's tensors, or None when M is
    ``sliding(<vector param named by sliding>)``; see snndsl/parallel.py.
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
    single_step_error: str | None
    surrogate: SurrogateRef
    queue_attr: str
    step_attr: str
    span: object  # diagnostics.Span of the call, for the single-step error


@dataclass(frozen=True)
class MergeIR:
    """Several values combined into one: 'add', 'mul', 'cat' (along ``dim`` of a
    sample), or SEW-ResNet's connect functions 'ADD', 'AND', 'IAND' (``sew``)."""

    value: str
    sources: tuple[str, ...]
    op: str  # 'add', 'mul', 'cat', 'sew'
    cnf: str | None  # for 'sew': 'ADD', 'AND' or 'IAND'
    dim: int | None  # for 'cat': the dimension of one sample (0-based, non-negative)
    shape: tuple[int, ...]
    spec: str
    op_name: str  # the merge as the spec writes it: 'Add', 'Mul', 'Cat' or 'SEW'


@dataclass(frozen=True)
class DelayIR:
    """``delay(source)``: the value ``source`` had one time step earlier (zeros at the
    first step, and after reset()); kept between calls in ``attr``."""

    value: str
    source: str
    attr: str
    shape: tuple[int, ...]
    spec: str


@dataclass(frozen=True)
class AliasIR:
    value: str
    source: str
    shape: tuple[int, ...]


Node = LayerIR | DropoutIR | NeuronIR | ParallelIR | MergeIR | DelayIR | AliasIR


def node_sources(node: Node) -> tuple[str, ...]:
    """The values a node reads in the same time step (a delay reads none)."""
    if isinstance(node, MergeIR):
        return node.sources
    if isinstance(node, DelayIR):
        return ()
    return (node.source,)


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
