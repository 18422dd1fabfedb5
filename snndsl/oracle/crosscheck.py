"""``snndsl check``: run both generated forms (and SpikingJelly) on the same weights and input.

Both forms are generated and imported, the multi-step module loads the single-step
module's ``state_dict``, and both run in eval mode on the same seeded random input
(``T`` steps, batch ``N``).  The report lists the maximum absolute error of every
output and final neuron state, and the maximum relative error of the gradients of
``sum(outputs)`` with respect to the inputs and every parameter.  When SpikingJelly is
importable the same comparison runs against it.  Forward values must match exactly
(0.0); gradients within ``grad_tolerance``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from snndsl import ir
from snndsl.api import parse
from snndsl.loader import import_source

GRAD_TOLERANCE = 1e-6
DEFAULT_STEPS = 8
# Multi-step runs each stateless layer once over T*N samples, single-step T times over N:
# weight gradients are the same sums accumulated in a different order, so they agree to
# float32 rounding (measured up to ~1.3e-6 relative on specs/conv.snn), not bit for bit.
FORM_GRAD_TOLERANCE = 1e-5


@dataclass
class Comparison:
    label: str
    error: float
    tolerance: float
    relative: bool = False

    @property
    def ok(self) -> bool:
        return self.error <= self.tolerance


@dataclass
class CheckReport:
    network: str
    steps: int
    batch: int
    seed: int
    rows: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    oracle: str = "not run"

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def render(self) -> str:
        lines = [f"network {self.network}: T={self.steps}, N={self.batch}, seed={self.seed}"]
        lines += [f"  {n}" for n in self.notes]
        width = max((len(r.label) for r in self.rows), default=10)
        for r in self.rows:
            kind = "max rel error" if r.relative else "max abs error"
            verdict = "ok" if r.ok else "MISMATCH"
            lines.append(
                f"  {r.label:<{width}}  {kind} {r.error:.3e}  "
                f"(tolerance {r.tolerance:g})  {verdict}"
            )
        lines.append(f"  SpikingJelly 2.0.0: {self.oracle}")
        lines.append("PASS" if self.ok else "FAIL")
        return "\n".join(lines)


def _max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.shape != b.shape:
        return float("inf")
    return float((a.detach().double() - b.detach().double()).abs().max()) if a.numel() else 0.0


def _max_rel(a: torch.Tensor | None, b: torch.Tensor | None) -> float:
    if a is None or b is None:
        return 0.0 if a is None and b is None else float("inf")
    scale = max(float(b.detach().double().abs().max()), 1e-12) if b.numel() else 1.0
    return _max_abs(a, b) / scale


def make_inputs(
    net: ir.NetworkIR, steps: int, batch: int, seed: int, scale: float
) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand((steps, batch, *i.shape), generator=gen) * scale for i in net.inputs]


def _as_tuple(y) -> tuple[torch.Tensor, ...]:
    return y if isinstance(y, tuple) else (y,)


def run_single(module, xs: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    steps = [_as_tuple(module(*(x[t] for x in xs))) for t in range(xs[0].shape[0])]
    return tuple(torch.stack(ys) for ys in zip(*steps))


def _forward_and_grads(fn, module, xs):
    xs = [x.clone().requires_grad_(True) for x in xs]
    ys = fn(module, xs)
    total = sum(y.sum() for y in ys)
    params = dict(module.named_parameters())
    for p in params.values():
        p.grad = None
    total.backward()
    grads = {f"input {i}": x.grad for i, x in enumerate(xs)}
    grads.update({f"grad {k}": p.grad for k, p in params.items()})
    return ys, grads


def run_check(
    spec,
    network: str | None = None,
    params=None,
    steps: int | None = None,
    batch: int = 4,
    seed: int = 1,
    scale: float = 4.0,
    against: str = "auto",
    grad_tolerance: float = GRAD_TOLERANCE,
    backend: str = "eager",
    progress: Callable[[str], None] | None = None,
) -> CheckReport:
    """Cross-check a spec; ``against`` is 'auto', 'spikingjelly' or 'none'.

    ``steps`` defaults to 8, or to the ``steps`` of the spec's parallel neurons (PSN,
    MaskedPSN), which need exactly that many.  ``progress`` is called with the name of
    each stage as it starts (the command line shows it on a terminal).
    """
    stage = progress or (lambda text: None)
    stage("checking the spec")
    from snndsl.backends import render
    from snndsl.semantics.checker import check_module

    net = check_module(parse(spec), network, params)
    fixed = sorted({p.steps for p in net.parallels if p.steps is not None})
    if len(fixed) > 1:
        raise RuntimeError(f"the spec's parallel neurons need different numbers of steps: {fixed}")
    if steps is None:
        steps = fixed[0] if fixed else DEFAULT_STEPS
    elif fixed and steps != fixed[0]:
        raise RuntimeError(
            f"the spec's parallel neurons run exactly {fixed[0]} steps; use --steps {fixed[0]}"
        )
    blockers = [p.single_step_error for p in net.parallels if p.single_step_error]
    stage("generating both forms")
    multi_cls = import_source(render(net, "multi", backend), net.name, "multi")
    single_cls = None if blockers else import_source(render(net, "single"), net.name, "single")
    report = CheckReport(net.name, steps, batch, seed)
    torch.manual_seed(seed)
    single = single_cls().eval() if single_cls is not None else None
    multi = multi_cls().eval()
    if single is not None:
        multi.load_state_dict(single.state_dict())
    xs = make_inputs(net, steps, batch, seed, scale)

    def multi_fn(m, inputs):
        return _as_tuple(m(*inputs))

    stage("running the multi-step form")
    ys_m, g_m = _forward_and_grads(multi_fn, multi, xs)
    for o, y in zip(net.outputs, ys_m):
        rate = float(y.detach().float().mean())
        report.notes.append(f"output {o.name}: shape {list(y.shape)}, mean {rate:.4f}")
        if not y.detach().any():
            report.notes.append(
                f"warning: output {o.name} is all zero, so this check is weak; "
                "try another --seed or --input-scale"
            )
    if single is None:
        report.notes.append("single-step form: not generated (" + "; ".join(blockers) + ")")
    else:
        stage("running the single-step form")
        _compare_forms(report, net, single, multi, xs, ys_m, g_m, grad_tolerance)
    if against != "none":
        stage("comparing with SpikingJelly")
    _oracle(report, net, multi, xs, ys_m, g_m, against, grad_tolerance)
    return report


# Parallel neurons with a window (SlidingPSN, MaskedPSN) sum the window step by step in
# single-step mode and multiply by a T x T matrix in multi-step mode, exactly as
# SpikingJelly's two modes do; values agree to float rounding (measured 3e-8 with an
# analog surrogate), not bit for bit.
WINDOW_FORM_TOLERANCE = 1e-6


def windowed_outputs(net: ir.NetworkIR) -> set[str]:
    """The outputs computed through a parallel neuron's window (see WINDOW_FORM_TOLERANCE)."""
    producer = {n.value: n for n in net.nodes}
    out = set()
    for o in net.outputs:
        seen, todo = set(), [o.source]
        while todo:
            value = todo.pop()
            if value in seen or value not in producer:
                continue
            seen.add(value)
            node = producer[value]
            if isinstance(node, ir.ParallelIR):
                out.add(o.name)
                break
            todo.extend(ir.node_sources(node))
            if isinstance(node, ir.DelayIR):
                todo.append(node.source)
    return out


def _compare_forms(report, net, single, multi, xs, ys_m, g_m, grad_tolerance) -> None:
    ys_s, g_s = _forward_and_grads(lambda m, inputs: run_single(m, inputs), single, xs)
    windowed = windowed_outputs(net)
    if windowed:
        report.notes.append(
            "parallel neurons: single-step sums the window, multi-step multiplies by the "
            f"T x T matrix (as in SpikingJelly); outputs {', '.join(sorted(windowed))} "
            f"compared to {WINDOW_FORM_TOLERANCE:g}"
        )
    for o, a, b in zip(net.outputs, ys_m, ys_s):
        tolerance = WINDOW_FORM_TOLERANCE if o.name in windowed else 0.0
        report.rows.append(
            Comparison(f"multi vs single: output {o.name}", _max_abs(a, b), tolerance)
        )
    for d in net.delays:  # the fed-back values both forms keep for the next call
        a, b = getattr(multi, d.attr), getattr(single, d.attr)
        report.rows.append(Comparison(f"multi vs single: {d.spec} kept", _max_abs(a, b), 0.0))
    for n in net.neurons:
        for s in n.states:
            a, b = getattr(multi, s.attr), getattr(single, s.attr)
            report.rows.append(
                Comparison(f"multi vs single: state {n.attr}.{s.name}", _max_abs(a, b), 0.0)
            )
        if n.v_seq:
            a, b = getattr(multi, n.v_seq), getattr(single, n.v_seq)
            report.rows.append(Comparison(f"multi vs single: {n.v_seq}", _max_abs(a, b), 0.0))
    for k in g_s:
        report.rows.append(
            Comparison(
                f"multi vs single: {k}",
                _max_rel(g_m[k], g_s[k]),
                max(grad_tolerance, FORM_GRAD_TOLERANCE),
                relative=True,
            )
        )


def _oracle(report, net, multi, xs, ys_m, g_m, against, grad_tolerance) -> None:
    from snndsl.oracle import spikingjelly as oracle

    if against == "none":
        report.oracle = "skipped (--against none)"
        return
    if not oracle.available():
        if against == "spikingjelly":
            raise RuntimeError(
                "SpikingJelly is not installed; pip install --no-deps "
                "spikingjelly==2.0.0 loguru numpy"
            )
        report.oracle = "not installed, skipped"
        return
    problems = oracle.unsupported(net)
    if problems:
        report.oracle = "no counterpart: " + "; ".join(problems)
        return
    ref = oracle.OracleNetwork(net).eval()
    missing, unexpected = ref.load_state_dict(multi.state_dict(), strict=False)
    if missing or unexpected:  # pragma: no cover - would be a naming bug
        raise RuntimeError(f"state_dict mismatch: {missing} {unexpected}")

    def ref_fn(m, inputs):
        return _as_tuple(m(*inputs))

    ys_r, g_r = _forward_and_grads(ref_fn, ref, xs)
    for o, a, b in zip(net.outputs, ys_m, ys_r):
        report.rows.append(
            Comparison(f"multi vs SpikingJelly: output {o.name}", _max_abs(a, b), 0.0)
        )
    ref_states = ref.neuron_states()
    for n in net.neurons:
        for s in n.states:
            report.rows.append(
                Comparison(
                    f"multi vs SpikingJelly: state {n.attr}.{s.name}",
                    _max_abs(getattr(multi, s.attr), ref_states[s.attr]),
                    0.0,
                )
            )
    for name, recorded in ref.v_seqs().items():
        report.rows.append(
            Comparison(
                f"multi vs SpikingJelly: {name}", _max_abs(getattr(multi, name), recorded), 0.0
            )
        )
    for k in g_r:
        report.rows.append(
            Comparison(
                f"multi vs SpikingJelly: {k}",
                _max_rel(g_m[k], g_r[k]),
                grad_tolerance,
                relative=True,
            )
        )
    report.oracle = "compared (rows above)"
