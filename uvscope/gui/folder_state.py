"""What an output folder holds before a scan starts there: nothing, a finished scan, or an
interrupted one to resume. Checked up front so the operator is asked the right question
beside the right field, instead of a failed scan advising a command-line flag."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from uvscope.config import ScanConfig, parse_model
from uvscope.errors import ConfigError
from uvscope.io.plan_record import PlanRecord
from uvscope.logs import LOG_NAME

#: manifest states after which a folder cannot take more tiles
FINISHED = ("complete", "stopped-early")


@dataclass(frozen=True)
class FolderState:
    kind: Literal["new", "finished", "interrupted"]
    path: Path
    status: str = ""
    tiles_done: int = 0
    tiles_total: int = 0
    manifest: dict[str, Any] | None = None

    def config(self) -> ScanConfig:
        """The scan configuration stored in the folder (to resume it as it was)."""
        assert self.manifest is not None
        return parse_model(ScanConfig, self.manifest["config"], f"{self.path}/manifest.json")


def _writable(path: Path) -> bool:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return os.access(p, os.W_OK | os.X_OK)


def _tiles_done(path: Path) -> int:
    journal = path / "tiles.jsonl"
    if not journal.exists():
        return 0
    with journal.open(encoding="utf-8", errors="replace") as fh:
        return sum(1 for line in fh if line.strip())


def folder_state(path: str | Path) -> FolderState:
    """The state of ``path``; raises ConfigError (on ``output_dir``) when it is unusable."""
    path = Path(path)
    if not _writable(path):
        raise ConfigError(
            f"scan set-up\n  output_dir: cannot write to {path}: choose a folder you may write to"
        )
    mpath = path / "manifest.json"
    if not mpath.exists():
        if path.exists() and any(f.name != LOG_NAME for f in path.iterdir()):
            raise ConfigError(
                f"scan set-up\n  output_dir: {path} holds other files, not a scan: "
                "choose an empty or new folder"
            )
        return FolderState("new", path)
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"scan set-up\n  output_dir: {mpath} is unreadable ({err}): choose a new folder"
        ) from err
    status = str(manifest.get("status", ""))
    total = PlanRecord.from_manifest(manifest).tiles
    kind: Literal["finished", "interrupted"] = "finished" if status in FINISHED else "interrupted"
    return FolderState(kind, path, status, _tiles_done(path), total, manifest)
