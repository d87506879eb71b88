"""Two ingests at once on one store (two data roots, two sites) cannot both accept the same recording.

The identity checks (the same content under another subject or site) and the
registration must be one transaction under the store-wide ingest lock
(:func:`palsyflow.store.repo.lock_ingest`). The race is made certain with the ingest
stage's fault checkpoint (:func:`palsyflow.stages.runs.checkpoint`): ingest A pauses after
checking and copying its file, before registering it; ingest B of another site, with the
same bytes, runs meanwhile; then A goes on. Before the lock, B found nothing registered and
both were accepted (two subjects, one recording).
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
import yaml

from palsyflow.project import Project
from palsyflow.stages import runs
from palsyflow.stages.ingest import ingest_drop
from palsyflow.store import repo
from palsyflow.store.db import session_scope

pytestmark = pytest.mark.shared_data


def _project(root: Path, url: str, site: str, subject: str, clip: Path) -> tuple[Project, Path]:
    drop = root / "drops" / site
    drop.mkdir(parents=True)
    shutil.copyfile(clip, drop / f"{subject}.mpg")
    (drop / "manifest.csv").write_text(f"subject,session_date,task,file,hb_grade,healthy\n{subject},2026-01-05,rest,{subject}.mpg,,yes\n")
    (root / "params.yaml").write_text(yaml.safe_dump({"paths": {"data": "data", "drops": "drops"}, "store": {"url": url}}))
    project = Project.load(root)
    project.engine  # migrated here, before the race
    return project, drop


def test_concurrent_ingests_of_two_sites_accept_the_same_bytes_once(db_url, tmp_path, shared_data, monkeypatch):
    clip = shared_data / "talking-faces" / "grid" / "bbaf2n.mpg"
    if not clip.exists():
        pytest.skip("GRID clip bbaf2n.mpg absent")
    a, drop_a = _project(tmp_path / "a", db_url, "north", "N01", clip)
    b, drop_b = _project(tmp_path / "b", db_url, "south", "S01", clip)
    marker = tmp_path / "paused"
    monkeypatch.setenv(runs.FAULT_PAUSE_ENV, "ingest:copied")
    monkeypatch.setenv(runs.FAULT_MARKER_ENV, str(marker))
    monkeypatch.setattr(runs, "_fired", set())
    results: dict[str, object] = {}

    def ingest(name, project, site, drop):
        results[name] = ingest_drop(project, site, drop)

    ta = threading.Thread(target=ingest, args=("north", a, "north", drop_a))
    ta.start()
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert ta.is_alive() and time.monotonic() < deadline, "ingest A never reached its checkpoint"
        time.sleep(0.02)
    tb = threading.Thread(target=ingest, args=("south", b, "south", drop_b))  # B does not pause: the point fired once
    tb.start()
    tb.join(3.0)  # before the lock, B registers meanwhile; with it, B waits for A's transaction
    marker.unlink()
    ta.join(60)
    tb.join(60)
    assert not ta.is_alive() and not tb.is_alive()

    with session_scope(a.engine) as db:
        held = [(r.site, r.subject) for r in repo.list_recordings(db)]
    assert held == [("north", "N01")]
    assert results["north"].processed == 1 and not results["north"].failures
    assert results["south"].processed == 0
    (refusal,) = [f["reason"] for f in results["south"].failures]
    assert "already registered under another site" in refusal and "N01" not in refusal
    a.engine.dispose()
    b.engine.dispose()
