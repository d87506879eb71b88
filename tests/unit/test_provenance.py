"""Provenance pieces of the register stage and the normative model's pickle-free form."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from palsyflow.models.normative import NormativeModel, loso_calibration
from palsyflow.models.normative_pyfunc import output_columns, predict_frame
from palsyflow.project import Project
from palsyflow.stages.catalog import Catalog
from palsyflow.stages.register import StaleLock, check_lock, lock_entry, run_name, upstream_params, upstream_stages

ROOT = Path(__file__).resolve().parents[2]


def _fitted(method="robust", seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(40, 3)) * [1.0, 2.0, 0.5] + [0.0, 10.0, -1.0], columns=["a", "b", "c"])
    X.iloc[3, 1] = np.nan
    groups = [f"s{i // 2}" for i in range(40)]  # two sessions per subject
    return NormativeModel(method=method, min_samples=5).fit(X, groups=groups), X, groups


@pytest.mark.parametrize("method", ["robust", "mcd"])
def test_json_round_trip_scores_identically(method):
    model, X, groups = _fitted(method)
    back = NormativeModel.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_allclose(back.transform(X, groups), model.transform(X, groups), equal_nan=True)
    np.testing.assert_allclose(back.percentile(X, groups), model.percentile(X, groups), equal_nan=True)
    if method == "mcd":
        np.testing.assert_allclose(back.mahalanobis(X.dropna()), model.mahalanobis(X.dropna()))


def test_from_dict_refuses_other_data():
    with pytest.raises(ValueError, match="not a normative model"):
        NormativeModel.from_dict({"format": "something/else"})


def test_pyfunc_columns_and_leave_one_subject_out():
    model, X, groups = _fitted()
    frame = X.assign(subject=groups)
    out = predict_frame(model, frame)
    assert list(out.columns) == output_columns(model) == ["a_z", "b_z", "c_z", "a_percentile", "b_percentile",
                                                          "c_percentile", "reference_n"]
    np.testing.assert_allclose(out[["a_z", "b_z", "c_z"]].to_numpy(), model.transform(X, groups), equal_nan=True)
    assert (out["reference_n"] == 38).all()  # each subject's two sessions left out
    assert (predict_frame(model, X)["reference_n"] == 40).all()


def test_loso_calibration_tells_a_calibrated_model_from_a_shrunk_one():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(120, 2)), columns=["a", "b"])
    groups = [f"s{i}" for i in range(120)]
    good = NormativeModel(min_samples=5).fit(X, groups=groups)
    calib = loso_calibration(good, X, groups, n_boot=200)
    assert abs(calib["loso_coverage"] - 0.90) < 0.05 and calib["loso_ks"] < 0.1
    assert calib["loso_coverage_ci_low"] <= calib["loso_coverage"] <= calib["loso_coverage_ci_high"]
    # a model whose spread is a third of the truth puts far fewer healthy values in the 5-95 band
    bad = NormativeModel(min_samples=5).fit(X / 3.0, groups=groups)
    worse = loso_calibration(bad, X, groups, n_boot=50)
    assert worse["loso_coverage"] < 0.6 and worse["loso_ks"] > calib["loso_ks"]


def test_upstream_params_hold_every_stage_before_train():
    project = Project.load(ROOT)
    assert upstream_stages("train", Catalog.of(project)) == ["ingest", "landmarks", "features", "validate", "train"]
    params = upstream_params(project)
    assert params["landmarks.tta_copies"] == project.params.landmarks.tta_copies
    assert params["train.seed"] == project.params.train.seed
    assert "features.speech_min_snr_db.vowel" in params and "paths.drops" in params
    assert not any(k.startswith("report.") for k in params)  # report comes after the model


def test_run_name_says_what_changed():
    assert run_name({"a": 1, "b": 2}, {"a": "1", "b": "3"}, "d" * 32, None) == "b=2 (was 3)"
    assert run_name({"a": 1}, {"a": "1"}, "abcdef0123456789", "tta4") == "exp tta4: same parameters, data abcdef012345"
    assert run_name({"a": 1}, None, "abcdef0123456789", None).startswith("first training")


def _md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()  # noqa: S324


def test_check_lock_refuses_outputs_that_were_not_committed(tmp_path):
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    (models / "normative.json").write_text("null\n")
    table = tmp_path / "data" / "validated" / "sessions.parquet"
    table.parent.mkdir(parents=True)
    table.write_bytes(b"table")
    listing = [{"md5": _md5(b"null\n"), "relpath": "normative.json"}]
    dir_hash = _md5(json.dumps(listing).encode()) + ".dir"
    cache = tmp_path / ".dvc" / "cache" / "files" / "md5" / dir_hash[:2]
    cache.mkdir(parents=True)
    (cache / dir_hash[2:]).write_text(json.dumps(listing))
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  train:\n    deps:\n    - path: data/validated/sessions.parquet\n"
        f"      md5: {_md5(b'table')}\n    outs:\n    - path: data/models\n      md5: {dir_hash}\n"
    )
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    cat = Catalog.of(Project.load(tmp_path))
    entry = lock_entry(cat.dvc_lock)
    assert entry == {"data/validated/sessions.parquet": _md5(b"table"), "data/models": dir_hash}
    check_lock(cat, entry)  # the lock describes the files
    (models / "normative.json").write_text("{}\n")  # trained again, not committed
    with pytest.raises(StaleLock, match="data/models"):
        check_lock(cat, entry)
    (models / "normative.json").write_text("null\n")
    table.write_bytes(b"new table")
    with pytest.raises(StaleLock, match="sessions.parquet"):
        check_lock(cat, entry)
    with pytest.raises(StaleLock, match="no train entry"):
        check_lock(cat, {})
