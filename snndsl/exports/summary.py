"""Summarise a resolved network: per node its output shape, parameters, state and SynOps.

Everything is computed from the IR (:mod:`snndsl.ir`), without torch and without
generating code, and a test compares it with the generated modules.  Per node:

- **output**: the per-sample shape of one time step (no ``T``, no ``N``);
- **params**: elements of learnable tensors (``nn.Parameter``): layer weights and biases,
  the learnable scalars of neurons and the tensor ``param``s of parallel neurons.  Buffers
  (BatchNorm running statistics, the ``buffer``s of parallel neurons such as MaskedPSN's
  masks) are not parameters; they are counted separately;
- **state**: elements per sample held between time steps: each neuron state variable over
  the neuron's shape; for a parallel neuron with a ``window`` (SlidingPSN, MaskedPSN) the
  last ``window`` inputs its single-step form keeps; for Dropout the mask held for the
  whole sequence (in training only).  Time-step counters and ``store_v_seq`` recordings
  are not counted;
- **SynOps/step**: multiply-accumulates of one time step for one sample as if every input
  were non-zero (the dense count): ``Linear`` ``in_features * out_features`` per position,
  ``Conv`` ``out_channels * in_channels / groups * prod(kernel_size)`` per output position
  (positions over padding included), ``ConvTranspose`` ``in_channels * out_channels /
  groups * prod(kernel_size)`` per input position (products that land in the cropped
  padding included).  Bias additions are not counted, nor normalisation, pooling, neuron
  dynamics or the time mixing of parallel neurons.  With spiking inputs, a zero input
  skips its products, so the event-driven count is lower.

A layer's parameters, buffers and SynOps are counted by its catalogue entry
(:attr:`snndsl.semantics.catalogue.LayerOp.counts`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from snndsl import ir
from snndsl.semantics.catalogue import OPS, Counts, matmul_counts
from snndsl.semantics.parallel import single_step_problem

FLOAT32_BYTES = 4


@dataclass(frozen=True)
class NodeSummary:
    """One row: an input or an IR node."""

    name: str  # spec name (step label or generated name; the value name for inputs)
    kind: str  # 'input', 'layer', 'dropout', 'neuron', 'parallel', 'alias'
    op: str  # 'Linear', 'LIF', 'PSN', 'Dropout', 'input', 'alias'
    spec: str  # the resolved call, e.g. 'Linear(in_features=8, out_features=4)'
    value: str  # the value it produces
    sources: tuple[str, ...]  # the values it reads
    shape: tuple[int, ...]  # per-sample output shape of one step
    params: int
    buffers: int
    state: int  # elements per sample held between time steps
    state_of: str  # what the state is, e.g. "v, w" or "mask, training only"
    synops: int | None  # dense MACs per sample per step; None: not a synaptic layer


@dataclass(frozen=True)
class NetworkSummary:
    network: str
    nodes: tuple[NodeSummary, ...]
    outputs: tuple[tuple[str, tuple[int, ...]], ...]
    notes: tuple[str, ...]

    @property
    def params(self) -> int:
        return sum(n.params for n in self.nodes)

    @property
    def buffers(self) -> int:
        return sum(n.buffers for n in self.nodes)

    @property
    def state(self) -> int:
        """State elements per sample, dropout masks included."""
        return sum(n.state for n in self.nodes)

    @property
    def mask_state(self) -> int:
        return sum(n.state for n in self.nodes if n.kind == "dropout")

    @property
    def state_bytes(self) -> int:
        """State memory per sample in bytes, everything held as float32."""
        return self.state * FLOAT32_BYTES

    @property
    def synops(self) -> int:
        return sum(n.synops or 0 for n in self.nodes)

    def render(self) -> str:
        return render(self)


# --------------------------------------------------------------------------- naming


def node_name(node: ir.Node) -> str:
    """The spec name of a node: its step label or generated name; a layer's is its
    module path (``layer2.0.conv1``, the prefix of its ``state_dict`` keys)."""
    if isinstance(node, (ir.DropoutIR, ir.TensorOpIR)):
        return node.label
    if isinstance(node, (ir.AliasIR, ir.MergeIR, ir.DelayIR, ir.StateReadIR)):
        return node.value
    return ir.module_key(node)


def node_op(node: ir.Node) -> str:
    if isinstance(node, (ir.LayerIR, ir.TensorOpIR)):
        return node.op
    if isinstance(node, ir.DropoutIR):
        return "Dropout2d" if node.channelwise else "Dropout"
    if isinstance(node, ir.NeuronIR):
        return node.neuron
    if isinstance(node, ir.ParallelIR):
        return node.neuron
    if isinstance(node, ir.MergeIR):
        return node.op_name
    if isinstance(node, (ir.DelayIR, ir.StateReadIR)):
        return node.spec
    return "alias"


def node_sources(node: ir.Node) -> tuple[str, ...]:
    """The values a node reads in the same step, in order (the graph's edges come from
    here; a delay's read of the previous step is a feedback edge, see graph.py)."""
    return ir.NetworkIR.reads(node)


# --------------------------------------------------------------------------- layers


def layer_args(node: ir.LayerIR) -> dict[str, object]:
    """Every constructor argument of a layer, defaults filled in from the catalogue."""
    return OPS[node.op].ctor_values(node.ctor_args)


def layer_counts(node: ir.LayerIR) -> Counts:
    """(parameters, buffer elements, dense MACs per sample per step) of a layer, as its
    catalogue entry counts them."""
    return OPS[node.op].counts(layer_args(node), node.in_shape, node.shape)


# --------------------------------------------------------------------------- parallel neurons
# Counts of parallel neurons, from their tensor params and buffers and their window.


def _parallel_params(node: ir.ParallelIR) -> int:
    """The elements of its tensor ``param``s (PSN: a T x T weight and T biases)."""
    return sum(math.prod(t.shape) for t in node.tensors if t.learnable)


def _parallel_buffers(node: ir.ParallelIR) -> int:
    """The elements of its ``buffer``s (MaskedPSN: lambda and two T x T masks)."""
    return sum(math.prod(t.shape) for t in node.tensors if not t.learnable)


def _parallel_state(node: ir.ParallelIR) -> tuple[int, str]:
    """The single-step form keeps a window of past inputs; without one, nothing is kept."""
    if single_step_problem(node) or not node.window:
        return 0, ""
    return node.window * math.prod(node.shape), f"last {node.window} inputs"


# --------------------------------------------------------------------------- summary


def _row(node: ir.Node, net: ir.NetworkIR) -> NodeSummary:
    shape = node.shape
    elements = math.prod(shape)
    params = buffers = state = 0
    state_of = ""
    synops = None
    spec = node.spec if hasattr(node, "spec") else f"alias of {node.source}"
    kind = "alias"
    if isinstance(node, ir.LayerIR):
        kind = "layer"
        params, buffers, synops = layer_counts(node)
    elif isinstance(node, ir.TensorOpIR):
        kind = "layer"
        params, buffers, synops = OPS[node.op].counts(
            {b.name: b.value for b in node.args}, node.in_shape, node.shape
        )
    elif isinstance(node, ir.DropoutIR):
        kind = "dropout"
        state, state_of = elements, "mask, training only"
    elif isinstance(node, ir.NeuronIR):
        kind = "neuron"
        params = len(node.learn)
        state = len(node.states) * elements
        state_of = ", ".join(s.name for s in node.states)
    elif isinstance(node, ir.ParallelIR):
        kind = "parallel"
        params, buffers = _parallel_params(node), _parallel_buffers(node)
        state, state_of = _parallel_state(node)
    elif isinstance(node, ir.MergeIR):
        kind = "merge"
        if node.op == "matmul":  # a product of two activations
            _, _, synops = matmul_counts(*(net.shape_of(s) for s in node.sources), shape)
    elif isinstance(node, ir.StateReadIR):
        kind = "state"
    elif isinstance(node, ir.DelayIR):
        kind = "delay"
        state, state_of = elements, f"{node.source} one step earlier"
    return NodeSummary(
        node_name(node),
        kind,
        node_op(node),
        spec,
        node.value,
        node_sources(node),
        shape,
        params,
        buffers,
        state,
        state_of,
        synops,
    )


def _notes(net: ir.NetworkIR) -> tuple[str, ...]:
    notes = []
    for node in net.nodes:
        if isinstance(node, ir.NeuronIR) and node.v_seq:
            notes.append(
                f"{node.attr}: store_v_seq records {node.states[0].name} into {node.v_seq}, "
                f"{math.prod(node.shape)} more elements per sample every step (not counted)"
            )
        if isinstance(node, ir.ParallelIR) and single_step_problem(node):
            notes.append(
                f"{node.attr}: no single-step form; the multi-step form reads all T steps at "
                "once and keeps no state between calls"
            )
    return tuple(notes)


def summarize(net: ir.NetworkIR) -> NetworkSummary:
    """The summary of a resolved network."""
    inputs = tuple(
        NodeSummary(
            i.name, "input", "input", f"input {i.name}", i.name, (), i.shape, 0, 0, 0, "", None
        )
        for i in net.inputs
    )
    return NetworkSummary(
        net.name,
        inputs + tuple(_row(n, net) for n in net.nodes),
        tuple((o.name, o.shape) for o in net.outputs),
        _notes(net),
    )


def summary(spec, network: str | None = None, params=None) -> NetworkSummary:
    """Parse and check a spec (a path, text or parsed module) and summarise its network."""
    from snndsl.api import resolve

    return summarize(resolve(spec, network, params))


# --------------------------------------------------------------------------- text


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _num(n: int) -> str:
    return f"{n:,}"


def render(s: NetworkSummary) -> str:
    """The summary as a text table with totals and notes below it."""
    header = ("node", "output", "params", "state", "SynOps/step", "op")
    rows = [
        (
            n.name,
            _shape(n.shape),
            _num(n.params) if n.kind != "input" else "",
            (f"{_num(n.state)} ({n.state_of})" if n.state else "") if n.kind != "input" else "",
            _num(n.synops) if n.synops is not None else "",
            n.spec,
        )
        for n in s.nodes
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    right = (False, False, True, False, True)

    def line(cells) -> str:
        parts = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)]
        return "  ".join([*parts, cells[-1]]).rstrip()

    rule = "-" * (sum(widths) + 2 * len(widths) + len(header[-1]))
    outputs = ", ".join(f"{name} {_shape(shape)}" for name, shape in s.outputs)
    buffers = [f"{n.name} {_num(n.buffers)}" for n in s.nodes if n.buffers]
    mask = s.mask_state
    neuron_state = s.state - mask
    state = f"{_num(s.state)} elements = {_num(s.state_bytes)} bytes as float32"
    if mask:
        state += f" (neurons {_num(neuron_state)}; dropout masks {_num(mask)}, training only)"
    lines = [
        f"network {s.network}: per sample and per time step (no T, no N)",
        line(header),
        rule,
        *(line(r) for r in rows),
        rule,
        f"outputs: {outputs}",
        f"parameters: {_num(s.params)}",
        "buffers (not parameters): "
        + (f"{_num(s.buffers)} ({', '.join(buffers)})" if buffers else "none"),
        f"state per sample: {state}",
        f"SynOps per step per sample: {_num(s.synops)} (dense multiply-accumulates of "
        "Linear/Conv/ConvTranspose/MatMul, every input counted; zero spikes skip theirs)",
        *(f"note: {n}" for n in s.notes),
    ]
    return "\n".join(lines) + "\n"
