"""``snndsl trace``: pictures of a run (spike rasters, membrane traces, firing rates).

The network runs as ``snndsl check`` runs it: the eager multi-step form, seeded weights
calibrated so that every neuron layer fires in a useful band
(:func:`snndsl.oracle.calibrate.calibrate_weights`), on the check's seeded random input
(:func:`snndsl.oracle.crosscheck.make_inputs`).  The calibration's probe (every neuron
layer as an output, each neuron layer recording its first state over time) gives each
layer's spikes and membrane potential.  :func:`render` draws, per neuron layer, a spike
raster (time x neuron, one sample, an evenly spaced subset of the neurons when there are
many) and the traces of the first state of the most active few neurons, and a bar chart
of the firing rates; :meth:`Trace.table` prints the rates.  matplotlib is an optional
extra (``pip install "snndsl[plot]"``); nothing here imports it before :func:`render`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

PLOT_EXTRA = 'pip install "snndsl[plot]"'
FORMATS = ("png", "svg")
MAX_NEURONS = 64  # neurons shown in one raster, at most
TRACES = 3  # membrane traces per layer


class MissingMatplotlib(RuntimeError):
    def __init__(self) -> None:
        super().__init__(f"drawing needs matplotlib, which is not installed: {PLOT_EXTRA}")


def require_matplotlib() -> None:
    """Raise :class:`MissingMatplotlib` when matplotlib cannot be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingMatplotlib() from None


@dataclass
class LayerTrace:
    name: str  # the layer's label
    neuron: str  # its neuron definition (or 'parallel')
    spikes: object  # torch.Tensor [T, N, *]: the layer's outputs
    state: str | None  # the name of the recorded state, or None (a parallel neuron)
    potential: object  # torch.Tensor [T, N, *] of that state, or None
    rate: float  # fraction of non-zero outputs over time, batch and units
    analog: bool  # outputs are not 0/1 spikes (LIAF, spiking=false)

    @property
    def units(self) -> int:
        return int(self.spikes[0, 0].numel())


@dataclass
class Trace:
    network: str
    steps: int
    batch: int
    seed: int
    layers: list[LayerTrace] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        """The firing rate of each neuron layer, one row each."""
        rows = [("layer", "neuron", "units", "rate")]
        for t in self.layers:
            rate = f"{t.rate:.1%}" + (" non-zero (analog)" if t.analog else "")
            if t.rate == 0.0:
                rate += "  silent"
            elif t.rate == 1.0 and not t.analog:
                rate += "  saturated"
            rows.append((t.name, t.neuron, str(t.units), rate))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [
            f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}".rstrip()
            for r in rows
        ]
        head = f"network {self.network}: T={self.steps}, N={self.batch}, seed={self.seed}"
        notes = [f"  {n}" for n in self.notes]
        return "\n".join([head, *notes, *lines]) + "\n"


def run_trace(
    spec,
    network: str | None = None,
    params=None,
    steps: int | None = None,
    batch: int = 4,
    seed: int = 1,
    scale: float = 4.0,
    calibrate: bool = True,
    weights=None,
    inputs=None,
) -> Trace:
    """Run the network as ``snndsl check`` does and record every neuron layer.

    ``weights`` (a state_dict, loaded strictly) replaces the seeded, calibrated weights;
    ``inputs`` (one ``[T, N, *shape]`` tensor per network input, in the spec's order)
    replaces the seeded random input, and sets T and N.  Either problem is a
    RuntimeError that says what does not fit."""
    import torch

    from snndsl import ir
    from snndsl.api import parse
    from snndsl.backends import render as render_source
    from snndsl.loader import import_source
    from snndsl.oracle.calibrate import calibrate_weights, run_probe, spiking_layers
    from snndsl.oracle.crosscheck import make_inputs, resolve_steps
    from snndsl.semantics.checker import check_module

    net = check_module(parse(spec), network, params)
    if inputs is not None:
        xs = _given_inputs(net, inputs)
        steps, batch = int(xs[0].shape[0]), int(xs[0].shape[1])
    steps = resolve_steps(net, steps)
    torch.manual_seed(seed)
    module = import_source(render_source(net, "multi", "eager"), net.name, "multi")().eval()
    if inputs is None:
        xs = make_inputs(net, steps, batch, seed, scale)
    trace = Trace(net.name, steps, batch, seed)
    if weights is not None:
        try:
            module.load_state_dict(weights, strict=True)
        except (RuntimeError, TypeError) as err:
            raise RuntimeError(f"the weights do not fit network {net.name}: {err}") from None
        trace.notes.append("weights: as given")
    elif calibrate:
        trace.notes += calibrate_weights(net, module, xs)
    if inputs is not None:
        trace.notes.append("input: as given")
    ys, records = run_probe(net, module, xs)
    for node, y in zip(spiking_layers(net), ys):
        y = y.detach()
        state = node.states[0].name if isinstance(node, ir.NeuronIR) and node.states else None
        potential = records.get(node.attr)
        trace.layers.append(
            LayerTrace(
                name=node.attr,
                neuron=getattr(node, "neuron", "parallel"),
                spikes=y,
                state=state if potential is not None else None,
                potential=None if potential is None else potential.detach(),
                rate=float((y != 0).float().mean()),
                analog=not bool(((y == 0) | (y == 1)).all()),
            )
        )
    return trace


def _given_inputs(net, inputs) -> list:
    """``inputs`` checked against the network's inputs: float ``[T, N, *shape]`` tensors,
    one per input (a dict by input name, or a sequence in the spec's order), sharing T
    and N, with T >= 1 and N >= 1."""
    import torch

    names = [i.name for i in net.inputs]
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    if isinstance(inputs, dict):
        missing = [n for n in names if n not in inputs]
        extra = sorted(set(map(str, inputs)) - set(names))
        if missing or extra:
            raise RuntimeError(
                f"the input names {sorted(map(str, inputs))} do not match the network's "
                f"inputs {names}"
            )
        inputs = [inputs[n] for n in names]
    inputs = list(inputs)
    if len(inputs) != len(names):
        raise RuntimeError(f"{len(inputs)} input tensors for {len(names)} inputs {names}")
    first = None
    for spec_input, x in zip(net.inputs, inputs):
        want = [*spec_input.shape]
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise RuntimeError(f"input '{spec_input.name}': expected a float tensor")
        if x.dim() != 2 + len(want) or list(x.shape[2:]) != want or 0 in x.shape[:2]:
            raise RuntimeError(
                f"input '{spec_input.name}': expected [T, N, {', '.join(map(str, want))}] "
                f"with T, N >= 1, got {list(x.shape)}"
            )
        if first is not None and x.shape[:2] != first:
            raise RuntimeError(
                "the inputs differ in T or N: " + str([list(first), list(x.shape[:2])])
            )
        first = x.shape[:2]
    return [x.detach().float() for x in inputs]


def _shown(units: int, limit: int) -> list[int]:
    """At most ``limit`` neuron indices, evenly spaced over ``units``."""
    if units <= limit:
        return list(range(units))
    return sorted({round(i * (units - 1) / (limit - 1)) for i in range(limit)})


def render(trace: Trace, fmt: str = "png", sample: int = 0, max_neurons: int = MAX_NEURONS):
    """The picture of ``trace`` as PNG or SVG bytes (matplotlib, no display needed)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    require_matplotlib()
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    rows = len(trace.layers) + 1
    fig = Figure(figsize=(11, 2.4 * rows), layout="constrained")
    fig.suptitle(
        f"{trace.network}: T={trace.steps}, sample {sample} of N={trace.batch}, seed={trace.seed}"
    )
    grid = fig.add_gridspec(rows, 2)
    for row, layer in enumerate(trace.layers):
        spikes = layer.spikes[:, sample].reshape(layer.spikes.shape[0], -1)  # [T, units]
        shown = _shown(spikes.shape[1], max_neurons)
        raster = fig.add_subplot(grid[row, 0])
        sub = spikes[:, shown]
        ts, js = (sub != 0).nonzero(as_tuple=True)
        ys = [shown[j] for j in js.tolist()]  # the neurons' own indices
        raster.scatter(ts.tolist(), ys, marker="|", s=60, color="black", linewidths=1)
        raster.set_xlim(-0.5, spikes.shape[0] - 0.5)
        raster.set_ylim(-0.5, spikes.shape[1] - 0.5)
        raster.yaxis.set_major_locator(MaxNLocator(integer=True))
        raster.xaxis.set_major_locator(MaxNLocator(integer=True))
        kind = "non-zero outputs" if layer.analog else "spikes"
        subset = (
            f", {len(shown)} of {spikes.shape[1]} neurons" if len(shown) < spikes.shape[1] else ""
        )
        raster.set_title(f"{layer.name} ({layer.neuron}): {kind}{subset}", fontsize=9)
        raster.set_xlabel("time step")
        raster.set_ylabel("neuron")
        if not len(ts):
            raster.text(0.5, 0.5, "silent", transform=raster.transAxes, ha="center", color="red")
        membrane = fig.add_subplot(grid[row, 1])
        if layer.potential is None:
            membrane.text(0.5, 0.5, "no membrane state", transform=membrane.transAxes, ha="center")
            membrane.set_axis_off()
            continue
        v = layer.potential[:, sample].reshape(layer.potential.shape[0], -1)
        counts = (spikes != 0).sum(0)
        top = sorted(range(v.shape[1]), key=lambda j: (-int(counts[j]), j))[:TRACES]
        for j in sorted(top):
            membrane.plot(range(v.shape[0]), v[:, j].tolist(), marker=".", label=f"neuron {j}")
        membrane.set_title(f"{layer.name}.{layer.state} of {len(top)} neurons", fontsize=9)
        membrane.set_xlabel("time step")
        membrane.xaxis.set_major_locator(MaxNLocator(integer=True))
        membrane.legend(fontsize=7, loc="upper right")
    bars = fig.add_subplot(grid[rows - 1, :])
    names = [t.name for t in trace.layers]
    rates = [t.rate for t in trace.layers]
    colors = ["red" if r == 0.0 else "tab:blue" for r in rates]
    bars.bar(range(len(names)), rates, color=colors)
    bars.set_xticks(range(len(names)), names, rotation=45 if len(names) > 8 else 0, fontsize=8)
    bars.set_ylim(0, max(1e-3, min(1.0, max(rates, default=0) * 1.2)))
    bars.set_ylabel("firing rate")
    bars.set_title("firing rate per neuron layer (all samples and steps)", fontsize=9)
    for i, r in enumerate(rates):
        bars.text(i, r, f"{r:.1%}", ha="center", va="bottom", fontsize=7)
    buf = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {}
    with rc_context({"svg.hashsalt": "snndsl"}):  # the same ids every time
        fig.savefig(buf, format=fmt, dpi=80, metadata=metadata)
    return buf.getvalue()
