"""Import a NIR graph as a readable spec plus the state_dict its generated modules load.

``from_nir(graph or path, dt=1e-4)`` returns an :class:`ImportedNIR`: ``spec`` (canonical
``.snn`` text, ``snndsl fmt --check`` clean) and ``weights`` (name -> numpy array; the
state_dict of either generated form, loaded with ``strict=True``).  It reads NIR the way
SpikingJelly 2.0's ``import_from_nir`` does (the inverse of :mod:`snndsl.exports.nir`):

- labels are the NIR node names: when the layers' names form a module tree
  (``conv_fc.0``, ``layer2.0.downsample.1``: named parts and positions, no layer inside
  another, no group mixing the two), they stay dotted labels, so the weights keep their
  keys; otherwise they are made identifiers (``0`` -> ``n0``, ``fc.1`` -> ``fc_1``,
  keywords and reserved names get a trailing ``_``); nested graphs (snnTorch's RLeaky)
  are flattened, their nodes named ``outer_inner``;
- ``Affine``/``Linear`` -> ``Linear``, ``Conv1d``/``Conv2d`` -> ``Conv1d``/``Conv2d`` (an
  all-zero bias -> ``bias=false``), ``Flatten``, ``AvgPool2d``, ``SumPool2d`` ->
  ``AvgPool2d(..., divisor_override=1)``;
- ``IF`` with ``r = 1/dt`` -> ``IF``; ``LIF`` with ``v_leak = v_reset`` and ``r`` 1 or
  ``tau/dt`` -> ``LIF(tau=tau/dt, decay_input=r == 1)``; ``CubaLIF`` with ``r =
  tau_mem/dt``, ``w_in = tau_syn/dt``, ``v_leak = 0`` -> ``CUBALIF(c_decay = 1 -
  dt/tau_syn, v_decay = 1 - dt/tau_mem)``; parameters must be equal over the layer;
- several edges into a node -> ``Add(...)``; an edge on a loop into a node that sums it
  with other inputs -> ``delay(...)`` (read one step late, as nirtorch reads it);
  ``Delay(delay=dt)`` -> ``delay(...)``.

Everything else is refused with E0602, located at the node in a listing of the file's
nodes (``net.nir:3:1`` is the third node by name): NIR's ``LI``/``CubaLI``/``I`` (the
language has no non-spiking integrator yet), ``Scale``, ``Threshold``, parameters that do
not fit the discretisation (e.g. ``r != 1/dt`` for IF: another dt, or a peer's
convention; the hint says which).  NIR fires on ``v > v_threshold``; snndsl's built-in
neurons, like SpikingJelly, fire on ``v >= v_threshold``: the two differ only when the
membrane lands exactly on the threshold (see docs/interchange.md).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

from snndsl.diagnostics import Diagnostic, SourceFile, Span, SpecError
from snndsl.names import identifier_problem

DEFAULT_DT = 1e-4
# SpikingJelly's importer accepts a parameter within this relative tolerance of the value
# its discretisation needs (``np.isclose(rtol=1e-6, atol=1e-12)``); snndsl accepts what it
# accepts, so the two importers agree on which files they read.
RTOL, ATOL = 1e-6, 1e-12


@dataclass
class ImportedNIR:
    spec: str  # canonical .snn text
    weights: dict = field(default_factory=dict)  # state_dict key -> numpy array
    network: str = "Imported"

    def state_dict(self):
        """The weights as torch tensors (imports torch)."""
        import torch

        return {k: torch.from_numpy(v.copy()) for k, v in self.weights.items()}


def _close(a: float, b: float) -> bool:
    return bool(math.isfinite(a) and math.isfinite(b) and abs(a - b) <= ATOL + RTOL * abs(b))


def _short(value: float, reproduces) -> float:
    """The shortest decimal ``d`` with ``reproduces(d)`` (the exporter's formula gives the
    stored number back exactly from ``d``), else ``value``: ``tau = 2e-4 / 1e-4`` reads
    ``2.0``, not ``1.9999999999999998``."""
    for digits in range(1, 18):
        d = float(f"{value:.{digits}g}")
        if reproduces(d):
            return d
    return value


def _same(stored, attr: str):
    """Equality at the precision ``stored.attr`` was written in (float32 files compare in
    float32: snnTorch computes its time constants in float32)."""
    import numpy as np

    if np.asarray(getattr(stored, attr)).dtype == np.float32:
        return lambda a, b: np.float32(a) == np.float32(b)
    return lambda a, b: a == b


def sanitize(name: str) -> str:
    """A NIR node name as a spec identifier (before making it unique)."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "node"
    if s[0].isdigit():
        s = "n" + s
    if identifier_problem(s) is not None:
        s = s + "_"
    return s


_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|0|[1-9][0-9]*")


def module_tree(names: list[str]) -> bool:
    """Whether ``names`` (of layers) can stay dotted labels as they are: each a name or
    names and positions joined by '.', at least one dotted, no name the group of
    another, every group's members all positions or all names, their '_' spellings
    distinct identifiers."""
    kinds: dict[tuple[str, ...], bool] = {}
    paths = [tuple(n.split(".")) for n in names]
    if not any(len(p) > 1 for p in paths):
        return False
    for path in paths:
        if path[0].isdigit() or not all(_PART.fullmatch(part) for part in path):
            return False
        if any(identifier_problem(part) for part in path if not part.isdigit()):
            return False
        for i in range(1, len(path)):
            if kinds.setdefault(path[:i], path[i].isdigit()) != path[i].isdigit():
                return False
    flat = {"_".join(p) for p in paths}
    return (
        not any(p in kinds for p in paths)
        and len(flat) == len(paths)
        and not any(identifier_problem(f) for f in flat)
    )


class _Problems:
    def __init__(self, path: str, names: list[str], types: dict[str, str]):
        listing = "\n".join(f"node {n!r}: nir.{types[n]}" for n in names) + "\n"
        self.source = SourceFile(path, listing)
        self.line = {n: i + 1 for i, n in enumerate(names)}
        self.diagnostics: list[Diagnostic] = []

    def add(self, name: str, message: str, hint: str | None = None) -> None:
        line = self.line.get(name, 1)
        width = len(self.source.line_text(line)) or 1
        self.diagnostics.append(
            Diagnostic("E0602", message, Span(line, 1, line, width + 1), self.source, hint)
        )

    def raise_if_any(self) -> None:
        if self.diagnostics:
            raise SpecError(self.diagnostics)


def _read(graph_or_path):
    import nir

    if isinstance(graph_or_path, (str, os.PathLike)):
        path = os.fspath(graph_or_path)
        try:
            return nir.read(path), path
        except Exception as err:  # h5py/nir raise many kinds; all mean "not a NIR file"
            raise SpecError(
                [
                    Diagnostic(
                        "E0604",
                        f"cannot read NIR from '{path}': {type(err).__name__}: {err}",
                        Span(1, 1, 1, 2),
                        None,
                        "give a NIR (HDF5) file written by nir.write",
                    )
                ]
            ) from None
    return graph_or_path, "<nir>"


def _flatten(graph, prefix: str = ""):
    """Nodes and edges of a graph with its nested graphs inlined (``outer.inner``)."""
    import nir

    nodes: dict[str, object] = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, list[str]] = {}  # subgraph name -> nodes its input feeds
    exit_: dict[str, list[str]] = {}  # subgraph name -> nodes feeding its output
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            inner_nodes, inner_edges = _flatten(node, full + ".")
            ins = [
                prefix + name + "." + n for n, v in node.nodes.items() if isinstance(v, nir.Input)
            ]
            outs = [
                prefix + name + "." + n for n, v in node.nodes.items() if isinstance(v, nir.Output)
            ]
            entry[full] = [t for s, t in inner_edges if s in ins]
            exit_[full] = [s for s, t in inner_edges if t in outs]
            for n, v in inner_nodes.items():
                if n not in ins and n not in outs:
                    nodes[n] = v
            edges.extend((s, t) for s, t in inner_edges if s not in ins and t not in outs)
        else:
            nodes[full] = node
    for s, t in graph.edges:
        s, t = prefix + s, prefix + t
        for a in exit_.get(s, [s]):
            for b in entry.get(t, [t]):
                edges.append((a, b))
    return nodes, edges


def _uniform(problems: _Problems, name: str, node, attr: str) -> float | None:
    import numpy as np

    values = np.unique(np.asarray(getattr(node, attr), dtype=np.float64))
    if values.size != 1:
        problems.add(
            name,
            f"node '{name}' has {values.size} different values of {attr}; snndsl's neuron "
            "layers share one value per parameter",
            "give every neuron of the layer the same parameters",
        )
        return None
    return float(values[0])


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def _call(op: str, positional=(), **kwargs) -> str:
    parts = [_fmt(p) for p in positional]
    parts += [f"{k}={_fmt(v)}" for k, v in kwargs.items()]
    return f"{op}({', '.join(parts)})" if parts else op


def _size(values) -> int | list[int]:
    import numpy as np

    arr = [int(x) for x in np.atleast_1d(np.asarray(values)).tolist()]
    return arr[0] if all(x == arr[0] for x in arr) else arr


class _Importer:
    def __init__(self, graph, path: str, dt: float):
        import nir

        self.nir = nir
        self.dt = dt
        self.nodes, self.edges = _flatten(graph)
        names = sorted(self.nodes)
        types = {n: type(v).__name__ for n, v in self.nodes.items()}
        self.problems = _Problems(path, names, types)
        self.weights: dict[str, object] = {}
        self.label: dict[str, str] = {}
        used: set[str] = set()
        layers = [n for n in names if not isinstance(self.nodes[n], (nir.Input, nir.Output))]
        layers = [n for n in layers if not isinstance(self.nodes[n], nir.Delay)]
        if module_tree(layers):  # their weights keep their keys: layer2.0.conv1.weight
            for n in layers:
                self.label[n] = n
                used.add(n.replace(".", "_"))
        for n in names:
            if n in self.label:
                continue
            base = sanitize(n)
            s, k = base, 2
            while s in used:
                s, k = f"{base}_{k}", k + 1
            used.add(s)
            self.label[n] = s
        self.used = used

    # ------------------------------------------------------------------ per node
    def step(self, name: str, node) -> str | None:
        """The spec step (``label: Op(...)``) of a node, recording its weights."""
        import numpy as np

        nir, p, label = self.nir, self.problems, self.label[name]
        if isinstance(node, (nir.Affine, nir.Linear)):
            w = np.asarray(node.weight)
            if w.ndim != 2:
                p.add(name, f"node '{name}' has a {w.ndim}-d weight; Linear's is 2-d")
                return None
            self.weights[f"{label}.weight"] = w
            if isinstance(node, nir.Affine):
                self.weights[f"{label}.bias"] = np.asarray(node.bias)
                return f"{label}: {_call('Linear', [w.shape[0]])}"
            return f"{label}: {_call('Linear', [w.shape[0]], bias=False)}"
        if isinstance(node, (nir.Conv1d, nir.Conv2d)):
            w = np.asarray(node.weight)
            op = "Conv1d" if isinstance(node, nir.Conv1d) else "Conv2d"
            padding = node.padding
            if isinstance(padding, str):
                p.add(name, f"node '{name}' pads '{padding}'", "pad with numbers")
                return None
            kw: dict[str, object] = {}
            stride, pad, dil = _size(node.stride), _size(padding), _size(node.dilation)
            groups = int(np.asarray(node.groups).item())
            if stride != 1:
                kw["stride"] = stride
            if pad != 0:
                kw["padding"] = pad
            if dil != 1:
                kw["dilation"] = dil
            if groups != 1:
                kw["groups"] = groups
            self.weights[f"{label}.weight"] = w
            bias = np.asarray(node.bias)
            if np.any(bias != 0):
                self.weights[f"{label}.bias"] = bias
            else:
                kw["bias"] = False
            kernel = _size(w.shape[2:])
            return f"{label}: {_call(op, [w.shape[0], kernel], **kw)}"
        if isinstance(node, nir.Flatten):
            kw = {}  # NIR's dims, like the spec's, count one sample's dimensions
            ndim = len(node.input_type["input"])
            start, end = int(node.start_dim), int(node.end_dim)
            if start != 0:
                kw["start"] = start
            if end not in (-1, ndim - 1):
                kw["end"] = end
            return f"{label}: {_call('Flatten', **kw)}"
        if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
            kernel = _size(node.kernel_size)
            stride, pad = _size(node.stride), _size(node.padding)
            kw = {}
            if stride != kernel:
                kw["stride"] = stride
            if pad != 0:
                kw["padding"] = pad
            if isinstance(node, nir.SumPool2d):
                kw["divisor_override"] = 1
            return f"{label}: {_call('AvgPool2d', [kernel], **kw)}"
        if isinstance(node, nir.IF):
            return self.if_(name, label, node)
        if isinstance(node, nir.LIF):
            return self.lif(name, label, node)
        if isinstance(node, nir.CubaLIF):
            return self.cuba(name, label, node)
        if isinstance(node, nir.I):
            return self.integrator(name, label, node)
        if isinstance(node, nir.LI):
            return self.leaky_integrator(name, label, node)
        if isinstance(node, nir.Delay):
            return None  # handled as a chain source
        why = {
            "CubaLI": "a non-spiking current-based integrator; the built-in neurons have "
            "none (write it as a neuron with `emit v` and no `fire`)",
            "Scale": "an element-wise scale; the catalogue has no such layer",
            "Threshold": "a bare threshold without a membrane; the catalogue has no such layer",
        }.get(type(node).__name__, "it has no counterpart in snndsl's catalogue")
        p.add(
            name,
            f"node '{name}' (nir.{type(node).__name__}) cannot be imported: {why}",
            "snndsl imports Affine, Linear, Conv1d, Conv2d, Flatten, AvgPool2d, SumPool2d, "
            "IF, LIF, CubaLIF, I, LI and Delay",
        )
        return None

    def if_(self, name, label, node):
        p = self.problems
        r = _uniform(p, name, node, "r")
        vth = _uniform(p, name, node, "v_threshold")
        vr = _uniform(p, name, node, "v_reset")
        if None in (r, vth, vr):
            return None
        if not _close(r, 1.0 / self.dt):
            p.add(
                name,
                f"node '{name}' (nir.IF) has r={r!r}; snndsl's IF adds its input unscaled, "
                f"which is r = 1/dt = {1.0 / self.dt!r}",
                f"import with --dt {1.0 / r!r} if the file was written with that dt (snnTorch "
                "exports IF with its own r; see docs/interchange.md)",
            )
            return None
        return f"{label}: {_call('IF', **self.thresholds(vth, vr, 1.0))}"

    @staticmethod
    def thresholds(vth: float, vr: float, default_vth: float) -> dict:
        kw: dict[str, object] = {}
        if vth != default_vth:
            kw["v_threshold"] = vth
        if vr != 0.0:
            kw["v_reset"] = vr
        return kw

    def lif(self, name, label, node):
        p, dt = self.problems, self.dt
        vals = [
            _uniform(p, name, node, a) for a in ("tau", "r", "v_leak", "v_threshold", "v_reset")
        ]
        if None in vals:
            return None
        tau_s, r, v_leak, vth, vr = vals
        same = _same(node, "tau")
        tau = _short(tau_s / dt, lambda d: same(d * dt, tau_s))
        if not (math.isfinite(tau) and tau > 1.0):
            p.add(
                name,
                f"node '{name}' (nir.LIF) has tau={tau_s!r} s, tau/dt = {tau!r}; snndsl's LIF "
                "needs tau/dt > 1",
                "check --dt (snndsl and SpikingJelly: 1e-4; Norse 1.1 writes tau 1/dt times "
                "too small, see docs/interchange.md)",
            )
            return None
        if _close(r, 1.0):
            decay_input = True
        elif _close(r, tau):
            decay_input = False
        else:
            p.add(
                name,
                f"node '{name}' (nir.LIF) has r={r!r}; snndsl's LIF scales its input by 1/tau "
                f"(r = 1) or not at all (r = tau/dt = {tau!r})",
                "check --dt, or scale the weights before this node",
            )
            return None
        if not _close(v_leak, vr):
            p.add(
                name,
                f"node '{name}' (nir.LIF) leaks towards v_leak={v_leak!r} but resets to "
                f"v_reset={vr!r}; snndsl's LIF leaks towards its reset value",
                "write the neuron as a custom neuron in the spec",
            )
            return None
        kw: dict[str, object] = {"tau": tau}
        if not decay_input:
            kw["decay_input"] = False
        kw.update(self.thresholds(vth, vr, 1.0))
        return f"{label}: {_call('LIF', **kw)}"

    def integrator(self, name, label, node):
        """nir.I: v += dt * r * x; NonSpikingIF's v += x is r = 1/dt."""
        p = self.problems
        r = _uniform(p, name, node, "r")
        if r is None:
            return None
        if not _close(r, 1.0 / self.dt):
            p.add(
                name,
                f"node '{name}' (nir.I) has r={r!r}; NonSpikingIF adds its input unscaled, "
                f"which is r = 1/dt = {1.0 / self.dt!r}",
                f"import with --dt {1.0 / r!r} if the file was written with that dt, or "
                "scale the weights before this node",
            )
            return None
        return f"{label}: {_call('NonSpikingIF')}"

    def leaky_integrator(self, name, label, node):
        """nir.LI: v += dt / tau * ((v_leak - v) + r * x); NonSpikingLIF(tau/dt) is r = 1,
        v_leak = 0."""
        p, dt = self.problems, self.dt
        vals = [_uniform(p, name, node, a) for a in ("tau", "r", "v_leak")]
        if None in vals:
            return None
        tau_s, r, v_leak = vals
        same = _same(node, "tau")
        tau = _short(tau_s / dt, lambda d: same(d * dt, tau_s))
        bad = []
        if not (math.isfinite(tau) and tau > 1.0):
            bad.append(f"tau={tau_s!r} s, tau/dt = {tau!r} (needs tau/dt > 1)")
        if not _close(r, 1.0):
            bad.append(f"r={r!r} (needs 1)")
        if not _close(v_leak, 0.0):
            bad.append(f"v_leak={v_leak!r} (needs 0)")
        if bad:
            p.add(
                name,
                f"node '{name}' (nir.LI) does not fit NonSpikingLIF, v += (x - v) / tau: "
                + "; ".join(bad),
                "check --dt, scale the weights before this node, or write the integrator as "
                "a neuron with `emit v` in the spec",
            )
            return None
        kw = {} if tau == 2.0 else {"tau": tau}
        return f"{label}: {_call('NonSpikingLIF', **kw)}"

    def cuba(self, name, label, node):
        p, dt = self.problems, self.dt
        attrs = ("tau_syn", "tau_mem", "r", "w_in", "v_leak", "v_threshold", "v_reset")
        vals = [_uniform(p, name, node, a) for a in attrs]
        if None in vals:
            return None
        tau_syn, tau_mem, r, w_in, v_leak, vth, vr = vals
        bad = []
        if not (tau_syn >= dt and tau_mem >= dt):
            bad.append("time constants below dt")
        if not _close(r, tau_mem / dt):
            bad.append(f"r={r!r} (needs tau_mem/dt = {tau_mem / dt!r})")
        if not _close(w_in, tau_syn / dt):
            bad.append(f"w_in={w_in!r} (needs tau_syn/dt = {tau_syn / dt!r})")
        if not _close(v_leak, 0.0):
            bad.append(f"v_leak={v_leak!r} (needs 0)")
        if bad:
            p.add(
                name,
                f"node '{name}' (nir.CubaLIF) does not fit CUBALIF's discretisation: "
                + "; ".join(bad),
                "check --dt; snnTorch's and Norse's CubaLIF conventions differ (see "
                "docs/interchange.md)",
            )
            return None
        s_syn, s_mem = _same(node, "tau_syn"), _same(node, "tau_mem")
        c = _short(1.0 - dt / tau_syn, lambda d: s_syn(dt / (1.0 - d), tau_syn))
        v = _short(1.0 - dt / tau_mem, lambda d: s_mem(dt / (1.0 - d), tau_mem))
        kw: dict[str, object] = {"c_decay": c, "v_decay": v}
        kw.update(self.thresholds(vth, vr, 0.5))
        return f"{label}: {_call('CUBALIF', **kw)}"

    # ------------------------------------------------------------------ the graph
    def run(self, network: str, header: str) -> ImportedNIR:
        import numpy as np

        nir, p = self.nir, self.problems
        preds: dict[str, list[str]] = {n: [] for n in self.nodes}
        succs: dict[str, list[str]] = {n: [] for n in self.nodes}
        for s, t in self.edges:
            if s not in self.nodes or t not in self.nodes:
                missing = s if s not in self.nodes else t
                p.add(t if t in self.nodes else s, f"an edge names '{missing}', which is no node")
                continue
            preds[t].append(s)
            succs[s].append(t)
        p.raise_if_any()

        def reaches(a, b):
            seen, stack = set(), [a]
            while stack:
                x = stack.pop()
                if x == b:
                    return True
                if x not in seen:
                    seen.add(x)
                    stack.extend(succs[x])
            return False

        # nirtorch's rule: an input on a loop into a node summing several inputs is read
        # one step late.
        delayed = {
            (s, t) for t in self.nodes for s in preds[t] if len(preds[t]) > 1 and reaches(t, s)
        }
        inputs = [n for n in sorted(self.nodes) if isinstance(self.nodes[n], nir.Input)]
        outputs = [n for n in sorted(self.nodes) if isinstance(self.nodes[n], nir.Output)]
        if not inputs or not outputs:
            p.add(
                sorted(self.nodes)[0] if self.nodes else "",
                "the graph has no " + ("input" if not inputs else "output") + " node",
            )
            p.raise_if_any()
        # evaluation order without the delayed edges
        order, done = [], set()
        pending = sorted(self.nodes)
        while pending:
            progress = False
            for n in list(pending):
                if all(s in done for s in preds[n] if (s, n) not in delayed):
                    order.append(n)
                    done.add(n)
                    pending.remove(n)
                    progress = True
            if not progress:
                for n in pending:
                    p.add(
                        n,
                        f"node '{n}' is on a loop that no summing node closes; snndsl (like "
                        "nirtorch) reads a loop one step late where it re-enters a node with "
                        "several inputs",
                    )
                p.raise_if_any()
        steps = {
            n: self.step(n, self.nodes[n])
            for n in order
            if not isinstance(self.nodes[n], (nir.Input, nir.Output))
        }
        for n in order:
            node = self.nodes[n]
            if isinstance(node, nir.Input) and node.input_type.get("input") is None:
                p.add(n, f"input '{n}' has no shape", "write the input's shape into the file")
            if isinstance(node, nir.Delay):
                d = _uniform(p, n, node, "delay")
                if d is not None and not _close(d, self.dt):
                    p.add(
                        n,
                        f"node '{n}' delays by {d!r} s; snndsl's delay(...) is one step, "
                        f"dt = {self.dt!r} s",
                        "import with the dt the file was written with",
                    )
            if isinstance(node, nir.Delay) and len(preds[n]) != 1:
                p.add(n, f"node '{n}' delays {len(preds[n])} inputs", "delay each input")
        p.raise_if_any()

        # Value names: each node whose output is read by something other than one
        # single-input step continuing its chain gets a value name.
        def is_step(n):
            return not isinstance(self.nodes[n], (nir.Input, nir.Output, nir.Delay))

        def chained(n):
            """Whether n's output flows only into one single-input step (or output)."""
            if not is_step(n) or len(succs[n]) != 1:
                return False
            t = succs[n][0]
            return (
                len(preds[t]) == 1
                and (n, t) not in delayed
                and (is_step(t) or isinstance(self.nodes[t], nir.Output))
            )

        value: dict[str, str] = {}
        for n in inputs:
            value[n] = self.label[n]
        out_names = {n: self.label[n] for n in outputs}
        lines: list[str] = []
        for n in inputs:
            shape = [int(x) for x in np.asarray(self.nodes[n].input_type["input"]).tolist()]
            lines.append(f"input {value[n]}: {_fmt(shape)}")

        def vname(n):
            if n not in value:
                base = f"{self.label[n].replace('.', '_')}_out"
                s, k = base, 2
                while s in self.used:
                    s, k = f"{base}_{k}", k + 1
                self.used.add(s)
                value[n] = s
            return value[n]

        def source_expr(t):
            """What a chain starting at t (a step, output or delay) reads."""
            node = self.nodes[t]
            if isinstance(node, nir.Delay):
                return f"delay({vname(preds[t][0])})"
            terms = []
            for s in preds[t]:
                if (s, t) in delayed:
                    shape = self.shape_of(s)
                    if shape is None:
                        p.add(s, f"cannot tell the shape of node '{s}', which a loop reads")
                        terms.append(vname(s))
                    else:
                        terms.append(f"delay({vname(s)}, shape={_fmt(shape)})")
                elif isinstance(self.nodes[s], nir.Delay):
                    terms.append(source_expr(s))
                else:
                    terms.append(vname(s))
            return terms[0] if len(terms) == 1 else f"Add({', '.join(terms)})"

        heads = [
            n
            for n in order
            if (is_step(n) or isinstance(self.nodes[n], nir.Output))
            and not (len(preds[n]) == 1 and chained(preds[n][0]))
        ]
        body: list[str] = []
        for h in heads:
            chain = []
            n = h
            while True:
                if is_step(n):
                    chain.append(steps[n])
                if isinstance(self.nodes[n], nir.Output) or not chained(n):
                    break
                n = succs[n][0]
            src = source_expr(h)
            text = " -> ".join([src] + [c for c in chain if c])
            if isinstance(self.nodes[n], nir.Output):
                body.append(f"output {out_names[n]} = {text}")
            else:
                body.append((n, text))
        p.raise_if_any()
        rendered = []
        for item in body:
            if isinstance(item, tuple):
                n, text = item
                rendered.append(f"{vname(n)} = {text}")
            else:
                rendered.append(item)
        spec = header + f"network {network} {{\n"
        spec += "".join(f"    {line}\n" for line in lines + rendered) + "}\n"
        from snndsl.syntax.formatter import format_module
        from snndsl.syntax.parser import parse_text

        spec = format_module(parse_text(spec, "<imported>"))
        return ImportedNIR(spec, dict(self.weights), network)

    def shape_of(self, n) -> list[int] | None:
        import numpy as np

        out = self.nodes[n].output_type.get("output")
        if out is None:
            return None
        arr = np.asarray(out)
        if arr.size == 0:
            return None
        return [int(x) for x in arr.tolist()]


def network_name(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", stem))
    if not name or not name[0].isalpha() or identifier_problem(name) is not None:
        return "Imported"
    return name


def from_nir(graph_or_path, *, dt: float = DEFAULT_DT, network: str | None = None) -> ImportedNIR:
    """A spec and weights from a NIR graph (an ``nir.NIRGraph`` or a file path)."""
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
    graph, path = _read(graph_or_path)
    name = network or (network_name(path) if path != "<nir>" else "Imported")
    source = os.path.basename(path) if path != "<nir>" else "a NIR graph"
    header = (
        f"# Imported from {source} by snndsl import (NIR, dt = {float(dt)!r} s).\n"
        "# Neurons fire on v >= v_threshold (NIR writes v > v_threshold: they differ only\n"
        "# where v lands exactly on the threshold).\n"
    )
    return _Importer(graph, path, float(dt)).run(name, header)
