"""The per-user start-up cache (snndsl/cache.py) and the per-run neuron memo.

A cache may only make things faster: the same spec gives the same source with the
cache cold, warm, corrupted, switched off or unwritable, and an entry's name changes
with everything it was built from.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

from snndsl import cache
from snndsl.resources import read_text
from snndsl.semantics import checker as checks
from snndsl.semantics import neurons
from snndsl.semantics.evaluate import SurrogateValue
from snndsl.syntax.parser import parse_text


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("SNNDSL_NO_CACHE", raising=False)
    return tmp_path / "snndsl"


def test_store_and_load_round_trip(cache_home):
    assert cache.load("thing.pickle") is None
    cache.store("thing.pickle", {"a": (1, 2.5)})
    assert cache.load("thing.pickle") == {"a": (1, 2.5)}
    assert [p.name for p in cache_home.iterdir()] == ["thing.pickle"]  # no temp file left


def test_a_corrupt_entry_reads_as_missing(cache_home):
    cache_home.mkdir(parents=True)
    (cache_home / "thing.pickle").write_bytes(b"not a pickle")
    assert cache.load("thing.pickle") is None


def test_switched_off_or_unwritable(cache_home, monkeypatch, tmp_path):
    monkeypatch.setenv("SNNDSL_NO_CACHE", "1")
    assert cache.folder() is None
    cache.store("thing.pickle", 1)
    assert cache.load("thing.pickle") is None and not cache_home.exists()
    monkeypatch.delenv("SNNDSL_NO_CACHE")
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file where the folder would go
    assert cache.folder() is None
    cache.store("thing.pickle", 1)  # ignored, no error


def test_keys_separate_their_parts():
    assert cache.key("ab", "c") != cache.key("a", "bc")
    assert cache.key("a") == cache.key("a") != cache.key("b")


def test_cached_prelude_equals_a_fresh_parse(cache_home):
    fresh = parse_text(read_text("snndsl.prelude", checks.PRELUDE), "<prelude>/builtin.snn")
    checks.prelude.cache_clear()
    try:
        first = checks.prelude()  # parses and stores
        assert [p.name for p in cache_home.glob("prelude-*.pickle")]
        checks.prelude.cache_clear()
        second = checks.prelude()  # loads
    finally:
        checks.prelude.cache_clear()
    assert first == fresh and second == fresh and second is not first


def test_generate_is_the_same_with_the_cache_cold_warm_and_off(tmp_path):
    def run(env_extra):
        env = {"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path), **env_extra}
        proc = subprocess.run(
            [sys.executable, "-m", "snndsl", "generate", str(ROOT / "specs" / "seed.snn")],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    cold = run({})
    names = sorted(p.name.split("-")[0] for p in (tmp_path / "snndsl").iterdir())
    assert names == ["jinja", "jinja", "parser", "prelude"], names
    assert run({}) == cold
    assert run({"SNNDSL_NO_CACHE": "1"}) == cold


def test_neuron_memo_keeps_values_of_different_types_or_signs_apart():
    definition = object()
    key = neurons._memo_key
    assert key(definition, {"v": 0.0}) == key(definition, {"v": 0.0})
    assert key(definition, {"v": 0.0}) != key(definition, {"v": -0.0})
    assert key(definition, {"v": 1}) != key(definition, {"v": 1.0}) != key(definition, {"v": True})
    assert key(definition, {"v": 1.0}) != key(object(), {"v": 1.0})
    surrogate = SurrogateValue(definition, (("alpha", 2.0),))
    assert key(definition, {"s": surrogate}) != key(
        definition, {"s": SurrogateValue(definition, (("alpha", 2.0),), spiking=False)}
    )
    assert key(definition, {"v": [1.0]}) is None  # unknown kinds are never shared


def test_template_cache_that_cannot_be_written_or_read_is_skipped(cache_home, monkeypatch):
    """Root ignores file modes, so a read-only folder is simulated where Jinja writes."""
    import jinja2.bccache

    from snndsl.backends.torch import codegen

    bcc = cache.jinja_bytecode_cache()
    env = jinja2.Environment(bytecode_cache=bcc, loader=jinja2.DictLoader({"t": "{{ 1 + 1 }}"}))

    def refuse(*args, **kwargs):
        raise PermissionError("read-only")

    monkeypatch.setattr(jinja2.bccache.tempfile, "NamedTemporaryFile", refuse)
    assert env.get_template("t").render() == "2"  # compiled, not stored
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home.parent))
    again = jinja2.Environment(bytecode_cache=bcc, loader=jinja2.DictLoader({"t": "{{ 1 + 1 }}"}))
    assert again.get_template("t").render() == "2"  # compiled and stored this time
    entries = list(cache_home.glob("jinja-*"))
    assert entries
    for entry in entries:  # Jinja's header, then bytes its checksum unpickling chokes on
        entry.write_bytes(jinja2.bccache.bc_magic + b"garbage")
    fresh = jinja2.Environment(bytecode_cache=bcc, loader=jinja2.DictLoader({"t": "{{ 1 + 1 }}"}))
    assert fresh.get_template("t").render() == "2"
    assert codegen._environment().get_template("module.py.j2")  # the real templates load
