"""Voice measures of a sustained vowel, CPPS and AVQI, with Praat through parselmouth.

All analyses use Praat (Boersma & Weenink, Praat: doing phonetics by computer; through
Parselmouth, Jadoul, Thompson & de Boer 2018, doi:10.1016/j.wocn.2018.07.001) with the
standard settings of the Praat manual:

- pitch: ``To Pitch (cc)`` (Boersma 1993, "Accurate short-term analysis of the fundamental
  frequency and the harmonics-to-noise ratio of a sampled sound", IFA Proceedings 17:
  97-110), pitch floor ``f0_min`` (75 Hz) and ceiling ``f0_max`` (600 Hz), other
  settings at Praat's defaults (15 candidates, silence threshold 0.03, voicing threshold
  0.45, octave cost 0.01, octave-jump cost 0.35, voiced/unvoiced cost 0.14);
- glottal periods: ``To PointProcess (periodic, cc)`` with the same floor and ceiling;
- jitter: ``Get jitter (local)`` with period floor 0.0001 s, period ceiling 0.02 s,
  maximum period factor 1.3 (Praat manual, "PointProcess: Get jitter (local)...");
- shimmer: ``Get shimmer (local)`` and ``(local_dB)`` with 0.0001, 0.02, 1.3 and maximum
  amplitude factor 1.6 (Praat manual, "Voice 3. Shimmer");
- HNR: ``To Harmonicity (cc)`` time step 0.01 s, floor ``f0_min``, silence threshold 0.1,
  1 period per window, mean over the segment (Boersma 1993);
- CPPS: ``To PowerCepstrogram`` (pitch floor 60 Hz, time step 0.002 s, maximum frequency
  5000 Hz, pre-emphasis from 50 Hz) then ``Get CPPS`` without tilt subtraction before
  smoothing, smoothing 0.02 s in time and 0.001 s in quefrency (Hillenbrand & Houde 1996,
  doi:10.1044/jshr.3902.311, as the Praat manual reproduces it), peak search 60-330 Hz,
  tolerance 0.05, parabolic interpolation, trend line from 0.001 s to the end, straight
  line, robust fit (Hillenbrand, Cleveland & Erickson 1994, doi:10.1044/jshr.3704.769;
  the Praat implementation validated by Maryn & Weenink 2015,
  doi:10.1016/j.jvoice.2014.06.015).

Jitter and shimmer are defined for sustained vowels only; they are not valid on
connected speech and must not be reported there (issue 9). CPPS is valid on both.
Measures are taken on the pre-processed signal (:func:`palsyflow.speech.signal.preprocess`),
never on a spectrally noise-reduced one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import parselmouth
from parselmouth.praat import call

from palsyflow.speech.signal import resample

__all__ = [
    "VOICE_MEASURES",
    "VOICE_DEFAULTS",
    "VoiceDefaults",
    "AVQI_COEFFICIENTS",
    "voice_measures",
    "cpps_db",
    "avqi",
    "voiced_intervals",
    "stable_segment",
]

VOICE_MEASURES: tuple[str, ...] = (
    "speech_vowel_f0_mean_hz",
    "speech_vowel_f0_sd_hz",
    "speech_jitter_local_pct",
    "speech_shimmer_local_pct",
    "speech_shimmer_local_db",
    "speech_hnr_db",
    "speech_cpps_db",
    "speech_vowel_duration_s",
)


@dataclass(frozen=True)
class VoiceDefaults:
    """Default tunables of the voice analysis (one place).

    Attributes
    ----------
    f0_min, f0_max : float
        Pitch floor and ceiling, Hz (Praat's standard 75-600 Hz range; it covers adult
        male and female voices, so no per-sex setting is needed for the sustained /a/).
    trim_fraction : float
        Share of the voiced part dropped at EACH end before measuring (onset and offset
        are unstable; the stable middle 80 % remains).
    min_stable_s : float
        Shortest stable middle part on which perturbation measures are computed, s.
    avqi_vowel_s : float
        Length of the sustained vowel's middle part used by AVQI, s (Maryn et al. 2010: 3 s).
    avqi_min_part_s : float
        Minimum voiced duration of each AVQI input (vowel part, connected-speech voiced
        parts), s; with less, AVQI is ``None``.
    avqi_min_sr : int
        Minimum sampling rate for AVQI, Hz: its LTAS slope and tilt span 0-10 kHz.
    """

    f0_min: float = 75.0
    f0_max: float = 600.0
    trim_fraction: float = 0.10
    min_stable_s: float = 0.25
    avqi_vowel_s: float = 3.0
    avqi_min_part_s: float = 1.0
    avqi_min_sr: int = 20000


VOICE_DEFAULTS = VoiceDefaults()

_VOICING_SR = 16000  # sampling rate of the voicing decision, Hz

# Jitter/shimmer settings of the Praat manual ("Voice 2. Jitter", "Voice 3. Shimmer")
_PERIOD_FLOOR, _PERIOD_CEILING, _MAX_PERIOD_FACTOR, _MAX_AMPLITUDE_FACTOR = 0.0001, 0.02, 1.3, 1.6

# AVQI coefficients: AVQI = scale * (intercept + sum(c_i * x_i)).
# "02.03": Maryn, Corthals, Van Cauwenberge, Roy & De Bodt 2010,
#   doi:10.1016/j.jvoice.2008.12.014 (the equation of AVQI scripts v01-v02.xx).
# "03.01": Barsties & Maryn 2016, doi:10.1177/0003489416636131 (balanced 3 s vowel +
#   connected speech version).
AVQI_COEFFICIENTS: dict[str, dict[str, float]] = {
    "02.03": {
        "intercept": 3.295,
        "cpps": -0.111,
        "hnr": -0.073,
        "shimmer_pct": -0.213,
        "shimmer_db": 2.789,
        "slope": -0.032,
        "tilt": 0.077,
        "scale": 2.571,
    },
    "03.01": {
        "intercept": 4.152,
        "cpps": -0.177,
        "hnr": -0.006,
        "shimmer_pct": -0.037,
        "shimmer_db": 0.941,
        "slope": 0.01,
        "tilt": 0.093,
        "scale": 2.8902,
    },
}


def _finite(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _sound(y: np.ndarray, sr: int) -> parselmouth.Sound:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"expected a mono signal of shape (n,), got shape {y.shape}")
    if sr <= 0:
        raise ValueError(f"sr must be positive, got {sr}")
    return parselmouth.Sound(y.astype(np.float64), sampling_frequency=float(sr))


def _pitch(snd: parselmouth.Sound, f0_min: float, f0_max: float) -> parselmouth.Pitch:
    return call(snd, "To Pitch (cc)", 0.0, f0_min, 15, "no", 0.03, 0.45, 0.01, 0.35, 0.14, f0_max)


def voiced_intervals(
    y: np.ndarray,
    sr: int,
    *,
    f0_min: float = VOICE_DEFAULTS.f0_min,
    f0_max: float = VOICE_DEFAULTS.f0_max,
) -> list[tuple[float, float]]:
    """Voiced stretches of a signal by Praat's ``To Pitch (cc)``.

    Signals sampled above 16 kHz are first resampled to 16 kHz
    (:func:`palsyflow.speech.signal.resample`) for this voicing decision only. Contiguous voiced
    pitch frames are merged; each interval spans its first frame's
    centre minus half a time step to its last frame's centre plus half a time step.

    Parameters
    ----------
    y : ndarray, shape (n,)
        Signal, full scale 1.
    sr : int
        Sampling rate, Hz.
    f0_min, f0_max : float
        Pitch floor and ceiling, Hz.

    Returns
    -------
    list of (start_s, end_s)
        Seconds from the start of ``y``, in time order; empty when nothing is voiced.

    Raises
    ------
    ValueError
        If ``y`` is not 1-D or ``sr`` is not positive.
    """
    snd = _sound(y, sr)
    if snd.duration < 3.0 / f0_min:  # too short for one pitch analysis window
        return []
    if sr > _VOICING_SR:  # voicing decisions need no more than 16 kHz; saves time
        snd = parselmouth.Sound(resample(snd.values[0], int(sr), _VOICING_SR), sampling_frequency=float(_VOICING_SR))
    pitch = _pitch(snd, f0_min, f0_max)
    f0 = pitch.selected_array["frequency"]
    times = pitch.xs()
    dt = pitch.time_step
    out: list[tuple[float, float]] = []
    start = None
    for i, v in enumerate(f0 > 0):
        if v and start is None:
            start = i
        if start is not None and (not v or i == len(f0) - 1):
            last = i if v else i - 1
            out.append((max(0.0, times[start] - dt / 2), min(snd.duration, times[last] + dt / 2)))
            start = None
    return out


def stable_segment(
    intervals: list[tuple[float, float]],
    *,
    trim_fraction: float = VOICE_DEFAULTS.trim_fraction,
) -> tuple[float, float] | None:
    """The stable middle of the longest voiced interval of a sustained vowel.

    The first and last ``trim_fraction`` of the longest voiced interval are dropped
    (voice onset and offset are not steady phonation).

    Parameters
    ----------
    intervals : list of (start_s, end_s)
        Voiced intervals (:func:`voiced_intervals`).
    trim_fraction : float
        Share dropped at each end, in [0, 0.5).

    Returns
    -------
    (start_s, end_s) or None
        ``None`` when there is no voiced interval.

    Raises
    ------
    ValueError
        If ``trim_fraction`` is outside [0, 0.5).
    """
    if not 0 <= trim_fraction < 0.5:
        raise ValueError(f"trim_fraction must lie in [0, 0.5), got {trim_fraction}")
    if not intervals:
        return None
    a, b = max(intervals, key=lambda iv: iv[1] - iv[0])
    d = (b - a) * trim_fraction
    return a + d, b - d


def _part(snd: parselmouth.Sound, a: float, b: float) -> parselmouth.Sound:
    return call(snd, "Extract part", a, b, "rectangular", 1.0, "no")


def _cpps(snd: parselmouth.Sound) -> float | None:
    if snd.duration < 0.05:
        return None
    pc = call(snd, "To PowerCepstrogram", 60.0, 0.002, 5000.0, 50.0)
    v = call(pc, "Get CPPS", "no", 0.02, 0.001, 60.0, 330.0, 0.05, "Parabolic", 0.001, 0.0, "Straight", "Robust")
    return _finite(v)


def _perturbation(snd: parselmouth.Sound, f0_min: float, f0_max: float) -> dict[str, float | None]:
    pp = call(snd, "To PointProcess (periodic, cc)", f0_min, f0_max)
    jit = call(pp, "Get jitter (local)", 0.0, 0.0, _PERIOD_FLOOR, _PERIOD_CEILING, _MAX_PERIOD_FACTOR)
    args = (0.0, 0.0, _PERIOD_FLOOR, _PERIOD_CEILING, _MAX_PERIOD_FACTOR, _MAX_AMPLITUDE_FACTOR)
    shim = call([snd, pp], "Get shimmer (local)", *args)
    shim_db = call([snd, pp], "Get shimmer (local_dB)", *args)
    harm = call(snd, "To Harmonicity (cc)", 0.01, f0_min, 0.1, 1.0)
    hnr = call(harm, "Get mean", 0.0, 0.0)
    j, s = _finite(jit), _finite(shim)
    return {
        "jitter_pct": None if j is None else 100.0 * j,
        "shimmer_pct": None if s is None else 100.0 * s,
        "shimmer_db": _finite(shim_db),
        "hnr_db": _finite(hnr),
    }


def voice_measures(
    y: np.ndarray,
    sr: int,
    *,
    f0_min: float = VOICE_DEFAULTS.f0_min,
    f0_max: float = VOICE_DEFAULTS.f0_max,
    trim_fraction: float = VOICE_DEFAULTS.trim_fraction,
    min_stable_s: float = VOICE_DEFAULTS.min_stable_s,
) -> dict[str, float | None]:
    """Voice measures of one sustained-vowel trial.

    ``speech_vowel_duration_s`` is the total voiced time of the trial (a maximum
    phonation time proxy). All other measures are taken on the stable middle part
    (:func:`stable_segment`: the longest voiced interval without its first and last
    ``trim_fraction``), with the Praat settings of the module docstring:
    f0 mean and SD (``Get mean`` / ``Get standard deviation``, Hz, of the Pitch),
    jitter (local) in %, shimmer (local) in % and (local, dB), HNR (cc, mean, dB)
    and CPPS (dB).

    Parameters
    ----------
    y : ndarray, shape (n,)
        Pre-processed sustained vowel (:func:`palsyflow.speech.signal.preprocess`),
        full scale 1.
    sr : int
        Sampling rate, Hz.
    f0_min, f0_max : float
        Pitch floor and ceiling, Hz.
    trim_fraction : float
        Share of the voiced part dropped at each end.
    min_stable_s : float
        Stable parts shorter than this give ``None`` for every measure but the duration, s.

    Returns
    -------
    dict[str, float | None]
        Keys :data:`VOICE_MEASURES`; ``None`` where not computable (nothing voiced, a
        too short stable part, Praat undefined).

    Raises
    ------
    ValueError
        If ``y`` is not 1-D or ``sr`` is not positive.
    """
    snd = _sound(y, sr)
    out: dict[str, float | None] = dict.fromkeys(VOICE_MEASURES)
    intervals = voiced_intervals(y, sr, f0_min=f0_min, f0_max=f0_max)
    if not intervals:
        return out
    out["speech_vowel_duration_s"] = float(sum(b - a for a, b in intervals))
    seg = stable_segment(intervals, trim_fraction=trim_fraction)
    if seg is None or seg[1] - seg[0] < min_stable_s:
        return out
    part = _part(snd, *seg)
    pitch = _pitch(part, f0_min, f0_max)
    out["speech_vowel_f0_mean_hz"] = _finite(call(pitch, "Get mean", 0.0, 0.0, "Hertz"))
    out["speech_vowel_f0_sd_hz"] = _finite(call(pitch, "Get standard deviation", 0.0, 0.0, "Hertz"))
    pert = _perturbation(part, f0_min, f0_max)
    out["speech_jitter_local_pct"] = pert["jitter_pct"]
    out["speech_shimmer_local_pct"] = pert["shimmer_pct"]
    out["speech_shimmer_local_db"] = pert["shimmer_db"]
    out["speech_hnr_db"] = pert["hnr_db"]
    out["speech_cpps_db"] = _cpps(part)
    return out


def cpps_db(y: np.ndarray, sr: int) -> float | None:
    """Smoothed cepstral peak prominence of a signal, dB.

    Praat ``To PowerCepstrogram`` + ``Get CPPS`` with the settings of the module
    docstring (Hillenbrand et al. 1994, doi:10.1044/jshr.3704.769; Hillenbrand & Houde
    1996, doi:10.1044/jshr.3902.311; Maryn & Weenink 2015,
    doi:10.1016/j.jvoice.2014.06.015). Valid on sustained vowels and on connected
    speech (the whole recording is analysed; the pipeline's connected-speech name is
    ``speech_connected_cpps_db``).

    Parameters
    ----------
    y : ndarray, shape (n,)
        Pre-processed signal, full scale 1.
    sr : int
        Sampling rate, Hz.

    Returns
    -------
    float or None
        CPPS in dB; ``None`` for a signal shorter than 50 ms or when Praat is undefined.

    Raises
    ------
    ValueError
        If ``y`` is not 1-D or ``sr`` is not positive.
    """
    return _cpps(_sound(y, sr))


def avqi(
    vowel: np.ndarray,
    connected: np.ndarray,
    sr: int,
    *,
    version: str = "02.03",
    native_sr: int | None = None,
    f0_min: float = VOICE_DEFAULTS.f0_min,
    f0_max: float = VOICE_DEFAULTS.f0_max,
    vowel_s: float = VOICE_DEFAULTS.avqi_vowel_s,
    min_part_s: float = VOICE_DEFAULTS.avqi_min_part_s,
    min_sr: int = VOICE_DEFAULTS.avqi_min_sr,
) -> float | None:
    """Acoustic Voice Quality Index of a session (vowel + connected speech).

    Concatenation (Maryn et al. 2010, doi:10.1016/j.jvoice.2008.12.014): the voiced
    parts of the connected speech (:func:`voiced_intervals`, Praat pitch (cc) voicing;
    the original script uses its own voiced-segment detector) followed by the middle
    ``vowel_s`` seconds of the sustained vowel's longest voiced interval (all of it when
    shorter). On the concatenation: CPPS (:func:`cpps_db`), HNR (cc, dB), shimmer local
    (%) and local dB (settings of the module docstring), LTAS slope (``To Ltas`` 1 Hz
    bands, ``Get slope`` 0-1000 Hz vs 1000-10000 Hz, energy, dB) and LTAS tilt (the same
    slope of ``Compute trend line`` 1-10000 Hz). Then
    ``AVQI = scale * (intercept + cpps*CPPS + hnr*HNR + shimmer_pct*Shim + shimmer_db*ShdB
    + slope*Slope + tilt*Tilt)`` with :data:`AVQI_COEFFICIENTS` of ``version``:
    "02.03" = Maryn et al. 2010 (the equation of the v02.xx scripts), "03.01" = Barsties
    & Maryn 2016, doi:10.1177/0003489416636131. Higher = more dysphonic (0-10 scale).

    Parameters
    ----------
    vowel : ndarray, shape (n,)
        Pre-processed sustained vowel, full scale 1.
    connected : ndarray, shape (m,)
        Pre-processed connected speech (read text or sentences), same ``sr``.
    sr : int
        Sampling rate, Hz.
    version : {"02.03", "03.01"}
        Which published equation.
    native_sr : int, optional
        The lower native sampling rate of the two files, Hz; audio recorded below
        ``min_sr`` and resampled up has no energy near 10 kHz, which biases the LTAS
        slope, so it gives ``None`` too.
    f0_min, f0_max : float
        Pitch floor and ceiling, Hz.
    vowel_s : float
        Seconds of the vowel's middle used.
    min_part_s : float
        Each input must give at least this voiced duration, s.
    min_sr : int
        Minimum sampling rate, Hz (the LTAS spans up to 10 kHz).

    Returns
    -------
    float or None
        AVQI; ``None`` when ``sr`` or ``native_sr`` is below ``min_sr``, an input has too little voicing, or a
        component is undefined.

    Raises
    ------
    ValueError
        If an input is not 1-D, ``sr`` is not positive, or ``version`` is unknown.
    """
    if version not in AVQI_COEFFICIENTS:
        raise ValueError(f"unknown AVQI version {version!r}; known: {sorted(AVQI_COEFFICIENTS)}")
    v_snd, c_snd = _sound(vowel, sr), _sound(connected, sr)
    if min(sr, native_sr if native_sr is not None else sr) < min_sr:
        return None
    c_iv = voiced_intervals(connected, sr, f0_min=f0_min, f0_max=f0_max)
    v_iv = voiced_intervals(vowel, sr, f0_min=f0_min, f0_max=f0_max)
    if not c_iv or not v_iv or sum(b - a for a, b in c_iv) < min_part_s:
        return None
    a, b = max(v_iv, key=lambda iv: iv[1] - iv[0])
    if b - a < min_part_s:
        return None
    mid = (a + b) / 2
    half = min(vowel_s, b - a) / 2
    pieces = [c_snd.values[0, int(round(s * sr)) : int(round(e * sr))] for s, e in c_iv]
    pieces.append(v_snd.values[0, int(round((mid - half) * sr)) : int(round((mid + half) * sr))])
    snd = parselmouth.Sound(np.concatenate(pieces), sampling_frequency=float(sr))
    comp = _perturbation(snd, f0_min, f0_max)
    cpps = _cpps(snd)
    ltas = call(snd, "To Ltas", 1.0)
    slope = _finite(call(ltas, "Get slope", 0.0, 1000.0, 1000.0, 10000.0, "energy"))
    trend = call(ltas, "Compute trend line", 1.0, 10000.0)
    tilt = _finite(call(trend, "Get slope", 0.0, 1000.0, 1000.0, 10000.0, "energy"))
    x = {
        "cpps": cpps,
        "hnr": comp["hnr_db"],
        "shimmer_pct": comp["shimmer_pct"],
        "shimmer_db": comp["shimmer_db"],
        "slope": slope,
        "tilt": tilt,
    }
    if any(v is None for v in x.values()):
        return None
    c = AVQI_COEFFICIENTS[version]
    return float(c["scale"] * (c["intercept"] + sum(c[k] * float(v) for k, v in x.items())))
