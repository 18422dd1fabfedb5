"""Build the same network in SpikingJelly 2.0.0 (the reference) from the resolved IR.

The oracle network has the same submodule names as the generated modules, so one
``state_dict`` loads into both.  It runs in SpikingJelly's multi-step mode; stateless
layers fold over ``T*N`` inside SpikingJelly, neurons use its own kernels.  Only
definitions SpikingJelly has are mapped; a user-defined neuron or surrogate has no
oracle, and :func:`unsupported` says which.
"""

from __future__ import annotations

import torch
from torch import nn

from snndsl import ir
from snndsl.oracle.paths import place
from snndsl.oracle.reference_map import (
    ACTIVATIONS,
    ALWAYS_SPIKING,
    NEURONS,
    NON_SPIKING,
    PARALLEL,
    PARALLEL_KEYS,
    SET_AFTER,
    STEPWISE,
    SURROGATES,
    peer_library,
)


def available() -> bool:
    try:
        import spikingjelly.activation_based  # noqa: F401
    except Exception:  # pragma: no cover - depends on the environment
        return False
    return True


def unsupported(net: ir.NetworkIR) -> list[str]:
    """Why the network has no SpikingJelly counterpart (empty when it has one)."""
    problems = []
    if net.delays:
        problems.append(
            "feedback through delay() has no generic SpikingJelly counterpart (the tests "
            "compare recurrent specs with hand-built SpikingJelly containers)"
        )
    for node in net.nodes:
        if isinstance(node, ir.StateReadIR):
            problems.append(f"{node.spec} reads a neuron's state as a value (no counterpart)")
        if isinstance(node, ir.ParallelIR):
            if node.neuron not in PARALLEL:
                problems.append(f"neuron '{node.neuron}' ({node.attr}) is user-defined")
            if node.surrogate.name not in SURROGATES:
                problems.append(f"surrogate '{node.surrogate.name}' ({node.attr}) is user-defined")
        if isinstance(node, ir.NeuronIR):
            if peer_library(node.neuron):
                problems.append(f"neuron '{node.neuron}' ({node.attr}) is a library neuron")
                continue
            if node.neuron not in NEURONS:
                problems.append(f"neuron '{node.neuron}' ({node.attr}) is user-defined")
            for b in node.params:
                v = b.value
                if isinstance(v, ir.SurrogateRef) and v.name not in SURROGATES:
                    problems.append(f"surrogate '{v.name}' ({node.attr}) is user-defined")
    return problems


def _surrogate(ref: ir.SurrogateRef):
    from spikingjelly.activation_based import surrogate

    kwargs = dict(ref.params)
    if ref.name not in ALWAYS_SPIKING:
        kwargs["spiking"] = ref.spiking
    return getattr(surrogate, SURROGATES[ref.name])(**kwargs)


class _Folded(nn.Module):
    """A torch layer SpikingJelly does not wrap, run the way SpikingJelly runs stateless
    layers (``functional.seq_to_ann_forward``, as ``layer.SeqToANNContainer`` does),
    keeping the layer's own state_dict keys."""

    def __init__(self, module: nn.Module, step_mode: str = "m"):
        super().__init__()
        self.__dict__["inner"] = module  # not a submodule: keys stay those of the layer
        self.step_mode = step_mode
        for name, p in module.named_parameters(recurse=False):
            self.register_parameter(name, p)
        for name, b in module.named_buffers(recurse=False):
            self.register_buffer(name, b)

    def _apply(self, fn, recurse=True):
        # .double(), .to(): the inner layer must see the converted tensors too
        out = super()._apply(fn, recurse)
        self.inner._parameters.update(self._parameters)
        self.inner._buffers.update(self._buffers)
        return out

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        from spikingjelly.activation_based import functional

        if self.step_mode == "s":
            return self.inner(x_seq)
        return functional.seq_to_ann_forward(x_seq, self.inner)


def _layer(node: ir.LayerIR, step_mode: str = "m") -> nn.Module:
    from spikingjelly.activation_based import layer

    from snndsl.semantics.catalogue import OPS

    args = [b.value for b in node.ctor_args if b.name is None]
    kwargs = {b.name: b.value for b in node.ctor_args if b.name is not None}
    if OPS[node.op].spikingjelly:
        return getattr(layer, node.op)(*args, **kwargs, step_mode=step_mode)
    return _Folded(getattr(nn, node.op)(*args, **kwargs), step_mode)


def _tensor_fn(node: ir.TensorOpIR):
    """The operation on one step [N, *] as torch (and Spikformer's SpikingJelly code)
    writes it; dimensions move past the batch."""
    a = {b.name: b.value for b in node.args}
    op = node.op
    if op == "Reshape":
        return lambda x: x.reshape(x.shape[0], *node.shape)
    if op == "Transpose":
        return lambda x: x.transpose(a["dim0"] + 1, a["dim1"] + 1)
    if op == "Permute":
        return lambda x: x.permute(0, *(d + 1 for d in a["dims"]))
    if op == "Select":
        return lambda x: x.select(a["dim"] + 1, a["index"])
    if op == "Scale":
        return lambda x: x * a["k"]
    if op == "Softmax":
        return lambda x: torch.softmax(x, a["dim"] + 1)
    raise ValueError(f"no reference for {op}")  # pragma: no cover


class _TensorOp(nn.Module):
    """A parameterless tensor operation SpikingJelly has no layer for, run as SpikingJelly
    runs stateless layers (``functional.seq_to_ann_forward``)."""

    def __init__(self, node: ir.TensorOpIR, step_mode: str = "m"):
        super().__init__()
        self.fn = _tensor_fn(node)
        self.step_mode = step_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from spikingjelly.activation_based import functional

        if self.step_mode == "s":
            return self.fn(x)
        return functional.seq_to_ann_forward(x, self.fn)


def _tensor_op(node: ir.TensorOpIR, step_mode: str = "m") -> nn.Module:
    from spikingjelly.activation_based import layer

    a = {b.name: b.value for b in node.args}
    if node.op == "VotingLayer":
        return layer.VotingLayer(a["voting_size"], step_mode=step_mode)
    if node.op == "Flatten":  # torch's numbering: the batch is dimension 0
        return layer.Flatten(a["start"] + 1, a["end"] + 1, step_mode=step_mode)
    return _TensorOp(node, step_mode)


class _NonSpiking(nn.Module):
    """A SpikingJelly non-spiking node (NonSpikingBaseNode) with state between calls.

    Its own forward() takes a whole sequence, starts from v = 0 and returns the list of
    v[t]; from reset the multi-step form runs exactly that.  Otherwise (single-step, or a
    sequence that continues from earlier calls) each step is the node's own
    ``neuronal_charge``, the same arithmetic."""

    def __init__(self, module: nn.Module, step_mode: str = "m"):
        super().__init__()
        self.node = module
        self.step_mode = step_mode
        self.reset()

    @property
    def v(self):
        return self.node.v

    def reset(self) -> None:
        self.node.v = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "m" and self.node.v is None:
            return torch.stack(self.node(x))
        steps = x if self.step_mode == "m" else x.unsqueeze(0)
        out = []
        for x_t in steps:
            if self.node.v is None:
                self.node.v = torch.full_like(x_t.data, fill_value=0.0)
            self.node.neuronal_charge(x_t)
            out.append(self.node.v)
        return torch.stack(out) if self.step_mode == "m" else out[0]


def _neuron(node: ir.NeuronIR, step_mode: str = "m") -> nn.Module:
    from spikingjelly.activation_based import neuron

    cls_name, mapping = NEURONS[node.neuron]
    if node.neuron in NON_SPIKING:
        kwargs = {mapping[b.name]: b.value for b in node.params}
        return _NonSpiking(getattr(neuron, cls_name)(**kwargs), step_mode)
    after = SET_AFTER.get(node.neuron, ())
    kwargs: dict[str, object] = {"step_mode": step_mode}
    for b in node.params:
        k, v = b.name, b.value
        if isinstance(v, ir.SurrogateRef):
            v = _surrogate(v)
        elif k == "act":
            v = getattr(nn, ACTIVATIONS[v])()
        kwargs[mapping[k]] = v
    if node.neuron in STEPWISE:
        kwargs["step_mode"] = "s"
    module = getattr(neuron, cls_name)(**{k: v for k, v in kwargs.items() if k not in after})
    for k in after:
        if k in kwargs:
            setattr(module, k, kwargs[k])
    return module


def _parallel(node: ir.ParallelIR) -> nn.Module:
    from spikingjelly.activation_based import neuron

    cls_name, mapping = PARALLEL[node.neuron]
    args = {b.name: b.value for b in node.args}
    kwargs = {kw: args[arg] for arg, kw in mapping.items()}
    kwargs["surrogate_function"] = _surrogate(node.surrogate)
    if node.neuron != "PSN":
        kwargs["step_mode"] = "m"
    module = getattr(neuron, cls_name)(**kwargs)
    renames = PARALLEL_KEYS.get(node.neuron, {})
    if renames:

        def rename(module, state_dict, prefix, *args):
            for ours, theirs in renames.items():
                if prefix + ours in state_dict:
                    state_dict[prefix + theirs] = state_dict.pop(prefix + ours)

        module.register_load_state_dict_pre_hook(rename)
    return module


def _sew_function(x: torch.Tensor, y: torch.Tensor, cnf: str) -> torch.Tensor:
    """SpikingJelly 2.0.0's ``model/sew_resnet.py: sew_function``, line for line.  (That
    module cannot be imported here: the model package needs torchvision and h5py.)"""
    if cnf == "ADD":
        return x + y
    elif cnf == "AND":
        return x * y
    elif cnf == "IAND":
        return x * (1.0 - y)
    raise NotImplementedError(cnf)


def _merge(node: ir.MergeIR, xs: list[torch.Tensor], lead: int = 2) -> torch.Tensor:
    """A merge on [T, N, *] sequences (``lead`` 2) or [N, *] steps (1), as SpikingJelly's
    models write them."""
    if node.op == "sew":
        return _sew_function(xs[0], xs[1], node.cnf)
    if node.op == "cat":
        return torch.cat(xs, node.dim + lead)
    if node.op == "matmul":  # as SpikingSelfAttention writes it: vt @ kt.transpose(-2, -1)
        return xs[0] @ xs[1]
    out = xs[0]
    for x in xs[1:]:
        out = out + x if node.op == "add" else out * x
    return out


def _dropout(node: ir.DropoutIR, step_mode: str = "m") -> nn.Module:
    from spikingjelly.activation_based import layer

    cls = layer.Dropout2d if node.channelwise else layer.Dropout
    return cls(node.p, step_mode=step_mode)


class OracleNetwork(nn.Module):
    """The spec's network built from SpikingJelly modules, run in multi-step mode (or,
    with ``step_mode="s"``, one time step [N, *] per call, every module in SpikingJelly's
    single-step mode; parallel neurons have none)."""

    def __init__(self, net: ir.NetworkIR, step_mode: str = "m"):
        super().__init__()
        problems = unsupported(net)
        if step_mode == "s" and net.parallels:
            problems.append("parallel neurons have no single-step mode in SpikingJelly")
        if problems:
            raise ValueError("; ".join(problems))
        self._net = net
        self._step_mode = step_mode
        # (module path joined by '.', source, value)
        self._order: list[tuple[str, str, str]] = []
        for node in net.nodes:
            if isinstance(node, ir.LayerIR):
                place(self, ir.module_path(node), _layer(node, step_mode))
                self._order.append((ir.module_key(node), node.source, node.value))
            elif isinstance(node, ir.TensorOpIR):
                attr = f"op_{node.value}"
                self.add_module(attr, _tensor_op(node, step_mode))
                self._order.append((attr, node.source, node.value))
            elif isinstance(node, ir.NeuronIR):
                place(self, ir.module_path(node), _neuron(node, step_mode))
                self._order.append((ir.module_key(node), node.source, node.value))
            elif isinstance(node, ir.ParallelIR):
                place(self, ir.module_path(node), _parallel(node))
                self._order.append((ir.module_key(node), node.source, node.value))
            elif isinstance(node, ir.MergeIR):
                self._order.append(("", node.sources, node.value))
            elif isinstance(node, ir.DropoutIR):
                attr = f"dropout_{node.value}"
                self.add_module(attr, _dropout(node, step_mode))
                self._order.append((attr, node.source, node.value))
            else:
                self._order.append(("", node.source, node.value))

    def forward(self, *inputs: torch.Tensor):
        values = {i.name: x for i, x in zip(self._net.inputs, inputs)}
        merges = {n.value: n for n in self._net.nodes if isinstance(n, ir.MergeIR)}
        for attr, source, value in self._order:
            if value in merges:
                lead = 2 if self._step_mode == "m" else 1
                values[value] = _merge(merges[value], [values[s] for s in source], lead)
                continue
            x = values[source]
            if not attr:
                values[value] = x
                continue
            module = self.get_submodule(attr)
            if self._step_mode == "m" and getattr(module, "step_mode", "m") == "s":
                values[value] = torch.stack([module(x_t) for x_t in x])
            else:
                values[value] = module(x)
        outs = tuple(values[o.source] for o in self._net.outputs)
        return outs[0] if len(outs) == 1 else outs

    def v_seqs(self) -> dict[str, torch.Tensor]:
        """Recorded membrane sequences by generated attribute name (``sn1_v_seq``)."""
        return {
            n.v_seq: self.get_submodule(ir.module_key(n)).v_seq
            for n in self._net.neurons
            if n.v_seq
        }

    def neuron_states(self) -> dict[tuple[str, str], torch.Tensor]:
        """Final neuron state by (layer label, state name), as SpikingJelly has it."""
        states = {}
        for node in self._net.neurons:
            module = self.get_submodule(ir.module_key(node))
            for s in node.states:
                states[(node.attr, s.name)] = getattr(module, s.name)
        return states

    def reset(self) -> None:
        for module in self.modules():
            if module is not self and hasattr(module, "reset"):
                module.reset()
