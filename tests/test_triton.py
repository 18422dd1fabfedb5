"""The triton backend against the eager form, on CPU through Triton's interpreter.

Without CUDA, conftest.py sets ``TRITON_INTERPRET=1`` before triton is imported, and the
tests that run kernels on CPU tensors (the ``interpret`` fixture) run them through
Triton's interpreter; with CUDA they skip and the CUDA tests at the end run instead.
Sizes are small: the interpreter runs each kernel program in numpy, one time step after
another.

What is compared, and why:

- forward values are bit-identical to the eager form's (float32, and float64) when the
  layer's step uses only arithmetic, comparisons and the functions whose kernel form does
  the same IEEE operations in the same order (``printer.EXACT_FUNCTIONS``); a step with
  exp, log, sqrt, sigmoid, tanh, atan, erfc or a power other than a square uses another
  implementation of the function (numpy's under the interpreter, libdevice's on a GPU),
  so there the float64 runs are compared, within 1e-13 relative;
- input and parameter gradients of the float64 runs within 1e-12 relative (the issue asks
  for 1e-6, a float32 scale; in float64 the adjoint equations, the fused backend's, agree
  to a few roundings: 8.6e-15 at most, measured; a parameter's gradient is summed in
  another order, per element over time in the kernel, then over elements).  A constant
  rounded to float32 in a kernel (as a Python float bound to a local becomes under the
  interpreter) shows here as 1e-8;
- T = 1 and T = 4, sizes that are not a multiple of the block (10 elements, and 1041 =
  two full programs and a partial one).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from conftest import ROOT
from test_oracle_matrix import NEURONS, SURROGATES, _branches, _spec

import snndsl
from snndsl import ir
from snndsl.backends.triton.lowering import BLOCK_SIZE
from snndsl.backends.triton.printer import EXACT_FUNCTIONS
from snndsl.cli import main

pytest.importorskip("triton")

# float64 runs; measured maxima over every test below: 8.6e-15 (gradients), 9.1e-16
# (forward values of steps with functions other than EXACT_FUNCTIONS)
GRAD_TOLERANCE = 1e-12
FORWARD_TOLERANCE = 1e-13
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture
def interpret():
    """Kernels on CPU tensors: Triton's interpreter, which conftest.py turns on."""
    if os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("CPU kernels need TRITON_INTERPRET=1 (conftest.py sets it without CUDA)")


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def _exact(net: ir.NetworkIR) -> bool:
    """Whether every neuron step of ``net`` uses only exactly-lowered operations."""
    found = []

    def visit(e: ir.PyExpr) -> ir.PyExpr:
        if isinstance(e, ir.Func) and e.name not in EXACT_FUNCTIONS:
            found.append(e.name)
        if isinstance(e, ir.BinOp) and e.op == "**" and e.right != ir.Const(2):
            found.append("**")
        return ir.map_children(e, visit)

    for n in net.neurons:
        for a in (*n.setup, *n.step):
            visit(a.value)
    return not found


def _run(module, inputs, dtype):
    xs = [x.detach().to(dtype).clone().requires_grad_(True) for x in inputs]
    module.reset()
    ys = module.to(dtype)(*xs)
    return xs, ys if isinstance(ys, tuple) else (ys,)


def _compare(spec: str, steps: int = 4, batch: int = 2, inputs=None, seed: int = 0):
    """The triton form of ``spec`` against the eager form (see the module docstring)."""
    torch.manual_seed(seed)
    eager = snndsl.load(spec, mode="multi")().eval()
    triton = snndsl.load(spec, mode="multi", backend="triton")().eval()
    triton.load_state_dict(eager.state_dict())
    net = snndsl.resolve(spec)
    if inputs is None:
        inputs = [torch.randn(steps, batch, *i.shape) * 1.5 for i in net.inputs]
    exact = _exact(net)
    if exact:
        _, ye = _run(eager, inputs, torch.float32)
        _, yt = _run(triton, inputs, torch.float32)
        for a, b in zip(ye, yt):
            assert a.dtype == b.dtype == torch.float32
            assert torch.equal(a, b)
    xe, ye = _run(eager, inputs, torch.float64)
    xt, yt = _run(triton, inputs, torch.float64)
    for a, b in zip(ye, yt):
        assert exact and torch.equal(a, b) or _rel(b, a) <= FORWARD_TOLERANCE
    weights = [torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape) for y in ye]
    sum((y * w).sum() for y, w in zip(ye, weights)).backward()
    sum((y * w).sum() for y, w in zip(yt, weights)).backward()
    for a, b in zip(xt, xe):
        if b.grad.abs().max() > 0:
            assert _rel(a.grad, b.grad) <= GRAD_TOLERANCE
        else:
            assert a.grad is None or a.grad.abs().max() == 0
    eager_params = dict(eager.named_parameters())
    for name, p in triton.named_parameters():
        q = eager_params[name].grad
        if q is not None and q.abs().max() > 0:
            assert _rel(p.grad, q) <= GRAD_TOLERANCE, name
    return eager, triton


def _inputs(n: int, steps: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(steps)
    xs = []
    for _ in range(n):
        x = torch.randn(steps, 2, 5, generator=gen) * 1.5
        x[0, 0, :3] = torch.tensor([1.0, 2.0, -1.0])  # at threshold for IF / LIF, negative
        xs.append(x)
    return xs


@pytest.mark.parametrize("steps", [1, 4])
@pytest.mark.parametrize("neuron", list(NEURONS))
@pytest.mark.parametrize("surrogate", ["Sigmoid()", "ATan(alpha=3.0)", "Erf(spiking=false)"])
def test_neurons_match_eager(neuron, surrogate, steps, interpret):
    spec = _spec(neuron, surrogate)
    _, triton = _compare(spec, inputs=_inputs(len(_branches(neuron)), steps))
    assert "Triton_sn0.apply(" in type(triton).__snndsl_source__


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_surrogates_match_eager(surrogate, interpret):
    _compare(_spec("LIF", surrogate), inputs=_inputs(len(_branches("LIF")), 3))


@pytest.mark.parametrize(
    "spiking_false",
    ["Sigmoid", "ATan", "PiecewiseQuadratic", "PiecewiseExp", "SoftSign", "Erf", "S2NN"]
    + ["NonzeroSignLogAbs", "PiecewiseLeakyReLU", "SquarewaveFourierSeries", "QPseudoSpike"]
    + ["LeakyKReLU", "LogTailedReLU", "Rect"],
)
def test_analog_surrogates_match_eager(spiking_false, interpret):
    """spiking=false: the primitive runs in the forward kernel (tanh, atan, erfc, ...)."""
    spec = _spec("IF", f"{spiking_false}(spiking=false)")
    _compare(spec, inputs=_inputs(len(_branches("IF")), 3))


LIBRARY = [
    "snntorch.Leaky(beta=0.9)",
    'snntorch.Leaky(beta=0.8, reset_mechanism="zero", reset_delay=false)',
    "snntorch.Leaky(beta=1.3, threshold=0.5, learn_beta=true, learn_threshold=true)",
    "snntorch.Leaky(beta=0.9, graded_spikes_factor=2.0, learn_graded_spikes_factor=true)",
    "snntorch.Leaky(beta=0.9, spike_grad=snntorch.Triangular(threshold=0.5))",
    'snntorch.Synaptic(alpha=0.7, beta=0.9, reset_mechanism="none", learn_alpha=true)',
    'snntorch.Alpha(alpha=0.9, beta=0.8, reset_mechanism="subtract")',
    "snntorch.Lapicque(beta=0.9)",
    "snntorch.RLeaky(beta=0.9, all_to_all=false)",
    'norse.LIF(method="tanh", alpha=2.0)',
    'norse.LIF(method="circ", alpha=2.0)',
    'norse.LIF(method="heavi_erfc", alpha=2.0)',
    "norse.LIFBox",
    "norse.LSNN(beta=0.5, tau_adapt_inv=10.0, v_reset=-0.1)",
    "norse.LIFAdEx",
    "norse.LI",
    "NonSpikingIF",
    "NonSpikingLIF(tau=3.0)",
    'snntorch.RSynaptic(alpha=0.8, beta=0.9, all_to_all=false, reset_mechanism="zero")',
]


def test_library_neurons_match_eager(interpret):
    lines = [f"    output y{i} = x -> sn{i}: {call}" for i, call in enumerate(LIBRARY)]
    spec = "network Lib {\n    input x: [5]\n" + "\n".join(lines) + "\n}\n"
    _compare(spec, steps=4)


def test_user_neurons_conv_and_vector_parameters(interpret):
    """custom.snn (ExpIF, a user surrogate), conv.snn (BatchNorm, a [C, H, W] layer) and
    a user neuron with a per-neuron learnable vector, a buffer and a state starting from
    a parameter."""
    _compare(str(ROOT / "specs" / "custom.snn"), steps=8)
    _compare(str(ROOT / "specs" / "conv.snn"), steps=2, batch=1)
    spec = """
neuron Vec(v_threshold: float = 1.0) {
    param tau[features] = 2.0
    buffer gain[features] = 1.5
    param v0[features] = 0.25
    state v = v0
    charge v = v + (gain * x - v) / tau
    fire v > v_threshold, surrogate: Sigmoid()
    reset v = 0.0
}
network V {
    input x: [3, 7]
    output y = x -> sn: Vec()
}
"""
    _compare(spec, steps=4, batch=3)


def test_sizes_beyond_one_block(interpret):
    """1041 elements a step: two full programs of BLOCK_SIZE and a partial one."""
    assert 2 * BLOCK_SIZE < 3 * 347 < 3 * BLOCK_SIZE
    spec = "network S {\n input x: [347]\n output y = x -> sn: LIF(tau=3.0)\n}\n"
    _compare(spec, steps=3, batch=3)


def test_state_carries_over_calls_and_through_backward(interpret):
    spec = "network S {\n input x: [3]\n output y = x -> sn: LIF(tau=3.0)\n}\n"
    eager, triton = _compare(spec, steps=2)
    x = torch.randn(5, 2, 3, dtype=torch.float64) * 2
    xe, xt = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    for m, xx in ((eager, xe), (triton, xt)):
        m.reset()
        first = m(xx[:2])
        second = m(xx[2:])  # the state after the first call feeds the second
        (torch.cat((first, second)) * torch.arange(10.0).reshape(5, 2, 1)).sum().backward()
    assert _rel(xt.grad, xe.grad) <= GRAD_TOLERANCE
    assert xt.grad[:2].abs().max() > 0


def test_recurrent_loops_and_parallel_neurons_stay_torch():
    """shd_rnn.snn's recurrent loop runs step by step in torch, custom.snn's CausalPSN is
    one matrix product: neither becomes a kernel, and the docstring says so."""
    rnn = snndsl.generate(str(ROOT / "specs" / "shd_rnn.snn"), mode="multi", backend="triton")
    assert "Neuron layers inside a recurrent loop run step by step" in rnn
    custom = snndsl.generate(str(ROOT / "specs" / "custom.snn"), mode="multi", backend="triton")
    assert "_ExpIFTriton_sn1.apply(" in custom and "torch.addmm(" in custom
    assert "parallel neurons (one matrix product over the sequence) stay torch" in custom


def test_layers_with_the_same_equations_share_their_kernels():
    source = snndsl.generate(str(ROOT / "specs" / "seed.snn"), mode="multi", backend="triton")
    assert source.count("@triton.jit(") == 2  # one forward, one backward kernel
    assert "class _IFTriton_if_1(" in source and "class _IFTriton_if_2(" in source
    assert source.count("_kernel = _if_forward\n") == 2
    # every launch keeps a * b + c two roundings (test_kernels_compile_for_cuda_...)
    assert source.count("enable_fp_fusion=False,") == source.count("_kernel[") == 4


def test_single_step_form_is_the_eager_one():
    """One step has no time loop to fuse: below its docstring, the file is eager's."""
    spec = str(ROOT / "specs" / "seed.snn")
    eager = snndsl.generate(spec, mode="single")
    triton = snndsl.generate(spec, mode="single", backend="triton")
    assert "the single-step\nform is the eager one" in triton
    assert triton.split('"""', 2)[2] == eager.split('"""', 2)[2]


def test_layers_that_cannot_be_lowered_are_located_errors():
    matrix = """network R {
    input x: [4]
    output y = x -> sn: snntorch.RLeaky(beta=0.9, linear_features=4)
}
"""
    with pytest.raises(snndsl.SpecError) as info:
        snndsl.generate(matrix, mode="multi", backend="triton")
    (diag,) = info.value.diagnostics
    assert diag.code == "E0209" and "matrix product" in diag.message
    assert (diag.span.line, diag.span.column) == (3, 25)
    snndsl.generate(matrix, mode="multi", backend="fused")  # the fused backend keeps it


def test_store_v_seq_is_an_output_of_the_kernel(interpret):
    """The recording of the first state is written by the forward kernel and its
    gradient enters the backward kernel at each step."""
    spec = """network Q {
    input x: [6]
    output y = x -> sn: LIF(store_v_seq=true)
    output z = x -> sn2: norse.LSNN(store_v_seq=true)
}
"""
    torch.manual_seed(0)
    x = torch.randn(5, 3, 6, dtype=torch.float64) * 2
    grads, records = [], []
    for backend in ("eager", "triton"):
        m = snndsl.load(spec, mode="multi", backend=backend)().double()
        xx = x.clone().requires_grad_(True)
        y, z = m(xx)
        loss = (y * 0.5).sum() + (m.sn_v_seq * torch.linspace(-1, 1, 6)).sum()
        (loss + (z.sum() + m.sn2_v_seq.square().sum())).backward()
        grads.append(xx.grad)
        records.append((m.sn_v_seq.detach(), m.sn2_v_seq.detach()))
    assert torch.equal(records[0][0], records[1][0])
    assert _rel(records[1][1], records[0][1]) <= FORWARD_TOLERANCE
    assert _rel(grads[1], grads[0]) <= GRAD_TOLERANCE


def test_check_command_runs_the_triton_form(interpret, capsys):
    assert main(["check", str(ROOT / "specs" / "seed.snn"), "--backend", "triton"]) == 0
    out = capsys.readouterr().out
    assert out.endswith("PASS\n") and "MISMATCH" not in out


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_inputs(dtype, interpret):
    """float16/bfloat16 inputs, every backend, on CPU: outputs and input gradients in the
    input's dtype; the state kept between calls has the input's dtype too (triton's
    kernels compute, and keep the state within a call, in float32)."""
    spec = "network H {\n input x: [9]\n output y = x -> fc: Linear(6) -> sn: LIF(tau=3.0)\n}\n"
    torch.manual_seed(0)
    x = torch.randn(4, 3, 9) * 3
    reference = snndsl.load(spec, mode="multi")()
    y32 = reference(x)
    for backend in snndsl.BACKENDS:  # compile: about 10 s for both dtypes
        m = snndsl.load(spec, mode="multi", backend=backend)()
        m.load_state_dict(reference.state_dict())
        m.to(dtype)
        xs = x.to(dtype).requires_grad_(True)
        y = m(xs)
        assert y.dtype == dtype and m._sn_v.dtype == dtype, backend
        y.float().sum().backward()
        assert xs.grad.dtype == dtype and torch.isfinite(xs.grad.float()).all()
        # spikes that differ from float32's sit where the rounding of the input
        # moved the charge across the threshold: a few in a hundred at most
        assert (y.float() != y32).float().mean() <= 0.1, backend
    single = snndsl.load(spec, mode="single")()
    single.load_state_dict(reference.state_dict())
    y = single.to(dtype)(x[0].to(dtype))
    assert y.dtype == dtype and single._sn_v.dtype == dtype


def test_cpu_tensors_without_the_interpreter_are_a_clear_error(monkeypatch):
    m = snndsl.load(str(ROOT / "specs" / "seed.snn"), mode="multi", backend="triton")()
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(RuntimeError, match="set TRITON_INTERPRET=1 before triton is imported"):
        m(torch.randn(3, 2, 8))


# Run in a process of its own without TRITON_INTERPRET: the kernels are compiled, for an
# H100 (sm_90), by Triton's own compiler and ptxas, which need no GPU.
_COMPILE_FOR_CUDA = """
import sys, warnings
warnings.simplefilter("ignore")
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
import snndsl
from snndsl.loader import import_source

net, source = snndsl.api.build(sys.argv[1], "multi", backend="triton")
module = sys.modules[import_source(source, net.name, "multi").__module__]
count = 0
for fn in vars(module).values():
    if not isinstance(fn, triton.runtime.jit.JITFunction) or "COMPUTE" not in fn.arg_names:
        continue
    for pointer, compute in (("fp32", "float32"), ("fp64", "float64"), ("bf16", "float32")):
        signature = {a: "*" + pointer if a.endswith("_ptr") else "i32" for a in fn.arg_names}
        signature.update(COMPUTE="constexpr", BLOCK="constexpr")
        constants = {"COMPUTE": getattr(triton.language, compute), "BLOCK": 512}
        compiled = triton.compile(
            ASTSource(fn=fn, signature=signature, constexprs=constants),
            target=GPUTarget("cuda", 90, 32),
            options={"enable_fp_fusion": False},  # as the generated launches pass it
        )
        ptx = compiled.asm["ptx"]
        assert compiled.asm["cubin"], fn.__name__
        if sys.argv[2] == "arithmetic":  # (tl.sigmoid, libdevice's exp: their own)
            assert "div.full" not in ptx and "div.approx" not in ptx, fn.__name__
            assert "fma." not in ptx, fn.__name__
        count += 1
print(count)
"""


def test_kernels_compile_for_cuda_without_a_gpu():
    """Every kernel of custom.snn (exp, divisions, a user surrogate) and of the library
    neurons (norse's sqrt, tanh, erfc surrogates) compiles to a CUDA binary for float32,
    float64 and bfloat16 tensors; the kernels of a step of arithmetic (LIF with the
    SuperSpike surrogate) divide correctly rounded and fuse no multiply-add, so that
    they can match eager CUDA bit for bit."""
    import shutil
    import subprocess
    import sys

    nvidia = pytest.importorskip("triton.backends.nvidia")
    if not any((Path(nvidia.__file__).parent / "bin").glob("ptxas*")) and not shutil.which("ptxas"):
        pytest.skip("triton has no ptxas here")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    lines = [f"    output y{i} = x -> sn{i}: {call}" for i, call in enumerate(LIBRARY)]
    library = "network Lib {\n    input x: [5]\n" + "\n".join(lines) + "\n}\n"
    arithmetic = (
        "network A {\n    input x: [5]\n    output y = x -> sn: LIF(surrogate=SuperSpike())\n}\n"
    )
    for spec, kind in (
        (str(ROOT / "specs" / "custom.snn"), "any"),
        (library, "any"),
        (arithmetic, "arithmetic"),
    ):
        run = subprocess.run(
            [sys.executable, "-c", _COMPILE_FOR_CUDA, spec, kind],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        assert int(run.stdout) >= 6, run.stdout  # two kernels, three dtypes at least


# --------------------------------------------------------------------------- CUDA


@CUDA
@pytest.mark.parametrize("backend", ["eager", "fused", "compile", "triton"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_cuda_modules_keep_their_state_on_the_device(backend, dtype):
    spec = str(ROOT / "specs" / "seed.snn")
    torch.manual_seed(0)
    reference = snndsl.load(spec, mode="multi")().double()
    m = snndsl.load(spec, mode="multi", backend=backend)()
    m.load_state_dict(reference.state_dict())
    m = m.to("cuda", dtype)
    x = torch.randn(6, 5, 8, dtype=torch.float64) * 2
    y = m(x.to("cuda", dtype).requires_grad_(True))
    assert y.device.type == "cuda" and y.dtype == dtype
    states = [v for k, v in vars(m).items() if k.startswith("_if_") and torch.is_tensor(v)]
    assert states and all(s.device.type == "cuda" for s in states)
    y.float().sum().backward()
    if dtype == torch.float32:  # spikes agree with a float64 CPU run up to rare flips
        flips = (y.cpu().double() != reference(x)).double().mean().item()
        assert flips <= 0.01, flips


@CUDA
def test_cuda_triton_matches_eager():
    spec = _spec("LIF", "Sigmoid()")
    torch.manual_seed(0)
    eager = snndsl.load(spec, mode="multi")().cuda()
    triton = snndsl.load(spec, mode="multi", backend="triton")().cuda()
    xs = [x.cuda().double() for x in _inputs(len(_branches("LIF")), 6)]
    xe = [x.clone().requires_grad_(True) for x in xs]
    xt = [x.clone().requires_grad_(True) for x in xs]
    ye, yt = eager.double()(*xe), triton.double()(*xt)
    for a, b in zip(ye, yt):
        assert _rel(b, a) <= FORWARD_TOLERANCE
    sum(y.sum() for y in ye).backward()
    sum(y.sum() for y in yt).backward()
    for a, b in zip(xt, xe):
        assert _rel(a.grad, b.grad) <= GRAD_TOLERANCE
