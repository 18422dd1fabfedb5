"""A multi-step neuron layer as two Triton kernels and the autograd.Function launching them.

Each program of the forward kernel takes ``BLOCK`` elements of a time step and loops over
all T steps with the layer's state in registers: per element and step it reads the input
once and writes the output and the values the backward pass reads (what
:func:`snndsl.backends.torch.fused.plan` keeps: a state at the step's start, a charged
potential), nothing else.  The backward kernel walks time in reverse with the adjoint
equations :mod:`snndsl.ir.autodiff` derives from the same IR, in registers too, and
writes the input gradient per step, the initial states' gradients and each parameter's
per-element gradient (summed to the parameter's shape by the wrapper).  Parameters are
laid out once per call as one sample's shape and read by ``i % size``.

:func:`problems` lists what cannot be lowered (a located E0209 each), checked before
anything is generated; :class:`TritonLowering` is the torch codegen's
:class:`~snndsl.backends.torch.codegen.Lowering` for the 'triton' backend.
"""

from __future__ import annotations

from dataclasses import replace

from snndsl import ir
from snndsl.backends.torch import layout
from snndsl.backends.torch.codegen import environment
from snndsl.backends.torch.fused import Plan, plan
from snndsl.backends.torch.layout import Atom, Code, Kw, Sub, call
from snndsl.backends.torch.naming import code_name
from snndsl.backends.torch.printer import PythonPrinter, format_const
from snndsl.backends.triton.printer import HELPERS, TritonPrinter, Unlowerable
from snndsl.backends.triton.views import HelpersView, JitView, LayerView
from snndsl.diagnostics import UNKNOWN_SPAN, Diagnostic
from snndsl.ir import autodiff
from snndsl.names import Namespace, snake_case

BLOCK_SIZE = 512  # elements of a time step per program

_KERNEL = 4  # a kernel body's indent
_KLOOP = 8  # inside its time loop
_METHOD = 8  # an autograd.Function method's body


def _scratch_printer(net: ir.NetworkIR) -> TritonPrinter:
    return TritonPrinter(lambda key, params: "_grad", {stem: stem for stem in HELPERS})


def problems(net: ir.NetworkIR) -> list[Diagnostic]:
    """E0209 for each multi-step neuron layer (outside recurrent loops) that has no
    Triton form, located at its call in the spec."""
    in_loop = {v for loop in net.loops for v in loop}
    found = []
    for n in net.neurons:
        if n.value in in_loop:
            continue
        why = _why_not(n, _scratch_printer(net))
        if why is not None:
            source, span = n.where if n.where else (None, None)
            found.append(
                Diagnostic(
                    "E0209",
                    f"'{n.attr}' ({n.spec}) has no Triton kernel: {why}",
                    span or UNKNOWN_SPAN,
                    source,
                    "use --backend fused (or eager) for this network",
                )
            )
    return found


def _why_not(n: ir.NeuronIR, printer: TritonPrinter) -> str | None:
    try:
        p = plan(n, printer, record=True)
        assert p is not None
        for a in (*p.step, *p.recompute, *p.back.adjoint):
            printer.print(autodiff.without_spikes(a.value))
    except autodiff.NotDifferentiable as err:
        return f"its step has {err}"
    except Unlowerable as err:
        return f"its step has {err}"
    return None


class TritonLowering:
    """Builds the kernels of a module's multi-step neuron layers as the torch codegen
    asks for them (:meth:`neuron`), then the module-level code (:meth:`code`)."""

    multi_doc = (
        "each neuron layer runs as two\n"
        "Triton kernels (forward over all T steps with the state in registers, and the\n"
        "backward pass through time derived from its equations) launched by one\n"
        "torch.autograd.Function.  Neuron layers inside a recurrent loop run step by step\n"
        "in torch, and parallel neurons (one matrix product over the sequence) stay torch\n"
        "code.  Kernels compute in float32 (float64 for float64 inputs): float16 and\n"
        "bfloat16 inputs give outputs of their dtype, their state and saved values are\n"
        "float32 within a call.  On CPU, set TRITON_INTERPRET=1 before importing triton."
    )
    single_doc = (
        "Backend triton (the single-step\nform is the eager one: one step has no time "
        "loop to fuse)."
    )
    needs = "torch, triton and the standard library"

    def __init__(self, net: ir.NetworkIR):
        self.net = net
        self.layers: list[LayerView] = []
        self._printer: TritonPrinter | None = None
        self._helpers: dict[str, str] = {}
        # a surrogate's derivative per set of parameter values -> its helper's name
        self._gradients: dict[tuple[ir.SurrogateKey, tuple[float, ...]], str] = {}
        self._kernels: dict[tuple, str] = {}  # a kernel's text -> its name

    # ------------------------------------------------------------------ module level
    def _start(self, torch_printer: PythonPrinter, names: Namespace) -> TritonPrinter:
        if self._printer is None:
            for stem in ("_BLOCK", "_grid", "_compute_dtype", "_per_sample"):
                self._helpers[stem] = names.fresh(stem)
            helpers = {stem: names.fresh(stem) for stem in HELPERS}
            classes = dict(torch_printer.surrogates)

            def gradient(key: ir.SurrogateKey, params: tuple[float, ...]) -> str:
                if (key, params) not in self._gradients:
                    self._gradients[(key, params)] = names.fresh(f"{classes[key]}_grad")
                return self._gradients[(key, params)]

            self._printer = TritonPrinter(gradient, helpers)
        return self._printer

    def std_imports(self) -> list[str]:
        return ["import os"] if self.layers else []

    def imports(self) -> list[str]:
        return ["import triton", "import triton.language as tl"] if self.layers else []

    def code(self) -> list[str]:
        if not self.layers:
            return []
        printer = self._printer
        functions = []
        by_key = {s.key: s for s in self.net.surrogates}
        surrogate_views = [  # printed first: they may call helpers
            self._surrogate(by_key[key], params, name, printer)
            for (key, params), name in self._gradients.items()
        ]
        for stem, (params, body) in HELPERS.items():
            if stem in printer.used:
                functions.append(
                    JitView(
                        _header(printer.helpers[stem], list(params), 0),
                        _HELPER_DOCS[stem],
                        list(body),
                        "",
                    )
                )
        helpers = HelpersView(
            block=self._helpers["_BLOCK"],
            block_size=BLOCK_SIZE,
            grid=self._helpers["_grid"],
            compute=self._helpers["_compute_dtype"],
            per_sample=self._helpers["_per_sample"],
            functions=functions + surrogate_views,
        )
        template = environment().get_template("triton.py.j2")
        parts = [template.module.helpers(helpers)]
        parts += [template.module.layer(layer) for layer in self.layers]
        return [part.strip("\n") for part in parts]

    def _surrogate(
        self, s: ir.SurrogateIR, params: tuple[float, ...], name: str, printer: TritonPrinter
    ) -> JitView:
        """The derivative of ``s`` at ``x`` with its float parameters' values inlined."""
        values: dict[str, ir.PyExpr] = {p: ir.Const(v) for p, v in zip(s.params, params)}
        body = []
        for a in s.backward:
            value = ir.substitute(a.value, values)
            if ir.locals_used(value):
                body.append(printer.assign(a.target, value, _KERNEL))
            else:  # a number: written where it is used (a local would be float32)
                values[a.target] = value
        body.append(printer.assign("_grad", ir.substitute(s.gradient, values), _KERNEL))
        body.append("return _grad")
        shown = ", ".join(f"{p}={format_const(v)}" for p, v in zip(s.params, params))
        return JitView(
            _header(name, ["x"], 0),
            f"The derivative of {s.name}({shown}) at x (its backward pass).",
            body,
            "",
        )

    # ------------------------------------------------------------------ one layer
    def neuron(
        self, n: ir.NeuronIR, seq: str, torch_printer: PythonPrinter, names: Namespace
    ) -> Code:
        printer = self._start(torch_printer, names)
        p = plan(n, printer, record=True)
        assert p is not None
        stem = f"_{snake_case(n.neuron)}"
        kernel = _Kernel(p, self._helpers)
        class_name = names.fresh(f"_{code_name(n.neuron)}Triton_{n.attr}")
        forward_name, forward = self._shared(f"{stem}_forward", kernel.forward, names)
        backward_name, backward = self._shared(f"{stem}_backward", kernel.backward, names)
        self.layers.append(
            LayerView(
                class_name=class_name,
                doc=f"{n.attr}: {n.spec}, over a whole sequence: a Triton kernel for each "
                "pass through time.",
                forward=forward,
                backward=backward,
                forward_def=kernel.method_def("forward", ["ctx", "_xs", *p.states, *p.params]),
                forward_body=kernel.forward_method(forward_name),
                backward_def=kernel.method_def(
                    "backward",
                    [
                        "ctx",
                        "grad_outputs",
                        *([kernel.grec] if kernel.record else []),
                        *(f"grad{s}" for s in p.states),
                    ],
                ),
                backward_body=kernel.backward_method(backward_name),
            )
        )
        return call(f"{class_name}.apply", seq, *p.states, *p.params)

    def _shared(self, stem: str, build, names: Namespace) -> tuple[str, JitView | None]:
        """A kernel's name, and its view when no earlier layer has the same kernel (layers
        with the same equations share their kernels: each is compiled once)."""
        view = build("_")  # built once: building allocates the kernel's locals
        key = (view.header, tuple(view.body), view.doc, view.specialize)
        if key in self._kernels:
            return self._kernels[key], None
        name = self._kernels[key] = names.fresh(stem)
        return name, replace(view, header=_header(name, view.args, 0))


_HELPER_DOCS = {
    "_div": "a / b, correctly rounded (Triton's float32 / is not).",
    "_sqrt": "sqrt, correctly rounded (Triton's float32 tl.sqrt is not).",
    "_square": "a * a, as torch.square.",
    "_sign": "torch.sign: 1, -1 or 0.",
    "_softsign": "torch.nn.functional.softsign.",
    "_leaky_relu": "torch.nn.functional.leaky_relu.",
    "_tanh": "tanh from exp (tl has none the interpreter runs).",
    "_erfc": "1 - erf (tl has no erfc the interpreter runs).",
    "_atan": "atan as Cephes computes it (tl has none the interpreter runs).",
    "_pow": "a ** b as torch.pow computes it for a real exponent.",
}


def _header(name: str, args: list[str], indent: int) -> str:
    return layout.joined(layout.header("def ", call(name, *args), indent, ":"))


class _Kernel:
    """The names and lines of one layer's kernels and of its autograd.Function."""

    def __init__(self, p: Plan, helpers: dict[str, str]):
        self.p = p
        self.h = helpers
        ns = p.ns
        self.ns = ns
        self.xs_saved = "_x" in p.needed
        self.saved_states = [s for s in p.states if s in p.needed]
        # kernel-local names
        self.offs, self.mask, self.at = ns.fresh("_offs"), ns.fresh("_mask"), ns.fresh("_at")
        self.stride, self.step = ns.fresh("_stride"), ns.fresh("_step")
        self.T, self.numel, self.size = ns.fresh("_T"), ns.fresh("_numel"), ns.fresh("_size")
        self.compute, self.block = ns.fresh("COMPUTE"), ns.fresh("BLOCK")
        # pointers

        def ptr(stem: str) -> str:
            return ns.fresh(f"{stem}_ptr")

        self.x_ptr = ptr("_xs")
        self.out_ptr = ptr("_outs")
        # store_v_seq: the first state after every step, an output autograd sees
        self.record = p.states[0] if p.n.v_seq else None
        self.rec_ptr = ptr("_record")
        self.grec_ptr = ptr("_grecord")
        self.rec = ns.fresh("_record")
        self.state_in = {s: ptr(f"{s}_in") for s in p.states}
        self.state_out = {s: ptr(f"{s}_out") for s in p.states}
        self.param_ptr = {q: ptr(q) for q in p.params}
        self.list_ptr = {name: ptr(lst) for name, lst in p.lists.items()}
        self.gout_ptr = ptr("_gouts")
        self.gx_ptr = ptr("_gxs")
        self.gstate_in = {s: ptr(f"_g{s}_in") for s in p.states}
        self.gstate_out = {s: ptr(f"_g{s}_out") for s in p.states}
        self.total_ptr = {q: ptr(t) for q, t in p.totals.items()}
        # autograd.Function locals
        self.dtype, self.tl_dtype = ns.fresh("_dtype"), ns.fresh("_tl_dtype")
        self.last = {s: ns.fresh(f"{s}_last") for s in p.states}
        self.gfirst = {s: ns.fresh(f"_g{s}_first") for s in p.states}
        self.gparam = {q: ns.fresh(f"_g{q}") for q in p.totals}
        self.gxs = ns.fresh("_grad_xs")
        self.grec = ns.fresh("_grad_record")
        self.kernel = ns.fresh("_kernel")

    # ------------------------------------------------------------------ pieces
    def store(self, ptr: str, value: str, at: str, indent: int) -> str:
        return layout.lines(
            "", call("tl.store", f"{ptr} + {at}", value, Kw("mask", Atom(self.mask))), indent
        )

    def load(self, target: str, ptr: str, at: str, indent: int) -> str:
        """``target = <the element at ptr + at>`` in the compute dtype (every value of a
        kernel is; a no-op for the values saved in it)."""
        value = call("tl.load", f"{ptr} + {at}", Kw("mask", Atom(self.mask)))
        return layout.lines(target, call("tl.cast", value, self.compute), indent)

    def prologue(self) -> list[str]:
        return [
            f"{self.offs} = tl.program_id(0) * {self.block} + tl.arange(0, {self.block})",
            f"{self.mask} = {self.offs} < {self.numel}",
            f"{self.stride} = {self.numel}.to(tl.int64)",
        ]

    def load_params(self) -> list[str]:
        return [
            self.load(q, self.param_ptr[q], f"{self.offs} % {self.size}", _KERNEL)
            for q in self.p.params
        ]

    def tail_args(self) -> list[str]:
        return [
            self.T,
            self.numel,
            self.size,
            f"{self.compute}: tl.constexpr",
            f"{self.block}: tl.constexpr",
        ]

    def specialize(self) -> str:
        return f'do_not_specialize=["{self.T}", "{self.numel}"]'

    def kernel_doc(self, what: str) -> str:
        return f"{self.p.n.spec}: {what}"

    # ------------------------------------------------------------------ kernels
    def forward(self, name: str) -> JitView:
        p = self.p
        loop = "    "
        args = [
            self.x_ptr,
            *self.state_in.values(),
            *self.param_ptr.values(),
            self.out_ptr,
            *([self.rec_ptr] if self.record else []),
            *self.list_ptr.values(),
            *self.state_out.values(),
            *self.tail_args(),
        ]
        body = self.prologue()
        body.append(f"{self.at} = {self.offs}.to(tl.int64)")
        body += [self.load(s, self.state_in[s], self.offs, _KERNEL) for s in p.states]
        body += self.load_params()
        body.append(f"for {self.step} in range({self.T}):")
        body.append(loop + self.load("_x", self.x_ptr, self.at, _KLOOP))
        body += [loop + self.store(self.list_ptr[s], s, self.at, _KLOOP) for s in self.saved_states]
        after = p.after_keep(
            lambda kept, local: self.store(self.list_ptr[kept], local, self.at, _KLOOP)
        )
        body += [loop + line for line in p.forward_lines(after, _KLOOP)]
        body.append(loop + self.store(self.out_ptr, p.n.output, self.at, _KLOOP))
        if self.record:
            body.append(loop + self.store(self.rec_ptr, self.record, self.at, _KLOOP))
        body.append(f"{loop}{self.at} += {self.stride}")
        body += [self.store(self.state_out[s], s, self.offs, _KERNEL) for s in p.states]
        return JitView(
            _header(name, args, 0),
            self.kernel_doc("the forward time loop, the state in registers."),
            body,
            self.specialize(),
            args,
        )

    def backward(self, name: str) -> JitView:
        p, back = self.p, self.p.back
        loop = "    "
        args = [
            *([self.x_ptr] if self.xs_saved else []),
            *self.list_ptr.values(),
            self.gout_ptr,
            *([self.grec_ptr] if self.record else []),
            *self.gstate_in.values(),
            *self.param_ptr.values(),
            *([self.gx_ptr] if back.grad_x else []),
            *self.gstate_out.values(),
            *self.total_ptr.values(),
            *self.tail_args(),
        ]
        body = self.prologue()
        body.append(f"{self.at} = {self.offs}.to(tl.int64) + ({self.T} - 1) * {self.stride}")
        body += [self.load(f"grad{s}", self.gstate_in[s], self.offs, _KERNEL) for s in p.states]
        body += self.load_params()
        body += [f"{t} = tl.zeros([{self.block}], {self.compute})" for t in p.totals.values()]
        body.append(f"for {self.step} in range({self.T}):")
        if self.xs_saved:
            body.append(loop + self.load("_x", self.x_ptr, self.at, _KLOOP))
        body += [
            loop + self.load(name_, self.list_ptr[name_], self.at, _KLOOP) for name_ in p.lists
        ]
        if "grad_output" in p.needed:
            body.append(loop + self.load("grad_output", self.gout_ptr, self.at, _KLOOP))
        if self.record:  # the recording of the state after this step reads it too
            g = f"grad{self.record}"
            loaded = call(
                "tl.cast",
                call("tl.load", f"{self.grec_ptr} + {self.at}", Kw("mask", Atom(self.mask))),
                self.compute,
            )
            body.append(loop + layout.lines(g, layout.chain("+", [g, loaded]), _KLOOP))
        body += [loop + p.line(a.target, a.value, _KLOOP) for a in (*p.recompute, *back.adjoint)]
        if back.grad_x:
            body.append(loop + self.store(self.gx_ptr, back.grad_x, self.at, _KLOOP))
        for s in p.states:
            grad = back.grad_state_inputs[s] or f"tl.zeros_like(grad{s})"
            body.append(f"{loop}grad{s} = {grad}")
        body += [f"{loop}{p.totals[q]} += {back.grad_params[q]}" for q in p.totals]
        body.append(f"{loop}{self.at} -= {self.stride}")
        body += [self.store(self.gstate_out[s], f"grad{s}", self.offs, _KERNEL) for s in p.states]
        body += [self.store(self.total_ptr[q], t, self.offs, _KERNEL) for q, t in p.totals.items()]
        return JitView(
            _header(name, args, 0),
            self.kernel_doc("the backward pass through time, in reverse, adjoints in registers."),
            body,
            self.specialize(),
            args,
        )

    # ------------------------------------------------------------------ autograd.Function
    def method_def(self, name: str, args: list[str]) -> str:
        return layout.joined(layout.header(f"def {name}", call("", *args), 4, ":"))

    def launch(self, kernel: str, args: list[str], like: str) -> list[str]:
        """The kernel bound to a short local (its name grows with the layer's label, and
        a name is never split), then launched on its grid."""
        grid = call(self.h["_grid"], like)
        value = call(
            Sub(Atom(self.kernel), grid),
            *args,
            f"{like}.shape[0]",
            self.numel,
            self.size,
            self.tl_dtype,
            Kw(self.block, Atom(self.h["_BLOCK"])),
            Kw("enable_fp_fusion", Atom("False")),  # no a * b + c as one rounding
        )
        bind = layout.lines(self.kernel, Atom(kernel), _METHOD)
        return [bind, layout.lines("", value, _METHOD)]

    def sizes(self, like: str) -> list[str]:
        return [f"{self.numel} = {like}[0].numel()", f"{self.size} = {like}[0, 0].numel()"]

    def per_sample(self, like: str) -> list[str]:
        return [call(self.h["_per_sample"], q, like) for q in self.p.params]

    def forward_method(self, name: str) -> list[str]:
        p = self.p
        lines = [
            "_xs = _xs.contiguous()",
            f"{self.dtype}, {self.tl_dtype} = {self.h['_compute_dtype']}(_xs)",
            "_outs = torch.empty_like(_xs)",
            *([f"{self.rec} = torch.empty_like(_xs)"] if self.record else []),
            *(f"{lst} = torch.empty_like(_xs, dtype={self.dtype})" for lst in p.lists.values()),
            *(f"{self.last[s]} = torch.empty_like({s})" for s in p.states),
            *self.sizes("_xs"),
        ]
        args = [
            "_xs",
            *(f"{s}.contiguous()" for s in p.states),
            *self.per_sample("_xs"),
            "_outs",
            *([self.rec] if self.record else []),
            *p.lists.values(),
            *self.last.values(),
        ]
        lines += self.launch(name, args, "_xs")
        saved = [*(["_xs"] if self.xs_saved else []), *p.lists.values(), *p.params]
        if saved:
            lines.append(layout.lines("", call("ctx.save_for_backward", *saved), _METHOD))
        outs = ["_outs", *([self.rec] if self.record else []), *self.last.values()]
        lines.append(layout.joined(layout.returns(outs, _METHOD)))
        return lines

    def backward_method(self, name: str) -> list[str]:
        p, back = self.p, self.p.back
        saved = [*(["_xs"] if self.xs_saved else []), *p.lists.values(), *p.params]
        lines = []
        if saved:
            target = f"({saved[0]},)" if len(saved) == 1 else ", ".join(saved)
            lines.append(layout.lines(target, Atom("ctx.saved_tensors"), _METHOD))
        lines += [
            "grad_outputs = grad_outputs.contiguous()",
            f"{self.dtype}, {self.tl_dtype} = {self.h['_compute_dtype']}(grad_outputs)",
            f"{self.gxs} = torch.{'empty' if back.grad_x else 'zeros'}_like(grad_outputs)",
            *(f"{self.gfirst[s]} = torch.empty_like(grad{s})" for s in p.states),
            *(
                f"{self.gparam[q]} = torch.empty_like(grad_outputs[0], dtype={self.dtype})"
                for q in p.totals
            ),
            *self.sizes("grad_outputs"),
        ]
        args = [
            *(["_xs"] if self.xs_saved else []),
            *p.lists.values(),
            "grad_outputs",
            *([f"{self.grec}.contiguous()"] if self.record else []),
            *(f"grad{s}.contiguous()" for s in p.states),
            *self.per_sample("grad_outputs"),
            *([self.gxs] if back.grad_x else []),
            *self.gfirst.values(),
            *self.gparam.values(),
        ]
        lines += self.launch(name, args, "grad_outputs")
        results = [
            self.gxs,
            *self.gfirst.values(),
            *(
                f"{self.gparam[q]}.sum_to_size({q}.shape).to({q}.dtype)"
                if q in p.totals
                else "None"
                for q in p.params
            ),
        ]
        lines.append(layout.joined(layout.returns(results, _METHOD)))
        return lines
