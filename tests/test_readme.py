"""The generated code shown in README.md is what snndsl generates for specs/seed.snn.

Every ```python block of the README that shows generated code must appear in the
source of one form of the seed network, piece by piece (a line ``...`` marks an elision),
so the tour cannot drift from the generator.
"""

from __future__ import annotations

import re

from conftest import ROOT

import snndsl

FORMS = [("single", "eager"), ("multi", "eager"), ("multi", "fused"), ("multi", "compile")]
FORMS += [("multi", "triton")]


def _generated_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    return [b for b in blocks if not b.lstrip().startswith("import ")]


def test_readme_shows_current_generated_code():
    seed = str(ROOT / "specs" / "seed.snn")
    sources = [snndsl.generate(seed, mode=m, backend=b) for m, b in FORMS]
    blocks = _generated_blocks()
    assert len(blocks) >= 4, "the README's tour of the generated code is missing"
    for block in blocks:
        pieces = re.split(r"^\s*\.\.\.\s*$\n?", block, flags=re.M)
        found = [s for s in sources if all(p in s for p in pieces if p.strip())]
        assert found, f"README block not in any generated form of seed.snn:\n{block}"
