"""`snndsl explain`: every code is explained, and every example does what it says."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

import snndsl
from snndsl.cli import main
from snndsl.diagnostics import CODES
from snndsl.explain import EXPLANATIONS, explain, markdown


def _outcome(text: str, yaml: bool, tmp_path) -> tuple[list[str], list[str]]:
    """(error codes, warning codes) of generating both forms of a spec."""
    path = tmp_path / ("spec.yaml" if yaml else "spec.snn")
    path.write_text(text, encoding="utf-8")
    try:
        net = snndsl.resolve(str(path))
        for mode in ("multi", "single"):
            snndsl.generate(str(path), mode=mode)
    except snndsl.SpecError as err:
        return list(err.codes), []
    return [], [w.code for w in net.warnings]


def test_every_code_has_an_explanation():
    assert set(EXPLANATIONS) == set(CODES)


def test_every_code_the_source_can_raise_is_catalogued():
    """Scans the package for code literals, so a new code cannot go unexplained."""
    raised = set()
    for path in (ROOT / "snndsl").rglob("*.py"):
        raised |= set(re.findall(r'"([EW]\d{4})"', path.read_text(encoding="utf-8")))
    assert raised <= set(CODES), raised - set(CODES)
    catalogued = set(CODES)
    # every catalogued code can be raised (diagnostics.py itself lists them all)
    used = set()
    for path in (ROOT / "snndsl").rglob("*.py"):
        if path.name not in ("diagnostics.py", "explain.py"):
            used |= set(re.findall(r'"([EW]\d{4})"', path.read_text(encoding="utf-8")))
    assert used == catalogued, catalogued - used


@pytest.mark.parametrize("code", sorted(EXPLANATIONS))
def test_the_wrong_example_raises_its_code_and_the_right_one_does_not(code, tmp_path):
    e = EXPLANATIONS[code]
    if e.command:
        # raised by export/import, not by generate: the spec examples generate, and
        # tests/test_diagnostics.py::test_nir_export_and_import_diagnostics raises the code
        assert _outcome(e.right, e.yaml, tmp_path) == ([], [])
        if code == "E0601":
            pytest.importorskip("nir")
            from snndsl.exports.nir import to_nir

            with pytest.raises(snndsl.SpecError) as info:
                to_nir(e.wrong, snndsl.load(e.wrong)().state_dict())
            assert info.value.codes[:1] == (code,)
            to_nir(e.right, snndsl.load(e.right)().state_dict())
        if code == "E0209":
            with pytest.raises(snndsl.SpecError) as info:
                snndsl.generate(e.wrong, mode="multi", backend="triton")
            assert info.value.codes[:1] == (code,)
            snndsl.generate(e.right, mode="multi", backend="triton")
        return
    errors, warnings = _outcome(e.wrong, e.yaml, tmp_path)
    if code.startswith("W"):
        assert errors == [] and code in warnings, (errors, warnings)
    else:
        assert errors[:1] == [code], errors
    errors, warnings = _outcome(e.right, e.yaml, tmp_path)
    assert errors == [] and warnings == [], (errors, warnings)


def test_explain_prints_the_entry(capsys):
    assert main(["explain", "E0301"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("E0301: shape mismatch") and "Wrong" in out and "Right" in out
    assert explain("e0301") == explain("E0301")


def test_explain_an_unknown_code_is_a_usage_error(capsys):
    assert main(["explain", "E9999"]) == 2
    assert "unknown code E9999" in capsys.readouterr().err


def test_docs_errors_md_is_current():
    assert (ROOT / "docs" / "errors.md").read_text(encoding="utf-8") == markdown() + "\n"
