"""The layer catalogue: what each layer is, in one place.

Each :class:`LayerOp` says which arguments a layer takes (with torch's names and
SpikingJelly 2.0.0 defaults), which of them can be inferred from the input shape, how
the per-sample output shape follows from the per-sample input shape, how to construct
the torch module, which ``torch.nn.functional`` call computes it from the module's
attributes (the fast path of the single-step form; :class:`FunctionalCall`), and what it
holds and computes (:class:`Counts`: parameters, buffers, multiply-accumulates).  Shapes
here never include the batch ``N`` or time ``T`` dimensions.  Neurons are not listed
here: they are defined in the prelude and compiled by :mod:`snndsl.semantics.neurons`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from snndsl import ir
from snndsl.semantics.signature import REQUIRED, ParamSpec

Shape = tuple[int, ...]


class ShapeError(Exception):
    """A shape or argument-value problem, reported by the checker where it arises.

    With ``arg`` the problem is that argument's value (E0207, located at the argument)
    unless ``code`` says otherwise; without, the input shape does not fit (E0301).
    """

    def __init__(
        self, message: str, arg: str | None = None, hint: str | None = None, code: str | None = None
    ):
        super().__init__(message)
        self.arg = arg
        self.hint = hint
        self.code = code or ("E0301" if arg is None else "E0207")


class Counts(NamedTuple):
    """What one layer holds and computes, per sample and per time step."""

    params: int  # elements of its learnable tensors (weights, biases, affine scales)
    buffers: int  # elements of its buffers (BatchNorm running statistics)
    synops: int | None  # dense multiply-accumulates; None: not a synaptic layer


def _always(args: dict) -> bool:
    return True


@dataclass(frozen=True)
class FunctionalCall:
    """The ``torch.nn.functional`` call that computes a layer from its module's attributes.

    The layer ``m`` applied to ``x`` equals ``F.<function>(x, m.<attrs[0]>, m.<attrs[1]>,
    ...)`` whenever ``applies`` holds for its constructor arguments (every one, defaults
    filled in; see :meth:`LayerOp.ctor_values`).  How the call is printed is the backend's
    business.
    """

    function: str  # the name in torch.nn.functional, e.g. 'linear'
    attrs: tuple[str, ...]  # the module attributes it reads, in the call's order
    applies: Callable[[dict], bool] = _always


CountFn = Callable[[dict, Shape, Shape], Counts]  # (ctor values, in shape, out shape)


@dataclass(frozen=True)
class LayerOp:
    """One layer: its signature, shape inference, constructor, fast path and counts.

    ``functional`` and ``counts`` have no defaults: every entry states them, ``None`` for
    a layer without a functional fast path and :func:`holds_nothing` for one with no
    parameters, buffers or multiply-accumulates.
    """

    name: str
    params: tuple[ParamSpec, ...]
    infer: Callable[[Shape, dict], tuple[dict, Shape]]  # -> (completed args, out shape)
    ctor: str | None  # torch constructor; None for ops emitted inline (Dropout, tensor ops)
    ctor_params: tuple[str, ...] = ()  # constructor arguments, in torch's order
    ndim: int | None = None  # spatial dims of 'size' arguments
    doc: str = ""
    spikingjelly: bool = True  # SpikingJelly's activation_based.layer has it
    # a parameterless tensor operation emitted inline (no module, no state_dict entry):
    # its torch form, as the docs and the coverage table name it
    tensor: str | None = None
    keyword_only: bool = False  # arguments only by name (Flatten: no silent renumbering)
    functional: FunctionalCall | None = field(kw_only=True)  # None: no fast path
    counts: CountFn = field(kw_only=True)

    def ctor_values(self, ctor_args: tuple[ir.Binding, ...]) -> dict:
        """Every constructor argument by name, from the ``(name or None, value)`` pairs
        of a layer's IR (required ones positional, others only where not the default),
        defaults filled in."""
        by_name = {p.name: p for p in self.params}
        positional = iter(b.value for b in ctor_args if b.name is None)
        given = {b.name: b.value for b in ctor_args if b.name is not None}
        return {
            key: next(positional) if by_name[key].required else given.get(key, by_name[key].default)
            for key in self.ctor_params
        }


def _tuple(v, n: int) -> tuple:
    return tuple(v) if isinstance(v, tuple) else (v,) * n


def _need_dims(shape: Shape, n: int | tuple[int, ...], layout: str) -> None:
    allowed = (n,) if isinstance(n, int) else n
    if len(shape) not in allowed:
        raise ShapeError(
            f"expects a per-sample input of shape {layout}, got {list(shape)}",
            hint=f"its input has {len(shape)} dimension(s) per sample; "
            f"it needs {' or '.join(map(str, allowed))}",
        )


def _check_features(args: dict, key: str, actual: int) -> None:
    given = args.get(key)
    if given is None:
        args[key] = actual
    elif given != actual:
        raise ShapeError(
            f"{key}={given} does not match the input, which has {actual}",
            arg=key,
            hint=f"write {key}={actual}, or leave it out to infer it",
            code="E0301",
        )


def _positive(args: dict, *keys: str) -> None:
    for key in keys:
        v = args.get(key)
        if v is None:
            continue
        for item in v if isinstance(v, tuple) else (v,):
            if item <= 0:
                raise ShapeError(f"{key} must be positive, got {v}", arg=key)


def _non_negative(args: dict, *keys: str) -> None:
    for key in keys:
        v = args.get(key)
        for item in v if isinstance(v, tuple) else (v,):
            if item < 0:
                raise ShapeError(f"{key} must not be negative, got {v}", arg=key)


def _choice(args: dict, key: str, choices: tuple) -> None:
    if args.get(key) not in choices:
        shown = ", ".join(f'"{c}"' if isinstance(c, str) else str(c) for c in choices)
        raise ShapeError(f"{key} must be one of {shown}, got {args.get(key)!r}", arg=key)


def _too_small(name: str, shape: Shape, detail: str, arg: str) -> ShapeError:
    spatial = "x".join(map(str, shape))
    return ShapeError(f"{detail} does not fit the {spatial} input", arg=arg)


# --------------------------------------------------------------------------- Linear


def _linear(shape: Shape, args: dict) -> tuple[dict, Shape]:
    if len(shape) < 1:
        raise ShapeError("expects at least one feature dimension, got a scalar input")
    _check_features(args, "in_features", shape[-1])
    _positive(args, "in_features", "out_features")
    return args, (*shape[:-1], args["out_features"])


# --------------------------------------------------------------------------- convolutions


def _conv_out(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _layout(nd: int) -> str:
    return "[C, " + ", ".join(("D", "H", "W")[3 - nd :] if nd > 1 else ("L",)) + "]"


def _conv(nd: int):
    def infer(shape: Shape, args: dict) -> tuple[dict, Shape]:
        _need_dims(shape, nd + 1, _layout(nd))
        _check_features(args, "in_channels", shape[0])
        keys = ("in_channels", "out_channels", "kernel_size", "stride", "dilation", "groups")
        _positive(args, *keys)
        _choice(args, "padding_mode", ("zeros", "reflect", "replicate", "circular"))
        groups = args["groups"]
        for key in ("in_channels", "out_channels"):
            if args[key] % groups:
                raise ShapeError(f"{key}={args[key]} is not divisible by groups={groups}", arg=key)
        k, s, d = (_tuple(args[n], nd) for n in ("kernel_size", "stride", "dilation"))
        padding = args["padding"]
        if isinstance(padding, str):
            _choice(args, "padding", ("same", "valid"))
            if padding == "same" and any(v != 1 for v in s):
                raise ShapeError('padding="same" needs stride 1', arg="padding")
            if padding == "same":
                return args, (args["out_channels"], *shape[1:])
            p = (0,) * nd
        else:
            _non_negative(args, "padding")
            p = _tuple(padding, nd)
        out = tuple(_conv_out(shape[1 + i], k[i], s[i], p[i], d[i]) for i in range(nd))
        if min(out) < 1:
            raise _too_small(
                "Conv",
                shape[1:],
                f"kernel_size={list(k)} (dilation {list(d)}, padding {list(p)})",
                "kernel_size",
            )
        return args, (args["out_channels"], *out)

    return infer


def _conv_transpose(nd: int):
    def infer(shape: Shape, args: dict) -> tuple[dict, Shape]:
        _need_dims(shape, nd + 1, _layout(nd))
        _check_features(args, "in_channels", shape[0])
        _positive(
            args, "in_channels", "out_channels", "kernel_size", "stride", "dilation", "groups"
        )
        _non_negative(args, "padding", "output_padding")
        if args["padding_mode"] != "zeros":
            raise ShapeError('ConvTranspose supports only padding_mode="zeros"', arg="padding_mode")
        groups = args["groups"]
        for key in ("in_channels", "out_channels"):
            if args[key] % groups:
                raise ShapeError(f"{key}={args[key]} is not divisible by groups={groups}", arg=key)
        k, s, p, op, d = (
            _tuple(args[n], nd)
            for n in ("kernel_size", "stride", "padding", "output_padding", "dilation")
        )
        for i in range(nd):
            if op[i] >= max(s[i], d[i]):
                raise ShapeError(
                    f"output_padding {list(op)} must be smaller than stride or dilation",
                    arg="output_padding",
                )
        out = tuple(
            (shape[1 + i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1 for i in range(nd)
        )
        if min(out) < 1:
            raise _too_small("ConvTranspose", shape[1:], f"padding={list(p)}", "padding")
        return args, (args["out_channels"], *out)

    return infer


# --------------------------------------------------------------------------- normalisation


def _batchnorm(nd: int):
    layouts = {1: ((1, 2), "[C] or [C, L]"), 2: ((3,), "[C, H, W]"), 3: ((4,), "[C, D, H, W]")}

    def infer(shape: Shape, args: dict) -> tuple[dict, Shape]:
        dims, layout = layouts[nd]
        _need_dims(shape, dims, layout)
        _check_features(args, "num_features", shape[0])
        _positive(args, "num_features", "eps")
        return args, shape

    return infer


def _groupnorm(shape: Shape, args: dict) -> tuple[dict, Shape]:
    if len(shape) < 1:
        raise ShapeError("expects a [C, *] input, got a scalar input")
    _check_features(args, "num_channels", shape[0])
    _positive(args, "num_groups", "num_channels", "eps")
    if args["num_channels"] % args["num_groups"]:
        raise ShapeError(
            f"num_channels={args['num_channels']} is not divisible by "
            f"num_groups={args['num_groups']}",
            arg="num_groups",
        )
    return args, shape


def _layernorm(shape: Shape, args: dict) -> tuple[dict, Shape]:
    given = args.get("normalized_shape")
    if given is None:
        if not shape:
            raise ShapeError("expects at least one dimension, got a scalar input")
        args["normalized_shape"] = shape[-1]
        return args, shape
    dims = _tuple(given, 1) if not isinstance(given, tuple) else given
    if tuple(shape[len(shape) - len(dims) :]) != tuple(dims) or len(dims) > len(shape):
        raise ShapeError(
            f"normalized_shape={list(dims)} does not match the trailing dimensions of "
            f"{list(shape)}",
            arg="normalized_shape",
            code="E0301",
        )
    _positive(args, "eps")
    return args, shape


# --------------------------------------------------------------------------- pooling


def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    num = size + 2 * p - d * (k - 1) - 1
    out = (math.ceil(num / s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1  # the last window must start inside the input or left padding (torch rule)
    return out


def _pool(nd: int, dilation: bool):
    def infer(shape: Shape, args: dict) -> tuple[dict, Shape]:
        _need_dims(shape, nd + 1, _layout(nd))
        if args.get("stride") is None:
            args["stride"] = args["kernel_size"]
        _positive(args, "kernel_size", "stride", *(("dilation",) if dilation else ()))
        _non_negative(args, "padding")
        if args.get("divisor_override") is not None and args["divisor_override"] <= 0:
            raise ShapeError("divisor_override must be positive", arg="divisor_override")
        k, s, p = (_tuple(args[n], nd) for n in ("kernel_size", "stride", "padding"))
        d = _tuple(args["dilation"], nd) if dilation else (1,) * nd
        for i in range(nd):
            if p[i] * 2 > k[i]:
                raise ShapeError(
                    f"padding {list(p)} must be at most half of kernel_size {list(k)}",
                    arg="padding",
                )
        out = tuple(
            _pool_out(shape[1 + i], k[i], s[i], p[i], d[i], args["ceil_mode"]) for i in range(nd)
        )
        if min(out) < 1:
            raise _too_small("Pool", shape[1:], f"kernel_size={list(k)}", "kernel_size")
        return args, (shape[0], *out)

    return infer


def _adaptive(nd: int):
    def infer(shape: Shape, args: dict) -> tuple[dict, Shape]:
        _need_dims(shape, nd + 1, _layout(nd))
        _positive(args, "output_size")
        return args, (shape[0], *_tuple(args["output_size"], nd))

    return infer


# --------------------------------------------------------------------------- reshaping


def sample_dim(d: int, rank: int, key: str, shape: Shape) -> int:
    """A dimension of a sample, 0-based, as a non-negative index: ``d`` counts the
    per-sample dimensions (0 is a sample's first, never the batch or time), negative
    ``d`` counts from the last (-1).  The one rule of every layer and merge taking a
    dimension; out of range is an E0207 at the argument."""
    if not isinstance(d, int) or isinstance(d, bool) or not -rank <= d < rank:
        raise ShapeError(
            f"{key}={d!r} is not a dimension of a {list(shape)} sample",
            arg=key,
            hint=f"dimensions count per sample: 0..{rank - 1}, or -{rank}..-1 from the last"
            if rank
            else "the input has no dimension per sample",
        )
    return d % rank


def _flatten(shape: Shape, args: dict) -> tuple[dict, Shape]:
    rank = len(shape)
    start = sample_dim(args["start"], rank, "start", shape)
    end = sample_dim(args["end"], rank, "end", shape)
    if start > end:
        raise ShapeError(f"start={args['start']} comes after end={args['end']}", arg="start")
    merged = math.prod(shape[start : end + 1])
    args["start"], args["end"] = start, end
    return args, (*shape[:start], merged, *shape[end + 1 :])


# Flatten's torch-numbered keywords (the batch was dimension 0) before the one dim rule:
# a located diagnostic says what they are now.
FLATTEN_RENAMED = {"start_dim": "start", "end_dim": "end"}


def _reshape(shape: Shape, args: dict) -> tuple[dict, Shape]:
    given = _tuple(args["shape"], 1)
    total = math.prod(shape)
    if sum(d == -1 for d in given) > 1:
        raise ShapeError(f"shape={list(given)} has more than one -1", arg="shape")
    if any(d == 0 or d < -1 for d in given):
        raise ShapeError(
            f"shape={list(given)}: dimensions are positive, or one -1 to infer",
            arg="shape",
        )
    known = math.prod(d for d in given if d != -1)
    if -1 in given:
        if total % known:
            raise ShapeError(
                f"shape={list(given)} does not fit a {list(shape)} sample: {total} elements "
                f"are not a multiple of {known}",
                arg="shape",
                code="E0301",
            )
        out = tuple(total // known if d == -1 else d for d in given)
    else:
        out = given
    if math.prod(out) != total:
        raise ShapeError(
            f"shape={list(given)} has {math.prod(out)} elements per sample, the input "
            f"{list(shape)} has {total}",
            arg="shape",
            code="E0301",
            hint="the sizes must multiply to the input's; one of them may be -1",
        )
    args["shape"] = out
    return args, out


def _transpose(shape: Shape, args: dict) -> tuple[dict, Shape]:
    rank = len(shape)
    d0 = sample_dim(args["dim0"], rank, "dim0", shape)
    d1 = sample_dim(args["dim1"], rank, "dim1", shape)
    args["dim0"], args["dim1"] = d0, d1
    out = list(shape)
    out[d0], out[d1] = shape[d1], shape[d0]
    return args, tuple(out)


def _permute(shape: Shape, args: dict) -> tuple[dict, Shape]:
    rank = len(shape)
    given = _tuple(args["dims"], 1)
    if len(given) != rank:
        raise ShapeError(
            f"dims={list(given)} names {len(given)} dimension(s), a sample has {rank}",
            arg="dims",
            hint=f"list every per-sample dimension once, e.g. {list(range(rank))[::-1]}",
        )
    dims = tuple(sample_dim(d, rank, "dims", shape) for d in given)
    if sorted(dims) != list(range(rank)):
        raise ShapeError(f"dims={list(given)} is not a permutation", arg="dims")
    args["dims"] = dims
    return args, tuple(shape[d] for d in dims)


def _select(shape: Shape, args: dict) -> tuple[dict, Shape]:
    rank = len(shape)
    dim = sample_dim(args["dim"], rank, "dim", shape)
    size, index = shape[dim], args["index"]
    if not -size <= index < size:
        raise ShapeError(
            f"index={index} is out of range for dimension {dim} of size {size}",
            arg="index",
            hint=f"0..{size - 1}, or -{size}..-1 from the last",
        )
    if rank == 1:
        raise ShapeError(
            "selecting from a [L] sample would leave no dimension per sample",
            arg="dim",
            hint="Reshape first, or keep the dimension with Reshape([..., 1])",
        )
    args["dim"], args["index"] = dim, index % size
    return args, shape[:dim] + shape[dim + 1 :]


def _scale(shape: Shape, args: dict) -> tuple[dict, Shape]:
    return args, shape


def _softmax(shape: Shape, args: dict) -> tuple[dict, Shape]:
    args["dim"] = sample_dim(args["dim"], len(shape), "dim", shape)
    return args, shape


def _voting(shape: Shape, args: dict) -> tuple[dict, Shape]:
    _need_dims(shape, 1, "[L] (SpikingJelly's VotingLayer pools a [N, L] step)")
    _positive(args, "voting_size")
    if shape[0] < args["voting_size"]:
        raise ShapeError(
            f"voting_size={args['voting_size']} is larger than the {shape[0]} inputs",
            arg="voting_size",
        )
    return args, (shape[0] // args["voting_size"],)


_UPSAMPLE_MODES = {
    "nearest": (2, 3, 4),
    "nearest-exact": (2, 3, 4),
    "linear": (2,),
    "bilinear": (3,),
    "bicubic": (3,),
    "trilinear": (4,),
}


def _upsample(shape: Shape, args: dict) -> tuple[dict, Shape]:
    _choice(args, "mode", tuple(_UPSAMPLE_MODES))
    mode = args["mode"]
    _need_dims(shape, _UPSAMPLE_MODES[mode], f"[C, *] with 1-3 spatial dims for '{mode}'")
    nd = len(shape) - 1
    size, scale = args.get("size"), args.get("scale_factor")
    if (size is None) == (scale is None):
        raise ShapeError("give exactly one of size and scale_factor", arg="size")
    if args.get("align_corners") is not None and mode in ("nearest", "nearest-exact"):
        raise ShapeError("align_corners only applies to the linear modes", arg="align_corners")
    if size is not None:
        _positive(args, "size")
        if isinstance(size, tuple) and len(size) != nd:
            raise ShapeError(f"size needs {nd} values for this input", arg="size")
        return args, (shape[0], *_tuple(size, nd))
    if isinstance(scale, tuple) and len(scale) != nd:
        raise ShapeError(f"scale_factor needs {nd} values for this input", arg="scale_factor")
    factors = _tuple(scale, nd)
    if min(factors) <= 0:
        raise ShapeError("scale_factor must be positive", arg="scale_factor")
    out = tuple(math.floor(shape[1 + i] * factors[i]) for i in range(nd))
    if min(out) < 1:
        raise ShapeError("scale_factor makes the output empty", arg="scale_factor")
    return args, (shape[0], *out)


def _identity(shape: Shape, args: dict) -> tuple[dict, Shape]:
    return args, shape


# --------------------------------------------------------------------------- Dropout


def _dropout(shape: Shape, args: dict) -> tuple[dict, Shape]:
    if not 0.0 <= args["p"] < 1.0:
        raise ShapeError(f"p must be in [0, 1), got {args['p']}", arg="p")
    return args, shape


def _dropout2d(shape: Shape, args: dict) -> tuple[dict, Shape]:
    _need_dims(shape, 3, "[C, H, W]")
    return _dropout(shape, args)


# --------------------------------------------------------------------------- counts
# Parameters, buffers and dense multiply-accumulates (every input counted as non-zero);
# bias additions, normalisation, pooling and resizing are not counted as SynOps.


def holds_nothing(args: dict, in_shape: Shape, out_shape: Shape) -> Counts:
    """No parameters, no buffers, not synaptic (pooling, reshaping, Identity, Dropout)."""
    return Counts(0, 0, None)


def matmul_counts(a: Shape, b: Shape, out: Shape) -> Counts:
    """``MatMul(a, b)``: a product of two activations, ``prod(*B) * m * k * n``
    multiply-accumulates per sample and step (nothing held)."""
    return Counts(0, 0, math.prod(out) * a[-1])


def _linear_counts(args: dict, in_shape: Shape, out_shape: Shape) -> Counts:
    """``in_features * out_features`` MACs at each position of the leading dimensions."""
    weights = args["in_features"] * args["out_features"]
    bias = args["out_features"] if args["bias"] else 0
    return Counts(weights + bias, 0, weights * math.prod(in_shape[:-1]))


def _conv_counts(transposed: bool) -> CountFn:
    """Conv: every output position gathers ``out * in / groups * prod(kernel)`` products
    (positions over padding included); ConvTranspose: every input position scatters as
    many (products that land in the cropped padding included)."""

    def counts(args: dict, in_shape: Shape, out_shape: Shape) -> Counts:
        kernel = math.prod(_tuple(args["kernel_size"], len(in_shape) - 1))
        weights = args["in_channels"] * args["out_channels"] // args["groups"] * kernel
        bias = args["out_channels"] if args["bias"] else 0
        positions = in_shape[1:] if transposed else out_shape[1:]
        return Counts(weights + bias, 0, weights * math.prod(positions))

    return counts


def _batchnorm_counts(args: dict, in_shape: Shape, out_shape: Shape) -> Counts:
    """Weight and bias per channel; running mean and variance and the batch counter."""
    c = args["num_features"]
    params = 2 * c if args["affine"] else 0
    return Counts(params, 2 * c + 1 if args["track_running_stats"] else 0, None)


def _groupnorm_counts(args: dict, in_shape: Shape, out_shape: Shape) -> Counts:
    return Counts(2 * args["num_channels"] if args["affine"] else 0, 0, None)


def _layernorm_counts(args: dict, in_shape: Shape, out_shape: Shape) -> Counts:
    n = math.prod(_tuple(args["normalized_shape"], 1))
    affine = args["elementwise_affine"]
    return Counts((n if affine else 0) + (n if affine and args["bias"] else 0), 0, None)


# --------------------------------------------------------------------------- fast paths


def _zero_padded(args: dict) -> bool:
    return args["padding_mode"] == "zeros"


def _conv_call(nd: int) -> FunctionalCall:
    attrs = ("weight", "bias", "stride", "padding", "dilation", "groups")
    return FunctionalCall(f"conv{nd}d", attrs, _zero_padded)


# --------------------------------------------------------------------------- the table

P = ParamSpec


def _conv_op(nd: int) -> LayerOp:
    return LayerOp(
        f"Conv{nd}d",
        (P("in_channels", "int", REQUIRED, True), P("out_channels", "int"),
         P("kernel_size", "size"), P("stride", "size", 1), P("padding", "size|string", 0),
         P("dilation", "size", 1), P("groups", "int", 1), P("bias", "bool", True),
         P("padding_mode", "string", "zeros")),
        _conv(nd), f"nn.Conv{nd}d",
        ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
         "groups", "bias", "padding_mode"),
        ndim=nd, doc=f"{nd}-D convolution over {_layout(nd)}",
        functional=_conv_call(nd), counts=_conv_counts(transposed=False),
    )  # fmt: skip


def _conv_transpose_op(nd: int) -> LayerOp:
    return LayerOp(
        f"ConvTranspose{nd}d",
        (P("in_channels", "int", REQUIRED, True), P("out_channels", "int"),
         P("kernel_size", "size"), P("stride", "size", 1), P("padding", "size", 0),
         P("output_padding", "size", 0), P("groups", "int", 1), P("bias", "bool", True),
         P("dilation", "size", 1), P("padding_mode", "string", "zeros")),
        _conv_transpose(nd), f"nn.ConvTranspose{nd}d",
        ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding",
         "groups", "bias", "dilation", "padding_mode"),
        ndim=nd, doc=f"{nd}-D transposed convolution over {_layout(nd)}",
        functional=None, counts=_conv_counts(transposed=True),
    )  # fmt: skip


def _batchnorm_op(nd: int) -> LayerOp:
    return LayerOp(
        f"BatchNorm{nd}d",
        (P("num_features", "int", REQUIRED, True), P("eps", "float", 1e-5),
         P("momentum", "float?", 0.1), P("affine", "bool", True),
         P("track_running_stats", "bool", True)),
        _batchnorm(nd), f"nn.BatchNorm{nd}d",
        ("num_features", "eps", "momentum", "affine", "track_running_stats"),
        doc="batch normalisation over the channels; multi-step normalises over T*N samples",
        functional=None, counts=_batchnorm_counts,
    )  # fmt: skip


def _maxpool_op(nd: int) -> LayerOp:
    return LayerOp(
        f"MaxPool{nd}d",
        (P("kernel_size", "size"), P("stride", "size?", None), P("padding", "size", 0),
         P("dilation", "size", 1), P("ceil_mode", "bool", False)),
        _pool(nd, dilation=True), f"nn.MaxPool{nd}d",
        ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
        ndim=nd, doc=f"{nd}-D max pooling", functional=None, counts=holds_nothing,
    )  # fmt: skip


def _avgpool_op(nd: int) -> LayerOp:
    extra = (P("divisor_override", "int?", None),) if nd > 1 else ()
    return LayerOp(
        f"AvgPool{nd}d",
        (P("kernel_size", "size"), P("stride", "size?", None), P("padding", "size", 0),
         P("ceil_mode", "bool", False), P("count_include_pad", "bool", True), *extra),
        _pool(nd, dilation=False), f"nn.AvgPool{nd}d",
        ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
         *(p.name for p in extra)),
        ndim=nd, doc=f"{nd}-D average pooling", functional=None, counts=holds_nothing,
    )  # fmt: skip


def _adaptive_op(kind: str, nd: int) -> LayerOp:
    return LayerOp(
        f"Adaptive{kind}Pool{nd}d",
        (P("output_size", "size"),),
        _adaptive(nd), f"nn.Adaptive{kind}Pool{nd}d", ("output_size",),
        ndim=nd, doc=f"{nd}-D adaptive {kind.lower()} pooling to output_size",
        spikingjelly=kind == "Avg", functional=None, counts=holds_nothing,
    )  # fmt: skip


_OPS: list[LayerOp] = [
    LayerOp(
        "Linear",
        (P("in_features", "int", REQUIRED, True), P("out_features", "int"),
         P("bias", "bool", True)),
        _linear, "nn.Linear", ("in_features", "out_features", "bias"),
        doc="y = x W^T + b over the last dimension",
        functional=FunctionalCall("linear", ("weight", "bias")), counts=_linear_counts,
    ),
    *(_conv_op(nd) for nd in (1, 2, 3)),
    *(_conv_transpose_op(nd) for nd in (1, 2, 3)),
    *(_batchnorm_op(nd) for nd in (1, 2, 3)),
    LayerOp(
        "GroupNorm",
        (P("num_groups", "int"), P("num_channels", "int", REQUIRED, True),
         P("eps", "float", 1e-5), P("affine", "bool", True)),
        _groupnorm, "nn.GroupNorm", ("num_groups", "num_channels", "eps", "affine"),
        doc="group normalisation over the channels of [C, *]",
        functional=None, counts=_groupnorm_counts,
    ),
    LayerOp(
        "LayerNorm",
        (P("normalized_shape", "size", REQUIRED, True), P("eps", "float", 1e-5),
         P("elementwise_affine", "bool", True), P("bias", "bool", True)),
        _layernorm, "nn.LayerNorm", ("normalized_shape", "eps", "elementwise_affine", "bias"),
        doc="layer normalisation over the trailing dimensions (the last one by default)",
        spikingjelly=False, functional=None, counts=_layernorm_counts,
    ),
    *(_maxpool_op(nd) for nd in (1, 2, 3)),
    *(_avgpool_op(nd) for nd in (1, 2, 3)),
    *(_adaptive_op(kind, nd) for kind in ("Avg", "Max") for nd in (1, 2, 3)),
    LayerOp(
        "Flatten",
        (P("start", "int", 0), P("end", "int", -1)),
        _flatten, None, ("start", "end"),
        doc="merge the per-sample dimensions start..end (by default all of them)",
        tensor="Tensor.flatten", keyword_only=True, functional=None, counts=holds_nothing,
    ),
    LayerOp(
        "Reshape", (P("shape", "size"),), _reshape, None, ("shape",),
        doc="a per-sample shape with the same number of elements; one size may be -1",
        spikingjelly=False, tensor="Tensor.reshape", functional=None, counts=holds_nothing,
    ),
    LayerOp(
        "Transpose", (P("dim0", "int"), P("dim1", "int")), _transpose, None,
        ("dim0", "dim1"), doc="swap two per-sample dimensions",
        spikingjelly=False, tensor="Tensor.transpose", functional=None, counts=holds_nothing,
    ),
    LayerOp(
        "Permute", (P("dims", "size"),), _permute, None, ("dims",),
        doc="reorder the per-sample dimensions: output dimension i is input dimension dims[i]",
        spikingjelly=False, tensor="Tensor.permute", functional=None, counts=holds_nothing,
    ),
    LayerOp(
        "Select", (P("index", "int"), P("dim", "int", 0)), _select, None, ("index", "dim"),
        doc="the slice at index along dim, which is dropped (Spikformer's chunk: "
        "Reshape([3, ...]) then Select(0), Select(1), Select(2))",
        spikingjelly=False, tensor="Tensor.select", functional=None, counts=holds_nothing,
    ),
    LayerOp(
        "Scale", (P("k", "float"),), _scale, None, ("k",),
        doc="multiply by the constant k", spikingjelly=False, tensor="Tensor.mul",
        functional=None, counts=holds_nothing,
    ),
    LayerOp(
        "Softmax", (P("dim", "int", -1),), _softmax, None, ("dim",),
        doc="softmax over one per-sample dimension (for non-spiking baselines)",
        spikingjelly=False, tensor="Tensor.softmax", functional=None, counts=holds_nothing,
    ),
    LayerOp(
        "VotingLayer", (P("voting_size", "int", 10),), _voting, None, ("voting_size",),
        doc="average of each voting_size consecutive inputs of [L] (SpikingJelly's "
        "layer.VotingLayer: avg_pool1d with kernel and stride voting_size)",
        tensor="nn.functional.avg_pool1d", functional=None, counts=holds_nothing,
    ),
    LayerOp(
        "Upsample",
        (P("size", "size?", None), P("scale_factor", "fsize?", None),
         P("mode", "string", "nearest"), P("align_corners", "bool?", None),
         P("recompute_scale_factor", "bool?", None)),
        _upsample, "nn.Upsample",
        ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor"),
        doc="resize the spatial dimensions", functional=None, counts=holds_nothing,
    ),
    LayerOp("Identity", (), _identity, "nn.Identity", (), doc="passes its input through",
            spikingjelly=False, functional=None, counts=holds_nothing),
    LayerOp(
        "Dropout", (P("p", "float", 0.5),), _dropout, None, ("p",),
        doc="one dropout mask per sequence, shared by all time steps",
        functional=None, counts=holds_nothing,
    ),
    LayerOp(
        "Dropout2d", (P("p", "float", 0.2),), _dropout2d, None, ("p",),
        doc="one channel-wise dropout mask per sequence, shared by all time steps",
        functional=None, counts=holds_nothing,
    ),
]  # fmt: skip
OPS: dict[str, LayerOp] = {op.name: op for op in _OPS}
