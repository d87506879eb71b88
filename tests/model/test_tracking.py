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


def _log(result, params, uri, tmp_path, tags=None, name="run", experiment=None):
    from palsyflow.models.training import save_models
    from palsyflow.tracking import log_training

    models = tmp_path / "models"
    save_models(result, models)
    return log_training(result, params, uri, tmp_path / "artifacts", models, {"train.seed": params.seed, "landmarks.tta_copies": 6},
                        tags or {"dvc.train.data/models": "b" * 32 + ".dir"}, name, experiment=experiment)


def test_log_register_and_load_back_in_a_fresh_python(tmp_path, monkeypatch):
    """The normative model loads by alias in a new interpreter, with no pickle allowed, and predicts documented columns."""
    from mlflow import MlflowClient

    from palsyflow.models.normative_pyfunc import output_columns

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", raising=False)
    env_before = os.environ.get("MLFLOW_TRACKING_URI")
    params = TrainParams(cv_folds=3, experiment="palsyflow-test")
    table = sessions()
    result = train_models(table, params)
    assert result.normative is not None and result.grader is not None
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = _log(result, params, uri, tmp_path, name="first")
    assert out["normative_version"] == "1" and out["grader_version"] == "1"
    assert os.environ.get("MLFLOW_TRACKING_URI") == env_before  # global state restored

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.get_run(out["run_id"])
    assert run.info.run_name == "first"
    assert run.data.params["landmarks.tta_copies"] == "6"  # upstream stages' params, not only train's
    assert run.data.metrics["normative_loso_coverage"] == result.metrics["normative_loso_coverage"]
    v1 = client.get_model_version(params.registered_model, "1")
    assert v1.tags["dvc.train.data/models"] == "b" * 32 + ".dir"
    assert sorted(v1.aliases) == ["candidate", "production"]  # the first version serves
    assert "healthy sessions" in v1.description
    # nothing pickled: the model folder holds the code file and the JSON, no .pkl
    model_dir = next(p for p in (tmp_path / "artifacts").rglob("MLmodel") if "normative" in p.read_text()).parent
    assert not list(model_dir.rglob("*.pkl")), list(model_dir.rglob("*"))

    measures = session_measures(table)
    x = measures.select(result.normative_features).to_pandas()
    x.to_parquet(tmp_path / "x.parquet")
    code = (
        "import sys, mlflow, pandas as pd\n"
        f"mlflow.set_tracking_uri({uri!r})\n"
        f"m = mlflow.pyfunc.load_model('models:/{params.registered_model}@production')\n"
        f"pd.DataFrame(m.predict(pd.read_parquet({str(tmp_path / 'x.parquet')!r}))).to_parquet({str(tmp_path / 'y.parquet')!r})\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}  # a fresh Python: no URI or pickle setting leaks in
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import pandas as pd

    y = pd.read_parquet(tmp_path / "y.parquet")
    assert list(y.columns) == output_columns(result.normative)
    m0 = result.normative_features[0]
    np.testing.assert_allclose(y[f"{m0}_z"].to_numpy(), result.normative.transform(x)[:, 0], equal_nan=True)
    np.testing.assert_allclose(y[f"{m0}_percentile"].to_numpy(), result.normative.percentile(x)[:, 0], equal_nan=True)

    # a second production-line run is a candidate; production stays until promoted
    again = _log(result, params, uri, tmp_path, name="second")
    assert again["normative_version"] == "2"
    assert str(client.get_model_version_by_alias(params.registered_model, "production").version) == "1"
    assert str(client.get_model_version_by_alias(params.registered_model, "candidate").version) == "2"
    # an experiment's version gets the experiment tag and no alias at all
    exp = _log(result, params, uri, tmp_path, name="exp", experiment="sappy-bulb")
    v3 = client.get_model_version(params.registered_model, exp["normative_version"])
    assert v3.aliases == [] and v3.tags["palsyflow.experiment"] == "sappy-bulb"
    assert str(client.get_model_version_by_alias(params.registered_model, "candidate").version) == "2"

    from palsyflow.tracking import list_versions, promote

    assert promote(params.registered_model, 2, uri) == "1"
    assert str(client.get_model_version_by_alias(params.registered_model, "production").version) == "2"
    listed = {v["version"]: v for v in list_versions(params.registered_model, uri)}
    assert listed["2"]["aliases"] == ["production"] and listed["3"]["experiment"] == "sappy-bulb"


def test_a_training_logged_before_its_registration_is_found_again_not_registered_twice(tmp_path, monkeypatch):
    """A register stage killed after logging finds its run on the rerun (same versions)."""
    from mlflow import MlflowClient

    from palsyflow.tracking import FINGERPRINT_TAG, find_training

    monkeypatch.chdir(tmp_path)
    params = TrainParams(cv_folds=3, experiment="palsyflow-test")
    result = train_models(sessions(), params)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert find_training(params, uri, "fp1") is None  # no experiment yet
    first = _log(result, params, uri, tmp_path, tags={FINGERPRINT_TAG: "fp1"})
    assert find_training(params, uri, "fp1") == first
    assert find_training(params, uri, "fp-other") is None
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.get_experiment_by_name(params.experiment)
    client.create_run(exp.experiment_id, tags={FINGERPRINT_TAG: "fp2"})  # killed while logging: stays RUNNING
    assert find_training(params, uri, "fp2") is None
