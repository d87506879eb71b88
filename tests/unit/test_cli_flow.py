"""The CLI and the Prefect deployment: wiring, without running the pipeline."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from palsyflow.cli import app

runner = CliRunner()


def test_help_lists_every_verb():
    out = runner.invoke(app, ["--help"]).output
    for verb in ("demo", "ingest", "run", "serve", "status", "landmarks"):
        assert verb in out


def test_status_json_on_an_empty_project(tmp_path):
    (tmp_path / "params.yaml").write_text("paths:\n  data: data\n")
    res = runner.invoke(app, ["status", "--json", "--root", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == {"sites": {}, "runs": [], "failures": []}
    assert (tmp_path / "data" / "store" / "palsyflow.db").exists()


def test_ingest_reports_a_bad_drop_without_crashing(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "manifest.csv").write_text("subject,session_date,task,file\nP1,2026-01-01,rest,missing.mp4\n")
    (tmp_path / "params.yaml").write_text("paths:\n  data: data\n")
    res = runner.invoke(app, ["ingest", "north", str(drop), "--root", str(tmp_path)])
    assert res.exit_code == 1, res.output  # nothing of the drop could be ingested
    assert "palsyflow: error: nothing of the drop was ingested" in res.output
    assert "Traceback" not in res.output
    status = json.loads(runner.invoke(app, ["status", "--json", "--root", str(tmp_path)]).output)
    assert status["sites"]["north"]["quarantined"] == 1
    from palsyflow.project import Project
    from palsyflow.pseudonym import keyed_name

    shown = json.dumps(status["failures"])
    assert keyed_name(Project.load(tmp_path).secret, "missing.mp4") in shown and "missing.mp4" not in shown


def test_nightly_deployment_is_scheduled_nightly(tmp_path):
    pytest.importorskip("prefect")
    from flows.deploy import DEFAULT_CRON, deployment

    dep = deployment(str(tmp_path))
    assert dep.name == "nightly-cohort"
    crons = [getattr(s.schedule, "cron", None) for s in dep.schedules]
    assert crons == [DEFAULT_CRON]
    assert dep.parameters == {"root": str(tmp_path), "site": None}


def test_landmarks_command_on_a_real_clip(tmp_path, shared_data, face_model):
    import polars as pl

    (tmp_path / "params.yaml").write_text(f"paths:\n  face_model: {face_model}\n")
    out = tmp_path / "lm.parquet"
    clip = shared_data / "talking-faces" / "grid" / "bbaf2n.mpg"
    res = runner.invoke(app, ["landmarks", str(clip), "--out", str(out), "--tta", "2", "--root", str(tmp_path)])
    assert res.exit_code == 0, res.output
    points = pl.read_parquet(out)
    assert {"frame", "point", "x", "y", "z", "spread", "face_found"} <= set(points.columns)
    assert points["frame"].n_unique() == 75 and points["point"].n_unique() == 478
    found = points.filter(pl.col("face_found"))
    assert found.height >= 0.95 * points.height
    assert found["x"].is_between(0, 360).all() and found["y"].is_between(0, 288).all()
    assert found["spread"].drop_nans().len() > 0  # TTA key frames carry a spread
    assert (tmp_path / "lm_quality.parquet").exists()


@pytest.mark.parametrize("backend,scheme", [("mediapipe", "ibug68"), ("dlib", "ibug68")])
def test_landmarks_command_ibug68_on_a_sideways_phone_photo(tmp_path, shared_data, face_model, backend, scheme):
    import polars as pl
    from PIL import Image, ImageOps

    photos = sorted((shared_data / "healthy-tasks" / "app_uploads").glob("*/at-rest-1*"))
    assert photos, "expected a phone photo"
    (tmp_path / "params.yaml").write_text(f"paths:\n  face_model: {face_model}\n")
    out = tmp_path / "lm.parquet"
    args = ["landmarks", str(photos[0]), "--out", str(out), "--tta", "1", "--backend", backend, "--scheme", scheme]
    res = runner.invoke(app, [*args, "--root", str(tmp_path)])
    assert res.exit_code == 0, res.output
    pts = pl.read_parquet(out).sort("point")
    assert pts["frame"].unique().to_list() == [0] and pts.height == 68 and pts["face_found"].all()
    width, height = ImageOps.exif_transpose(Image.open(photos[0])).size
    assert pts["x"].is_between(0, width).all() and pts["y"].is_between(0, height).all()
    # upright: iBUG eyes (36-47) above the mouth (48-67); patient's right eye (36) on the image left
    eyes_y = pts.filter(pl.col("point").is_between(36, 47))["y"].mean()
    mouth_y = pts.filter(pl.col("point") >= 48)["y"].mean()
    assert eyes_y < mouth_y
    assert pts["x"][36] < pts["x"][45]


def test_landmarks_command_rejects_dlib_with_the_mediapipe_scheme(tmp_path, shared_data):
    clip = shared_data / "talking-faces" / "grid" / "bbaf2n.mpg"
    res = runner.invoke(app, ["landmarks", str(clip), "--out", str(tmp_path / "x.parquet"), "--backend", "dlib", "--scheme", "mediapipe478"])
    assert res.exit_code != 0
    assert "ibug68" in res.output


def test_phantom_command_weakens_the_named_side(tmp_path, shared_data, face_model):
    from palsyflow.features.session import measure_session

    src = shared_data / "healthy-tasks" / "mpeschel_session_A_original_assets"
    rest, smile = src / "face-mp-at-rest.jpg", src / "face-mp-big-smile-teeth-closed.jpg"
    (tmp_path / "params.yaml").write_text(f"paths:\n  face_model: {face_model}\n")
    out = tmp_path / "smile-weak-left.png"
    args = ["phantom", str(smile), "--rest", str(rest), "--out", str(out), "--side", "left", "--weakness", "0.8"]
    res = runner.invoke(app, [*args, "--root", str(tmp_path)])
    assert res.exit_code == 0, res.output
    from palsyflow.phantom import sidecar_path

    meta = json.loads(sidecar_path(out).read_text())
    assert meta["simulated"] is True and meta["side"] == "left" and meta["fraction"] == 0.8
    m = measure_session({"rest": rest, "smile": out}, model_path=face_model)["tasks"]["smile"]
    assert m["activated"] and m["weaker_side"] == "left"
    assert m["left"] < m["right"]
