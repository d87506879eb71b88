"""Speech measures of one recording (librosa): pitch, voicing, loudness, rate.

Facial weakness affects articulation (labial consonants, speaking rate) and, after
stroke, also phonation; these measures summarise a read or spontaneous speech task.

Measures (``None`` whenever they cannot be computed, never an exception)
    speech_f0_median_hz
        Median fundamental frequency over voiced frames, Hz. f0 by probabilistic
        YIN (pYIN; Mauch & Dixon 2014, ICASSP, doi:10.1109/ICASSP.2014.6853678) in
        ``[params.f0_min_hz, params.f0_max_hz]``.
    speech_f0_sd_st
        Standard deviation of f0 over voiced frames in semitones re the median,
        ``12 * log2(f0 / median)`` (intonation range).
    speech_voiced_fraction
        Fraction of all analysis frames that pYIN marks voiced, 0-1.
    speech_energy_db_mean, speech_energy_db_sd
        Mean and SD of frame RMS level in dB re full scale (``20 log10 RMS``) over
        **speech frames**: frames within ``params.speech_active_db`` dB of the
        99th percentile of frame levels (and above -100 dBFS); the silence
        threshold of de Jong & Wempe 2009 (doi:10.3758/BRM.41.2.385).
    speech_rate_hz
        Speaking-rate proxy: syllable nuclei per second of speech time. Nuclei are
        peaks of the smoothed RMS-dB envelope that rise at least
        ``params.syllable_prominence_db`` dB above the surrounding dips, are at
        least ``params.syllable_min_gap_s`` apart and lie in speech frames (after
        de Jong & Wempe 2009, Behav Res Methods 41(2):385,
        doi:10.3758/BRM.41.2.385; unlike them, a nucleus need not be voiced itself,
        because pYIN's voicing decision misses many stressed syllables). Speech
        time = number of speech frames x hop. ``None`` when no frame is voiced
        (noise is not speech).
    speech_active_s
        Speech time used above, seconds.

Frames: ``params.frame_length`` samples, hop ``params.hop_length`` samples.
"""

from __future__ import annotations

import numpy as np

from palsyflow.config import FeatureParams
from palsyflow.measures.registry import SPEECH_MEASURES  # keys of speech_features' result, in order

_FLOOR_DB = -100.0


def empty_speech() -> dict[str, float | None]:
    """All speech measures set to ``None``."""
    return dict.fromkeys(SPEECH_MEASURES)


def _f(v: float) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def speech_features(y: np.ndarray, sr: int, params: FeatureParams | None = None) -> dict[str, float | None]:
    """Pitch, voicing, loudness and rate measures of a mono signal.

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
        Mono audio, full scale = 1 (e.g. :func:`palsyflow.features.audio.load_audio`).
        Non-finite samples are treated as 0.
    sr : int
        Sampling rate, Hz.
    params : FeatureParams, optional
        ``f0_min_hz``, ``f0_max_hz``, ``frame_length``, ``hop_length``,
        ``speech_active_db``, ``syllable_prominence_db``, ``syllable_min_gap_s``.

    Returns
    -------
    dict of str to float or None
        Keys :data:`SPEECH_MEASURES` (definitions and sources in the module
        docstring). A signal shorter than one frame or digital silence gives all
        ``None``; an unvoiced signal (noise) gives ``None`` f0 statistics, a low
        ``speech_voiced_fraction`` and ``speech_rate_hz`` 0.

    Raises
    ------
    ValueError
        If ``y`` is not one-dimensional or ``sr`` is not positive.
    """
    import librosa  # heavy import (numba); keep module import cheap
    from scipy.signal import find_peaks

    params = params or FeatureParams()
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"y must be mono, shape (n_samples,), got {y.shape}")
    if sr <= 0:
        raise ValueError(f"sr must be positive, got {sr}")
    out = empty_speech()
    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    n_fft, hop = int(params.frame_length), int(params.hop_length)
    if y.size < n_fft or not np.any(y):
        return out

    # -- loudness ----------------------------------------------------------
    rms = librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop, center=True)[0]
    with np.errstate(divide="ignore"):
        db = np.maximum(20.0 * np.log10(rms), _FLOOR_DB)
    active = (db > _FLOOR_DB) & (db >= np.percentile(db, 99) - params.speech_active_db)
    if active.any():
        out["speech_energy_db_mean"] = _f(db[active].mean())
        out["speech_energy_db_sd"] = _f(db[active].std())
    active_s = active.sum() * hop / sr
    out["speech_active_s"] = _f(active_s)

    # -- pitch and voicing (pYIN) -------------------------------------------
    f0, voiced, _ = librosa.pyin(
        y,
        fmin=params.f0_min_hz,
        fmax=params.f0_max_hz,
        sr=sr,
        frame_length=n_fft,
        hop_length=hop,
        center=True,
    )
    voiced = np.asarray(voiced, dtype=bool) & np.isfinite(f0)
    out["speech_voiced_fraction"] = _f(voiced.mean()) if voiced.size else None
    if voiced.any():
        f0v = f0[voiced]
        med = float(np.median(f0v))
        out["speech_f0_median_hz"] = _f(med)
        out["speech_f0_sd_st"] = _f(np.std(12.0 * np.log2(f0v / med)))

    # -- syllable nuclei ----------------------------------------------------
    if active_s > 0 and voiced.any():
        env = np.convolve(db, np.ones(3) / 3.0, mode="same")  # ~3-frame smoothing
        gap = max(1, int(round(params.syllable_min_gap_s * sr / hop)))
        peaks, _ = find_peaks(env, prominence=params.syllable_prominence_db, distance=gap)
        nuclei = peaks[active[peaks]]
        out["speech_rate_hz"] = _f(nuclei.size / active_s)
    return out
