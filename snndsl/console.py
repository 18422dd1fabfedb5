"""What a long command shows on the terminal, and what it keeps from showing.

:class:`Progress` is one status line on a terminal's stderr ("snndsl check seed.snn:
running SpikingJelly (3 s)"), drawn only once the work has taken longer than ``delay``
seconds, redrawn in place and erased at the end.  On a stream that is not a terminal
(a pipe, a file, a CI log) it writes nothing at all, so redirected output stays clean.

:func:`quiet_third_party` keeps warnings of the libraries ``check`` loads (torch's
``logging`` records, Python ``warnings``, SpikingJelly's loguru messages) out of the
command's output while it runs; errors still show.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import TextIO

_ERASE = "\r\x1b[K"  # back to the start of the line, clear to its end


class Progress:
    """A status line for a command that may take a while; use it as a context manager
    and call :meth:`stage` as the work moves on."""

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        delay: float = 1.5,
        interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.delay = delay
        self.interval = interval
        self.clock = clock
        self.enabled = _is_terminal(self.stream)
        self._stage = ""
        self._start = clock()
        self._drawn = ""  # the line on the terminal now
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def stage(self, text: str) -> None:
        """What the command is doing now (shown on the next redraw)."""
        self._stage = text

    def line(self) -> str:
        """The status line as it would be drawn now."""
        elapsed = self.clock() - self._start
        text = f"{self.label}: {self._stage} ({elapsed:.0f} s)" if self._stage else self.label
        width = shutil.get_terminal_size((80, 24)).columns - 1
        return text if len(text) <= width else text[: max(width - 3, 0)] + "..."

    def tick(self) -> None:
        """Draw the line if the work has run past ``delay`` (the timer thread calls
        this every ``interval`` seconds)."""
        if not self.enabled or self.clock() - self._start < self.delay:
            return
        with self._lock:
            text = self.line()
            if self._done.is_set() or text == self._drawn:
                return
            self.stream.write(_ERASE + text)
            self.stream.flush()
            self._drawn = text

    def __enter__(self) -> Progress:
        self._start = self.clock()
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="snndsl-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            self._done.set()
            if self._drawn:
                self.stream.write(_ERASE)
                self.stream.flush()
                self._drawn = ""
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            self.tick()


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


@contextlib.contextmanager
def quiet_third_party() -> Iterator[list[warnings.WarningMessage]]:
    """Capture warnings while the block runs: Python warnings are recorded (the list
    yielded), ``logging`` below ERROR is switched off (torch logs "Triton not available"
    through it when SpikingJelly loads), and loguru's messages from SpikingJelly are
    disabled.  Everything is restored afterwards."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    loguru = _loguru()
    if loguru is not None:
        loguru.disable("spikingjelly")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
    finally:
        logging.disable(previous)
        if loguru is not None:
            loguru.enable("spikingjelly")


def _loguru():
    try:
        from loguru import logger
    except Exception:  # not installed: SpikingJelly is not either
        return None
    return logger
