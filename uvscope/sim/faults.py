"""Fault injection for the simulated devices: make a chosen operation fail on purpose.

A ``FaultInjector`` holds rules; every simulated device asks it before each operation.
Tests and the soak benchmark use it to prove that the engine recovers or stops cleanly.
"""

from __future__ import annotations

import errno
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from uvscope.errors import DeviceDisconnected, DeviceTimeout, MotionError


def _disk_full(where: str) -> OSError:
    return OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (injected fault)", where)


FAULTS: dict[str, Callable[[str], Exception]] = {
    "disk_full": _disk_full,
    "timeout": lambda where: DeviceTimeout(f"{where}: no reply (injected fault)"),
    "disconnect": lambda where: DeviceDisconnected(f"{where}: connection lost (injected fault)"),
    "stall": lambda where: MotionError(f"{where}: motion error, axis stalled (injected fault)"),
    "frame_timeout": lambda where: DeviceTimeout(f"{where}: frame timeout (injected fault)"),
}


@dataclass
class FaultRule:
    """Fail ``op`` of ``device`` (e.g. "stage", "move") with ``fault``.

    ``after`` calls succeed first, then ``count`` calls fail (``count=None``: forever),
    or each call fails with ``probability`` when that is set.
    """

    device: str
    op: str
    fault: str
    after: int = 0
    count: int | None = 1
    probability: float | None = None
    calls: int = 0
    fired: int = 0


@dataclass
class FaultInjector:
    rules: list[FaultRule] = field(default_factory=list)
    seed: int = 0
    log: list[tuple[str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def add(self, device: str, op: str, fault: str, **kw: object) -> FaultRule:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {sorted(FAULTS)}")
        rule = FaultRule(device, op, fault, **kw)  # type: ignore[arg-type]
        self.rules.append(rule)
        return rule

    def check(self, device: str, op: str) -> None:
        """Raise the injected exception if a rule fires for this call."""
        with self._lock:
            for rule in self.rules:
                if rule.device != device or rule.op != op:
                    continue
                rule.calls += 1
                if rule.probability is not None:
                    fire = self._rng.random() < rule.probability
                else:
                    fire = rule.calls > rule.after and (
                        rule.count is None or rule.fired < rule.count
                    )
                if fire:
                    rule.fired += 1
                    self.log.append((device, op, rule.fault))
                    raise FAULTS[rule.fault](f"{device}.{op}")

    def storage_hook(self) -> Callable[[object], None]:
        """For ``ScanEngine.storage_hook``: rules on device "disk", op "write" (fault
        "disk_full") make the scan folder's next write fail with ENOSPC."""

        def hook(path: object) -> None:
            self.check("disk", "write")

        return hook

    @property
    def injected(self) -> int:
        return len(self.log)
