"""Healthy-vs-palsy detector on the static geometry of one face photo, with its source bias controlled.

What it is
    A logistic regression (median imputation, standardisation, L2 penalty ``C``) on
    side-independent static measures of one frontal face at rest: the regional rest
    asymmetries of :func:`palsyflow.features.regional.recording_measures` (``*_asym``),
    the Parra-Dominguez features f0-f28 of :mod:`palsyflow.features.parra` on the
    iBUG-68 points mapped from MediaPipe (f23, side-sensitive, as ``|f23 - 90|``) and the
    Emotrics-equivalent millimetre measures of :mod:`palsyflow.features.emotrics` as
    absolute left-right differences (the bilateral deviations as magnitudes). Every
    feature is unchanged when the face is mirrored, so the detector cannot learn which
    side is weak in its training photos.

Source bias
    Photo collections mix sources: in ``palsy-web`` every healthy photo is an aligned
    178x218 CelebA crop, so image size alone separates the classes. :func:`reframe`
    makes every photo the same: a square face box with a fixed margin, passed through
    one low "native" resolution (so no photo is sharper than the poorest source),
    resized to a fixed side and re-encoded as JPEG at one quality. :func:`framing_features`
    are the size/framing/sharpness values a classifier could use as a shortcut; the
    benchmark reports their AUC before and after re-framing beside the detector's.

Evaluation
    Near-duplicate photos (the same person, the same photo re-cropped) stay in one fold:
    groups are connected components of photos whose difference hashes (dHash, Krawetz
    2013, "Kind of Like That", hackerfactor.com blog; 64 bits) differ by at most
    ``hash_max_distance`` bits (:func:`hash_groups`), joined with any groups the caller
    knows (a subject, a video). Out-of-fold probabilities from stratified group k-fold
    give ROC AUC (Hanley & McNeil 1982, doi:10.1148/radiology.143.1.7063747), the
    sensitivity at a fixed specificity, the Brier score (Brier 1950,
    doi:10.1175/1520-0493(1950)078<0001:VOFEIT>2.0.CO;2) and the expected calibration
    error (Naeini, Cooper & Hauskrecht 2015, AAAI, doi:10.1609/aaai.v29i1.9602), each
    with a percentile interval from a bootstrap over groups (Davison & Hinkley 1997,
    doi:10.1017/CBO9780511802843, ch. 3.8).

Explanations
    SHAP values (Lundberg & Lee 2017, NeurIPS, arXiv:1705.07874) of the linear model in
    log-odds units, from ``shap.LinearExplainer`` with an independent masker over a
    background sample of the training rows (:func:`explain`).

Pure: no MLflow, Prefect or DVC. The features of a photo (re-framing, the geometry and
shortcut features, dHash) are in :mod:`palsyflow.features.photo`; this module takes the
feature matrix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from palsyflow.config import DetectorParams

__all__ = [
    "DetectorModel",
    "binary_metrics",
    "bootstrap_intervals",
    "cross_validated_probabilities",
    "detector_possible",
    "evaluate",
    "expected_calibration_error",
    "explain",
    "fit_detector",
    "hash_groups",
    "make_estimator",
    "predict_block",
    "sensitivity_at_specificity",
]

#: Fewest photos of each class, and fewest groups of each class, a detector needs.
MIN_PER_CLASS = 10
MIN_GROUPS_PER_CLASS = 3

def hash_groups(hashes: Sequence[int], max_distance: int, known: Sequence[Any] | None = None) -> np.ndarray:
    """Groups of near-duplicate photos: connected components of close hashes.

    Parameters
    ----------
    hashes : sequence of int, length n
        :func:`dhash` of each photo.
    max_distance : int
        Photos whose hashes differ in at most this many bits are joined.
    known : sequence, length n, optional
        Groups known from elsewhere (subject, video); photos with the same non-None
        value are joined too.

    Returns
    -------
    ndarray of int, shape (n,)
        Group label per photo, 0 .. n_groups - 1 in order of first appearance.

    Raises
    ------
    ValueError
        If ``known`` does not have length n.
    """
    n = len(hashes)
    if known is not None and len(known) != n:
        raise ValueError(f"known has {len(known)} entries for {n} hashes")
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    hs = [int(h) for h in hashes]
    for i in range(n):
        for j in range(i + 1, n):
            if (hs[i] ^ hs[j]).bit_count() <= max_distance:
                join(i, j)
    if known is not None:
        first: dict[Any, int] = {}
        for i, g in enumerate(known):
            if g is None or (isinstance(g, float) and np.isnan(g)) or g == "":
                continue
            if g in first:
                join(first[g], i)
            else:
                first[g] = i
    roots = [find(i) for i in range(n)]
    labels: dict[int, int] = {}
    return np.array([labels.setdefault(r, len(labels)) for r in roots], dtype=np.int64)


# --------------------------------------------------------------------------- features
def _auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney probability P(score_palsy > score_healthy) + ties / 2."""
    pos = y == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    _, inv, counts = np.unique(p, return_inverse=True, return_counts=True)
    r = (np.cumsum(counts) - (counts - 1) / 2.0)[inv]  # mid-ranks of tied scores
    return float((r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def sensitivity_at_specificity(y: np.ndarray, p: np.ndarray, specificity: float = 0.9) -> float:
    """Highest sensitivity among thresholds whose specificity is at least ``specificity``.

    A photo is called palsy when its score is at or above the threshold; thresholds
    run over the observed scores (the points of the ROC curve).

    Parameters
    ----------
    y : ndarray of bool or {0, 1}, shape (n,)
        1 = palsy (positive).
    p : ndarray, shape (n,)
        Scores, larger = more likely palsy.
    specificity : float in (0, 1)

    Returns
    -------
    float
        Fraction of positives at or above the threshold (NaN with one class only).
    """
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=np.float64)
    if y.min() == y.max():
        return float("nan")
    neg, pos = np.sort(p[y == 0]), np.sort(p[y == 1])
    thr = np.r_[np.unique(p), np.inf]
    fpr = 1.0 - np.searchsorted(neg, thr, side="left") / neg.size
    tpr = 1.0 - np.searchsorted(pos, thr, side="left") / pos.size
    ok = fpr <= 1.0 - specificity + 1e-12
    return float(tpr[ok].max())


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """ECE: bin-weighted mean of |observed rate - mean predicted probability|.

    Ten equal-width probability bins on [0, 1] (Naeini et al. 2015, see the module
    docstring); the last bin includes 1.

    Parameters
    ----------
    y : ndarray of {0, 1}, shape (n,)
    p : ndarray of probabilities, shape (n,)
    n_bins : int

    Returns
    -------
    float in [0, 1]
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    idx = np.minimum((p * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        sel = idx == b
        if sel.any():
            ece += sel.mean() * abs(y[sel].mean() - p[sel].mean())
    return float(ece)


def binary_metrics(y: np.ndarray, p: np.ndarray, specificity: float = 0.9) -> dict[str, float]:
    """ROC AUC, sensitivity at ``specificity``, Brier score and ECE of probabilities ``p``.

    Parameters
    ----------
    y : ndarray of bool or {0, 1}, shape (n,)
        1 = palsy.
    p : ndarray, shape (n,)
        Predicted probability of palsy.
    specificity : float

    Returns
    -------
    dict
        ``auc``, ``sensitivity_at_spec``, ``brier`` (mean squared error of ``p``, 0 best),
        ``ece`` (0 best); NaN for AUC and sensitivity when ``y`` has one class.
    """
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=np.float64)
    two = y.min() != y.max()
    return {
        "auc": _auc(y, p) if two else float("nan"),
        "sensitivity_at_spec": sensitivity_at_specificity(y, p, specificity),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": expected_calibration_error(y, p),
    }


def bootstrap_intervals(
    y: np.ndarray,
    p: np.ndarray,
    groups: np.ndarray,
    n_boot: int,
    seed: int,
    specificity: float = 0.9,
    level: float = 0.95,
) -> dict[str, list[float]]:
    """Percentile intervals of :func:`binary_metrics` from a bootstrap over groups.

    Whole groups are resampled with replacement (near-duplicates move together);
    resamples with one class only are redrawn.

    Parameters
    ----------
    y, p, groups : ndarray, shape (n,)
    n_boot : int
    seed : int
    specificity : float
    level : float
        Interval coverage (0.95: the 2.5th and 97.5th percentiles).

    Returns
    -------
    dict
        metric -> ``[low, high]``.
    """
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=np.float64)
    g = np.asarray(groups)
    uniq, inv = np.unique(g, return_inverse=True)
    members = [np.flatnonzero(inv == k) for k in range(len(uniq))]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    done = tries = 0
    while done < n_boot and tries < 20 * n_boot:
        tries += 1
        pick = rng.integers(0, len(uniq), len(uniq))
        idx = np.concatenate([members[k] for k in pick])
        if y[idx].min() == y[idx].max():
            continue
        for k, v in binary_metrics(y[idx], p[idx], specificity).items():
            draws.setdefault(k, []).append(v)
        done += 1
    a = (1 - level) / 2 * 100
    return {k: [float(np.percentile(v, a)), float(np.percentile(v, 100 - a))] for k, v in draws.items()}


# --------------------------------------------------------------------------- model
def make_estimator(params: DetectorParams):
    """Unfitted pipeline: median imputation -> standardisation -> L2 logistic regression (``params.c``)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
            ("classify", LogisticRegression(C=params.c, max_iter=5000, random_state=params.seed)),
        ]
    )


def detector_possible(y: np.ndarray, groups: np.ndarray) -> tuple[bool, str]:
    """Whether the labels allow fitting and group-cross-validating a detector.

    Parameters
    ----------
    y : ndarray of bool, shape (n,)
        True = palsy.
    groups : ndarray, shape (n,)

    Returns
    -------
    (bool, str)
        ``(True, "")`` when each class has at least :data:`MIN_PER_CLASS` photos in at
        least :data:`MIN_GROUPS_PER_CLASS` groups, else ``(False, reason)``.
    """
    y = np.asarray(y).astype(bool)
    g = np.asarray(groups)
    for name, sel in (("palsy", y), ("healthy", ~y)):
        n, ng = int(sel.sum()), len(np.unique(g[sel]))
        if n < MIN_PER_CLASS or ng < MIN_GROUPS_PER_CLASS:
            return False, (
                f"detector needs >= {MIN_PER_CLASS} {name} photos in >= {MIN_GROUPS_PER_CLASS} distinct groups; "
                f"got {n} photos in {ng} groups"
            )
    return True, ""


def cross_validated_probabilities(X: np.ndarray, y: np.ndarray, groups: np.ndarray, params: DetectorParams) -> tuple[np.ndarray, int]:
    """Out-of-fold palsy probabilities from stratified group k-fold.

    Parameters
    ----------
    X : ndarray, shape (n, k)
        Features (NaN allowed: imputed inside each fold).
    y : ndarray of bool, shape (n,)
    groups : ndarray, shape (n,)
        No group is split between folds.
    params : DetectorParams
        ``cv_folds`` (capped by the groups of the rarer class), ``seed``, ``c``.

    Returns
    -------
    (probabilities, folds) : (ndarray shape (n,), int)
    """
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.asarray(y).astype(int)
    g = np.asarray(groups)
    folds = int(min(params.cv_folds, min(len(np.unique(g[y == c])) for c in (0, 1))))
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=params.seed)
    out = np.full(y.shape[0], np.nan)
    for tr, te in cv.split(X, y, g):
        est = make_estimator(params).fit(X[tr], y[tr])
        out[te] = est.predict_proba(X[te])[:, 1]
    return out, folds


def evaluate(X: np.ndarray, y: np.ndarray, groups: np.ndarray, params: DetectorParams) -> dict[str, Any]:
    """Grouped cross-validated metrics of a detector on ``X``, with bootstrap intervals.

    Parameters
    ----------
    X : ndarray, shape (n, k)
    y : ndarray of bool, shape (n,)
    groups : ndarray, shape (n,)
    params : DetectorParams
        ``cv_folds``, ``seed``, ``c``, ``n_bootstrap``, ``specificity``.

    Returns
    -------
    dict
        ``auc``, ``sensitivity_at_spec``, ``brier``, ``ece``, their ``*_ci`` ([low,
        high], 95 %), ``specificity``, ``cv_folds``, ``n``, ``n_palsy``,
        ``n_healthy``, ``n_groups``, ``n_features`` and ``oof`` (the out-of-fold
        probabilities, list).

    Raises
    ------
    ValueError
        If :func:`detector_possible` is False.
    """
    ok, reason = detector_possible(y, groups)
    if not ok:
        raise ValueError(reason)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(bool)
    prob, folds = cross_validated_probabilities(X, y, groups, params)
    res: dict[str, Any] = binary_metrics(y, prob, params.specificity)
    ci = bootstrap_intervals(y, prob, groups, params.n_bootstrap, params.seed, params.specificity)
    res.update({f"{k}_ci": v for k, v in ci.items()})
    res.update(
        specificity=params.specificity,
        cv_folds=folds,
        n=int(y.size),
        n_palsy=int(y.sum()),
        n_healthy=int((~y).sum()),
        n_groups=len(np.unique(groups)),
        n_features=int(X.shape[1]),
        oof=[float(v) for v in prob],
    )
    return res


@dataclass
class DetectorModel:
    """A fitted detector, what it needs to explain a prediction, and its evaluation.

    Attributes
    ----------
    estimator : sklearn.pipeline.Pipeline
        :func:`make_estimator`, fitted on all rows.
    feature_names : list of str
        Column order the estimator expects (:data:`DETECTOR_FEATURES`).
    background : ndarray, shape (m, k)
        Training rows (raw feature units) the SHAP masker averages over.
    metrics : dict
        :func:`evaluate` without ``oof``.
    shap_summary : dict
        feature -> mean |SHAP| (log-odds) over the training rows, largest first.
    """

    estimator: Any
    feature_names: list[str]
    background: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)
    shap_summary: dict[str, float] = field(default_factory=dict)


def fit_detector(X: np.ndarray, y: np.ndarray, groups: np.ndarray, params: DetectorParams, feature_names: Sequence[str]) -> DetectorModel:
    """Evaluate by grouped CV, then fit on all rows and summarise SHAP.

    Parameters
    ----------
    X : ndarray, shape (n, k)
        Rows of :func:`photo_features` in ``feature_names`` order.
    y : ndarray of bool, shape (n,)
        True = palsy.
    groups : ndarray, shape (n,)
        :func:`hash_groups`.
    params : DetectorParams
    feature_names : sequence of str, length k

    Returns
    -------
    DetectorModel

    Raises
    ------
    ValueError
        If the classes are too small (:func:`detector_possible`) or shapes differ.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(bool)
    if X.shape[0] != y.shape[0] or X.shape[0] != np.asarray(groups).shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows, y {y.shape[0]}, groups {np.asarray(groups).shape[0]}")
    if X.shape[1] != len(feature_names):
        raise ValueError(f"X has {X.shape[1]} columns for {len(feature_names)} feature names")
    metrics = evaluate(X, y, groups, params)
    metrics.pop("oof")
    est = make_estimator(params).fit(X, y.astype(int))
    rng = np.random.default_rng(params.seed)
    background = X[rng.choice(X.shape[0], size=min(100, X.shape[0]), replace=False)]
    model = DetectorModel(est, list(feature_names), background, metrics)
    values = _shap_values(model, X)
    mean_abs = np.abs(values).mean(axis=0)
    order = np.argsort(-mean_abs)
    model.shap_summary = {model.feature_names[i]: float(mean_abs[i]) for i in order}
    return model


def _shap_values(model: DetectorModel, X: np.ndarray) -> np.ndarray:
    import shap

    prep = model.estimator[:-1]
    clf = model.estimator[-1]
    explainer = shap.LinearExplainer(clf, shap.maskers.Independent(prep.transform(model.background)))
    return np.asarray(explainer.shap_values(prep.transform(np.asarray(X, dtype=np.float64))), dtype=np.float64).reshape(len(X), -1)


def explain(model: DetectorModel, X: np.ndarray, top_k: int) -> list[list[dict[str, float | str]]]:
    """The ``top_k`` features with the largest |SHAP| of each row, largest first.

    Parameters
    ----------
    model : DetectorModel
    X : ndarray, shape (n, k)
        Raw feature rows (NaN imputed as in training).
    top_k : int

    Returns
    -------
    list (per row) of lists of ``{"name": str, "shap": float}``
        SHAP values in log-odds of palsy (positive pushes towards palsy).
    """
    values = _shap_values(model, X)
    out = []
    for row in values:
        order = np.argsort(-np.abs(row))[:top_k]
        out.append([{"name": model.feature_names[i], "shap": float(row[i])} for i in order])
    return out


def predict_block(model: DetectorModel | None, features: Mapping[str, float] | None, version: str, top_k: int, reason: str | None = None) -> dict[str, Any]:
    """The ``palsy_detector`` block of ``palsyflow measure``.

    Parameters
    ----------
    model : DetectorModel or None
    features : mapping or None
        :func:`photo_features` of the session's rest photo or neutral frame; None when
        there is none.
    version : str
        The registered model's name and version.
    top_k : int
    reason : str, optional
        Why there is no probability (used when ``features`` or ``model`` is None).

    Returns
    -------
    dict
        ``{"probability": float | None, "model_version": str, "top_features":
        [{"name", "shap"}], "reason": str | None}``; no probability when every
        feature is missing.
    """
    block: dict[str, Any] = {"probability": None, "model_version": version, "top_features": [], "reason": reason}
    if model is None or features is None:
        block["reason"] = reason or "no detector or no rest photo / neutral frame"
        return block
    x = np.array([[float(features.get(k, np.nan)) for k in model.feature_names]], dtype=np.float64)
    if not np.isfinite(x).any():
        block["reason"] = "no face measures could be computed on the rest photo / neutral frame"
        return block
    block["probability"] = float(model.estimator.predict_proba(x)[0, 1])
    block["top_features"] = explain(model, x, top_k)[0]
    block["reason"] = None
    return block
