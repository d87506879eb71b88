"""A photo session (rest + task photos, phone JPEGs stored sideways) through the stages and `measure`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

pytestmark = pytest.mark.slow

TASK_FILES = {  # clinic file names as the volunteer app produced them
    "at-rest": "face-mp-at-rest.jpg",
    "big-smile": "face-mp-big-smile-teeth-closed.jpg",
    "eyebrows-up": "face-mp-eyebrows-up.jpg",
    "eyes-closed-tightly": "face-mp-eyes-closed-tightly.jpg",
}


@pytest.fixture(scope="module")
def photo_project(tmp_path_factory, shared_data, face_model) -> Path:
    src = shared_data / "healthy-tasks" / "mpeschel_session_A_original_assets"
    root = tmp_path_factory.mktemp("photos")
    drop = root / "drops" / "clinic"
    drop.mkdir(parents=True)
    rows = ["subject,session_date,task,file,healthy"]
    for task, name in TASK_FILES.items():
        shutil.copyfile(src / name, drop / name)
        rows.append(f"V1,2026-03-01,{task},{name},yes")
    (drop / "manifest.csv").write_text("\n".join(rows) + "\n")
    params = {
        "paths": {"drops": "drops", "data": "data", "face_model": str(face_model)},
        "executor": {"kind": "serial"},
        "landmarks": {"tta_copies": 4},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def test_photo_tasks_get_task_measures_in_the_feature_table(photo_project):
    from palsyflow import stages
    from palsyflow.project import Project
    from palsyflow.stages.catalog import Catalog

    project = Project.load(photo_project)
    assert stages.ingest(project).processed == 4
    assert stages.landmarks(project).failed == 0
    stages.features(project)
    sessions = pl.read_parquet(Catalog.of(project).path("sessions_table"))
    assert sessions.height == 1
    row = sessions.row(0, named=True)
    # a healthy volunteer's big smile is activated and near-symmetric
    assert row["task_smile_activated"] is True
    assert 0.0 <= row["task_smile_asym"] < 0.35
    assert row["task_brow_raise_activated"] is True
    assert row["eface_dynamic"] is not None and row["eface_dynamic"] > 60


def test_measure_command_writes_the_documented_json(photo_project, tmp_path):
    from palsyflow.cli import app

    drop = photo_project / "drops" / "clinic"
    out = tmp_path / "m.json"
    args = ["measure", "--out", str(out), "--root", str(photo_project)]
    for task, name in TASK_FILES.items():
        args += ["--task", f"{task}={drop / name}"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert set(doc) >= {"static", "tasks", "hb_measure"}
    smile = doc["tasks"]["smile"]
    assert {"activated", "asymmetry_score", "cosine_score", "weaker_side", "left", "right", "unit"} <= set(smile)
    assert smile["weaker_side"] in ("left", "right", None)
    assert "rest" not in doc["tasks"]


@pytest.mark.shared_data
def test_measure_command_writes_the_speech_block(photo_project, tmp_path, shared_data):
    from palsyflow.cli import app

    out = tmp_path / "s.json"
    vowel = shared_data / "speech" / "disvoice_pcgita" / "001_a1_PCGITA.wav"
    sentence = shared_data / "talking-faces" / "grid" / "audio_extracted" / "sbwe5n.wav"
    args = ["measure", "--out", str(out), "--root", str(photo_project),
            "--task", f"vowel={vowel}", "--task", f"sentences={sentence}", "--prompt", "sentences=set blue with e five now"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    sp = json.loads(out.read_text())["speech"]
    assert set(sp) >= {"clarity", "dysarthria_index", "quality", "tasks"}
    assert set(sp["quality"]) == {"status", "reason", "snr_db"}
    assert sp["tasks"]["vowel"]["status"] == "ok" and sp["tasks"]["vowel"]["speech_jitter_local_pct"] > 0
    assert sp["tasks"]["sentences"]["words"] and sp["clarity"] >= 66.0
    assert "clarity" in res.output  # the one-line summary names it
    bad = CliRunner().invoke(app, ["measure", "--out", str(out), "--root", str(photo_project),
                                   "--task", f"vowel={vowel}", "--prompt", "passage=north wind"])
    assert bad.exit_code != 0  # a prompt for a task with no file
