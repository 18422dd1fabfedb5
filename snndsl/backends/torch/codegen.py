"""Render the network IR as standalone PyTorch source, single-step or multi-step.

This module turns IR into the pre-printed strings the Jinja2 templates lay out: names
come from the IR (already validated), expressions from :func:`snndsl.pyexpr.to_python`,
constants from :func:`snndsl.pyexpr.format_const`.  Jinja2 runs with
``StrictUndefined``, ``trim_blocks`` and ``lstrip_blocks``.  The result is checked by
compiling it (``compile``: the parse ``ast.parse`` does and the compiler's own checks)
before it is returned, and is byte-for-byte deterministic.

Multi-step layout: every value is either a sequence ``[T, N, *]`` or folded ``[T*N, *]``.
Stateless layers run folded (as SpikingJelly's ``seq_to_ann_forward`` does), neurons
loop over the sequence, and conversions are inserted only where the layout changes.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field, replace

import jinja2

from snndsl import __version__, cache, ir
from snndsl.backends.torch.fused import Kernels, fuse
from snndsl.backends.torch.printer import format_const, to_python
from snndsl.names import GENERATED_HELPERS, Namespace
from snndsl.resources import resource_dir
from snndsl.semantics.catalogue import OPS

MODES = ("single", "multi")
BACKENDS = ("eager", "fused", "compile")
LINE_LENGTH = 88


class GenerationError(Exception):
    """Generated source failed to parse: a bug in snndsl, never a spec problem."""


@functools.cache
def _environment() -> jinja2.Environment:
    root = resource_dir("snndsl.templates")

    def load(name: str) -> str | None:
        path = root.joinpath(name)
        return path.read_text(encoding="utf-8") if path.is_file() else None

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        # compiled templates kept between runs; Jinja checks each entry against the
        # template's source and its own version
        bytecode_cache=cache.jinja_bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["nest"] = _nest
    return env


def _nest(text: str, width: int = 4) -> str:
    """Indent rendered lines one level deeper (blank lines stay empty), no final newline."""
    pad = " " * width
    return "\n".join(pad + line if line else line for line in text.rstrip("\n").split("\n"))


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


_ASSIGNMENT = re.compile(
    r"(?P<indent> *)(?P<lhs>[A-Za-z_][A-Za-z0-9_.]*(?:, [A-Za-z_][A-Za-z0-9_.]*)*) = "
    r"(?P<rhs>.+?)(?P<tail>  # .*)?"
)
_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def _split_call(text: str) -> tuple[str, list[str]] | None:
    """``head(a, b, ...)`` as (head, [a, b, ...]) when the call spans all of ``text``."""
    if not text.endswith(")") or "(" not in text:
        return None
    depth, start, args, open_at = 0, None, [], None
    for i, c in enumerate(text):
        if c in "([{":
            if depth == 0:
                if open_at is not None:
                    return None  # two top-level groups: not one call
                open_at = i
                start = i + 1
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                if i != len(text) - 1:
                    return None
                args.append(text[start:i].strip())
        elif c == "," and depth == 1:
            args.append(text[start:i].strip())
            start = i + 1
    head = text[:open_at]
    if not _SIMPLE.fullmatch(head):
        return None
    return head, [a for a in args if a]


def _fit_statement(line: str) -> list[str]:
    """A too-long ``lhs = rhs  # comment`` line laid out as ``ruff format`` lays it out:
    a call's arguments on one inner line (or one per line), any other expression in
    parentheses.  Lines it cannot improve stay as they are."""
    m = _ASSIGNMENT.fullmatch(line)
    if m is None or "fmt: skip" in line:
        return [line]
    pad, lhs, rhs, tail = m["indent"], m["lhs"], m["rhs"], m["tail"] or ""
    if _SIMPLE.fullmatch(rhs):
        return [line]
    inner_pad = pad + "    "
    call = _split_call(rhs)
    if call is not None:
        head, args = call
        inner = ", ".join(args)
        if len(inner_pad) + len(inner) <= LINE_LENGTH:
            return [f"{pad}{lhs} = {head}(", f"{inner_pad}{inner}", f"{pad}){tail}"]
        return [f"{pad}{lhs} = {head}(", *(f"{inner_pad}{a}," for a in args), f"{pad}){tail}"]
    if len(inner_pad) + len(rhs) <= LINE_LENGTH:
        return [f"{pad}{lhs} = (", f"{inner_pad}{rhs}", f"{pad}){tail}"]
    return [line]


def fit_lines(source: str) -> str:
    """Lay out the code lines longer than LINE_LENGTH (outside docstrings) as ruff would."""
    out: list[str] = []
    in_docstring = False
    for line in source.split("\n"):
        if line.count('"""') % 2 == 1:
            in_docstring = not in_docstring
            out.append(line)
            continue
        if in_docstring or len(line) <= LINE_LENGTH or line.lstrip().startswith("#"):
            out.append(line)
            continue
        out.extend(_fit_statement(line))
    return "\n".join(out)


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
    like: str = ""  # single-step: a tensor with the batch size, dtype and device
    backend: str = "eager"
    needs_functional: bool = False  # a block calls torch.nn.functional as F
    module_names: Namespace | None = None  # module-level generated names
    fused: list = field(default_factory=list)  # views of fused neuron classes
    kernels: Kernels | None = None  # compiled step functions (compile backend, multi-step)

    def as_folded(self, name: str) -> str:
        if not self.multi or name in self.folded:
            return name
        return f"{name}.flatten(0, 1)"

    def as_seq(self, name: str) -> str:
        if self.multi and name in self.folded:
            self.needs_tn = True
            return f"{name}.unflatten(0, (_T, _N))"
        return name


def _direct_call(n: ir.LayerIR, src: str) -> str | None:
    """The functional call a layer's forward makes, for the single-step form: it skips
    nn.Module's call machinery once per layer and step (the same computation).  Which
    call, and when, is the catalogue's ``functional``; this prints it."""
    op = OPS[n.op]
    call = op.functional
    if call is None or not call.applies(op.ctor_values(n.ctor_args)):
        return None
    m = f"self.{n.attr}"
    return f"F.{call.function}({src}, " + ", ".join(f"{m}.{a}" for a in call.attrs) + ")"


def _layer_block(n: ir.LayerIR, lay: _Layout, prefix: str) -> dict:
    call = f"self.{n.attr}({lay.as_folded(n.source)})"
    direct = None if lay.multi else _direct_call(n, n.source)
    if direct is not None:
        call = direct
        lay.needs_functional = True
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
        step = [
            _assign(a.target, ir.substitute(a.value, {"x": ir.Local(n.source)}), 8) for a in n.step
        ]
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
    if lay.backend in ("fused", "compile"):
        name = lay.module_names.fresh(f"_{n.neuron}Loop_{n.attr}")
        fusedn = fuse(n, name, seq, lay.kernels)
        if fusedn is not None:
            lay.fused.append(fusedn.view)
            return {
                "kind": "neuron_fused",
                "comment": comment,
                "setup": setup,
                "seq": seq,
                "unfold": unfold,
                "states": states,
                "targets": ", ".join([n.value, *(s.local for s in n.states)]),
                "call": f"{fusedn.call}  # {_shape(prefix, n.shape)}",
                "final": final,
            }
    step = [_assign(a.target, ir.substitute(a.value, {"x": ir.Local("_x")}), 12) for a in n.step]
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


def _shape_tuple(shape: tuple[int, ...]) -> str:
    return f"({shape[0]},)" if len(shape) == 1 else f"({', '.join(map(str, shape))})"


def _tensor_value(init: ir.TensorInit, shape: tuple[int, ...]) -> str:
    """The expression that builds a parallel neuron's tensor (Kaiming: its empty shape)."""
    if isinstance(init, ir.Fill):
        value = format_const(init.value)
        return f"torch.full({_shape_tuple(shape)}, {value})" if shape else f"torch.tensor({value})"
    if isinstance(init, ir.Values):
        return "torch.tensor([" + ", ".join(format_const(v) for v in init.values) + "])"
    if isinstance(init, ir.Band):
        n = shape[0]
        return (
            f"torch.tril(torch.ones({n}, {n})) * torch.triu(torch.ones({n}, {n}), {1 - init.width})"
        )
    # Kaiming: a vector is drawn as one [1, n] row, as SpikingJelly's SlidingPSN does
    return f"torch.empty({', '.join(map(str, shape if len(shape) == 2 else (1, *shape)))})"


def _assign_call(head: str, arg: str, indent: int) -> list[str]:
    """``head(arg)``; a list literal too long for one line is exploded as ruff formats it."""
    lines = fit_call(head, [arg], indent)
    if all(indent + len(line) <= LINE_LENGTH for line in lines) or "([" not in arg:
        return lines
    call, items = arg.split("([", 1)
    items = items.removesuffix("])").split(", ")
    return [
        f"{head}(",
        f"    {call}(",
        "        [",
        *(f"            {i}," for i in items),
        "        ]",
        "    )",
        ")",
    ]


def _parallel_init(n: ir.ParallelIR) -> list[str]:
    a = n.attr
    lines = [f"self.{a} = nn.Module()"]
    for t in n.tensors:
        target = f"self.{a}.{t.name}"
        value = _tensor_value(t.init, t.shape)
        if not t.learnable:
            lines.extend(fit_call(f"self.{a}.register_buffer", [f'"{t.name}"', value], 8))
            continue
        lines.extend(_assign_call(f"{target} = nn.Parameter", value, 8))
        if isinstance(t.init, ir.Kaiming):
            lines.append(f"nn.init.kaiming_uniform_({target}, a={format_const(t.init.a)})")
            if len(t.shape) == 1:
                lines.append(f"{target} = nn.Parameter({target}.data[0])")
    return lines


def _string_literal(text: str) -> str:
    """A double-quoted Python string literal for ``text`` (as ruff format writes one)."""
    return json.dumps(text)


def _parallel_block(n: ir.ParallelIR, lay: _Layout, prefix: str) -> dict:
    view = {
        "comment": _comment(f"{n.attr}: {n.spec}"),
        "kind": "parallel_multi" if lay.multi else "parallel_single",
        "name": n.neuron,
        "attr": n.attr,
        "value": n.value,
        "steps": n.steps,
        "window": n.window,
        "queue": n.queue_attr,
        "step": n.step_attr,
        "shape": _shape(prefix, n.shape),
        "spike_lines": [_assign(x.target, x.value, 8) for x in n.spike_steps],
        "spike": to_python(n.spike),
        "setup_lines": [_assign(x.target, x.value, 8) for x in n.setup],
        "matrix": _assign("_w", n.matrix, 8) if n.matrix is not None else None,
        "sliding": f"_p.{n.sliding}" if n.sliding else None,
        "bias": to_python(n.bias) if n.bias is not None else None,
    }
    if lay.multi:
        seq = lay.as_seq(n.source)
        unfold = ""
        if seq != n.source:
            unfold, seq = seq, "_xs"
        view.update(seq=seq, unfold=unfold)
        return view
    k = None
    if n.sliding:
        k = next(t.shape[0] for t in n.tensors if t.name == n.sliding)
    bias_t = n.bias
    if bias_t is not None and n.bias_per_step:
        bias_t = ir.Index(bias_t, "_t")
    view.update(
        src=n.source,
        k=k,
        bias_t=to_python(bias_t) if bias_t is not None else None,
        when=to_python(n.window_when) if n.window_when is not None else None,
        when_error=_string_literal(f"{n.neuron} runs step by step only when {n.window_when_text}"),
        overflow_error=_string_literal(f"{n.neuron} has run its {n.steps} steps; call reset()"),
    )
    return view


_SEW = {"ADD": "{0} + {1}", "AND": "{0} * {1}", "IAND": "{0} * (1.0 - {1})"}


def _merge_block(n: ir.MergeIR, lay: _Layout, prefix: str) -> dict:
    folded = lay.multi and all(s in lay.folded for s in n.sources)
    srcs = [lay.as_folded(s) if folded else lay.as_seq(s) for s in n.sources]
    if folded:
        lay.folded.add(n.value)
    if n.op == "cat":
        lead = 1 if folded or not lay.multi else 2  # the batch (and time) dimensions
        expr = f"torch.cat(({', '.join(srcs)}), {n.dim + lead})"
    elif n.op == "sew":
        expr = _SEW[n.cnf].format(*srcs)
    else:
        expr = f" {'+' if n.op == 'add' else '*'} ".join(srcs)
    return {
        "kind": "merge",
        "comment": _comment(f"{n.value}: {n.spec}"),
        "value": n.value,
        "expr": expr,
        "shape": _shape("T * N" if folded else prefix, n.shape),
    }


def _delay_block(n: ir.DelayIR, lay: _Layout, prefix: str) -> dict:
    view = {
        "comment": _comment(f"{n.value}: {n.spec}, the value one time step earlier"),
        "value": n.value,
        "attr": n.attr,
        "shape": _shape(prefix, n.shape),
    }
    if lay.multi:  # the whole sequence shifted by one step (not on a feedback loop)
        view.update(kind="delay_multi", src=lay.as_seq(n.source))
    else:
        view.update(kind="delay_single", like=lay.like, dims=_value(n.shape))
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
    ir.MergeIR: _merge_block,
    ir.DelayIR: _delay_block,
    ir.AliasIR: _alias_block,
}


def _forward_locals(net: ir.NetworkIR) -> set[str]:
    """Every local the node blocks may assign, so loop locals are chosen around them."""
    used = set(GENERATED_HELPERS) | {"_p", "_h", "_w", "_row", "_queue", "_spike"}
    for node in net.nodes:
        used.add(node.value)
        steps: tuple = ()
        if isinstance(node, ir.NeuronIR):
            steps = node.step + node.setup
            used |= {s.local for s in node.states}
        elif isinstance(node, ir.ParallelIR):
            steps = node.spike_steps + node.setup
        for a in steps:
            used.add(a.target)
            used |= ir.locals_used(a.value)
    return used


def _loop_block(members: list[ir.Node], net: ir.NetworkIR, lay: _Layout, ns) -> dict:
    """A recurrent part of the graph in the multi-step form: one loop over time whose body
    is the members' single-step code; values from outside are read one step at a time."""
    inside = {m.value for m in members}
    outside: list[str] = []
    for m in members:
        for s in ir.node_sources(m):
            if s not in inside and s not in outside:
                outside.append(s)
    later = set()
    member_index = {id(m) for m in members}
    for node in net.nodes:
        if id(node) not in member_index:
            later |= set(ir.node_sources(node))
            if isinstance(node, ir.DelayIR):
                later.add(node.source)
    later |= {o.source for o in net.outputs}
    kept = [m.value for m in members if m.value in later]
    rename = {s: ns.fresh(f"_{s}_t") for s in outside}
    hoisted = []
    seqs = {}
    for s in outside:
        seq = lay.as_seq(s)
        if seq != s:
            seqs[s] = ns.fresh(f"_{s}_seq")
            hoisted.append(f"{seqs[s]} = {seq}")
        else:
            seqs[s] = s
    step_lay = _Layout(False, set(), like=f"{net.inputs[0].name}[_t]")
    blocks = []
    for m in members:
        if isinstance(m, ir.MergeIR):
            m = replace(m, sources=tuple(rename.get(s, s) for s in m.sources))
        elif not isinstance(m, ir.DelayIR):
            m = replace(m, source=rename.get(m.source, m.source))
        blocks.append(_BLOCKS[type(m)](m, step_lay, "N"))
    lay.needs_functional |= step_lay.needs_functional
    lists = {v: ns.fresh(f"_{v}_steps") for v in kept}
    return {
        "kind": "loop",
        "comment": _comment(
            "recurrent: " + ", ".join(m.value for m in members) + " run step by step"
        ),
        "before": hoisted + [f"{lst} = []" for lst in lists.values()],
        "steps": f"{net.inputs[0].name}.shape[0]",
        "inputs": [f"{rename[s]} = {seqs[s]}[_t]" for s in outside],
        "members": blocks,
        "after_step": [f"self.{m.attr} = {m.source}" for m in members if isinstance(m, ir.DelayIR)]
        + [f"{lst}.append({v})" for v, lst in lists.items()],
        "after": [
            f"{v} = torch.stack({lst})  # {_shape('T, N', _shape_of(net, v))}"
            for v, lst in lists.items()
        ],
    }


def _shape_of(net: ir.NetworkIR, value: str) -> tuple[int, ...]:
    for n in net.nodes:
        if n.value == value:
            return n.out_shape if isinstance(n, ir.LayerIR) else n.shape
    raise KeyError(value)


# --------------------------------------------------------------------------- module


def _surrogate_view(s: ir.SurrogateIR) -> dict:
    ctx = [f"ctx.{p}" for p in s.params]
    return {
        "class_name": s.class_name,
        "doc": s.doc,
        "params": list(s.params),
        "param_decls": "".join(f", {p}: float" for p in s.params),
        "param_names": "".join(f", {p}" for p in s.params),
        "lets": [_assign(a.target, a.value, 8) for a in s.backward],
        "grad": _assign("_grad", s.gradient, 8),
        "result": ", ".join(
            [
                f"grad_output * {s.class_name}.gradient({', '.join(['x', *ctx])})",
                *(["None"] * len(s.params)),
            ]
        ),
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
        elif isinstance(n, (ir.DropoutIR, ir.DelayIR)):
            lines.append(f"self.{n.attr} = None")
        elif isinstance(n, ir.ParallelIR) and n.window is not None:
            lines.append(f"self.{n.queue_attr} = []")
            if n.steps is not None:
                lines.append(f"self.{n.step_attr} = 0")
    return lines


def _tuple_lines(name: str, items: list[str]) -> list[str]:
    """``name = (a, b)`` in a class body, one item per line when too long (as ruff)."""
    inner = items[0] + "," if len(items) == 1 else ", ".join(items)
    one = f"{name} = ({inner})"
    if 4 + len(one) <= LINE_LENGTH:
        return [one]
    return [f"{name} = (", *(f"    {i}," for i in items), ")"]


def _state_attrs(net: ir.NetworkIR) -> list[str]:
    """Quoted names of the attributes the multi-step forward carries between calls."""
    attrs = []
    for n in net.nodes:
        if isinstance(n, ir.NeuronIR):
            attrs += [s.attr for s in n.states]
        elif isinstance(n, (ir.DropoutIR, ir.DelayIR)):
            attrs.append(n.attr)
    return [f'"{a}"' for a in attrs]


def render(net: ir.NetworkIR, mode: str, backend: str = "eager") -> str:
    """Python source of the ``mode`` form ('single' or 'multi') of ``net``.

    ``backend`` chooses how the module runs: 'eager' (multi-step neuron layers as time
    loops autograd records), 'fused' (one autograd.Function per multi-step neuron layer
    with a derived backward pass; the single-step form is the eager one) or 'compile'
    (multi-step: the fused layers with their forward and backward time steps compiled by
    ``torch.compile``; single-step: forward wrapped in ``torch.compile(fullgraph=True)``)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    multi = mode == "multi"
    prefix = "T, N" if multi else "N"
    module_names = Namespace(
        GENERATED_HELPERS | {s.class_name for s in net.surrogates} | {net.name}
    )
    lay = _Layout(multi, set(), like=net.inputs[0].name, backend=backend, module_names=module_names)
    if backend == "compile":
        lay.kernels = Kernels(module_names, {})
    blocks = []
    ns = Namespace(_forward_locals(net))
    loop_of = {v: i for i, loop in enumerate(net.loops) for v in loop}
    for n in net.nodes:
        if multi and n.value in loop_of:
            loop = net.loops[loop_of[n.value]]
            if n.value == loop[0]:
                members = [m for m in net.nodes if m.value in loop]
                blocks.append(_loop_block(members, net, lay, ns))
            continue
        blocks.append(_BLOCKS[type(n)](n, lay, prefix))
    epilogue = []
    if not multi:
        epilogue = [f"self.{d.attr} = {d.source}" for d in net.delays]
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
        "uses_functional": bool(net.dropouts) or lay.needs_functional,
        "surrogates": [_surrogate_view(s) for s in net.surrogates],
        "fused": lay.fused,
        "kernels": list(lay.kernels.views.values()) if lay.kernels else [],
        "compiled": backend == "compile" and not multi,
        "chunked": multi,
        "state_lines": _tuple_lines("_STATE", _state_attrs(net))
        + _tuple_lines("_RECORDS", [f'"{n.v_seq}"' for n in net.neurons if n.v_seq]),
        "n_outputs": len(net.outputs),
        "has_state": bool(net.neurons),
        "records": any(n.v_seq and (not multi or n.value in loop_of) for n in net.neurons),
        "delayed": bool(net.delays),
        "sliding": multi and any(p.sliding for p in net.parallels),
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
        "epilogue": epilogue,
        "returns": _return_lines(returns),
    }
    source = fit_lines(_environment().get_template("module.py.j2").render(m=view))
    try:
        # Python's own compiler: the parse ast.parse does, plus the compiler's checks
        # (a misplaced return, a bad nonlocal), and 2-3x faster than building the AST
        compile(source, "<generated>", "exec", dont_inherit=True)
    except SyntaxError as err:  # pragma: no cover - would be a generator bug
        raise GenerationError(f"generated source does not compile: {err}") from err
    return source
