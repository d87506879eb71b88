"""Optional supervised grader: session measures -> clinician House-Brackmann grade.

The House-Brackmann scale grades facial nerve function from 1 (normal) to 6 (total
paralysis) (House & Brackmann 1985, Otolaryngol Head Neck Surg 93(2):146-147,
doi:10.1177/019459988509300202). When enough sessions carry a clinician grade, a
scikit-learn pipeline (median imputation, standardisation, then a logistic regression
or a random forest, Breiman 2001, doi:10.1023/A:1010933404324) is fitted and its
stratified cross-validated performance reported. Balanced accuracy is the mean of
per-class recalls (Brodersen et al. 2010, ICPR, doi:10.1109/ICPR.2010.764), so its
chance level is ``1 / n_classes`` whatever the class balance.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from palsyflow.config import TrainParams
from palsyflow.models.normative import _as_matrix

#: Fewest labelled sessions a grade needs to be used, and fewest usable grades.
MIN_PER_CLASS = 2
MIN_CLASSES = 2


@dataclass
class GraderResult:
    """A fitted grader and its cross-validated metrics.

    Attributes
    ----------
    estimator : sklearn.pipeline.Pipeline
        SimpleImputer(median) -> StandardScaler -> classifier, fitted on all usable rows.
    metrics : dict
        ``cv_balanced_accuracy``, ``cv_macro_f1`` (0-1), ``cv_grade_mae`` (mean
        absolute error in grade steps), ``chance_balanced_accuracy`` (1/n_classes),
        ``cv_folds``, ``n_samples``, ``n_classes``, ``n_dropped`` (rows without a
        usable grade) and ``class_counts`` (grade -> sessions).
    classes : list of int
        Grades the estimator predicts.
    feature_names : list of str
        Columns in the order the estimator expects.
    """

    estimator: Pipeline
    metrics: dict[str, Any]
    classes: list[int] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)


def _labels(y: Any) -> np.ndarray:
    """Grades as a float array with NaN for missing (accepts polars/pandas/lists)."""
    if hasattr(y, "to_numpy"):
        try:
            y = y.to_numpy(allow_copy=True)  # polars Series
        except TypeError:
            y = y.to_numpy()
    out = np.array([np.nan if v is None else v for v in np.asarray(y, dtype=object).ravel()], dtype=np.float64)
    return out


def _usable(y: np.ndarray) -> tuple[np.ndarray, Counter]:
    """Mask of rows whose grade is present and has >= MIN_PER_CLASS sessions."""
    present = ~np.isnan(y)
    counts = Counter(int(v) for v in y[present])
    keep = {g for g, n in counts.items() if n >= MIN_PER_CLASS}
    mask = present & np.isin(np.where(present, y, -1), list(keep))
    return mask, Counter({g: n for g, n in counts.items() if g in keep})


def grader_possible(y: Any) -> tuple[bool, str]:
    """Whether the labels allow fitting and cross-validating a grader.

    Parameters
    ----------
    y : array-like, shape (n_sessions,)
        House-Brackmann grades (int 1-6); None/NaN for unlabelled sessions.

    Returns
    -------
    (bool, str)
        ``(True, "")`` when at least 2 grades each have at least 2 sessions;
        otherwise ``(False, reason)``.
    """
    labels = _labels(y)
    _, counts = _usable(labels)
    if len(counts) >= MIN_CLASSES:
        return True, ""
    n_labelled = int((~np.isnan(labels)).sum())
    all_counts = dict(sorted(Counter(int(v) for v in labels[~np.isnan(labels)]).items()))
    return False, (
        f"grader needs >= {MIN_CLASSES} House-Brackmann grades with >= {MIN_PER_CLASS} sessions each; "
        f"got {n_labelled} labelled sessions with grade counts {all_counts}"
    )


def make_estimator(params: TrainParams) -> Pipeline:
    """The unfitted grader pipeline selected by ``params.grader_estimator``."""
    if params.grader_estimator == "random_forest":
        clf: Any = RandomForestClassifier(
            n_estimators=params.grader_n_estimators, class_weight="balanced", random_state=params.seed
        )
    else:
        clf = LogisticRegression(C=params.grader_c, class_weight="balanced", max_iter=2000, random_state=params.seed)
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
            ("classify", clf),
        ]
    )


def fit_grader(X: Any, y: Any, params: TrainParams) -> GraderResult:
    """Cross-validate and fit the grade classifier.

    Rows without a grade, and rows of grades with fewer than 2 sessions, are dropped.
    Folds: stratified, shuffled with ``params.seed``, ``k = min(params.cv_folds,
    smallest class count)``. Out-of-fold predictions give the metrics; the returned
    estimator is then refitted on all usable rows.

    Parameters
    ----------
    X : polars/pandas DataFrame or array-like, shape (n_sessions, n_features)
        Session measures (NaN/null allowed: median-imputed inside each fold).
    y : array-like, shape (n_sessions,)
        House-Brackmann grades 1-6, None/NaN when absent.
    params : TrainParams
        ``grader_estimator``, ``cv_folds``, ``seed``, ``grader_c``,
        ``grader_n_estimators``.

    Returns
    -------
    GraderResult

    Raises
    ------
    ValueError
        If :func:`grader_possible` is False for ``y`` or ``X`` and ``y`` lengths differ.
    """
    ok, reason = grader_possible(y)
    if not ok:
        raise ValueError(reason)
    arr, names = _as_matrix(X)
    labels = _labels(y)
    if arr.shape[0] != labels.shape[0]:
        raise ValueError(f"X has {arr.shape[0]} rows but y has {labels.shape[0]}")
    names = names or [f"x{i}" for i in range(arr.shape[1])]
    mask, counts = _usable(labels)
    Xu, yu = arr[mask], labels[mask].astype(int)

    folds = min(params.cv_folds, min(counts.values()))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=params.seed)
    pred = cross_val_predict(make_estimator(params), Xu, yu, cv=cv)
    metrics: dict[str, Any] = {
        "cv_balanced_accuracy": float(balanced_accuracy_score(yu, pred)),
        "cv_macro_f1": float(f1_score(yu, pred, average="macro")),
        "cv_grade_mae": float(np.mean(np.abs(pred - yu))),
        "chance_balanced_accuracy": 1.0 / len(counts),
        "cv_folds": int(folds),
        "n_samples": int(yu.size),
        "n_classes": len(counts),
        "n_dropped": int((~mask).sum()),
        "class_counts": {int(g): int(n) for g, n in sorted(counts.items())},
    }
    import polars as pl

    # Refit on a named frame so the pipeline records feature_names_in_.
    estimator = make_estimator(params).fit(pl.DataFrame(Xu, schema=list(names), orient="row"), yu)
    return GraderResult(
        estimator=estimator,
        metrics=metrics,
        classes=[int(c) for c in estimator.classes_],
        feature_names=list(names),
    )


# --------------------------------------------------------------------------- subject-grouped, ordinal
#: Fewest distinct subjects a grade needs to be used in subject-grouped evaluation.
MIN_SUBJECTS_PER_GRADE = 2
#: Fewest graded subjects overall before a grader is trained at all.
MIN_SUBJECTS = 4
#: Clinicians' own exact agreement on the House-Brackmann grade, the range issue 11 sets
#: as the reference a grader is read against (fraction of ratings that agree exactly).
CLINICIAN_EXACT_AGREEMENT = (0.44, 0.50)


def ordinal_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Agreement of predicted with clinician House-Brackmann grades, read as an ordinal scale.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)
        Grades 1-6.

    Returns
    -------
    dict
        ``exact_agreement`` (fraction equal), ``within_one_agreement`` (fraction within
        one grade), ``kappa_quadratic`` and ``kappa_linear`` (Cohen's weighted kappa,
        Cohen 1968, Psychol Bull 70(4):213-220, doi:10.1037/h0026256, via
        :func:`sklearn.metrics.cohen_kappa_score` over grades 1-6; NaN when both raters
        use a single grade) and ``mae`` (mean absolute error, grade steps).
    """
    from sklearn.metrics import cohen_kappa_score

    t = np.asarray(y_true, dtype=int)
    p = np.asarray(y_pred, dtype=int)
    d = np.abs(t - p)
    out = {"exact_agreement": float(np.mean(d == 0)), "within_one_agreement": float(np.mean(d <= 1)), "mae": float(np.mean(d))}
    for w in ("quadratic", "linear"):
        if len(set(t.tolist()) | set(p.tolist())) < 2:
            out[f"kappa_{w}"] = float("nan")
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                out[f"kappa_{w}"] = float(cohen_kappa_score(t, p, weights=w, labels=list(range(1, 7))))
    return out


def grouped_grader_possible(y: Any, subjects: Any) -> tuple[bool, str]:
    """Whether the grades allow a subject-grouped grader, and if not, why.

    Parameters
    ----------
    y : array-like, shape (n_sessions,)
        Clinician House-Brackmann grades (1-6), None/NaN when absent.
    subjects : array-like, shape (n_sessions,)
        Subject of each session (sessions of one subject stay in one fold).

    Returns
    -------
    (bool, str)
        ``(True, "")`` when at least :data:`MIN_SUBJECTS` subjects are graded and at
        least :data:`MIN_CLASSES` grades are each given to at least
        :data:`MIN_SUBJECTS_PER_GRADE` subjects; otherwise ``(False, reason)`` naming
        the counts found.
    """
    labels = _labels(y)
    subj = np.asarray(subjects, dtype=object).ravel()
    if subj.shape[0] != labels.shape[0]:
        return False, f"{labels.shape[0]} grades but {subj.shape[0]} subjects"
    have = ~np.isnan(labels)
    n_subj = len(set(subj[have].tolist()))
    per_grade = {int(g): len(set(subj[have & (labels == g)].tolist())) for g in sorted(set(labels[have].tolist()))}
    usable = [g for g, n in per_grade.items() if n >= MIN_SUBJECTS_PER_GRADE]
    if n_subj >= MIN_SUBJECTS and len(usable) >= MIN_CLASSES:
        return True, ""
    return False, (
        f"grader refused: needs >= {MIN_SUBJECTS} graded subjects and >= {MIN_CLASSES} House-Brackmann grades "
        f"given to >= {MIN_SUBJECTS_PER_GRADE} subjects each; got {int(have.sum())} graded sessions of {n_subj} subjects, "
        f"subjects per grade {per_grade}"
    )


def evaluate_grader_grouped(X: Any, y: Any, subjects: Any, params: TrainParams, n_boot: int = 1000) -> dict[str, Any]:
    """Subject-grouped cross-validated ordinal agreement of the grader, with bootstrap intervals.

    Sessions without a grade, and grades given to fewer than
    :data:`MIN_SUBJECTS_PER_GRADE` subjects, are dropped. Folds: stratified group
    k-fold over subjects (``k = min(params.cv_folds, subjects of the rarest grade)``),
    shuffled with ``params.seed``. The out-of-fold predictions give
    :func:`ordinal_metrics`; each metric's 95 % interval is the percentile interval of a
    bootstrap over subjects (``n_boot`` resamples, seed ``params.seed``).

    Parameters
    ----------
    X : DataFrame or array-like, shape (n_sessions, n_features)
    y : array-like, shape (n_sessions,)
        Clinician grades 1-6, None/NaN when absent.
    subjects : array-like, shape (n_sessions,)
    params : TrainParams
    n_boot : int

    Returns
    -------
    dict
        The metrics of :func:`ordinal_metrics`, their ``*_ci``, ``clinician_exact_agreement``
        (:data:`CLINICIAN_EXACT_AGREEMENT`), ``cv_folds``, ``n_sessions``, ``n_subjects``,
        ``class_counts`` and the out-of-fold ``predictions`` (list of int, one per used session).

    Raises
    ------
    ValueError
        With the reason of :func:`grouped_grader_possible` when the grades are too few.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    ok, reason = grouped_grader_possible(y, subjects)
    if not ok:
        raise ValueError(reason)
    arr, _ = _as_matrix(X)
    labels = _labels(y)
    if arr.shape[0] != labels.shape[0]:
        raise ValueError(f"X has {arr.shape[0]} rows but y has {labels.shape[0]}")
    subj = np.asarray(subjects, dtype=object).ravel()
    have = ~np.isnan(labels)
    per_grade = {g: len(set(subj[have & (labels == g)].tolist())) for g in set(labels[have].tolist())}
    keep = have & np.isin(np.where(have, labels, -1), [g for g, n in per_grade.items() if n >= MIN_SUBJECTS_PER_GRADE])
    Xu, yu, su = arr[keep], labels[keep].astype(int), subj[keep]
    codes = np.unique(su.astype(str), return_inverse=True)[1]
    folds = int(min(params.cv_folds, min(len(set(su[yu == g].tolist())) for g in np.unique(yu))))
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=params.seed)
    pred = np.zeros_like(yu)
    for tr, te in cv.split(Xu, yu, codes):
        est = make_estimator(params).fit(Xu[tr], yu[tr])
        pred[te] = est.predict(Xu[te])
    res: dict[str, Any] = ordinal_metrics(yu, pred)
    rng = np.random.default_rng(params.seed)
    members = [np.flatnonzero(codes == k) for k in range(codes.max() + 1)]
    draws: dict[str, list[float]] = {}
    for _ in range(n_boot):
        idx = np.concatenate([members[k] for k in rng.integers(0, len(members), len(members))])
        for k, v in ordinal_metrics(yu[idx], pred[idx]).items():
            if np.isfinite(v):
                draws.setdefault(k, []).append(v)
    res.update({f"{k}_ci": [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for k, v in draws.items()})
    res.update(
        clinician_exact_agreement=list(CLINICIAN_EXACT_AGREEMENT),
        cv_folds=folds,
        n_sessions=int(yu.size),
        n_subjects=int(len(members)),
        class_counts={int(g): int((yu == g).sum()) for g in np.unique(yu)},
        predictions=[int(v) for v in pred],
    )
    return res
