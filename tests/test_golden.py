"""Golden files: the generated source of every spec in specs/, pinned byte for byte.

On a difference the failure shows a unified diff and the command that updates the files:

    pytest tests/test_golden.py --update-golden
"""

from __future__ import annotations

import difflib

import pytest
from conftest import ROOT, SPECS, golden_stem, spec_id

import snndsl

GOLDEN = ROOT / "tests" / "golden"


# The fused, compile and triton backends are pinned on specs that between them have every kind
# of neuron block: plain neurons, a parallel neuron, a recurrent loop, BatchNorm and Dropout.
BACKEND_SPECS = ("seed.snn", "conv.snn", "custom.snn", "shd_rnn.snn")
CASES = [(spec, "eager") for spec in SPECS] + [
    (spec, backend)
    for backend in ("fused", "compile", "triton")
    for spec in SPECS
    if spec.name in BACKEND_SPECS
]


def _golden_name(spec, mode: str, backend: str, suffix: str = "py") -> str:
    middle = mode if backend == "eager" else f"{mode}.{backend}"
    return f"{golden_stem(spec)}.{middle}.{suffix}"


@pytest.mark.parametrize("mode", ["single", "multi"])
@pytest.mark.parametrize(
    ("spec", "backend"), CASES, ids=lambda v: spec_id(v) if hasattr(v, "name") else v
)
def test_golden(spec, backend, mode, update_golden):
    path = str(spec.relative_to(ROOT))
    golden = GOLDEN / _golden_name(spec, mode, backend)
    try:
        source = snndsl.generate(path, mode=mode, backend=backend)
    except snndsl.SpecError as err:
        # A network with no single-step form pins its diagnostic instead (E0208).
        assert mode == "single" and err.codes and set(err.codes) == {"E0208"}, err.render()
        source = err.render() + "\n"
        golden = GOLDEN / _golden_name(spec, mode, backend, "txt")
    if update_golden:
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(source, encoding="utf-8")
        return
    assert golden.exists(), (
        f"no golden file {golden.relative_to(ROOT)}; create it with "
        "`pytest tests/test_golden.py --update-golden`"
    )
    expected = golden.read_text(encoding="utf-8")
    if source != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True),
                source.splitlines(True),
                f"golden/{golden.name}",
                f"generated from {spec.name}",
            )
        )
        pytest.fail(
            f"generated source of {spec.name} ({mode}, {backend}) differs from its golden file:\n{diff}\n"
            "If the change is intended, update with: pytest tests/test_golden.py --update-golden"
        )


def test_every_spec_has_golden_files():
    for spec, backend in CASES:
        for mode in ("single", "multi"):
            names = (_golden_name(spec, mode, backend), _golden_name(spec, mode, backend, "txt"))
            assert any((GOLDEN / name).exists() for name in names), (spec.name, backend)


def test_backend_goldens_cover_every_backend():
    assert {backend for _, backend in CASES} == set(snndsl.BACKENDS)
