"""Checks for the graph parts of a network: merges, delays and reachability.

A mixin of the network checker (:mod:`snndsl.semantics.checker`): it turns chain sources
that are merges (``Add(a, b)``, ``Mul``, ``Cat(..., dim=d)``, ``SEW(a, b, "ADD")``,
``MatMul(a, b)``) or delays (``delay(h)``, ``delay(h, shape=[...])``) into IR nodes with
inferred shapes, checks that the shapes a delay was assumed to have hold once its source
is computed, that every output depends on an input (E0108), and warns about values no
output uses (W0101).
"""

from __future__ import annotations

from dataclasses import dataclass

from snndsl import ir
from snndsl.diagnostics import did_you_mean
from snndsl.semantics import topology
from snndsl.semantics.catalogue import OPS, ShapeError, sample_dim
from snndsl.semantics.evaluate import Evaluator, describe
from snndsl.syntax import ast


@dataclass(frozen=True)
class MergeOp:
    kind: str
    options: tuple[str, ...]


# Merges start a chain: Add(a, b) -> ...; SEW is SEW-ResNet's connect function.
MERGES = {
    "Add": MergeOp("add", ()),
    "Mul": MergeOp("mul", ()),
    "Cat": MergeOp("cat", ("dim",)),
    "SEW": MergeOp("sew", ("cnf",)),
    "MatMul": MergeOp("matmul", ()),
}
SEW_FUNCTIONS = ("ADD", "AND", "IAND")


def _dims(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


class GraphChecks:
    """Methods of the network checker for merges, delays and reachability."""

    # ------------------------------------------------------------------ graph sources
    def source_node(self, source: ast.Step, value: str) -> tuple[int, ...]:
        call = source.call
        if call.func == topology.DELAY:
            return self.delay(call, value, None)
        if call.func in MERGES:
            return self.merge(source, value)
        hint = "a chain starts with a name, a merge (Add, Mul, Cat, SEW, MatMul) or delay(name)"
        if call.func in OPS or call.func in self.defs.neurons:
            hint = f"start the chain with its input: x -> {call.func}(...)"
        raise self.fail(
            "E0201",
            f"'{call.func}' cannot start a chain",
            call.func_span,
            did_you_mean(call.func, [*MERGES, topology.DELAY]) or hint,
        )

    def delay(self, call: ast.Call, value: str, like) -> tuple[int, ...]:
        """``delay(h)`` or ``delay(h, shape=[...])``; ``like`` is the shape the context
        implies (the other operands of an element-wise merge), if any."""
        positional = [a for a in call.args if a.name is None]
        extra = [a for a in call.args if a.name not in (None, "shape")]
        if extra:
            raise self.fail(
                "E0202",
                f"delay has no argument '{extra[0].name}'",
                extra[0].span,
                "delay(name) or delay(name, shape=[...])",
            )
        if len(positional) != 1 or not isinstance(positional[0].value, ast.Name):
            raise self.fail("E0204", "delay takes the name of a value: delay(h)", call.span)
        target = positional[0].value
        declared = None
        for a in call.args:
            if a.name == "shape":
                v = Evaluator(self.env, self.reporter, None, "a shape").eval(a.value)
                if not (
                    isinstance(v, tuple)
                    and v
                    and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in v)
                ):
                    raise self.fail(
                        "E0302", "a delay shape is a list of positive ints", a.value.span
                    )
                declared = v
        shape = self.values.get(target.id) or declared or like
        if shape is None:
            raise self.fail(
                "E0301",
                f"cannot tell the shape of delay({target.id}) before '{target.id}' is computed",
                call.span,
                f"give it: delay({target.id}, shape=[...])",
            )
        if declared is not None and declared != shape:
            raise self.fail(
                "E0301",
                f"delay({target.id}) is declared {_dims(declared)}, but '{target.id}' is "
                f"{_dims(shape)}",
                call.span,
            )
        self.assumed.append((target.id, shape, call.span))
        self.add(ir.DelayIR(value, target.id, shape, f"delay({target.id})", where=self.where(call)))
        return shape

    def check_delays(self) -> None:
        for name, shape, span in self.assumed:
            if self.values[name] != shape:
                raise self.fail(
                    "E0301",
                    f"delay({name}) was taken as {_dims(shape)} here, but '{name}' is "
                    f"{_dims(self.values[name])}",
                    span,
                    f"write delay({name}, shape={list(self.values[name])})",
                )

    def merge(self, source: ast.Step, value: str) -> tuple[int, ...]:
        call = source.call
        op = MERGES[call.func]
        kwargs = {a.name: a for a in call.args if a.name is not None}
        for key, a in kwargs.items():
            if key not in op.options:
                raise self.fail(
                    "E0202",
                    f"'{call.func}' has no argument '{key}'",
                    a.span,
                    did_you_mean(key, op.options)
                    or (f"its options: {', '.join(op.options)}" if op.options else None),
                )
        positional = [a for a in call.args if a.name is None]
        ev = Evaluator(self.env, self.reporter, None, f"'{call.func}' arguments")
        cnf = None
        if op.kind == "sew":
            if len(positional) == 3 and "cnf" not in kwargs:
                cnf_arg = positional.pop()
            else:
                cnf_arg = kwargs.get("cnf")
            cnf = ev.eval(cnf_arg.value) if cnf_arg is not None else "ADD"
            if cnf not in SEW_FUNCTIONS:
                span = cnf_arg.value.span if cnf_arg is not None else call.span
                raise self.fail(
                    "E0207",
                    f"SEW connects with 'ADD', 'AND' or 'IAND', got {describe(cnf)}",
                    span,
                )
        pair = op.kind in ("sew", "matmul")
        if len(positional) < 2 or (pair and len(positional) != 2):
            count = "two values" if pair else "at least two values"
            raise self.fail("E0206", f"'{call.func}' merges {count}", call.span)
        known = [self.values[a.value.id] for a in positional if isinstance(a.value, ast.Name)]
        like = known[0] if known and op.kind not in ("cat", "matmul") else None
        names, shapes = [], []
        for a in positional:
            if isinstance(a.value, ast.Name):
                names.append(a.value.id)
                shapes.append(self.values[a.value.id])
            elif isinstance(a.value, ast.Call) and a.value.func == topology.DELAY:
                inner = self.spec_names.numbered("delay")
                shapes.append(self.delay(a.value, inner, like))
                self.values[inner] = shapes[-1]
                names.append(inner)
            else:
                raise self.fail("E0204", "merge arguments are names or delay(name)", a.value.span)
        dim = None
        if op.kind == "matmul":
            shape = self._matmul_shape(call, names, shapes)
        elif op.kind == "cat":
            dim = ev.eval(kwargs["dim"].value) if "dim" in kwargs else 0
            ndim = len(shapes[0])
            try:
                dim = sample_dim(dim, ndim, "dim", shapes[0])
            except ShapeError as err:
                span = kwargs["dim"].value.span if "dim" in kwargs else call.span
                raise self.fail(err.code, f"Cat: {err}", span, err.hint) from None
            rest = [s[:dim] + s[dim + 1 :] for s in shapes]
            if any(len(s) != ndim for s in shapes) or any(r != rest[0] for r in rest):
                raise self.fail(
                    "E0301",
                    f"Cat along dim {dim} needs the other dimensions equal, got "
                    + ", ".join(f"{_dims(s)} ({n})" for s, n in zip(shapes, names)),
                    call.span,
                )
            out = list(shapes[0])
            out[dim] = sum(s[dim] for s in shapes)
            shape = tuple(out)
        else:
            if any(s != shapes[0] for s in shapes):
                raise self.fail(
                    "E0301",
                    f"{call.func} needs equal shapes, got "
                    + ", ".join(f"{_dims(s)} ({n})" for s, n in zip(shapes, names)),
                    call.span,
                )
            shape = shapes[0]
        args = ", ".join(names)
        if op.kind == "cat":
            args += f", dim={dim}"
        if op.kind == "sew":
            args += f', "{cnf}"'
        self.add(
            ir.MergeIR(
                value,
                tuple(names),
                op.kind,
                cnf,
                dim,
                shape,
                f"{call.func}({args})",
                call.func,
                where=self.where(call),
            ),
        )
        return shape

    def _matmul_shape(self, call: ast.Call, names: list[str], shapes: list) -> tuple[int, ...]:
        """``[*B, m, k] @ [*B, k, n] -> [*B, m, n]`` over per-sample dimensions."""
        (a, b), (na, nb) = shapes, names
        if len(a) < 2 or len(b) < 2:
            short = na if len(a) < 2 else nb
            raise self.fail(
                "E0301",
                f"MatMul multiplies matrices: '{short}' is {_dims(a if short == na else b)} "
                "per sample, it needs at least two dimensions",
                call.span,
                "Reshape it to [..., m, k] first",
            )
        if len(a) != len(b) or a[:-2] != b[:-2] or a[-1] != b[-2]:
            raise self.fail(
                "E0301",
                f"MatMul({na}, {nb}) needs [*B, m, k] and [*B, k, n], got {_dims(a)} and "
                f"{_dims(b)}",
                call.span,
                "the leading dimensions must be equal and a's last must be b's second-last; "
                "Transpose(-2, -1) swaps the last two",
            )
        return (*a[:-1], b[-1])

    def check_reachability(self, defs: dict[str, ast.Chain]) -> None:
        """Outputs must depend on an input; values no output uses get a warning."""
        producer = {n.value: n for n in self.nodes}
        reads: dict[str, tuple[str, ...]] = {}
        for n in self.nodes:
            reads[n.value] = ir.NetworkIR.reads(n, delayed=True)
        inputs = {i.name for i in self.inputs}

        def closure(start: str) -> set[str]:
            seen, todo = set(), [start]
            while todo:
                v = todo.pop()
                if v in seen:
                    continue
                seen.add(v)
                todo.extend(reads.get(v, ()))
            return seen

        used: set[str] = set()
        for o in self.outputs:
            ancestors = closure(o.source)
            used |= ancestors
            if not ancestors & inputs:
                stmt = next(
                    s for s in self.net.body if isinstance(s, ast.Output) and s.name == o.name
                )
                raise self.fail(
                    "E0108",
                    f"output '{o.name}' is not computed from any input",
                    stmt.name_span,
                    "every output must depend on an input of the network",
                )
        spans = {s.name: s.name_span for s in self.net.body if hasattr(s, "name_span")}
        for name in [*[i.name for i in self.inputs], *defs]:
            if name not in used and name in spans and name not in {o.name for o in self.outputs}:
                if name in producer or name in inputs:
                    self.reporter.warn(
                        "W0101",
                        f"'{name}' is computed but no output uses it",
                        spans[name],
                        f"remove it, or make it an output: output {name}",
                    )
