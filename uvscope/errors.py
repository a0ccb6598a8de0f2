"""The exception hierarchy shared by every room.

Errors carry messages that tell the user what to do; the CLI and GUI turn them into
user-facing text at the edge and nowhere else.
"""

from __future__ import annotations


class UvscopeError(Exception):
    """Base of every error uvscope raises on purpose."""


class ConfigError(UvscopeError):
    """A rig or scan configuration is invalid; the message names the field."""


class ConfigValueError(ConfigError, ValueError):
    """A changed setting is invalid (``Model.replace``, often from the command line): a
    ConfigError for the CLI's edge, and still the ValueError callers validating values catch."""


class DeviceError(UvscopeError):
    """A device refused a command, answered garbage or reported a fault."""


class DeviceTimeout(DeviceError):
    """A device did not answer (or did not finish a move) in time."""


class DeviceDisconnected(DeviceError):
    """The connection to a device was lost and could not be reopened."""


class DeviceNotFound(DeviceError):
    """A device, or the library needed to reach it, is missing."""


class MotionError(DeviceError):
    """An axis reported a motion error (stall, following error) or hit a limit switch."""


class LimitError(UvscopeError):
    """A requested position lies outside the configured soft limits; nothing was moved."""


class ScanError(UvscopeError):
    """A scan could not start or continue."""


class ScanAborted(ScanError):
    """The scan was aborted by the user; every file written so far is intact."""


class StorageError(UvscopeError):
    """A scan folder or file is missing, damaged, full or from an incompatible version."""


class FolderLocked(StorageError):
    """Another process is writing the scan folder; the message names it (pid, host, since)."""

    def __init__(self, message: str, holder: object = None) -> None:
        super().__init__(message)
        #: the :class:`uvscope.io.lock.LockHolder` refusing us (None if not yet known)
        self.holder = holder


class ModelError(UvscopeError):
    """A model's weights are missing, corrupt, or do not fit the expected input."""


class AnalysisError(UvscopeError):
    """The analysis of a tile failed."""


class AnalysisInterrupted(AnalysisError):
    """The analysis was stopped at a tile boundary (Ctrl-C); the previous results were kept."""
