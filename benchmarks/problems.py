"""The benchmark problems: what is built, checked, timed and measured.

Each section function takes the ``quick`` flag and returns its Markdown.  Variants are
built lazily (``Variant.make``), so a peak-memory child process builds only the one it
measures.  All snndsl variants come from :func:`harness.snndsl_variants`.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import harness
import torch
from harness import ROOT, SPECS, Row, interleaved, optional_import, snndsl_variants
from torch import nn

TAU = 2.0
BETA = 1.0 - 1.0 / TAU  # snnTorch's decay for the same leak
WEIGHT_GAIN = 8.0  # default init is too weak to make the output layers spike
GRAD_RTOL = 1e-5  # max |Δgrad| / max |grad| allowed between checked float32 variants
# the same tolerance in units of float32's machine epsilon (84): other dtypes get as many
# of their own epsilons (float16: 0.08), since the variants round in different places
GRAD_EPS = GRAD_RTOL / torch.finfo(torch.float32).eps
CHUNKS = 4  # the memory option runs T / CHUNKS steps at a time
LINEAR_EXPONENT = 1.15  # a growth exponent up to this reads as "about linear"

# Sizes and repetitions: (full, quick).
CONFIG = {
    "P1": ({"T": 16, "N": 32, "reps": 15}, {"T": 4, "N": 4, "reps": 3}),
    # SpikingJelly's own LIF benchmark setting: a long sequence in half precision
    "P1H": ({"T": 32, "N": 32, "reps": 15}, {"T": 4, "N": 4, "reps": 3}),
    "NEURON": ({"T": 16, "N": 32, "reps": 15}, {"T": 4, "N": 4, "reps": 3}),
    "P2": ({"T": 8, "N": 16, "reps": 11}, {"T": 2, "N": 4, "reps": 3}),
    "P3": ({"T": 100, "N": 16, "reps": 7}, {"T": 10, "N": 4, "reps": 3}),
    "P4": (
        {"seed_steps": 1000, "conv_steps": 50, "reps": 15},
        {"seed_steps": 100, "conv_steps": 5, "reps": 3},
    ),
    "MEM": ({"reps": 3}, {"reps": 1}),
    "GEN": (
        {"sizes": (100, 1_000, 10_000), "reps": (7, 5, 3), "cold_reps": 9},
        {"sizes": (100, 300, 1_000), "reps": (3, 3, 2), "cold_reps": 3},
    ),
}


# Full sizes on a GPU, where CONFIG's CPU sizes would time kernel launches more than the
# neurons: P1 and P1H at 256 samples (67M and 134M neuron updates per pass), P2 at 128.
CUDA_CONFIG = {
    "P1": {"T": 16, "N": 256, "reps": 25},
    "P1H": {"T": 32, "N": 256, "reps": 25},
    "NEURON": {"T": 16, "N": 256, "reps": 25},
    "P2": {"T": 8, "N": 128, "reps": 15},
}
DTYPES = {"P1H": torch.float16}  # every other problem runs in float32


def config(problem: str, quick: bool) -> dict:
    if not quick and harness.device() == "cuda" and problem in CUDA_CONFIG:
        return CUDA_CONFIG[problem]
    return CONFIG[problem][1 if quick else 0]


def dtype_of(problem: str) -> torch.dtype:
    return DTYPES.get(problem, torch.float32)


def grad_rtol(dtype: torch.dtype) -> float:
    return GRAD_EPS * torch.finfo(dtype).eps


# --------------------------------------------------------------------------- building blocks


@dataclass
class Bench:
    """A built variant: ``step()`` runs it once (from reset) and returns its output;
    ``grads()`` the gradients the last step left (empty for inference)."""

    step: Callable[[], torch.Tensor]
    grads: Callable[[], dict[str, torch.Tensor]]
    clear: Callable[[], None] = lambda: None  # drop what the last step left (grads, state)
    before: Callable[[], None] = lambda: None  # untimed, ahead of every step (a global setting)


@dataclass
class Variant:
    label: str
    make: Callable[[], Bench] | None  # None: skipped, ``note`` says why
    note: str = ""
    check: bool = True  # compared with the reference before timing
    memory: bool = False  # in the peak-memory table
    snndsl: bool = False


def sj_modules():
    """SpikingJelly's (layer, neuron, surrogate, functional), or None when not installed."""
    if optional_import("spikingjelly.activation_based") is None:
        return None
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    return layer, neuron, surrogate, functional


def snntorch_module():
    snn = optional_import("snntorch")
    if snn is None:
        return None
    import snntorch.surrogate  # noqa: F401  (the submodule used for spike_grad)

    return snn


SKIP_SJ = "skipped: spikingjelly is not installed"
SKIP_SNNTORCH = "skipped: snntorch is not installed"
SNNTORCH_NOTE = (
    "not checked: snnTorch's Leaky (β = 0.5, atan(), reset to zero) computes U = βU + I, "
    "without SpikingJelly's 1/τ on the input, so its spikes differ; timed for its cost"
)


# SpikingJelly's neuron implementations, tried in this order on a GPU (a name this version
# does not have, or one that cannot run here, is skipped with the reason as its note):
# SpikingJelly 2.0 picks one of torch / triton / cuda per neuron kind (its
# SJ_<KIND>_CUDA_IMPLEMENTATION setting); earlier versions take ``backend=`` (torch / cupy).
SJ_IMPLEMENTATIONS = ("torch", "triton", "cuda", "cupy")
SJ_NODES = {"lif": "LIFNode", "eif": "EIFNode", "izhikevich": "IzhikevichNode"}
SJ_OPS = {"lif": "lif", "eif": "eif", "izhikevich": "izhikevich"}  # spikingjelly._ops.<name>


def sj_implementations() -> tuple[str, ...]:
    """On the CPU SpikingJelly has one implementation (its torch one); on a GPU, all."""
    return ("torch",) if harness.device() == "cpu" else SJ_IMPLEMENTATIONS


def sj_label(base: str, impl: str) -> str:
    """``spikingjelly multi`` on the CPU; ``spikingjelly multi [triton]`` on a GPU."""
    return base if harness.device() == "cpu" else f"{base} [{impl}]"


def sj_select(kind: str, impl: str) -> tuple[dict, Callable[[], None]]:
    """(extra node arguments, a hook to run before each call) that make SpikingJelly's
    ``kind`` neurons use implementation ``impl``.  Before 2.0 it is the node's ``backend``
    argument.  SpikingJelly 2.0 reads its choice once, from the environment, per neuron
    kind; the hook sets it on that kind's selection and drops the cached pick, so
    variants with different implementations can alternate in one process."""
    _, neuron, _, _ = sj_modules()
    node = getattr(neuron, SJ_NODES[kind])
    if "backend" in inspect.signature(node.__init__).parameters:
        return {"backend": impl}, lambda: None
    if harness.device() == "cpu":
        return {}, lambda: None  # one implementation: nothing to choose
    selection = importlib.import_module(f"spikingjelly._ops.{SJ_OPS[kind]}")._selection

    def select() -> None:
        if selection._requested != impl:
            selection._requested = impl
            selection._selections.clear()
            selection._compiled_selections.clear()

    return {}, select


def sj_node(kind: str, step_mode: str, impl: str = "torch", **params):
    """SpikingJelly's ``kind`` neuron (ATan surrogate) and its implementation hook."""
    _, neuron, surrogate, _ = sj_modules()
    extra, select = sj_select(kind, impl)
    node = getattr(neuron, SJ_NODES[kind])(
        surrogate_function=surrogate.ATan(), step_mode=step_mode, **params, **extra
    )
    return node, select


def sj_lif(step_mode: str, impl: str = "torch"):
    return sj_node("lif", step_mode, impl, tau=TAU)[0]


def snntorch_lif():
    snn = snntorch_module()
    return snn.Leaky(beta=BETA, spike_grad=snn.surrogate.atan(), reset_mechanism="zero")


def sj_reset(net: nn.Module) -> Callable[[], None]:
    functional = sj_modules()[3]
    return lambda: functional.reset_net(net)


def load_weights(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy ``state`` into ``module``: every key must be used and every parameter given
    (modules may have extra buffers of their own, such as snnTorch's ``beta``)."""
    missing, unexpected = module.load_state_dict(state, strict=False)
    params = {name for name, _ in module.named_parameters()}
    if unexpected or params & set(missing):
        raise RuntimeError(f"weights do not fit: missing {missing}, unexpected {unexpected}")


def train_bench(
    module: nn.Module | None,
    x: torch.Tensor,
    run: Callable[[torch.Tensor], torch.Tensor],
    reset: Callable[[], None],
    input_grad: bool = False,
) -> Bench:
    """Forward + backward of the output's sum, from reset, with fresh gradients."""
    x = x.clone().requires_grad_(input_grad)
    if module is not None:
        module.to(harness.device())
        module.train()
    params = dict(module.named_parameters()) if module is not None else {}

    def step() -> torch.Tensor:
        reset()
        x.grad = None
        for p in params.values():
            p.grad = None
        y = run(x)
        y.sum().backward()
        return y.detach()

    def grads() -> dict[str, torch.Tensor]:
        out = {name: p.grad for name, p in params.items()}
        if input_grad:
            out["input"] = x.grad
        return out

    def clear() -> None:
        reset()
        x.grad = None
        for p in params.values():
            p.grad = None

    return Bench(step, grads, clear)


def stream_bench(module: nn.Module, xs: torch.Tensor, reset: Callable[[], None]) -> Bench:
    """Inference one time step per call (batch 1), the whole stream from reset."""
    module.to(harness.device())
    module.eval()

    def step() -> torch.Tensor:
        reset()
        with torch.no_grad():
            return torch.stack([module(x) for x in xs])

    return Bench(step, dict)


def looped(net: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """A single-step module run over the time dimension, outputs stacked."""
    return lambda x: torch.stack([net(xt) for xt in x])


def snntorch_looped(lif) -> Callable[[torch.Tensor], torch.Tensor]:
    def run(x: torch.Tensor) -> torch.Tensor:
        lif.reset_mem()
        return torch.stack([lif(xt)[0] for xt in x])

    return run


def inputs(
    shape: tuple[int, ...], low: float = 0.0, high: float = 2.0, dtype=torch.float32
) -> torch.Tensor:
    """The same numbers on every device: drawn on the CPU, then moved and cast."""
    g = torch.Generator().manual_seed(1234)
    x = torch.rand(shape, generator=g) * (high - low) + low
    return x.to(device=harness.device(), dtype=dtype)


def reference_weights(cls: type) -> dict[str, torch.Tensor]:
    """torch's default initialisation (seed 0) with every Linear/Conv weight scaled by
    WEIGHT_GAIN, so that all layers spike and the checks compare real spike trains."""
    torch.manual_seed(0)
    state = {k: v.clone() for k, v in cls().state_dict().items()}
    for k, v in state.items():
        if k.endswith("weight") and v.dim() >= 2:
            v.mul_(WEIGHT_GAIN)
    return state


def snndsl_train_variants(
    spec: Path, x, state, input_grad: bool, memory: bool, chunk_note: str | None = None
) -> list[Variant]:
    """Every snndsl backend's multi-step form; with ``memory``, also the memory option
    (``forward_chunked`` with checkpoints, T/CHUNKS steps at a time) of every backend but
    compile.  ``chunk_note`` set: the chunked outputs are not comparable (it says why)."""
    out = []
    chunked = []
    chunk = max(1, x.shape[0] // CHUNKS)
    for label, cls in snndsl_variants(spec, "multi"):

        def make(cls=cls) -> Bench:
            net = cls()
            load_weights(net, state)
            return train_bench(net, x, net, net.reset, input_grad)

        def make_chunked(cls=cls) -> Bench:
            net = cls()
            load_weights(net, state)

            def run(x: torch.Tensor) -> torch.Tensor:
                return net.forward_chunked(x, chunk=chunk, checkpoint=True)

            return train_bench(net, x, run, net.reset, input_grad)

        out.append(Variant(f"{label} multi", make, memory=memory, snndsl=True))
        if memory and label != harness.variant_label("compile"):
            chunked.append(
                Variant(
                    f"{label} multi, forward_chunked(chunk={chunk}, checkpoint=True)",
                    make_chunked,
                    chunk_note or "",
                    check=chunk_note is None,
                    memory=True,
                    snndsl=True,
                )
            )
    return out + chunked


# --------------------------------------------------------------------------- problems


def p1_variants(quick: bool, problem: str = "P1") -> list[Variant]:
    """P1 (float32) or P1H (float16, longer): one LIF layer, every implementation."""
    cfg = config(problem, quick)
    spec = SPECS / "p1_lif.snn"
    x = inputs((cfg["T"], cfg["N"], 64, 16, 16), dtype=dtype_of(problem))
    out = snndsl_train_variants(spec, x, {}, input_grad=True, memory=True)
    for label, cls in snndsl_variants(spec, "single"):

        def make_single(cls=cls) -> Bench:
            net = cls()
            return train_bench(net, x, looped(net), net.reset, input_grad=True)

        out.append(Variant(f"{label} single, loop over T", make_single, snndsl=True))
    if sj_modules() is None:
        out.append(Variant("spikingjelly multi", None, SKIP_SJ, memory=True))
        out.append(Variant("spikingjelly single, loop over T", None, SKIP_SJ))
    else:
        out += sj_neuron_variants("lif", x, {"tau": TAU})

        def make_sj_single() -> Bench:
            net = sj_lif("s")
            bench = train_bench(net, x, looped(net), sj_reset(net), input_grad=True)
            bench.before = sj_select("lif", "auto")[1]  # SpikingJelly's own choice
            return bench

        out.append(Variant("spikingjelly single, loop over T", make_sj_single))
    if snntorch_module() is None:
        out.append(Variant("snntorch Leaky, loop over T", None, SKIP_SNNTORCH, check=False))
    else:

        def make_snntorch() -> Bench:
            lif = snntorch_lif()
            return train_bench(lif, x, snntorch_looped(lif), lambda: None, input_grad=True)

        out.append(
            Variant("snntorch Leaky, loop over T", make_snntorch, SNNTORCH_NOTE, check=False)
        )
    out.append(
        Variant(
            "floor: relu(x)",
            lambda: train_bench(None, x, torch.relu, lambda: None, input_grad=True),
            "ReLU on the same input: one element-wise op and its backward",
            check=False,
            memory=True,
        )
    )
    return out


def sj_neuron_variants(kind: str, x: torch.Tensor, params: dict) -> list[Variant]:
    """SpikingJelly's multi-step ``kind`` neuron on ``x``, once per implementation."""
    out = []
    for impl in sj_implementations():

        def make(impl=impl) -> Bench:
            net, select = sj_node(kind, "m", impl, **params)
            select()
            bench = train_bench(net, x, net, sj_reset(net), input_grad=True)
            bench.before = select
            return bench

        out.append(Variant(sj_label("spikingjelly multi", impl), make, memory=True))
    return out


def p1h_variants(quick: bool) -> list[Variant]:
    return p1_variants(quick, "P1H")


NEURON_SPECS = {"LIF": "p1_lif.snn", "EIF": "p1_eif.snn", "Izhikevich": "p1_izhikevich.snn"}
SJ_NEURON_PARAMS = {
    "LIF": ("lif", {"tau": TAU}),
    "EIF": ("eif", {"tau": TAU}),
    "Izhikevich": ("izhikevich", {"tau": TAU}),
}


def neuron_variants(quick: bool) -> dict[str, list[Variant]]:
    """P1 with each neuron: LIF (built in) and the prelude's EIF and Izhikevich, whose
    equations snndsl compiles like any user-defined neuron's; SpikingJelly's own node for
    each is the reference."""
    cfg = config("NEURON", quick)
    x = inputs((cfg["T"], cfg["N"], 64, 16, 16))
    groups = {}
    for name, spec in NEURON_SPECS.items():
        out = snndsl_train_variants(SPECS / spec, x, {}, input_grad=True, memory=False)
        if sj_modules() is not None:
            kind, params = SJ_NEURON_PARAMS[name]
            out += sj_neuron_variants(kind, x, params)
        groups[name] = out
    return groups


def p2_layers(neuron: Callable[[], nn.Module], mods) -> nn.Sequential:
    """The P2 network from ``mods`` (torch.nn or SpikingJelly's layer module, with its
    step mode bound) with ``neuron()`` at each LIF; names as in p2_conv.snn."""
    return nn.Sequential(
        OrderedDict(
            conv1=mods.Conv2d(3, 32, 3, padding=1, bias=False),
            bn1=mods.BatchNorm2d(32),
            sn1=neuron(),
            pool1=mods.MaxPool2d(2),
            conv2=mods.Conv2d(32, 64, 3, padding=1, bias=False),
            bn2=mods.BatchNorm2d(64),
            sn2=neuron(),
            pool2=mods.MaxPool2d(2),
            flat=mods.Flatten(),
            fc1=mods.Linear(4096, 256),
            sn3=neuron(),
            fc2=mods.Linear(256, 10),
            sn4=neuron(),
        )
    )


class _StepMode:
    """SpikingJelly's layer module with ``step_mode`` given to every constructor."""

    def __init__(self, step_mode: str):
        self.layer = sj_modules()[0]
        self.step_mode = step_mode

    def __getattr__(self, name: str):
        cls = getattr(self.layer, name)
        return lambda *a, **k: cls(*a, step_mode=self.step_mode, **k)


def sj_p2(step_mode: str, impl: str = "torch") -> nn.Sequential:
    return p2_layers(lambda: sj_lif(step_mode, impl), _StepMode(step_mode))


class SnnTorchP2(nn.Module):
    """P2 the snnTorch way: every layer runs once per time step on [N, ...]."""

    def __init__(self):
        super().__init__()
        for name, module in p2_layers(snntorch_lif, nn).named_children():
            self.add_module(name, module)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        neurons = [self.sn1, self.sn2, self.sn3, self.sn4]
        for sn in neurons:
            sn.reset_mem()
        out = []
        for x in x_seq:
            h = self.pool1(self.sn1(self.bn1(self.conv1(x)))[0])
            h = self.pool2(self.sn2(self.bn2(self.conv2(h)))[0])
            h = self.sn3(self.fc1(self.flat(h)))[0]
            out.append(self.sn4(self.fc2(h))[0])
        return torch.stack(out)


def ann_floor(net: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The ANN on the time-folded batch [T*N, ...]."""
    return lambda x: net(x.flatten(0, 1))


def p2_variants(quick: bool) -> list[Variant]:
    cfg = config("P2", quick)
    spec = SPECS / "p2_conv.snn"
    x = inputs((cfg["T"], cfg["N"], 3, 32, 32), 0.0, 1.0)
    state = reference_weights(snndsl_variants(spec, "multi")[0][1])
    chunk_note = (
        "not compared: in training BatchNorm normalises each chunk over its own samples, "
        "so the outputs are those of a smaller batch"
    )
    out = snndsl_train_variants(
        spec, x, state, input_grad=False, memory=True, chunk_note=chunk_note
    )
    if sj_modules() is None:
        out.append(Variant("spikingjelly multi", None, SKIP_SJ, memory=True))
    else:
        for impl in sj_implementations():

            def make_sj(impl=impl) -> Bench:
                select = sj_select("lif", impl)[1]
                select()
                net = sj_p2("m", impl)
                load_weights(net, state)
                bench = train_bench(net, x, net, sj_reset(net))
                bench.before = select
                return bench

            out.append(Variant(sj_label("spikingjelly multi", impl), make_sj, memory=True))
    if snntorch_module() is None:
        out.append(Variant("snntorch, loop over T", None, SKIP_SNNTORCH, check=False))
    else:

        def make_snntorch() -> Bench:
            net = SnnTorchP2()
            load_weights(net, state)
            return train_bench(net, x, net, lambda: None)

        note = SNNTORCH_NOTE + "; BatchNorm statistics per step, not over T*N"
        out.append(Variant("snntorch, loop over T", make_snntorch, note, check=False))

    def make_floor() -> Bench:
        net = p2_layers(nn.ReLU, nn)
        load_weights(net, state)
        return train_bench(net, x, ann_floor(net), lambda: None)

    note = "same layers and weights, ReLU for LIF, on the folded [T*N] batch"
    out.append(Variant("floor: ANN", make_floor, note, check=False, memory=True))
    return out


def p3_variants(quick: bool) -> list[Variant]:
    cfg = config("P3", quick)
    spec = SPECS / "p3_linear_lif.snn"
    x = inputs((cfg["T"], cfg["N"], 2048), -1.0, 1.0)
    state = reference_weights(snndsl_variants(spec, "multi")[0][1])
    out = snndsl_train_variants(spec, x, state, input_grad=False, memory=False)
    if sj_modules() is None:
        out.append(Variant("spikingjelly multi", None, SKIP_SJ))
    else:

        def make_sj() -> Bench:
            layer = sj_modules()[0]
            net = nn.Sequential(
                OrderedDict(fc=layer.Linear(2048, 2048, step_mode="m"), sn=sj_lif("m"))
            )
            load_weights(net, state)
            bench = train_bench(net, x, net, sj_reset(net))
            bench.before = sj_select("lif", "auto")[1]  # SpikingJelly's own choice
            return bench

        out.append(Variant("spikingjelly multi", make_sj))

    def make_floor() -> Bench:
        net = nn.Sequential(OrderedDict(fc=nn.Linear(2048, 2048), sn=nn.ReLU()))
        load_weights(net, state)
        return train_bench(net, x, ann_floor(net), lambda: None)

    note = "Linear + ReLU on the folded [T*N] batch"
    out.append(Variant("floor: Linear + ReLU", make_floor, note, check=False))
    return out


def seed_sj_single() -> nn.Sequential:
    layer, neuron, _, _ = sj_modules()
    return nn.Sequential(
        OrderedDict(
            linear_1=layer.Linear(8, 4, step_mode="s"),
            if_1=neuron.IFNode(step_mode="s"),
            linear_2=layer.Linear(4, 2, step_mode="s"),
            if_2=neuron.IFNode(step_mode="s"),
        )
    )


P4_NETWORKS = {
    # name: (spec, per-sample input shape, SpikingJelly builder, steps key)
    "seed": (ROOT / "specs" / "seed.snn", (8,), seed_sj_single, "seed_steps"),
    "P2 conv": (SPECS / "p2_conv.snn", (3, 32, 32), lambda: sj_p2("s"), "conv_steps"),
}


def p4_variants(quick: bool) -> dict[str, list[Variant]]:
    cfg = config("P4", quick)
    groups = {}
    for name, (spec, shape, sj_build, steps_key) in P4_NETWORKS.items():
        xs = inputs((cfg[steps_key], 1, *shape), -1.0, 2.0)
        singles = snndsl_variants(spec, "single")
        state = reference_weights(singles[0][1])
        out = []
        for label, cls in singles:

            def make(cls=cls, xs=xs, state=state) -> Bench:
                net = cls()
                load_weights(net, state)
                return stream_bench(net, xs, net.reset)

            out.append(Variant(f"{label} single", make, snndsl=True))
        if sj_modules() is None:
            out.append(Variant("spikingjelly single", None, SKIP_SJ))
        else:

            def make_sj(sj_build=sj_build, xs=xs, state=state) -> Bench:
                net = sj_build()
                load_weights(net, state)
                return stream_bench(net, xs, sj_reset(net))

            out.append(Variant("spikingjelly single", make_sj))
        groups[name] = out
    return groups


# --------------------------------------------------------------------------- checking


class CheckFailed(Exception):
    pass


def max_rel(a: torch.Tensor | None, b: torch.Tensor | None) -> float:
    if a is None or b is None:
        return 0.0 if a is None and b is None else math.inf
    a, b = a.double(), b.double()
    scale = b.abs().max().item()
    diff = (a - b).abs().max().item()
    return diff / scale if scale > 0 else diff


def build_and_check(variants: list[Variant]) -> tuple[dict[str, Bench], list[Row], list[str]]:
    """Build every variant and run it once, timing both (``Row.first``: compilation and
    other one-off costs show there); compare each checked one with the reference
    (SpikingJelly when installed, else the first snndsl variant): outputs must be identical
    and gradients within GRAD_RTOL.  A variant that fails is left out of the timing with a
    note, and :data:`FAILURES` records it."""
    benches: dict[str, Bench] = {}
    results: dict[str, tuple[torch.Tensor, dict[str, torch.Tensor]]] = {}
    first: dict[str, float] = {}
    notes: dict[str, str] = {}
    lines: list[str] = []
    # float32 on the CPU: every variant must compute the same spikes.  On a GPU or in
    # float16, kernels may round differently (fused multiply-adds, float32 arithmetic
    # inside a float16 kernel), so a spike can flip: the variant is still timed and the
    # difference is stated next to it.
    for v in variants:
        if v.make is None:
            continue
        t0 = time.perf_counter()
        try:
            bench = v.make()
            bench.before()
            y = bench.step()
            harness.sync()
        except Exception as exc:  # an implementation this machine cannot run
            reason = (str(exc).splitlines() or [""])[0][:160]
            notes[v.label] = f"skipped: {type(exc).__name__}: {reason}"
            continue
        benches[v.label] = bench
        first[v.label] = time.perf_counter() - t0
        if v.check:
            grads = {k: g.clone() if g is not None else None for k, g in bench.grads().items()}
            results[v.label] = (y, grads)
    checked = [v for v in variants if v.label in results]
    sj = [v for v in checked if v.label.startswith("spikingjelly")]
    ref = (sj or checked)[0] if checked else None
    if ref is not None:
        y_ref, g_ref = results[ref.label]
        rate = y_ref.float().mean().item()
        if len(checked) == 1:
            lines.append(
                f"Not checked: nothing to compare {ref.label} with "
                f"(spikingjelly is not installed); its output spike rate: {rate:.3f}."
            )
        else:
            without = "" if sj else " (spikingjelly is not installed)"
            lines.append(
                f"Checked against **{ref.label}**{without} on the same weights and input "
                f"before timing (its output spike rate: {rate:.3f}):"
            )
        strict = harness.device() == "cpu" and y_ref.dtype == torch.float32
        rtol = grad_rtol(y_ref.dtype)
        for v in checked:
            if v is ref:
                continue
            y, g = results[v.label]
            if y.shape != y_ref.shape or not torch.equal(y, y_ref):
                if y.shape == y_ref.shape and not strict:
                    flips = int((y != y_ref).sum().item())
                    msg = f"{flips:,} of {y.numel():,} outputs differ from {ref.label}"
                    notes[v.label] = f"{msg} (rounding); timed"
                    lines.append(f"- {v.label}: {msg}; gradients not compared; timed")
                    continue
                diff = (y - y_ref).abs().max().item() if y.shape == y_ref.shape else "shape"
                msg = f"outputs differ from {ref.label} (max |Δ| = {diff})"
            elif set(g) != set(g_ref):
                msg = f"gradients of {sorted(g)} vs {sorted(g_ref)}"
            else:
                err = max((max_rel(g[k], g_ref[k]) for k in g_ref), default=0.0)
                msg = "" if err <= rtol else f"gradients differ (max rel {err:.2e})"
                if not msg:
                    grads = f", gradients max rel diff {err:.1e}" if g_ref else ""
                    lines.append(f"- {v.label}: outputs identical{grads}")
                elif not strict:
                    notes[v.label] = f"{msg}; timed"
                    lines.append(f"- {v.label}: outputs identical, {msg}; timed")
                    continue
            if msg:
                notes[v.label] = f"EXCLUDED: {msg}"
                lines.append(f"- {v.label}: **FAILED**, {msg}")
                FAILURES.append(f"{v.label}: {msg}")
                del benches[v.label]
    rows = [Row(v.label, None, notes.get(v.label, v.note), first.get(v.label)) for v in variants]
    return benches, rows, lines


FAILURES: list[str] = []


def timed(variants: list[Variant], reps: int, key: str = "") -> tuple[list[Row], list[str]]:
    """Build, check and time ``variants``; with ``key``, their medians are recorded
    (harness.MEDIANS) under it."""
    benches, rows, lines = build_and_check(variants)
    times = interleaved(
        {label: b.step for label, b in benches.items()},
        reps,
        warmup=1,
        before={label: b.before for label, b in benches.items()},
    )
    for row in rows:
        row.samples = times.get(row.label)
    if key:
        harness.MEDIANS[key] = {r.label: r.median for r in rows if r.samples}
    return rows, lines


def reference_label(rows: list[Row], suffix: str) -> str | None:
    for row in rows:
        if row.label.startswith("snndsl") and row.label.endswith(suffix) and row.samples:
            return row.label
    return None


def floor_label(rows: list[Row]) -> str | None:
    return next((r.label for r in rows if r.label.startswith("floor")), None)


# --------------------------------------------------------------------------- sections


def section(title: str, intro: list[str], lines: list[str], table: str) -> str:
    parts = [f"## {title}", "", *intro, ""]
    if lines:
        parts += [*lines, ""]
    return "\n".join([*parts, table, ""])


def train_section(problem: str, title: str, describe: str, variants_fn, quick: bool) -> str:
    cfg = config(problem, quick)
    rows, lines = timed(variants_fn(quick), cfg["reps"], key=problem)
    intro = [
        describe.format(**cfg, device=harness.device()),
        f"Forward + backward of the output's sum, from reset; median of {cfg['reps']} "
        "interleaved repetitions after one warm-up.",
    ]
    table = harness.timing_table(rows, "ms", 1e3, reference_label(rows, "multi"), floor_label(rows))
    return section(title, intro, lines, table)


def section_p1(quick: bool) -> str:
    return train_section(
        "P1",
        "P1: neuron-bound, one LIF layer",
        "One LIF layer (τ = 2, ATan) on input [T={T}, N={N}, 64, 16, 16] "
        "(`benchmarks/specs/p1_lif.snn`); gradients flow to the input.",
        p1_variants,
        quick,
    )


def section_p1h(quick: bool) -> str:
    return train_section(
        "P1H",
        "P1H: one LIF layer, float16, T = 32",
        "P1's LIF layer in half precision over a longer sequence, the setting of "
        "SpikingJelly's own LIF benchmarks: input [T={T}, N={N}, 64, 16, 16] float16 on "
        "{device}; gradients flow to the input.",
        p1h_variants,
        quick,
    )


def section_neuron(quick: bool) -> str:
    """Each neuron of NEURON_SPECS on P1's input: one table per neuron, then the ratio of
    every implementation's time to its own time on LIF."""
    cfg = config("NEURON", quick)
    parts, lines = [], []
    medians: dict[str, dict[str, float]] = {}
    for name, variants in neuron_variants(quick).items():
        rows, check_lines = timed(variants, cfg["reps"], key=f"NEURON {name}")
        medians[name] = {r.label: r.median for r in rows if r.samples}
        if check_lines:
            lines += [f"{name}: {check_lines[0][0].lower()}{check_lines[0][1:]}", *check_lines[1:]]
        table = harness.timing_table(rows, "ms", 1e3, reference_label(rows, "multi"), None)
        parts.append(f"{name} (`benchmarks/specs/{NEURON_SPECS[name]}`):\n\n{table}\n")
    base = medians.get("LIF", {})
    body = []
    for label in base:
        cells = [label]
        for name in NEURON_SPECS:
            if name == "LIF":
                continue
            cells.append(harness.ratio(medians[name].get(label), base[label]))
        body.append(cells)
    headers = ["variant", *(f"{n} ÷ LIF" for n in NEURON_SPECS if n != "LIF")]
    parts.append(
        "Each implementation's time on a neuron divided by its own time on LIF (the "
        "same run):\n\n" + harness.md_table(headers, body) + "\n"
    )
    intro = [
        "A neuron written in the DSL against the built-in LIF: the prelude's EIF and "
        "Izhikevich (`snndsl/prelude/builtin.snn`), whose equations snndsl compiles as it "
        "would a user's, on P1's input [T={T}, N={N}, 64, 16, 16] on {device}; each against "
        "SpikingJelly's own node. Forward + backward, median of {reps} interleaved "
        "repetitions after one warm-up.".format(**cfg, device=harness.device()),
    ]
    return section("NEURON: user-defined neurons against LIF", intro, lines, "\n".join(parts))


def section_p2(quick: bool) -> str:
    return train_section(
        "P2",
        "P2: CIFAR-style convolutional SNN",
        "Conv-BN-LIF-pool ×2, Linear(4096, 256)-LIF, Linear(256, 10)-LIF on "
        "[T={T}, N={N}, 3, 32, 32] (`benchmarks/specs/p2_conv.snn`), training mode.",
        p2_variants,
        quick,
    )


def section_p3(quick: bool) -> str:
    return train_section(
        "P3",
        "P3: long sequence, Linear + LIF",
        "Linear(2048, 2048) + LIF on [T={T}, N={N}, 2048] (`benchmarks/specs/p3_linear_lif.snn`).",
        p3_variants,
        quick,
    )


def section_p4(quick: bool) -> str:
    cfg = config("P4", quick)
    groups = p4_variants(quick)
    checked: dict[str, tuple[dict[str, Bench], list[Row]]] = {}
    lines: list[str] = []
    fns = {}
    for name, variants in groups.items():
        benches, rows, check_lines = build_and_check(variants)
        checked[name] = (benches, rows)
        if check_lines:  # "seed: checked against ...", then its list
            first = check_lines[0]
            lines += ["", f"{name}: {first[0].lower()}{first[1:]}", *check_lines[1:]]
        fns.update({(name, label): b.step for label, b in benches.items()})
    # one round-robin over both networks' variants
    times = interleaved(fns, cfg["reps"], warmup=1)
    tables = []
    for name, (_, rows) in checked.items():
        steps = cfg["seed_steps" if name == "seed" else "conv_steps"]
        for row in rows:
            samples = times.get((name, row.label))
            row.samples = [t / steps for t in samples] if samples else None
        ref = reference_label(rows, "single")
        tables.append(f"{name} ({steps} steps per repetition):\n")
        tables.append(harness.timing_table(rows, "µs/step", 1e6, ref, None) + "\n")
    intro = [
        "Streaming inference at batch 1: the single-step forms called once per time step "
        "(eval mode, `torch.no_grad()`), latency per step; the seed network "
        "(`specs/seed.snn`) and P2. Median of "
        f"{cfg['reps']} interleaved repetitions after one warm-up.",
    ]
    return section("P4: streaming, one step at a time", intro, lines[1:], "\n".join(tables))


# --------------------------------------------------------------------------- memory

MEMORY_PROBLEMS = {"P1": p1_variants, "P2": p2_variants}


def memory_child(problem: str, label: str, quick: bool) -> None:
    """In a fresh interpreter: build one variant and measure the growth of the peak
    resident set size (ru_maxrss, KiB on Linux) over its first forward + backward and over
    a second one; print both as JSON (the second is None where the peak counter cannot be
    reset)."""
    variants = {v.label: v for v in MEMORY_PROBLEMS[problem](quick)}
    bench = variants[label].make()

    def measure(need_reset: bool) -> int | None:
        gc.collect()
        harness.release_free_memory()
        if not harness.reset_peak_rss() and need_reset:
            return None
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        bench.step()
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base

    first = measure(need_reset=False)
    bench.clear()
    steady = measure(need_reset=True)
    print(json.dumps({"first": first, "steady": steady}))


def gpu_peak_mib(bench: Bench) -> float:
    """Peak GPU memory of one forward + backward above what was allocated before it
    (``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``), in MiB."""
    bench.clear()
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    bench.before()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    bench.step()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def section_gpu_mem(quick: bool) -> str:
    """The MEM section on a GPU: each variant's peak allocation over a forward + backward,
    measured in this process (the caching allocator's counters), after one warm-up step."""
    cfg = config("MEM", quick)
    parts = []
    for problem, variants_fn in {**MEMORY_PROBLEMS, "P1H": p1h_variants}.items():
        variants = [v for v in variants_fn(quick) if v.memory]
        peaks: dict[str, float] = {}
        errors: dict[str, str] = {}
        for v in variants:
            if v.make is None:
                continue
            try:
                bench = v.make()
                bench.before()
                bench.step()  # one-off allocations (workspaces, compilation) not counted
                peaks[v.label] = statistics.median(gpu_peak_mib(bench) for _ in range(cfg["reps"]))
            except Exception as exc:
                errors[v.label] = f"not measured: {type(exc).__name__}: {str(exc)[:160]}"
            finally:
                bench = None
                gc.collect()
                torch.cuda.empty_cache()
        ref = reference_label([Row(lb, [m]) for lb, m in peaks.items()], "multi")
        sj = next((lb for lb in peaks if lb.startswith("spikingjelly multi")), None)
        floor = next((lb for lb in peaks if lb.startswith("floor")), None)
        body = []
        for v in variants:
            peak = peaks.get(v.label)
            note = v.note if v.make is None else errors.get(v.label, "")
            body.append(
                [
                    v.label,
                    harness.fmt_num(peak),
                    harness.ratio(peak, peaks.get(ref)),
                    harness.ratio(peak, peaks.get(sj)),
                    harness.ratio(peak, peaks.get(floor)),
                    note,
                ]
            )
        size = config(problem, quick)
        parts.append(f"{problem} (T={size['T']}, N={size['N']}, {dtype_of(problem)}):\n")
        headers = ["variant", "peak (MiB)", f"÷ {ref}", f"÷ {sj}", f"÷ {floor}", "note"]
        parts.append(harness.md_table(headers, body) + "\n")
    intro = [
        "Peak GPU memory of one forward + backward: `torch.cuda.max_memory_allocated()` "
        "after `torch.cuda.reset_peak_memory_stats()`, minus what was allocated before the "
        "step (model, weights and input exist by then; the previous step's gradients and "
        f"state are dropped first). After one warm-up step; median of {cfg['reps']}.",
    ]
    return section("Peak memory of forward + backward (GPU)", intro, [], "\n".join(parts))


def section_mem(quick: bool) -> str:
    if harness.device() == "cuda":
        return section_gpu_mem(quick)
    cfg = config("MEM", quick)
    parts = []
    for problem, variants_fn in MEMORY_PROBLEMS.items():
        variants = [v for v in variants_fn(quick) if v.memory]
        first: dict[str, list[float]] = {v.label: [] for v in variants if v.make}
        steady: dict[str, list[float]] = {label: [] for label in first}
        errors: dict[str, str] = {}
        for rep in range(cfg["reps"]):
            labels = list(first)
            k = rep % len(labels) if labels else 0
            for label in labels[k:] + labels[:k]:
                if label in errors:
                    continue
                code = f"import problems; problems.memory_child({problem!r}, {label!r}, {quick!r})"
                try:
                    r = harness.run_child(code)
                except (RuntimeError, subprocess.SubprocessError, ValueError) as exc:
                    errors[label] = f"not measured: {str(exc).strip().splitlines()[-1][:200]}"
                    print(f"{problem} {label}: {exc}", file=sys.stderr)
                    continue
                first[label].append(r["first"] / 1024)
                if r["steady"] is not None:
                    steady[label].append(r["steady"] / 1024)
        med = {
            label: (statistics.median(steady[label]) if steady[label] else None) for label in first
        }
        ref = reference_label([Row(lb, steady[lb] or None) for lb in first], "multi")
        floor = next((lb for lb in first if lb.startswith("floor")), None)
        sj = "spikingjelly multi" if "spikingjelly multi" in first else None
        body = []
        for v in variants:
            if v.make is None or not first[v.label]:
                note = v.note if v.make is None else errors.get(v.label, "")
                body.append([v.label, "—", "—", "—", "—", "—", note])
                continue
            body.append(
                [
                    v.label,
                    harness.fmt_num(med[v.label]),
                    harness.fmt_num(statistics.median(first[v.label])),
                    harness.ratio(med[v.label], med.get(ref)),
                    harness.ratio(med[v.label], med.get(sj)),
                    harness.ratio(med[v.label], med.get(floor)),
                    v.note if not v.check else "",
                ]
            )
        size = config(problem, quick)
        parts.append(f"{problem} (T={size['T']}, N={size['N']}):\n")
        headers = [
            "variant",
            "steady step (MiB)",
            "first step (MiB)",
            f"÷ {ref}",
            f"÷ {sj}",
            f"÷ {floor}",
            "note",
        ]
        parts.append(harness.md_table(headers, body) + "\n")
    intro = [
        "Growth of the peak resident set size (`resource.getrusage(RUSAGE_SELF).ru_maxrss` "
        "after the step minus before it) over one forward + backward, each variant in its "
        "own fresh `python -c` subprocess, started through a small launcher (Linux hands "
        "the peak of the process that execs to the new program). The model, its weights "
        "and the input exist before the baseline is read. *first step* is the first call, "
        "with one-off costs (library caches, compilation); *steady step* is the second, "
        "after the first one's gradients and state are dropped and the kernel's peak "
        "counter is reset (`/proc/self/clear_refs`). glibc's mmap threshold is fixed in "
        "the subprocess (`MALLOC_MMAP_THRESHOLD_`) and free heap memory is trimmed before "
        "each baseline, so the resident set follows the live tensors and the numbers repeat "
        f"from run to run. Median of {cfg['reps']} subprocess(es) per variant; ratios use "
        "the steady step.",
    ]
    return section("Peak memory of forward + backward", intro, [], "\n".join(parts))


# --------------------------------------------------------------------------- code generation


def chain_spec(nodes: int) -> str:
    """A network of ``nodes`` layer nodes: a chain of Linear/LIF pairs, one statement each."""
    lines = ["network Chain {", "    input x: [16]", "    h0 = x"]
    for i in range(nodes // 2):
        lines.append(
            f"    h{i + 1} = h{i} -> fc{i}: Linear(16) -> sn{i}: LIF(tau=2.0, surrogate=ATan())"
        )
    lines += [f"    output y = h{nodes // 2}", "}"]
    return "\n".join(lines) + "\n"


def cold_start_command() -> list[str]:
    script = Path(sys.executable).with_name("snndsl")
    if script.exists():
        return [str(script), "generate", "specs/seed.snn"]
    return [sys.executable, "-m", "snndsl", "generate", "specs/seed.snn"]


def section_gen(quick: bool) -> str:
    import snndsl

    cfg = config("GEN", quick)
    snndsl.generate(chain_spec(10), mode="multi")  # one-time costs: grammar, prelude
    body = []
    previous = None
    verdict = ""
    for nodes, reps in zip(cfg["sizes"], cfg["reps"]):
        text = chain_spec(nodes)
        source = snndsl.generate(text, mode="multi")
        fns = {
            "parse": lambda text=text: snndsl.parse(text),
            "generate": lambda text=text: snndsl.generate(text, mode="multi"),
        }
        times = interleaved(fns, reps, warmup=0)
        parse = statistics.median(times["parse"])
        gen = statistics.median(times["generate"])
        growth = ["—", "—"]
        if previous is not None:
            span = math.log(nodes / previous[0])
            exponents = [math.log(parse / previous[1]) / span, math.log(gen / previous[2]) / span]
            growth = [f"{e:.2f}" for e in exponents]
            verdict = (
                f"From {previous[0]:,} to {nodes:,} nodes, generate took "
                f"{gen / previous[2]:.1f}× as long for {nodes / previous[0]:.0f}× the nodes "
                f"(exponent {exponents[1]:.2f}): "
                + (
                    "about linear."
                    if exponents[1] <= LINEAR_EXPONENT
                    else "faster than linear growth."
                )
            )
        previous = (nodes, parse, gen)
        body.append(
            [
                f"{nodes:,}",
                f"{text.count(chr(10)):,}",
                f"{source.count(chr(10)):,}",
                harness.fmt_num(parse * 1e3),
                harness.fmt_num(gen * 1e3),
                harness.fmt_num(gen * 1e6 / nodes),
                *growth,
                str(reps),
            ]
        )
    table = harness.md_table(
        [
            "layer nodes",
            "spec lines",
            "generated lines",
            "parse (ms)",
            "generate (ms)",
            "generate (µs/node)",
            "parse growth exponent",
            "generate growth exponent",
            "reps",
        ],
        body,
    )
    command = cold_start_command()
    fns = {
        "snndsl generate specs/seed.snn": lambda: subprocess.run(
            command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL
        ),
        "floor: python -c pass": lambda: subprocess.run([sys.executable, "-c", "pass"], check=True),
    }
    times = interleaved(fns, cfg["cold_reps"], warmup=1)
    rows = [Row(label, times[label]) for label in fns]
    rows[0].note = f"`{' '.join(Path(c).name if i == 0 else c for i, c in enumerate(command))}`"
    rows[1].note = "interpreter start-up alone"
    cold = harness.timing_table(rows, "ms", 1e3, None, "floor: python -c pass")
    intro = [
        "Synthetic specs: a chain of `Linear(16)` / `LIF(tau=2.0, surrogate=ATan())` pairs, "
        "one statement per pair. *parse* is `snndsl.parse(text)`; *generate* is "
        '`snndsl.generate(text, mode="multi")`, the whole pipeline (parse, checks, shape '
        "inference, code generation). A *growth exponent* is the slope of log(time) over "
        "log(nodes) from the previous row: 1.0 is linear growth, 2.0 quadratic. "
        "Medians of interleaved repetitions (parse and generate alternate).",
    ]
    cold_intro = (
        f"\nCold start: `snndsl generate specs/seed.snn` in a fresh process (stdout "
        f"discarded), interleaved with a bare interpreter; median of {cfg['cold_reps']} "
        "runs after one warm-up.\n"
    )
    body_md = table + "\n\n" + verdict + "\n" + cold_intro + "\n" + cold
    return section("Code generation", intro, [], body_md)


SECTIONS = {
    "P1": section_p1,
    "P1H": section_p1h,
    "P2": section_p2,
    "P3": section_p3,
    "P4": section_p4,
    "NEURON": section_neuron,
    "MEM": section_mem,
    "GEN": section_gen,
}

# What a run without --only does on each device: on a GPU, the training problems (P1, its
# float16 form, P2), the neurons and GPU memory; P3, P4 and GEN measure CPU-side costs.
DEFAULT_SECTIONS = {
    "cpu": ("P1", "P2", "P3", "P4", "NEURON", "MEM", "GEN"),
    "cuda": ("P1", "P1H", "P2", "NEURON", "MEM"),
}
