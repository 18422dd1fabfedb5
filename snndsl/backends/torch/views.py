"""Typed views: what the torch templates read, one dataclass per template part.

:mod:`snndsl.backends.torch.codegen` and :mod:`snndsl.backends.torch.fused` build these
from the IR with every statement already printed and laid out; templates/module.py.j2
lays out the module around them and templates/blocks.py.j2 has one macro per block view
(chosen by its ``kind``).  A template that reads a field a view does not have fails at
render time (Jinja2 runs with ``StrictUndefined``), and a view built without a field it
needs fails when constructed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

Lines = list[str]  # statements, each laid out at its place in the template


# --------------------------------------------------------------------------- blocks of forward()


@dataclass(frozen=True)
class LayerView:
    """A stateless layer (or its functional fast path): one statement."""

    kind: ClassVar[str] = "layer"
    comment: str
    line: str


@dataclass(frozen=True)
class AliasView:
    kind: ClassVar[str] = "alias"
    line: str


@dataclass(frozen=True)
class MergeView:
    kind: ClassVar[str] = "merge"
    comment: str
    line: str


@dataclass(frozen=True)
class DropoutView:
    """Dropout with one mask per sequence, kept in a state attribute while training."""

    kind: ClassVar[str] = "dropout"
    comment: str
    unfold: str  # binds the input as [T, N, *] first ('' when it already is)
    load: str
    condition: str  # when to draw a new mask
    make: str
    keep: str
    apply: str
    skip: str  # evaluation: the input unchanged


@dataclass(frozen=True)
class NeuronSingleView:
    """One step of a neuron layer: states loaded, the equations, states written back."""

    kind: ClassVar[str] = "neuron_single"
    comment: str
    setup: Lines
    states: Lines
    step: Lines
    final: Lines
    record: str | None  # appends the first state to its recording (store_v_seq)
    result: str


@dataclass(frozen=True)
class NeuronMultiView:
    """A neuron layer's time loop written inline in forward()."""

    kind: ClassVar[str] = "neuron_multi"
    comment: str
    setup: Lines
    unfold: str
    states: Lines
    loop: str  # the ``for`` header over the input sequence
    step: Lines
    output: str  # the local holding the step's output
    record_local: str | None  # the local recorded each step (store_v_seq)
    final: Lines
    record: str | None
    result: str


@dataclass(frozen=True)
class NeuronFusedView:
    """A neuron layer run by its fused ``autograd.Function`` (see :class:`FusedView`)."""

    kind: ClassVar[str] = "neuron_fused"
    comment: str
    setup: Lines
    unfold: str
    states: Lines
    call: str
    final: Lines


@dataclass(frozen=True)
class ParallelMultiView:
    """A parallel neuron over a whole sequence: ``h = M @ x + b``, then the spike."""

    kind: ClassVar[str] = "parallel_multi"
    comment: str
    load: str  # binds the neuron's submodule to ``_p``
    setup_lines: Lines
    matrix: str | None
    sliding: str | None
    spike_lines: Lines
    spike: str
    unfold: str
    check: tuple[str, str] | None  # (if header, raise) on a wrong number of steps
    sliding_line: str | None
    h: str
    result: str


@dataclass(frozen=True)
class ParallelSingleView:
    """One step of a parallel neuron with a window of past inputs."""

    kind: ClassVar[str] = "parallel_single"
    comment: str
    load: str
    setup_lines: Lines
    matrix: str | None
    sliding: str | None
    spike_lines: Lines
    spike: str
    steps: int | None
    k: int | None  # the length of the sliding weight
    when: str | None  # the window's condition, checked at run time
    when_error: str
    step_load: str
    overflow_error: str
    queue: str
    h: str
    result: str
    keep_queue: str
    count: str | None


@dataclass(frozen=True)
class DelaySingleView:
    kind: ClassVar[str] = "delay_single"
    comment: str
    line: str


@dataclass(frozen=True)
class DelayMultiView:
    kind: ClassVar[str] = "delay_multi"
    comment: str
    line: str
    keep: str


@dataclass(frozen=True)
class LoopView:
    """A recurrent part of the graph in the multi-step form: one loop over time whose
    body is its members' single-step blocks."""

    kind: ClassVar[str] = "loop"
    comment: str
    before: Lines
    header: str
    inputs: Lines
    members: list[Block]
    after_step: Lines
    after: Lines


Block = (
    LayerView
    | AliasView
    | MergeView
    | DropoutView
    | NeuronSingleView
    | NeuronMultiView
    | NeuronFusedView
    | ParallelMultiView
    | ParallelSingleView
    | DelaySingleView
    | DelayMultiView
    | LoopView
)


# --------------------------------------------------------------------------- module level


@dataclass(frozen=True)
class CheckView:
    """A run-time check at the top of forward(): ``if condition:`` and its ``raise``."""

    condition: str
    error: str


@dataclass(frozen=True)
class SurrogateView:
    """A surrogate's ``torch.autograd.Function``."""

    class_name: str
    doc: str
    params: list[str]
    param_decls: str  # ``, alpha: float`` for the signatures
    param_names: str  # ``, alpha`` for the calls
    lets: Lines
    grad: str
    result: str  # backward's return value
    strict_class: str | None = None  # the subclass spiking where x > 0, if a neuron uses it


@dataclass(frozen=True)
class KernelView:
    """A module-level step function compiled by ``torch.compile`` (compile backend)."""

    name: str
    doc: str
    args: list[str]
    body: Lines
    returns: str


@dataclass(frozen=True)
class FusedView:
    """A neuron layer's fused ``autograd.Function``: the forward time loop (written out,
    or calling a compiled step kernel) and the backward through time."""

    class_name: str
    doc: str
    args: str  # the laid-out ``def forward(ctx, ...):``
    grad_args: str  # the laid-out ``def backward(ctx, ...):``
    unpack: str  # the laid-out ``... = ctx.saved_tensors`` ('' when nothing is saved)
    split: Lines  # the per-step lists cut out of the unpacked rest (when more than one)
    grad_x_init: str
    totals_init: Lines
    load_x: str
    load_output: str
    load_step: Lines
    results: str
    kernel_forward: Lines  # the compile backend's forward loop ([] for the fused backend)
    saved: str
    returns: str
    recompute: Lines
    adjoint: Lines
    store_grad_x: Lines
    next_grads: Lines
    accumulate: Lines
    # the fused backend's forward loop (unused with kernel_forward)
    saved_lists: Lines = field(default_factory=list)
    save_step: Lines = field(default_factory=list)
    step: Lines = field(default_factory=list)
    output: str = ""


@dataclass(frozen=True)
class ModuleView:
    """The whole generated file."""

    title: str
    summary: str
    version: str
    source: str
    command: str  # the command that regenerates the file
    spec: str
    uses_functional: bool
    surrogates: list[SurrogateView]
    state_from: bool  # the _state_from helper (a state starting from a param)
    fused: list[FusedView]
    needs: str  # what the file imports: "torch and the standard library"
    std_imports: Lines  # standard-library import lines after contextlib (another target's)
    imports: Lines  # import lines after torch's (another target's: triton)
    extra: Lines  # module-level code of another target (laid out), after the fused classes
    kernels: list[KernelView]
    compiled: bool  # single-step forward wrapped in torch.compile
    chunked: bool  # multi-step: forward_chunked() and its state plumbing
    state_lines: Lines
    n_outputs: int
    has_state: bool
    records: bool
    delayed: bool
    sliding: bool
    class_name: str
    class_doc: str
    init_lines: Lines
    reset_lines: Lines
    forward_def: str
    return_type: str
    forward_doc: str
    forward_doc2: str
    run_time_doc: str  # the module docstring's paragraph on the checks below
    checks: list[CheckView]  # the inputs' shapes and dtypes, T >= 1, the batch size
    keep_batch: str | None  # remembers the batch size of the state kept (None: no state)
    step_def: str  # compile, single-step: the compiled body's ``def`` after the checks
    step_call: str  # compile, single-step: forward()'s call of it
    prologue: Lines
    blocks: list[Block]
    epilogue: Lines
    returns: str
