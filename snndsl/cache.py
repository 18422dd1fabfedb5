"""The per-user cache: what every run would otherwise rebuild at start-up.

Three things are kept, each under a name derived from everything it depends on, so a
changed grammar, prelude, template or snndsl never meets a stale entry:

- Lark's analysed parser tables (``parser-<key>.pickle``, :meth:`lark.Lark.save`);
- the parsed prelude (``prelude-<key>.pickle``): the built-in definitions as AST;
- Jinja's compiled templates (``jinja-<key>.cache``, Jinja's bytecode format).

Entries are pickles and compiled code, so loading one runs whatever its writer put
there.  The cache is therefore owner-checked:

- the folder (``$XDG_CACHE_HOME/snndsl`` or ``~/.cache/snndsl``, created ``0700``) is used
  only when it is a folder owned by the current user that neither group nor others may
  write; every entry is read and written relative to that one checked, open folder;
- an entry is loaded only when it is a regular file owned by the user that neither group
  nor others may write, checked on the opened descriptor (``O_NOFOLLOW``, ``fstat``),
  never on the path; entries are written ``0600`` through :func:`snndsl.files.replace_in`.

Anything else means no cache: a folder or entry that fails a check, cannot be created,
read or written (a read-only file system, a file in the folder's place, permission
denied) is skipped silently and the work is done again.  The cache only ever makes
start-up faster, never changes output, never fails a command.  ``SNNDSL_NO_CACHE=1``
turns it off.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import sys
from pathlib import Path

from snndsl import files

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO in the folder must not hang a read
_MAX_ENTRY = 64 << 20  # a larger "entry" is not one of ours


def location() -> Path | None:
    """Where the cache folder is (or would be); None when caching is switched off."""
    if os.environ.get("SNNDSL_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "snndsl"


def trusted(st: os.stat_result) -> bool:
    """Whether a file's or folder's status shows it is the user's own and only theirs to
    write: owned by the effective user, not writable by group or others."""
    return st.st_uid == os.geteuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def open_folder() -> int | None:
    """A descriptor of the checked cache folder (created ``0700`` if missing), or None
    when caching is off or the folder cannot be used.  The caller closes it."""
    path = location()
    if path is None:
        return None
    try:
        os.makedirs(path.parent, mode=0o700, exist_ok=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    except (OSError, ValueError):  # ValueError: a NUL byte in $XDG_CACHE_HOME
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        st = None
    if st is None or not stat.S_ISDIR(st.st_mode) or not trusted(st):
        os.close(fd)
        return None
    return fd


def folder() -> Path | None:
    """The cache folder when it can be used (see :func:`open_folder`), else None."""
    fd = open_folder()
    if fd is None:
        return None
    os.close(fd)
    return location()


def key(*parts: str | bytes) -> str:
    """A short digest of ``parts`` (with the Python version) for an entry's name."""
    digest = hashlib.sha256(sys.version.encode())
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()[:16]


def read_bytes(name: str) -> bytes | None:
    """The bytes of entry ``name``, or None when there is none or it is not trusted."""
    where = open_folder()
    if where is None:
        return None
    try:
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC, dir_fd=where)
    except OSError:  # missing, or a symbolic link
        return None
    finally:
        os.close(where)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not trusted(st) or st.st_size > _MAX_ENTRY:
            return None
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(_MAX_ENTRY + 1)
    except OSError:
        return None
    finally:
        os.close(fd)


def write_bytes(name: str, data: bytes) -> None:
    """Keep ``data`` as entry ``name`` (atomically, mode 0600); failures are ignored."""
    where = open_folder()
    if where is None:
        return
    try:
        files.replace_in(where, name, data, mode=0o600)
    except OSError:  # a read-only folder, a full disk
        pass
    finally:
        os.close(where)


def load(name: str):
    """The object pickled under ``name``, or None when there is none (or it is
    unreadable, or not trusted)."""
    data = read_bytes(name)
    if data is None:
        return None
    try:
        return pickle.loads(data)
    except Exception:  # truncated or written by other code: rebuild
        return None


def store(name: str, value) -> None:
    """Keep ``value`` pickled under ``name``; failures are ignored."""
    try:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return
    write_bytes(name, data)


def module_source(module) -> bytes:
    """The source of an imported module (for keys: an entry depends on the code that
    built it)."""
    try:
        return Path(module.__file__).read_bytes()
    except (OSError, TypeError):
        return repr(module).encode()


def jinja_bytecode_cache():
    """Jinja's bytecode cache kept in the cache folder (None when caching is off).  An
    entry that cannot be read, written or trusted means the template is compiled again."""
    import jinja2

    if location() is None:
        return None

    class Checked(jinja2.BytecodeCache):
        def load_bytecode(self, bucket) -> None:
            data = read_bytes(f"jinja-{bucket.key}.cache")
            if data is None:
                return
            try:
                bucket.bytecode_from_string(data)  # checks Jinja's magic and checksum
            except Exception:  # truncated or foreign entry
                bucket.reset()

        def dump_bytecode(self, bucket) -> None:
            try:
                data = bucket.bytecode_to_string()
            except Exception:  # pragma: no cover - code Jinja cannot marshal
                return
            write_bytes(f"jinja-{bucket.key}.cache", data)

    return Checked()
