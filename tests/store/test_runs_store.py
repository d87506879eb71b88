"""Migration 0003 and the run/quarantine functions it serves, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from palsyflow.store import repo
from palsyflow.store.db import alembic_config, current_revision, head_revision, session_scope
from palsyflow.store.models import ProcessingRun


def test_interrupted_runs_survive_a_downgrade_as_failed_and_upgrade_again(engine):
    with session_scope(engine) as db:
        run = repo.start_run(db, "landmarks", "v", "h", {}, pid=123, host="here")
        (marked,) = repo.mark_interrupted_runs(db, lambda r: r.pid == 123)
        assert marked.id == run.id and marked.status == "interrupted" and "pid 123 on here" in marked.error
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0002")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT status FROM processing_runs")).scalars().all() == ["failed"]
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert current_revision(engine) == head_revision()


def test_mark_interrupted_leaves_live_runs_alone(engine):
    with session_scope(engine) as db:
        repo.start_run(db, "features", "v", "h", {}, pid=1, host="a")
        repo.start_run(db, "report", "v", "h", {}, pid=2, host="a")
        repo.mark_interrupted_runs(db, lambda r: r.pid == 2)
    with session_scope(engine) as db:
        got = {r.stage: r.status for r in db.scalars(sa.select(ProcessingRun))}
    assert got == {"features": "running", "report": "interrupted"}


def test_a_resolved_item_stands_again_when_refused_again(engine):
    with session_scope(engine) as db:
        repo.add_quarantine(db, "north", "a.mp4", None, "no face", "quarantine/site-north/x_a.mp4")
        assert repo.resolve_quarantine(db, "north", original_name="a.mp4") == 1
        assert repo.status_summary(db)["failures"] == []
        repo.add_quarantine(db, "north", "a.mp4", None, "no face", None)
        assert [f["file"] for f in repo.status_summary(db)["failures"]] == ["a.mp4"]
        assert repo.resolve_quarantine(db, "north", original_name="a.mp4", keep={("a.mp4", "no face")}) == 0
