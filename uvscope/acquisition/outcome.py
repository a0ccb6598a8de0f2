"""How a scan ended, in words for the user and in the run state the events report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from uvscope.acquisition.events import RunState
from uvscope.acquisition.reuse import startup_leftovers
from uvscope.crashlog import save_traceback
from uvscope.io.scanfolder import ScanFolder

#: the run state a scan's status ends in (any other status: FAILED)
FINAL_STATE = {
    "complete": RunState.FINISHED,
    "stopped-early": RunState.FINISHED,
    "interrupted": RunState.INTERRUPTED,
    "aborted": RunState.ABORTED,
}


@dataclass
class Outcome:
    """The status as the run goes ("failed" until the tiles are under way)."""

    status: str = "failed"
    message: str = ""
    errors: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.status, self.message = "failed", message
        self.errors.append(message)

    @property
    def state(self) -> RunState:
        return FINAL_STATE.get(self.status, RunState.FAILED)


def resume_hint(out_dir: Path) -> str:
    return f"finish it with `uvscope scan --resume {out_dir}`"


def crash_text(err: Exception, folder: ScanFolder | None) -> str:
    """One line for a bug; the traceback in a crash log, named in the folder's events."""
    path = save_traceback(err)
    where = f"the full traceback is in {path}" if path else "no log folder was writable"
    if folder is not None:
        try:
            folder.log_event("crash", repr(err), traceback_file=str(path))
        except Exception:  # noqa: BLE001 - the original error matters more
            pass
    return f"unexpected error ({type(err).__name__}: {err}); this is a bug, {where}"


def failure_text(
    message: str, out_dir: Path, folder: ScanFolder | None, tiles_done: int = 1
) -> str:
    """The error a failed or aborted run raises: with how to finish it when files exist, or
    that the folder may be reused when no tile was acquired."""
    if folder is None:
        return message
    if tiles_done == 0 and startup_leftovers(folder.root) is not None:
        return (
            f"{message}; no tile was acquired: after fixing the cause, start again with "
            f"`uvscope scan --out {out_dir}` (it reuses the folder) or finish it with "
            f"`uvscope scan --resume {out_dir}`"
        )
    return (
        f"{message}; files written so far are intact: finish with `uvscope scan --resume {out_dir}`"
    )
