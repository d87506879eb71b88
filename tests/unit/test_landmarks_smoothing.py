"""Temporal smoothing reduces jitter, keeps gaps, and restarts after them."""

from __future__ import annotations

import numpy as np
import pytest

from palsyflow.config import LandmarkParams
from palsyflow.landmarks.smoothing import smooth_points


def noisy_track(n=100, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 25.0
    clean = np.zeros((n, 478, 3))
    clean[..., 0] = 100 + 10 * np.sin(2 * np.pi * 0.5 * t)[:, None]  # slow 0.5 Hz motion
    clean[..., 1] = 80.0
    return clean, clean + rng.normal(0, 1.0, clean.shape)


@pytest.mark.parametrize("method", ["savgol", "one_euro"])
def test_smoothing_reduces_jitter(method):
    clean, noisy = noisy_track()
    out = smooth_points(noisy, LandmarkParams(smoothing=method), fps=25.0)
    err_in = np.abs(noisy - clean)[10:-10].mean()
    err_out = np.abs(out - clean)[10:-10].mean()
    assert err_out < 0.8 * err_in


@pytest.mark.parametrize("method", ["savgol", "one_euro"])
def test_gaps_stay_nan_and_are_not_bridged(method):
    clean, noisy = noisy_track(40)
    noisy[20:23] = np.nan
    noisy[23:, :, 0] += 50.0  # a jump after the gap must not leak backwards
    out = smooth_points(noisy, LandmarkParams(smoothing=method), fps=25.0)
    assert np.isnan(out[20:23]).all() and np.isfinite(out[:20]).all() and np.isfinite(out[23:]).all()
    assert np.abs(out[:20, :, 0] - clean[:20, :, 0]).max() < 5.0


def test_none_is_identity_and_bad_window_rejected():
    _, noisy = noisy_track(10)
    assert smooth_points(noisy, LandmarkParams(), fps=25.0) is noisy
    with pytest.raises(ValueError):
        smooth_points(noisy, LandmarkParams(smoothing="savgol", savgol_window=6), fps=25.0)


@pytest.mark.parametrize("method", ["savgol", "one_euro"])
def test_a_2d_track_with_nan_depth_is_smoothed_in_x_and_y(method):
    """A scheme without depth (dlib, z NaN in every frame) is smoothed like any other."""
    clean, noisy = noisy_track()
    clean, noisy = clean[:, :68].copy(), noisy[:, :68].copy()
    noisy[..., 2] = np.nan
    noisy[40:43] = np.nan  # a no-face gap
    out = smooth_points(noisy, LandmarkParams(smoothing=method), fps=25.0)
    assert np.isnan(out[..., 2]).all() and np.isnan(out[40:43]).all()
    assert np.isfinite(out[:40, :, :2]).all() and np.isfinite(out[43:, :, :2]).all()
    err_in = np.abs(noisy - clean)[10:38, :, :2].mean()
    err_out = np.abs(out - clean)[10:38, :, :2].mean()
    assert err_out < 0.8 * err_in


def test_a_track_without_any_face_stays_nan():
    _, noisy = noisy_track(10)
    noisy[:] = np.nan
    out = smooth_points(noisy, LandmarkParams(smoothing="savgol"), fps=25.0)
    assert out is not noisy and np.isnan(out).all()
