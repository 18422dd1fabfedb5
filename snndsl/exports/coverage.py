"""The coverage table: every op, whether both forms exist, whether it is oracle-verified.

Built from the catalogue, the prelude and the SpikingJelly reference map, so it cannot
drift from what the generator does; ``docs/coverage.md`` is this output, and a test
checks that it is current (``snndsl coverage > docs/coverage.md`` refreshes it).
"""

from __future__ import annotations

from snndsl.diagnostics import Reporter
from snndsl.oracle.reference_map import (
    ALWAYS_SPIKING,
    NEURONS,
    NON_SPIKING,
    PARALLEL,
    STEPWISE,
    SURROGATES,
)
from snndsl.semantics.body import body_has
from snndsl.semantics.catalogue import OPS
from snndsl.semantics.checker import prelude
from snndsl.semantics.definitions import Definitions
from snndsl.syntax import ast
from snndsl.syntax.formatter import format_expr

HEADER = """# snndsl coverage

Generated from the catalogue (`snndsl/semantics/catalogue.py`), the prelude
(`snndsl/prelude/builtin.snn`) and the SpikingJelly map (`snndsl/oracle/reference_map.py`) by
`snndsl coverage`; `tests/test_coverage.py` fails when this file is out of date.
"Oracle-verified" means the tests compare the generated single-step and multi-step
modules with SpikingJelly 2.0.0 on the same weights: forward values bit-identical,
gradients within the documented tolerances (tests/test_layers.py,
tests/test_oracle_matrix.py, tests/test_surrogates.py).
"""


def _signature(defs: Definitions, definition) -> str:
    params = defs.signature(definition, Reporter(None))
    from snndsl.semantics.evaluate import describe

    return ", ".join(f"{p.name}={describe(p.default)}" for p in params)


def _default(p) -> str:
    from snndsl.semantics.evaluate import describe

    return "ATan()" if p.name == "surrogate" else describe(p.default)


def _single_step(body) -> str:
    """When a parallel neuron has a single-step form, from its ``window`` statement."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            found = _single_step(stmt.then + stmt.orelse)
            if found != "no":
                return found
        if isinstance(stmt, ast.Window):
            when = [o for o in stmt.options if o.name == "when"]
            return f"when `{format_expr(when[0].value)}`" if when else "yes"
    return "no"


def coverage_table() -> str:
    defs = Definitions(Reporter(None))
    pre = prelude()
    for item in pre.items:
        if isinstance(item, (ast.NeuronDef, ast.SurrogateDef)):
            defs.add(item, "built in", Reporter(pre.source))
    lines = [HEADER, "## Layers", ""]
    lines.append(
        "| layer | single-step | multi-step | SpikingJelly counterpart | oracle-verified |"
    )
    lines.append("|---|---|---|---|---|")
    for op in OPS.values():
        if op.tensor is not None:
            counterpart = (
                f"`layer.{op.name}`"
                if op.spikingjelly
                else f"`torch.{op.tensor}` folded over T*N (no layer)"
            )
        elif op.ctor is None:
            counterpart = f"`layer.{op.name}` (one mask per sequence)"
        elif op.spikingjelly:
            counterpart = f"`layer.{op.name}`"
        else:
            counterpart = f"`{op.ctor}` folded over T*N (`layer.SeqToANNContainer`)"
        lines.append(f"| `{op.name}` | yes | yes | {counterpart} | yes |")
    lines += ["", "## Neurons", ""]
    lines.append(
        "| neuron (defaults) | single-step | multi-step | SpikingJelly counterpart "
        "| oracle-verified |"
    )
    lines.append("|---|---|---|---|---|")
    for name, definition in defs.neurons.items():
        if definition.parallel:
            continue
        mapped = NEURONS.get(name)
        counterpart = f"`neuron.{mapped[0]}`" if mapped else "none"
        if name in STEPWISE:
            counterpart += " (compared step by step: its multi-step mode returns spikes)"
        if name in NON_SPIKING:
            counterpart += " (no spike: outputs v; without `decode`)"
        verified = "yes" if mapped else "no"
        lines.append(
            f"| `{name}({_signature(defs, definition)})` | yes | yes | {counterpart} | {verified} |"
        )
    lines += ["", "## Surrogate functions", ""]
    lines.append(
        "| surrogate (defaults) | spiking=false | SpikingJelly counterpart | oracle-verified |"
    )
    lines.append("|---|---|---|---|")
    for name, definition in defs.surrogates.items():
        analog = "yes" if body_has(definition.body, ast.Primitive) else "no (none in SpikingJelly)"
        mapped = name in SURROGATES
        counterpart = f"`surrogate.{SURROGATES[name]}`" if mapped else "none"
        if name in ALWAYS_SPIKING:
            counterpart += " (always spiking)"
        lines.append(
            f"| `{name}({_signature(defs, definition)})` | {analog} | {counterpart} "
            f"| {'yes' if mapped else 'no'} |"
        )
    lines += ["", "## Parallel spiking neurons", ""]
    lines.append(
        "| neuron (arguments) | single-step | multi-step | SpikingJelly counterpart "
        "| oracle-verified |"
    )
    lines.append("|---|---|---|---|---|")
    for name, definition in defs.neurons.items():
        if not definition.parallel:
            continue
        params = defs.signature(definition, Reporter(None))
        args = ", ".join(p.name if p.required else f"{p.name}={_default(p)}" for p in params)
        mapped = PARALLEL.get(name)
        counterpart = f"`neuron.{mapped[0]}`" if mapped else "none"
        lines.append(
            f"| `{name}({args})` | {_single_step(definition.body)} | yes | {counterpart} "
            f"| {'yes' if mapped else 'no'} |"
        )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(coverage_table(), end="")
