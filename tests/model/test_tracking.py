"""MLflow edge (palsyflow.tracking): log, register, load back. Kept small: mlflow is slow."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import numpy as np
import polars as pl

from palsyflow.config import TrainParams
from palsyflow.models.training import train_models
from palsyflow.scoring.scores import session_measures
from palsyflow.tracking import dvc_lock_tags

DVC_LOCK = """\
schema: '2.0'
stages:
  features@siteA:
    cmd: python -m pipelines.features siteA
    deps:
    - path: data/landmarks/siteA
      hash: md5
      md5: 0123456789abcdef0123456789abcdef.dir
    outs:
    - path: data/features/siteA.parquet
      hash: md5
      md5: fedcba9876543210fedcba9876543210
  train:
    cmd: python -m pipelines.train
    deps:
    - path: data/features
      md5: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.dir
    params:
      params.yaml:
        train.seed: 7
    outs:
    - path: models/normative.joblib
      md5: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
"""


def test_import_has_no_mlflow_side_effect():
    code = (
        "import sys, palsyflow.tracking, palsyflow.models.training, palsyflow.scoring.scores;"
        "assert 'mlflow' not in sys.modules, 'mlflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dvc_lock_tags(tmp_path):
    lock = tmp_path / "dvc.lock"
    lock.write_text(DVC_LOCK)
    tags = dvc_lock_tags(lock)
    assert tags["dvc.train.models/normative.joblib"] == "b" * 32
    assert tags["dvc.train.data/features"] == "a" * 32 + ".dir"
    assert tags["dvc.features_siteA.data/features/siteA.parquet"] == "fedcba9876543210fedcba9876543210"
    assert len(tags) == 4
    assert dvc_lock_tags(tmp_path / "absent.lock") == {} and dvc_lock_tags(None) == {}


def sessions(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i, g in enumerate([1] * 10 + [3] * 5 + [5] * 5):
        row = {
            "site": "A",
            "subject": f"p{i}",
            "session": "20240301",
            "session_date": dt.date(2024, 3, 1),
            "healthy": g == 1,
            "hb_grade": g,
            "simulated": False,
        }
        for r in ("rest_brow_height", "rest_palpebral_fissure_height", "rest_nasolabial_height", "rest_commissure_height"):
            a = float(np.clip(0.1 * (g - 1) + abs(rng.normal(0, 0.03)), 0, 1))
            row[f"{r}_left"], row[f"{r}_right"], row[f"{r}_asym"], row[f"{r}_weaker"] = 0.5, 0.5 * (1 - a), a, "left"
        row["speech_f0_median_hz"] = float(rng.normal(120, 10))
        for s in ("speech_f0_sd_st", "speech_pause_ratio", "speech_articulation_rate_syl_s", "speech_connected_cpps_db",
                  "speech_rate_syl_s"):
            row[s] = None
        rows.append(row)
    return pl.DataFrame(rows, schema_overrides={"hb_grade": pl.Int8, "healthy": pl.Boolean})


def test_log_register_and_load_back(tmp_path, monkeypatch):
    import mlflow.sklearn
    from mlflow import MlflowClient

    from palsyflow.tracking import load_registered, log_training

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    env_before = os.environ.get("MLFLOW_TRACKING_URI")
    params = TrainParams(cv_folds=3, experiment="palsyflow-test")
    table = sessions()
    result = train_models(table, params)
    assert result.normative is not None and result.grader is not None
    (tmp_path / "dvc.lock").write_text(DVC_LOCK)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert uri.startswith("sqlite:////")
    artifacts = tmp_path / "artifacts"

    out = log_training(result, params, uri, artifacts, tmp_path / "dvc.lock", "abc123")
    assert out["normative_version"] == "1" and out["grader_version"] == "1"
    assert os.environ.get("MLFLOW_TRACKING_URI") == env_before  # global state restored

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.get_run(out["run_id"])
    assert run.data.tags["code_version"] == "abc123"
    assert run.data.tags["dvc.train.models/normative.joblib"] == "b" * 32
    assert run.data.params["normative_features"] == ",".join(result.normative_features)
    assert run.data.metrics["normative_location.rest_commissure_height_symmetry"] == result.metrics["normative_location.rest_commissure_height_symmetry"]
    assert client.get_experiment(run.info.experiment_id).artifact_location == artifacts.resolve().as_uri()
    assert any(artifacts.rglob("*")), "artifacts written under the given folder"

    measures = session_measures(table)
    loaded = load_registered(params.registered_model, 1, uri)
    grader = load_registered(params.registered_grader, "1", uri)
    mlflow.set_tracking_uri(uri)  # the plain MLflow call works as well
    try:
        plain = mlflow.sklearn.load_model(f"models:/{params.registered_model}/1")
    finally:
        mlflow.set_tracking_uri(None)
    x = measures.select(result.normative_features)
    np.testing.assert_allclose(loaded.transform(x), result.normative.transform(x))
    np.testing.assert_allclose(plain.transform(x), result.normative.transform(x))
    g = measures.select(result.grader.feature_names)
    np.testing.assert_array_equal(grader.predict(g), result.grader.estimator.predict(g))

    # a second run reuses the experiment and adds version 2
    again = log_training(result, params, uri, artifacts, None, "def456")
    assert again["normative_version"] == "2"
    assert client.get_run(again["run_id"]).info.experiment_id == run.info.experiment_id


def test_a_training_logged_before_its_stamp_is_found_again_not_registered_twice(tmp_path, monkeypatch):
    """A train stage killed after registering its models finds them on the rerun (same versions)."""
    from mlflow import MlflowClient

    from palsyflow.tracking import FINGERPRINT_TAG, find_training, log_training

    monkeypatch.chdir(tmp_path)
    params = TrainParams(cv_folds=3, experiment="palsyflow-test")
    result = train_models(sessions(), params)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert find_training(params, uri, "fp1") is None  # no experiment yet
    first = log_training(result, params, uri, tmp_path / "artifacts", None, "abc123", fingerprint="fp1")
    assert find_training(params, uri, "fp1") == first
    assert find_training(params, uri, "fp-other") is None
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.get_experiment_by_name(params.experiment)
    client.create_run(exp.experiment_id, tags={FINGERPRINT_TAG: "fp2"})  # killed while logging: stays RUNNING
    assert find_training(params, uri, "fp2") is None
