"""The torch backends' module renderer: the network IR as standalone PyTorch source.

Each IR node becomes a view (a dataclass of laid-out statements, :mod:`.views`) for one macro of
templates/blocks.py.j2; templates/module.py.j2 lays out the module around them.  Names
come from the IR; expressions are printed by :mod:`snndsl.backends.torch.printer`,
constants by its ``format_const``; statements whose length depends on spec names are
built as code nodes and laid out by :mod:`snndsl.backends.torch.layout` (never by
re-parsing text).  Jinja2 runs with ``StrictUndefined``, ``trim_blocks`` and
``lstrip_blocks``.  The result is compiled before it is returned, and is byte-for-byte
deterministic.

Multi-step layout: every value is either a sequence ``[T, N, *]`` or folded ``[T*N, *]``.
Stateless layers run folded (as SpikingJelly's ``seq_to_ann_forward`` does), neurons
loop over the sequence, and conversions are inserted only where the layout changes.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import textwrap
from dataclasses import dataclass, field, replace
from typing import Protocol

import jinja2

from snndsl import __version__, cache, ir
from snndsl.backends.registry import GenerationError
from snndsl.backends.torch import layout, views
from snndsl.backends.torch.fused import Kernels, fuse
from snndsl.backends.torch.layout import (
    Atom,
    Attr,
    Code,
    Kw,
    Logic,
    Lst,
    Sub,
    Tup,
    call,
    chain,
)
from snndsl.backends.torch.naming import (
    PARALLEL_LOCALS,
    ModuleNames,
    code_name,
    module_names,
    owns_module,
    respell_locals,
)
from snndsl.backends.torch.printer import PythonPrinter, format_const
from snndsl.backends.torch.views import (
    AliasView,
    CheckView,
    DelayMultiView,
    DelaySingleView,
    DropoutView,
    LayerView,
    LoopView,
    MergeView,
    ModuleView,
    NeuronFusedView,
    NeuronMultiView,
    NeuronSingleView,
    ParallelMultiView,
    ParallelSingleView,
    SurrogateView,
)
from snndsl.names import GENERATED_HELPERS, Namespace
from snndsl.resources import resource_dir
from snndsl.semantics.catalogue import OPS
from snndsl.semantics.evaluate import describe

Stmt = tuple[str | Code, Code]  # (targets, value) of a statement laid out later


class Lowering(Protocol):
    """How another target runs the multi-step neuron layers of a torch module (the
    Triton backend): everything else in the module stays the torch backend's.

    ``neuron`` returns the right-hand side of the layer's call in forward()
    (``outputs, *states = <call>``, as a fused layer's; ``outputs, _v_seq, *states``
    for a layer recording ``store_v_seq``), taking module-level names from
    ``names``; afterwards ``imports`` are the extra import lines and ``code`` the
    module-level code those calls need (both empty when no layer was lowered)."""

    multi_doc: str  # the module docstring's words on how neuron layers run
    single_doc: str
    needs: str  # what the file imports: "torch, triton and the standard library"

    def neuron(self, n: ir.NeuronIR, seq: str, printer: PythonPrinter, names: Namespace) -> Code:
        """The call running neuron layer ``n`` over the sequence ``seq``."""
        ...

    def std_imports(self) -> list[str]:
        """Standard-library import lines."""
        ...

    def imports(self) -> list[str]:
        """Import lines after torch's."""
        ...

    def code(self) -> list[str]:
        """Module-level code, one laid-out part per item."""
        ...


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment of templates/ (shared by every backend that renders from it)."""
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
    env.filters["class_header"] = _class_header
    env.filters["def_header"] = _def_header
    return env


def _class_header(name: str, base: str) -> str:
    """``class name(base):`` at module level, laid out as ruff does."""
    return layout.joined(layout.header("class ", call(name, base), 0, ":"))


def _def_header(name: str, args: list[str]) -> str:
    """``def name(args):`` at module level, laid out as ruff does."""
    return layout.joined(layout.header("def ", call(name, *args), 0, ":"))


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


def _comment(text: str) -> str:
    """Text for a ``#`` comment: a single line, control characters escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


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


# --------------------------------------------------------------------------- blocks


@dataclass
class _Layout:
    """Tracks which values are folded to [T*N, *] in the multi-step form, and where the
    statements of the blocks being built will stand."""

    multi: bool
    folded: set[str]
    names: ModuleNames
    printer: PythonPrinter
    needs_tn: bool = False
    like: Code = Atom("")  # single-step: a tensor with the batch size, dtype and device
    backend: str = "eager"
    needs_functional: bool = False  # a block calls torch.nn.functional as F
    module_names: Namespace | None = None  # module-level generated names
    fused: list[views.FusedView] = field(default_factory=list)  # fused neuron classes
    kernels: Kernels | None = None  # compiled step functions (compile backend, multi-step)
    state_from: bool = False  # a state starts from a param (the _state_from helper)
    lowering: Lowering | None = None  # runs the multi-step neuron layers (triton)
    indent: int = 8  # the column of a statement in forward()
    shift: int = 0  # columns the template adds to the block afterwards (loop bodies)

    def as_folded(self, name: str) -> Code:
        if not self.multi or name in self.folded:
            return Atom(name)
        return call(f"{name}.flatten", "0", "1")

    def as_seq(self, name: str) -> Code:
        if self.multi and name in self.folded:
            self.needs_tn = True
            return call(f"{name}.unflatten", "0", Tup((Atom("_T"), Atom("_N"))))
        return Atom(name)

    def stmt(self, targets: str, value: Code | str, comment: str = "", depth: int = 0) -> str:
        """One statement of a block, ``depth`` levels inside the block's own nesting."""
        code = Atom(value) if isinstance(value, str) else value
        return layout.lines(targets, code, self.indent + 4 * depth, comment, self.shift)

    def text(self, laid: list[str]) -> str:
        """Lines laid out for this block as one template line (see ``shift``)."""
        return layout.joined(laid, self.shift)

    def expr(self, target: str, value: ir.PyExpr, depth: int = 0, printer=None) -> str:
        """An equation line (see :meth:`PythonPrinter.assign`)."""
        return (printer or self.printer).assign(target, value, self.indent + 4 * depth)

    def sequence(self, name: str) -> tuple[Code, str]:
        """The input of a sequence block as ``[T, N, *]``: (code, unfold statement) where
        an unfolded input is bound to ``_xs`` by the statement first."""
        seq = self.as_seq(name)
        if isinstance(seq, Atom):
            return seq, ""
        return Atom("_xs"), self.stmt("_xs", seq)


def _path(path: tuple[str, ...]) -> Code:
    """The expression reaching the module at ``path`` as code (``self.layer2[0].conv1``:
    a subscript ruff may split), the same text as ``naming.module_ref``."""
    code: Code = Atom("self")
    for part in path:
        code = Sub(code, Atom(part), split=True) if part.isdigit() else Attr(code, part)
    return code


def _module(node: ir.LayerIR | ir.NeuronIR | ir.ParallelIR) -> Code:
    return _path(ir.module_path(node))


def _direct_call(n: ir.LayerIR, src: str, m: Code) -> Code | None:
    """The functional call a layer's forward makes, for the single-step form: it skips
    nn.Module's call machinery once per layer and step (the same computation).  Which
    call, and when, is the catalogue's ``functional``; this prints it (``m`` reaches the
    layer's module)."""
    op = OPS[n.op]
    functional = op.functional
    if functional is None or not functional.applies(op.ctor_values(n.ctor_args)):
        return None
    return call(f"F.{functional.function}", src, *(Attr(m, a) for a in functional.attrs))


def _layer_block(n: ir.LayerIR, lay: _Layout, prefix: str) -> views.Block:
    module = _module(n)
    value = call(module, lay.as_folded(n.source))
    direct = None if lay.multi else _direct_call(n, n.source, module)
    if direct is not None:
        value = direct
        lay.needs_functional = True
    if lay.multi:
        lay.folded.add(n.value)  # stateless layers keep the time-folded [T * N, *] layout
    shape = _shape("T * N" if lay.multi else prefix, n.shape)
    return LayerView(
        comment=_comment(f"{n.attr}: {n.spec}"),
        line=lay.stmt(n.value, value, shape),
    )


def _tensor_op(n: ir.TensorOpIR, x: Code) -> Code:
    """The torch spelling of a parameterless tensor operation on ``x`` [B, *] (B the batch,
    or the time-folded T * N): the IR's per-sample dimensions move past B."""
    if n.op == "Flatten":
        start, end = n.arg("start"), n.arg("end")
        last = end == len(n.in_shape) - 1
        return call(Attr(x, "flatten"), str(start + 1), *(() if last else (str(end + 1),)))
    if n.op == "Reshape":
        return call(Attr(x, "reshape"), "-1", *(str(d) for d in n.shape))
    if n.op == "Transpose":
        return call(Attr(x, "transpose"), str(n.arg("dim0") + 1), str(n.arg("dim1") + 1))
    if n.op == "Permute":
        return call(Attr(x, "permute"), "0", *(str(d + 1) for d in n.arg("dims")))
    if n.op == "Select":
        return call(Attr(x, "select"), str(n.arg("dim") + 1), str(n.arg("index")))
    if n.op == "Scale":
        return chain("*", [x, format_const(n.arg("k"))])
    if n.op == "Softmax":
        return call("torch.softmax", x, str(n.arg("dim") + 1))
    if n.op == "VotingLayer":  # SpikingJelly's layer.VotingLayer, as its forward writes it
        k = str(n.arg("voting_size"))
        pooled = call("F.avg_pool1d", call(Attr(x, "unsqueeze"), "1"), k, k)
        return call(Attr(pooled, "squeeze"), "1")
    raise GenerationError(f"no torch form for the tensor operation {n.op!r}")


def _tensor_block(n: ir.TensorOpIR, lay: _Layout, prefix: str) -> views.Block:
    value = _tensor_op(n, lay.as_folded(n.source))
    if n.op == "VotingLayer":
        lay.needs_functional = True
    if lay.multi:
        lay.folded.add(n.value)  # stateless: the time-folded [T * N, *] layout
    shape = _shape("T * N" if lay.multi else prefix, n.shape)
    return LayerView(
        comment=_comment(f"{n.label}: {n.spec}"),
        line=lay.stmt(n.value, value, shape),
    )


def _dropout_block(n: ir.DropoutIR, lay: _Layout, prefix: str) -> views.Block:
    src, unfold = lay.sequence(n.source) if lay.multi else (Atom(n.source), "")
    like = Sub(src, Atom("0")) if lay.multi else src
    maker = "F.dropout2d" if n.channelwise else "F.dropout"
    mask = call(
        maker, call("torch.ones_like", like), format_const(n.p), Kw("training", Atom("True"))
    )
    attr = f"self.{lay.names.masks[n.value]}"
    return DropoutView(
        comment=_comment(f"{n.value}: {n.spec}, one mask per sequence"),
        unfold=unfold,
        load=lay.stmt("_mask", attr, depth=1),
        condition=lay.text(
            layout.condition(
                "if",
                Logic(
                    Logic(Atom("_mask"), (("is", Atom("None")),)),
                    (("or", Logic(Atom("_mask.shape"), (("!=", Attr(like, "shape")),))),),
                ),
                lay.indent + 4,
            )
        ),
        make=lay.stmt("_mask", mask, depth=2),
        keep=lay.stmt(attr, "_mask", depth=2),
        apply=lay.stmt(n.value, chain("*", [src, "_mask"]), _shape(prefix, n.shape), depth=1),
        skip=lay.stmt(n.value, src, depth=1),
    )


def _state_lines(n: ir.NeuronIR, lay: _Layout, like: Code) -> list[str]:
    lines = []
    for s in n.states:
        attr = f"self.{lay.names.state(n, s.name)}"
        if isinstance(s.init, ir.ParamRef):  # starts from a param or buffer of the layer
            lay.state_from = True
            value = call("_state_from", attr, like, lay.printer.print(s.init))
        else:
            value = call("_state", attr, like, format_const(s.init))
        lines.append(lay.stmt(s.local, value))
    return lines


def _final_lines(n: ir.NeuronIR, lay: _Layout) -> list[str]:
    return [lay.stmt(f"self.{lay.names.state(n, f.state)}", f.local) for f in n.final]


def _neuron_block(n: ir.NeuronIR, lay: _Layout, prefix: str) -> views.Block:
    setup = [lay.expr(a.target, a.value) for a in n.setup]
    comment = _comment(f"{n.attr}: {n.spec}")
    shape = _shape(prefix, n.shape)
    record = None
    if not lay.multi:
        step = [
            lay.expr(a.target, ir.substitute(a.value, {"x": ir.Local(n.source)})) for a in n.step
        ]
        if n.v_seq:
            appended = call("_append_step", f"self.{n.v_seq}", n.states[0].local)
            record = lay.stmt(f"self.{n.v_seq}", appended)
        return NeuronSingleView(
            comment=comment,
            setup=setup,
            states=_state_lines(n, lay, Atom(n.source)),
            step=step,
            final=_final_lines(n, lay),
            record=record,
            result=lay.stmt(n.value, n.output, shape),
        )
    seq, unfold = lay.sequence(n.source)
    states = _state_lines(n, lay, Sub(seq, Atom("0")))
    if lay.lowering is not None:  # outputs, the store_v_seq recording, the states
        recorded = ["_v_seq"] if n.v_seq else []
        targets = ", ".join([n.value, *recorded, *(s.local for s in n.states)])
        return NeuronFusedView(
            comment=comment,
            setup=setup,
            unfold=unfold,
            states=states,
            call=lay.stmt(
                targets, lay.lowering.neuron(n, seq.text, lay.printer, lay.module_names), shape
            ),
            final=_final_lines(n, lay) + [lay.stmt(f"self.{n.v_seq}", "_v_seq") for _ in recorded],
        )
    if lay.backend in ("fused", "compile"):
        name = lay.module_names.fresh(f"_{code_name(n.neuron)}Loop_{n.attr}")
        fusedn = fuse(n, name, seq.text, lay.printer, lay.kernels)
        if fusedn is not None:
            lay.fused.append(fusedn.view)
            targets = ", ".join([n.value, *(s.local for s in n.states)])
            return NeuronFusedView(
                comment=comment,
                setup=setup,
                unfold=unfold,
                states=states,
                call=lay.stmt(targets, fusedn.call, shape),
                final=_final_lines(n, lay),
            )
    step = [lay.expr(a.target, ir.substitute(a.value, {"x": ir.Local("_x")}), 1) for a in n.step]
    if n.v_seq:
        record = lay.stmt(f"self.{n.v_seq}", call("torch.stack", "_v_seq"))
    return NeuronMultiView(
        comment=comment,
        setup=setup,
        unfold=unfold,
        states=states,
        loop=f"for _x in {seq.text}:",
        step=step,
        output=n.output,
        record_local=n.states[0].local if n.v_seq else None,
        final=_final_lines(n, lay),
        record=record,
        result=lay.stmt(n.value, call("torch.stack", "_spikes"), shape),
    )


def _dims(shape: tuple[int, ...]) -> Code:
    return Tup(tuple(Atom(str(d)) for d in shape))


def _tensor_value(init: ir.TensorInit, shape: tuple[int, ...]) -> Code:
    """The expression that builds a parallel neuron's tensor (Kaiming: its empty shape)."""
    if isinstance(init, ir.Fill):
        value = format_const(init.value)
        return call("torch.full", _dims(shape), value) if shape else call("torch.tensor", value)
    if isinstance(init, ir.Values):
        return call("torch.tensor", Lst(tuple(Atom(format_const(v)) for v in init.values)))
    if isinstance(init, ir.Diagonal):
        full = call("torch.full", _dims(shape), format_const(init.off))
        return call(Attr(full, "fill_diagonal_"), format_const(init.diagonal))
    if isinstance(init, ir.Band):
        n = str(shape[0])
        lower = call("torch.tril", call("torch.ones", n, n))
        upper = call("torch.triu", call("torch.ones", n, n), str(1 - init.width))
        return chain("*", [lower, upper])
    # Kaiming: a vector is drawn as one [1, n] row, as SpikingJelly's SlidingPSN does
    return call("torch.empty", *map(str, shape if len(shape) == 2 else (1, *shape)))


def _holders(m: Code, names: list[str], made: set[str]) -> list[Stmt]:
    """The ``nn.Module()`` each dotted tensor name of the layer ``m`` needs on its way
    (``recurrent.weight``: ``m.recurrent``), each once (``made``)."""
    lines: list[Stmt] = []
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts)):
            holder = ".".join(parts[:i])
            if holder not in made:
                made.add(holder)
                lines.append((Attr(m, holder), Atom("nn.Module()")))
    return lines


def _tensor_init(m: Code, tensors: tuple[ir.TensorIR, ...], made: set[str]) -> list[Stmt]:
    """The statements creating a layer's tensors in its submodule ``m``
    (``self.sn1``; a dotted name in a submodule of it)."""
    lines: list[Stmt] = []
    for t in tensors:
        lines.extend(_holders(m, [t.name], made))
        target = Attr(m, t.name)
        value = _tensor_value(t.init, t.shape)
        if t.learnable:
            lines.append((target, call("nn.Parameter", value)))
        else:
            holder, _, leaf = t.name.rpartition(".")
            owner = Attr(m, holder) if holder else m
            lines.append(("", call(Attr(owner, "register_buffer"), f'"{leaf}"', value)))
        if isinstance(t.init, ir.Kaiming):
            init = call("nn.init.kaiming_uniform_", target, Kw("a", Atom(format_const(t.init.a))))
            lines.append(("", init))
            if len(t.shape) == 1 and t.learnable:
                first_row = Sub(Attr(target, "data"), Atom("0"))
                lines.append((target, call("nn.Parameter", first_row)))
            elif len(t.shape) == 1:  # assigning a tensor to a buffer's name replaces it
                lines.append((target, Sub(target, Atom("0"))))
    return lines


def _string_literal(text: str) -> str:
    """A double-quoted Python string literal for ``text`` (as ruff format writes one)."""
    return json.dumps(text)


class _ParallelPrinter(PythonPrinter):
    """Inside a parallel neuron's block, its tensors are read through the local ``_p``
    bound to its submodule."""

    def parameter(self, layer: str, name: str) -> str:
        return f"_p.{name}"


def _parallel_block(n: ir.ParallelIR, lay: _Layout, prefix: str) -> views.Block:
    shape = _shape(prefix, n.shape)
    printer = _ParallelPrinter(lay.printer.surrogates, lay.printer.strict, lay.names.modules)
    sliding = f"_p.{n.sliding}" if n.sliding else None
    common = {
        "comment": _comment(f"{n.attr}: {n.spec}"),
        "load": lay.stmt("_p", _module(n)),
        "spike_lines": [lay.expr(x.target, x.value, printer=printer) for x in n.spike_steps],
        "spike": lay.expr("_spike", n.spike, printer=printer),
        "setup_lines": [lay.expr(x.target, x.value, printer=printer) for x in n.setup],
        "matrix": lay.expr("_w", n.matrix, printer=printer) if n.matrix is not None else None,
        "sliding": sliding,
    }
    bias = Atom(printer.print(n.bias)) if n.bias is not None else None
    if lay.multi:
        seq, unfold = lay.sequence(n.source)
        rows = call(f"{seq.text}.flatten", "1")
        h = call("torch.addmm", bias, "_w", rows) if bias else call("torch.mm", "_w", rows)
        got = f"{seq.text}.shape[0]"  # its number of steps
        check = None
        if n.steps:
            message = f'f"{n.neuron} needs {n.steps} steps, got {{{got}}}"'
            check = (f"if {got} != {n.steps}:", _raise(lay, "ValueError", message))
        return ParallelMultiView(
            **common,
            unfold=unfold,
            check=check,
            sliding_line=lay.stmt("_w", call("_sliding_weight", sliding, got)) if sliding else None,
            h=lay.stmt("_h", h),
            result=lay.stmt(n.value, call("_spike.view", f"{seq.text}.shape"), shape),
        )
    k = None
    if n.sliding:
        k = next(t.shape[0] for t in n.tensors if t.name == n.sliding)
    bias_t = n.bias
    if bias_t is not None and n.bias_per_step:
        bias_t = ir.Index(bias_t, "_t")
    weighted = call("torch.sum", chain("*", ["_row.unsqueeze(-1)", "torch.stack(_queue)"]), "0")
    h = chain("+", [weighted, printer.print(bias_t)]) if bias_t is not None else weighted
    when_error = f"{n.neuron} runs step by step only when {n.window_when_text}"
    overflow_error = f"{n.neuron} has run its {n.steps} steps; call reset()"
    queue_attr, step_attr = lay.names.queues[n.attr], lay.names.steps[n.attr]
    queue = Sub(
        Lst((Atom(f"*self.{queue_attr}"), Atom(f"{n.source}.flatten()"))), Atom(f"-{n.window}:")
    )
    return ParallelSingleView(
        **common,
        steps=n.steps,
        k=k,
        when=printer.print(n.window_when) if n.window_when is not None else None,
        when_error=_raise(lay, "ValueError", _string_literal(when_error)),
        step_load=lay.stmt("_t", f"self.{step_attr}"),
        overflow_error=_raise(lay, "OverflowError", _string_literal(overflow_error)),
        queue=lay.stmt("_queue", queue),
        h=lay.stmt("_h", h),
        result=lay.stmt(n.value, call("_spike.view", f"{n.source}.shape"), shape),
        keep_queue=lay.stmt(f"self.{queue_attr}", "_queue"),
        count=lay.stmt(f"self.{step_attr}", chain("+", ["_t", "1"])) if n.steps else None,
    )


def _raise(lay: _Layout, error: str, message: str) -> str:
    """``raise error(message)`` one level inside the block."""
    return lay.text(layout.header("raise ", call(error, message), lay.indent + 4))


def _sew(cnf: str, a: Code, b: Code) -> Code:
    """SEW-ResNet's connect function of ``a`` (the block) and ``b`` (the shortcut)."""
    if cnf == "ADD":
        return chain("+", [a, b])
    if cnf == "AND":
        return chain("*", [a, b])
    return chain("*", [a, chain("-", ["1.0", b])])  # IAND


def _merge_block(n: ir.MergeIR, lay: _Layout, prefix: str) -> views.Block:
    folded = lay.multi and all(s in lay.folded for s in n.sources)
    srcs = [lay.as_folded(s) if folded else lay.as_seq(s) for s in n.sources]
    if folded:
        lay.folded.add(n.value)
    if n.op == "cat":
        lead = 1 if folded or not lay.multi else 2  # the batch (and time) dimensions
        value = call("torch.cat", Tup(tuple(srcs)), str(n.dim + lead))
    elif n.op == "sew":
        value = _sew(n.cnf, *srcs)
    elif n.op == "matmul":  # batched over the leading dimensions, as torch.matmul is
        value = chain("@", srcs)
    else:
        value = chain("+" if n.op == "add" else "*", srcs)
    return MergeView(
        comment=_comment(f"{n.value}: {n.spec}"),
        line=lay.stmt(n.value, value, _shape("T * N" if folded else prefix, n.shape)),
    )


def _delay_block(n: ir.DelayIR, lay: _Layout, prefix: str) -> views.Block:
    shape = _shape(prefix, n.shape)
    comment = _comment(f"{n.value}: {n.spec}, the value one time step earlier")
    attr = f"self.{lay.names.delays[n.value]}"
    if lay.multi:  # the whole sequence shifted by one step (not on a feedback loop)
        src = lay.as_seq(n.source)
        return DelayMultiView(
            comment,
            line=lay.stmt(n.value, call("_delayed_seq", attr, src), shape),
            keep=lay.stmt(attr, Sub(src, Atom("-1"))),
        )
    value = call("_delayed", attr, lay.like, _dims(n.shape))
    return DelaySingleView(comment, lay.stmt(n.value, value, shape))


def _alias_block(n: ir.AliasIR, lay: _Layout, prefix: str) -> views.Block:
    if n.source in lay.folded:
        lay.folded.add(n.value)
    shape = _shape("T * N" if n.value in lay.folded else prefix, n.shape)
    return AliasView(lay.stmt(n.value, n.source, shape))


def _state_read_block(n: ir.StateReadIR, lay: _Layout, prefix: str) -> views.Block:
    """``sn.v``: the state the neuron's step has just stored (with its autograd history).
    In the multi-step form the neuron and its reads run step by step in one loop."""
    if lay.multi:  # pragma: no cover - checker._loops puts every read in a loop
        raise GenerationError(f"{n.spec} outside its neuron's time loop")
    attr = f"self.{lay.names.states[(n.layer, n.state)]}"
    return AliasView(lay.stmt(n.value, attr, f"{_shape(prefix, n.shape)} {n.spec}"))


_BLOCKS = {
    ir.LayerIR: _layer_block,
    ir.TensorOpIR: _tensor_block,
    ir.DropoutIR: _dropout_block,
    ir.NeuronIR: _neuron_block,
    ir.ParallelIR: _parallel_block,
    ir.MergeIR: _merge_block,
    ir.DelayIR: _delay_block,
    ir.AliasIR: _alias_block,
    ir.StateReadIR: _state_read_block,
}


def _forward_locals(net: ir.NetworkIR) -> set[str]:
    """Every local the node blocks may assign, so loop locals are chosen around them."""
    used = set(GENERATED_HELPERS) | PARALLEL_LOCALS
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


def _loop_block(members: list[ir.Node], net: ir.NetworkIR, lay: _Layout, ns) -> views.Block:
    """A recurrent part of the graph in the multi-step form: one loop over time whose body
    is the members' single-step code; values from outside are read one step at a time."""
    inside = {m.value for m in members}
    outside: list[str] = []
    for m in members:
        for s in net.reads(m):
            if s not in inside and s not in outside:
                outside.append(s)
    later = set()
    member_index = {id(m) for m in members}
    for node in net.nodes:
        if id(node) not in member_index:
            later |= set(net.reads(node, delayed=True))
    later |= {o.source for o in net.outputs}
    kept = [m.value for m in members if m.value in later]
    rename = {s: ns.fresh(f"_{s}_t") for s in outside}
    hoisted = []
    seqs = {}
    for s in outside:
        seq = lay.as_seq(s)
        if not isinstance(seq, Atom):
            seqs[s] = ns.fresh(f"_{s}_seq")
            hoisted.append(lay.stmt(seqs[s], seq))
        else:
            seqs[s] = s
    first = net.inputs[0].name
    step_lay = _Layout(
        False,
        set(),
        lay.names,
        lay.printer,
        like=Sub(Atom(first), Atom("_t")),
        indent=12,
        shift=4,
    )
    blocks = []
    for m in members:
        if isinstance(m, ir.MergeIR):
            m = replace(m, sources=tuple(rename.get(s, s) for s in m.sources))
        elif not isinstance(m, ir.DelayIR):
            m = replace(m, source=rename.get(m.source, m.source))
        blocks.append(_BLOCKS[type(m)](m, step_lay, "N"))
    lay.needs_functional |= step_lay.needs_functional
    lay.state_from |= step_lay.state_from
    lists = {v: ns.fresh(f"_{v}_steps") for v in kept}
    loop_lay = replace(step_lay, shift=0)
    after = [
        lay.stmt(v, call("torch.stack", lst), _shape("T, N", net.shape_of(v)))
        for v, lst in lists.items()
    ]
    return LoopView(
        comment=_comment("recurrent: " + ", ".join(m.value for m in members) + " run step by step"),
        before=hoisted + [lay.stmt(lst, "[]") for lst in lists.values()],
        header=lay.text(
            layout.header("for _t in ", call("range", f"{first}.shape[0]"), lay.indent, ":")
        ),
        inputs=[loop_lay.stmt(rename[s], Sub(Atom(seqs[s]), Atom("_t"))) for s in outside],
        members=blocks,
        after_step=[
            loop_lay.stmt(f"self.{lay.names.delays[m.value]}", m.source)
            for m in members
            if isinstance(m, ir.DelayIR)
        ]
        + [loop_lay.stmt("", call(f"{lst}.append", v)) for v, lst in lists.items()],
        after=after,
    )


# --------------------------------------------------------------------------- module


def _surrogate_view(s: ir.SurrogateIR, printer: PythonPrinter) -> SurrogateView:
    ctx = [f"ctx.{p}" for p in s.params]
    class_name = printer.surrogates[s.key]
    return SurrogateView(
        class_name=class_name,
        doc=s.doc,
        params=list(s.params),
        param_decls="".join(f", {p}: float" for p in s.params),
        param_names="".join(f", {p}" for p in s.params),
        lets=[printer.assign(a.target, a.value, 8) for a in s.backward],
        grad=printer.assign("_grad", s.gradient, 8),
        result=", ".join(
            [
                f"grad_output * {class_name}.gradient({', '.join(['x', *ctx])})",
                *(["None"] * len(s.params)),
            ]
        ),
        strict_class=printer.strict.get(s.key),
    )


def _ctor_arg(arg: ir.Binding) -> Code | Kw:
    value = Atom(_value(arg.value))
    return value if arg.name is None else Kw(arg.name, value)


def _init_lines(net: ir.NetworkIR, names: ModuleNames) -> list[str]:
    stmts: list[Stmt] = []
    groups = {g.path: g for g in names.groups}
    made: set[tuple[str, ...]] = set()
    for node in net.nodes:
        if not owns_module(node):
            continue
        path = ir.module_path(node)
        for i in range(1, len(path)):  # its groups, each made before its first member
            group = groups[path[:i]]
            if group.path in made:
                continue
            made.add(group.path)
            if group.size is None:
                stmts.append((_path(group.path), Atom("nn.Module()")))
            else:  # every position an nn.Identity() until a module takes it
                each = Atom(f"nn.Identity() for _ in range({group.size})")
                stmts.append((_path(group.path), call("nn.ModuleList", each)))
        m = _module(node)
        if isinstance(node, ir.LayerIR):
            args = [_ctor_arg(a) for a in node.ctor_args]
            stmts.append((m, call(OPS[node.op].ctor, *args)))
        else:
            # a neuron's learnable scalars and tensors, under the layer's name as
            # SpikingJelly keeps them; a parallel neuron's tensors
            stmts.append((m, Atom("nn.Module()")))
            holders: set[str] = set()
            for learn in node.learn if isinstance(node, ir.NeuronIR) else ():
                value = call("nn.Parameter", call("torch.tensor", format_const(learn.value)))
                stmts.extend(_holders(m, [learn.name], holders))
                stmts.append((Attr(m, learn.name), value))
            stmts.extend(_tensor_init(m, node.tensors, holders))
    return [layout.lines(target, value, 8) for target, value in stmts]


def _reset_lines(net: ir.NetworkIR, names: ModuleNames) -> list[str]:
    stmts: list[tuple[str, str]] = []
    for n in net.nodes:
        if isinstance(n, ir.NeuronIR):
            stmts.extend(
                (
                    f"self.{names.state(n, s.name)}",
                    "None" if isinstance(s.init, ir.ParamRef) else format_const(s.init),
                )
                for s in n.states
            )
            if n.v_seq:
                stmts.append((f"self.{n.v_seq}", "None"))
        elif isinstance(n, ir.DropoutIR):
            stmts.append((f"self.{names.masks[n.value]}", "None"))
        elif isinstance(n, ir.DelayIR):
            stmts.append((f"self.{names.delays[n.value]}", "None"))
        elif isinstance(n, ir.ParallelIR) and n.window is not None:
            stmts.append((f"self.{names.queues[n.attr]}", "[]"))
            if n.steps is not None:
                stmts.append((f"self.{names.steps[n.attr]}", "0"))
    return [layout.lines(target, Atom(value), 8) for target, value in stmts]


def _tuple_lines(name: str, items: list[str]) -> list[str]:
    """``name = (a, b)`` in a class body."""
    return [layout.lines(name, Tup(tuple(Atom(i) for i in items)), 4)]


def _state_attrs(net: ir.NetworkIR, names: ModuleNames) -> list[str]:
    """Quoted names of the attributes the multi-step forward carries between calls."""
    attrs = []
    for n in net.nodes:
        if isinstance(n, ir.NeuronIR):
            attrs += [names.state(n, s.name) for s in n.states]
        elif isinstance(n, ir.DropoutIR):
            attrs.append(names.masks[n.value])
        elif isinstance(n, ir.DelayIR):
            attrs.append(names.delays[n.value])
    return [f'"{a}"' for a in attrs]


# Members of the generated class (besides the nn.Module API and forward_chunked's): the
# batch size of the state kept since reset(), and the compile backend's compiled body.
# Generated state attributes are ``_<label>_<name>``, so these one-word names cannot clash.
_BATCH = "_batch"
_STEP = "_step"  # templates/module.py.j2 compiles it under this name


def _keeps_state(net: ir.NetworkIR, multi: bool) -> bool:
    """Whether the form keeps state from one forward() call to the next: neuron states
    (and their store_v_seq recordings), dropout masks, delayed values, and in the
    single-step form parallel neurons' windows of past inputs."""
    return bool(net.neurons or net.dropouts or net.delays or (not multi and net.parallels))


def _check(condition: Code, message: str, indent: int = 8) -> CheckView:
    """``if condition: raise ValueError(message)`` (``message`` is an f-string's text)."""
    error = call("ValueError", Atom("f" + _string_literal(message)))
    return CheckView(
        condition=layout.joined(layout.condition("if", condition, indent)),
        error=layout.joined(layout.header("raise ", error, indent + 4)),
    )


def _run_time_checks(net: ir.NetworkIR, multi: bool) -> tuple[list[CheckView], str | None]:
    """forward()'s checks of its inputs (rank, per-sample shape, floating-point dtype,
    T >= 1, the same leading dimensions) and of the batch size against the state kept
    since reset(); and the statement remembering that batch size (None: no state kept).
    Plain Python on ``.shape``/``.ndim``/``.dtype``: cheap, and TorchDynamo resolves it
    while tracing."""
    prefix = "T, N" if multi else "N"
    lead = 2 if multi else 1
    checks = []
    for i in net.inputs:
        shape = _value(i.shape)
        wrong = Logic(
            Logic(Atom(f"{i.name}.ndim"), (("!=", Atom(str(lead + len(i.shape)))),)),
            (
                ("or", Logic(Atom(f"{i.name}.shape[{lead}:]"), (("!=", Atom(shape)),))),
                ("or", Atom(f"not {i.name}.is_floating_point()")),
            ),
        )
        message = (
            f"{i.name}: expected a float tensor {_shape(prefix, i.shape)}, "
            f"got {{{i.name}.dtype}} {{list({i.name}.shape)}}"
        )
        checks.append(_check(wrong, message))
    first = net.inputs[0].name
    if multi:
        expected = _shape(prefix, net.inputs[0].shape)
        message = f"{first}: expected {expected} with T >= 1, got T = 0: {{list({first}.shape)}}"
        checks.append(_check(Logic(Atom(f"{first}.shape[0]"), (("==", Atom("0")),)), message))
    dims = f"[{prefix}]"
    for i in net.inputs[1:]:
        ours, theirs = f"{i.name}.shape[:{lead}]", f"{first}.shape[:{lead}]"
        message = f"{i.name}: expected {dims} = {{list({theirs})}} as for {first}, "
        message += f"got {{list({ours})}}"
        checks.append(_check(Logic(Atom(ours), (("!=", Atom(theirs)),)), message))
    if not _keeps_state(net, multi):
        return checks, None
    batch, kept = f"{first}.shape[{lead - 1}]", f"self.{_BATCH}"
    changed = Logic(
        Logic(Atom(kept), (("is not", Atom("None")),)),
        (("and", Logic(Atom(batch), (("!=", Atom(kept)),))),),
    )
    message = (
        f"{first}: batch size {{{batch}}}, but the state kept is for batch size {{{kept}}}: "
        "call reset() before a new batch"
    )
    checks.append(_check(changed, message))
    return checks, layout.lines(kept, Atom(batch), 8)


def _run_time_doc(multi: bool, keeps_state: bool) -> str:
    """The module docstring's paragraph on what forward() checks (README: Generated code)."""
    wrong = "a wrong shape or dtype (or T = 0)" if multi else "a wrong shape or dtype"
    text = f"forward() checks its inputs first: {wrong} raises ValueError naming the "
    text += "expected shape.  "
    if keeps_state:
        text += (
            "The state kept between calls is for one batch size: a call with another "
            "batch size raises ValueError until reset(); call reset() before a new batch."
        )
    else:
        text += "Nothing is kept between calls, so the batch size may change."
    return textwrap.fill(text, 88)


_MULTI_BACKEND_DOC = {
    "eager": "each neuron layer runs its time\nloop inline, recorded by autograd.",
    "fused": "each neuron layer runs as one\ntorch.autograd.Function whose backward "
    "pass through time is derived from its\nequations (no autograd graph inside the loop).",
    "compile": "each neuron layer runs as one\ntorch.autograd.Function whose forward and "
    "backward time steps are compiled by\ntorch.compile.",
}
_SINGLE_BACKEND_DOC = {
    "eager": "Backend eager.",
    "fused": "Backend fused (the single-step\nform is the eager one).",
    "compile": "Backend compile: the body of\nforward() is compiled by "
    "torch.compile(fullgraph=True) on first use.",
}


def _command(net: ir.NetworkIR, mode: str, backend: str) -> str:
    """The ``snndsl generate`` command that regenerates this file (shell-quoted)."""
    path = net.source_path.replace("\\", "/")
    if path.startswith("<"):
        path = "SPEC"  # generated from text: the spec is in this docstring
    elif path.startswith("/") or ":" in path:
        path = path.rsplit("/", 1)[-1]  # never a machine's absolute path
    words = ["snndsl", "generate", shlex.quote(path), "--network", net.name]
    words += ["--mode", mode, "--backend", backend]
    for b in net.overrides:
        words += ["--set", shlex.quote(f"{b.name}={describe(b.value)}")]
    return " ".join([*words, "-o", "THIS_FILE"])


def render_module(
    net: ir.NetworkIR, mode: str, backend: str, lowering: Lowering | None = None
) -> str:
    """Python source of the ``mode`` form ('single' or 'multi') of ``net``.

    ``backend`` chooses how the module runs: 'eager' (multi-step neuron layers as time
    loops autograd records), 'fused' (one autograd.Function per multi-step neuron layer
    with a derived backward pass; the single-step form is the eager one) or 'compile'
    (multi-step: the fused layers with their forward and backward time steps compiled by
    ``torch.compile``; single-step: forward wrapped in ``torch.compile(fullgraph=True)``).
    With ``lowering`` (another target's backend, e.g. 'triton') the multi-step neuron
    layers outside recurrent loops run as it says; the single-step form is the eager one."""
    multi = mode == "multi"
    prefix = "T, N" if multi else "N"
    names = module_names(net)
    printer = PythonPrinter(names.surrogates, names.strict, names.modules)
    classes = set(names.surrogates.values()) | set(names.strict.values())
    taken = {
        ir.NeuronIR: frozenset(GENERATED_HELPERS | classes),
        ir.ParallelIR: frozenset(GENERATED_HELPERS | PARALLEL_LOCALS | classes) - {"_h"},
    }
    net = replace(
        net, nodes=tuple(respell_locals(n, taken.get(type(n), frozenset())) for n in net.nodes)
    )
    forward_locals = _forward_locals(net)
    generated = Namespace(GENERATED_HELPERS | classes | {net.name} | forward_locals)
    lay = _Layout(
        multi,
        set(),
        names,
        printer,
        like=Atom(net.inputs[0].name),
        backend=backend,
        module_names=generated,
        lowering=lowering if multi else None,
    )
    if backend == "compile":
        lay.kernels = Kernels(generated, {})
    blocks = []
    ns = Namespace(forward_locals)
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
        epilogue = [lay.stmt(f"self.{names.delays[d.value]}", d.source) for d in net.delays]
    returns = [layout.flat(lay.as_seq(o.source)) for o in net.outputs]
    return_type = "torch.Tensor" if len(returns) == 1 else "tuple[torch.Tensor, ...]"
    prologue = []
    if lay.needs_tn:
        shape = Sub(Atom(f"{net.inputs[0].name}.shape"), Atom(":2"))
        prologue.append(lay.stmt("_T, _N", shape))
    checks, keep_batch = _run_time_checks(net, multi)
    reset_lines = _reset_lines(net, names)
    if keep_batch is not None:
        reset_lines.append(layout.lines(f"self.{_BATCH}", Atom("None"), 8))
    batch_note = ", for one batch size" if keep_batch else ""
    signature = ("self", *(f"{i.name}: torch.Tensor" for i in net.inputs))
    ins = ", ".join(f"{i.name} {_shape(prefix, i.shape)}" for i in net.inputs)
    outs = ", ".join(f"{o.name} {_shape(prefix, o.shape)}" for o in net.outputs)
    if multi:
        title = f"{net.name}: multi-step form, forward on sequences [T, N, *]."
        fwd_doc = f"Run a whole sequence: {ins} -> {outs}."
        fwd_doc2 = f"Neuron state is kept after the call{batch_note}; reset() clears it."
        summary = (
            "Stateless layers run once on the time-folded batch [T * N, *]; "
            + (lowering.multi_doc if lowering else _MULTI_BACKEND_DOC[backend])
            + "  Parameters and state_dict keys match the single-step form."
        )
    else:
        title = f"{net.name}: single-step form, forward on one time step [N, *]."
        fwd_doc = f"Run one time step: {ins} -> {outs}."
        fwd_doc2 = f"Neuron state is kept between calls{batch_note}; reset() clears it."
        summary = (
            "Call forward once per time step; neuron state is kept between calls.  "
            + (lowering.single_doc if lowering else _SINGLE_BACKEND_DOC[backend])
            + "  Parameters and state_dict keys match the multi-step form."
        )
    source_name = net.source_path.replace("\\", "/").rsplit("/", 1)[-1]
    view = ModuleView(
        title=title,
        summary=summary,
        version=__version__,
        source=_docstring_text(source_name).strip(),
        command=_docstring_text(_command(net, mode, backend)).strip(),
        spec=_docstring_text(net.spec_text),
        uses_functional=bool(net.dropouts) or lay.needs_functional,
        state_from=lay.state_from,
        surrogates=[_surrogate_view(s, printer) for s in net.surrogates],
        fused=lay.fused,
        needs=lowering.needs if lowering and lay.lowering else "torch and the standard library",
        std_imports=lay.lowering.std_imports() if lay.lowering else [],
        imports=lay.lowering.imports() if lay.lowering else [],
        extra=lay.lowering.code() if lay.lowering else [],
        kernels=list(lay.kernels.views.values()) if lay.kernels else [],
        compiled=backend == "compile" and not multi,
        chunked=multi,
        state_lines=_tuple_lines("_STATE", _state_attrs(net, names))
        + _tuple_lines("_RECORDS", [f'"{n.v_seq}"' for n in net.neurons if n.v_seq]),
        n_outputs=len(net.outputs),
        has_state=bool(net.neurons),
        records=any(n.v_seq and (not multi or n.value in loop_of) for n in net.neurons),
        delayed=bool(net.delays),
        sliding=multi and any(p.sliding for p in net.parallels),
        class_name=net.name,
        class_doc=f"The {net.name} network ({mode}-step form), generated by snndsl.",
        init_lines=_init_lines(net, names),
        reset_lines=reset_lines,
        forward_def=layout.joined(
            layout.header("def forward", call("", *signature), 4, f" -> {return_type}:")
        ),
        return_type=return_type,
        forward_doc=fwd_doc,
        forward_doc2=fwd_doc2,
        run_time_doc=_run_time_doc(multi, keep_batch is not None),
        checks=checks,
        keep_batch=keep_batch,
        step_def=layout.joined(
            layout.header(f"def {_STEP}", call("", *signature), 4, f" -> {return_type}:")
        ),
        step_call=layout.joined(
            layout.header("return ", call(f"self.{_STEP}", *(i.name for i in net.inputs)), 8)
        ),
        prologue=prologue,
        blocks=blocks,
        epilogue=epilogue,
        returns=layout.joined(layout.returns(returns, 8)),
    )
    source = environment().get_template("module.py.j2").render(m=view)
    try:
        # Python's own compiler: the parse ast.parse does, plus the compiler's checks
        # (a misplaced return, a bad nonlocal), and 2-3x faster than building the AST
        compile(source, "<generated>", "exec", dont_inherit=True)
    except SyntaxError as err:  # pragma: no cover - would be a generator bug
        raise GenerationError(f"generated source does not compile: {err}") from err
    return source
