"""The per-user start-up cache (snndsl/cache.py) and the per-run neuron memo.

A cache may only make things faster: the same spec gives the same source with the
cache cold, warm, corrupted, switched off or unwritable, and an entry's name changes
with everything it was built from.
"""

from __future__ import annotations

import errno
import os
import pickle
import stat
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
    # one parsed prelude per prelude file: builtin.snn and the library namespaces
    assert names == ["jinja", "jinja", "parser", "prelude", "prelude", "prelude"], names
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
    """Root ignores file modes, so a read-only folder is simulated where entries are
    written."""
    import jinja2.bccache

    from snndsl import files
    from snndsl.backends.torch import codegen

    bcc = cache.jinja_bytecode_cache()
    env = jinja2.Environment(bytecode_cache=bcc, loader=jinja2.DictLoader({"t": "{{ 1 + 1 }}"}))

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(files, "replace_in", refuse)
    assert env.get_template("t").render() == "2"  # compiled, not stored
    assert not list(cache_home.glob("jinja-*"))
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
    assert codegen.environment().get_template("module.py.j2")  # the real templates load


# --- the cache cannot be poisoned: folder and entries are owner-checked -------------------


class Poison:
    """Unpickling this makes a folder: proof that a planted entry ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_the_folder_is_created_private_and_entries_are_written_0600(cache_home):
    cache.store("thing.pickle", 1)
    assert stat.S_IMODE(cache_home.stat().st_mode) == 0o700
    assert stat.S_IMODE((cache_home / "thing.pickle").stat().st_mode) == 0o600


def test_a_folder_others_can_write_is_not_used(cache_home, tmp_path):
    cache.store("thing.pickle", 1)
    marker = tmp_path / "ran"
    (cache_home / "planted.pickle").write_bytes(pickle.dumps(Poison(marker)))
    os.chmod(cache_home / "planted.pickle", 0o600)
    for mode in (0o777, 0o770, 0o702):  # writable by others, by the group, by others only
        os.chmod(cache_home, mode)
        assert cache.folder() is None
        assert cache.load("thing.pickle") is None
        assert cache.load("planted.pickle") is None and not marker.exists()
        cache.store("other.pickle", 2)
        assert not (cache_home / "other.pickle").exists()
    os.chmod(cache_home, 0o755)  # others may read: still the user's own
    assert cache.load("thing.pickle") == 1


def test_a_folder_owned_by_someone_else_is_not_used(cache_home, monkeypatch):
    cache.store("thing.pickle", 1)
    assert cache.load("thing.pickle") == 1
    monkeypatch.setattr(os, "geteuid", lambda: cache_home.stat().st_uid + 1)
    assert cache.folder() is None
    assert cache.load("thing.pickle") is None


def test_an_entry_others_can_write_or_a_link_is_not_loaded(cache_home, tmp_path):
    marker = tmp_path / "ran"
    cache.store("thing.pickle", 1)
    entry = cache_home / "thing.pickle"
    entry.write_bytes(pickle.dumps(Poison(marker)))
    for mode in (0o666, 0o620, 0o602):
        os.chmod(entry, mode)
        assert cache.load("thing.pickle") is None and not marker.exists()
    outside = tmp_path / "outside.pickle"
    outside.write_bytes(pickle.dumps(Poison(marker)))
    os.chmod(outside, 0o600)
    (cache_home / "link.pickle").symlink_to(outside)
    assert cache.load("link.pickle") is None and not marker.exists()
    os.mkfifo(cache_home / "fifo.pickle", 0o600)  # must not hang waiting for a writer
    assert cache.load("fifo.pickle") is None
    (cache_home / "dir.pickle").mkdir(mode=0o700)
    assert cache.load("dir.pickle") is None


def test_an_entry_owned_by_someone_else_is_not_loaded(cache_home, tmp_path, monkeypatch):
    """The owner is checked on the opened file: simulated by distrusting regular files
    (the folder stays trusted), and for real with chown where this user may."""
    marker = tmp_path / "ran"
    cache.store("thing.pickle", 1)
    entry = cache_home / "thing.pickle"
    entry.write_bytes(pickle.dumps(Poison(marker)))
    trusted = cache.trusted
    monkeypatch.setattr(cache, "trusted", lambda st: trusted(st) and stat.S_ISDIR(st.st_mode))
    assert cache.folder() is not None
    assert cache.load("thing.pickle") is None and not marker.exists()
    monkeypatch.undo()
    if os.geteuid() == 0:
        os.chown(entry, 4242, 4242)
        assert cache.load("thing.pickle") is None and not marker.exists()


def test_a_folder_that_cannot_be_used_means_no_cache(cache_home, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    for refuse in (denied, read_only):
        with monkeypatch.context() as m:
            m.setattr(os, "mkdir", refuse)
            m.setattr(os, "makedirs", refuse)
            assert cache.folder() is None
            cache.store("thing.pickle", 1)
            assert cache.load("thing.pickle") is None
    cache.store("thing.pickle", 1)  # an existing folder on a read-only file system
    with monkeypatch.context() as m:
        m.setattr(os, "open", _refusing_writes(os.open, read_only))
        cache.store("thing.pickle", 2)
        assert cache.load("thing.pickle") == 1
    assert [p.name for p in cache_home.iterdir()] == ["thing.pickle"]  # no temp file


def _refusing_writes(real_open, refuse):
    def fake(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR):
            refuse()
        return real_open(path, flags, *args, **kwargs)

    return fake


def _generate(cache_home_parent, spec="seed.snn"):
    env = {"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(cache_home_parent)}
    return subprocess.run(
        [sys.executable, "-m", "snndsl", "generate", str(ROOT / "specs" / spec)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )


def test_planted_entries_never_run_and_generate_still_works(tmp_path):
    """End to end: a cache filled by a normal run, then every entry replaced by a
    pickle that would make a folder; with the folder open to others, or each entry
    open to others, nothing runs and the output is unchanged."""
    clean = _generate(tmp_path)
    assert clean.returncode == 0, clean.stderr
    home = tmp_path / "snndsl"
    marker = tmp_path / "ran"
    poison = pickle.dumps(Poison(marker))
    for entry in home.iterdir():
        entry.write_bytes(poison)
    os.chmod(home, 0o777)
    run = _generate(tmp_path)
    assert (run.returncode, run.stdout, run.stderr) == (0, clean.stdout, "")
    assert not marker.exists()
    os.chmod(home, 0o700)
    for entry in home.iterdir():
        os.chmod(entry, 0o666)
    run = _generate(tmp_path)
    assert (run.returncode, run.stdout, run.stderr) == (0, clean.stdout, "")
    assert not marker.exists()


def test_generate_works_when_the_cache_folder_is_a_file(tmp_path):
    blocker = tmp_path / "cachefile"
    blocker.write_text("")
    run = _generate(blocker)
    assert run.returncode == 0 and run.stderr == "" and "class Seed" in run.stdout
