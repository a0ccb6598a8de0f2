"""Where the traceback of an unexpected error (a bug) goes, so the user sees one line.

``$UVSCOPE_LOG_DIR``, else the user's state folder (``$XDG_STATE_HOME/uvscope``, by default
``~/.local/state/uvscope``), else the temporary folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from uvscope import __version__


def crash_log_dir() -> Path:
    env = os.environ.get("UVSCOPE_LOG_DIR")
    if env:
        return Path(env)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "uvscope"


def save_traceback(err: BaseException) -> Path | None:
    """Write ``err``'s traceback to a new file; its path, or None if no folder was writable."""
    text = "".join(traceback.format_exception(err))
    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{id(err):x}.log"
    argv = " ".join(sys.argv)
    for folder in (crash_log_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(f"uvscope {__version__}\n{argv}\n\n{text}", encoding="utf-8")
            return path
        except OSError:
            continue
    return None
