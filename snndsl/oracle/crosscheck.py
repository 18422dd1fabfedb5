"""``snndsl check``: run both generated forms (and SpikingJelly) on the same weights and input.

Both forms are generated and imported, the multi-step module loads the single-step
module's ``state_dict``, and both run in eval mode on the same seeded random input
(``T`` steps, batch ``N``).  Before that, a short calibration (:mod:`.calibrate`)
scales the weights feeding each neuron layer so that every layer fires in a useful
band: a check that compares silent layers proves little.  Every output, final neuron
state and kept value, and the gradients of ``sum(outputs)`` with respect to the inputs
and every parameter, are compared between the forms (and with SpikingJelly 2.0.0 in
both its multi-step and its single-step mode, when it is importable) by principle: each
run is repeated in float64, and a float32 difference passes only as rounding the
float64 reference accounts for (:mod:`.compare`).  The report lists the firing rate of
every neuron layer and warns about silent or saturated ones.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from snndsl import ir
from snndsl.api import parse
from snndsl.backends.torch.naming import module_names
from snndsl.loader import import_source
from snndsl.oracle.compare import Comparison, compare_runs
from snndsl.semantics.parallel import single_step_problem

DEFAULT_STEPS = 8
Run = dict[str, "torch.Tensor | None"]


@dataclass
class CheckReport:
    network: str
    steps: int
    batch: int
    seed: int
    rows: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rates: list[tuple[str, float]] = field(default_factory=list)  # neuron layer, firing rate
    analog: set[str] = field(default_factory=set)  # layers whose outputs are not spikes
    oracle: str = "not run"
    peers: list[tuple[str, str]] = field(default_factory=list)  # (library, outcome)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def render(self) -> str:
        lines = [f"network {self.network}: T={self.steps}, N={self.batch}, seed={self.seed}"]
        lines += [f"  {n}" for n in self.notes]
        if self.rates:
            rates = ", ".join(
                f"{name} {rate:.1%}" + (" non-zero (analog)" if name in self.analog else "")
                for name, rate in self.rates
            )
            lines.append(f"  firing rates: {rates}")
        width = max((len(r.label) for r in self.rows), default=10)
        for r in self.rows:
            lines.append(f"  {r.label:<{width}}  {r.describe()}")
        lines.append(f"  SpikingJelly 2.0.0: {self.oracle}")
        lines += [f"  {library}: {outcome}" for library, outcome in self.peers]
        lines.append("PASS" if self.ok else "FAIL")
        return "\n".join(lines)


def make_inputs(
    net: ir.NetworkIR, steps: int, batch: int, seed: int, scale: float
) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand((steps, batch, *i.shape), generator=gen) * scale for i in net.inputs]


def resolve_steps(net: ir.NetworkIR, steps: int | None) -> int:
    """The number of time steps to run: ``steps``, or 8, or the ``steps`` of the spec's
    parallel neurons (PSN, MaskedPSN), which need exactly that many."""
    fixed = sorted({p.steps for p in net.parallels if p.steps is not None})
    if len(fixed) > 1:
        raise RuntimeError(f"the spec's parallel neurons need different numbers of steps: {fixed}")
    if steps is None:
        return fixed[0] if fixed else DEFAULT_STEPS
    if fixed and steps != fixed[0]:
        raise RuntimeError(
            f"the spec's parallel neurons run exactly {fixed[0]} steps; use --steps {fixed[0]}"
        )
    return steps


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
    backend: str = "eager",
    calibrate: bool = True,
    progress: Callable[[str], None] | None = None,
) -> CheckReport:
    """Cross-check a spec; ``against`` is 'auto', 'spikingjelly' or 'none'.

    ``steps`` defaults to 8, or to the ``steps`` of the spec's parallel neurons (PSN,
    MaskedPSN), which need exactly that many.  ``calibrate`` scales the weights feeding
    each neuron layer until it fires in a useful band (see :mod:`.calibrate`).
    ``progress`` is called with the name of each stage as it starts (the command line
    shows it on a terminal).
    """
    say = progress or (lambda message: None)
    say("checking the spec")
    from snndsl.backends import render
    from snndsl.semantics.checker import check_module

    net = check_module(parse(spec), network, params)
    steps = resolve_steps(net, steps)
    blockers = [single_step_problem(p) for p in net.parallels if single_step_problem(p)]
    say("generating both forms")
    multi_cls = import_source(render(net, "multi", backend), net.name, "multi")
    single_cls = None if blockers else import_source(render(net, "single"), net.name, "single")
    report = CheckReport(net.name, steps, batch, seed)
    if blockers:
        report.notes.append("single-step form: not generated (" + "; ".join(blockers) + ")")
    return check_modules(
        report, net, multi_cls, single_cls, scale, against, calibrate=calibrate, say=say
    )


def check_modules(
    report: CheckReport,
    net: ir.NetworkIR,
    multi_cls,
    single_cls,
    scale: float = 4.0,
    against: str = "auto",
    calibrate: bool = True,
    say=lambda message: None,
) -> CheckReport:
    """The comparisons of :func:`run_check`, on given module classes (the generated
    forms of ``net``, or, in the tests, forms with a fault injected)."""
    from snndsl.oracle.calibrate import calibrate_weights, firing_rates

    steps, batch, seed = report.steps, report.batch, report.seed
    torch.manual_seed(seed)
    single = single_cls().eval() if single_cls is not None else None
    multi = multi_cls().eval()
    if single is not None:
        multi.load_state_dict(single.state_dict())
    xs = make_inputs(net, steps, batch, seed, scale)
    if calibrate:
        say("calibrating")
        report.notes += calibrate_weights(net, multi, xs)
        if single is not None:
            single.load_state_dict(multi.state_dict())
    rates = firing_rates(net, multi, xs)
    report.rates = [(name, rate) for name, rate, _ in rates]
    report.analog = {name for name, _, spikes in rates if not spikes}
    for name, rate, spikes in rates:
        if rate == 0.0:
            report.notes.append(f"warning: neuron layer {name} is silent, so this check is weak")
        elif rate == 1.0 and spikes:
            report.notes.append(f"warning: neuron layer {name} fires every step (saturated)")
    names = module_names(net)

    def ours(module, m) -> Run:
        return _collect(net, names, module, m)

    say("running the multi-step form")
    runs = {"multi": _Run(_run_multi, multi, xs, ours)}
    for o, y in zip(net.outputs, runs["multi"].f32[0]):
        report.notes.append(
            f"output {o.name}: shape {list(y.shape)}, mean {float(y.detach().mean()):.4f}"
        )
        if not y.detach().any():
            report.notes.append(
                f"warning: output {o.name} is all zero, so this check is weak; "
                "try another --seed or --input-scale"
            )
    if single is not None:
        say("running the single-step form")
        runs["single"] = _Run(run_single, single, xs, ours)
        report.rows += _judge("multi vs single: ", runs["multi"], runs["single"], say)
    _oracle(report, net, multi, xs, runs, against, say)
    _peer_oracles(report, net, multi, xs, runs, against, say)
    return report


def _run_multi(module, inputs):
    return _as_tuple(module(*inputs))


class _Run:
    """One form run on the check's input: in float32 now, and in float64 (on a copy of
    the module made before the float32 run) only when a comparison needs the reference.
    ``collect(module, (outputs, gradients))`` picks the tensors it is judged by."""

    def __init__(self, fn, module, xs: list[torch.Tensor], collect):
        module.reset()
        self._fn, self._xs, self._collect = fn, xs, collect
        self._copy = copy.deepcopy(module)
        self.f32 = _forward_and_grads(fn, module, xs)
        self.tensors32 = collect(module, self.f32)
        self._tensors64: Run | None = None

    def tensors64(self) -> Run:
        if self._tensors64 is None:
            module = self._copy.double()
            result = _forward_and_grads(self._fn, module, [x.double() for x in self._xs])
            self._tensors64 = self._collect(module, result)
        return self._tensors64


def _judge(prefix: str, a: _Run, b: _Run, say) -> list[Comparison]:
    """Compare two runs; their float64 references are computed only when some tensor
    differs in float32."""

    def reference() -> tuple[Run, Run]:
        say("running the float64 reference")
        return a.tensors64(), b.tensors64()

    return compare_runs(prefix, a.tensors32, b.tensors32, reference)


def _collect(net: ir.NetworkIR, names, module, result) -> Run:
    """Every tensor a generated module's run is judged by: outputs, final neuron
    states, kept values (delays, recordings), gradients."""
    ys, grads = result
    out: Run = {f"output {o.name}": y for o, y in zip(net.outputs, ys)}
    for d in net.delays:  # the fed-back values both forms keep for the next call
        out[f"{d.spec} kept"] = getattr(module, names.delays[d.value])
    for n in net.neurons:
        for s in n.states:
            out[f"state {n.attr}.{s.name}"] = getattr(module, names.state(n, s.name))
        if n.v_seq:
            out[n.v_seq] = getattr(module, n.v_seq)
    out.update(grads)
    return out


def _collect_reference(net: ir.NetworkIR, module, result) -> Run:
    """The same tensors of a SpikingJelly run (no kept delays: it has no feedback)."""
    ys, grads = result
    out: Run = {f"output {o.name}": y for o, y in zip(net.outputs, ys)}
    states = module.neuron_states()
    for n in net.neurons:
        for s in n.states:
            out[f"state {n.attr}.{s.name}"] = states[(n.attr, s.name)]
    out.update(module.v_seqs())
    out.update(grads)
    return out


def _peer_oracles(report, net, multi, xs, runs, against, say) -> None:
    """Compare the library neurons (``snntorch.Leaky``, ``norse.LIF``, ...) with their
    peers, in the peer's multi-step and single-step use, like SpikingJelly's rows."""
    from snndsl.oracle import peers

    used = peers.libraries(net)
    if against not in ("auto", *used):
        return
    for library in used:
        label = peers.describe(library)
        if not peers.available(library):
            if against == library:
                raise RuntimeError(
                    f"{label} is not installed; pip install --no-deps "
                    "snntorch==1.0.0 norse==1.1.0 nir nirtorch h5py"
                )
            report.peers.append((label, "not installed, skipped"))
    missing = [lib for lib in used if not peers.available(lib)]
    problems = peers.unsupported(net)
    if not used or missing:
        return
    names = ", ".join(peers.describe(lib) for lib in used)
    if problems:
        report.peers.append((names, "no counterpart: " + "; ".join(problems)))
        return

    def theirs(module, result) -> Run:
        return _collect_reference(net, module, result)

    say(f"running {names}")
    ref = peers.PeerNetwork(net).eval()
    ref.load_state_dict(multi.state_dict(), strict=False)
    report.rows += _judge(
        f"multi vs {names}: ", runs["multi"], _Run(_run_multi, ref, xs, theirs), say
    )
    modes = "multi-step use"
    if "single" in runs:
        say(f"running {names} step by step")
        ref_s = peers.PeerNetwork(net, step_mode="s").eval()
        ref_s.load_state_dict(multi.state_dict(), strict=False)
        ref_run = _Run(run_single, ref_s, xs, theirs)
        report.rows += _judge(f"single vs {names} step by step: ", runs["single"], ref_run, say)
        modes = "multi-step use and step by step"
    report.peers.append((names, f"compared in its {modes} (rows above)"))


def _oracle(report, net, multi, xs, runs, against, say) -> None:
    from snndsl.oracle import spikingjelly as oracle

    if against not in ("auto", "spikingjelly"):
        report.oracle = f"skipped (--against {against})"
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
    say("running SpikingJelly")

    def theirs(module, result) -> Run:
        return _collect_reference(net, module, result)

    ref = oracle.OracleNetwork(net).eval()
    missing, unexpected = ref.load_state_dict(multi.state_dict(), strict=False)
    if missing or unexpected:  # pragma: no cover - would be a naming bug
        raise RuntimeError(f"state_dict mismatch: {missing} {unexpected}")
    ref_run = _Run(_run_multi, ref, xs, theirs)
    report.rows += _judge("multi vs SpikingJelly: ", runs["multi"], ref_run, say)
    modes = "multi-step mode"
    if "single" in runs and not net.parallels:
        say("running SpikingJelly step by step")
        ref_s = oracle.OracleNetwork(net, step_mode="s").eval()
        ref_s.load_state_dict(multi.state_dict(), strict=False)
        ref_run = _Run(run_single, ref_s, xs, theirs)
        report.rows += _judge("single vs SpikingJelly single-step: ", runs["single"], ref_run, say)
        modes = "multi-step and single-step modes"
    report.oracle = f"compared in its {modes} (rows above)"
