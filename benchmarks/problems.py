"""The benchmark problems: what is built, checked, timed and measured.

Each section function takes the ``quick`` flag and returns its Markdown.  Variants are
built lazily (``Variant.make``), so a peak-memory child process builds only the one it
measures.  All snndsl variants come from :func:`harness.snndsl_variants`.
"""

from __future__ import annotations

import gc
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
GRAD_RTOL = 1e-5  # max |Δgrad| / max |grad| allowed between checked variants
CHUNKS = 4  # the memory option runs T / CHUNKS steps at a time
LINEAR_EXPONENT = 1.15  # a growth exponent up to this reads as "about linear"

# Sizes and repetitions: (full, quick).
CONFIG = {
    "P1": ({"T": 16, "N": 32, "reps": 15}, {"T": 4, "N": 4, "reps": 3}),
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


def config(problem: str, quick: bool) -> dict:
    return CONFIG[problem][1 if quick else 0]


# --------------------------------------------------------------------------- building blocks


@dataclass
class Bench:
    """A built variant: ``step()`` runs it once (from reset) and returns its output;
    ``grads()`` the gradients the last step left (empty for inference)."""

    step: Callable[[], torch.Tensor]
    grads: Callable[[], dict[str, torch.Tensor]]
    clear: Callable[[], None] = lambda: None  # drop what the last step left (grads, state)


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


def sj_lif(step_mode: str):
    _, neuron, surrogate, _ = sj_modules()
    return neuron.LIFNode(tau=TAU, surrogate_function=surrogate.ATan(), step_mode=step_mode)


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
    params = dict(module.named_parameters()) if module is not None else {}
    if module is not None:
        module.train()

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


def inputs(shape: tuple[int, ...], low: float = 0.0, high: float = 2.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(1234)
    return torch.rand(shape, generator=g) * (high - low) + low


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


def p1_variants(quick: bool) -> list[Variant]:
    cfg = config("P1", quick)
    spec = SPECS / "p1_lif.snn"
    x = inputs((cfg["T"], cfg["N"], 64, 16, 16))
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

        def make_sj(step_mode: str) -> Bench:
            net = sj_lif(step_mode)
            run = net if step_mode == "m" else looped(net)
            return train_bench(net, x, run, sj_reset(net), input_grad=True)

        out.append(Variant("spikingjelly multi", lambda: make_sj("m"), memory=True))
        out.append(Variant("spikingjelly single, loop over T", lambda: make_sj("s")))
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


def sj_p2(step_mode: str) -> nn.Sequential:
    return p2_layers(lambda: sj_lif(step_mode), _StepMode(step_mode))


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

        def make_sj() -> Bench:
            net = sj_p2("m")
            load_weights(net, state)
            return train_bench(net, x, net, sj_reset(net))

        out.append(Variant("spikingjelly multi", make_sj, memory=True))
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
            return train_bench(net, x, net, sj_reset(net))

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
    for v in variants:
        if v.make is None:
            continue
        t0 = time.perf_counter()
        bench = benches[v.label] = v.make()
        y = bench.step()
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
        for v in checked:
            if v is ref:
                continue
            y, g = results[v.label]
            if y.shape != y_ref.shape or not torch.equal(y, y_ref):
                diff = (y - y_ref).abs().max().item() if y.shape == y_ref.shape else "shape"
                msg = f"outputs differ from {ref.label} (max |Δ| = {diff})"
            elif set(g) != set(g_ref):
                msg = f"gradients of {sorted(g)} vs {sorted(g_ref)}"
            else:
                err = max((max_rel(g[k], g_ref[k]) for k in g_ref), default=0.0)
                msg = "" if err <= GRAD_RTOL else f"gradients differ (max rel {err:.2e})"
                if not msg:
                    grads = f", gradients max rel diff {err:.1e}" if g_ref else ""
                    lines.append(f"- {v.label}: outputs identical{grads}")
            if msg:
                notes[v.label] = f"EXCLUDED: {msg}"
                lines.append(f"- {v.label}: **FAILED**, {msg}")
                FAILURES.append(f"{v.label}: {msg}")
                del benches[v.label]
    rows = [Row(v.label, None, notes.get(v.label, v.note), first.get(v.label)) for v in variants]
    return benches, rows, lines


FAILURES: list[str] = []


def timed(variants: list[Variant], reps: int) -> tuple[list[Row], list[str]]:
    benches, rows, lines = build_and_check(variants)
    times = interleaved({label: b.step for label, b in benches.items()}, reps, warmup=1)
    for row in rows:
        row.samples = times.get(row.label)
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
    rows, lines = timed(variants_fn(quick), cfg["reps"])
    intro = [
        describe.format(**cfg),
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


def section_mem(quick: bool) -> str:
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
    "P2": section_p2,
    "P3": section_p3,
    "P4": section_p4,
    "MEM": section_mem,
    "GEN": section_gen,
}
