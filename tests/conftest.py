"""Shared test fixtures and switches.

``--update-golden`` rewrites the golden files under tests/golden instead of comparing.
``SNNDSL_REQUIRE_SPIKINGJELLY=1`` (set by .ci/run) turns "SpikingJelly not installed"
skips into failures, so CI can never pass by skipping the oracle tests.

On a machine without CUDA, ``TRITON_INTERPRET=1`` is set here, before anything imports
triton (Triton reads it when its own library functions are defined, at import): the
triton backend's kernels then run on CPU tensors through Triton's interpreter
(tests/test_triton.py).  Only triton reads it; torch.compile on CPU does not use triton.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _no_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return True
    return not torch.cuda.is_available()


if _no_cuda():
    os.environ.setdefault("TRITON_INTERPRET", "1")

ROOT = Path(__file__).resolve().parent.parent
# A sample spec with every kind of item (network, neuron, surrogate) and a comment on a
# statement line, shared by the formatter and YAML tests.
SEED_SPEC = """\
# The SpikingJelly step-mode tutorial network.
network Seed {
    input x: [8]
    output y = x -> Linear(4) -> IF -> Linear(2) -> IF   # two IF layers
}

neuron LIF(tau = 2.0, decay_input = true, v_threshold = 1.0, v_reset: float? = 0.0,
           surrogate = Sigmoid(), detach_reset = false) {
    require tau > 1.0, "tau must be greater than 1"
    let vr = v_reset ?? 0.0
    state v = vr
    if decay_input {
        charge v = v + (x - (v - vr)) / tau
    } else {
        charge v = v - (v - vr) / tau + x
    }
    fire v >= v_threshold, surrogate: surrogate
    if v_reset == none {
        reset v -= v_threshold, detach: detach_reset
    } else {
        reset v = v_reset, detach: detach_reset
    }
}
surrogate Sigmoid(alpha = 4.0) {
    let s = sigmoid(alpha * x)
    primitive s
    gradient (1.0 - s) * s * alpha
}"""

# The shipped specs: specs/*.snn, *.yaml, and SpikingJelly's model zoo in specs/spikingjelly/.
SPECS = (
    sorted((ROOT / "specs").glob("*.snn"))
    + sorted((ROOT / "specs").glob("*.yaml"))
    + sorted((ROOT / "specs" / "spikingjelly").glob("*.snn"))
)
SJ_ZOO = ROOT / "specs" / "spikingjelly"


def spec_id(spec: Path) -> str:
    """A shipped spec's path under specs/: ``conv.snn``, ``spikingjelly/sew_resnet18.snn``."""
    return spec.relative_to(ROOT / "specs").as_posix()


def golden_stem(spec: Path) -> str:
    """The stem of a shipped spec's golden files: ``conv``,
    ``spikingjelly-sew_resnet18`` (a folder's specs may share top-level specs' names)."""
    return spec_id(spec).removesuffix(spec.suffix).replace("/", "-")


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden from the current generator",
    )


def multi_step_only(spec: Path) -> bool:
    """Whether a shipped spec has no single-step form (its golden is the E0208 text)."""
    return (ROOT / "tests" / "golden" / f"{golden_stem(spec)}.single.txt").exists()


@pytest.fixture
def update_golden(request) -> bool:
    return bool(request.config.getoption("--update-golden"))


def require_spikingjelly():
    """Import SpikingJelly's activation_based package, or skip (fail under CI)."""
    try:
        import spikingjelly.activation_based as sj
    except ImportError as err:
        if os.environ.get("SNNDSL_REQUIRE_SPIKINGJELLY") == "1":
            pytest.fail(f"SpikingJelly 2.0.0 is required here but not importable: {err}")
        pytest.skip("SpikingJelly 2.0.0 not installed")
    import spikingjelly

    version = getattr(spikingjelly, "__version__", None)
    if version is not None and not str(version).startswith("2.0.0"):
        pytest.fail(f"the oracle is SpikingJelly 2.0.0, found {version}")
    return sj


@pytest.fixture
def sj():
    return require_spikingjelly()
