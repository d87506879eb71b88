"""The palsy detector in the clinician report: a registered production detector's block for a
session's rest video (its rest-window frame, re-framed as in training) and its PDF section with
the SHAP explanation; no section without a registered detector."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.model.test_detector_registry import synthetic_rows
from tests.support.export_cohort import make_project
from tests.unit.test_reports import SUBJECT, _params, make_scores

from palsyflow.config import DetectorParams
from palsyflow.features.detector_data import rest_image
from palsyflow.features.photo import DETECTOR_FEATURES
from palsyflow.models.detector import fit_detector
from palsyflow.models.registry_detector import detector_version, log_detector
from palsyflow.reports.model import build_session_report
from palsyflow.reports.pdf import DETECTOR_TITLE, render_session_report
from palsyflow.stages.models import production_detector

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "data" / "sample" / "north" / "visit1_N01.mpg"


def test_a_rest_video_gives_its_rest_window_frame():
    rgb = rest_image(CLIP, rest_window_s=0.5)
    assert rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.shape[:2] == (288, 360) and rgb.std() > 10


def test_the_production_detector_explains_a_video_session_in_the_clinician_pdf(tmp_path, face_model):
    project = make_project(tmp_path / "p", f"paths:\n  data: data\n  drops: drops\n  models: data/models\n"
                           f"  face_model: {face_model}\n  mlflow_uri: sqlite:///{tmp_path}/mlflow.db\n"
                           f"  mlflow_artifacts: {tmp_path}/artifacts\n")
    assert production_detector(project) is None  # nothing registered: no section
    assert detector_version(project.mlflow_uri, DetectorParams().registered_model) is None
    X, y, g = synthetic_rows()
    params = DetectorParams(n_bootstrap=30, cv_folds=3)
    model = fit_detector(X, y, g, params, DETECTOR_FEATURES)
    log_detector(model, params, project.mlflow_uri, "test-detector", "0.0.0+test", "abc", artifact_location=tmp_path / "artifacts")
    loaded = production_detector(project)
    assert loaded is not None and loaded.version == f"{params.registered_model}/1"
    assert detector_version(project.mlflow_uri, params.registered_model) == loaded.version  # no download
    block = loaded.block(project, {"rest": CLIP, "speech": CLIP}, face_model)
    assert block["reason"] is None and 0.0 <= block["probability"] <= 1.0
    assert len(block["top_features"]) == project.params.detector.top_features
    assert {f["name"] for f in block["top_features"]} <= set(DETECTOR_FEATURES)
    report = build_session_report(make_scores(), "A", SUBJECT, "20240420", _params())
    data = render_session_report(report, tmp_path / "r.pdf", _params(), detector=block).read_bytes()
    assert DETECTOR_TITLE.split(" (")[0].encode() in data
    top = block["top_features"][0]
    assert re.search(rb"\(" + top["name"].encode() + rb"\) Tj", data)
    assert f"{top['shap']:+.2f}".encode() in data
    plain = render_session_report(report, tmp_path / "n.pdf", _params()).read_bytes()
    assert DETECTOR_TITLE.split(" (")[0].encode() not in plain
    missing = {"probability": None, "model_version": "palsyflow-detector/1", "top_features": [], "reason": "no rest recording in the session"}
    assert b"no rest recording in the session" in render_session_report(report, tmp_path / "m.pdf", _params(), detector=missing).read_bytes()
