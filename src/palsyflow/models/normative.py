"""Normative model of healthy faces: where a healthy session's measures fall.

A :class:`NormativeModel` is fitted on sessions of healthy people only. It learns, per
measure, a robust centre and spread, and turns any session's measures into robust
z-scores and percentiles relative to the healthy population. Two methods:

``"robust"``
    Per column, independently and NaN-tolerantly: centre = median, spread =
    ``1.4826 * MAD`` (median absolute deviation from the median). The constant makes
    the MAD a consistent estimator of the standard deviation for normal data
    (Rousseeuw & Croux 1993, "Alternatives to the median absolute deviation",
    J Am Stat Assoc 88(424):1273-1283, doi:10.1080/01621459.1993.10476408).

``"mcd"``
    Jointly over all columns with the Minimum Covariance Determinant estimator
    (FAST-MCD; Rousseeuw & Van Driessen 1999, "A fast algorithm for the minimum
    covariance determinant estimator", Technometrics 41(3):212-223,
    doi:10.1080/00401706.1999.10485670) via :class:`sklearn.covariance.MinCovDet`,
    fitted on the complete rows (no NaN). Centre = MCD location, spread = square root
    of the diagonal of the MCD covariance; :meth:`NormativeModel.mahalanobis` gives
    the robust multivariate distance.

Leave-one-subject-out
    A session must never be scored against a reference that contains it: its own value
    would pull the centre toward it and shrink its z-score (self-inclusion bias of
    normative comparisons; Crawford & Howell 1998, doi:10.1076/clin.12.4.482.7241, whose
    percentile treats the case as *not* part of the sample). :meth:`NormativeModel.fit`
    keeps the reference rows and their subjects (``groups``); :meth:`~NormativeModel.transform`
    and :meth:`~NormativeModel.percentile` given ``groups`` score a row whose subject is
    in the reference against the model refitted without **all** of that subject's
    sessions, and :meth:`~NormativeModel.reference_size` says how many sessions each
    row was scored against.

The model is a scikit-learn estimator (``clone``/``get_params`` work), so it can be
logged and registered like any other model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

#: Consistency constant of the MAD for normal data, 1 / Phi^-1(3/4)
#: (Rousseeuw & Croux 1993, doi:10.1080/01621459.1993.10476408).
MAD_TO_SD = 1.4826
#: ``format`` field of :meth:`NormativeModel.to_dict` (bump when the layout changes).
JSON_FORMAT = "palsyflow.normative/1"


def _as_matrix(X: Any) -> tuple[np.ndarray, list[str] | None]:
    """Float64 matrix (nulls -> NaN) and column names, from polars/pandas/array."""
    columns = getattr(X, "columns", None)
    if columns is not None and not isinstance(X, np.ndarray):
        names = [str(c) for c in columns]
        if hasattr(X, "to_numpy") and type(X).__module__.startswith("polars"):
            import polars as pl

            arr = X.select([pl.col(c).cast(pl.Float64) for c in X.columns]).to_numpy()
        elif hasattr(X, "to_numpy"):  # pandas
            arr = X.to_numpy(dtype="float64", na_value=np.nan)
        else:
            arr = np.asarray(X, dtype=np.float64)
        return np.asarray(arr, dtype=np.float64).reshape(len(X), len(names)), names
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D table, got an array of shape {arr.shape}")
    return arr, None


class NormativeModel(TransformerMixin, BaseEstimator):
    """Robust normative model of healthy sessions.

    Parameters
    ----------
    method : {"robust", "mcd"}
        ``"robust"``: per-column median and ``1.4826 * MAD`` (Rousseeuw & Croux 1993,
        doi:10.1080/01621459.1993.10476408). ``"mcd"``: Minimum Covariance Determinant
        (Rousseeuw & Van Driessen 1999, doi:10.1080/00401706.1999.10485670) on the
        complete rows.
    min_samples : int
        Fewest rows :meth:`fit` accepts; a column with fewer non-missing values gets a
        NaN centre and scale (its z-scores are NaN).
    min_scale : float
        Floor on each column's scale, in that column's own unit, so a measure on which
        every healthy session agrees (MAD = 0) does not give infinite z-scores.
    random_state : int or None
        Seed of FAST-MCD's random subsets (``method="mcd"`` only).

    Attributes
    ----------
    feature_names_in_ : ndarray of str, shape (n_features,)
        Column names seen in :meth:`fit` (``x0, x1, ...`` for plain arrays).
    n_features_in_ : int
    n_samples_ : int
        Rows used by :meth:`fit`.
    n_valid_ : ndarray of int, shape (n_features,)
        Non-missing values per column (for ``"mcd"``: complete rows, for every column).
    location_ : ndarray, shape (n_features,)
        Robust centre of each measure, in the measure's unit.
    scale_ : ndarray, shape (n_features,)
        Robust standard deviation of each measure, in the measure's unit (>= min_scale).
    covariance_ : ndarray, shape (n_features, n_features)
        MCD covariance (``method="mcd"`` only).
    precision_ : ndarray, shape (n_features, n_features)
        Pseudo-inverse of ``covariance_`` (``method="mcd"`` only).
    reference_ : ndarray, shape (n_samples_, n_features)
        The fitted rows (the healthy reference), kept for leave-one-subject-out.
    groups_ : ndarray of str, shape (n_samples_,)
        Subject of each reference row (``groups`` of :meth:`fit`; each row its own
        group when not given).
    """

    def __init__(
        self,
        method: str = "robust",
        min_samples: int = 5,
        min_scale: float = 1e-3,
        random_state: int | None = 0,
    ) -> None:
        self.method = method
        self.min_samples = min_samples
        self.min_scale = min_scale
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any = None, groups: Any = None) -> NormativeModel:
        """Learn the healthy centre and spread of each column.

        Parameters
        ----------
        X : polars.DataFrame, pandas.DataFrame or array-like, shape (n_samples, n_features)
            Measures of healthy sessions; null/NaN means "not measured" and is ignored
            column by column (``"robust"``) or drops the row (``"mcd"``).
        y : ignored
        groups : array-like of str, shape (n_samples,), optional
            Subject of each row (e.g. ``"site/subject"``); rows of one subject are left
            out together when that subject is scored (leave-one-subject-out).

        Returns
        -------
        NormativeModel
            ``self``.

        Raises
        ------
        ValueError
            If ``method`` is unknown, there are fewer than ``min_samples`` rows (for
            ``"mcd"``: complete rows, and more than ``n_features``), or ``X`` has no
            columns.
        """
        if self.method not in ("robust", "mcd"):
            raise ValueError(f"method must be 'robust' or 'mcd', got {self.method!r}")
        arr, names = _as_matrix(X)
        n, p = arr.shape
        if p == 0:
            raise ValueError("NormativeModel.fit: X has no columns")
        if n < self.min_samples:
            raise ValueError(
                f"NormativeModel.fit: {n} healthy rows, at least min_samples={self.min_samples} needed"
            )
        self.__dict__.pop("_loso_cache", None)  # a refit invalidates the leave-one-out models
        self.reference_ = arr.copy()
        self.groups_ = (
            np.asarray([str(g) for g in groups], dtype=object)
            if groups is not None
            else np.asarray([f"row{i}" for i in range(n)], dtype=object)
        )
        if self.groups_.shape[0] != n:
            raise ValueError(f"NormativeModel.fit: {self.groups_.shape[0]} groups for {n} rows")
        self.feature_names_in_ = np.asarray(names if names is not None else [f"x{i}" for i in range(p)], dtype=object)
        self.n_features_in_ = p
        self.n_samples_ = n

        if self.method == "robust":
            valid = ~np.isnan(arr)
            self.n_valid_ = valid.sum(axis=0).astype(int)
            loc = np.full(p, np.nan)
            scale = np.full(p, np.nan)
            for j in range(p):
                col = arr[valid[:, j], j]
                if col.size < self.min_samples:
                    continue
                loc[j] = np.median(col)
                scale[j] = max(MAD_TO_SD * np.median(np.abs(col - loc[j])), self.min_scale)
            self.location_ = loc
            self.scale_ = scale
        else:
            from sklearn.covariance import MinCovDet

            complete = arr[~np.isnan(arr).any(axis=1)]
            m = complete.shape[0]
            if m < max(self.min_samples, p + 1):
                raise ValueError(
                    f"NormativeModel.fit(method='mcd'): {m} complete rows, at least "
                    f"{max(self.min_samples, p + 1)} needed (min_samples and n_features + 1)"
                )
            mcd = MinCovDet(random_state=self.random_state).fit(complete)
            self.n_valid_ = np.full(p, m, dtype=int)
            self.location_ = np.asarray(mcd.location_, dtype=np.float64)
            self.covariance_ = np.asarray(mcd.covariance_, dtype=np.float64)
            self.scale_ = np.maximum(np.sqrt(np.clip(np.diag(self.covariance_), 0.0, None)), self.min_scale)
            self.precision_ = np.linalg.pinv(self.covariance_)
        return self

    # ---------------------------------------------------------------- applying
    def _matrix(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "location_")
        arr, names = _as_matrix(X)
        if names is not None:
            index = {c: i for i, c in enumerate(names)}
            missing = [c for c in self.feature_names_in_ if c not in index]
            if missing:
                raise ValueError(f"NormativeModel: X lacks the fitted columns {missing}")
            arr = arr[:, [index[c] for c in self.feature_names_in_]]
        elif arr.shape[1] != self.n_features_in_:
            raise ValueError(f"NormativeModel: X has {arr.shape[1]} columns, the model {self.n_features_in_}")
        return arr

    def _loso(self, group: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """(location, scale, n_valid, n_rows) of the model refitted without ``group``'s rows."""
        cache = self.__dict__.setdefault("_loso_cache", {})
        if group not in cache:
            keep = self.groups_ != group
            p = self.n_features_in_
            nan = np.full(p, np.nan)
            try:
                sub = NormativeModel(
                    method=self.method, min_samples=self.min_samples, min_scale=self.min_scale,
                    random_state=self.random_state,
                ).fit(self.reference_[keep])
                cache[group] = (sub.location_, sub.scale_, sub.n_valid_, int(keep.sum()))
            except ValueError:  # too few rows left: no reference for this subject
                cache[group] = (nan, nan, np.zeros(p, dtype=int), int(keep.sum()))
        return cache[group]

    def _row_params(self, n_rows: int, groups: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per row: location, scale, n_valid (each (n_rows, n_features)) and reference size (n_rows,)."""
        loc = np.tile(self.location_, (n_rows, 1))
        scale = np.tile(self.scale_, (n_rows, 1))
        n_valid = np.tile(np.asarray(self.n_valid_, dtype=float), (n_rows, 1))
        size = np.full(n_rows, int(self.n_samples_))
        if groups is None:
            return loc, scale, n_valid, size
        groups = np.asarray([str(g) for g in groups], dtype=object)
        if groups.shape[0] != n_rows:
            raise ValueError(f"NormativeModel: {groups.shape[0]} groups for {n_rows} rows")
        own = set(getattr(self, "groups_", np.asarray([], dtype=object)).tolist())
        for g in set(groups.tolist()) & own:
            rows = groups == g
            gl, gs, gn, gsize = self._loso(g)
            loc[rows], scale[rows], n_valid[rows], size[rows] = gl, gs, gn, gsize
        return loc, scale, n_valid, size

    def reference_size(self, groups: Any) -> np.ndarray:
        """Number of healthy sessions each row is scored against.

        Parameters
        ----------
        groups : array-like of str, shape (n_rows,)
            Subject of each row to score (same form as ``groups`` of :meth:`fit`).

        Returns
        -------
        ndarray of int, shape (n_rows,)
            ``n_samples_`` for a subject outside the reference, ``n_samples_`` minus
            that subject's sessions for one inside it.
        """
        check_is_fitted(self, "location_")
        g = list(groups)
        return self._row_params(len(g), g)[3]

    def transform(self, X: Any, groups: Any = None) -> np.ndarray:
        """Robust z-scores against the healthy population.

        ``z = (x - location_) / scale_`` per column; with ``groups``, a row whose
        subject is in the reference uses the location and scale refitted without that
        subject (leave-one-subject-out, module docstring).

        Parameters
        ----------
        X : DataFrame or array-like, shape (n_samples, n_features)
            Columns are matched by name for data frames (extra columns are ignored),
            by position for arrays.
        groups : array-like of str, shape (n_samples,), optional
            Subject of each row.

        Returns
        -------
        ndarray, shape (n_samples, n_features)
            Unitless z-scores, in the order of ``feature_names_in_``; NaN where the
            value is missing or the column could not be fitted.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        ValueError
            If fitted columns are missing from ``X``.
        """
        arr = self._matrix(X)
        loc, scale, _, _ = self._row_params(arr.shape[0], groups)
        return (arr - loc) / scale

    def percentile(self, X: Any, groups: Any = None) -> np.ndarray:
        """Percentile (0-100) of each value among healthy sessions.

        Healthy reference samples are small (tens of sessions), so the percentile is
        not ``Phi(z)`` but the single-case predictive percentile of Crawford & Howell
        (1998, The Clinical Neuropsychologist 12(4):482-486,
        doi:10.1076/clin.12.4.482.7241): ``100 * T_{n-1}(z / sqrt(1 + 1/n))`` with
        ``T_{n-1}`` the Student t CDF and ``n`` the number of healthy sessions with
        that measure. It widens the tails for small ``n`` and tends to ``Phi(z)`` for
        large ``n``. This **assumes** each measure is approximately normal in the
        healthy population once centred and scaled robustly (median, MAD); for
        bounded measures (e.g. symmetry near 100) the tails are approximate.

        Parameters
        ----------
        X : DataFrame or array-like, shape (n_samples, n_features)
        groups : array-like of str, shape (n_samples,), optional
            Subject of each row; a reference subject is scored leave-one-subject-out
            (``n`` is then the number of the other subjects' sessions).

        Returns
        -------
        ndarray, shape (n_samples, n_features)
            Percentiles in ``[0, 100]``; NaN where ``z`` is NaN.
        """
        arr = self._matrix(X)
        _, _, n, _ = self._row_params(arr.shape[0], groups)
        z = self.transform(X, groups)
        df = np.maximum(n - 1.0, 1.0)
        return 100.0 * student_t.cdf(z / np.sqrt(1.0 + 1.0 / np.maximum(n, 1.0)), df)

    def folded_percentile(self, X: Any, groups: Any = None) -> np.ndarray:
        """Percentile (0-100) of ``100 * (1 - |x|)`` among healthy sessions, from the signed ``x``.

        For a signed asymmetry ``x`` (healthy distribution fitted by this model), a
        symmetry score ``100 * (1 - |x|)`` is lower the larger ``|x|``; its healthy
        percentile is ``100 * P(|X| >= |x|)`` with ``X`` the healthy predictive
        distribution of Crawford & Howell (1998, doi:10.1076/clin.12.4.482.7241):
        location ``location_``, scale ``scale_ * sqrt(1 + 1/n)``, Student t with ``n - 1``
        degrees of freedom. Folding the fitted signed distribution keeps the bounded,
        skewed symmetry score out of a normal approximation it does not follow (the
        folded normal distribution: Leone, Nelson & Nottingham 1961, Technometrics 3(4):543-550).

        Parameters
        ----------
        X : DataFrame or array-like, shape (n_samples, n_features)
            Signed values, unitless.
        groups : array-like of str, shape (n_samples,), optional
            Subject of each row (leave-one-subject-out as in :meth:`percentile`).

        Returns
        -------
        ndarray, shape (n_samples, n_features)
            Percentiles in ``[0, 100]``; NaN where the value or the fit is missing.
        """
        arr = self._matrix(X)
        loc, scale, n, _ = self._row_params(arr.shape[0], groups)
        df = np.maximum(n - 1.0, 1.0)
        s = scale * np.sqrt(1.0 + 1.0 / np.maximum(n, 1.0))
        a = np.abs(arr)
        inside = student_t.cdf((a - loc) / s, df) - student_t.cdf((-a - loc) / s, df)
        return 100.0 * (1.0 - inside)

    def mahalanobis(self, X: Any) -> np.ndarray:
        """Robust Mahalanobis distance from the MCD centre (``method="mcd"``).

        ``d = sqrt((x - location_)^T precision_ (x - location_))`` (Rousseeuw & Van
        Driessen 1999, doi:10.1080/00401706.1999.10485670).

        Parameters
        ----------
        X : DataFrame or array-like, shape (n_samples, n_features)

        Returns
        -------
        ndarray, shape (n_samples,)
            Unitless distances; NaN for rows with any missing value.

        Raises
        ------
        ValueError
            If the model was fitted with ``method="robust"`` (no joint covariance).
        """
        check_is_fitted(self, "location_")
        if self.method != "mcd":
            raise ValueError("mahalanobis() needs method='mcd' (the robust method has no joint covariance)")
        d = self._matrix(X) - self.location_
        d2 = np.einsum("ij,jk,ik->i", d, self.precision_, d)
        return np.sqrt(np.clip(d2, 0.0, None))

    # ------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """The fitted model as plain JSON-ready data (no code, nothing pickled).

        Returns
        -------
        dict
            ``format`` (:data:`JSON_FORMAT`), the constructor parameters (``method``,
            ``min_samples``, ``min_scale``, ``random_state``) and the fitted attributes
            (``feature_names_in_``, ``n_samples_``, ``n_valid_``, ``location_``,
            ``scale_``, ``reference_``, ``groups_`` and for ``"mcd"`` ``covariance_``,
            ``precision_``) as lists; NaN as ``None``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        """
        check_is_fitted(self, "location_")

        def lst(a: np.ndarray) -> Any:
            arr = np.asarray(a, dtype=np.float64)
            return np.where(np.isnan(arr), None, arr).tolist()

        out: dict[str, Any] = {
            "format": JSON_FORMAT,
            "params": self.get_params(),
            "feature_names_in_": [str(c) for c in self.feature_names_in_],
            "n_samples_": int(self.n_samples_),
            "n_valid_": [int(v) for v in self.n_valid_],
            "location_": lst(self.location_),
            "scale_": lst(self.scale_),
            "reference_": lst(self.reference_),
            "groups_": [str(g) for g in self.groups_],
        }
        if self.method == "mcd":
            out["covariance_"] = lst(self.covariance_)
            out["precision_"] = lst(self.precision_)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NormativeModel:
        """Rebuild a fitted model from :meth:`to_dict`'s data.

        Parameters
        ----------
        data : dict
            As written by :meth:`to_dict` (e.g. read back from JSON).

        Returns
        -------
        NormativeModel
            Scores exactly as the model that wrote ``data``.

        Raises
        ------
        ValueError
            If ``data`` is not of :data:`JSON_FORMAT` or its arrays disagree in size.
        """
        if data.get("format") != JSON_FORMAT:
            raise ValueError(f"not a normative model ({JSON_FORMAT!r}): format {data.get('format')!r}")

        def arr(key: str) -> np.ndarray:
            return np.array(data[key], dtype=np.float64)  # None -> NaN

        model = cls(**data["params"])
        names = list(data["feature_names_in_"])
        p = len(names)
        model.feature_names_in_ = np.asarray(names, dtype=object)
        model.n_features_in_ = p
        model.n_samples_ = int(data["n_samples_"])
        model.n_valid_ = np.asarray(data["n_valid_"], dtype=int)
        model.location_ = arr("location_")
        model.scale_ = arr("scale_")
        model.reference_ = arr("reference_").reshape(model.n_samples_, p)
        model.groups_ = np.asarray(data["groups_"], dtype=object)
        if model.method == "mcd":
            model.covariance_ = arr("covariance_").reshape(p, p)
            model.precision_ = arr("precision_").reshape(p, p)
        if not (model.location_.shape == model.scale_.shape == model.n_valid_.shape == (p,)) or model.groups_.shape != (
            model.n_samples_,
        ):
            raise ValueError("normative model data: array sizes disagree with feature_names_in_ / n_samples_")
        return model

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the z-score columns (the fitted column names)."""
        check_is_fitted(self, "location_")
        return np.asarray(self.feature_names_in_, dtype=object)


def loso_calibration(
    model: NormativeModel,
    X: Any,
    groups: Any,
    band: tuple[float, float] = (5.0, 95.0),
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Held-out calibration of the healthy percentiles, leave-one-subject-out.

    Every healthy session is scored against the model refitted without its subject
    (:meth:`NormativeModel.percentile` with ``groups``). If the percentiles are
    calibrated, these held-out percentiles are uniform on [0, 100]: the
    Kolmogorov-Smirnov statistic against the uniform distribution (Massey 1951,
    J Am Stat Assoc 46(253):68-78, doi:10.1080/01621459.1951.10500769) is near 0 and
    the fraction inside ``band`` is near its nominal width (0.90 for 5-95).

    Parameters
    ----------
    model : NormativeModel
        Fitted on ``X`` with ``groups``.
    X : DataFrame or array-like, shape (n_sessions, n_features)
        The healthy reference sessions (the fit's own rows).
    groups : array-like of str, shape (n_sessions,)
        Subject of each row.
    band : (float, float)
        Percentile band whose coverage is measured.
    n_boot : int
        Bootstrap resamples of subjects (whole subjects, so a subject's correlated
        sessions and measures move together) for the 95 % intervals.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    dict of str -> float
        Pooled over measures: ``loso_ks``, ``loso_coverage`` (fraction in ``band``),
        ``loso_coverage_nominal``, ``loso_ks_ci_low/high``, ``loso_coverage_ci_low/high``
        (percentile bootstrap), ``loso_n_values``; per measure ``loso_ks.<m>`` and
        ``loso_coverage.<m>``. Empty when no held-out percentile is finite (every
        subject's leave-out reference too small).
    """
    pct = model.percentile(X, groups=groups)
    g = np.asarray([str(v) for v in groups], dtype=object)
    names = [str(c) for c in model.feature_names_in_]
    lo, hi = band

    def stats(values: np.ndarray) -> tuple[float, float]:
        u = np.sort(values[np.isfinite(values)] / 100.0)
        if u.size == 0:
            return math.nan, math.nan
        i = np.arange(1, u.size + 1)
        ks = float(max(np.max(i / u.size - u), np.max(u - (i - 1) / u.size)))
        cover = float(np.mean((u >= lo / 100.0) & (u <= hi / 100.0)))
        return ks, cover

    ks, cover = stats(pct.ravel())
    if not math.isfinite(ks):
        return {}
    out: dict[str, float] = {
        "loso_ks": ks,
        "loso_coverage": cover,
        "loso_coverage_nominal": (hi - lo) / 100.0,
        "loso_n_values": float(np.isfinite(pct).sum()),
    }
    subjects = np.unique(g)
    rng = np.random.default_rng(seed)
    boot_ks, boot_cover = [], []
    rows_of = {s: np.flatnonzero(g == s) for s in subjects}
    for _ in range(n_boot):
        pick = rng.choice(subjects, size=subjects.size, replace=True)
        k, c = stats(pct[np.concatenate([rows_of[s] for s in pick])].ravel())
        if math.isfinite(k):
            boot_ks.append(k)
            boot_cover.append(c)
    if boot_ks:
        out["loso_ks_ci_low"], out["loso_ks_ci_high"] = (float(v) for v in np.percentile(boot_ks, [2.5, 97.5]))
        out["loso_coverage_ci_low"], out["loso_coverage_ci_high"] = (
            float(v) for v in np.percentile(boot_cover, [2.5, 97.5])
        )
    for j, m in enumerate(names):
        k, c = stats(pct[:, j])
        if math.isfinite(k):
            out[f"loso_ks.{m}"] = k
            out[f"loso_coverage.{m}"] = c
    return out
