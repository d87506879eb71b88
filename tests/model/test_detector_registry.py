"""Detector registration in a real MLflow registry (SQLite), the measure block, and the train-grader verb."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from palsyflow.config import DetectorParams
from palsyflow.features.photo import DETECTOR_FEATURES
from palsyflow.models.detector import fit_detector, predict_block

from tests.model.test_grader import graded_sessions

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def synthetic_rows(n=40, seed=0):
    """Detector-shaped rows; the first feature shifts with the class; one group per row pair."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2 == 0
    X = rng.normal(0, 1, (n, len(DETECTOR_FEATURES)))
    X[:, 0] += 3.0 * y
    return X, y, np.arange(n) // 2


def test_log_load_round_trip_skops(tmp_path):
    import mlflow

    from palsyflow.models.registry_detector import load_detector, log_detector

    X, y, g = synthetic_rows()
    params = DetectorParams(n_bootstrap=30, cv_folds=3)
    model = fit_detector(X, y, g, params, DETECTOR_FEATURES)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    info = log_detector(model, params, uri, "test-detector", "0.0.0+test", "abc", artifact_location=tmp_path / "artifacts")
    assert info["version"] == "1"
    loaded, version = load_detector(uri, params.registered_model)
    assert version == f"{params.registered_model}/1"
    np.testing.assert_allclose(loaded.estimator.predict_proba(X[:5]), model.estimator.predict_proba(X[:5]))
    feats = dict(zip(DETECTOR_FEATURES, X[0]))
    a, b = predict_block(loaded, feats, version, 3), predict_block(model, feats, version, 3)
    assert a["probability"] == pytest.approx(b["probability"])
    assert [f["name"] for f in a["top_features"]] == [f["name"] for f in b["top_features"]]
    # the pyfunc predicts both class probabilities and was saved without pickle
    pyf = mlflow.pyfunc.load_model(f"models:/{params.registered_model}/1")
    import pandas as pd

    out = np.asarray(pyf.predict(pd.DataFrame(X[:3], columns=list(DETECTOR_FEATURES))))
    assert out.shape == (3, 2) and np.allclose(out.sum(axis=1), 1.0)
    art = mlflow.artifacts.download_artifacts(f"models:/{params.registered_model}/1", dst_path=str(tmp_path / "dl"))
    names = {p.name for p in __import__("pathlib").Path(art).rglob("*")}
    assert "model.skops" in names and "model.pkl" not in names



def test_detector_versions_follow_the_alias_policy(tmp_path):
    """The detector registers like the other models: first version production, every new
    one candidate, an experiment's none; the measure block reads the production alias."""
    from mlflow import MlflowClient

    from palsyflow.models.registry_detector import load_detector, log_detector
    from palsyflow.tracking import CANDIDATE, EXPERIMENT_TAG, PRODUCTION, promote

    X, y, g = synthetic_rows()
    params = DetectorParams(n_bootstrap=20, cv_folds=3)
    model = fit_detector(X, y, g, params, DETECTOR_FEATURES)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    art = tmp_path / "artifacts"
    name = params.registered_model
    assert log_detector(model, params, uri, "det", "0+t", "a", artifact_location=art)["version"] == "1"
    assert log_detector(model, params, uri, "det", "0+t", "a", artifact_location=art)["version"] == "2"
    v3 = log_detector(model, params, uri, "det", "0+t", "a", artifact_location=art, experiment_name="exp-tta4")["version"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert str(client.get_model_version_by_alias(name, PRODUCTION).version) == "1"
    assert str(client.get_model_version_by_alias(name, CANDIDATE).version) == "2"
    assert client.get_model_version(name, v3).tags[EXPERIMENT_TAG] == "exp-tta4"
    assert load_detector(uri, name)[1] == f"{name}/1"  # production, not the newest
    promote(name, "2", uri)
    assert load_detector(uri, name)[1] == f"{name}/2"
    assert load_detector(uri, name, "latest")[1] == f"{name}/3"
    with pytest.raises(LookupError):
        load_detector(uri, "no-such-detector")

def test_train_grader_verb_refuses_then_evaluates(tmp_path, monkeypatch):
    from palsyflow.cli import app

    runner = CliRunner()
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    few = tmp_path / "few.parquet"
    graded_sessions([1, 1, 3]).with_columns(
        pl.lit("x").alias("subject"), pl.Series("session", ["20240301", "20240401", "20240501"])
    ).write_parquet(few)
    r = runner.invoke(app, ["models", "train-grader", "--sessions", str(few), "--no-register", "--root", str(tmp_path)])
    assert r.exit_code == 1
    assert "grader refused" in r.output and "1 subjects" in r.output
    many = tmp_path / "many.parquet"
    graded_sessions([1] * 6 + [3] * 6 + [5] * 6).write_parquet(many)
    r = runner.invoke(app, ["models", "train-grader", "--sessions", str(many), "--no-register", "--root", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "18 sessions of 18 subjects" in r.output and "quadratic kappa" in r.output
