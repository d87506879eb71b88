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

The model is a scikit-learn estimator (``clone``/``get_params`` work), so it can be
logged and registered like any other model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

#: Consistency constant of the MAD for normal data, 1 / Phi^-1(3/4)
#: (Rousseeuw & Croux 1993, doi:10.1080/01621459.1993.10476408).
MAD_TO_SD = 1.4826


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
    def fit(self, X: Any, y: Any = None) -> NormativeModel:
        """Learn the healthy centre and spread of each column.

        Parameters
        ----------
        X : polars.DataFrame, pandas.DataFrame or array-like, shape (n_samples, n_features)
            Measures of healthy sessions; null/NaN means "not measured" and is ignored
            column by column (``"robust"``) or drops the row (``"mcd"``).
        y : ignored

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

    def transform(self, X: Any) -> np.ndarray:
        """Robust z-scores against the healthy population.

        ``z = (x - location_) / scale_`` per column.

        Parameters
        ----------
        X : DataFrame or array-like, shape (n_samples, n_features)
            Columns are matched by name for data frames (extra columns are ignored),
            by position for arrays.

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
        return (arr - self.location_) / self.scale_

    def percentile(self, X: Any) -> np.ndarray:
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

        Returns
        -------
        ndarray, shape (n_samples, n_features)
            Percentiles in ``[0, 100]``; NaN where ``z`` is NaN.
        """
        z = self.transform(X)
        n = np.asarray(self.n_valid_, dtype=float)
        df = np.maximum(n - 1.0, 1.0)
        return 100.0 * student_t.cdf(z / np.sqrt(1.0 + 1.0 / np.maximum(n, 1.0)), df)

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

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the z-score columns (the fitted column names)."""
        check_is_fitted(self, "location_")
        return np.asarray(self.feature_names_in_, dtype=object)
