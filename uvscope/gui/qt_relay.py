"""Re-emit psygnal events from worker threads as queued Qt signals on the GUI thread.

The engine and the analysis worker emit psygnal events in their own threads; touching a widget
there would crash Qt. The relay's only work in the emitting thread is one Qt ``emit``, so a slow
widget never stalls acquisition (as in pymmcore-plus's thread relay).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal


class QtRelay(QObject):
    """Forward each signal of a psygnal SignalGroup as ``event(name, args)`` on the GUI thread."""

    event = Signal(str, object)  # type: ignore[assignment]  # the public name shadows QObject.event

    def __init__(self, group: Any, parent: QObject | None = None) -> None:
        """``group``: a psygnal SignalGroup, or a mapping of names to signal instances."""
        super().__init__(parent)
        self._group = group
        self._handlers: dict[str, list[Callable[..., None]]] = {}
        self._forwarders: list[tuple[Any, Callable[..., None]]] = []
        for name in group:
            forward = self._make_forwarder(name)
            group[name].connect(forward)
            self._forwarders.append((group[name], forward))
        self.event.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)

    def _make_forwarder(self, name: str) -> Callable[..., None]:
        def forward(*args: Any) -> None:
            try:
                self.event.emit(name, args)
            except RuntimeError:  # the relay's Qt object was deleted (its window closed)
                self._group[name].disconnect(forward)

        return forward

    def on(self, name: str, handler: Callable[..., None]) -> None:
        """Call ``handler(*args)`` on the GUI thread whenever signal ``name`` fires."""
        if name not in self._group:
            raise KeyError(f"no signal {name!r} to relay; have {sorted(self._group)}")
        self._handlers.setdefault(name, []).append(handler)

    def _dispatch(self, name: str, args: tuple[Any, ...]) -> None:
        for handler in self._handlers.get(name, ()):
            handler(*args)

    def detach(self) -> None:
        """Stop forwarding (call when the source is done, so it can be garbage collected)."""
        for sig, forward in self._forwarders:
            sig.disconnect(forward)
        self._forwarders.clear()
        self._handlers.clear()
