"""Checks for the parts of the language that scale a network: blocks, repeat, defaults,
and the groups (module paths) labels put layers in.

A mixin of the network checker (:mod:`snndsl.semantics.checker`).  A ``block`` is instantiated as a
chain step, ``x -> b1: Basic(64)``: its body is checked in place with its parameters
bound, its input standing for the step's input and its output for the step's value.
The instance is a group of layers: its layers sit in it (module path ``b1.conv1``), and
every value name inside gets the instance name as a prefix (``b1_conv1``), so names stay
unique; blocks nest (``b1.down.conv``).  ``repeat(n, Block(...))`` chains n instances in a
numbered group (``stage.0`` .. ``stage.<n-1>``, values ``stage_0`` ..).  A dotted label
(``layer2.0: Down(128)``, ``conv_fc.3: MaxPool2d(2, 2)``) places a step in groups by hand;
its value is named with ``_`` for ``.``.  A group's members are all named or all
numbered (a numbered group is a list: positions from 0).  ``defaults Op(k=v)`` gives
every call of Op in its scope, and in the blocks that scope instantiates, the keyword
arguments it does not give itself (an inner scope's defaults win over an outer one's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from snndsl import limits
from snndsl.diagnostics import did_you_mean
from snndsl.names import identifier_problem
from snndsl.semantics import topology
from snndsl.semantics.catalogue import OPS
from snndsl.semantics.evaluate import Evaluator, describe
from snndsl.semantics.signature import bind
from snndsl.syntax import ast

REPEAT = "repeat"


def flat(label: str) -> str:
    """The value name of a step labelled ``label``: ``layer2.0`` -> ``layer2_0``."""
    return label.replace(".", "_")


def rename_chain(chain: ast.Chain, rn: Callable[[str], str], rl: Callable[[str], str]) -> ast.Chain:
    """``chain`` with every value name it defines or reads passed through ``rn``, and
    every label through ``rl`` (step arguments are parameter expressions, not value
    names, and stay as they are)."""
    source = chain.source
    if isinstance(source, ast.Name):
        new_source: ast.Name | ast.Step = replace(source, id=rn(source.id))
    else:
        values = {id(a) for a in topology.value_args(source.call)}
        args = tuple(_rename_arg(a, rn) if id(a) in values else a for a in source.call.args)
        label = rl(source.label) if source.label is not None else None
        new_source = replace(source, call=replace(source.call, args=args), label=label)
    steps = tuple(replace(s, label=rl(s.label)) if s.label is not None else s for s in chain.steps)
    return replace(chain, source=new_source, steps=steps)


def _rename_arg(arg: ast.Arg, rn) -> ast.Arg:
    value = arg.value
    if isinstance(value, ast.Name):
        return replace(arg, value=replace(value, id=rn(value.id)))
    if isinstance(value, ast.Call) and value.func == topology.DELAY:
        inner = tuple(_rename_arg(a, rn) if a.name is None else a for a in value.args)
        return replace(arg, value=replace(value, args=inner))
    return arg


def defined_names(body) -> list[tuple[str, object]]:
    """(name, span) of every value a network or block body names: assigned and output
    names, source and step labels (a dotted label's value: ``layer2.0`` -> ``layer2_0``)."""
    out: list[tuple[str, object]] = []
    for stmt in body:
        if isinstance(stmt, ast.Output) and stmt.chain is None:
            continue
        if not isinstance(stmt, (ast.Assign, ast.Output)):
            continue
        out.append((stmt.name, stmt.name_span))
        chain = stmt.chain
        if isinstance(chain.source, ast.Step) and chain.source.label is not None:
            out.append((flat(chain.source.label), chain.source.label_span))
        out.extend((flat(s.label), s.label_span) for s in chain.steps if s.label is not None)
    return out


def labels(body) -> list[tuple[str, object]]:
    """(label, span) of every labelled step of a network or block body, in order."""
    out: list[tuple[str, object]] = []
    for stmt in body:
        if isinstance(stmt, (ast.Assign, ast.Output)) and stmt.chain is not None:
            source = stmt.chain.source
            if isinstance(source, ast.Step) and source.label is not None:
                out.append((source.label, source.label_span))
            out.extend((s.label, s.label_span) for s in stmt.chain.steps if s.label is not None)
    return out


class BlockChecks:
    """Methods of the network checker for scopes, block instances, repeat and defaults."""

    # ------------------------------------------------------------------ scopes
    def scope_body(self, body, rn: Callable[[str], str], rl, network: bool) -> dict:
        """Check a network or block body; its chains, by their defined (renamed) name."""
        saved = self.defaults
        merged = dict(self.defaults)
        for func, args in self.scope_defaults(body).items():
            names = {a.name for a in args}
            merged[func] = (*(a for a in merged.get(func, ()) if a.name not in names), *args)
        self.defaults = merged
        defs: dict[str, ast.Chain] = {}
        for stmt in body:
            if isinstance(stmt, ast.Input) and network:
                self.input(stmt)
            elif isinstance(stmt, (ast.Assign, ast.Output)) and stmt.chain is not None:
                chain = stmt.chain if network else rename_chain(stmt.chain, rn, rl)
                defs[rn(stmt.name)] = chain
        plan = topology.order(defs, set(self.values), self.reporter)
        for name in plan.order:
            self.chain(defs[name], name)
        self.defaults = saved
        return defs

    def scope_defaults(self, body) -> dict[str, tuple[ast.Arg, ...]]:
        out: dict[str, tuple[ast.Arg, ...]] = {}
        for stmt in body:
            if not isinstance(stmt, ast.Defaults):
                continue
            call = stmt.call
            if self.param_specs(call.func) is None:
                raise self.fail(
                    "E0201",
                    f"defaults for unknown operation '{call.func}'",
                    call.func_span,
                    did_you_mean(call.func, [*OPS, *self.defs.neurons, *self.defs.blocks]),
                )
            for a in call.args:
                if a.name is None:
                    raise self.fail(
                        "E0204", "defaults are keyword arguments: defaults LIF(tau=2.0)", a.span
                    )
            if call.func in out:
                raise self.fail("E0205", f"defaults for '{call.func}' given twice", call.span)
            out[call.func] = call.args
        return out

    def param_specs(self, func: str):
        """The parameters of an operation in order, or None when it is unknown."""
        if func in OPS:
            return OPS[func].params
        definition = self.defs.neurons.get(func) or self.defs.blocks.get(func)
        if definition is None:
            return None
        return self.defs.signature(definition, self.reporter)

    def with_defaults(self, call: ast.Call) -> ast.Call:
        """``call`` plus the scope's defaults for its operation that it does not give.

        A default never changes what a positional argument means: the parameters the
        call's positional arguments bind without defaults (as :func:`signature.bind`
        maps them) keep them."""
        extra = self.defaults.get(call.func)
        if not extra:
            return call
        explicit = {a.name for a in call.args if a.name is not None}
        count = sum(1 for a in call.args if a.name is None)
        free = [p for p in self.param_specs(call.func) if p.name not in explicit]
        needed = [p for p in free if p.required]
        if count < len(needed):  # bind leaves inferable parameters out from the front
            skipped = {p.name for p in [p for p in needed if p.inferable][: len(needed) - count]}
            free = [p for p in free if p.name not in skipped]
        covered = {p.name for p in free[:count]}
        added = tuple(a for a in extra if a.name not in explicit and a.name not in covered)
        return replace(call, args=(*call.args, *added)) if added else call

    # ------------------------------------------------------------------ groups
    def check_labels(self, body) -> None:
        """E0110 at the second of two steps of one body with the same dotted label."""
        seen: set[str] = set()
        for label, span in labels(body):
            if "." in label and label in seen:
                group = label.rsplit(".", 1)[0]
                raise self.fail(
                    "E0110",
                    f"'{label}' labels two steps: group '{group}' has one member of each name",
                    span,
                    "give the second step its own position or name",
                )
            seen.add(label)

    def place(self, path: tuple[str, ...], span, group: bool) -> None:
        """Record the module path of a step: a layer (``group`` False) or a group of
        layers (a block instance, a repeat).  Every part a name that can be an attribute
        or a position written plainly; a layer never holds a group; a group's members
        are all named or all numbered."""
        dotted = ".".join(path)
        for part in path:
            if part.isdigit():
                if len(part) > 1 and part[0] == "0":
                    raise self.fail(
                        "E0112",
                        f"'{dotted}': position '{part}' is written with a leading zero",
                        span,
                        f"write {int(part)}: a numbered group's positions are 0, 1, 2, ...",
                    )
                if int(part) >= limits.MAX_NODES:
                    raise self.fail(
                        "E0112",
                        f"'{dotted}': position {part} is past any network's size",
                        span,
                        f"the limit is {limits.describe('MAX_NODES')}",
                    )
            else:
                problem = identifier_problem(part)
                if problem:
                    raise self.fail("E0101", f"'{dotted}': {problem}", span, "rename it")
        for i in range(1, len(path)):
            head = path[:i]
            if self.placed.get(head) is False:
                raise self.fail(
                    "E0111",
                    f"'{'.'.join(head)}' is a layer, so '{dotted}' cannot be in it",
                    span,
                    "give the layer or the group another name",
                )
            numbered = path[i].isdigit()
            kind = self.member_kinds.setdefault(head, numbered)
            if kind != numbered:
                what = "numbered" if kind else "named"
                raise self.fail(
                    "E0112",
                    f"'{dotted}': group '{'.'.join(head)}' has {what} members, "
                    f"so '{path[i]}' cannot be one",
                    span,
                    "a group's members are all positions (0, 1, ...) or all names",
                )
        previous = self.placed.get(path)
        if previous is not None or path in self.member_kinds:
            held = "a layer" if previous is False else "a group of layers"
            raise self.fail(
                "E0110" if previous is False and not group else "E0111",
                f"'{dotted}' is already {held}",
                span,
                "give the layer or the group another name",
            )
        self.placed[path] = group

    # ------------------------------------------------------------------ instances
    def instance(self, block: ast.BlockDef, call, name, value, src, shape):
        """A block instance: its body checked in place, its layers in the group
        ``self.paths[name]``."""
        if block.name in self.instantiating:
            path = " -> ".join([*self.instantiating, block.name])
            raise self.fail(
                "E0109", f"block '{block.name}' instantiates itself ({path})", call.func_span
            )
        self.instances += 1
        if self.instances > limits.MAX_BLOCK_INSTANCES:
            raise self.fail(
                "E0030",
                f"the network expands to more than {limits.MAX_BLOCK_INSTANCES:,} blocks",
                call.span,
                f"the limit is {limits.describe('MAX_BLOCK_INSTANCES')}",
            )
        if len(self.instantiating) >= limits.MAX_BLOCK_DEPTH:
            raise self.fail(
                "E0030",
                f"blocks nest more than {limits.MAX_BLOCK_DEPTH} deep here",
                call.span,
                f"the limit is {limits.describe('MAX_BLOCK_DEPTH')}",
            )
        outer_source = self.reporter.source
        sig = self.defs.signature(block, self.reporter)
        ev = Evaluator(self.env, self.reporter, self.defs.call_hook, f"'{block.name}' arguments")
        bound = bind(call, sig, ev, self.reporter, f"block '{block.name}'")
        inputs = [s for s in block.body if isinstance(s, ast.Input)]
        outputs = [s for s in block.body if isinstance(s, ast.Output)]
        if len(inputs) != 1 or len(outputs) != 1:
            raise self.fail(
                "E0206",
                f"block '{block.name}' has {len(inputs)} inputs and {len(outputs)} outputs; "
                "a chain step needs one of each",
                call.span,
            )
        (inp,), (out,) = inputs, outputs
        self.reporter.source = self.defs.sources.get(block.name, outer_source)
        saved = (self.env, self.prefix, self.path)
        self.env, self.prefix, self.path = dict(bound.values), f"{name}_", self.paths[name]
        try:
            if out.chain is not None and out.name == inp.name:
                raise self.fail(
                    "E0102",
                    f"block '{block.name}' computes its output '{out.name}' under the name "
                    "of its input",
                    out.name_span,
                    "give the output another name",
                )
            if inp.shape is not None:
                declared = self.shape_of(inp)
                if declared != shape:
                    raise self.fail(
                        "E0301",
                        f"block '{block.name}' takes {list(declared)}, got {list(shape)}",
                        inp.span,
                    )
            local = {n for n, _ in defined_names(block.body)}
            for stmt in block.body:
                if isinstance(stmt, (ast.Assign, ast.Output)) and stmt.chain is not None:
                    for r in topology.reads(stmt.chain):
                        if r.name not in local and r.name != inp.name:
                            raise self.fail(
                                "E0103",
                                f"undefined name '{r.name}' in block '{block.name}'",
                                r.span,
                                did_you_mean(r.name, [*local, inp.name]),
                            )

            def rn(n: str) -> str:
                if n == inp.name:
                    return src
                if n == out.name:
                    return value
                return self.prefix + n

            self.check_labels(block.body)
            for n, span in defined_names(block.body):
                if n != out.name:
                    self.claim(rn(n), span, f"name (in block instance '{name}')")
            self.instantiating.append(block.name)
            group = self.path

            def rl(label: str) -> str:
                return ".".join((*group, label))

            self.scope_body(block.body, rn, rl, network=False)
            self.instantiating.pop()
            if out.chain is None:  # `output y` names a value of the block
                if out.name not in local and out.name != inp.name:
                    raise self.fail("E0103", f"undefined name '{out.name}'", out.name_span)
                from snndsl import ir

                self.add(ir.AliasIR(value, rn(out.name), self.values[rn(out.name)]))
                self.values[value] = self.values[rn(out.name)]
        finally:
            self.env, self.prefix, self.path = saved
            self.reporter.source = outer_source
        return self.values[value]

    def repeat(self, call: ast.Call, name, value, src, shape):
        """``repeat(n, Op(...))``: n steps of Op in a row, in the numbered group
        ``self.paths[name]``, their values named ``<name>_0`` ..."""
        positional = [a for a in call.args if a.name is None]
        if len(positional) != 2 or len(call.args) != 2:
            raise self.fail("E0206", "repeat takes (count, operation)", call.span)
        count = Evaluator(self.env, self.reporter, None, "repeat").eval(positional[0].value)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise self.fail(
                "E0207",
                f"repeat count must be an int of at least 1, got {describe(count)}",
                positional[0].value.span,
            )
        inner = positional[1].value
        if isinstance(inner, ast.Name):
            inner = ast.Call(inner.id, (), inner.span, inner.span)
        if not isinstance(inner, ast.Call) or inner.func == REPEAT:
            raise self.fail("E0204", "repeat's second argument is an operation", inner.span)
        # every step adds a node at least; after the first, each adds as many as it did
        self.room(count, call.span, f"repeat({count}, ...)")
        before = len(self.nodes)
        for i in range(count):
            if i == 1:
                self.room((count - 1) * (len(self.nodes) - before), call.span, "this repeat")
            sub = f"{name}_{i}"
            self.claim(sub, call.span, "name")
            self.paths[sub] = (*self.paths[name], str(i))
            sub_value = value if i == count - 1 else sub
            step = ast.Step(inner, sub, call.span, call.span)
            shape = self.step(step, sub, sub_value, src, shape)
            self.values[sub_value] = shape
            src = sub_value
        return shape
