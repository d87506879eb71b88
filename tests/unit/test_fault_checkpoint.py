"""The stages' fault checkpoint: a test hook that pauses one chosen point, and does nothing otherwise."""

from __future__ import annotations

import os
import threading
import time

from palsyflow.stages import runs


def test_without_the_variable_a_checkpoint_returns_at_once_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(runs.FAULT_PAUSE_ENV, raising=False)
    monkeypatch.setenv(runs.FAULT_MARKER_ENV, str(tmp_path / "m"))
    monkeypatch.setattr(runs, "_fired", set())
    t0 = time.monotonic()
    for _ in range(1000):
        runs.checkpoint("ingest", "copied")
    assert time.monotonic() - t0 < 1.0
    assert not (tmp_path / "m").exists()
    monkeypatch.setenv(runs.FAULT_PAUSE_ENV, "score:written")
    runs.checkpoint("ingest", "copied")  # another point: no pause
    assert not (tmp_path / "m").exists() and runs._fired == set()


def test_the_chosen_point_pauses_once_until_its_marker_is_removed(tmp_path, monkeypatch):
    marker = tmp_path / "m"
    monkeypatch.setenv(runs.FAULT_PAUSE_ENV, "score:written")
    monkeypatch.setenv(runs.FAULT_MARKER_ENV, str(marker))
    monkeypatch.setattr(runs, "_fired", set())
    t = threading.Thread(target=runs.checkpoint, args=("score", "written"))
    t.start()
    deadline = time.monotonic() + 10
    while not marker.exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert marker.read_text() == str(os.getpid())
    t.join(0.3)
    assert t.is_alive(), "the checkpoint went on while its marker exists"
    marker.unlink()
    t.join(5)
    assert not t.is_alive()
    t0 = time.monotonic()
    runs.checkpoint("score", "written")  # fired once: a retried stage does not pause again
    assert time.monotonic() - t0 < 0.5 and not marker.exists()
