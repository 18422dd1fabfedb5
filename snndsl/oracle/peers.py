"""Build the same network with snnTorch 1.0 and Norse 1.1 neurons: the peer oracles.

The neurons of the library namespaces (``snntorch.Leaky``, ``norse.LIF``, ...; see
``snndsl/prelude/snntorch.snn`` and ``norse.snn``) are compared with the modules of
the library they are named after.  The peer network has the generated modules' names:
each library neuron is the peer's own module under the layer's label (so a generated
module's ``state_dict`` loads into it, and a peer checkpoint into the generated module),
and stateless layers are the torch layers themselves, run on the time-folded batch in
the multi-step mode as the generated code runs them.  snnTorch's neurons run one step
per call in both modes (snnTorch has no multi-step form); Norse's run as its multi-step
modules (``norse.torch.LIF``, ...) or, in the single-step mode and for ``LIFBox``, which
has only a cell, as its cells.
"""

from __future__ import annotations

import importlib

import torch
from torch import nn

from snndsl import ir
from snndsl.oracle.paths import place
from snndsl.oracle.reference_map import (
    NORSE_MODULES,
    PEER_LIBRARIES,
    PEER_NEURONS,
    PEER_SURROGATES,
    peer_library,
)

# Norse parameter-record fields that are not tensors.
_NORSE_PLAIN = {"method", "reset_method"}


def available(library: str) -> bool:
    """Whether the peer library imports (Norse needs nir, nirtorch and h5py too)."""
    try:
        importlib.import_module({"snntorch": "snntorch", "norse": "norse.torch"}[library])
    except Exception:  # pragma: no cover - depends on the environment
        return False
    return True


def libraries(net: ir.NetworkIR) -> list[str]:
    """The peer libraries whose neurons the network uses, sorted."""
    return sorted({lib for n in net.neurons if (lib := peer_library(n.neuron))})


def describe(library: str) -> str:
    """``snnTorch 1.0.0``."""
    name, version = PEER_LIBRARIES[library]
    return f"{name} {version}"


def unsupported(net: ir.NetworkIR) -> list[str]:
    """Why the network has no peer counterpart (empty when it has one)."""
    problems = []
    if net.delays:
        problems.append("feedback through delay() has no peer counterpart")
    for node in net.nodes:
        if isinstance(node, ir.NeuronIR):
            if node.neuron not in PEER_NEURONS:
                problems.append(f"neuron '{node.neuron}' ({node.attr}) is not a library neuron")
                continue
            if node.v_seq:
                problems.append(f"store_v_seq ({node.attr}) has no peer counterpart")
            for b in node.params:
                v = b.value
                if isinstance(v, ir.SurrogateRef) and (
                    v.name not in PEER_SURROGATES or not v.spiking
                ):
                    problems.append(f"surrogate '{v.name}' ({node.attr}) has no peer")
        elif isinstance(node, ir.LayerIR):
            if not hasattr(nn, node.op):
                problems.append(f"layer '{node.op}' ({node.attr}) is not a torch layer")
        elif isinstance(node, ir.MergeIR):
            if node.op not in ("add", "mul", "cat"):
                problems.append(f"merge '{node.spec}' has no peer counterpart")
        elif not isinstance(node, ir.AliasIR):
            problems.append(f"'{node.spec}' has no peer counterpart")
    return problems


# ------------------------------------------------------------------ snnTorch
def _snntorch_neuron(node: ir.NeuronIR) -> nn.Module:
    import snntorch
    from snntorch import surrogate

    kwargs: dict[str, object] = {}
    for b in node.params:
        v = b.value
        if isinstance(v, ir.SurrogateRef):
            v = getattr(surrogate, PEER_SURROGATES[v.name])(**dict(v.params))
        elif v is None:
            v = False  # snnTorch's "not given" (Lapicque's beta, R, C)
        kwargs[b.name] = v
    return getattr(snntorch, PEER_NEURONS[node.neuron])(**kwargs)


class _SnnTorchRunner:
    """Drives one snnTorch neuron: one call per step, state in the module."""

    def __init__(self, node: ir.NeuronIR):
        self.states = [s.name for s in node.states]

    def reset(self, module) -> None:
        for name in self.states:  # an empty state: snnTorch re-creates it at the next call
            setattr(module, name, torch.zeros(0))

    def step(self, module, x):
        return module(x)[0]

    def run(self, module, xs):
        return torch.stack([self.step(module, x) for x in xs])

    def state(self, module, name):
        if name == "spike":  # the delayed reset's spike: what snnTorch resets by next
            return module.mem_reset(module.mem)
        return getattr(module, name)


def _peer_shapes(module, state_dict, prefix, *args) -> None:
    """Values snnTorch keeps in another shape of the same elements (Lapicque's beta,
    [1] where snndsl's is a scalar) are reshaped to snnTorch's when loading."""
    for name, theirs in [
        *module.named_buffers(recurse=False),
        *module.named_parameters(recurse=False),
    ]:
        key = prefix + name
        if key in state_dict and state_dict[key].numel() == theirs.numel() == 1:
            state_dict[key] = state_dict[key].reshape(theirs.shape)


# ------------------------------------------------------------------ Norse
def _same_dtype(linear: nn.Linear, args):
    """snnTorch 1.0's RLeaky/RSynaptic with reset_mechanism="zero" hand their dense
    recurrent nn.Linear a float32 spike when the module is float64 (the check's float64
    reference run), which nn.Linear refuses; the spike's values (0, 1 or the graded
    factor) convert exactly, so converting it changes no value."""
    return tuple(a.to(linear.weight.dtype) for a in args)


def _norse_record(node: ir.NeuronIR, dtype=None):
    import norse.torch as norse
    from norse.torch.functional import reset as resets

    _, _, record = NORSE_MODULES[PEER_NEURONS[node.neuron]]
    fields = {}
    for b in node.params:
        if b.name == "dt":
            continue
        if b.name == "reset_method":
            fields[b.name] = getattr(resets, b.value)
        elif b.name in _NORSE_PLAIN:
            fields[b.name] = b.value
        else:
            fields[b.name] = torch.as_tensor(b.value, dtype=dtype)
    return getattr(norse, record)(**fields)


class _NorseRunner:
    """Drives one Norse neuron: its multi-step module on whole sequences where Norse has
    one, else its cell step by step, with the state record kept between calls."""

    def __init__(self, node: ir.NeuronIR, step_mode: str):
        import norse.torch as norse

        multi, cell, _ = NORSE_MODULES[PEER_NEURONS[node.neuron]]
        dt = dict((b.name, b.value) for b in node.params)["dt"]
        self.node = node
        p = _norse_record(node)
        self.multi = step_mode == "m" and multi is not None
        self.module = getattr(norse, multi if self.multi else cell)(p=p, dt=dt)
        self.record = None

    def reset(self, module) -> None:
        self.record = None

    def step(self, module, x):
        y, self.record = module(x, self.record)
        return y

    def run(self, module, xs):
        if self.multi:
            return self.step(module, xs)
        return torch.stack([self.step(module, x) for x in xs])

    def state(self, module, name):
        value = getattr(self.record, name)
        return value


# ------------------------------------------------------------------ the network
class PeerNetwork(nn.Module):
    """The spec's network with each library neuron replaced by its peer's module, run
    on [T, N, *] sequences (or, with ``step_mode="s"``, one step [N, *] per call)."""

    def __init__(self, net: ir.NetworkIR, step_mode: str = "m"):
        super().__init__()
        problems = unsupported(net)
        if problems:
            raise ValueError("; ".join(problems))
        self._net = net
        self._step_mode = step_mode
        self._runners: dict[str, object] = {}
        for node in net.nodes:
            if isinstance(node, ir.LayerIR):
                args = [b.value for b in node.ctor_args if b.name is None]
                kwargs = {b.name: b.value for b in node.ctor_args if b.name is not None}
                place(self, ir.module_path(node), getattr(nn, node.op)(*args, **kwargs))
            elif isinstance(node, ir.NeuronIR):
                if peer_library(node.neuron) == "snntorch":
                    module = _snntorch_neuron(node)
                    module.register_load_state_dict_pre_hook(_peer_shapes)
                    if isinstance(getattr(module, "recurrent", None), nn.Linear):
                        module.recurrent.register_forward_pre_hook(_same_dtype)
                    place(self, ir.module_path(node), module)
                    self._runners[node.attr] = _SnnTorchRunner(node)
                else:
                    runner = _NorseRunner(node, step_mode)
                    place(self, ir.module_path(node), runner.module)
                    self._runners[node.attr] = runner

    def _apply(self, fn, recurse=True):
        out = super()._apply(fn, recurse)
        converted = fn(torch.zeros(()))
        if converted.dtype == torch.float64:
            for runner in self._runners.values():
                if isinstance(runner, _NorseRunner):
                    module = self.get_submodule(ir.module_key(runner.node))
                    module.p = _norse_record(runner.node, torch.float64)
        return out

    def forward(self, *inputs: torch.Tensor):
        values = {i.name: x for i, x in zip(self._net.inputs, inputs)}
        multi = self._step_mode == "m"
        for node in self._net.nodes:
            if isinstance(node, ir.MergeIR):
                xs = [values[s] for s in node.sources]
                if node.op == "cat":
                    out = torch.cat(xs, node.dim + (2 if multi else 1))
                else:
                    out = xs[0]
                    for x in xs[1:]:
                        out = out + x if node.op == "add" else out * x
                values[node.value] = out
                continue
            x = values[node.source]
            if isinstance(node, ir.LayerIR):
                layer = self.get_submodule(ir.module_key(node))
                values[node.value] = (
                    layer(x.flatten(0, 1)).unflatten(0, x.shape[:2]) if (multi) else layer(x)
                )
            elif isinstance(node, ir.NeuronIR):
                runner = self._runners[node.attr]
                module = self.get_submodule(ir.module_key(node))
                values[node.value] = runner.run(module, x) if multi else runner.step(module, x)
            else:
                values[node.value] = x
        outs = tuple(values[o.source] for o in self._net.outputs)
        return outs[0] if len(outs) == 1 else outs

    def neuron_states(self) -> dict[tuple[str, str], torch.Tensor]:
        """Final neuron state by (layer label, state name), as the peer has it."""
        return {
            (node.attr, s.name): self._runners[node.attr].state(
                self.get_submodule(ir.module_key(node)), s.name
            )
            for node in self._net.neurons
            for s in node.states
        }

    def v_seqs(self) -> dict[str, torch.Tensor]:
        return {}

    def reset(self) -> None:
        for node in self._net.neurons:
            module = self.get_submodule(ir.module_key(node))
            self._runners[node.attr].reset(module)
