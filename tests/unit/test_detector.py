"""Palsy detector (palsyflow.models.detector): grouping, metrics, refusal, re-framing, SHAP block."""

from __future__ import annotations

import numpy as np
import pytest

from palsyflow.config import DetectorParams
from palsyflow.features.photo import DETECTOR_FEATURES, dhash, framing_features, reframe
from palsyflow.models.detector import (
    binary_metrics,
    bootstrap_intervals,
    cross_validated_probabilities,
    detector_possible,
    evaluate,
    expected_calibration_error,
    explain,
    fit_detector,
    hash_groups,
    predict_block,
    sensitivity_at_specificity,
)

FAST = DetectorParams(n_bootstrap=50, cv_folds=4)


def synthetic(n_groups=30, per_group=2, shift=1.5, seed=0, k=4):
    """Groups of near-identical rows; the first feature shifts with the class."""
    rng = np.random.default_rng(seed)
    X, y, g = [], [], []
    for i in range(n_groups):
        palsy = i % 2 == 0
        centre = rng.normal(0, 1, k) + (shift if palsy else 0.0) * np.eye(k)[0]
        for _ in range(per_group):
            X.append(centre + rng.normal(0, 0.05, k))
            y.append(palsy)
            g.append(i)
    return np.array(X), np.array(y), np.array(g)


def test_hash_groups_join_close_hashes_transitively_and_known_groups():
    hashes = [0b0000, 0b0001, 0b0011, 0xFFFF_0000, 0xFFFF_FFFF]
    g = hash_groups(hashes, max_distance=1)
    assert g[0] == g[1] == g[2]  # 0-1 and 1-2 differ by one bit: one component
    assert len({g[0], g[3], g[4]}) == 3
    g2 = hash_groups(hashes, max_distance=1, known=[None, None, None, "s1", "s1"])
    assert g2[3] == g2[4] and g2[0] != g2[3]
    assert list(hash_groups([5, 5, 1 << 40], 0)) == [0, 0, 1]
    with pytest.raises(ValueError, match="known"):
        hash_groups([1, 2], 0, known=["a"])


def test_dhash_matches_a_recompressed_copy_and_differs_from_another_image():
    rng = np.random.default_rng(1)
    base = (np.add.outer(np.arange(64), np.arange(80)) * 2 % 256).astype(np.uint8)
    img = np.dstack([base] * 3)
    noisy = np.clip(img.astype(int) + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
    other = rng.integers(0, 256, img.shape, dtype=np.uint8)
    h, hn, ho = dhash(img), dhash(noisy), dhash(other)
    assert (h ^ hn).bit_count() <= 6
    assert (h ^ ho).bit_count() > 15
    assert 0 <= h < 2**64


def test_sensitivity_at_specificity_and_calibration_by_hand():
    y = np.array([0] * 10 + [1] * 10)
    p = np.r_[np.linspace(0, 0.45, 10), np.linspace(0.4, 0.9, 10)]
    # threshold above the 9th healthy score (0.40) keeps 90 % specificity: positives >= 0.45 count
    assert sensitivity_at_specificity(y, p, 0.9) == pytest.approx((p[10:] >= 0.45).mean())
    assert np.isnan(sensitivity_at_specificity(np.zeros(4), np.zeros(4)))
    # perfectly calibrated: half positive in a bin predicted 0.5
    assert expected_calibration_error(np.array([0, 1, 0, 1]), np.full(4, 0.5)) == pytest.approx(0.0)
    assert expected_calibration_error(np.array([0, 0, 0, 0]), np.full(4, 0.9)) == pytest.approx(0.9)
    m = binary_metrics(np.array([0, 1]), np.array([0.2, 0.7]))
    assert m["auc"] == 1.0 and m["brier"] == pytest.approx((0.04 + 0.09) / 2)


def test_bootstrap_interval_contains_the_estimate_and_narrows_with_data():
    X, y, g = synthetic(n_groups=40, shift=1.0)
    p = X[:, 0]
    full = binary_metrics(y, p)["auc"]
    ci = bootstrap_intervals(y, p, g, 200, 0)["auc"]
    assert ci[0] <= full <= ci[1]
    # treating each near-duplicate as independent understates the uncertainty
    ci_rows = bootstrap_intervals(y, p, np.arange(len(y)), 200, 0)["auc"]
    assert (ci_rows[1] - ci_rows[0]) < 0.85 * (ci[1] - ci[0])
    from sklearn.metrics import roc_auc_score, roc_curve

    assert full == pytest.approx(roc_auc_score(y, p))
    fpr, tpr, _ = roc_curve(y, p)
    assert sensitivity_at_specificity(y, p, 0.9) == pytest.approx(tpr[fpr <= 0.1].max())


def test_grouped_cv_keeps_near_duplicates_out_of_the_test_fold():
    """Pure noise but duplicated rows: row-wise CV leaks (high AUC), group CV does not."""
    rng = np.random.default_rng(3)
    n, k = 40, 80  # more features than photos: the model can memorise a person
    centres = rng.normal(0, 1, (n, k))
    y = np.arange(n) % 2 == 0
    X = np.repeat(centres, 3, axis=0) + rng.normal(0, 0.01, (3 * n, k))
    yy = np.repeat(y, 3)
    g = np.repeat(np.arange(n), 3)
    params = DetectorParams(c=100.0, cv_folds=5)
    p_group, _ = cross_validated_probabilities(X, yy, g, params)
    p_rows, _ = cross_validated_probabilities(X, yy, np.arange(3 * n), params)
    auc_group = binary_metrics(yy, p_group)["auc"]
    auc_rows = binary_metrics(yy, p_rows)["auc"]
    assert auc_rows > 0.8  # the leak the grouping prevents
    assert auc_group < 0.7


def test_evaluate_separable_and_refusal():
    X, y, g = synthetic(shift=3.0)
    r = evaluate(X, y, g, FAST)
    assert r["auc"] > 0.9 and r["auc_ci"][0] > 0.7
    assert r["sensitivity_at_spec"] > 0.7
    assert r["n_groups"] == 30 and r["cv_folds"] == 4 and len(r["oof"]) == 60
    ok, reason = detector_possible(y[:8], g[:8])
    assert not ok and "palsy photos" in reason
    with pytest.raises(ValueError, match="distinct groups"):
        evaluate(X[:12], y[:12], np.zeros(12), FAST)


def test_fit_explain_and_measure_block():
    X, y, g = synthetic(shift=3.0, k=len(DETECTOR_FEATURES))
    model = fit_detector(X, y, g, FAST, DETECTOR_FEATURES)
    first = next(iter(model.shap_summary))
    assert first == DETECTOR_FEATURES[0]  # the only informative column leads the SHAP summary
    row = X[:1].copy()
    top = explain(model, row, 3)[0]
    assert top[0]["name"] == DETECTOR_FEATURES[0] and len(top) == 3
    # SHAP values of a linear model add up to its log-odds minus the background's mean log-odds
    import shap  # noqa: F401 - the block's explanations come from it

    full = explain(model, row, len(DETECTOR_FEATURES))[0]
    prep = model.estimator[:-1]
    clf = model.estimator[-1]
    logit = clf.decision_function(prep.transform(row))[0]
    base = clf.decision_function(prep.transform(model.background)).mean()
    assert sum(f["shap"] for f in full) == pytest.approx(logit - base, abs=1e-6)
    feats = dict(zip(DETECTOR_FEATURES, row[0]))
    block = predict_block(model, feats, "palsyflow-detector/1", 5)
    assert set(block) == {"probability", "model_version", "top_features", "reason"}
    assert 0.0 <= block["probability"] <= 1.0 and block["reason"] is None
    assert block["probability"] == pytest.approx(model.estimator.predict_proba(row)[0, 1])
    empty = predict_block(model, dict.fromkeys(DETECTOR_FEATURES, float("nan")), "v", 5)
    assert empty["probability"] is None and "no face measures" in empty["reason"]
    none = predict_block(None, None, "none", 5, reason="no detector registered")
    assert none["probability"] is None and none["reason"] == "no detector registered"


def test_reframe_removes_size_and_framing_differences():
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)
    big = rng.integers(0, 256, (900, 1200, 3), dtype=np.uint8)
    pts_small = np.array([[50, 70], [130, 70], [90, 170]], dtype=float)
    pts_big = np.array([[300, 200], [700, 220], [500, 650]], dtype=float)
    p = DetectorParams()
    a, b = reframe(small, pts_small, p), reframe(big, pts_big, p)
    assert a.shape == b.shape == (p.reframe_side, p.reframe_side, 3) and a.dtype == np.uint8
    fa, fb = framing_features(a, None), framing_features(b, None)
    assert fa["image_log_area"] == fb["image_log_area"]
    assert fa["image_aspect_h_over_w"] == fb["image_aspect_h_over_w"] == 1.0
    f0, f1 = framing_features(small, pts_small), framing_features(big, pts_big)
    assert f0["image_log_area"] != f1["image_log_area"]
    assert 0 < f0["face_box_fraction"] < 1 and np.isnan(fa["face_box_fraction"])
