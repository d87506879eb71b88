"""The quality gate of speech recordings: bad audio gets a status and a reason, never numbers.

Status codes (every speech module uses these names, :data:`STATUSES`):

``"ok"``, ``"digital_silence"``, ``"too_short"``, ``"low_sample_rate"``, ``"clipped"``,
``"noise_only"``, ``"low_snr"``, ``"no_speech"``.

:func:`assess` checks them in this order and reports the first that applies
(precedence): a recording with nothing in it (digital silence) or too little of it
(too short) cannot be judged further; a telephone band (low sample rate) and clipping
are properties of the capture chain that invalidate every measure whatever the content;
then the content: stationary noise without speech, then whether the speech stands
far enough above the noise (low SNR: in heavy noise voicing is lost, so the SNR, not
"no speech", is the reason), and last whether anything voiced is there at all. For the ``silence`` task (room tone)
a quiet, voiceless signal is expected: only ``digital_silence`` and ``too_short`` apply.

Thresholds are keyword arguments of :func:`assess` with defaults in
:data:`QUALITY_DEFAULTS` (one place).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import signal as sps

from palsyflow.config import FeatureParams
from palsyflow.speech.signal import Preprocessed, estimate_snr_db, frame_power, preprocess_detailed
from palsyflow.speech.voice import voiced_intervals

__all__ = [
    "OK",
    "DIGITAL_SILENCE",
    "TOO_SHORT",
    "LOW_SAMPLE_RATE",
    "CLIPPED",
    "NOISE_ONLY",
    "LOW_SNR",
    "NO_SPEECH",
    "STATUSES",
    "TASK_KINDS",
    "QUALITY_DEFAULTS",
    "QualityThresholds",
    "AudioQuality",
    "assess",
    "highband_level_db",
]

OK = "ok"
DIGITAL_SILENCE = "digital_silence"
TOO_SHORT = "too_short"
LOW_SAMPLE_RATE = "low_sample_rate"
CLIPPED = "clipped"
NOISE_ONLY = "noise_only"
LOW_SNR = "low_snr"
NO_SPEECH = "no_speech"
#: the file has no decodable audio track (set by the caller that decodes it, not by :func:`assess`)
NO_AUDIO = "no_audio"

#: Every status, in the precedence order of :func:`assess` (after ``ok``).
STATUSES: tuple[str, ...] = (OK, DIGITAL_SILENCE, TOO_SHORT, LOW_SAMPLE_RATE, CLIPPED, NOISE_ONLY, LOW_SNR, NO_SPEECH, NO_AUDIO)

TASK_KINDS: tuple[str, ...] = ("silence", "vowel", "ddk", "connected")


@dataclass(frozen=True)
class QualityThresholds:
    """Thresholds of the quality gate (the per-kind SNR and duration minima are tuned in
    ``params.yaml``, ``features.speech_min_snr_db`` and ``speech_min_duration_s``).

    Attributes
    ----------
    digital_silence_dbfs : float
        Peak level below which a recording is digital silence, dBFS (the 16-bit
        quantisation step is -90.3 dBFS; -80 dBFS also catches dithered zeros).
    min_duration_s : dict
        Minimum duration per task kind, s (default ``FeatureParams().speech_min_duration_s``): a sustained vowel >= 1 s (perturbation
        measures need many cycles; the stable middle 80 % is analysed), DDK >= 2 s
        (several syllable intervals for a rate and a CV), connected speech >= 1 s,
        silence >= 1 s (enough frames for a noise level).
    min_native_sr : int
        Lowest acceptable native sampling rate, Hz (the pipeline analyses at 16 kHz).
    highband_min_db : float
        Level of the 4.6-7.5 kHz band relative to the 0.3-3.4 kHz band below which the
        audio is band-limited to a telephone band (< ~4 kHz), dB.
    clip_level : float
        |sample| at or above this fraction of full scale counts as clipped.
    max_clipped_fraction : float
        Largest acceptable share of clipped samples.
    noise_max_voiced_fraction : float
        Noise only: at most this share of the recording voiced (Praat pitch (cc))...
    noise_max_range_db : float
        ...and a frame-level dynamic range (95th minus 10th percentile of 50 ms frame
        levels) below this, dB: stationary noise, no syllabic modulation.
    min_voiced_s : float
        Less voiced time than this is ``no_speech``, s.
    min_snr_db : dict
        Minimum SNR per task kind, dB (default ``FeatureParams().speech_min_snr_db``). Vowel 30 dB: below it perturbation measures
        (jitter, shimmer, HNR) are unreliable (Deliyski, Shaw & Evans 2005,
        doi:10.1159/000082562, who recommend > 30 dB, ideally > 42 dB). DDK and
        connected speech 15 dB (project choice: the rate, pause and recognition
        measures tolerate more noise; checked by the degradation benchmark).
    """

    digital_silence_dbfs: float = -80.0
    min_duration_s: dict[str, float] = field(default_factory=lambda: dict(FeatureParams().speech_min_duration_s))
    min_native_sr: int = 16000
    highband_min_db: float = -55.0
    clip_level: float = 0.99
    max_clipped_fraction: float = 0.01
    noise_max_voiced_fraction: float = 0.3
    noise_max_range_db: float = 4.0
    min_voiced_s: float = 0.3
    min_snr_db: dict[str, float] = field(default_factory=lambda: dict(FeatureParams().speech_min_snr_db))


QUALITY_DEFAULTS = QualityThresholds()

_HIGH_BAND = (4600.0, 7500.0)
_LOW_BAND = (300.0, 3400.0)


@dataclass(frozen=True)
class AudioQuality:
    """The verdict of the quality gate on one recording.

    Attributes
    ----------
    status : str
        One of :data:`STATUSES`.
    reason : str or None
        One sentence without the file name, naming the measured value and the limit;
        ``None`` when ``status == "ok"``.
    snr_db : float or None
        Estimated SNR, dB (:func:`palsyflow.speech.signal.estimate_snr_db`); ``None``
        when not estimable (e.g. a vowel without pauses and no silence recording) or not
        reached by the checks.
    native_sr : int or None
        The file's native sampling rate, Hz, when given.
    duration_s : float
        Duration, s.
    clipped_fraction : float
        Share of samples at or above ``clip_level`` of full scale.
    peak_dbfs : float
        Peak level, dBFS (``-inf`` for all-zero audio).
    voiced_fraction : float or None
        Share of the duration voiced by Praat pitch (cc); ``None`` when not computed.
    highband_db : float or None
        4.6-7.5 kHz band level re 0.3-3.4 kHz, dB; ``None`` when not computed.
    hum_hz : float or None
        Mains hum found by pre-processing (50 or 60 Hz), ``None`` when none.
    """

    status: str
    reason: str | None
    snr_db: float | None
    native_sr: int | None
    duration_s: float
    clipped_fraction: float
    peak_dbfs: float
    voiced_fraction: float | None = None
    highband_db: float | None = None
    hum_hz: float | None = None

    @property
    def ok(self) -> bool:
        """Whether measures may be reported."""
        return self.status == OK

    def as_dict(self) -> dict[str, object]:
        """Plain dict of the fields (for JSON)."""
        return asdict(self)


def highband_level_db(y: np.ndarray, sr: int) -> float | None:
    """Level of the 4.6-7.5 kHz band relative to the 0.3-3.4 kHz band, dB.

    Welch power spectral density (1024-point Hann segments). Speech recorded wideband
    keeps energy above 4.6 kHz (fricatives, the upper harmonics of vowels); telephone
    audio (8 kHz sampling, 0.3-3.4 kHz passband, ITU-T G.712) resampled to 16 kHz has
    essentially none.

    Parameters
    ----------
    y : ndarray, shape (n,)
        Signal, full scale 1.
    sr : int
        Sampling rate, Hz.

    Returns
    -------
    float or None
        dB; ``None`` when ``sr`` is too low for the upper band or the signal is too
        short or has no energy in the lower band.
    """
    y = np.asarray(y, dtype=np.float64)
    if sr / 2 <= _HIGH_BAND[1] or y.size < 1024:
        return None
    f, p = sps.welch(y - y.mean(), fs=sr, nperseg=1024)
    lo = p[(f >= _LOW_BAND[0]) & (f <= _LOW_BAND[1])].mean()
    hi = p[(f >= _HIGH_BAND[0]) & (f <= _HIGH_BAND[1])].mean()
    if lo <= 0:
        return None
    return float(10 * np.log10(max(hi, 1e-30) / lo))


def _level_range_db(y: np.ndarray, sr: int) -> float:
    p = frame_power(y, sr, frame_s=0.05, hop_s=0.02)
    if p.size < 2:
        return 0.0
    db = 10 * np.log10(p + 1e-20)
    return float(np.percentile(db, 95) - np.percentile(db, 10))


def assess(
    y: np.ndarray,
    sr: int,
    task_kind: str,
    *,
    native_sr: int | None = None,
    silence: np.ndarray | None = None,
    thresholds: QualityThresholds = QUALITY_DEFAULTS,
    **overrides: object,
) -> AudioQuality:
    """Judge whether a recording can be measured, and why not.

    Checks, in order (the first failing gives the status): ``digital_silence`` (peak
    below ``digital_silence_dbfs``), ``too_short`` (duration below
    ``min_duration_s[task_kind]``), ``low_sample_rate`` (``native_sr`` or ``sr`` below
    ``min_native_sr``, or :func:`highband_level_db` below ``highband_min_db``),
    ``clipped`` (share of ``|y| >= clip_level`` above ``max_clipped_fraction``),
    ``noise_only`` (voiced share <= ``noise_max_voiced_fraction`` and frame-level range
    < ``noise_max_range_db``), ``low_snr`` (estimated SNR below
    ``min_snr_db[task_kind]``; an SNR that cannot be estimated does not fail),
    ``no_speech`` (voiced time < ``min_voiced_s``). For ``task_kind == "silence"`` only the first two apply.
    Levels and clipping are measured on ``y`` as decoded; voicing, hum and SNR on the
    pre-processed signal (:func:`palsyflow.speech.signal.preprocess_detailed`).

    Parameters
    ----------
    y : ndarray, shape (n,)
        Decoded mono signal, full scale 1 (not pre-processed).
    sr : int
        Its sampling rate, Hz.
    task_kind : {"silence", "vowel", "ddk", "connected"}
        ``connected`` = sentences, passage, speech.
    native_sr : int, optional
        The file's native sampling rate before resampling, Hz
        (as returned by :func:`palsyflow.features.audio.load_audio_with_rate`).
    silence : ndarray, shape (m,), optional
        The session's silence recording at the same ``sr`` (decoded, not pre-processed),
        for the SNR; without it the SNR comes from the pauses of ``y``.
    thresholds : QualityThresholds
        All thresholds; defaults :data:`QUALITY_DEFAULTS`.
    **overrides
        Single thresholds by field name (e.g. ``max_clipped_fraction=0.05``), applied on
        top of ``thresholds``.

    Returns
    -------
    AudioQuality

    Raises
    ------
    ValueError
        If ``y`` is not 1-D, ``sr`` is not positive, ``task_kind`` is unknown or an
        override names no threshold.
    """
    return _assess(y, sr, task_kind, native_sr, silence, thresholds, overrides, {})


def assess_detailed(
    y: np.ndarray,
    sr: int,
    task_kind: str,
    *,
    native_sr: int | None = None,
    silence: np.ndarray | None = None,
    thresholds: QualityThresholds = QUALITY_DEFAULTS,
    **overrides: object,
) -> tuple[AudioQuality, Preprocessed | None]:
    """:func:`assess`, and the pre-processed signal it judged voicing and SNR on.

    The analysis measures that same signal, so it is computed once per recording.

    Returns
    -------
    quality : AudioQuality
        As :func:`assess`.
    preprocessed : Preprocessed or None
        :func:`palsyflow.speech.signal.preprocess_detailed` of ``y``; ``None`` when the
        gate decided before pre-processing (digital silence, too short, low sample
        rate, clipped, or a ``silence`` task).

    Raises
    ------
    ValueError
        As :func:`assess`.
    """
    keep: dict[str, Preprocessed] = {}
    q = _assess(y, sr, task_kind, native_sr, silence, thresholds, overrides, keep)
    return q, keep.get("pre")


def _assess(
    y: np.ndarray,
    sr: int,
    task_kind: str,
    native_sr: int | None,
    silence: np.ndarray | None,
    thresholds: QualityThresholds,
    overrides: dict,
    keep: dict,
) -> AudioQuality:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"expected a mono signal of shape (n,), got shape {y.shape}")
    if sr <= 0:
        raise ValueError(f"sr must be positive, got {sr}")
    if task_kind not in TASK_KINDS:
        raise ValueError(f"unknown task kind {task_kind!r}; known: {TASK_KINDS}")
    if overrides:
        unknown = set(overrides) - set(QualityThresholds.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown quality thresholds: {sorted(unknown)}")
        thresholds = QualityThresholds(**{**asdict(thresholds), **overrides})  # type: ignore[arg-type]
    t = thresholds
    x = y.astype(np.float64)
    duration = x.size / sr
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    peak_dbfs = 20 * math.log10(peak) if peak > 0 else float("-inf")
    clipped = float(np.mean(np.abs(x) >= t.clip_level)) if x.size else 0.0
    base = dict(native_sr=native_sr, duration_s=duration, clipped_fraction=clipped, peak_dbfs=peak_dbfs)

    def verdict(status: str, reason: str | None, **extra: object) -> AudioQuality:
        return AudioQuality(status=status, reason=reason, **{"snr_db": None, **base, **extra})  # type: ignore[arg-type]

    if peak_dbfs < t.digital_silence_dbfs:
        return verdict(
            DIGITAL_SILENCE,
            f"the peak level is {peak_dbfs:.1f} dBFS, below {t.digital_silence_dbfs:g} dBFS: digital silence",
        )
    min_dur = t.min_duration_s[task_kind]
    if duration < min_dur:
        return verdict(
            TOO_SHORT, f"the recording lasts {duration:.2f} s (minimum {min_dur:g} s for a {task_kind} task)"
        )
    if task_kind == "silence":
        return verdict(OK, None)
    rate = native_sr if native_sr is not None else sr
    if min(rate, sr) < t.min_native_sr:
        return verdict(
            LOW_SAMPLE_RATE, f"the sample rate is {min(rate, sr)} Hz (minimum {t.min_native_sr} Hz)"
        )
    highband = highband_level_db(x, sr)
    if highband is not None and highband < t.highband_min_db:
        return verdict(
            LOW_SAMPLE_RATE,
            f"the 4.6-7.5 kHz band lies at {highband:.1f} dB re the 0.3-3.4 kHz band "
            f"(limit {t.highband_min_db:g} dB): a telephone band",
            highband_db=highband,
        )
    if clipped > t.max_clipped_fraction:
        return verdict(
            CLIPPED,
            f"{100 * clipped:.1f}% of samples are clipped (limit {100 * t.max_clipped_fraction:g}%)",
            highband_db=highband,
        )
    pre = preprocess_detailed(x, sr)
    keep["pre"] = pre
    xp = pre.signal
    voiced_s = float(sum(b - a for a, b in voiced_intervals(xp, sr)))
    voiced_fraction = voiced_s / duration
    level_range = _level_range_db(xp, sr)
    extra = dict(voiced_fraction=voiced_fraction, highband_db=highband, hum_hz=pre.hum_hz)
    if voiced_fraction <= t.noise_max_voiced_fraction and level_range < t.noise_max_range_db:
        return verdict(
            NOISE_ONLY,
            f"only {100 * voiced_fraction:.0f}% of the recording is voiced and its level varies by "
            f"{level_range:.1f} dB (limit {t.noise_max_range_db:g} dB): noise without speech",
            **extra,
        )
    sil = None
    if silence is not None:
        sil = preprocess_detailed(np.asarray(silence, dtype=np.float64), sr).signal
    snr = estimate_snr_db(xp, sr, silence=sil)
    min_snr = t.min_snr_db[task_kind]
    if snr is not None and snr < min_snr:
        return verdict(
            LOW_SNR,
            f"the signal-to-noise ratio is {snr:.1f} dB (minimum {min_snr:g} dB for a {task_kind} task)",
            snr_db=snr,
            **extra,
        )
    if voiced_s < t.min_voiced_s:
        return verdict(
            NO_SPEECH, f"only {voiced_s:.2f} s is voiced (minimum {t.min_voiced_s:g} s)", snr_db=snr, **extra
        )
    return verdict(OK, None, snr_db=snr, **extra)
