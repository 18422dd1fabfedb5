"""The fused multi-step form of a neuron layer: one ``torch.autograd.Function`` per layer.

Its forward runs the layer's time loop with the same equations, in the same order, as
the plain multi-step form (so values are bit-identical) and keeps only the state at the
start of every step.  Its backward walks time in reverse with the step's derivative,
derived symbolically from the neuron's own equations by :mod:`snndsl.autodiff`: no
autograd graph is recorded inside the loop.  This module turns a ``NeuronIR`` into the
pre-printed pieces templates/module.py.j2 (the class) and blocks.py.j2 (the call) lay out.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import autodiff, ir
from .names import Namespace

_INDENT_LOOP = 12  # statements inside the time loops of forward and backward


@dataclass(frozen=True)
class FusedNeuron:
    class_name: str
    view: dict  # for the class template
    call: str  # the right-hand side of the call in forward(): ``_F.apply(...)``


def _subst_x(e: ir.PyExpr) -> ir.PyExpr:
    from .codegen import _substitute

    return _substitute(e, "x", ir.Local("_x"))


def _line(target: str, value: ir.PyExpr) -> str:
    from .codegen import _assign

    return _assign(target, value, _INDENT_LOOP)


def fuse(n: ir.NeuronIR, class_name: str, seq: str) -> FusedNeuron | None:
    """The fused form of ``n`` reading the sequence ``seq``, or None when its equations
    use something :mod:`snndsl.autodiff` cannot differentiate (or it records v_seq)."""
    if n.v_seq:
        return None
    step = tuple(ir.Assignment(a.target, _subst_x(a.value)) for a in n.step)
    states = tuple(s.local for s in n.states)
    params = tuple(a.target for a in n.setup)
    used = {"_x", "_xs", "_t", "_outs", "grad_output", "grad_outputs", *states, *params}
    for a in step:
        used.add(a.target)
        used |= ir.locals_used(a.value)
    ns = Namespace(used | {f"grad{s}" for s in states})
    try:
        back = autodiff.derive(step, "_x", states, params, n.output, ns)
    except autodiff.NotDifferentiable:
        return None
    saved = {s: ns.fresh(f"{s}_seq") for s in states}
    results = {back.grad_x, *back.grad_state_inputs.values(), *back.grad_params.values()}
    recompute, needed = _prune(back.recompute, back.adjoint, {r for r in results if r})
    totals = {p: ns.fresh(f"_g{p}_total") for p in params if back.grad_params[p]}
    grad_in = "_gxs"
    ns.reserve(grad_in)
    view = {
        "class_name": class_name,
        "doc": f"{n.attr}: {n.spec}, over a whole sequence; backward through time derived "
        "from its equations.",
        "args": ", ".join(["_xs", *states, *params]),
        "saved_lists": [f"{saved[s]} = []" for s in states],
        "save_step": [f"{saved[s]}.append({s})" for s in states],
        # autograd records nothing inside forward, so the spike is its Heaviside value
        "step": [_line(a.target, autodiff.without_spikes(a.value)) for a in step],
        "output": n.output,
        "saved": ", ".join(["_xs", *(f"torch.stack({saved[s]})" for s in states), *params]),
        "returns": ", ".join(["torch.stack(_outs)", *states]),
        "grad_args": ", ".join(["grad_outputs", *(f"grad{s}" for s in states)]),
        "unpack": ", ".join(["_xs", *saved.values(), *params])
        + ("," if not states and not params else ""),
        "grad_x_init": f"{grad_in} = torch.zeros_like(_xs)"
        if back.grad_x is None
        else f"{grad_in} = torch.empty_like(_xs)",
        "totals_init": [f"{totals[p]} = torch.zeros_like({p})" for p in totals],
        "load_x": "_x = _xs[_t]" if "_x" in needed else "",
        "load_output": "grad_output = grad_outputs[_t]" if "grad_output" in needed else "",
        "load_step": [f"{s} = {saved[s]}[_t]" for s in states if s in needed],
        "recompute": [_line(a.target, a.value) for a in recompute],
        "adjoint": [_line(a.target, a.value) for a in back.adjoint],
        "store_grad_x": [f"{grad_in}[_t] = {back.grad_x}"] if back.grad_x else [],
        "next_grads": [
            f"grad{s} = {back.grad_state_inputs[s]}"
            if back.grad_state_inputs[s]
            else f"grad{s} = torch.zeros_like(grad{s})"
            for s in states
        ],
        "accumulate": [f"{totals[p]} += {back.grad_params[p]}.sum()" for p in totals],
        "results": ", ".join(
            [grad_in, *(f"grad{s}" for s in states), *(totals.get(p, "None") for p in params)]
        ),
    }
    call = f"{class_name}.apply({', '.join([seq, *states, *params])})"
    return FusedNeuron(class_name, view, call)


def _prune(recompute, adjoint, grads: set[str]) -> tuple[list, set[str]]:
    """The recompute assignments the adjoints need, and the locals they all read."""
    needed = set(grads)
    for a in adjoint:
        needed |= ir.locals_used(a.value)
    kept = []
    for a in reversed(recompute):
        if a.target in needed:
            kept.append(a)
            needed |= ir.locals_used(a.value)
    return kept[::-1], needed
