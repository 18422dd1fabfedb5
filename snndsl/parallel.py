"""Parallel spiking neurons (Fang et al. 2023): PSN, MaskedPSN and SlidingPSN.

They have no recurrence: the charge of all T steps is one learnable linear map over time,
``H = W X + b`` with ``X`` the input sequence flattened to ``[T, N * ...]``, and the spike
is the surrogate of ``H``.  PSN and MaskedPSN (while its mask weight ``lambda < 1``) need the
whole sequence, so they have no single-step form; SlidingPSN and MaskedPSN with
``lambda >= 1`` keep a queue of the last ``k`` inputs in single-step mode, as SpikingJelly
2.0.0 does.  Unlike the other neurons these are not written in the prelude: their state is
a queue of inputs and their parameters are T x T matrices, which the equation language
does not express yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import ir
from .evaluate import SurrogateValue, describe
from .signature import ParamSpec

P = ParamSpec

# Locals the generated blocks of these neurons use around the spike expression.
LOCALS = frozenset({"_h", "_w", "_p", "_lam", "_row", "_queue", "_t", "_xs", "_spike"})


@dataclass(frozen=True)
class ParallelOp:
    name: str
    params: tuple[ParamSpec, ...]
    doc: str


OPS: dict[str, ParallelOp] = {
    op.name: op
    for op in (
        ParallelOp(
            "PSN",
            (P("T", "int"), P("surrogate", "surrogate?", None)),
            "H = W X + b over all T steps at once; multi-step only",
        ),
        ParallelOp(
            "MaskedPSN",
            (
                P("k", "int"),
                P("T", "int"),
                P("lambda_init", "float", 0.0),
                P("surrogate", "surrogate?", None),
            ),
            "PSN with W masked to the last k steps as lambda goes from 0 to 1",
        ),
        ParallelOp(
            "SlidingPSN",
            (P("k", "int"), P("exp_init", "bool", True), P("surrogate", "surrogate?", None)),
            "H[t] = sum of the last k inputs weighted by k learnable weights, plus b",
        ),
    )
}


def check_values(values: dict) -> tuple[str, str] | None:
    """(argument, problem) for an out-of-range argument, or None."""
    for key in ("T", "k"):
        if key in values and values[key] < 1:
            return key, f"{key} must be at least 1, got {values[key]}"
    return None


def single_step_problem(name: str, values: dict) -> str | None:
    """Why this parallel neuron has no single-step form, or None when it has one."""
    if name == "PSN":
        return "PSN mixes all T time steps at once, so it has no single-step form"
    if name == "MaskedPSN" and values["lambda_init"] < 1.0:
        return (
            f"MaskedPSN with lambda_init={values['lambda_init']!r} < 1 mixes all T steps, "
            "so it has no single-step form (it has one once lambda reaches 1)"
        )
    return None


def build(op: ParallelOp, values: dict, surrogate: SurrogateValue, **fields) -> ir.ParallelIR:
    """The IR node; ``fields`` carries names, shapes and the spike expressions."""
    shown = ", ".join(
        f"{p.name}={describe(surrogate if p.name == 'surrogate' else values[p.name])}"
        for p in op.params
    )
    return ir.ParallelIR(
        kind=op.name,
        T=values.get("T"),
        k=values.get("k"),
        lambda_init=values.get("lambda_init"),
        exp_init=values.get("exp_init"),
        spec=f"{op.name}({shown})",
        surrogate=ir.SurrogateRef(surrogate.definition.name, surrogate.args, surrogate.spiking),
        single_step_error=single_step_problem(op.name, values),
        **fields,
    )
