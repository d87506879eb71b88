"""The faces corpus kinds through ingest and the landmarks stage: measured or refused with the rule."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.corpus.base import Sources
from tests.corpus.kinds_faces import KINDS


@pytest.fixture(scope="module")
def staged(tmp_path_factory, shared_data, face_model):
    from palsyflow import stages
    from palsyflow.project import Project
    from palsyflow.stages.ingest import export_registry, ingest_drop, read_registry
    from palsyflow.stages.landmarks import landmark_files

    root = tmp_path_factory.mktemp("faces-corpus")
    drop = root / "drops" / "clinic"
    drop.mkdir(parents=True)
    src = Sources.from_shared(shared_data)
    rows = {kind.name: kind.build(drop, src) for kind in KINDS}
    cols = ["subject", "session_date", "task", "file", "healthy"]
    lines = [",".join(cols)] + [",".join(r[c] for c in cols) for rs in rows.values() for r in rs]
    (drop / "manifest.csv").write_text("\n".join(lines) + "\n")
    params = {"paths": {"drops": "drops", "data": "data", "face_model": str(face_model)}, "executor": {"kind": "serial"}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    project = Project.load(root)
    assert ingest_drop(project, "clinic", drop).failed == 0
    export_registry(project)
    result = stages.landmarks(project)
    found = {}  # subject -> share of frames with a face
    for rec in read_registry(project).iter_rows(named=True):
        stamp = landmark_files(project, rec).stamp
        if stamp.is_file():
            found[rec["subject"]] = json.loads(stamp.read_text())["face_found_fraction"]
    return rows, result, stages.status(project), found


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_faces_kind_is_measured_or_refused_with_its_rule(kind, staged):
    rows, result, status, found = staged
    subjects = {r["subject"] for r in rows[kind.name]}
    failed = [f for f in result.failures if any(f"sub-{s}_" in f["file"] for s in subjects)]
    if kind.expect == "measured":
        assert failed == []
        assert all(found.get(s) == 1.0 for s in subjects)
    else:
        assert len(failed) == len(rows[kind.name])
        for f in failed:
            assert kind.rule in f["reason"].lower()
        listed = [f for f in status["failures"] if any(f"sub-{s}_" in f["file"] for s in subjects)]
        assert len(listed) == len(failed)
        assert all(kind.rule in f["reason"].lower() and f["file"] in f["reason"] for f in listed)
