"""The names a generated PyTorch module gives to what the IR leaves unnamed.

The IR names only what the spec names (labels, values, outputs) and keeps locals
scoped to one neuron's equations.  A torch module also needs module attributes for the
state it keeps between calls (neuron states, dropout masks, delayed values, a parallel
neuron's queue and step counter), one ``torch.autograd.Function`` class per surrogate,
and locals that cannot clash with the helpers and locals its ``forward`` uses.  All of
them are handed out here, by :class:`snndsl.names.Namespace`, in node order, so the
result is deterministic.  The oracle and the cross-check read state through
:func:`module_names` too, so they always agree with the generated module.

The layers' modules sit at their IR module paths (``ir.module_path``): a group of
named members is an ``nn.Module()``, a numbered one an ``nn.ModuleList`` (positions no
module takes hold an ``nn.Identity()``), so ``state_dict`` keys are the paths
(``layer2.0.downsample.1.weight``); :func:`module_ref` spells the expression reaching
one (``self.layer2[0].downsample[1]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from snndsl import ir
from snndsl.names import GENERATED_HELPERS, NN_MODULE_PRIVATE, RESERVED, Namespace

# Locals the parallel-neuron blocks of forward() use (besides GENERATED_HELPERS).
PARALLEL_LOCALS = frozenset({"_p", "_h", "_w", "_row", "_queue", "_t", "_xs", "_spike"})


def code_name(name: str) -> str:
    """A definition's name as part of a Python identifier: ``snntorch.ATan`` ->
    ``snntorch_ATan`` (library definitions are named with their namespace)."""
    return name.replace(".", "_")


def surrogate_class(key: ir.SurrogateKey) -> str:
    """``_ATan``; a surrogate with int parameters gets one class per their values."""
    suffix = "".join(f"_{k}{v}".replace("-", "m") for k, v in key.static)
    return f"_{code_name(key.name)}{suffix}"


@dataclass(frozen=True)
class Group:
    """A group of layers in the generated module: ``size`` positions (an
    ``nn.ModuleList``), or named members (``size`` None: an ``nn.Module()``)."""

    path: tuple[str, ...]
    size: int | None


def module_ref(path: tuple[str, ...]) -> str:
    """The expression reaching the module at ``path``: ``self.layer2[0].downsample[1]``."""
    return "self" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in path)


# the nodes that record where their step sits in groups
_PLACED = (ir.LayerIR, ir.NeuronIR, ir.ParallelIR, ir.TensorOpIR, ir.DropoutIR)


def owns_module(node: ir.Node) -> bool:
    """Whether the generated module keeps a submodule for ``node``: a layer, a neuron
    layer with parameters or buffers, a parallel neuron."""
    if isinstance(node, ir.NeuronIR):
        return bool(node.learn or node.tensors)
    return isinstance(node, (ir.LayerIR, ir.ParallelIR))


def module_groups(net: ir.NetworkIR) -> tuple[Group, ...]:
    """Every group some module sits in, in order of first use (a group before its
    members); a numbered group is as long as its last position, so a step that holds
    no module (Flatten, Dropout, VotingLayer, a neuron without parameters) keeps its
    index, an ``nn.Identity()``, as in torch's Sequential."""
    sizes: dict[tuple[str, ...], int | None] = {}
    for node in net.nodes:
        if not owns_module(node):
            continue
        path = ir.module_path(node)
        for i in range(1, len(path)):
            sizes.setdefault(path[:i], 0 if path[i].isdigit() else None)
    for node in net.nodes:
        path = node.path if isinstance(node, _PLACED) else ()
        for i in range(1, len(path)):
            size = sizes.get(path[:i])
            if size is not None:
                sizes[path[:i]] = max(size, int(path[i]) + 1)
    return tuple(Group(path, size) for path, size in sizes.items())


@dataclass(frozen=True)
class ModuleNames:
    """Attribute and class names of one generated module (both forms use the same)."""

    surrogates: dict[ir.SurrogateKey, str]  # surrogate -> autograd.Function class
    states: dict[tuple[str, str], str]  # (neuron label, state) -> attribute
    masks: dict[str, str]  # dropout value -> attribute holding its mask
    delays: dict[str, str]  # delay value -> attribute holding the previous step
    queues: dict[str, str]  # parallel neuron label -> attribute holding past inputs
    steps: dict[str, str]  # parallel neuron label -> attribute counting its steps
    strict: dict[ir.SurrogateKey, str] = field(default_factory=dict)  # strict variants
    modules: dict[str, str] = field(default_factory=dict)  # layer attr -> its module
    groups: tuple[Group, ...] = ()  # the groups holding modules, outermost first

    def state(self, neuron: ir.NeuronIR, state: str) -> str:
        return self.states[(neuron.attr, state)]


def module_names(net: ir.NetworkIR) -> ModuleNames:
    """Every generated attribute and class name of ``net``'s modules."""
    attrs = Namespace(RESERVED | NN_MODULE_PRIVATE)
    modules: dict[str, str] = {}
    for node in net.nodes:  # spec names stay what they are
        if isinstance(node, (ir.LayerIR, ir.NeuronIR, ir.ParallelIR)):
            attrs.reserve(node.attr)
            attrs.reserve(ir.module_path(node)[0])
            modules[node.attr] = module_ref(ir.module_path(node))
        if isinstance(node, ir.NeuronIR) and node.v_seq:
            attrs.reserve(node.v_seq)
    states: dict[tuple[str, str], str] = {}
    masks: dict[str, str] = {}
    delays: dict[str, str] = {}
    queues: dict[str, str] = {}
    steps: dict[str, str] = {}
    for node in net.nodes:
        if isinstance(node, ir.DropoutIR):
            masks[node.value] = attrs.fresh(f"_{node.label}_mask")
        elif isinstance(node, ir.NeuronIR):
            for s in node.states:
                states[(node.attr, s.name)] = attrs.fresh(f"_{node.attr}_{s.name}")
        elif isinstance(node, ir.ParallelIR):
            queues[node.attr] = attrs.fresh(f"_{node.attr}_queue")
            steps[node.attr] = attrs.fresh(f"_{node.attr}_time_step")
        elif isinstance(node, ir.DelayIR):
            delays[node.value] = attrs.fresh(f"_{node.value}_prev")
    classes = Namespace(GENERATED_HELPERS | {net.name})
    surrogates = {s.key: classes.fresh(surrogate_class(s.key)) for s in net.surrogates}
    used = strict_spikes(net)
    strict = {
        s.key: classes.fresh(surrogate_class(s.key) + "_strict")
        for s in net.surrogates
        if s.key in used
    }
    return ModuleNames(
        surrogates, states, masks, delays, queues, steps, strict, modules, module_groups(net)
    )


def strict_spikes(net: ir.NetworkIR) -> set[ir.SurrogateKey]:
    """The surrogates some neuron of ``net`` spikes with strictly (``fire a > b``)."""
    found: set[ir.SurrogateKey] = set()

    def visit(e: ir.PyExpr) -> ir.PyExpr:
        if isinstance(e, ir.Spike) and e.strict:
            found.add(e.surrogate)
        return ir.map_children(e, visit)

    for node in net.nodes:
        if isinstance(node, ir.NeuronIR):
            exprs = [a.value for a in node.step]
        elif isinstance(node, ir.ParallelIR):
            exprs = [a.value for a in node.spike_steps] + [node.spike]
        else:
            continue
        for e in exprs:
            visit(e)
    return found


def _node_locals(node: ir.NeuronIR | ir.ParallelIR) -> list[str]:
    """The locals of a node's equations, in order of first appearance."""
    names: list[str] = []
    if isinstance(node, ir.NeuronIR):
        names += [s.local for s in node.states]
        assignments = node.setup + node.step
    else:
        assignments = node.setup + node.spike_steps
    for a in assignments:
        names.append(a.target)
        names += sorted(ir.locals_used(a.value))
    return list(dict.fromkeys(names))


def respell_locals(node: ir.Node, taken: frozenset[str]) -> ir.Node:
    """``node`` with each local of its equations that clashes with ``taken`` (the names
    the module's code uses around them) given a fresh name."""
    if not isinstance(node, (ir.NeuronIR, ir.ParallelIR)):
        return node
    own = _node_locals(node)
    clashing = [n for n in own if n in taken]
    if not clashing:
        return node
    ns = Namespace(taken | set(own))
    names = {n: ns.fresh(n) for n in clashing}

    def steps(assignments: tuple[ir.Assignment, ...]) -> tuple[ir.Assignment, ...]:
        return tuple(
            ir.Assignment(names.get(a.target, a.target), ir.rename_locals(a.value, names))
            for a in assignments
        )

    if isinstance(node, ir.ParallelIR):
        return replace(
            node,
            setup=steps(node.setup),
            spike_steps=steps(node.spike_steps),
            spike=ir.rename_locals(node.spike, names),
            matrix=None if node.matrix is None else ir.rename_locals(node.matrix, names),
        )
    return replace(
        node,
        states=tuple(replace(s, local=names.get(s.local, s.local)) for s in node.states),
        step=steps(node.step),
        setup=steps(node.setup),
        output=names.get(node.output, node.output),
        final=tuple(replace(f, local=names.get(f.local, f.local)) for f in node.final),
    )
