"""Semantic checks: resolve a spec AST into the network IR.

In order: load the prelude, register the spec's own neuron and surrogate definitions,
pick the network, evaluate its parameters, validate every name, then walk the body in
order, binding each operation's arguments, inferring shapes and compiling neurons.
Every problem is a located diagnostic; nothing here raises a bare Python exception on
bad input.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import replace

from snndsl import ir, limits
from snndsl.diagnostics import Reporter, SpecError, did_you_mean
from snndsl.names import RESERVED, Namespace, identifier_problem, snake_case
from snndsl.resources import read_text
from snndsl.semantics import topology
from snndsl.semantics.blocks import REPEAT, BlockChecks, defined_names
from snndsl.semantics.catalogue import FLATTEN_RENAMED, OPS, ShapeError
from snndsl.semantics.definitions import Definitions, check_params
from snndsl.semantics.evaluate import Evaluator, SurrogateValue, coerce, describe
from snndsl.semantics.graphs import GraphChecks
from snndsl.semantics.neurons import NeuronCompiler
from snndsl.semantics.parallel import LOCALS as PSN_LOCALS
from snndsl.semantics.parallel import ParallelCompiler, single_step_problem
from snndsl.semantics.signature import bind
from snndsl.semantics.states import StateReads
from snndsl.semantics.surrogates import compile_surrogate, split_surrogate_args
from snndsl.syntax import ast
from snndsl.syntax.imports import resolve_imports
from snndsl.syntax.parser import parse_text

PRELUDE = "builtin.snn"
# Library namespaces: the prelude file <name>.snn defines the calls `<name>.Op(...)`.
LIBRARIES = ("norse", "snntorch")


@functools.cache
def prelude(filename: str = PRELUDE) -> ast.Module:
    """The built-in definitions, parsed once from the shipped prelude (and kept in the
    user's cache, keyed by the prelude, the grammar, Lark and the code of the parser, the
    AST and the diagnostics); ``filename`` names a library's prelude file instead."""
    import lark

    from snndsl import __version__, cache, diagnostics
    from snndsl.syntax import parser

    text = read_text("snndsl.prelude", filename)
    name = "prelude-{}.pickle".format(
        cache.key(
            __version__,
            lark.__version__,
            text,
            parser.grammar_text(),
            cache.module_source(parser),
            cache.module_source(ast),
            cache.module_source(diagnostics),  # spans and source files are in the pickle
        )
    )
    module = cache.load(name)
    if not isinstance(module, ast.Module):
        module = parse_text(text, f"<prelude>/{filename}")
        cache.store(name, module)
    return module


def _definitions(module: ast.Module, reporter: Reporter) -> Definitions:
    pre = prelude()
    defs = Definitions(reporter)
    pre_reporter = Reporter(pre.source)
    for item in pre.items:
        if isinstance(item, (ast.NeuronDef, ast.SurrogateDef)):
            defs.add(item, "built in", pre_reporter)
            defs.sources[item.name] = pre.source
    for library in LIBRARIES:
        lib = prelude(f"{library}.snn")
        lib_reporter = Reporter(lib.source)
        for item in lib.items:
            if isinstance(item, (ast.NeuronDef, ast.SurrogateDef)):
                defs.add(item, f"the {library} library", lib_reporter, namespace=library)
                defs.sources[f"{library}.{item.name}"] = lib.source
    for imported in resolve_imports(module, reporter):
        item = imported.item
        origin = f"{imported.source.path}:{item.span.line}"
        defs.add(item, origin, Reporter(imported.source))
        defs.sources[item.name] = imported.source
    for item in module.items:
        if isinstance(item, (ast.NeuronDef, ast.SurrogateDef, ast.BlockDef)):
            defs.add(item, f"line {item.span.line}", reporter)
    return defs


def select_network(module: ast.Module, reporter: Reporter, name: str | None) -> ast.Network:
    nets = module.networks()
    if name is not None:
        for net in nets:
            if net.name == name:
                return net
        raise reporter.fail(
            "E0105",
            f"no network named '{name}' in the spec",
            None,
            did_you_mean(name, [n.name for n in nets]),
        )
    if not nets:
        raise reporter.fail(
            "E0104", "the spec defines no network", None, "add: network Name { input x: [8] ... }"
        )
    if len(nets) > 1:
        raise reporter.fail(
            "E0105",
            f"the spec defines {len(nets)} networks",
            nets[1].name_span,
            f"pick one with --network: {', '.join(n.name for n in nets)}",
        )
    return nets[0]


def _loops(nodes: list[ir.Node]) -> tuple[tuple[str, ...], ...]:
    """The recurrent parts of the node graph (cycles through a delay), in node order."""
    values = [n.value for n in nodes]
    known = set(values)
    edges = {n.value: [s for s in ir.NetworkIR.reads(n, delayed=True) if s in known] for n in nodes}
    for n in nodes:  # a neuron whose state is read runs step by step with the read
        if isinstance(n, ir.StateReadIR):
            edges[n.source].append(n.value)
    loops = [
        tuple(c) for c in topology.components(values, edges) if len(c) > 1 or c[0] in edges[c[0]]
    ]
    position = {v: i for i, v in enumerate(values)}
    return tuple(sorted(loops, key=lambda c: position[c[0]]))


def all_op_names(defs: Definitions) -> list[str]:
    return sorted([*OPS, *defs.neurons, *defs.blocks, REPEAT])


class _NetworkChecker(GraphChecks, BlockChecks, StateReads):
    def __init__(
        self,
        module: ast.Module,
        net: ast.Network,
        defs: Definitions,
        reporter: Reporter,
        overrides: Mapping[str, object],
    ):
        self.module = module
        self.net = net
        self.defs = defs
        self.reporter = reporter
        self.overrides = dict(overrides)
        self.given = tuple(ir.Binding(k, v) for k, v in self.overrides.items())
        self.values: dict[str, tuple[int, ...]] = {}
        self.nodes: list[ir.Node] = []
        self.inputs: list[ir.InputIR] = []
        self.outputs: list[ir.OutputIR] = []
        # surrogates the network spikes with -> (definition, fixed int arguments)
        self.surrogates: dict[ir.SurrogateKey, tuple[ast.SurrogateDef, tuple]] = {}
        self.assumed: list[tuple[str, tuple[int, ...], object]] = []  # delay shapes
        self.defaults: dict[str, tuple[ast.Arg, ...]] = {}  # in the scope being checked
        self.prefix = ""  # of the names in the block instance being checked
        self.path: tuple[str, ...] = ()  # the group of the block instance being checked
        self.paths: dict[str, tuple[str, ...]] = {}  # step name -> its module path
        self.placed: dict[tuple[str, ...], bool] = {}  # module path -> is a group
        self.member_kinds: dict[tuple[str, ...], bool] = {}  # group -> members numbered
        self.instantiating: list[str] = []  # the blocks being expanded, outermost first
        self.instances = 0
        self.spec_names = Namespace(RESERVED)

    def fail(self, code: str, message: str, span, hint: str | None = None) -> SpecError:
        return self.reporter.fail(code, message, span, hint)

    # ------------------------------------------------------------------ parameters
    def params(self) -> dict[str, object]:
        check_params(self.net.params, self.reporter, f"network '{self.net.name}'")
        env: dict[str, object] = {}
        for p in self.net.params:
            if p.name in self.overrides:
                env[p.name] = self.overrides.pop(p.name)
                continue
            if p.default is None:
                raise self.fail(
                    "E0202",
                    f"network parameter '{p.name}' has no default and was not set",
                    p.span,
                    f"give it a default, or pass --set {p.name}=VALUE",
                )
            env[p.name] = Evaluator(
                env, self.reporter, self.defs.call_hook, "network parameters"
            ).eval(p.default)
        for p in self.net.params:
            if p.type is None:
                continue
            try:
                env[p.name] = coerce(env[p.name], p.type)
            except TypeError as err:
                raise self.fail(
                    "E0204", f"network parameter '{p.name}': {err}", (p.default or p).span
                ) from None
        if self.overrides:
            extra = sorted(self.overrides)[0]
            raise self.fail(
                "E0202",
                f"network '{self.net.name}' has no parameter '{extra}'",
                self.net.name_span,
                did_you_mean(extra, [p.name for p in self.net.params]),
            )
        return env

    # ------------------------------------------------------------------ names
    def claim(self, name: str, span, what: str) -> None:
        problem = identifier_problem(name)
        if problem:
            raise self.fail(
                "E0101",
                problem,
                span,
                "rename it" if "reserved" in problem or "shadow" in problem else None,
            )
        if name in self.spec_names:
            raise self.fail("E0102", f"{what} '{name}' is already defined", span)
        self.spec_names.reserve(name)

    def collect_names(self) -> None:
        problem = identifier_problem(self.net.name)
        if problem:
            raise self.fail("E0101", problem, self.net.name_span)
        for stmt in self.net.body:
            if isinstance(stmt, ast.Input):
                self.claim(stmt.name, stmt.name_span, "name")
        self.check_labels(self.net.body)
        for name, span in defined_names(self.net.body):
            self.claim(name, span, "name")

    # ------------------------------------------------------------------ body
    def run(self) -> ir.NetworkIR:
        self.collect_names()
        self.env = self.params()
        defs = self.scope_body(self.net.body, lambda n: n, lambda n: n, network=True)
        self.check_delays()
        for stmt in self.net.body:
            if isinstance(stmt, ast.Output):
                if stmt.chain is None and stmt.name not in self.values:
                    raise self.fail(
                        "E0103",
                        f"undefined name '{stmt.name}'",
                        stmt.name_span,
                        did_you_mean(stmt.name, self.values),
                    )
                if any(o.name == stmt.name for o in self.outputs):
                    raise self.fail("E0102", f"'{stmt.name}' is already an output", stmt.name_span)
                self.outputs.append(ir.OutputIR(stmt.name, stmt.name, self.values[stmt.name]))
        if not self.inputs:
            raise self.fail(
                "E0106",
                f"network '{self.net.name}' has no input",
                self.net.name_span,
                "add: input x: [features]",
            )
        if not self.outputs:
            raise self.fail(
                "E0106",
                f"network '{self.net.name}' has no output",
                self.net.name_span,
                "add: output y = x -> ...",
            )
        from snndsl.syntax.formatter import format_module

        user_items = tuple(
            i for i in self.module.items if i is self.net or not isinstance(i, ast.Network)
        )
        spec_text = format_module(ast.Module(user_items))
        self.check_reachability(defs)
        loops = _loops(self.nodes)
        surrogates = tuple(
            compile_surrogate(d, self.defs, self.reporter, static)
            for _, (d, static) in sorted(self.surrogates.items(), key=_surrogate_order)
        )
        return ir.NetworkIR(
            self.net.name,
            spec_text,
            tuple(self.inputs),
            tuple(self.nodes),
            tuple(self.outputs),
            surrogates,
            self.module.source.path if self.module.source else "<spec>",
            loops,
            tuple(self.reporter.warnings),
            self.given,
        )

    def input(self, stmt: ast.Input) -> None:
        if stmt.shape is None:
            raise self.fail(
                "E0302",
                f"network input '{stmt.name}' needs a shape",
                stmt.span,
                f"input {stmt.name}: [features] (only block inputs take their instance's)",
            )
        shape = self.shape_of(stmt)
        self.values[stmt.name] = shape
        self.inputs.append(ir.InputIR(stmt.name, shape))

    def shape_of(self, stmt: ast.Input) -> tuple[int, ...]:
        dims = []
        ev = Evaluator(self.env, self.reporter, None, "a shape")
        for d in stmt.shape:
            v = ev.eval(d)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise self.fail(
                    "E0302", f"a shape dimension must be a positive int, got {describe(v)}", d.span
                )
            dims.append(v)
        if not dims:
            raise self.fail(
                "E0302",
                "an input needs at least one dimension per sample",
                stmt.span,
                "for scalar inputs write [1]",
            )
        return self.sized(tuple(dims), stmt.span, stmt.name)

    def chain(self, chain: ast.Chain, target: str) -> None:
        chain = self.read_states(chain)  # sn.v: the value of a neuron's state
        source = chain.source
        self.room(1, chain.span)
        if isinstance(source, ast.Name):
            src = source.id
            shape = self.values[src]  # topology.order: defined, and computed earlier
            if not chain.steps:
                self.add(ir.AliasIR(target, src, shape))
                self.values[target] = shape
                return
        else:
            name = self.step_name(source)
            value = target if not chain.steps else name
            shape = self.sized(self.source_node(source, value), source.span, value)
            self.values[value] = shape
            src = value
        for i, step in enumerate(chain.steps):
            last = i == len(chain.steps) - 1
            name = self.step_name(step)
            value = target if last else name
            shape = self.sized(self.step(step, name, value, src, shape), step.span, value)
            self.values[value] = shape
            src = value

    def step_name(self, step: ast.Step) -> str:
        """The value name of a step, its module path recorded in ``self.paths``: a
        label's parts (already in the instance's group), or a fresh name in the group."""
        if step.label is not None:
            path = tuple(step.label.split("."))
            name = "_".join(path)
        else:
            name = self.spec_names.numbered(self.prefix + snake_case(step.call.func))
            path = (*self.path, name.removeprefix(self.prefix))
        self.paths[name] = path
        return name

    def add(self, node: ir.Node) -> None:
        self.nodes.append(node)

    def sized(self, shape: tuple[int, ...], span, name: str) -> tuple[int, ...]:
        """``shape``, or E0030 at ``span`` when a sample of it is more than
        MAX_SAMPLE_ELEMENTS elements (a shape no tensor could hold)."""
        count = 1
        for d in shape:
            count *= d
        if count > limits.MAX_SAMPLE_ELEMENTS:
            raise self.fail(
                "E0030",
                f"'{name}' would be {list(shape)}: more than "
                f"{limits.MAX_SAMPLE_ELEMENTS:,} elements per sample",
                span,
                f"the limit is {limits.describe('MAX_SAMPLE_ELEMENTS')}",
            )
        return shape

    def room(self, count: int, span, what: str = "the network") -> None:
        """Refuse, at ``span``, ``count`` more nodes when they would pass MAX_NODES."""
        if len(self.nodes) + count > limits.MAX_NODES:
            raise self.fail(
                "E0030",
                f"{what} expands to more than {limits.MAX_NODES:,} nodes",
                span,
                f"the limit is {limits.describe('MAX_NODES')}",
            )

    def where(self, call: ast.Call) -> tuple:
        """The location a node records: the file being checked (a block's own file
        inside an instance) and the call's span."""
        return (self.reporter.source, call.span)

    def step(
        self, step: ast.Step, name: str, value: str, src: str, shape: tuple[int, ...]
    ) -> tuple[int, ...]:
        self.room(1, step.call.span)
        call = self.with_defaults(step.call)
        block = self.defs.blocks.get(call.func)
        self.place(self.paths[name], step.label_span, group=call.func == REPEAT or bool(block))
        if call.func == REPEAT:
            return self.repeat(call, name, value, src, shape)
        if block is not None:
            return self.instance(block, call, name, value, src, shape)
        op = OPS.get(call.func)
        if op is not None:
            return self.layer(op, call, name, value, src, shape)
        neuron = self.defs.neurons.get(call.func)
        if neuron is not None and neuron.parallel:
            return self.parallel(neuron, call, name, value, src, shape)
        if neuron is not None:
            return self.neuron(neuron, call, name, value, src, shape)
        if call.func in self.defs.surrogates:
            raise self.fail(
                "E0201",
                f"'{call.func}' is a surrogate function, not a layer",
                call.func_span,
                f"pass it to a neuron: LIF(surrogate={call.func}())",
            )
        raise self.fail(
            "E0201",
            f"unknown operation '{call.func}'",
            call.func_span,
            did_you_mean(call.func, all_op_names(self.defs)),
        )

    def layer(self, op, call, name, value, src, shape):
        if op.keyword_only:
            self._keyword_only(op, call, shape)
        ev = Evaluator(self.env, self.reporter, self.defs.call_hook, f"'{op.name}' arguments")
        bound = bind(call, op.params, ev, self.reporter, f"'{op.name}'", op.ndim)
        args = dict(bound.values)
        try:
            args, out = op.infer(shape, args)
        except ShapeError as err:
            span = bound.span_of(err.arg, call) if err.arg else call.span
            raise self.fail(err.code, f"{op.name}: {err}", span, err.hint) from None
        spec = f"{op.name}({self._describe_args(op, args, bound.given)})"
        if op.tensor is not None:  # a parameterless tensor operation, inline
            args = tuple(ir.Binding(key, args[key]) for key in op.ctor_params)
            self.add(
                ir.TensorOpIR(
                    name,
                    value,
                    src,
                    op.name,
                    args,
                    shape,
                    out,
                    spec,
                    path=self.paths[name],
                    where=self.where(call),
                )
            )
            return out
        if op.ctor is None:  # Dropout / Dropout2d: inline with a per-sequence mask
            channelwise = op.name == "Dropout2d"
            self.add(
                ir.DropoutIR(
                    value,
                    src,
                    args["p"],
                    channelwise,
                    shape,
                    spec,
                    name,
                    path=self.paths[name],
                    where=self.where(call),
                )
            )
            return out
        ctor_args = self._ctor_args(op, args)
        self.add(
            ir.LayerIR(
                name,
                value,
                src,
                op.name,
                ctor_args,
                shape,
                out,
                spec,
                path=self.paths[name],
                where=self.where(call),
            )
        )
        return out

    def _keyword_only(self, op, call, shape) -> None:
        """Flatten counted the batch as dimension 0 (torch's start_dim/end_dim) before
        every dimension counted per sample: its old spellings are located errors, never a
        silent renumbering."""
        for a in call.args:
            if a.name is None:
                raise self.fail(
                    "E0206",
                    f"'{op.name}' takes its arguments by name only",
                    a.span,
                    f"{op.name}(start=..., end=...): dimensions count per sample (0 is a "
                    "sample's first, never the batch); torch's Flatten(2) is Flatten(start=1)",
                )
            if a.name in FLATTEN_RENAMED:
                new = FLATTEN_RENAMED[a.name]
                old = Evaluator(self.env, self.reporter, None, "an argument").eval(a.value)
                now = f"{new}=..."
                if isinstance(old, int) and not isinstance(old, bool):
                    now = f"{new}={old - 1 if old > 0 else old}"
                raise self.fail(
                    "E0202",
                    f"'{op.name}' has no argument '{a.name}': dimensions count per sample",
                    a.name_span,
                    f"'{a.name}' counted the batch as dimension 0; write {now} "
                    "(0 is a sample's first dimension, negative ones count from the last)",
                )

    @staticmethod
    def _describe_args(op, args, given) -> str:
        parts = []
        for p in op.params:
            v = args.get(p.name)
            if p.name in given or p.inferable or (p.required and v is not None):
                parts.append(f"{p.name}={describe(v)}")
        return ", ".join(parts)

    @staticmethod
    def _ctor_args(op, args) -> tuple[ir.Binding, ...]:
        out: list[ir.Binding] = []
        by_name = {p.name: p for p in op.params}
        for key in op.ctor_params:
            p = by_name[key]
            v = args[key]
            if p.required:
                out.append(ir.Binding(None, v))
            elif v != p.default or type(v) is not type(p.default):
                out.append(ir.Binding(key, v))
        return tuple(out)

    def neuron(self, definition, call, name, value, src, shape):
        compiler = NeuronCompiler(self.defs, self.reporter, Namespace())
        result = compiler.compile(definition, call, self.env, shape)
        v_seq = None
        if compiler.store_v_seq:
            v_seq = f"{name}_v_seq"
            if v_seq in self.spec_names:
                raise self.fail(
                    "E0102",
                    f"store_v_seq records into '{v_seq}', which is already a name",
                    call.span,
                    f"rename '{v_seq}' or label this neuron differently",
                )
            self.spec_names.reserve(v_seq)
        states = tuple(
            ir.StateIR(
                s, local, ir.ParamRef(name, init.name) if isinstance(init, ir.ParamRef) else init
            )
            for s, local, init in result.states
        )
        for sv in result.surrogates:
            self._spikes_with(sv)
        bound = self._neuron_args(compiler)
        args = ", ".join(f"{k}={describe(v)}" for k, v in bound)
        params = tuple(
            ir.Binding(
                k,
                ir.SurrogateRef(v.definition.name, v.args, v.spiking)
                if isinstance(v, SurrogateValue)
                else v,
            )
            for k, v in bound
        )
        self.add(
            ir.NeuronIR(
                name,
                value,
                src,
                definition.name,
                shape,
                states,
                result.step,
                result.output,
                tuple(ir.StateUpdate(s, local) for s, local in result.final),
                f"{definition.name}({args})",
                params,
                tuple(ir.Binding(n, init) for n, _, init in result.learn),
                tuple(ir.Assignment(local, ir.ParamRef(name, n)) for n, local, _ in result.learn)
                + tuple(
                    ir.Assignment(local, ir.ParamRef(name, t.name)) for t, local in result.tensors
                ),
                v_seq,
                tuple(t for t, _ in result.tensors),
                path=self.paths[name],
                where=self.where(call),
            )
        )
        return shape

    def parallel(self, definition, call, name, value, src, shape):
        compiler = ParallelCompiler(self.defs, self.reporter, Namespace(PSN_LOCALS))
        node = compiler.compile(
            definition,
            call,
            self.env,
            attr=name,
            value=value,
            source=src,
            shape=shape,
            span=call.span,
        )
        node = replace(node, path=self.paths[name], where=self.where(call))
        self._spikes_with(compiler.fired[2])
        self.add(node)
        return shape

    def _spikes_with(self, surrogate: SurrogateValue) -> None:
        """Record a surrogate whose backward pass the network needs."""
        if surrogate.spiking:
            _, static = split_surrogate_args(surrogate)
            key = ir.SurrogateKey(surrogate.definition.name, static)
            self.surrogates[key] = (surrogate.definition, static)

    @staticmethod
    def _neuron_args(compiler: NeuronCompiler):
        # the bound arguments (a `buffer beta = beta` makes `beta` a tensor in the body)
        args = [(p.name, compiler.bound.values[p.name]) for p in compiler.definition.params]
        if compiler.store_v_seq:
            args.append(("store_v_seq", True))
        return args


def _surrogate_order(item) -> tuple:
    key = item[0]
    return (key.name, key.static)


def check_module(
    module: ast.Module, network: str | None = None, params: Mapping[str, object] | None = None
) -> ir.NetworkIR:
    """Resolve ``module`` into IR for one network; raise SpecError with diagnostics."""
    reporter = Reporter(module.source)
    defs = _definitions(module, reporter)
    for item in module.items:  # user definitions are checked even when unused
        if isinstance(item, ast.SurrogateDef):
            compile_surrogate(item, defs, reporter)
    net = select_network(module, reporter, network)
    return _NetworkChecker(module, net, defs, reporter, params or {}).run()


def check_mode(net: ir.NetworkIR, mode: str, source) -> None:
    """Raise a located E0208 when ``mode`` is 'single' and a node has no single-step form."""
    if mode != "single":
        return
    reporter = Reporter(source)
    for node in net.parallels:
        problem = single_step_problem(node)
        if problem:
            reporter.error("E0208", problem, node.span, "generate --mode multi")
    reporter.raise_if_errors()
