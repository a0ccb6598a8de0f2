"""A closed terminal pipe never stops a command: messages go nowhere, the work goes on.

``uvscope scan ... | head -1`` closes the pipe after one line; the next message would raise
BrokenPipeError in whatever thread wrote it (the progress bar, an engine event, logging) and
kill a scan that had nothing wrong with it. The CLI therefore writes through these wrappers:
the first EPIPE points the file descriptor at /dev/null (so Python's own flush at exit has
somewhere to go, as the Python docs advise for SIGPIPE) and every later message is dropped.
The scan folder's ``uvscope.log`` still holds every message.
"""

from __future__ import annotations

import errno
import os
import sys
import threading
from typing import Any, TextIO


class PipeSafeStream:
    """A text stream that turns a closed pipe (EPIPE) into silence; all else delegates."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._closed_pipe = False
        self._guard = threading.Lock()

    @property
    def closed_pipe(self) -> bool:
        """Whether the reader went away (every message since was dropped)."""
        return self._closed_pipe

    def write(self, text: str) -> int:
        if self._closed_pipe:
            return len(text)
        try:
            return self._stream.write(text)
        except OSError as err:
            self._lost(err)
            return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._closed_pipe:
            return
        try:
            self._stream.flush()
        except OSError as err:
            self._lost(err)

    def _lost(self, err: OSError) -> None:
        if not isinstance(err, BrokenPipeError) and err.errno != errno.EPIPE:
            raise err
        with self._guard:
            if self._closed_pipe:
                return
            self._closed_pipe = True
            try:  # the buffered rest (and Python's flush at exit) goes to /dev/null
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self._stream.fileno())
                os.close(devnull)
            except (OSError, AttributeError, ValueError):
                pass  # not a real file descriptor (a test's buffer): dropping is enough

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def tolerate_closed_pipes() -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` (once) so a closed pipe cannot stop the run."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, PipeSafeStream):
            setattr(sys, name, PipeSafeStream(stream))
