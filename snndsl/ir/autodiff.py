"""Reverse-mode differentiation of a neuron's step, symbolically, on the IR.

A neuron step is straight-line code: IR assignments over the input ``x``, the state
variables, the learnable parameters and temporaries.  :func:`derive` turns it into the
backward pass of one time step, as IR assignments the code generator prints:

1. the step is renamed into single-assignment form (a state read before its reset and
   written by it become two names);
2. the forward is recomputed from the saved state with the spike as the plain Heaviside
   step (the surrogate's forward, bit for bit);
3. adjoints flow back through every assignment with the derivative of each node kind:
   arithmetic, the tensor functions of :mod:`snndsl.backends.torch.printer`, ``where``
   and the clamps
   (torch's subgradient conventions), comparisons and ``detach`` (zero), and the spike,
   whose derivative is its surrogate gradient (``<Surrogate>.gradient(arg, *params)``).

:mod:`snndsl.backends.torch.fused`
keeps only what the backward needs between the passes (for LIF, the
charged potential of each step).  Parameters are scalars broadcast over the layer, so
their adjoint is summed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from snndsl import ir

ZERO = ir.Const(0.0)
ONE = ir.Const(1.0)


class NotDifferentiable(Exception):
    """A step uses a node this module has no derivative for (the caller falls back)."""


@dataclass(frozen=True)
class Backward:
    """One time step's backward pass.

    ``recompute`` and ``adjoint`` are assignments in order; before them the generated code
    binds ``x`` and the saved states (by their step local names) and the incoming
    adjoints: ``grad_output`` (of the step's output) and ``grad<state local>`` (of each
    state's value after the step, e.g. ``grad_v``).  Afterwards ``grad_x`` names the adjoint of the
    input, ``grad_state_inputs`` that of each state before the step, ``grad_params`` that
    of each parameter local (a tensor to sum), each None when it is zero.
    """

    recompute: tuple[ir.Assignment, ...]
    origin: tuple[int | None, ...]  # per recompute line: the step line it repeats, or None
    step_targets: tuple[str, ...]  # the forward step's targets, by line
    adjoint: tuple[ir.Assignment, ...]
    grad_x: str | None
    grad_state_inputs: dict[str, str | None]
    grad_params: dict[str, str | None]


def heaviside(arg: ir.PyExpr, strict: bool = False) -> ir.PyExpr:
    """The spike's forward value, printed as the surrogate classes compute it."""
    return ir.AsFloat(ir.Compare(">" if strict else ">=", arg, ir.Const(0)), arg)


def _is_zero(e: ir.PyExpr) -> bool:
    return isinstance(e, ir.Const) and e.value == 0 and not isinstance(e.value, bool)


def _mul(a: ir.PyExpr, b: ir.PyExpr) -> ir.PyExpr:
    if b == ONE:
        return a
    return ir.BinOp("*", a, b)


class _Adjoints:
    """Accumulates contributions to adjoints and emits them as assignments."""

    def __init__(self, ns):
        self.ns = ns
        self.parts: dict[str, list[ir.PyExpr]] = {}
        self.out: list[ir.Assignment] = []

    def add(self, name: str, value: ir.PyExpr) -> None:
        self.parts.setdefault(name, []).append(value)

    def total(self, name: str) -> str | None:
        """Emit the sum of ``name``'s contributions (in arrival order) as one local."""
        parts = self.parts.pop(name, [])
        if not parts:
            return None
        expr = parts[0]
        for p in parts[1:]:  # a + -(b) is written a - b
            expr = (
                ir.BinOp("-", expr, p.operand) if isinstance(p, ir.Neg) else ir.BinOp("+", expr, p)
            )
        if isinstance(expr, ir.Local):
            return expr.name
        local = self.ns.fresh(f"_g{name}")
        self.out.append(ir.Assignment(local, expr))
        return local

    def propagate(self, e: ir.PyExpr, g: ir.PyExpr) -> None:
        """Add ``g`` times the derivative of ``e`` to the adjoints of the locals it reads."""
        if isinstance(e, ir.Local):
            self.add(e.name, g)
        elif isinstance(e, (ir.Const, ir.ParamRef, ir.Compare, ir.AsFloat, ir.Detach)):
            return  # constants, and piecewise-constant or detached values: zero
        elif isinstance(e, ir.FullLike):
            return  # a scalar filled in: constant (its value reads no tensor)
        elif isinstance(e, ir.Neg):
            self.propagate(e.operand, ir.Neg(g))
        elif isinstance(e, ir.BinOp):
            self._binop(e, g)
        elif isinstance(e, ir.Func):
            self._func(e, g)
        elif isinstance(e, ir.Spike):
            grad = ir.SurrogateGrad(e.surrogate, e.arg, e.params)
            self.propagate(e.arg, ir.BinOp("*", g, grad))
        elif isinstance(e, ir.MatVec) and not e.transpose:
            # y = W v per sample: dv = W^T g per sample, dW = sum over samples of g v^T
            self.propagate(e.vector, ir.MatVec(e.matrix, g, transpose=True))
            self.propagate(e.matrix, ir.Outer(g, e.vector))
        else:
            raise NotDifferentiable(f"no derivative for {type(e).__name__}")

    def _binop(self, e: ir.BinOp, g: ir.PyExpr) -> None:
        a, b = e.left, e.right
        if e.op == "+":
            self.propagate(a, g)
            self.propagate(b, g)
        elif e.op == "-":
            self.propagate(a, g)
            self.propagate(b, ir.Neg(g))
        elif e.op == "*":  # a factor that is the constant 0 passes nothing back
            if not _is_zero(b):
                self.propagate(a, _mul(g, b))
            if not _is_zero(a):
                self.propagate(b, _mul(g, a))
        elif e.op == "/":
            self.propagate(a, ir.BinOp("/", g, b))
            self.propagate(b, ir.Neg(ir.BinOp("/", ir.BinOp("*", g, a), ir.BinOp("*", b, b))))
        elif e.op == "**":
            constant = isinstance(b, ir.Const)
            lower = ir.BinOp("**", a, ir.Const(b.value - 1) if constant else ir.BinOp("-", b, ONE))
            self.propagate(a, ir.BinOp("*", g, ir.BinOp("*", b, lower)))
            if not constant:
                log_a = ir.Func("log", (a,))
                self.propagate(b, ir.BinOp("*", g, ir.BinOp("*", e, log_a)))
        else:  # pragma: no cover - the IR is closed
            raise NotDifferentiable(e.op)

    def _func(self, e: ir.Func, g: ir.PyExpr) -> None:
        name, args = e.name, e.args
        a = args[0]
        mask = lambda op, lhs, rhs: ir.AsFloat(ir.Compare(op, lhs, rhs), g)  # noqa: E731
        if name == "exp":
            d = e
        elif name == "log":
            self.propagate(a, ir.BinOp("/", g, a))
            return
        elif name == "sqrt":
            self.propagate(a, ir.BinOp("/", g, ir.BinOp("*", ir.Const(2.0), e)))
            return
        elif name == "abs":
            d = ir.Func("sign", (a,))
        elif name in ("sign", "detach"):
            return
        elif name == "square":
            d = ir.BinOp("*", ir.Const(2.0), a)
        elif name == "sigmoid":
            d = ir.BinOp("*", e, ir.BinOp("-", ONE, e))
        elif name == "tanh":
            d = ir.BinOp("-", ONE, ir.BinOp("*", e, e))
        elif name == "atan":
            d = ir.BinOp("/", ONE, ir.BinOp("+", ONE, ir.BinOp("*", a, a)))
        elif name == "sin":
            d = ir.Func("cos", (a,))
        elif name == "cos":
            d = ir.Neg(ir.Func("sin", (a,)))
        elif name in ("erf", "erfc"):
            two_over_sqrt_pi = ir.Const(1.1283791670955126)
            d = ir.BinOp("*", two_over_sqrt_pi, ir.Func("exp", (ir.Neg(ir.BinOp("*", a, a)),)))
            if name == "erfc":
                d = ir.Neg(d)
        elif name == "relu":
            d = mask(">", a, ir.Const(0))
        elif name == "softsign":
            s = ir.BinOp("+", ONE, ir.Func("abs", (a,)))
            d = ir.BinOp("/", ONE, ir.BinOp("*", s, s))
        elif name == "leaky_relu":
            above = mask(">", a, ir.Const(0))
            d = ir.BinOp("+", above, ir.BinOp("*", ir.BinOp("-", ONE, above), args[1]))
        elif name == "clamp":
            d = ir.BinOp("*", mask(">=", a, args[1]), mask("<=", a, args[2]))
        elif name == "clamp_min":
            d = mask(">=", a, args[1])
        elif name == "clamp_max":
            d = mask("<=", a, args[1])
        elif name == "where":
            cond = args[0]
            self.propagate(args[1], ir.Func("where", (cond, g, ZERO)))
            self.propagate(args[2], ir.Func("where", (cond, ZERO, g)))
            return
        else:
            raise NotDifferentiable(f"no derivative for {name}()")
        self.propagate(a, ir.BinOp("*", g, d))


def derive(
    step: tuple[ir.Assignment, ...],
    x: str,
    states: tuple[str, ...],
    params: tuple[str, ...],
    output: str,
    ns,
) -> Backward:
    """The backward pass of one step (see :class:`Backward`); ``ns`` allocates locals."""
    # single assignment: each write to a name already written or read gets a new name
    current: dict[str, str] = {}
    seen = {x, *states, *params}
    renamed: list[ir.Assignment] = []  # keeps the spikes, for the derivatives
    origin: list[int | None] = []
    for index, a in enumerate(step):
        value = ir.substitute(a.value, {k: ir.Local(v) for k, v in current.items()})
        named, value = name_spike_arg(value, ns)
        if named is not None:
            seen.add(named.target)
            renamed.append(named)
            origin.append(None)
        target = a.target
        if target in seen:
            target = ns.fresh(f"{a.target}_1")
            current[a.target] = target
        seen.add(target)
        renamed.append(ir.Assignment(target, value))
        origin.append(index)
    recompute = tuple(ir.Assignment(r.target, without_spikes(r.value)) for r in renamed)
    final = {s: current.get(s, s) for s in states}
    out_local = current.get(output, output)

    adj = _Adjoints(ns)
    adj.add(out_local, ir.Local("grad_output"))
    for s in states:
        adj.add(final[s], ir.Local(f"grad{s}"))
    for r in reversed(renamed):
        g = adj.total(r.target)
        if g is not None:
            adj.propagate(r.value, ir.Local(g))
    grad_x = adj.total(x)
    grad_states = {s: adj.total(s) for s in states}
    grad_params = {p: adj.total(p) for p in params}
    return Backward(
        recompute,
        tuple(origin),
        tuple(a.target for a in step),
        tuple(adj.out),
        grad_x,
        grad_states,
        grad_params,
    )


def without_spikes(e: ir.PyExpr) -> ir.PyExpr:
    """``e`` with every spike as its Heaviside value (for code autograd does not record)."""
    if isinstance(e, ir.Spike):
        return heaviside(without_spikes(e.arg), e.strict)
    return ir.map_children(e, without_spikes)


def name_spike_arg(value: ir.PyExpr, ns) -> tuple[ir.Assignment | None, ir.PyExpr]:
    """A spike of an expression, split in two: its argument as a fresh local ``_u`` (the
    Heaviside, its dtype and the surrogate gradient all read it) and the spike of that
    local.  Anything else comes back unchanged, with None."""
    if isinstance(value, ir.Spike) and not isinstance(value.arg, ir.Local):
        arg = ns.fresh("_u")
        return ir.Assignment(arg, value.arg), replace(value, arg=ir.Local(arg))
    return None, value
