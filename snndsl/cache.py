"""The per-user cache: what every run would otherwise rebuild at start-up.

Three things are kept, each under a name derived from everything it depends on, so a
changed grammar, prelude, template or snndsl never meets a stale entry:

- Lark's analysed parser tables (``parser-<key>.lark``, written by Lark itself);
- the parsed prelude (``prelude-<key>.pickle``): the built-in definitions as AST;
- Jinja's compiled templates (``jinja-*``, Jinja's own bytecode cache, keyed by the
  template source).

The folder is the user's own (``$XDG_CACHE_HOME/snndsl`` or ``~/.cache/snndsl``), never a
shared temporary folder, because entries are pickles.  ``SNNDSL_NO_CACHE=1`` turns it
off.  Every use is optional: an unwritable folder or an unreadable entry means the work
is done again, never an error, and entries are written atomically.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from pathlib import Path


def folder() -> Path | None:
    """The cache folder, created if needed; None when caching is off or impossible."""
    if os.environ.get("SNNDSL_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "snndsl"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path


def key(*parts: str | bytes) -> str:
    """A short digest of ``parts`` (with the Python version) for an entry's name."""
    digest = hashlib.sha256(sys.version.encode())
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()[:16]


def load(name: str):
    """The object stored under ``name``, or None when there is none (or it is unreadable)."""
    where = folder()
    if where is None:
        return None
    try:
        with open(where / name, "rb") as fh:
            return pickle.load(fh)
    except Exception:  # missing, truncated or written by other code: rebuild
        return None


def store(name: str, value) -> None:
    """Keep ``value`` under ``name`` (atomically); failures are ignored."""
    where = folder()
    if where is None:
        return
    tmp = where / f".{name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, where / name)
    except Exception:
        tmp.unlink(missing_ok=True)


def module_source(module) -> bytes:
    """The source of an imported module (for keys: an entry depends on the code that
    built it)."""
    try:
        return Path(module.__file__).read_bytes()
    except (OSError, TypeError):
        return repr(module).encode()


def jinja_bytecode_cache():
    """Jinja's bytecode cache in the cache folder (None when caching is off), made quiet:
    an entry that cannot be read or written means the template is compiled again."""
    import jinja2

    where = folder()
    if where is None:
        return None

    class Quiet(jinja2.FileSystemBytecodeCache):
        def load_bytecode(self, bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception:  # truncated or foreign entry
                bucket.reset()

        def dump_bytecode(self, bucket) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError:  # a read-only folder, a full disk
                pass

    return Quiet(str(where), "jinja-%s.cache")
