"""Quiet output (snndsl/console.py): ``check`` shows a status line only on a terminal and
only once the work has taken a while; third-party warnings never reach its output."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import time
import warnings

import pytest
from conftest import ROOT

from snndsl import cli, console
from snndsl.console import Progress, quiet_third_party

ERASE = "\r\x1b[K"


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_nothing_is_drawn_before_the_delay_then_one_line_in_place():
    tty, clock = FakeTTY(), Clock()
    progress = Progress("snndsl check x.snn", stream=tty, delay=1.5, clock=clock)
    progress._start = clock.now
    progress.stage("running the multi-step form")
    clock.now += 1.0
    progress.tick()
    assert tty.getvalue() == ""  # quick work shows nothing
    clock.now += 1.0
    progress.tick()
    progress.tick()  # the same line is not drawn twice
    assert tty.getvalue() == ERASE + "snndsl check x.snn: running the multi-step form (2 s)"
    progress.stage("comparing with SpikingJelly")
    clock.now += 1.0
    progress.tick()
    assert tty.getvalue().endswith(ERASE + "snndsl check x.snn: comparing with SpikingJelly (3 s)")
    progress.__exit__(None, None, None)
    assert tty.getvalue().endswith(ERASE)  # the line is erased at the end
    progress.tick()
    assert tty.getvalue().endswith(ERASE)  # and never drawn again


def test_the_timer_draws_on_a_terminal_and_erases_at_the_end():
    tty = FakeTTY()
    with Progress("label", stream=tty, delay=0.0, interval=0.01) as progress:
        progress.stage("working")
        deadline = time.monotonic() + 5
        while "working" not in tty.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
    assert "label: working (" in tty.getvalue()
    assert tty.getvalue().endswith(ERASE)


def test_nothing_at_all_when_the_stream_is_not_a_terminal():
    for stream in (io.StringIO(), object()):
        with Progress("label", stream=stream, delay=0.0, interval=0.01) as progress:
            progress.stage("working")
            time.sleep(0.05)
            progress.tick()
        assert not progress.enabled
    assert stream is not None


def test_a_long_line_is_cut_to_the_terminal_width(monkeypatch):
    size = os.terminal_size((20, 5))
    monkeypatch.setattr(console.shutil, "get_terminal_size", lambda fallback: size)
    progress = Progress("snndsl check a/very/long/path/spec.snn", stream=FakeTTY())
    progress.stage("running")
    assert len(progress.line()) == 19 and progress.line().endswith("...")


def test_third_party_warnings_and_log_records_are_captured(capfd, caplog):
    before = logging.root.manager.disable
    with quiet_third_party() as caught:
        warnings.warn("from a library", UserWarning, stacklevel=1)
        logging.getLogger("torch._library.triton").warning("Triton not available")
        logging.getLogger("torch").error("an error still shows")
    assert [str(w.message) for w in caught] == ["from a library"]
    assert logging.root.manager.disable == before
    err = capfd.readouterr().err
    assert "Triton" not in err and "from a library" not in err
    assert [r.getMessage() for r in caplog.records] == ["an error still shows"]


def test_spikingjelly_loguru_messages_are_captured():
    loguru = pytest.importorskip("loguru")
    code = compile("logger.warning('spikingjelly says hi')", "<sj>", "exec")
    namespace = {"__name__": "spikingjelly.activation_based.fake", "logger": loguru.logger}
    messages: list[str] = []
    sink = loguru.logger.add(messages.append, level="DEBUG", format="{message}")
    try:
        with quiet_third_party():
            exec(code, namespace)
        assert messages == []
        exec(code, namespace)  # enabled again afterwards
        assert [m.strip() for m in messages] == ["spikingjelly says hi"]
    finally:
        loguru.logger.remove(sink)


def test_check_reports_each_stage_to_its_progress_line(monkeypatch, capsys):
    pytest.importorskip("torch")
    stages: list[str] = []

    class Recording(Progress):
        def stage(self, text: str) -> None:
            stages.append(text)
            super().stage(text)

    monkeypatch.setattr(console, "Progress", Recording)
    assert cli.main(["check", str(ROOT / "specs" / "seed.snn"), "--against", "auto"]) == 0
    assert stages[:6] == [
        "loading torch",
        "checking the spec",
        "generating both forms",
        "calibrating",
        "running the multi-step form",
        "running the single-step form",
    ]
    assert "running SpikingJelly" in stages[6:], stages
    assert capsys.readouterr().out.rstrip().endswith("PASS")


def test_check_prints_nothing_on_stderr_when_it_is_not_a_terminal():
    """No progress (stderr is a pipe) and no third-party warnings: torch logs "Triton not
    available" when SpikingJelly loads, unless captured."""
    pytest.importorskip("torch")
    proc = subprocess.run(
        [sys.executable, "-m", "snndsl", "check", str(ROOT / "specs" / "seed.snn")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.rstrip().endswith("PASS")
