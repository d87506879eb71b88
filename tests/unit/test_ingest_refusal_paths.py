"""Refusals of a whole drop name it relative to the project (``drops/north/manifest.csv``), never absolutely."""

from __future__ import annotations

from pathlib import Path

from palsyflow.project import Project
from palsyflow.stages.ingest import ingest, ingest_drop
from palsyflow.store import repo
from palsyflow.store.db import session_scope


def _project(root: Path) -> Project:
    (root / "params.yaml").write_text("paths:\n  data: data\n  drops: drops\n")
    return Project.load(root)


def test_an_unreadable_manifest_is_named_relative_to_the_project(tmp_path):
    project = _project(tmp_path)
    drop = tmp_path / "drops" / "north"
    drop.mkdir(parents=True)
    (drop / "manifest.csv").write_text("subject;session_date;task;file\nN01;2026-01-05;rest;a.mp4\n")
    res = ingest(project, ["north"])
    (reason,) = [f["reason"] for f in res.failures]
    assert reason.startswith("drops/north/manifest.csv: uses ") and "delimiter" in reason, reason
    assert str(tmp_path) not in reason and str(tmp_path) not in (res.error or "")
    assert res.error.startswith("site north: drops/north/manifest.csv: ")
    with session_scope(project.engine) as db:
        stored = [q.reason for q in db.scalars(repo.sa.select(repo.QuarantineItem))]
    assert stored == [reason]


def test_a_drop_outside_the_drops_folder_is_named_from_its_folder_on(tmp_path):
    (tmp_path / "project").mkdir()
    project = _project(tmp_path / "project")
    drop = tmp_path / "elsewhere" / "upload"
    drop.mkdir(parents=True)
    res = ingest_drop(project, "north", drop)  # no manifest at all
    assert res.error == "upload/manifest.csv: manifest is missing"


def test_a_drop_folder_with_an_invalid_site_label_is_named_relative_to_the_project(tmp_path):
    project = _project(tmp_path)
    bad = tmp_path / "drops" / "no-where"
    bad.mkdir(parents=True)
    (bad / "manifest.csv").write_text("subject,session_date,task,file\n")
    res = ingest(project)
    (failure,) = res.failures
    assert failure["file"] == "drops/no-where"
    assert failure["reason"].startswith("drop folder drops/no-where: site 'no-where' is not a valid label")
    assert str(tmp_path) not in failure["reason"]
