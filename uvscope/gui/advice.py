"""Turn an error into a message that says what happened and what the operator can do next."""

from __future__ import annotations

from uvscope.errors import (
    AnalysisError,
    ConfigError,
    DeviceDisconnected,
    DeviceError,
    DeviceNotFound,
    DeviceTimeout,
    LimitError,
    ModelError,
    MotionError,
    ScanAborted,
    ScanError,
    StorageError,
)

_NEXT_STEPS: list[tuple[type[BaseException], str]] = [
    (
        DeviceNotFound,
        "Check the cable and power, and that the port or library in the rig "
        "TOML is right; then press Reconnect.",
    ),
    (DeviceDisconnected, "Check the cable and power of the device, then press Reconnect."),
    (
        DeviceTimeout,
        "The device did not answer in time. Check it is powered and not blocked, "
        "then press Reconnect (during a scan: Resume retries the tile).",
    ),
    (
        MotionError,
        "An axis stalled or hit a limit switch. Clear the stage, home it if needed, "
        "then press Reconnect.",
    ),
    (
        DeviceError,
        "Check the device, then press Reconnect (during a scan: Resume retries, "
        "Abort stops with every file kept).",
    ),
    (
        LimitError,
        "The position is outside the soft limits in the rig TOML; choose a position inside them.",
    ),
    (ConfigError, "Correct the fields marked in red and try again."),
    (StorageError, "Choose an output folder on a disk with free space that you can write to."),
    (ModelError, "Check the model files, or turn analysis off to scan without it."),
    (
        AnalysisError,
        "Acquisition is unaffected; re-run the analysis later with "
        "`uvscope analyze <scan folder>`.",
    ),
    (
        ScanAborted,
        "The files written so far are intact; finish the scan later with "
        "`uvscope scan --resume <scan folder>`.",
    ),
    (
        ScanError,
        "The files written so far are intact; fix the cause, then resume with "
        "`uvscope scan --resume <scan folder>`.",
    ),
]


def next_step(err: BaseException) -> str:
    for cls, text in _NEXT_STEPS:
        if isinstance(err, cls):
            return text
    return (
        "This is unexpected. The scan folder's log has the details; please report it with that log."
    )


def describe(what: str, err: BaseException) -> str:
    """``what`` failed: the error's own message, then what to do next."""
    return f"Could not {what}: {err}\n\nWhat to do: {next_step(err)}"
