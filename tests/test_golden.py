"""Golden files: the generated source of every spec in specs/, pinned byte for byte.

On a difference the failure shows a unified diff and the command that updates the files:

    pytest tests/test_golden.py --update-golden
"""

from __future__ import annotations

import difflib

import pytest
from conftest import ROOT, SPECS

import snndsl

GOLDEN = ROOT / "tests" / "golden"


@pytest.mark.parametrize("mode", ["single", "multi"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_golden(spec, mode, update_golden):
    path = str(spec.relative_to(ROOT))
    golden = GOLDEN / f"{spec.stem}.{mode}.py"
    try:
        source = snndsl.generate(path, mode=mode)
    except snndsl.SpecError as err:
        # A network with no single-step form pins its diagnostic instead (E0208).
        assert mode == "single" and err.codes and set(err.codes) == {"E0208"}, err.render()
        source = err.render() + "\n"
        golden = GOLDEN / f"{spec.stem}.{mode}.txt"
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
            f"generated source of {spec.name} ({mode}) differs from its golden file:\n{diff}\n"
            "If the change is intended, update with: pytest tests/test_golden.py --update-golden"
        )


def test_every_spec_has_golden_files():
    for spec in SPECS:
        for mode in ("single", "multi"):
            names = (f"{spec.stem}.{mode}.py", f"{spec.stem}.{mode}.txt")
            assert any((GOLDEN / name).exists() for name in names), spec.name
