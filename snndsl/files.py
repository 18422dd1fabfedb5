"""Every file snndsl writes goes through here: atomic, exclusive, never through a planted link.

``write_text(path, text)`` is what ``generate -o``, ``convert -o``, ``fmt -i`` and
``graph -o`` call; ``replace_in(dir_fd, name, data)`` is the step underneath, which the
cache (:mod:`snndsl.cache`) uses inside the folder it has checked.

What the target path names decides what happens:

- a regular file, or nothing yet: the new contents go to a temporary file created
  exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``, an unpredictable name, in the target's
  own folder), written in full, fsynced, then renamed over the target in one step.
  Readers see the old file or the whole new one.  A rewritten file keeps its mode (and
  its owner and group where allowed); a new file gets the umask's default.
- a character device or a FIFO (``/dev/null``, a terminal, ``mkfifo``), or a descriptor
  path (``/dev/stdout``, ``/dev/fd/N``, ``/proc/self/fd/N``): the text is written into it,
  as the shell's ``>`` would; the device node is never replaced.
- a symbolic link: the link is followed and the file it names is replaced (the link
  stays), one hop at a time as the kernel does, with the kernel's ``protected_symlinks``
  rule: in a sticky, world-writable folder such as ``/tmp`` a link is followed only when
  it belongs to the user or to the folder's owner; otherwise the write is refused.
- a folder, a socket or a block device: refused.

A failed write leaves no temporary file and the old file untouched.  Every failure is a
:class:`WriteError` (an ``OSError``) whose message names the path and the reason.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat

_MAX_LINKS = 40  # the kernel's own limit on symbolic links in one lookup
_FD_FOLDER = re.compile(r"/proc/[^/]+/fd")  # where /dev/stdout and /dev/fd/N lead
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class WriteError(OSError):
    """A write that could not be done; its message says which path and why."""


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path``, as described above."""
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path``: atomically for a file, into a device or FIFO."""
    shown = os.fspath(path)
    try:
        _write(shown, data)
    except WriteError:
        raise
    except OSError as err:
        raise WriteError(f"cannot write {shown}: {_reason(err)}") from None


def replace_in(dir_fd: int, name: str, data: bytes, mode: int | None = None) -> None:
    """Atomically replace (or create) the entry ``name`` of the open folder ``dir_fd``.

    ``mode`` is the new file's permission bits (default: the old file's, or the umask's
    default for a new one).  An existing entry is replaced, never followed or opened, so
    a symbolic link there is replaced by the file.  Raises ``OSError``.
    """
    try:
        old = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        old = None
    if old is not None and not stat.S_ISREG(old.st_mode):
        old = None  # a link (or anything else) is replaced, its mode not copied
    tmp, fd = _create_temporary(dir_fd, name, 0o600 if old is not None or mode else 0o666)
    try:
        try:
            if old is not None:
                _copy_owner(fd, old)
            if mode is not None or old is not None:
                os.fchmod(fd, mode if mode is not None else stat.S_IMODE(old.st_mode))
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable; some file systems cannot fsync a folder
        os.fsync(dir_fd)
    except OSError:
        pass


def _write(path: str, data: bytes) -> None:
    current = path
    for _ in range(_MAX_LINKS):
        folder, name = os.path.split(current)
        folder = folder or "."
        if _FD_FOLDER.fullmatch(os.path.realpath(folder)):
            return _write_into(path, data)
        if name in ("", ".", ".."):
            raise WriteError(f"cannot write {path}: it is a folder")
        dir_fd = _open_folder(path, folder)
        try:
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            if st is None or stat.S_ISREG(st.st_mode):
                return replace_in(dir_fd, name, data)
            if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
                return _write_into(current, data)
            if stat.S_ISDIR(st.st_mode):
                raise WriteError(f"cannot write {path}: it is a folder")
            if not stat.S_ISLNK(st.st_mode):
                raise WriteError(
                    f"cannot write {path}: not a regular file, character device or FIFO"
                )
            _may_follow(path, current, dir_fd, st)
            current = os.path.join(folder, os.readlink(name, dir_fd=dir_fd))
        finally:
            os.close(dir_fd)
    raise WriteError(f"cannot write {path}: {os.strerror(errno.ELOOP)}")


def _open_folder(path: str, folder: str) -> int:
    try:
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise WriteError(f"cannot write {path}: folder {folder} does not exist") from None
    except NotADirectoryError:
        raise WriteError(f"cannot write {path}: {folder} is not a folder") from None


def _may_follow(path: str, link: str, dir_fd: int, st: os.stat_result) -> None:
    """The kernel's protected_symlinks rule, for links this module resolves itself."""
    folder = os.fstat(dir_fd)
    shared = folder.st_mode & stat.S_ISVTX and folder.st_mode & stat.S_IWOTH
    if shared and st.st_uid not in (os.geteuid(), folder.st_uid):
        raise WriteError(
            f"cannot write {path}: {link} is a symbolic link in a shared sticky folder "
            "owned by another user; not followed"
        )


def _write_into(path: str, data: bytes) -> None:
    """Write into a device, FIFO or open descriptor without creating or replacing it."""
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)  # no O_CREAT: it must already be there
    try:
        st = os.fstat(fd)
        if stat.S_ISBLK(st.st_mode) or stat.S_ISDIR(st.st_mode):
            raise WriteError(f"cannot write {path}: not a regular file, character device or FIFO")
        _write_all(fd, data)
    finally:
        os.close(fd)


def _create_temporary(dir_fd: int, name: str, mode: int) -> tuple[str, int]:
    for _ in range(100):
        tmp = f".{name[:40]}.{secrets.token_hex(8)}.tmp"
        try:
            return tmp, os.open(tmp, _CREATE, mode, dir_fd=dir_fd)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name")  # pragma: no cover


def _copy_owner(fd: int, old: os.stat_result) -> None:
    """Give the new file the old one's owner and group, as far as this user may."""
    for uid, gid in ((old.st_uid, old.st_gid), (-1, old.st_gid)):
        try:
            os.fchown(fd, uid, gid)
            return
        except OSError:
            continue


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _reason(err: OSError) -> str:
    if isinstance(err, PermissionError):
        return "permission denied"
    if err.errno == errno.EROFS:
        return "read-only file system"
    if err.errno == errno.ENOSPC:
        return "no space left on device"
    return err.strerror or str(err)
