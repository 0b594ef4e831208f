"""Text written from a thread of its own, so that the event loop never waits for a disk or a pipe.

A ``write()`` to a file can wait for a journal commit behind another process's ``fsync``; a
``write()`` to a pipe waits for as long as the reader does not read (``| less`` left on a page);
a ``write()`` to a terminal waits while output is suspended (Ctrl+S). On the event loop, any of
these holds up everything else on it, the stop path included. :class:`ThreadedWriter` takes the
text at once and writes it from a daemon thread; a writer that falls behind drops what may be
dropped (a progress line that a newer one replaces) and counts it, and a stream that fails is
said once in :attr:`ThreadedWriter.failed`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import IO

MAX_PENDING = 4096
"""Texts waiting to be written before further ones are dropped (and counted): a session writes
far fewer than this in the time any working disk or reader takes."""


class ThreadedWriter:
    """Writes (and flushes) texts to ``stream`` in order, from a thread named ``name``."""

    def __init__(self, stream: IO[str], *, name: str, max_pending: int = MAX_PENDING) -> None:
        self._stream = stream
        self._pending: deque[str] = deque()
        self._cond = threading.Condition()
        self._writing = False
        self._closing = False
        self.max_pending = max_pending
        self.failed: str | None = None
        """Why the stream could not be written (nothing more is written after that)."""
        self.dropped = 0
        """Texts not written because the writer was behind (see :meth:`write`)."""
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def write(self, text: str, *, droppable: bool = False) -> bool:
        """Queue ``text``; never waits. ``droppable``: leave it out when earlier texts are still
        waiting (a live progress line, which the next one replaces). Returns whether it was
        queued."""
        with self._cond:
            if self.failed is not None or self._closing:
                return False
            if (droppable and (self._pending or self._writing)) or (
                len(self._pending) >= self.max_pending
            ):
                self.dropped += 1
                return False
            self._pending.append(text)
            self._cond.notify()
        return True

    def drain(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` until all that was queued is written (or the stream failed);
        ``False`` when the time ran out. Not for the event loop while a session runs."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while (self._pending or self._writing) and self.failed is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout_s: float = 2.0) -> bool:
        """Write what is queued (waiting up to ``timeout_s``), then end the thread. The stream
        stays open (its owner closes it). ``False`` when the stream did not take it all in time
        (the daemon thread is then left to it, so that the process can still exit)."""
        drained = self.drain(timeout_s)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if drained:
            self._thread.join(timeout_s)
        return drained

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return
                chunk = "".join(self._pending)
                self._pending.clear()
                self._writing = True
            failed = None
            try:
                self._stream.write(chunk)
                self._stream.flush()
            except (OSError, ValueError) as exc:  # a full disk, a closed pipe or stream
                failed = str(exc) or type(exc).__name__
            with self._cond:
                self._writing = False
                if failed is not None:
                    self.failed = failed
                    self._pending.clear()
                self._cond.notify_all()


__all__ = ["MAX_PENDING", "ThreadedWriter"]
