"""The fused multi-step form of a neuron layer: one ``torch.autograd.Function`` per layer.

Its forward runs the layer's time loop with the same equations, in the same order, as
the plain multi-step form (so values are bit-identical) and keeps only the state at the
start of every step.  Its backward walks time in reverse with the step's derivative,
derived symbolically from the neuron's own equations by :mod:`snndsl.ir.autodiff`: no
autograd graph is recorded inside the loop.  This module turns a ``NeuronIR`` into the
pre-printed pieces templates/module.py.j2 (the class) and blocks.py.j2 (the call) lay out.
"""

from __future__ import annotations

from dataclasses import dataclass

from snndsl import ir
from snndsl.backends.torch import layout
from snndsl.backends.torch.layout import Code, call
from snndsl.backends.torch.naming import code_name
from snndsl.backends.torch.printer import PythonPrinter
from snndsl.backends.torch.views import FusedView, KernelView
from snndsl.ir import autodiff
from snndsl.names import Namespace

_INDENT_LOOP = 12  # statements inside the time loops of forward and backward


@dataclass(frozen=True)
class FusedNeuron:
    class_name: str
    view: FusedView  # for the class template
    call: Code  # the right-hand side of the call in forward(): ``_F.apply(...)``


@dataclass
class Kernels:
    """The compiled per-step functions of a module (``--backend compile``), shared by
    layers whose steps are the same text: a kernel is compiled once, not once per layer."""

    names: Namespace  # module-level names
    views: dict[tuple, KernelView]  # (doc, args, body, returns) -> template view, in order

    def add(
        self, stem: str, doc: str, args: list[str], body: list[str], rets: list[str], rank: int
    ) -> str:
        """The name of the kernel with this text for layers of this per-sample rank.
        Layers share a kernel only at one rank: dynamo compiles a kernel once per input
        rank (and sizes, made dynamic after the first change), and a kernel shared by
        many ranks would pass its recompile limit (8), a hard error under fullgraph."""
        key = (doc, tuple(args), tuple(body), tuple(rets), rank)
        if key not in self.views:
            self.views[key] = KernelView(self.names.fresh(stem), doc, args, body, ", ".join(rets))
        return self.views[key].name


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Plan:
    """What a fused layer is built from (both loop layouts here, and the Triton kernels
    of :mod:`snndsl.backends.triton`): the step, its derived backward, what is kept
    between the passes and what is recomputed."""

    n: ir.NeuronIR
    step: tuple[ir.Assignment, ...]  # the step, reading the input as ``_x``
    back: autodiff.Backward
    keep: dict[str, tuple[int, str]]  # kept value -> (step line, forward local)
    lists: dict[str, str]  # saved state or kept value -> the per-step tensor holding it
    recompute: list[ir.Assignment]
    needed: set[str]  # every name the backward reads
    totals: dict[str, str]  # learnable parameter -> local summing its gradient
    ns: Namespace
    printer: PythonPrinter
    reduce: dict[str, str]  # param local -> how its per-step gradient is summed

    def line(self, target: str, value: ir.PyExpr, indent: int = _INDENT_LOOP) -> str:
        return self.printer.assign(target, value, indent)

    @property
    def states(self) -> list[str]:
        return [s.local for s in self.n.states]

    @property
    def params(self) -> list[str]:
        return [a.target for a in self.n.setup]

    def forward_lines(self, after: dict[int, list[str]], indent: int) -> list[str]:
        """The step for code autograd does not record (each spike its Heaviside value),
        with ``after[i]`` following line ``i``."""
        lines = []
        for index, a in enumerate(self.step):
            named, value = autodiff.name_spike_arg(a.value, self.ns)
            if named is not None:
                lines.append(self.line(named.target, named.value, indent))
            lines.append(self.line(a.target, autodiff.without_spikes(value), indent))
            lines.extend(after.get(index, []))
        return lines

    def after_keep(self, line) -> dict[int, list[str]]:
        """``line(name, local)`` after the step line that computes each kept value."""
        after: dict[int, list[str]] = {}
        for name, (index, local) in self.keep.items():
            after.setdefault(index, []).append(line(name, local))
        return after

    def state_grad(self, s: str) -> str:
        """The gradient of state ``s`` at the step's start (zeros when nothing reaches it)."""
        return self.back.grad_state_inputs[s] or f"torch.zeros_like(grad{s})"


def plan(n: ir.NeuronIR, printer: PythonPrinter, record: bool = False) -> Plan | None:
    """The fused plan of ``n``; None when it records v_seq, unless ``record`` (the caller
    then returns the recording itself).  Raises :class:`autodiff.NotDifferentiable` when
    its equations use something :mod:`snndsl.ir.autodiff` cannot differentiate."""
    if n.v_seq and not record:
        return None
    step = tuple(
        ir.Assignment(a.target, ir.substitute(a.value, {"x": ir.Local("_x")})) for a in n.step
    )
    states = tuple(s.local for s in n.states)
    params = tuple(a.target for a in n.setup)
    used = {"_x", "_xs", "_t", "_outs", "grad_output", "grad_outputs", *states, *params}
    for a in step:
        used.add(a.target)
        used |= ir.locals_used(a.value)
    ns = Namespace(used | {f"grad{s}" for s in states})
    buffers = {t.name for t in n.tensors if not t.learnable}
    learnable = tuple(
        a.target
        for a in n.setup
        if not (isinstance(a.value, ir.ParamRef) and a.value.name in buffers)
    )
    back = autodiff.derive(step, "_x", states, learnable, n.output, ns)
    results = {back.grad_x, *back.grad_state_inputs.values(), *back.grad_params.values()}
    keep, recompute, needed = _plan(back, set(states), {r for r in results if r})
    saved_states = [s for s in states if s in needed]
    lists = {name: ns.fresh(f"{name}_seq") for name in [*saved_states, *keep]}
    totals = {p: ns.fresh(f"_g{p}_total") for p in learnable if back.grad_params[p]}
    tensor_names = {t.name for t in n.tensors}
    # a tensor param's gradient is summed over the batch (and what it broadcasts over)
    reduce = {
        a.target: (
            f".sum_to_size({a.target}.shape)"
            if isinstance(a.value, ir.ParamRef) and a.value.name in tensor_names
            else ".sum()"
        )
        for a in n.setup
    }
    ns.reserve(_GRAD_IN)
    return Plan(n, step, back, keep, lists, recompute, needed, totals, ns, printer, reduce)


def fuse(
    n: ir.NeuronIR,
    class_name: str,
    seq: str,
    printer: PythonPrinter,
    kernels: Kernels | None = None,
) -> FusedNeuron | None:
    """The fused form of ``n`` reading the sequence ``seq``, or None when its equations
    use something :mod:`snndsl.ir.autodiff` cannot differentiate (or it records v_seq).

    With ``kernels`` (the compile backend) one time step of the forward and one of the
    backward become module-level functions compiled by ``torch.compile``; the time loops
    around them stay in Python, so each kernel is compiled for one step, not unrolled
    over T."""
    try:
        parts = plan(n, printer)
    except autodiff.NotDifferentiable:
        return None
    if parts is None:
        return None
    back, lists, totals, states, params = (
        parts.back,
        parts.lists,
        parts.totals,
        parts.states,
        parts.params,
    )
    saved_states = [s for s in states if s in parts.needed]
    xs_saved = ["_xs"] if "_x" in parts.needed else []  # the input, only when the backward reads it
    common = {
        "class_name": class_name,
        "doc": f"{n.attr}: {n.spec}, over a whole sequence; backward through time derived "
        "from its equations.",
        "args": _def("forward", ["ctx", "_xs", *states, *params]),
        "grad_args": _def("backward", ["ctx", "grad_outputs", *(f"grad{s}" for s in states)]),
        **_saved_steps(parts, xs_saved),
        "grad_x_init": f"{_GRAD_IN} = torch.zeros_like(grad_outputs)"
        if back.grad_x is None
        else f"{_GRAD_IN} = torch.empty_like(grad_outputs)",
        "totals_init": [f"{totals[p]} = torch.zeros_like({p})" for p in totals],
        "load_x": "_x = _xs[_t]" if xs_saved else "",
        "load_output": "grad_output = grad_outputs[_t]" if "grad_output" in parts.needed else "",
        "load_step": [f"{name} = {lst}[_t]" for name, lst in lists.items()],
        "results": _return(
            [_GRAD_IN, *(f"grad{s}" for s in states), *(totals.get(p, "None") for p in params)]
        ),
    }
    if kernels is None:
        view = FusedView(**common, **_python_loops(parts, saved_states, xs_saved))
    else:
        view = FusedView(**common, **_compiled_loops(parts, kernels, xs_saved))
    return FusedNeuron(class_name, view, call(f"{class_name}.apply", seq, *states, *params))


_GRAD_IN = "_gxs"  # the input gradient, all steps


def _python_loops(p: Plan, saved_states: list[str], xs_saved: list[str]) -> dict:
    """The fused backend: both time loops written out, the kept values in lists."""
    back = p.back
    after = p.after_keep(lambda name, local: f"{p.lists[name]}.append({local})")
    return {
        "kernel_forward": [],
        "saved_lists": [f"{lst} = []" for lst in p.lists.values()],
        "save_step": [f"{p.lists[s]}.append({s})" for s in saved_states],
        "step": p.forward_lines(after, _INDENT_LOOP),
        "output": p.n.output,
        "returns": _return(["torch.stack(_outs)", *p.states]),
        "recompute": [p.line(a.target, a.value) for a in p.recompute],
        "adjoint": [p.line(a.target, a.value) for a in back.adjoint],
        "store_grad_x": [f"{_GRAD_IN}[_t] = {back.grad_x}"] if back.grad_x else [],
        "next_grads": [f"grad{s} = {p.state_grad(s)}" for s in p.states],
        "accumulate": [f"{p.totals[q]} += {back.grad_params[q]}{p.reduce[q]}" for q in p.totals],
    }


def _compiled_loops(p: Plan, kernels: Kernels, xs_saved: list[str]) -> dict:
    """The compile backend: the bodies of both time loops are compiled step kernels.

    The output and the input gradient are written by the kernels straight into their
    step's slice of a tensor allocated once for all T (each is returned whole).  What the
    backward reads is kept per step, as the kernel returns it, in a list like the fused
    backend's: a [T, ...] buffer for it would be one more allocation per call above
    glibc's mmap threshold, a fresh mapping whose every page faults in as the steps
    write it (the slow and noisy part of an earlier version), while step-sized tensors
    are reused from the heap."""
    n, back, lists, states, params = p.n, p.back, p.lists, p.states, p.params
    # forward: a saved state is appended where the step starts, a kept value is returned
    # by the kernel (under a name of its own when the step assigns its local again)
    out_slot = p.ns.fresh("_out")
    kept = [name for name in lists if name in p.keep]
    reassigned = {}
    for name in kept:
        index, local = p.keep[name]
        if any(a.target == local for a in p.step[index + 1 :]):
            reassigned[name] = p.ns.fresh(f"{name}_kept")
    body = p.forward_lines(
        p.after_keep(
            lambda name, local: f"{reassigned[name]} = {local}" if name in reassigned else ""
        ),
        4,
    )
    body = [line for line in body if line]
    body.append(f"{out_slot}.copy_({n.output})")
    fwd = kernels.add(
        f"_{code_name(n.neuron)}_step",
        f"One forward time step of {n.spec}.",
        ["_x", *states, *params, out_slot],
        body,
        [*states, *(reassigned.get(name, p.keep[name][1]) for name in kept)],
        len(n.shape),
    )
    step_call = call(fwd, "_xs[_t]", *states, *params, "_outs[_t]")
    # backward: recompute and adjoint lines; the input gradient goes into its slice
    args = _unique(
        [
            *(["_x"] if xs_saved else []),
            *lists,
            *(["grad_output"] if "grad_output" in p.needed else []),
            *(f"grad{s}" for s in states),
            *params,
        ]
    )
    body = [p.line(a.target, a.value, 4) for a in [*p.recompute, *back.adjoint]]
    gx_slot = p.ns.fresh("_g_x_out") if back.grad_x else None
    if gx_slot:
        body.append(f"{gx_slot}.copy_({back.grad_x})")
    bwd = kernels.add(
        f"_{code_name(n.neuron)}_back",
        f"One backward time step of {n.spec}.",
        [*args, *([gx_slot] if gx_slot else [])],
        body,
        [
            *(p.state_grad(s) for s in states),
            *(f"{back.grad_params[q]}{p.reduce[q]}" for q in p.totals),
        ],
        len(n.shape),
    )
    gp = {q: p.ns.fresh(f"_g{q}_t") for q in p.totals}
    targets = [*(f"grad{s}" for s in states), *gp.values()]
    back_call = call(bwd, *args, *([f"{_GRAD_IN}[_t]"] if gx_slot else []))
    loop = [f"    {lists[s]}.append({s})" for s in lists if s not in p.keep]
    loop.append("    " + layout.lines(", ".join([*states, *kept]), step_call, _INDENT_LOOP))
    loop += [f"    {lists[name]}.append({name})" for name in kept]
    return {
        "kernel_forward": [
            "_outs = torch.empty_like(_xs)",
            *(f"{lst} = []" for lst in lists.values()),
            "for _t in range(_xs.shape[0]):",
            *loop,
        ],
        "returns": _return(["_outs", *states]),
        "recompute": [],
        "adjoint": [layout.lines(", ".join(targets), back_call, _INDENT_LOOP)],
        "store_grad_x": [],
        "next_grads": [],
        "accumulate": [f"{p.totals[q]} += {gp[q]}" for q in p.totals],
    }


def _saved_steps(p: Plan, xs_saved: list[str]) -> dict:
    """What forward saves for the backward and how the backward gets it back: the input
    (when read), the parameters, then every per-step list unpacked (one tensor per step,
    not stacked: stacking would copy them all into a fresh [T, ...] buffer).  The
    backward splits the lists apart again by the sequence length."""
    fixed = [*xs_saved, *p.params]
    lists = list(p.lists.values())
    saved = _save([*fixed, *(f"*{lst}" for lst in lists)])
    if not lists:
        return {"saved": saved, "unpack": _unpack(fixed), "split": []}
    rest = lists[0] if len(lists) == 1 else p.ns.fresh("_kept")
    # the starred rest, or the whole tuple when nothing comes before it
    unpack = _unpack([*fixed, f"*{rest}"]) if fixed else f"{rest} = ctx.saved_tensors"
    if len(lists) == 1:
        return {"saved": saved, "unpack": unpack, "split": []}
    steps = p.ns.fresh("_steps")
    split = [f"{steps} = grad_outputs.shape[0]"]
    for i, lst in enumerate(lists):
        lo = "" if i == 0 else steps if i == 1 else f"{i} * {steps}"
        hi = "" if i == len(lists) - 1 else steps if i == 0 else f"{i + 1} * {steps}"
        split.append(f"{lst} = {rest}[{_slice(lo, hi)}]")
    return {"saved": saved, "unpack": unpack, "split": split}


def _slice(lo: str, hi: str) -> str:
    """``lo:hi`` spaced as ruff spaces it: around the colon when a bound is an expression
    (not beside an omitted bound), tight when the bounds are names."""
    if " " not in lo + hi:
        return f"{lo}:{hi}"
    return (f"{lo} " if lo else "") + ":" + (f" {hi}" if hi else "")


def _unpack(names: list[str]) -> str:
    """``... = ctx.saved_tensors`` in backward, laid out as ruff does ('' for none)."""
    if not names:
        return ""
    target = f"({names[0]},)" if len(names) == 1 else ", ".join(names)
    return layout.lines(target, layout.Atom("ctx.saved_tensors"), 8)


def _def(name: str, args: list[str]) -> str:
    """``def name(args):`` of an autograd.Function's static method, laid out."""
    return layout.joined(layout.header(f"def {name}", call("", *args), 4, ":"))


def _save(names: list[str]) -> str:
    """``ctx.save_for_backward(...)`` at the end of forward, laid out."""
    return layout.lines("", call("ctx.save_for_backward", *names), 8)


def _return(values: list[str]) -> str:
    return layout.joined(layout.returns(values, 8))


def _plan(back: autodiff.Backward, states: set[str], grads: set[str]):
    """What the backward loads and what it recomputes.

    Walking back from what the adjoints read: a value computed from a state (LIF's charged
    potential) is kept from the forward, one tensor per step; values computed from kept
    ones or from the input (the spike, its argument) are recomputed.  Returns the kept
    values ({recompute name: (step line, forward local)}), the recompute lines in order,
    and every name the backward reads (a state in it is kept at each step's start)."""
    needed = set(grads)
    for a in back.adjoint:
        needed |= ir.locals_used(a.value)
    keep: dict[str, tuple[int, str]] = {}
    redo = []
    for a, index in zip(reversed(back.recompute), reversed(back.origin)):
        if a.target not in needed:
            continue
        reads = ir.locals_used(a.value)
        if reads & states and index is not None:
            keep[a.target] = (index, back.step_targets[index])  # its forward local
        else:
            redo.append(a)
            needed |= reads
    return dict(reversed(list(keep.items()))), redo[::-1], needed
