"""Render the network IR as standalone PyTorch source, single-step or multi-step.

This module turns IR into the pre-printed strings the Jinja2 templates lay out: names
come from the IR (already validated), expressions from :func:`snndsl.pyexpr.to_python`,
constants from :func:`snndsl.pyexpr.format_const`.  Jinja2 runs with
``StrictUndefined``, ``trim_blocks`` and ``lstrip_blocks``.  The result is checked with
``ast.parse`` before it is returned, and is byte-for-byte deterministic.

Multi-step layout: every value is either a sequence ``[T, N, *]`` or folded ``[T*N, *]``.
Stateless layers run folded (as SpikingJelly's ``seq_to_ann_forward`` does), neurons
loop over the sequence, and conversions are inserted only where the layout changes.
"""

from __future__ import annotations

import ast as pyast
import functools
import re
from dataclasses import dataclass, replace

import jinja2

from . import __version__, ir
from .pyexpr import format_const, to_python
from .resources import resource_dir

MODES = ("single", "multi")
LINE_LENGTH = 88


class GenerationError(Exception):
    """Generated source failed to parse: a bug in snndsl, never a spec problem."""


@functools.cache
def _environment() -> jinja2.Environment:
    root = resource_dir("snndsl.templates")

    def load(name: str) -> str | None:
        path = root.joinpath(name)
        return path.read_text(encoding="utf-8") if path.is_file() else None

    return jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


# --------------------------------------------------------------------------- printing


_WORD = re.compile(r"[A-Za-z0-9_-]+")


def _value(v: object) -> str:
    if isinstance(v, str):
        # String arguments are keywords validated against fixed choices ("same",
        # "reflect", "bilinear"...); anything else would be a checker bug.
        if not _WORD.fullmatch(v):
            raise GenerationError(f"refusing to emit string argument {v!r}")
        return f'"{v}"'
    if isinstance(v, tuple):
        inner = ", ".join(_value(i) for i in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    return format_const(v)  # type: ignore[arg-type]


def fit_call(head: str, args: list[str], indent: int) -> list[str]:
    """A call laid out as ``ruff format`` would: one line, one inner line, or one per line."""
    one = f"{head}({', '.join(args)})"
    if indent + len(one) <= LINE_LENGTH:
        return [one]
    inner = ", ".join(args)
    if indent + 4 + len(inner) <= LINE_LENGTH:
        return [f"{head}(", f"    {inner}", ")"]
    return [f"{head}(", *(f"    {a}," for a in args), ")"]


def _comment(text: str) -> str:
    """Text for a ``#`` comment: a single line, control characters escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _return_lines(values: list[str]) -> list[str]:
    """``return a, b`` on one line, or one value per line as ruff format splits a tuple."""
    one = f"return {', '.join(values)}"
    if 8 + len(one) <= LINE_LENGTH:
        return [one]
    return ["return (", *(f"    {v}," for v in values), ")"]


def _shape(prefix: str, shape: tuple[int, ...]) -> str:
    return "[" + ", ".join([prefix, *(str(d) for d in shape)]) + "]"


def _docstring_text(text: str) -> str:
    """Spec text made safe inside a triple-quoted docstring, indented 4 spaces."""
    out = []
    for line in text.rstrip("\n").splitlines():
        safe = line.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
        safe = "".join(c if c.isprintable() or c == "\t" else f"\\x{ord(c):02x}" for c in safe)
        out.append(f"    {safe}".rstrip())
    return "\n".join(out)


def _substitute(e: ir.PyExpr, name: str, to: ir.PyExpr) -> ir.PyExpr:
    if isinstance(e, ir.Local):
        return to if e.name == name else e
    if isinstance(e, ir.BinOp):
        return replace(e, left=_substitute(e.left, name, to), right=_substitute(e.right, name, to))
    if isinstance(e, (ir.Neg, ir.Detach)):
        return replace(e, operand=_substitute(e.operand, name, to))
    if isinstance(e, ir.Func):
        return replace(e, args=tuple(_substitute(a, name, to) for a in e.args))
    if isinstance(e, ir.Spike):
        return replace(e, arg=_substitute(e.arg, name, to))
    return e


def _assign(target: str, value: ir.PyExpr, indent: int) -> str:
    line = f"{target} = {to_python(value)}"
    if indent + len(line) > LINE_LENGTH:
        line += "  # fmt: skip"
    return line


# --------------------------------------------------------------------------- blocks


@dataclass
class _Layout:
    """Tracks which values are folded to [T*N, *] in the multi-step form."""

    multi: bool
    folded: set[str]
    needs_tn: bool = False

    def as_folded(self, name: str) -> str:
        if not self.multi or name in self.folded:
            return name
        return f"{name}.flatten(0, 1)"

    def as_seq(self, name: str) -> str:
        if self.multi and name in self.folded:
            self.needs_tn = True
            return f"{name}.unflatten(0, (_T, _N))"
        return name


def _layer_block(n: ir.LayerIR, lay: _Layout, prefix: str) -> dict:
    call = f"self.{n.attr}({lay.as_folded(n.source)})"
    if lay.multi:
        lay.folded.add(n.value)  # stateless layers keep the time-folded [T * N, *] layout
    shape = _shape("T * N" if lay.multi else prefix, n.out_shape)
    return {
        "kind": "layer",
        "comment": _comment(f"{n.attr}: {n.spec}"),
        "value": n.value,
        "call": call,
        "shape": shape,
    }


def _dropout_block(n: ir.DropoutIR, lay: _Layout, prefix: str) -> dict:
    src = lay.as_seq(n.source)
    unfold = ""
    if src != n.source:
        unfold, src = src, "_xs"
    return {
        "kind": "dropout",
        "comment": _comment(f"{n.value}: {n.spec}, one mask per sequence"),
        "attr": n.attr,
        "value": n.value,
        "src": src,
        "unfold": unfold,
        "like": f"{src}[0]" if lay.multi else src,
        "maker": "F.dropout2d" if n.channelwise else "F.dropout",
        "p": format_const(n.p),
        "shape": _shape(prefix, n.shape),
    }


def _neuron_block(n: ir.NeuronIR, lay: _Layout, prefix: str) -> dict:
    states = [{"local": s.local, "attr": s.attr, "init": format_const(s.init)} for s in n.states]
    setup = [_assign(a.target, a.value, 8) for a in n.setup]
    record = {"attr": n.v_seq, "local": n.states[0].local} if n.v_seq else None
    final = [{"attr": a, "local": loc} for a, loc in n.final]
    comment = _comment(f"{n.attr}: {n.spec}")
    if not lay.multi:
        step = [_assign(a.target, _substitute(a.value, "x", ir.Local(n.source)), 8) for a in n.step]
        return {
            "kind": "neuron_single",
            "comment": comment,
            "setup": setup,
            "record": record,
            "src": n.source,
            "states": states,
            "step": step,
            "final": final,
            "output": n.output,
            "value": n.value,
            "shape": _shape(prefix, n.shape),
        }
    seq = lay.as_seq(n.source)
    unfold = ""
    if seq != n.source:
        unfold, seq = seq, "_xs"
    step = [_assign(a.target, _substitute(a.value, "x", ir.Local("_x")), 12) for a in n.step]
    return {
        "kind": "neuron_multi",
        "comment": comment,
        "setup": setup,
        "record": record,
        "seq": seq,
        "unfold": unfold,
        "states": states,
        "step_input": "_x",
        "step": step,
        "final": final,
        "output": n.output,
        "value": n.value,
        "shape": _shape(prefix, n.shape),
    }


_KAIMING_A = format_const(5.0**0.5)  # SpikingJelly's kaiming_uniform_(a=math.sqrt(5))


def _parallel_init(n: ir.ParallelIR) -> list[str]:
    a = n.attr
    lines = [f"self.{a} = nn.Module()"]
    if n.kind in ("PSN", "MaskedPSN"):
        t = n.T
        lines += [
            f"self.{a}.weight = nn.Parameter(torch.empty({t}, {t}))",
            f"self.{a}.bias = nn.Parameter(torch.full(({t}, 1), -1.0))",
            f"nn.init.kaiming_uniform_(self.{a}.weight, a={_KAIMING_A})",
        ]
        if n.kind == "MaskedPSN":
            buffers = [
                ("_lambda_", f"torch.tensor({format_const(n.lambda_init)})"),
                ("mask1", f"torch.ones({t}, {t})"),
                ("mask0", f"torch.tril(self.{a}.mask1) * torch.triu(self.{a}.mask1, {-(n.k - 1)})"),
            ]
            for key, value in buffers:
                lines.extend(fit_call(f"self.{a}.register_buffer", [f'"{key}"', value], 8))
        return lines
    if n.exp_init:
        weights = [format_const(2.0 ** -(n.k - 1 - i)) for i in range(n.k)]
        lines.extend(
            fit_call(
                f"self.{a}.weight = nn.Parameter", ["torch.tensor([" + ", ".join(weights) + "])"], 8
            )
        )
    else:
        lines += [
            f"self.{a}.weight = nn.Parameter(torch.empty(1, {n.k}))",
            f"nn.init.kaiming_uniform_(self.{a}.weight, a={_KAIMING_A})",
            f"self.{a}.weight = nn.Parameter(self.{a}.weight.data[0])",
        ]
    lines.append(f"self.{a}.bias = nn.Parameter(torch.tensor(-1.0))")
    return lines


def _parallel_block(n: ir.ParallelIR, lay: _Layout, prefix: str) -> dict:
    view = {
        "comment": _comment(f"{n.attr}: {n.spec}"),
        "kind": "parallel_multi" if lay.multi else "parallel_single",
        "op": n.kind,
        "attr": n.attr,
        "value": n.value,
        "T": n.T,
        "k": n.k,
        "queue": n.queue_attr,
        "step": n.step_attr,
        "shape": _shape(prefix, n.shape),
    }
    if lay.multi:
        seq = lay.as_seq(n.source)
        unfold = ""
        if seq != n.source:
            unfold, seq = seq, "_xs"
        view.update(
            seq=seq,
            unfold=unfold,
            spike_lines=[_assign(a.target, a.value, 8) for a in n.spike_steps],
            spike=to_python(n.spike),
        )
    else:
        view.update(
            src=n.source,
            spike_lines=[_assign(a.target, a.value, 8) for a in n.single_steps],
            spike=to_python(n.single_spike),
        )
    return view


def _alias_block(n: ir.AliasIR, lay: _Layout, prefix: str) -> dict:
    if n.source in lay.folded:
        lay.folded.add(n.value)
    shape = _shape("T * N" if n.value in lay.folded else prefix, n.shape)
    return {"kind": "alias", "value": n.value, "src": n.source, "shape": shape}


_BLOCKS = {
    ir.LayerIR: _layer_block,
    ir.DropoutIR: _dropout_block,
    ir.NeuronIR: _neuron_block,
    ir.ParallelIR: _parallel_block,
    ir.AliasIR: _alias_block,
}


# --------------------------------------------------------------------------- module


def _surrogate_view(s: ir.SurrogateIR) -> dict:
    return {
        "class_name": s.class_name,
        "doc": s.doc,
        "params": list(s.params),
        "param_decls": "".join(f", {p}: float" for p in s.params),
        "lets": [_assign(a.target, a.value, 8) for a in s.backward],
        "grad": _assign("_grad", s.gradient, 8),
        "result": ", ".join(["grad_output * _grad", *(["None"] * len(s.params))]),
    }


def _init_lines(net: ir.NetworkIR) -> list[str]:
    lines: list[str] = []
    for node in net.nodes:
        if isinstance(node, ir.LayerIR):
            args = [(_value(v) if k is None else f"{k}={_value(v)}") for k, v in node.ctor_args]
            lines.extend(fit_call(f"self.{node.attr} = {node.ctor}", args, 8))
        elif isinstance(node, ir.NeuronIR) and node.learn:
            # learnable scalars, under the layer's name as SpikingJelly keeps them
            lines.append(f"self.{node.attr} = nn.Module()")
            for n, init in node.learn:
                lines.append(
                    f"self.{node.attr}.{n} = nn.Parameter(torch.tensor({format_const(init)}))"
                )
        elif isinstance(node, ir.ParallelIR):
            lines.extend(_parallel_init(node))
    return lines


def _reset_lines(net: ir.NetworkIR) -> list[str]:
    lines = []
    for n in net.nodes:
        if isinstance(n, ir.NeuronIR):
            lines.extend(f"self.{s.attr} = {format_const(s.init)}" for s in n.states)
            if n.v_seq:
                lines.append(f"self.{n.v_seq} = None")
        elif isinstance(n, ir.DropoutIR):
            lines.append(f"self.{n.attr} = None")
        elif isinstance(n, ir.ParallelIR) and n.kind != "PSN":
            lines.append(f"self.{n.queue_attr} = []")
            if n.kind == "MaskedPSN":
                lines.append(f"self.{n.step_attr} = 0")
    return lines


def render(net: ir.NetworkIR, mode: str) -> str:
    """Python source of the ``mode`` form ('single' or 'multi') of ``net``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    multi = mode == "multi"
    prefix = "T, N" if multi else "N"
    lay = _Layout(multi, set())
    blocks = [_BLOCKS[type(n)](n, lay, prefix) for n in net.nodes]
    returns = [lay.as_seq(o.source) for o in net.outputs]
    prologue = []
    if lay.needs_tn:
        prologue.append(f"_T, _N = {net.inputs[0].name}.shape[:2]")
    ins = ", ".join(f"{i.name} {_shape(prefix, i.shape)}" for i in net.inputs)
    outs = ", ".join(f"{o.name} {_shape(prefix, o.shape)}" for o in net.outputs)
    if multi:
        title = f"{net.name}: multi-step form, forward on sequences [T, N, *]."
        fwd_doc = f"Run a whole sequence: {ins} -> {outs}."
        fwd_doc2 = "Neuron state is kept after the call; reset() clears it."
        summary = (
            "Stateless layers run once on the time-folded batch [T * N, *]; each "
            "neuron layer runs\nits time loop inline.  Parameters and state_dict keys "
            "match the single-step form."
        )
    else:
        title = f"{net.name}: single-step form, forward on one time step [N, *]."
        fwd_doc = f"Run one time step: {ins} -> {outs}."
        fwd_doc2 = "Neuron state is kept between calls; reset() clears it."
        summary = (
            "Call forward once per time step; neuron state is kept between calls.  "
            "Parameters and\nstate_dict keys match the multi-step form."
        )
    source_name = net.source_path.replace("\\", "/").rsplit("/", 1)[-1]
    view = {
        "title": title,
        "summary": summary,
        "version": __version__,
        "source": _docstring_text(source_name).strip(),
        "spec": _docstring_text(net.spec_text),
        "uses_functional": bool(net.dropouts),
        "surrogates": [_surrogate_view(s) for s in net.surrogates],
        "has_state": bool(net.neurons),
        "records": any(n.v_seq for n in net.neurons) and not multi,
        "sliding": multi and any(p.kind == "SlidingPSN" for p in net.parallels),
        "class_name": net.name,
        "class_doc": f"The {net.name} network ({mode}-step form), generated by snndsl.",
        "init_lines": _init_lines(net),
        "reset_lines": _reset_lines(net),
        "forward_params": ", ".join(f"{i.name}: torch.Tensor" for i in net.inputs),
        "return_type": "torch.Tensor" if len(returns) == 1 else "tuple[torch.Tensor, ...]",
        "forward_doc": fwd_doc,
        "forward_doc2": fwd_doc2,
        "prologue": prologue,
        "blocks": blocks,
        "returns": _return_lines(returns),
    }
    source = _environment().get_template("module.py.j2").render(m=view)
    try:
        pyast.parse(source)
    except SyntaxError as err:  # pragma: no cover - would be a generator bug
        raise GenerationError(f"generated source does not parse: {err}") from err
    return source
