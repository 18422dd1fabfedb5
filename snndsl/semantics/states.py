"""``sn.v`` in a network: the state ``v`` of the neuron layer labelled ``sn``, after each
step, as a value of its own (a neuron with more than one output).

The reading chain comes after the neuron's statement (:mod:`snndsl.semantics.topology`
orders a read of ``sn.v`` after the statement that labels ``sn``).  The first read
creates an :class:`snndsl.ir.StateReadIR` node under a fresh value name; later reads
share it.  A neuron whose state is read runs step by step in the multi-step form (it
forms a loop with its reads, see ``checker._loops``).
"""

from __future__ import annotations

from dataclasses import replace

from snndsl import ir
from snndsl.diagnostics import did_you_mean
from snndsl.semantics import topology
from snndsl.syntax import ast


class StateReads:
    """Methods of the network checker resolving ``sn.v`` names."""

    def read_states(self, chain: ast.Chain) -> ast.Chain:
        """``chain`` with every ``sn.v`` it reads replaced by the name of its value."""
        source = chain.source
        if isinstance(source, ast.Name):
            return replace(chain, source=self._state_value(source))
        if source.call.func == topology.DELAY:
            self._no_delayed_state(source.call)
            return chain
        values = {id(a) for a in topology.value_args(source.call)}
        args = []
        for a in source.call.args:
            if id(a) in values and isinstance(a.value, ast.Name):
                a = replace(a, value=self._state_value(a.value))
            elif id(a) in values and isinstance(a.value, ast.Call):
                self._no_delayed_state(a.value)
            args.append(a)
        return replace(chain, source=replace(source, call=replace(source.call, args=tuple(args))))

    def _no_delayed_state(self, call: ast.Call) -> None:
        for a in call.args:
            if isinstance(a.value, ast.Name) and "." in a.value.id:
                raise self.fail(
                    "E0204",
                    f"delay() reads a value of the network, not a neuron's state '{a.value.id}'",
                    a.value.span,
                    f"name it first: v = {a.value.id}, then delay(v)",
                )

    def _state_value(self, name: ast.Name) -> ast.Name:
        if "." not in name.id:
            return name
        reads = self.__dict__.setdefault("_state_reads", {})
        if name.id in reads:
            return replace(name, id=reads[name.id])
        layer, state = name.id.split(".", 1)
        neuron = next((n for n in self.nodes if getattr(n, "attr", None) == layer), None)
        if not isinstance(neuron, ir.NeuronIR):
            what = "no step" if neuron is None else "a step that is not a neuron layer"
            raise self.fail(
                "E0103",
                f"'{name.id}' reads a state of the neuron layer '{layer}', but '{layer}' labels "
                f"{what}",
                name.span,
                "label the neuron: h = x -> sn: LIF(), then read sn.v",
            )
        states = [s.name for s in neuron.states if s.name != "spike"]  # 'spike': hidden
        if state not in states:
            raise self.fail(
                "E0103",
                f"neuron layer '{layer}' ({neuron.neuron}) has no state '{state}'",
                name.span,
                did_you_mean(state, states) or f"its states: {', '.join(states) or 'none'}",
            )
        value = self.spec_names.fresh(f"{layer}_{state}")
        self.add(ir.StateReadIR(value, neuron.value, layer, state, neuron.shape, name.id))
        self.values[value] = neuron.shape
        reads[name.id] = value
        return replace(name, id=value)
