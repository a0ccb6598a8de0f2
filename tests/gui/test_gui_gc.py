"""Cycles holding Qt objects are freed on the GUI thread, never by a worker's allocation."""

from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtWidgets import QLabel

from uvscope.gui.gui_gc import GuiThreadGarbageCollector


def _qt_cycle() -> tuple[weakref.ref, list[str]]:
    """A label that references itself (garbage only the cyclic collector can free)."""
    freed_in: list[str] = []
    label = QLabel("in a cycle")
    label.me = label  # the cycle
    label.destroyed.connect(lambda *_: freed_in.append(threading.current_thread().name))
    return weakref.ref(label), freed_in


def _allocate_in_a_worker() -> None:
    def churn() -> None:
        junk = []
        for _ in range(50_000):  # passes every generation's threshold many times over
            a: list = []
            a.append(a)
            junk.append(a)
            if len(junk) > 100:
                junk.clear()

    t = threading.Thread(target=churn, name="worker")
    t.start()
    t.join()


def test_a_worker_never_frees_qt_objects_while_the_collector_runs(qtbot):
    collector = GuiThreadGarbageCollector(interval_ms=20)
    collector.start()
    try:
        assert not gc.isenabled()
        ref, freed_in = _qt_cycle()
        _allocate_in_a_worker()
        assert ref() is not None and freed_in == []  # the worker did not touch it
        qtbot.waitUntil(lambda: ref() is None, timeout=5_000)  # the GUI thread's timer did
        assert freed_in in ([], [threading.main_thread().name])
    finally:
        collector.stop()


def test_stop_collects_and_gives_collection_back():
    was = gc.isenabled()
    collector = GuiThreadGarbageCollector()
    collector.start()
    ref, _ = _qt_cycle()
    collector.stop()
    assert ref() is None
    assert gc.isenabled() == was


def test_settle_startup_moves_long_lived_objects_out_of_every_collection():
    from uvscope.gui.gui_gc import settle_startup

    gc.unfreeze()
    try:
        settle_startup()
        assert gc.get_freeze_count() > 1000  # modules, classes, Qt wrappers of this process
        assert gc.get_count()[2] == 0
    finally:
        gc.unfreeze()
