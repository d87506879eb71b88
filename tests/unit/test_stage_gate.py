"""A stage whose inputs and outputs are unchanged as a whole returns without walking its items (issue 13, item 8).

Each test checks that an unchanged second run looks at no item (the per-item work is
replaced by a function that fails the test if called) and that a changed input (a new file
in the drop, a new recording, a changed parameter, a deleted output, a store change) still
makes the stage walk and process exactly what changed. On the code before, every run
walked every item: the unchanged runs below called the per-item work and
:class:`StageResult` had no ``unchanged``.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from palsyflow import stages
from palsyflow.project import Project
# the package re-exports each stage function under its module's name: the modules themselves
features_mod = importlib.import_module("palsyflow.stages.features")
ingest_mod = importlib.import_module("palsyflow.stages.ingest")
landmarks_mod = importlib.import_module("palsyflow.stages.landmarks")
report_mod = importlib.import_module("palsyflow.stages.report")
from palsyflow.stages.catalog import Catalog
from palsyflow.stages.fingerprint import STAGE_STAMP_PREFIX, StageGate, tree_listing
from palsyflow.stages.runs import UNCHANGED_NOTE
from palsyflow.store import repo
from palsyflow.store.db import session_scope
from palsyflow.store.models import Recording, Report

SITE = "north"


def _project(root: Path, extra: str = "") -> Project:
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text("paths:\n  data: data\n  drops: drops\nexecutor:\n  kind: serial\n" + extra)
    return Project.load(root)


def _photo(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(path)


def _drop(root: Path, rows: list[tuple[str, str, str]]) -> Path:
    """A drop of photos: (subject, task, file) rows, each file a distinct random JPEG."""
    drop = root / "drops" / SITE
    drop.mkdir(parents=True, exist_ok=True)
    lines = ["subject,session_date,task,file,healthy"]
    for i, (subject, task, name) in enumerate(rows):
        if not (drop / name).exists():
            _photo(drop / name, seed=hash(name) % 10_000 + i)
        lines.append(f"{subject},2026-01-05,{task},{name},yes")
    (drop / "manifest.csv").write_text("\n".join(lines) + "\n")
    return drop


def _forbid(monkeypatch, module, name: str) -> None:
    def fail(*_a, **_k):
        raise AssertionError(f"{module.__name__}.{name} was called: the unchanged stage walked its items")

    monkeypatch.setattr(module, name, fail)


ROWS = [("P1", "rest", "p1_rest.jpg"), ("P1", "smile", "p1_smile.jpg"), ("P2", "rest", "p2_rest.jpg")]


def test_an_unchanged_drop_is_not_planned_again_and_a_new_file_is_ingested(tmp_path, monkeypatch):
    project = _project(tmp_path)
    _drop(tmp_path, ROWS)
    first = stages.ingest(project, [SITE])
    assert (first.processed, first.failed, first.unchanged) == (3, 0, False), first

    with monkeypatch.context() as m:  # the drop is not planned (probed, hashed) again
        _forbid(m, ingest_mod, "plan_ingest")
        again = stages.ingest(project, [SITE])
    assert (again.processed, again.skipped, again.failed, again.unchanged) == (0, 3, 0, True), again
    assert UNCHANGED_NOTE in again.notes

    _drop(tmp_path, [*ROWS, ("P3", "rest", "p3_rest.jpg")])  # a new file in the drop
    new = stages.ingest(project, [SITE])
    assert (new.processed, new.skipped, new.unchanged) == (1, 3, False), new
    assert stages.read_registry(project).height == 4

    # a changed ingest parameter walks the drop again (nothing new to register)
    changed = _project(tmp_path, "ingest:\n  min_width: 32\n")
    walked = stages.ingest(changed, [SITE])
    assert (walked.processed, walked.skipped, walked.unchanged) == (0, 4, False), walked
    assert stages.ingest(changed, [SITE]).unchanged


def test_a_store_that_lost_a_recording_makes_ingest_walk_and_register_it_again(tmp_path):
    project = _project(tmp_path)
    _drop(tmp_path, ROWS)
    stages.ingest(project, [SITE])
    assert stages.ingest(project, [SITE]).unchanged
    with session_scope(project.engine) as db:  # e.g. a store restored from an older backup
        db.execute(sa.delete(Recording).where(Recording.id == 3))
    res = stages.ingest(project, [SITE])
    assert (res.processed, res.skipped, res.unchanged) == (1, 2, False), res
    assert stages.ingest(project, [SITE]).unchanged


def test_a_rewritten_drop_file_makes_ingest_walk(tmp_path):
    project = _project(tmp_path)
    drop = _drop(tmp_path, ROWS)
    stages.ingest(project, [SITE])
    assert stages.ingest(project, [SITE]).unchanged
    _photo(drop / "p2_rest.jpg", seed=999)  # same name, other content (written in place: same inode)
    res = stages.ingest(project, [SITE])
    assert not res.unchanged and res.failed == 1, res  # walked: the changed file is refused (the raw tree is immutable)
    assert not stages.ingest(project, [SITE]).unchanged  # a walk with a refusal is not recorded: retried every run


def test_a_refused_file_is_retried_every_run(tmp_path):
    project = _project(tmp_path)
    drop = _drop(tmp_path, ROWS)
    (drop / "broken.jpg").write_bytes(b"not a jpeg")
    (drop / "manifest.csv").write_text((drop / "manifest.csv").read_text() + "P4,2026-01-05,rest,broken.jpg,yes\n")
    first = stages.ingest(project, [SITE])
    assert (first.processed, first.failed) == (3, 1), first
    again = stages.ingest(project, [SITE])
    assert (again.skipped, again.failed, again.unchanged) == (3, 1, False), again


def _landmark_project(tmp_path: Path, extra: str = "") -> Project:
    project = _project(tmp_path, extra)
    _drop(tmp_path, ROWS)
    stages.ingest(project, [SITE])
    return project


def _write_stamps(project: Project) -> None:
    fp = landmarks_mod.item_fingerprint(project)
    for rec in stages.read_registry(project).iter_rows(named=True):
        files = landmarks_mod.landmark_files(project, rec)
        files.stamp.parent.mkdir(parents=True, exist_ok=True)
        files.points.write_bytes(b"points")
        files.quality.write_bytes(b"quality")
        if not files.stamp.exists():
            files.stamp.write_text(json.dumps({"sha256": rec["sha256"], "fingerprint": fp}))


def _record_compute(monkeypatch) -> list[list[str]]:
    calls: list[list[str]] = []

    def compute(project, todo, fingerprint, model, result, progress):
        calls.append(sorted(r["key"] for recs in todo.values() for r in recs))
        result.processed += sum(len(recs) for recs in todo.values())
        for recs in todo.values():
            for rec in recs:
                files = landmarks_mod.landmark_files(project, rec)
                files.stamp.parent.mkdir(parents=True, exist_ok=True)
                files.points.write_bytes(b"points")
                files.quality.write_bytes(b"quality")
                files.stamp.write_text(json.dumps({"sha256": rec["sha256"], "fingerprint": fingerprint}))

    monkeypatch.setattr(landmarks_mod, "_compute", compute)
    monkeypatch.setattr(landmarks_mod, "verify_model", lambda path: path)
    return calls


def test_unchanged_landmarks_read_no_stamp_and_a_new_recording_is_the_only_one_computed(tmp_path, monkeypatch):
    project = _landmark_project(tmp_path)
    _write_stamps(project)
    calls = _record_compute(monkeypatch)
    first = stages.landmarks(project)
    assert (first.processed, first.skipped, first.unchanged, calls) == (0, 3, False, []), first

    with monkeypatch.context() as m:  # no per-recording stamp is read
        _forbid(m, landmarks_mod, "read_json")
        again = stages.landmarks(project)
    assert (again.processed, again.skipped, again.unchanged) == (0, 3, True), again

    _drop(tmp_path, [*ROWS, ("P3", "rest", "p3_rest.jpg")])
    stages.ingest(project, [SITE])  # a new recording in the registry
    new = stages.landmarks(project)
    assert (new.processed, new.skipped, new.unchanged) == (1, 3, False), new
    assert calls == [["site-north_sub-P3_ses-20260105_task-rest"]]
    assert stages.landmarks(project).unchanged


def test_a_changed_landmarks_parameter_recomputes_every_recording(tmp_path, monkeypatch):
    project = _landmark_project(tmp_path)
    _write_stamps(project)
    calls = _record_compute(monkeypatch)
    stages.landmarks(project)
    assert stages.landmarks(project).unchanged
    changed = _project(tmp_path, "landmarks:\n  tta_copies: 2\n")
    res = stages.landmarks(changed)
    assert (res.processed, res.unchanged) == (3, False), res
    assert len(calls[-1]) == 3


def test_a_deleted_landmark_stamp_is_recomputed_alone(tmp_path, monkeypatch):
    project = _landmark_project(tmp_path)
    _write_stamps(project)
    calls = _record_compute(monkeypatch)
    stages.landmarks(project)
    rec = stages.read_registry(project).row(0, named=True)
    landmarks_mod.landmark_files(project, rec).stamp.unlink()  # an output removed by hand
    res = stages.landmarks(project)
    assert (res.processed, res.skipped, res.unchanged) == (1, 2, False), res
    assert calls == [[rec["key"]]]


def test_features_are_not_walked_when_registry_and_landmarks_are_unchanged(tmp_path, monkeypatch):
    project = _landmark_project(tmp_path)
    _write_stamps(project)
    gate = features_mod.stage_gate(project)
    assert gate.last_result() is None
    gate.record(processed=3, skipped=0, failed=0)
    assert features_mod.stage_gate(project).last_result() == {"items": 3}
    with monkeypatch.context() as m:
        _forbid(m, features_mod, "read_registry")
        res = stages.features(project)
    assert (res.processed, res.skipped, res.unchanged) == (0, 3, True), res
    # a landmark stamp rewritten (new landmarks of one recording) changes the stage's inputs
    rec = stages.read_registry(project).row(0, named=True)
    landmarks_mod.landmark_files(project, rec).stamp.write_text(json.dumps({"sha256": rec["sha256"], "fingerprint": "f2"}))
    assert features_mod.stage_gate(project).last_result() is None
    assert features_mod.stage_gate(_project(tmp_path, "features:\n  weaker_min_diff_iod: 0.5\n")).last_result() is None


def test_a_stage_gate_records_only_clean_walks_and_forgets_on_open(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    stamp = folder / f"{STAGE_STAMP_PREFIX}x.json"
    gate = StageGate(stamp, "in", lambda: str(tree_listing(folder)))
    assert not gate.record(processed=1, skipped=0, failed=1)  # a failure: not recorded
    assert gate.last_result() is None
    assert gate.record(processed=1, skipped=2, failed=0)
    assert gate.last_result() == {"items": 3}  # its own stamp is not part of the listing
    assert StageGate(stamp, "other", gate.outputs).last_result() is None  # other inputs
    (folder / "a.txt").unlink()
    assert gate.last_result() is None  # an output gone
    gate.open()
    assert not stamp.exists()


def test_the_report_stage_is_not_walked_when_nothing_changed(tmp_path, monkeypatch):
    from tests.unit.test_reports_frames import _session_project

    project, _ = _session_project(tmp_path)
    assert stages.report(project).processed == 1
    with monkeypatch.context() as m:
        _forbid(m, report_mod, "_report")
        res = stages.report(project)
    assert (res.processed, res.skipped, res.unchanged) == (0, 1, True), res
    with session_scope(project.engine) as db:  # the store lost its report rows (a restore from a backup)
        db.execute(sa.delete(Report))
    res = stages.report(project)
    assert (res.processed, res.skipped, res.unchanged) == (0, 1, False), res  # walked, rows written again, no redraw
    with session_scope(project.engine) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Report)) == 2
    assert stages.report(project).unchanged
    with session_scope(project.engine) as db:  # a new quarantine entry of the session: its PDF lists them
        repo.add_quarantine(db, SITE, "site-north_sub-P1_ses-20260105_task-smile", None, "validation: too asymmetric",
                            None, recording_key="site-north_sub-P1_ses-20260105_task-smile")
    res = stages.report(project)
    assert (res.processed, res.unchanged) == (1, False), res


@pytest.mark.parametrize("stage", ["landmarks", "features", "report"])
def test_a_stage_stamp_lives_inside_the_stages_output(tmp_path, stage):
    project = _project(tmp_path)
    gate = {"landmarks": landmarks_mod, "features": features_mod, "report": report_mod}[stage].stage_gate(project)
    spec = stages.STAGE_SPECS[stage]
    cat = Catalog.of(project)
    assert any(gate.stamp.parent == cat.path(o) or cat.path(o) in gate.stamp.parents for o in spec.outputs)
    assert gate.stamp.name.startswith(STAGE_STAMP_PREFIX)
