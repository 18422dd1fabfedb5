"""Safe writes (snndsl/files.py): every file snndsl writes is replaced atomically through
an exclusive, unpredictable temporary file; devices and FIFOs are written into, never
replaced; symbolic links are followed under the kernel's protected_symlinks rule; modes
are kept; a failed write leaves nothing behind; errors are messages, not tracebacks.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import threading

import pytest
from conftest import ROOT

from snndsl import files
from snndsl.cli import main

SEED = ROOT / "specs" / "seed.snn"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_a_new_file_gets_the_umask_default(tmp_path, umask_027):
    target = tmp_path / "out.py"
    files.write_text(target, "x = 1\n")
    assert target.read_text() == "x = 1\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert _leftovers(tmp_path) == []


def test_a_rewritten_file_keeps_its_mode(tmp_path, umask_027):
    for mode in (0o600, 0o644, 0o755, 0o444):
        target = tmp_path / f"out{mode:o}.py"
        target.write_text("old\n")
        os.chmod(target, mode)
        files.write_text(target, "new\n")
        assert target.read_text() == "new\n"
        assert stat.S_IMODE(target.stat().st_mode) == mode


@pytest.mark.skipif(not IS_ROOT, reason="only root can give a file to another user")
def test_a_rewritten_file_keeps_its_owner_when_root_writes_it(tmp_path):
    target = tmp_path / "theirs.snn"
    target.write_text("old\n")
    os.chown(target, 4242, 4343)
    files.write_text(target, "new\n")
    st = target.stat()
    assert (st.st_uid, st.st_gid, target.read_text()) == (4242, 4343, "new\n")


def test_the_temporary_file_is_exclusive_unpredictable_and_never_followed(tmp_path, monkeypatch):
    """A link planted at a temporary name (the old scheme's .NAME.PID.tmp, or the name
    the random generator will give) is never opened: the write goes elsewhere and the
    file the link points at stays as it was."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    target = tmp_path / "out.py"
    (tmp_path / f".out.py.{os.getpid()}.tmp").symlink_to(victim)
    names = iter(["aaaa", "bbbb", "cccc"])
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(names))
    (tmp_path / ".out.py.aaaa.tmp").symlink_to(victim)  # collides with the first draw
    opened = []
    real_open = os.open

    def spy(path, flags, *args, **kwargs):
        opened.append((path, flags))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    files.write_text(target, "generated\n")
    assert victim.read_text() == "precious\n"
    assert target.read_text() == "generated\n"
    creates = [(p, f) for p, f in opened if f & os.O_CREAT]
    assert [p for p, _ in creates] == [".out.py.aaaa.tmp", ".out.py.bbbb.tmp"]
    assert all(f & os.O_EXCL and f & os.O_NOFOLLOW for _, f in creates)
    assert not (tmp_path / ".out.py.bbbb.tmp").exists()  # renamed into place


def test_temporary_names_differ_between_writes(tmp_path, monkeypatch):
    seen = []
    real = files._create_temporary

    def record(dir_fd, name, mode):
        tmp, fd = real(dir_fd, name, mode)
        seen.append(tmp)
        return tmp, fd

    monkeypatch.setattr(files, "_create_temporary", record)
    for _ in range(3):
        files.write_text(tmp_path / "out.py", "x\n")
    assert len(set(seen)) == 3 and not any(str(os.getpid()) in s for s in seen)


@pytest.mark.parametrize("fail_in", ["write", "fsync", "replace", "fchmod"])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, fail_in):
    target = tmp_path / "out.py"
    target.write_text("old\n")
    os.chmod(target, 0o600)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, fail_in, full)
    with pytest.raises(files.WriteError, match=r"cannot write .*out\.py: no space left"):
        files.write_text(target, "new\n" * 1000)
    monkeypatch.undo()
    assert target.read_text() == "old\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _leftovers(tmp_path) == []


def _reader(path, out):
    with open(path, "rb") as fh:
        out.append(fh.read())


def test_a_fifo_is_written_into_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=_reader, args=(fifo, got))
    reader.start()
    try:
        files.write_text(fifo, "through the pipe\n")
    finally:
        if reader.is_alive():  # unblock the reader if the write went elsewhere
            with open(fifo, "wb"):
                pass
        reader.join(5)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got == [b"through the pipe\n"]
    assert _leftovers(tmp_path) == []


def test_a_character_device_is_written_into_not_replaced(tmp_path):
    """A private copy of /dev/null's node (never the real one: a broken write would
    replace the machine's /dev/null), where this user may make one."""
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (OSError, AttributeError):
        pytest.skip("cannot make a device node here")
    files.write_text(node, "discarded\n")
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert _leftovers(tmp_path) == []


def test_descriptor_paths_write_into_the_open_descriptor(tmp_path):
    """/dev/stdout is a link to /proc/self/fd/1: a private link of the same kind stands
    in for it (a broken write replaces only that), and /dev/fd/1, /proc/self/fd/1 are
    used as they are (nothing can be created in those folders)."""
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    code = "import sys; from snndsl.files import write_text; write_text(sys.argv[1], 'hi\\n')"
    for path in (str(link), "/dev/fd/1", "/proc/self/fd/1"):
        cmd = [sys.executable, "-c", code, path]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "hi\n", ""), path
        redirected = tmp_path / "out.txt"
        redirected.write_text("old contents, truncated by the shell's >\n")
        with open(redirected, "w") as fh:  # the shell's `> out.txt`
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        assert redirected.read_text() == "hi\n"
    assert link.is_symlink() and _leftovers(tmp_path) == []


def test_a_symbolic_link_is_followed_and_stays_a_link(tmp_path):
    real = tmp_path / "real.snn"
    real.write_text("old\n")
    os.chmod(real, 0o600)
    link = tmp_path / "link.snn"
    link.symlink_to("real.snn")
    chain = tmp_path / "chain.snn"
    chain.symlink_to(link)
    files.write_text(chain, "new\n")
    assert link.is_symlink() and chain.is_symlink()
    assert real.read_text() == "new\n" and stat.S_IMODE(real.stat().st_mode) == 0o600
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "up.snn").symlink_to("../real.snn")  # relative to the link's own folder
    files.write_text(sub / "up.snn", "newer\n")
    assert real.read_text() == "newer\n" and _leftovers(sub) == []
    dangling = tmp_path / "dangling.py"
    dangling.symlink_to("made.py")
    files.write_text(dangling, "made\n")
    assert dangling.is_symlink() and (tmp_path / "made.py").read_text() == "made\n"


def test_a_link_loop_is_a_clean_error(tmp_path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(files.WriteError, match="symbolic links"):
        files.write_text(tmp_path / "a", "x\n")


@pytest.mark.skipif(not IS_ROOT, reason="only root can plant a link owned by another user")
def test_a_link_planted_by_another_user_in_a_sticky_folder_is_not_followed(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    planted = shared / "out.py"
    planted.symlink_to(victim)
    os.lchown(planted, 4242, 4242)
    with pytest.raises(files.WriteError, match="not followed"):
        files.write_text(planted, "generated\n")
    assert victim.read_text() == "precious\n" and planted.is_symlink()
    assert _leftovers(shared) == []
    os.lchown(planted, os.geteuid(), os.getegid())  # the user's own link: followed
    files.write_text(planted, "generated\n")
    assert victim.read_text() == "generated\n"


def test_a_folder_is_refused(tmp_path):
    (tmp_path / "d").mkdir()
    for path in (tmp_path / "d", f"{tmp_path}/d/", tmp_path):
        with pytest.raises(files.WriteError, match="it is a folder"):
            files.write_text(path, "x\n")
    assert (tmp_path / "d").is_dir()


def test_a_socket_is_refused(tmp_path):
    import socket

    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.bind(str(path))
        except OSError:
            pytest.skip("cannot bind a unix socket here")
        with pytest.raises(files.WriteError, match="not a regular file"):
            files.write_text(path, "x\n")


def test_cli_write_errors_are_messages_with_exit_status(tmp_path, capsys, monkeypatch):
    (tmp_path / "d").mkdir()
    (tmp_path / "plain").write_text("")
    cases = [
        (["generate", str(SEED), "-o", str(tmp_path / "missing" / "x.py")], "does not exist"),
        (["generate", str(SEED), "-o", str(tmp_path / "d")], "it is a folder"),
        (["convert", str(SEED), "-o", str(tmp_path / "plain" / "x.yaml")], "is not a folder"),
        (["graph", str(SEED), "-o", str(tmp_path / "missing" / "g.svg")], "does not exist"),
    ]
    for argv, reason in cases:
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("snndsl: cannot write ") and reason in err, err
        assert "Traceback" not in err
    real_open = os.open

    def denied(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    assert main(["generate", str(SEED), "-o", str(tmp_path / "x.py")]) == 1
    assert (
        capsys.readouterr().err == f"snndsl: cannot write {tmp_path / 'x.py'}: permission denied\n"
    )


def test_every_cli_writer_goes_through_files(tmp_path, monkeypatch):
    written = []
    real = files.write_bytes
    monkeypatch.setattr(files, "write_bytes", lambda p, d: (written.append(str(p)), real(p, d)))
    spec = tmp_path / "messy.snn"
    spec.write_text("network Seed{input x:[8] output y=x->Linear(4)->IF}")
    targets = [tmp_path / "g.py", tmp_path / "c.yaml", tmp_path / "g.dot"]
    assert main(["generate", str(SEED), "-o", str(targets[0])]) == 0
    assert main(["convert", str(SEED), "-o", str(targets[1])]) == 0
    assert main(["graph", str(SEED), "-o", str(targets[2])]) == 0
    assert main(["fmt", "-i", str(spec)]) == 0
    assert written == [str(t) for t in targets] + [str(spec)]


def test_fmt_in_place_keeps_a_private_spec_private(tmp_path):
    spec = tmp_path / "private.snn"
    spec.write_text("network Seed{input x:[8] output y=x->Linear(4)->IF}")
    os.chmod(spec, 0o600)
    assert main(["fmt", "-i", str(spec)]) == 0
    assert spec.read_text().startswith("network Seed {")
    assert stat.S_IMODE(spec.stat().st_mode) == 0o600
    assert _leftovers(tmp_path) == []
