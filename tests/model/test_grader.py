"""Supervised House-Brackmann grader (palsyflow.models.grader) and its training path."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from palsyflow.config import TrainParams
from palsyflow.models.grader import fit_grader, grader_possible
from palsyflow.models.training import train_models

from palsyflow.measures.registry import REGION_FAMILIES as REGIONS  # noqa: E402 - rest column prefixes


def separable(n_per_class, seed=0, grades=(1, 3, 5)):
    """Features whose mean shifts strongly with the grade (3 well-separated clusters)."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for g in grades:
        centre = np.array([100 - 10 * g, 100 - 8 * g, 100 - 12 * g, 120.0])
        xs.append(rng.normal(centre, [2.0, 2.0, 2.0, 10.0], size=(n_per_class, 4)))
        ys += [g] * n_per_class
    names = ["rest_brow_height_symmetry", "rest_palpebral_fissure_height_symmetry", "rest_commissure_height_symmetry", "speech_f0_median_hz"]
    return pl.DataFrame(np.vstack(xs), schema=names, orient="row"), np.array(ys)


@pytest.mark.parametrize(
    ("y", "ok"),
    [
        ([1, 1, 1, 1], False),  # one class
        ([1, 1, 2], False),  # second class has a single session
        ([1, 1, 2, 2], True),
        ([1, None, 2, 2, None, 1], True),
        ([None, None], False),
        ([], False),
        ([1, 1, 2, 3, 4], False),
        (np.array([1.0, np.nan, 1.0, 2.0, 2.0]), True),
    ],
)
def test_grader_possible(y, ok):
    possible, reason = grader_possible(y)
    assert possible is ok
    assert (reason == "") is ok
    if not ok:
        assert "grade" in reason


def test_grader_possible_accepts_polars_series():
    assert grader_possible(pl.Series([1, 2, None, 1, 2], dtype=pl.Int8))[0] is True


@pytest.mark.parametrize("estimator", ["logistic", "random_forest"])
def test_grader_beats_chance_on_separable_three_class_data(estimator):
    X, y = separable(12)
    res = fit_grader(X, y, TrainParams(grader_estimator=estimator, cv_folds=4, grader_n_estimators=50))
    m = res.metrics
    assert m["chance_balanced_accuracy"] == pytest.approx(1 / 3)
    assert m["cv_balanced_accuracy"] > 0.8
    assert m["cv_macro_f1"] > 0.8
    assert m["cv_grade_mae"] < 0.5
    assert m["class_counts"] == {1: 12, 3: 12, 5: 12}
    assert m["cv_folds"] == 4 and m["n_samples"] == 36
    assert res.classes == [1, 3, 5]
    assert res.feature_names == list(X.columns)
    assert list(res.estimator.named_steps) == ["impute", "scale", "classify"]
    # the refitted estimator predicts the centre of each class correctly
    centres = pl.DataFrame(
        [[100 - 10 * g, 100 - 8 * g, 100 - 12 * g, 120.0] for g in (1, 3, 5)], schema=X.columns, orient="row"
    )
    assert list(res.estimator.predict(centres)) == [1, 3, 5]


def test_shuffled_labels_do_not_beat_chance_by_much():
    X, y = separable(20, seed=3)
    y = np.random.default_rng(4).permutation(y)
    res = fit_grader(X, y, TrainParams(cv_folds=5))
    assert res.metrics["cv_balanced_accuracy"] < 0.6


def test_folds_limited_by_smallest_class_and_rare_or_missing_grades_dropped():
    X, y = separable(10)
    y = y.astype(object)
    y[:7] = 2  # grade 2: 7 sessions, grade 1 left with 3
    y[10] = None
    y[11] = 6  # a grade with a single session is dropped
    res = fit_grader(X, y, TrainParams(cv_folds=5))
    assert res.metrics["class_counts"] == {1: 3, 2: 7, 3: 8, 5: 10}
    assert res.metrics["cv_folds"] == 3
    assert res.metrics["n_dropped"] == 2
    assert 6 not in res.classes


def test_missing_feature_values_are_imputed():
    X, y = separable(10)
    X = X.with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0).then(None).otherwise(pl.col("rest_palpebral_fissure_height_symmetry")).alias("rest_palpebral_fissure_height_symmetry"),
        pl.lit(None, dtype=pl.Float64).alias("speech_f0_median_hz"),
    )
    res = fit_grader(X, y, TrainParams(cv_folds=3))
    assert res.metrics["cv_balanced_accuracy"] > 0.8


def test_fit_grader_refuses_impossible_labels():
    X, _ = separable(3)
    with pytest.raises(ValueError, match="grade"):
        fit_grader(X, [1] * 9, TrainParams())
    with pytest.raises(ValueError, match="rows"):
        fit_grader(X, [1, 1, 2, 2], TrainParams())


def graded_sessions(grades, seed=0):
    """A session table whose asymmetry grows with the grade; grade 1 = healthy."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, g in enumerate(grades):
        row = {
            "site": "A",
            "subject": f"p{i}",
            "session": "20240301",
            "session_date": dt.date(2024, 3, 1),
            "healthy": g == 1,
            "hb_grade": g,
            "simulated": False,
        }
        for r in REGIONS:
            a = float(np.clip(0.12 * (g - 1) + rng.normal(0, 0.03), 0, 1))
            row[f"{r}_left"], row[f"{r}_right"] = 0.5, 0.5 * (1 - a)
            row[f"{r}_asym"], row[f"{r}_weaker"] = a, "left"
        for s in ("speech_f0_median_hz", "speech_f0_sd_st", "speech_pause_ratio", "speech_articulation_rate_syl_s",
                  "speech_connected_cpps_db", "speech_rate_syl_s"):
            row[s] = None
        rows.append(row)
    return pl.DataFrame(rows, schema_overrides={"hb_grade": pl.Int8, "healthy": pl.Boolean})


def test_training_skips_grader_cleanly_with_one_class():
    res = train_models(graded_sessions([1] * 10), TrainParams())
    assert res.grader is None
    assert "grade" in res.skipped["grader"]
    assert res.normative is not None
    assert not any(k.startswith("grader_") for k in res.metrics)


def test_training_fits_grader_with_enough_grades():
    res = train_models(graded_sessions([1] * 8 + [3] * 8 + [5] * 8), TrainParams(cv_folds=4))
    assert res.grader is not None and "grader" not in res.skipped
    assert res.metrics["grader_cv_balanced_accuracy"] > 0.8
    assert res.metrics["grader_n_grade_3"] == 8
    assert res.grader_features and all(f.endswith("_symmetry") or f == "symmetry_index" for f in res.grader_features)
