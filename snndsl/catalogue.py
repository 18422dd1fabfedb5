"""The layer catalogue: signatures, shape inference and torch constructors.

Each :class:`LayerOp` says which arguments a layer takes (with SpikingJelly 2.0.0 /
torch defaults), which of them can be inferred from the input shape, how the per-sample
output shape follows from the per-sample input shape, and how to construct the torch
module.  Shapes here never include the batch ``N`` or time ``T`` dimensions.
Neurons are not listed here: they are defined in the prelude and compiled by
:mod:`snndsl.neurons`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .signature import REQUIRED, ParamSpec

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


@dataclass(frozen=True)
class LayerOp:
    name: str
    params: tuple[ParamSpec, ...]
    infer: Callable[[Shape, dict], tuple[dict, Shape]]  # -> (completed args, out shape)
    ctor: str | None  # torch constructor; None for ops emitted inline (Dropout)
    ctor_params: tuple[str, ...] = ()  # constructor arguments, in torch's order
    ndim: int | None = None  # spatial dims of 'size' arguments
    doc: str = ""


def _tuple(v, n: int) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, tuple) else (v,) * n


def _need_dims(shape: Shape, n: int, layout: str) -> None:
    if len(shape) != n:
        raise ShapeError(
            f"expects a per-sample input of shape {layout}, got {list(shape)}",
            hint=f"its input has {len(shape)} dimension(s) per sample; it needs {n}",
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


# --------------------------------------------------------------------------- Linear


def _linear(shape: Shape, args: dict) -> tuple[dict, Shape]:
    if len(shape) < 1:
        raise ShapeError("expects at least one feature dimension, got a scalar input")
    _check_features(args, "in_features", shape[-1])
    _positive(args, "in_features", "out_features")
    return args, (*shape[:-1], args["out_features"])


# --------------------------------------------------------------------------- Conv2d


def _conv_out(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _conv2d(shape: Shape, args: dict) -> tuple[dict, Shape]:
    _need_dims(shape, 3, "[C, H, W]")
    _check_features(args, "in_channels", shape[0])
    _positive(args, "in_channels", "out_channels", "kernel_size", "stride", "dilation", "groups")
    _non_negative(args, "padding")
    groups = args["groups"]
    for key in ("in_channels", "out_channels"):
        if args[key] % groups:
            raise ShapeError(f"{key}={args[key]} is not divisible by groups={groups}", arg=key)
    k, s, p, d = (_tuple(args[n], 2) for n in ("kernel_size", "stride", "padding", "dilation"))
    out = tuple(_conv_out(shape[1 + i], k[i], s[i], p[i], d[i]) for i in range(2))
    if min(out) < 1:
        raise ShapeError(
            f"kernel_size={list(k)} (dilation {list(d)}) does not fit the "
            f"{shape[1]}x{shape[2]} input with padding {list(p)}",
            arg="kernel_size",
        )
    return args, (args["out_channels"], *out)


# --------------------------------------------------------------------------- BatchNorm2d


def _batchnorm2d(shape: Shape, args: dict) -> tuple[dict, Shape]:
    _need_dims(shape, 3, "[C, H, W]")
    _check_features(args, "num_features", shape[0])
    _positive(args, "num_features")
    if args["eps"] <= 0:
        raise ShapeError(f"eps must be positive, got {args['eps']}", arg="eps")
    return args, shape


# --------------------------------------------------------------------------- pooling


def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    num = size + 2 * p - d * (k - 1) - 1
    out = (math.ceil(num / s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1  # the last window must start inside the input or left padding (torch rule)
    return out


def _pool2d(shape: Shape, args: dict, dilation: bool) -> tuple[dict, Shape]:
    _need_dims(shape, 3, "[C, H, W]")
    if args.get("stride") is None:
        args["stride"] = args["kernel_size"]
    _positive(args, "kernel_size", "stride", *(("dilation",) if dilation else ()))
    _non_negative(args, "padding")
    k, s, p = (_tuple(args[n], 2) for n in ("kernel_size", "stride", "padding"))
    d = _tuple(args["dilation"], 2) if dilation else (1, 1)
    for i in range(2):
        if p[i] * 2 > k[i]:
            raise ShapeError(
                f"padding {list(p)} must be at most half of kernel_size {list(k)}", arg="padding"
            )
    out = tuple(
        _pool_out(shape[1 + i], k[i], s[i], p[i], d[i], args["ceil_mode"]) for i in range(2)
    )
    if min(out) < 1:
        raise ShapeError(
            f"kernel_size={list(k)} does not fit the {shape[1]}x{shape[2]} input",
            arg="kernel_size",
        )
    return args, (shape[0], *out)


def _maxpool2d(shape: Shape, args: dict) -> tuple[dict, Shape]:
    return _pool2d(shape, args, dilation=True)


def _avgpool2d(shape: Shape, args: dict) -> tuple[dict, Shape]:
    if args.get("divisor_override") is not None and args["divisor_override"] <= 0:
        raise ShapeError("divisor_override must be positive", arg="divisor_override")
    return _pool2d(shape, args, dilation=False)


# --------------------------------------------------------------------------- Flatten


def _flatten(shape: Shape, args: dict) -> tuple[dict, Shape]:
    full = (None, *shape)  # dim 0 is the batch
    rank = len(full)

    def norm(d: int, key: str) -> int:
        nd = d + rank if d < 0 else d
        if not 0 <= nd < rank:
            raise ShapeError(f"{key}={d} is out of range for a [N, *{list(shape)}] input", arg=key)
        return nd

    start, end = norm(args["start_dim"], "start_dim"), norm(args["end_dim"], "end_dim")
    if start == 0:
        raise ShapeError(
            "start_dim=0 would flatten the batch dimension",
            arg="start_dim",
            hint="per-sample dimensions start at 1",
        )
    if start > end:
        raise ShapeError(
            f"start_dim={args['start_dim']} comes after end_dim={args['end_dim']}", arg="start_dim"
        )
    merged = math.prod(full[start : end + 1])
    return args, tuple(full[1:start]) + (merged,) + tuple(full[end + 1 :])


# --------------------------------------------------------------------------- Dropout


def _dropout(shape: Shape, args: dict) -> tuple[dict, Shape]:
    if not 0.0 <= args["p"] < 1.0:
        raise ShapeError(f"p must be in [0, 1), got {args['p']}", arg="p")
    return args, shape


def _dropout2d(shape: Shape, args: dict) -> tuple[dict, Shape]:
    _need_dims(shape, 3, "[C, H, W]")
    return _dropout(shape, args)


P = ParamSpec
OPS: dict[str, LayerOp] = {
    op.name: op
    for op in (
        LayerOp(
            "Linear",
            (
                P("in_features", "int", REQUIRED, True),
                P("out_features", "int"),
                P("bias", "bool", True),
            ),
            _linear,
            "nn.Linear",
            ("in_features", "out_features", "bias"),
            doc="y = x W^T + b over the last dimension",
        ),
        LayerOp(
            "Conv2d",
            (
                P("in_channels", "int", REQUIRED, True),
                P("out_channels", "int"),
                P("kernel_size", "size"),
                P("stride", "size", 1),
                P("padding", "size", 0),
                P("dilation", "size", 1),
                P("groups", "int", 1),
                P("bias", "bool", True),
            ),
            _conv2d,
            "nn.Conv2d",
            (
                "in_channels",
                "out_channels",
                "kernel_size",
                "stride",
                "padding",
                "dilation",
                "groups",
                "bias",
            ),
            ndim=2,
            doc="2-D convolution over [C, H, W]",
        ),
        LayerOp(
            "BatchNorm2d",
            (
                P("num_features", "int", REQUIRED, True),
                P("eps", "float", 1e-5),
                P("momentum", "float?", 0.1),
                P("affine", "bool", True),
                P("track_running_stats", "bool", True),
            ),
            _batchnorm2d,
            "nn.BatchNorm2d",
            ("num_features", "eps", "momentum", "affine", "track_running_stats"),
            doc="batch normalisation over the channels of [C, H, W]",
        ),
        LayerOp(
            "MaxPool2d",
            (
                P("kernel_size", "size"),
                P("stride", "size?", None),
                P("padding", "size", 0),
                P("dilation", "size", 1),
                P("ceil_mode", "bool", False),
            ),
            _maxpool2d,
            "nn.MaxPool2d",
            ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
            ndim=2,
            doc="2-D max pooling",
        ),
        LayerOp(
            "AvgPool2d",
            (
                P("kernel_size", "size"),
                P("stride", "size?", None),
                P("padding", "size", 0),
                P("ceil_mode", "bool", False),
                P("count_include_pad", "bool", True),
                P("divisor_override", "int?", None),
            ),
            _avgpool2d,
            "nn.AvgPool2d",
            (
                "kernel_size",
                "stride",
                "padding",
                "ceil_mode",
                "count_include_pad",
                "divisor_override",
            ),
            ndim=2,
            doc="2-D average pooling",
        ),
        LayerOp(
            "Flatten",
            (P("start_dim", "int", 1), P("end_dim", "int", -1)),
            _flatten,
            "nn.Flatten",
            ("start_dim", "end_dim"),
            doc="merge dimensions start_dim..end_dim of [N, *]",
        ),
        LayerOp(
            "Dropout",
            (P("p", "float", 0.5),),
            _dropout,
            None,
            ("p",),
            doc="one dropout mask per sequence, shared by all time steps",
        ),
        LayerOp(
            "Dropout2d",
            (P("p", "float", 0.2),),
            _dropout2d,
            None,
            ("p",),
            doc="one channel-wise dropout mask per sequence, shared by all time steps",
        ),
    )
}
