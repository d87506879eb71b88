"""Normative model (palsyflow.models.normative) and training (palsyflow.models.training)."""

from __future__ import annotations

import datetime as dt
import json

import joblib
import numpy as np
from scipy.stats import norm
import polars as pl
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from palsyflow.config import TrainParams
from palsyflow.models.normative import NormativeModel
from palsyflow.models.training import load_normative, save_models, train_models
from palsyflow.scoring.scores import session_measures

MU = np.array([95.0, 120.0, 0.6])
SIGMA = np.array([2.0, 15.0, 0.05])
NAMES = ["rest_commissure_height_symmetry", "speech_f0_median_hz", "speech_pause_ratio"]


def healthy_sample(n, seed):
    rng = np.random.default_rng(seed)
    return pl.DataFrame(rng.normal(MU, SIGMA, size=(n, 3)), schema=NAMES, orient="row")


def test_healthy_z_scores_are_standard_normal():
    model = NormativeModel(min_samples=10).fit(healthy_sample(3000, 0))
    # the median's standard error is 1.2533 sigma / sqrt(n); allow 4 of them
    assert np.all(np.abs(model.location_ - MU) < 4 * 1.2533 * SIGMA / np.sqrt(3000))
    np.testing.assert_allclose(model.scale_, SIGMA, rtol=0.08)
    z = model.transform(healthy_sample(3000, 1))  # independent healthy sample
    assert z.shape == (3000, 3)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=0.1)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=0.08)
    # about 95 % of healthy z within +-1.96
    inside = np.mean(np.abs(z) < 1.96, axis=0)
    np.testing.assert_allclose(inside, 0.95, atol=0.02)


def test_percentile_small_sample_tails_are_wider_and_converge_to_normal():
    model = NormativeModel(min_samples=3).fit(np.array([[1.0], [2.0], [3.0], [4.0], [5.0]]))
    # median 3, MAD 1 -> scale 1.4826
    assert model.location_[0] == pytest.approx(3.0)
    assert model.scale_[0] == pytest.approx(1.4826)
    p = model.percentile(np.array([[3.0], [3.0 + 1.4826], [3.0 - 1.96 * 1.4826], [-100.0]]))[:, 0]
    assert p[0] == pytest.approx(50.0)
    # with 5 reference values a point 1.96 scales below the centre is not at the 2.5th percentile
    assert 2.5 < p[2] < 15.0
    assert 50.0 < p[1] < 84.134
    assert 0.0 <= p[3] < 0.1
    xs = np.linspace(-5, 10, 50).reshape(-1, 1)
    assert np.all(np.diff(model.percentile(xs)[:, 0]) > 0)
    # a large reference sample gives the normal percentile
    rng = np.random.default_rng(0)
    big = NormativeModel(min_samples=3).fit(rng.normal(0.0, 1.0, size=(20000, 1)))
    z = (1.0 - big.location_[0]) / big.scale_[0]
    assert big.percentile(np.array([[1.0]]))[0, 0] == pytest.approx(100 * norm.cdf(z), abs=0.1)


def test_percentile_is_calibrated_for_a_new_healthy_case_from_a_small_sample():
    """Crawford & Howell: a new case from the same population falls below the 5th percentile ~5% of the time."""
    rng = np.random.default_rng(42)
    below = []
    for _ in range(2000):
        sample = rng.normal(size=(12, 1))
        model = NormativeModel(min_samples=3).fit(sample)
        below.append(model.percentile(rng.normal(size=(1, 1)))[0, 0] < 5.0)
    # Robust (median/MAD) estimates are noisier than mean/SD, so the rate sits above 5 %
    # (~7.9 % here); the plain normal CDF of z gives ~9.3 % on the same draws.
    assert 0.05 < np.mean(below) < 0.087


def test_nan_tolerant_per_column_and_missing_values_give_nan():
    df = healthy_sample(200, 2).with_columns(
        pl.when(pl.int_range(pl.len()) % 2 == 0).then(None).otherwise(pl.col("speech_f0_median_hz")).alias(
            "speech_f0_median_hz"
        )
    )
    model = NormativeModel(min_samples=10).fit(df)
    assert model.n_samples_ == 200
    assert list(model.n_valid_) == [200, 100, 200]
    assert np.all(np.isfinite(model.location_))
    z = model.transform(df)
    assert np.isnan(z[0, 1]) and np.isfinite(z[1, 1]) and np.isfinite(z[0, 0])
    # a column with fewer than min_samples values: NaN centre, NaN z, no exception
    sparse = df.with_columns(pl.lit(None, dtype=pl.Float64).alias("speech_pause_ratio"))
    m2 = NormativeModel(min_samples=10).fit(sparse)
    assert np.isnan(m2.location_[2]) and np.all(np.isnan(m2.transform(sparse)[:, 2]))


def test_too_few_rows_raise_clear_error():
    with pytest.raises(ValueError, match="min_samples=5"):
        NormativeModel(min_samples=5).fit(healthy_sample(4, 3))
    with pytest.raises(ValueError, match="method"):
        NormativeModel(method="bogus").fit(healthy_sample(20, 3))


def test_scale_floor_for_constant_measure():
    x = np.column_stack([np.full(20, 100.0), np.arange(20.0)])
    model = NormativeModel(min_samples=5, min_scale=0.5).fit(x)
    assert model.scale_[0] == pytest.approx(0.5)
    assert model.transform(np.array([[99.0, 10.0]]))[0, 0] == pytest.approx(-2.0)


def test_inputs_polars_pandas_numpy_agree_and_columns_match_by_name():
    df = healthy_sample(100, 4)
    m_pl = NormativeModel(min_samples=5).fit(df)
    m_np = NormativeModel(min_samples=5).fit(df.to_numpy())
    np.testing.assert_allclose(m_pl.location_, m_np.location_)
    assert list(m_pl.feature_names_in_) == NAMES
    assert list(m_np.feature_names_in_) == ["x0", "x1", "x2"]
    shuffled = df.select(list(reversed(NAMES))).with_columns(pl.lit(1.0).alias("extra"))
    np.testing.assert_allclose(m_pl.transform(shuffled), m_pl.transform(df))
    pd = pytest.importorskip("pandas")
    np.testing.assert_allclose(m_pl.transform(pd.DataFrame(df.to_dict(as_series=False))), m_pl.transform(df))
    with pytest.raises(ValueError, match="lacks"):
        m_pl.transform(df.drop("rest_commissure_height_symmetry"))
    with pytest.raises(ValueError):
        m_np.transform(df.to_numpy()[:, :2])


def test_not_fitted_raises():
    with pytest.raises(NotFittedError):
        NormativeModel().transform(np.zeros((1, 2)))


def test_sklearn_clone_and_params_round_trip():
    model = NormativeModel(method="mcd", min_samples=12, min_scale=0.1, random_state=3)
    params = model.get_params()
    assert params == {"method": "mcd", "min_samples": 12, "min_scale": 0.1, "random_state": 3}
    twin = clone(model)
    assert twin is not model and twin.get_params() == params
    assert NormativeModel().set_params(**params).get_params() == params
    fitted = NormativeModel(min_samples=5).fit(healthy_sample(50, 5))
    assert not hasattr(clone(fitted), "location_")


def test_mcd_is_robust_to_outliers_and_gives_mahalanobis():
    rng = np.random.default_rng(6)
    good = rng.normal(MU, SIGMA, size=(270, 3))
    bad = rng.normal(MU + 12 * SIGMA, SIGMA, size=(30, 3))  # 10 % gross outliers
    x = pl.DataFrame(np.vstack([good, bad]), schema=NAMES, orient="row")
    model = NormativeModel(method="mcd", min_samples=10, random_state=0).fit(x)
    assert model.covariance_.shape == (3, 3)
    assert np.all(np.abs(model.location_ - MU) < 0.5 * SIGMA)
    assert np.all(np.abs(x.to_numpy().mean(axis=0) - MU) > 0.9 * SIGMA)  # the mean is not robust
    d = model.mahalanobis(x)
    assert d.shape == (300,)
    assert np.median(d[270:]) > 5 * np.median(d[:270])
    # chi-square(3) median is 2.366 -> median distance ~ 1.54 for the clean part
    assert np.median(d[:270]) == pytest.approx(np.sqrt(2.366), rel=0.25)
    with pytest.raises(ValueError, match="mcd"):
        NormativeModel(min_samples=5).fit(x).mahalanobis(x)
    with pytest.raises(ValueError, match="complete rows"):
        NormativeModel(method="mcd", min_samples=2).fit(x.head(3))


# ---------------------------------------------------------------- training


def session_table(n_healthy, n_patient=0, seed=0, speech=True):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_healthy + n_patient):
        healthy = i < n_healthy
        row = {
            "site": "A",
            "subject": f"p{i}",
            "session": "20240110",
            "session_date": dt.date(2024, 1, 10),
            "healthy": healthy,
            "hb_grade": None,
            "simulated": False,
        }
        for r in ("rest_brow_height", "rest_palpebral_fissure_height", "rest_nasolabial_height", "rest_commissure_height"):
            a = abs(rng.normal(0.0, 0.04)) if healthy else 0.5
            row[f"{r}_left"], row[f"{r}_right"] = 0.4, 0.4 * (1 - a)
            row[f"{r}_asym"], row[f"{r}_weaker"] = a, "right"
        row["speech_clarity"] = float(rng.normal(90, 5)) if speech else None
        for s in ("speech_f0_sd_st", "speech_pause_ratio", "speech_articulation_rate_syl_s", "speech_connected_cpps_db",
                  "speech_rate_syl_s"):
            row[s] = None
        rows.append(row)
    return pl.DataFrame(rows, schema_overrides={"hb_grade": pl.Int8, "healthy": pl.Boolean})


def test_train_fits_on_healthy_only_and_records_metrics():
    t = session_table(30, 10)
    res = train_models(t, TrainParams(min_healthy_sessions=5))
    assert res.normative is not None
    assert res.metrics["normative_n_healthy"] == 30
    assert "rest_commissure_height_symmetry" in res.normative_features and "speech_clarity" in res.normative_features
    assert "speech_rate_syl_s" not in res.normative_features and "normative.speech_rate_syl_s" in res.skipped
    # patients (symmetry 50) must not pull the healthy centre down
    assert res.metrics["normative_location.rest_commissure_height_symmetry"] > 94.0
    assert res.grader is None and "grader" in res.skipped  # no grades at all
    assert res.params["normative_method"] == "robust"


def test_simulated_healthy_rows_are_excluded_by_default():
    t = session_table(8, 0).with_columns(pl.int_range(pl.len()).lt(4).alias("simulated"))
    assert train_models(t, TrainParams(min_healthy_sessions=5)).normative is None
    res = train_models(t, TrainParams(min_healthy_sessions=5, normative_include_simulated=True))
    assert res.normative is not None and res.metrics["normative_n_healthy"] == 8


def test_too_few_healthy_sessions_skip_without_crashing(tmp_path):
    res = train_models(session_table(3, 5), TrainParams(min_healthy_sessions=5))
    assert res.normative is None
    assert "3 healthy sessions" in res.skipped["normative"]
    paths = save_models(res, tmp_path)
    assert load_normative(paths["normative"]) is None
    assert load_normative(tmp_path / "absent.json") is None
    empty = train_models(session_table(0, 0).clear(), TrainParams())
    assert empty.normative is None and empty.grader is None


def test_mcd_training_excludes_the_index():
    res = train_models(session_table(40, 0, speech=False), TrainParams(normative_method="mcd"))
    assert res.normative is not None and res.normative.method == "mcd"
    assert "symmetry_index" not in res.normative_features


def test_save_and_load_round_trip(tmp_path):
    t = session_table(20, 5)
    res = train_models(t, TrainParams())
    paths = save_models(res, tmp_path / "models")
    assert set(paths) == {"normative", "metrics"}
    loaded = load_normative(paths["normative"])
    m = session_measures(t).select(res.normative_features)
    np.testing.assert_array_equal(loaded.transform(m), res.normative.transform(m))
    summary = json.loads(paths["metrics"].read_text())
    assert summary["normative_features"] == res.normative_features
    assert summary["metrics"]["normative_n_healthy"] == 20
    assert json.loads(paths["normative"].read_text())["format"] == "palsyflow.normative/1"  # JSON, no pickle
    assert 0.0 <= res.metrics["normative_loso_coverage"] <= 1.0 and "normative_loso_ks_ci_high" in res.metrics
    (tmp_path / "bad.json").write_text('["not", "a model"]')
    with pytest.raises(ValueError, match="not a normative model"):
        load_normative(tmp_path / "bad.json")
    joblib.dump({"not": "a model"}, tmp_path / "old.joblib")  # an old pickle is refused, never unpickled
    with pytest.raises(ValueError, match="not JSON"):
        load_normative(tmp_path / "old.joblib")
