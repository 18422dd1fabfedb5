"""Export a network and its weights to NIR (the Neuromorphic Intermediate Representation).

``to_nir(spec or generated module, weights, dt=1e-4)`` returns an ``nir.NIRGraph``;
``write_nir(graph, path)`` writes it (HDF5, through :mod:`snndsl.files`).  The
discretisation is SpikingJelly 2.0's exchange
(``spikingjelly.activation_based.nir_exchange``), so SpikingJelly's importer reads the
file back into the same network, value for value:

=================================  ===================================================
snndsl                             NIR node
=================================  ===================================================
``Linear`` (bias / no bias)        ``Affine`` / ``Linear`` (vector inputs)
``Conv1d``, ``Conv2d``             ``Conv1d``, ``Conv2d`` (zero bias when it has none)
``Flatten(start, end)``            ``Flatten`` (per-sample dims, as in NIR)
``AvgPool2d``                      ``AvgPool2d``; ``divisor_override=1``: ``SumPool2d``
``IF(v_reset=r)``                  ``IF(r=1/dt, v_threshold, v_reset=r)``
``LIF(tau, decay_input, ...)``     ``LIF(tau=tau*dt, r=1 or tau, v_leak=v_reset, ...)``
``ParametricLIF``                  ``LIF`` with ``tau = 1/sigmoid(w)`` (trained ``w``)
``CUBALIF(c_decay, v_decay)``      ``CubaLIF(tau_syn=dt/(1-c_decay),
                                   tau_mem=dt/(1-v_decay), r=tau_mem/dt,
                                   w_in=tau_syn/dt, v_leak=0)``
``Add(a, b)``                      edges from ``a`` and ``b`` (NIR sums a node's inputs)
``Add(a, delay(r))`` in a loop     a recurrent edge (read one step late, as nirtorch does)
``delay(a)`` outside a loop        ``Delay(delay=dt)``
``BatchNorm`` after conv/linear    folded into it (``fold_batchnorm=True``)
``Dropout``, ``Identity``          nothing (inference: the identity)
=================================  ===================================================

Everything else is refused with a located diagnostic (E0601) naming the step and saying
why: soft reset (NIR's IF/LIF/CubaLIF reset to ``v_reset``), BatchNorm unless folded,
MaxPool, the neurons NIR has no node for (QIF, EIF, Izhikevich, KLIF, LIAF, user-defined
ones, parallel neurons), analog surrogate outputs, ``Mul``/``Cat``/SEW merges.  Weights
that do not fit the network are E0603.  No file is written when anything is refused.

torch is imported only to compute ParametricLIF's ``sigmoid(w)`` as SpikingJelly does,
when the weights are tensors.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping

from snndsl import ir
from snndsl.diagnostics import UNKNOWN_SPAN, Diagnostic, SpecError
from snndsl.semantics.catalogue import OPS

DEFAULT_DT = 1e-4  # SpikingJelly 2.0's exchange (and snnTorch's) default

# The prelude neurons NIR holds, and why the others are refused.
MAPPED_NEURONS = ("IF", "LIF", "ParametricLIF", "CUBALIF")
# Non-spiking neurons: NIR's integrators (I, LI), which output their membrane.
INTEGRATORS = ("NonSpikingIF", "NonSpikingLIF")
NO_NIR_NEURON = {
    "QIF": "its membrane is quadratic in v",
    "EIF": "its membrane has an exponential term",
    "Izhikevich": "it has a quadratic membrane and an adaptation current",
    "KLIF": "it scales and rectifies its membrane with a learnable k",
    "LIAF": "it outputs an analog activation, not its spike",
}
NEURON_HINT = (
    "NIR's neurons are IF, LIF and CubaLIF (use IF, LIF, ParametricLIF or CUBALIF) and, "
    "without a spike, I and LI (use NonSpikingIF or NonSpikingLIF)"
)
SKIPPED_LAYERS = ("Identity",)  # and Dropout: the identity at inference


class _Refusals:
    """Collects located diagnostics so one export reports every problem at once."""

    def __init__(self, net: ir.NetworkIR):
        self.net = net
        self.diagnostics: list[Diagnostic] = []

    def add(self, node, code: str, message: str, hint: str | None = None) -> None:
        source, span = getattr(node, "where", None) or (None, UNKNOWN_SPAN)
        self.diagnostics.append(Diagnostic(code, message, span, source, hint))

    def raise_if_any(self) -> None:
        if self.diagnostics:
            raise SpecError(self.diagnostics)


def _label(node) -> str:
    """A node's NIR name: a layer's is its module path (``layer2.0.conv1``, the prefix of
    its weights' keys), any other node's its spec name."""
    if isinstance(node, (ir.DropoutIR, ir.TensorOpIR)):
        return node.label
    if isinstance(node, ir.StateReadIR):
        return node.value
    if isinstance(node, (ir.MergeIR, ir.DelayIR, ir.AliasIR)):
        return node.value
    return ir.module_key(node)


def _array(value, dtype=None):
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return (int(v[0]), int(v[1])) if len(v) == 2 else (int(v[0]), int(v[0]))
    return (int(v), int(v))


def _same_padding(kernel, dilation) -> tuple[int, ...] | None:
    """``padding='same'`` (stride 1) as symmetric padding, or None when torch pads
    unevenly (an even effective kernel), which NIR's symmetric padding cannot say."""
    out = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        if total % 2:
            return None
        out.append(total // 2)
    return tuple(out)


class _Exporter:
    def __init__(self, net: ir.NetworkIR, weights: Mapping, dt: float, fold_batchnorm: bool):
        self.net = net
        self.weights = weights
        self.dt = dt
        self.fold = fold_batchnorm
        self.refusals = _Refusals(net)
        self.nodes: dict[str, object] = {}  # NIR node name -> nir node
        self.virtual: dict[str, tuple[str, ...]] = {}  # value -> the values it passes on
        self.produced_by: dict[str, str] = {}  # value -> NIR node name
        self.recurrent: set[tuple[str, str]] = set()  # (source node, target node)
        self.folded: dict[str, tuple] = {}  # conv/linear label -> (weight, bias) folded
        self.recurrent_delays: list[ir.DelayIR] = []
        self.consumers: dict[str, list] = {}
        for n in net.nodes:
            for v in ir.NetworkIR.reads(n, delayed=True):
                self.consumers.setdefault(v, []).append(n)
        for o in net.outputs:
            self.consumers.setdefault(o.source, []).append(o)

    # ------------------------------------------------------------------ weights
    def weight(self, node, key: str, shape: tuple[int, ...]):
        full = f"{_label(node)}.{key}"
        if full not in self.weights:
            self.refusals.add(
                node,
                "E0603",
                f"the weights have no '{full}' for {node.spec}",
                "pass the state_dict of this network's generated module",
            )
            return None
        arr = _array(self.weights[full])
        if tuple(arr.shape) != tuple(shape):
            self.refusals.add(
                node,
                "E0603",
                f"'{full}' is {list(arr.shape)} in the weights, but {node.spec} needs "
                f"{list(shape)}",
                "pass the state_dict of this network's generated module",
            )
            return None
        return arr

    # ------------------------------------------------------------------ the walk
    def run(self):
        import nir
        import numpy as np

        for i in self.net.inputs:
            self.nodes[i.name] = nir.Input(input_type={"input": np.array(i.shape)})
            self.produced_by[i.name] = i.name
        if self.fold:
            self.plan_folds()
        for node in self.net.nodes:
            self.visit(node)
        edges: list[tuple[str, str]] = []
        for node in self.net.nodes:
            name = self.produced_by.get(node.value)
            if name is None or name != _label(node) or name not in self.nodes:
                continue
            for src in self.sources(node.source, node):
                edges.append((src, name))
        for o in self.net.outputs:
            self.nodes[o.name] = nir.Output(output_type={"output": np.array(o.shape)})
            for src in self.sources(o.source, o):
                edges.append((src, o.name))
        self.check_recurrence(edges)
        self.refusals.raise_if_any()
        return nir.NIRGraph(nodes=self.nodes, edges=edges, type_check=True)

    def sources(self, value: str, reader) -> list[str]:
        """The NIR nodes whose outputs ``value`` is (summed), through virtual nodes."""
        if value in self.virtual:
            out: list[str] = []
            for v in self.virtual[value]:
                out.extend(self.sources(v, reader))
            if len(set(out)) != len(out):
                self.refusals.add(
                    self.net.node(value),
                    "E0601",
                    f"'{value}' adds the same value more than once; NIR sums a node's "
                    "inputs edge by edge and has no repeated edges",
                    "scale the value with a layer instead of adding it to itself",
                )
            return out
        if value in self.produced_by:
            return [self.produced_by[value]]
        return []  # refused upstream

    def visit(self, node) -> None:
        if isinstance(node, ir.LayerIR):
            self.layer(node)
        elif isinstance(node, ir.NeuronIR):
            self.neuron(node)
        elif isinstance(node, (ir.AliasIR, ir.DropoutIR)):
            self.virtual[node.value] = (node.source,)
        elif isinstance(node, ir.MergeIR):
            self.merge(node)
        elif isinstance(node, ir.TensorOpIR):
            self.tensor_op(node)
        elif isinstance(node, ir.StateReadIR):
            self.refusals.add(
                node,
                "E0601",
                f"'{node.value}' reads the state {node.spec}; NIR nodes have one output",
                "export the neuron's spikes, or a non-spiking neuron that emits the state",
            )
        elif isinstance(node, ir.DelayIR):
            self.delay(node)
        elif isinstance(node, ir.ParallelIR):
            self.refusals.add(
                node,
                "E0601",
                f"'{node.attr}': {node.neuron} is a parallel spiking neuron (it mixes time "
                "steps with a learned matrix); NIR has no such node",
                NEURON_HINT,
            )
        else:  # pragma: no cover - a new IR node kind
            raise TypeError(type(node).__name__)

    # ------------------------------------------------------------------ layers
    def layer(self, node: ir.LayerIR) -> None:
        import nir
        import numpy as np

        args = OPS[node.op].ctor_values(node.ctor_args)
        op = node.op
        label = node.attr
        if op in SKIPPED_LAYERS:
            self.virtual[node.value] = (node.source,)
            return
        if op == "Linear":
            if len(node.in_shape) != 1:
                self.refuse(
                    node,
                    f"its input is {list(node.in_shape)}; NIR's Linear/Affine maps vectors",
                    "flatten the input first: -> Flatten -> Linear(...)",
                )
                return
            w, b = self.linear_weights(node, args)
            if w is None:
                return
            self.emit(node, nir.Affine(weight=w, bias=b) if b is not None else nir.Linear(weight=w))
        elif op in ("Conv1d", "Conv2d"):
            if args["padding_mode"] != "zeros":
                self.refuse(
                    node,
                    f"padding_mode={args['padding_mode']!r}; NIR convolutions pad with zeros",
                    "use padding_mode='zeros'",
                )
                return
            nd = 1 if op == "Conv1d" else 2
            kernel = args["kernel_size"]
            kernel = tuple(kernel) if isinstance(kernel, (list, tuple)) else (kernel,) * nd
            dilation = args["dilation"]
            dilation = tuple(dilation) if isinstance(dilation, (list, tuple)) else (dilation,) * nd
            padding = args["padding"]
            if padding == "valid":
                padding = (0,) * nd
            elif padding == "same":
                padding = _same_padding(kernel, dilation)
                if padding is None:
                    self.refuse(
                        node,
                        "padding='same' with an even kernel pads one side more than the "
                        "other; NIR's padding is symmetric",
                        "pad explicitly with an odd kernel",
                    )
                    return
            w, b = self.linear_weights(node, args)
            if w is None:
                return
            if b is None:
                b = np.zeros(w.shape[0], dtype=w.dtype)
            if nd == 1:
                p = padding[0] if isinstance(padding, (list, tuple)) else padding
                s = args["stride"]
                s = s[0] if isinstance(s, (list, tuple)) else s
                self.emit(
                    node,
                    nir.Conv1d(
                        input_shape=node.in_shape[-1],
                        weight=w,
                        stride=int(s),
                        padding=int(p),
                        dilation=int(dilation[0]),
                        groups=int(args["groups"]),
                        bias=b,
                    ),
                )
            else:
                self.emit(
                    node,
                    nir.Conv2d(
                        input_shape=tuple(node.in_shape[-2:]),
                        weight=w,
                        stride=_pair(args["stride"]),
                        padding=_pair(padding),
                        dilation=_pair(dilation),
                        groups=int(args["groups"]),
                        bias=b,
                    ),
                )
        elif op == "AvgPool2d":
            self.avgpool(node, args)
        elif op in ("BatchNorm1d", "BatchNorm2d"):
            if label in self.folded:
                self.virtual[node.value] = (node.source,)
            elif not self.fold:
                self.refuse(
                    node,
                    "NIR has no batch normalisation",
                    "export with --fold-batchnorm (fold_batchnorm=True) to fold it into the "
                    "preceding Conv or Linear, as inference computes it",
                )
            # else: plan_folds refused it already
        elif op.startswith("MaxPool") or op.startswith("AdaptiveMaxPool"):
            self.refuse(
                node,
                "NIR has no max pooling",
                "use AvgPool2d, or AvgPool2d(k, divisor_override=1) for NIR's SumPool2d",
            )
        else:
            self.refuse(
                node,
                f"NIR has no node for {op}",
                "NIR holds Linear, Conv1d, Conv2d, Flatten, AvgPool2d/SumPool2d, IF, LIF, "
                "CubaLIF, sums and delays",
            )

    def tensor_op(self, node: ir.TensorOpIR) -> None:
        """Flatten maps to NIR's Flatten (whose dims, like the spec's, count one sample's
        dimensions); the other tensor operations have no NIR node."""
        import nir
        import numpy as np

        if node.op == "Flatten":
            self.emit(
                node,
                nir.Flatten(
                    input_type={"input": np.array(node.in_shape)},
                    start_dim=int(node.arg("start")),
                    end_dim=int(node.arg("end")),
                ),
            )
            return
        self.refuse(
            node,
            f"NIR has no node for {node.op}",
            "NIR holds Linear, Conv1d, Conv2d, Flatten, AvgPool2d/SumPool2d, IF, LIF, "
            "CubaLIF, sums and delays",
        )

    def refuse(self, node, why: str, hint: str) -> None:
        self.refusals.add(
            node, "E0601", f"'{_label(node)}' ({node.spec}) cannot be exported to NIR: {why}", hint
        )

    def emit(self, node, nir_node) -> None:
        self.nodes[_label(node)] = nir_node
        self.produced_by[node.value] = _label(node)

    def linear_weights(self, node: ir.LayerIR, args):
        if node.op == "Linear":
            wshape = (args["out_features"], args["in_features"])
            out = args["out_features"]
        else:
            nd = 1 if node.op == "Conv1d" else 2
            k = args["kernel_size"]
            k = tuple(k) if isinstance(k, (list, tuple)) else (k,) * nd
            wshape = (args["out_channels"], args["in_channels"] // args["groups"], *k)
            out = args["out_channels"]
        if node.attr in self.folded:
            return self.folded[node.attr]
        w = self.weight(node, "weight", wshape)
        b = self.weight(node, "bias", (out,)) if args["bias"] else None
        if w is None or (args["bias"] and b is None):
            return None, None
        return w, b

    def avgpool(self, node: ir.LayerIR, args) -> None:
        import nir
        import numpy as np

        if args["ceil_mode"]:
            self.refuse(node, "ceil_mode=true pools partial windows", "use ceil_mode=false")
            return
        padding = _pair(args["padding"])
        divisor = args.get("divisor_override")
        if divisor not in (None, 1):
            self.refuse(
                node,
                f"divisor_override={divisor}; NIR pools by average or by sum",
                "drop divisor_override (average) or set it to 1 (sum)",
            )
            return
        if divisor is None and any(padding) and not args["count_include_pad"]:
            self.refuse(
                node,
                "count_include_pad=false averages over fewer elements at the border",
                "use count_include_pad=true or no padding",
            )
            return
        kernel = _pair(args["kernel_size"])
        stride = _pair(args["stride"] if args["stride"] is not None else args["kernel_size"])
        cls = nir.SumPool2d if divisor == 1 else nir.AvgPool2d
        self.emit(
            node,
            cls(kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array(padding)),
        )

    def plan_folds(self) -> None:
        """Fold each BatchNorm into the Conv/Linear before it: w' = w * g, b' = (b - mean)
        * g + beta with g = gamma / sqrt(running_var + eps), computed in float64."""
        import numpy as np

        for node in self.net.layers:
            if node.op not in ("BatchNorm1d", "BatchNorm2d"):
                continue
            args = OPS[node.op].ctor_values(node.ctor_args)
            try:
                prev = self.net.node(node.source)
            except KeyError:
                prev = None
            if not (
                isinstance(prev, ir.LayerIR)
                and prev.op in ("Linear", "Conv1d", "Conv2d")
                and len(self.consumers.get(prev.value, ())) == 1
            ):
                self.refuse(
                    node,
                    "only a BatchNorm right after a Conv or Linear (whose output nothing else "
                    "reads) can be folded",
                    "move the BatchNorm after a Conv/Linear, or remove it",
                )
                continue
            if not args["track_running_stats"]:
                self.refuse(
                    node,
                    "without running statistics it normalises by each batch, which no "
                    "folded layer can do",
                    "train it with track_running_stats=true",
                )
                continue
            c = args["num_features"]
            mean = self.weight(node, "running_mean", (c,))
            var = self.weight(node, "running_var", (c,))
            if args["affine"]:
                gamma = self.weight(node, "weight", (c,))
                beta = self.weight(node, "bias", (c,))
            else:
                gamma, beta = np.ones(c), np.zeros(c)
            pargs = OPS[prev.op].ctor_values(prev.ctor_args)
            w, b = self.linear_weights(prev, pargs)
            if any(a is None for a in (mean, var, gamma, beta, w)):
                continue
            dtype = w.dtype
            g = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + args["eps"])
            b64 = b.astype(np.float64) if b is not None else np.zeros(c)
            w2 = w.astype(np.float64) * g.reshape((c,) + (1,) * (w.ndim - 1))
            b2 = (b64 - mean.astype(np.float64)) * g + beta.astype(np.float64)
            self.folded[prev.attr] = (w2.astype(dtype), b2.astype(dtype))
            self.folded[node.attr] = ()

    # ------------------------------------------------------------------ neurons
    def neuron(self, node: ir.NeuronIR) -> None:
        import nir
        import numpy as np

        p = {b.name: b.value for b in node.params}
        name = node.neuron
        if name in INTEGRATORS:
            self.emit(node, self.integrator(node, p))
            return
        if name not in MAPPED_NEURONS:
            why = NO_NIR_NEURON.get(name, "it is not one of NIR's neuron models")
            self.refuse(node, f"NIR has no {name} neuron: {why}", NEURON_HINT)
            return
        surrogate = p.get("surrogate")
        if isinstance(surrogate, ir.SurrogateRef) and not surrogate.spiking:
            self.refuse(
                node,
                "its surrogate has spiking=false, so it outputs an analog value, not a spike",
                "drop spiking=false",
            )
            return
        if p.get("v_reset") is None:
            self.refuse(
                node,
                "it resets by subtraction (v_reset=none); NIR's neurons reset to v_reset",
                "give it a hard reset, e.g. v_reset=0.0",
            )
            return
        shape = node.shape
        full = lambda v: np.full(shape, float(v))  # noqa: E731
        dt = self.dt
        vth, vr = float(p["v_threshold"]), float(p["v_reset"])
        if name == "IF":
            out = nir.IF(r=full(1.0 / dt), v_threshold=full(vth), v_reset=full(vr))
        elif name in ("LIF", "ParametricLIF"):
            if name == "LIF":
                tau = float(p["tau"])
            else:
                w = self.weight(node, "w", ())
                if w is None:
                    return
                tau = 1.0 / _sigmoid(self.weights[f"{_label(node)}.w"])
            out = nir.LIF(
                tau=full(tau * dt),
                r=full(1.0 if p["decay_input"] else tau),
                v_leak=full(vr),
                v_threshold=full(vth),
                v_reset=full(vr),
            )
        else:  # CUBALIF
            c_decay, v_decay = float(p["c_decay"]), float(p["v_decay"])
            if not (0.0 <= c_decay < 1.0 and 0.0 <= v_decay < 1.0):
                self.refuse(
                    node,
                    f"c_decay={c_decay!r}, v_decay={v_decay!r}: NIR's CubaLIF time constants "
                    "dt / (1 - decay) need decays in [0, 1)",
                    "use decays in [0, 1)",
                )
                return
            tau_syn = dt / (1.0 - c_decay)
            tau_mem = dt / (1.0 - v_decay)
            out = nir.CubaLIF(
                tau_syn=full(tau_syn),
                tau_mem=full(tau_mem),
                r=full(tau_mem / dt),
                v_leak=np.zeros(shape),
                v_threshold=full(vth),
                v_reset=full(vr),
                w_in=full(tau_syn / dt),
            )
        self.emit(node, out)

    def integrator(self, node: ir.NeuronIR, p: dict):
        """NIR's I (dv/dt = r * I) and LI (tau dv/dt = (v_leak - v) + r * I), discretised
        as IF and LIF are: v += x is I with r = 1/dt; v += (x - v) / tau is LI with
        tau * dt seconds, r = 1 and v_leak = 0."""
        import nir
        import numpy as np

        shape = node.shape
        if node.neuron == "NonSpikingIF":
            return nir.I(r=np.full(shape, 1.0 / self.dt))
        return nir.LI(
            tau=np.full(shape, float(p["tau"]) * self.dt),
            r=np.ones(shape),
            v_leak=np.zeros(shape),
        )

    # ------------------------------------------------------------------ graph nodes
    def merge(self, node: ir.MergeIR) -> None:
        if node.op != "add":
            what = {"mul": "multiplies", "cat": "concatenates", "sew": "joins (SEW)"}[node.op]
            self.refusals.add(
                node,
                "E0601",
                f"'{node.value}' ({node.spec}) {what} its inputs; a NIR node can only sum "
                "its inputs",
                "use Add, or a layer NIR holds",
            )
            return
        self.virtual[node.value] = node.sources

    def delay(self, node: ir.DelayIR) -> None:
        import nir
        import numpy as np

        if self.in_loop(node):
            self.virtual[node.value] = (node.source,)
            self.recurrent_delays.append(node)
            return
        self.nodes[node.value] = nir.Delay(delay=np.full(node.shape, self.dt))
        self.produced_by[node.value] = node.value

    def in_loop(self, node: ir.DelayIR) -> bool:
        """Whether the delayed value depends on the delay's own output."""
        seen, stack = set(), [node.value]
        while stack:
            v = stack.pop()
            for c in self.consumers.get(v, ()):
                cv = getattr(c, "value", None)
                if isinstance(c, ir.OutputIR) or cv in seen:
                    continue
                if cv == node.source:
                    return True
                seen.add(cv)
                stack.append(cv)
        return False

    def check_recurrence(self, edges: list[tuple[str, str]]) -> None:
        """A recurrent NIR edge is read one step late by the node it enters when that
        node sums several inputs and is reachable from the edge's source (nirtorch's
        rule).  The spec's delays must be exactly those edges."""
        succ: dict[str, set[str]] = {}
        inputs: dict[str, list[str]] = {}
        for s, t in edges:
            succ.setdefault(s, set()).add(t)
            inputs.setdefault(t, []).append(s)

        def reaches(a: str, b: str) -> bool:
            seen, stack = set(), [a]
            while stack:
                x = stack.pop()
                if x == b:
                    return True
                if x not in seen:
                    seen.add(x)
                    stack.extend(succ.get(x, ()))
            return False

        intended: set[tuple[str, str]] = set()
        for d in self.recurrent_delays:
            readers = [c for c in self.consumers.get(d.value, ())]
            ok = len(readers) == 1 and isinstance(readers[0], ir.MergeIR)
            target = None
            if ok:
                merge = readers[0]
                after = self.consumers.get(merge.value, [])
                ok = len(after) == 1 and getattr(after[0], "value", None) in self.produced_by
                if ok:
                    target = self.produced_by[after[0].value]
                    ok = target == _label(after[0])
            if not ok:
                self.refusals.add(
                    d,
                    "E0601",
                    f"{d.spec} closes a loop somewhere NIR cannot say: a NIR loop is read one "
                    "step late where it re-enters a node that sums it with other inputs",
                    f"write the delay in the sum that feeds one layer: "
                    f"Add(..., delay({d.source})) -> layer",
                )
                continue
            for src in self.sources(d.source, d):
                intended.add((src, target))
        for s, t in edges:
            recurrent = len(inputs.get(t, ())) > 1 and reaches(t, s)
            if recurrent and (s, t) not in intended:
                node = self.node_named(t)
                self.refusals.add(
                    node,
                    "E0601",
                    f"the edge {s} -> {t} lies on a loop and would be read one step late by "
                    "NIR readers (nirtorch), but the spec reads it in the same step",
                    "only simple loops closed by Add(..., delay(x)) -> layer export to NIR",
                )
            if (s, t) in intended and len(inputs.get(t, ())) < 2:
                self.refusals.add(
                    self.node_named(t),
                    "E0601",
                    f"the loop {s} -> {t} enters a node with no other input; NIR readers "
                    "(nirtorch) need a node that also reads the step's input",
                    "feed the loop into a sum with the layer's feed-forward input",
                )

    def node_named(self, name: str):
        for n in self.net.nodes:
            if _label(n) == name:
                return n
        return None


def _sigmoid(w) -> float:
    """ParametricLIF's decay 1/tau as SpikingJelly exports it: ``w.sigmoid().item()``."""
    if hasattr(w, "sigmoid"):
        return float(w.detach().sigmoid().item())
    import numpy as np

    w32 = np.float32(_array(w))
    return float(np.float32(1.0) / (np.float32(1.0) + np.exp(-w32)))


def network_of(spec_or_module, network: str | None = None, params=None):
    """The resolved IR and the weights of a spec (weights None) or a generated module."""
    if hasattr(spec_or_module, "state_dict") and hasattr(spec_or_module, "forward"):
        net = getattr(type(spec_or_module), "__snndsl_network__", None)
        if net is None:
            raise ValueError(
                "this module was not made by snndsl.load in this process; "
                "pass its spec and its state_dict instead"
            )
        return net, spec_or_module.state_dict()
    from snndsl.api import resolve

    return resolve(spec_or_module, network, params), None


def to_nir(
    spec_or_module,
    weights: Mapping | None = None,
    *,
    dt: float = DEFAULT_DT,
    fold_batchnorm: bool = False,
    network: str | None = None,
    params: Mapping[str, object] | None = None,
):
    """The ``nir.NIRGraph`` of a network with its weights.

    ``spec_or_module`` is a spec (path, text or parsed module) with ``weights`` its
    generated module's state_dict, or a module made by ``snndsl.load`` (its own
    state_dict is used unless ``weights`` is given).  ``dt`` is the time step in
    seconds that NIR's continuous time constants are computed with.  Raises SpecError
    (E0601, E0603) with located diagnostics for everything NIR cannot hold.
    """
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
    net, own = network_of(spec_or_module, network, params)
    if weights is None:
        weights = own
    if weights is None:
        raise ValueError("pass the weights: the state_dict of the network's generated module")
    return _Exporter(net, weights, float(dt), fold_batchnorm).run()


def nir_bytes(graph) -> bytes:
    """The graph as a NIR (HDF5) file's bytes."""
    import nir

    buf = io.BytesIO()
    nir.write(buf, graph)
    return buf.getvalue()


def write_nir(graph, path) -> None:
    """Write the graph to ``path`` atomically (snndsl.files)."""
    from snndsl.files import write_bytes

    write_bytes(path, nir_bytes(graph))
