"""Export a generated network with its state: ``torch.export`` and ONNX.

The single-step form keeps neuron state in plain module attributes between calls, which
``torch.export`` and the ONNX exporter cannot see: a traced single-step module bakes the
state of the first step in, so step 0 matches and every later step is wrong.
:func:`stateful_step` wraps a single-step module in a functional module that takes the
state as inputs and returns the new state as outputs, without changing the generated
module (its source and state_dict keys stay as they are)::

    step = stateful_step(model)                      # model: snndsl.load(spec, "single")()
    states = step.initial_states(batch_size)         # zeros / the neurons' initial values
    ep = torch.export.export(step, (x0, *states))
    for x in xs:                                     # one call per time step
        y, *states = ep.module()(x, *states)

``forward(*inputs, *states) -> (*outputs, *new_states)``, in this order:

* inputs: the network's inputs in spec order, named as the spec names them (``x``);
* states: for each node in node order, each neuron state in the neuron's order
  (``state_sn1_v``), and each delayed value (``state_delay_1_prev``): the generated
  module's attribute name without its leading underscore, after ``state_``;
* outputs: the network's outputs in spec order (``y``);
* new states: the states in the same order, named ``new_state_...``.

Each state tensor has shape ``[N, *shape]`` of the value it belongs to.  Dropout is the
identity (the wrapper is for inference: it refuses a module in training mode when the
network has Dropout); surrogate spikes export as their Heaviside forward (the generated
``spike()`` takes the plain path when no gradient is wanted).  Refused, with a
ValueError saying why: parallel neurons that keep a queue of past inputs.  A neuron's
``store_v_seq`` recording is not carried (the step writes it and never reads it): the
recording is the sequence of that neuron's first ``new_state_...`` output.

:func:`onnx_bytes` writes the ONNX model of the single-step form (the wrapper above:
inputs then states in, outputs then new states out, named as above) or of the
multi-step form ([T, N, *] in, [T, N, *] out, starting from the initial state).  Shapes
are fixed to the example's batch size (and number of steps).

torch (and onnx/onnxscript for ONNX) are imported inside the functions only.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

from snndsl import ir

MODES = ("single", "multi")


@dataclass(frozen=True)
class StateSpec:
    """One state tensor of the functional step."""

    name: str  # the input's name, e.g. 'state_sn1_v' (the output is 'new_' + name)
    attr: str  # the generated module's attribute, e.g. '_sn1_v'
    shape: tuple[int, ...]  # of one sample
    init: float | ir.ParamRef  # the initial value (a delay starts from zeros)


def state_specs(net: ir.NetworkIR) -> tuple[StateSpec, ...]:
    """The states of ``net``'s single-step form in the wrapper's order; ValueError for
    state the functional form does not carry (queues of parallel neurons)."""
    from snndsl.backends.torch.naming import module_names

    names = module_names(net)
    specs: list[StateSpec] = []
    for node in net.nodes:
        if isinstance(node, ir.NeuronIR):
            for s in node.states:
                attr = names.state(node, s.name)
                specs.append(StateSpec("state" + _tail(attr), attr, node.shape, s.init))
        elif isinstance(node, ir.DelayIR):
            attr = names.delays[node.value]
            specs.append(StateSpec("state" + _tail(attr), attr, node.shape, 0.0))
        elif isinstance(node, ir.ParallelIR) and node.window is not None:
            raise ValueError(
                f"{node.attr}: the parallel neuron {node.neuron} keeps a queue of its past "
                "inputs in single-step form; the exported step does not carry queues "
                "(export the multi-step form instead)"
            )
    taken = {i.name for i in net.inputs} | {o.name for o in net.outputs}
    for s in specs:
        if s.name in taken or "new_" + s.name in taken:
            raise ValueError(f"the state name {s.name!r} clashes with an input or output")
    return tuple(specs)


def _tail(attr: str) -> str:
    return attr if attr.startswith("_") else "_" + attr


def _network(module, net: ir.NetworkIR | None) -> ir.NetworkIR:
    if net is not None:
        return net
    found = getattr(type(module), "__snndsl_network__", None)
    if found is None:
        raise ValueError(
            "this module was not made by snndsl.load in this process; pass net= (its IR)"
        )
    return found


def stateful_step(module, net: ir.NetworkIR | None = None):
    """A functional ``nn.Module`` around a single-step module ``module``:
    ``forward(*inputs, *states) -> (*outputs, *new_states)`` (see the module docstring
    for the order and names).  It has ``input_names``, ``state_names``,
    ``output_names`` (outputs then new states) and ``initial_states(batch_size)``.
    ``net`` is the module's IR, read from the class when made by ``snndsl.load``."""
    import torch
    from torch import nn

    net = _network(module, net)
    specs = state_specs(net)
    has_dropout = any(isinstance(n, ir.DropoutIR) for n in net.nodes)
    # store_v_seq recordings: written by each step, never read back; not carried
    recordings = [n.v_seq for n in net.nodes if isinstance(n, ir.NeuronIR) and n.v_seq]
    n_in = len(net.inputs)
    n_out = len(net.outputs)

    class StatefulStep(nn.Module):
        """One time step of a generated single-step module, state in and out."""

        def __init__(self) -> None:
            super().__init__()
            self.step = module
            self.states = specs
            self.input_names = tuple(i.name for i in net.inputs)
            self.state_names = tuple(s.name for s in specs)
            self.output_names = tuple(o.name for o in net.outputs) + tuple(
                "new_" + s.name for s in specs
            )

        def initial_states(self, batch_size: int, dtype=None, device=None) -> tuple:
            """The state tensors before the first step (after ``reset()``)."""
            dtype = dtype or torch.get_default_dtype()
            out = []
            for s in specs:
                shape = (batch_size, *s.shape)
                if isinstance(s.init, ir.ParamRef):
                    init = getattr(self.step.get_submodule(s.init.layer), s.init.name)
                    value = init.detach().to(dtype=dtype, device=device).expand(shape)
                    out.append(value.clone())
                else:
                    out.append(torch.full(shape, float(s.init), dtype=dtype, device=device))
            return tuple(out)

        def forward(self, *args):
            if len(args) != n_in + len(specs):
                raise ValueError(
                    f"expected {n_in} inputs and {len(specs)} states, got {len(args)} tensors"
                )
            if has_dropout and self.step.training:
                raise ValueError("the exported step is for inference: call .eval() first")
            step = self.step
            kept = {a: getattr(step, a) for a in [s.attr for s in specs] + recordings}
            kept_batch = step._batch
            try:
                for s, value in zip(specs, args[n_in:]):
                    setattr(step, s.attr, value)
                for attr in recordings:
                    setattr(step, attr, None)
                step._batch = None
                result = step(*args[:n_in])
                outputs = result if n_out > 1 else (result,)
                new = tuple(getattr(step, s.attr) for s in specs)
            finally:
                for attr, value in kept.items():
                    setattr(step, attr, value)
                step._batch = kept_batch
            return (*outputs, *new)

    return StatefulStep().train(module.training)


def _example(net: ir.NetworkIR, batch: int, steps: int | None):
    import torch

    lead = (batch,) if steps is None else (steps, batch)
    return tuple(torch.rand(*lead, *i.shape) for i in net.inputs)


def export_program(module, batch_size: int = 1, net: ir.NetworkIR | None = None):
    """``torch.export.export`` of :func:`stateful_step` of a single-step module, with
    random inputs and the initial states as the example (fixed batch size)."""
    import torch

    step = stateful_step(module, net)
    example = _example(_network(module, net), batch_size, None)
    return torch.export.export(step, (*example, *step.initial_states(batch_size)))


def onnx_bytes(
    module,
    mode: str,
    *,
    batch_size: int = 1,
    steps: int = 8,
    net: ir.NetworkIR | None = None,
) -> bytes:
    """The ONNX model (bytes) of a generated module of form ``mode``, in eval mode.

    ``single``: the :func:`stateful_step` wrapper, inputs then states in, outputs then
    new states out, named as it names them.  ``multi``: the module itself on
    ``[steps, batch_size, *]``, from the initial state, outputs ``[steps, batch_size, *]``.
    """
    import torch

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    net = _network(module, net)
    module.eval()
    if hasattr(module, "reset"):
        module.reset()
    if mode == "single":
        target = stateful_step(module, net)
        args = (*_example(net, batch_size, None), *target.initial_states(batch_size))
        input_names = [*target.input_names, *target.state_names]
        output_names = list(target.output_names)
    else:
        target = module
        args = _example(net, batch_size, steps)
        input_names = [i.name for i in net.inputs]
        output_names = [o.name for o in net.outputs]
    target.eval()
    with torch.no_grad(), _quiet():
        program = torch.onnx.export(
            target,
            args,
            input_names=input_names,
            output_names=output_names,
            dynamo=True,
            verbose=False,
        )
    if hasattr(module, "reset"):
        module.reset()
    return program.model_proto.SerializeToString()


@contextlib.contextmanager
def _quiet():
    """Silence the exporter's chatter: its progress lines, missing torchvision ops,
    and the state attributes the multi-step form assigns while traced (they are the
    state the export is meant to start from, set back by reset())."""
    import logging

    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            warnings.filterwarnings("ignore", message=".*were assigned during export.*")
            warnings.filterwarnings("ignore", category=FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def load_module(
    spec,
    weights: Mapping,
    mode: str,
    network: str | None = None,
    params: Mapping[str, object] | None = None,
):
    """The generated module of ``mode`` with ``weights`` loaded, in eval mode;
    ValueError when the weights do not fit."""
    import snndsl

    model = snndsl.load(spec, mode, network, params)()
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:  # missing, unexpected or misshapen keys
        raise ValueError(f"the weights do not fit the network: {err}") from None
    return model.eval()
