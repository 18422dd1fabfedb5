"""Pin generated modules in your own tests and CI: is this file what snndsl generates?

A project that commits generated modules can check in CI that they are up to date::

    snndsl generate specs/net.snn --mode single -o src/net_single.py --check

or, in its own pytest suite::

    from snndsl.testing import assert_generated

    def test_generated_module_is_current():
        assert_generated("specs/net.snn", "src/net_single.py", mode="single")

Both compare the file with what would be generated now, byte for byte, and never write.
"""

from __future__ import annotations

import difflib
import os

MAX_DIFF_LINES = 80  # a longer diff is cut, saying how many lines were left out


def generated_diff(
    source: str, path: str | os.PathLike[str], max_lines: int | None = MAX_DIFF_LINES
) -> str | None:
    """None when the file at ``path`` holds exactly ``source``; otherwise a unified diff
    from the file to ``source`` (a missing file counts as empty)."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            current = fh.read()
    except FileNotFoundError:
        current = ""
    except (OSError, UnicodeDecodeError) as err:
        return f"cannot read {os.fspath(path)}: {err}\n"
    if current == source:
        return None
    name = os.fspath(path)
    lines = list(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            source.splitlines(keepends=True),
            f"{name} (on disk)",
            f"{name} (generated now)",
        )
    )
    lines = [line if line.endswith("\n") else line + "\n" for line in lines]
    if max_lines is not None and len(lines) > max_lines:
        left = len(lines) - max_lines
        lines = lines[:max_lines] + [f"... {left} more diff lines\n"]
    return "".join(lines)


def assert_generated(
    spec,
    path: str | os.PathLike[str],
    mode: str = "multi",
    backend: str = "eager",
    network: str | None = None,
    params=None,
) -> None:
    """Raise AssertionError, with a unified diff, unless the file at ``path`` is exactly
    what ``snndsl.generate(spec, mode, network, params, backend)`` returns."""
    from snndsl.api import generate

    diff = generated_diff(generate(spec, mode, network, params, backend), path, None)
    if diff is not None:
        raise AssertionError(
            f"{os.fspath(path)} is not what snndsl generates from the spec; "
            f"regenerate it (see its docstring for the command):\n{diff}"
        )
