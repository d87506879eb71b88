"""Temporal smoothing of landmark tracks (``LandmarkParams.smoothing``).

Each point coordinate is filtered over time, independently within every run of
consecutive frames that have a face (filters restart after a no-face gap, so
nothing is interpolated across gaps and NaN frames stay NaN). A coordinate that is NaN
in every frame (z of a 2-D scheme such as iBUG-68) stays NaN and does not decide which
frames have a face.

- ``savgol``: Savitzky-Golay local polynomial smoothing (Savitzky & Golay 1964,
  Anal. Chem. 36(8):1627-1639, doi:10.1021/ac60214a047), window
  ``savgol_window`` frames, order ``savgol_polyorder``; zero-phase (no lag), keeps
  the height of brief expression peaks better than a moving average.
- ``one_euro``: the 1€ filter (Casiez, Roussel & Vogel 2012, CHI '12:2527-2530,
  doi:10.1145/2207676.2208639), an adaptive first-order low-pass whose cutoff rises
  with speed, ``fc = min_cutoff + beta * |dx/dt|`` (Hz, dx/dt in px/s); causal.
"""

from __future__ import annotations

import numpy as np

from palsyflow.config import LandmarkParams

__all__ = ["smooth_points"]


def _runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True values."""
    edges = np.diff(np.concatenate([[0], valid.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def _savgol(x: np.ndarray, window: int, order: int) -> np.ndarray:
    from scipy.signal import savgol_filter

    n = x.shape[0]
    w = min(window, n if n % 2 == 1 else n - 1)
    if w <= order:
        return x
    return savgol_filter(x, w, order, axis=0, mode="interp")


def _one_euro(x: np.ndarray, fps: float, min_cutoff: float, beta: float, d_cutoff: float) -> np.ndarray:
    def alpha(cutoff):
        tau = 1.0 / (2.0 * np.pi * cutoff)
        return 1.0 / (1.0 + tau * fps)

    out = np.empty_like(x)
    out[0] = x[0]
    dx_hat = np.zeros_like(x[0])
    a_d = alpha(d_cutoff)
    for t in range(1, x.shape[0]):
        dx = (x[t] - out[t - 1]) * fps
        dx_hat = a_d * dx + (1.0 - a_d) * dx_hat
        a = alpha(min_cutoff + beta * np.abs(dx_hat))
        out[t] = a * x[t] + (1.0 - a) * out[t - 1]
    return out


def smooth_points(points: np.ndarray, params: LandmarkParams, fps: float) -> np.ndarray:
    """Smooth landmark tracks over time with ``params.smoothing``.

    Parameters
    ----------
    points : ndarray, shape (n_frames, n_points, 3), pixels; NaN rows for no-face frames
        (any scheme; a coordinate NaN in all frames, e.g. z without depth, is left NaN)
    params : LandmarkParams
        ``smoothing`` and its ``savgol_*`` / ``one_euro_*`` settings.
    fps : float
        Frame rate, frames/s (1€ filter time base).

    Returns
    -------
    ndarray, same shape and dtype as ``points`` (the input itself when smoothing is
    ``"none"``); NaN frames unchanged.

    Raises
    ------
    ValueError
        If ``savgol_window`` is even or not larger than ``savgol_polyorder``.
    """
    if params.smoothing == "none" or points.shape[0] < 2:
        return points
    if params.smoothing == "savgol" and (
        params.savgol_window % 2 == 0 or params.savgol_window <= params.savgol_polyorder
    ):
        raise ValueError("savgol_window must be odd and larger than savgol_polyorder")
    absent = ~np.isfinite(points).any(axis=(0, 1))  # (3,): coordinate NaN in every frame
    if absent.all():
        return points.copy()
    work = points
    if absent.any():
        work = points.copy()
        work[..., absent] = 0.0
    out = work.copy()
    valid = np.isfinite(work).all(axis=(1, 2))
    for start, stop in _runs(valid):
        seg = work[start:stop].astype(np.float64)
        if params.smoothing == "savgol":
            seg = _savgol(seg, params.savgol_window, params.savgol_polyorder)
        else:
            seg = _one_euro(seg, fps, params.one_euro_min_cutoff_hz, params.one_euro_beta, params.one_euro_d_cutoff_hz)
        out[start:stop] = seg
    if absent.any():
        out[..., absent] = np.nan
    return out
