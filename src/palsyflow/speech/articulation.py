"""Articulation measures of connected speech and of diadochokinetic (DDK) tasks.

Connected speech (sentences, passage)
    Syllable nuclei after de Jong & Wempe 2009 (Behav Res Methods 41(2):385-390,
    doi:10.3758/BRM.41.2.385), computed with Praat through parselmouth (Jadoul,
    Thompson & de Boer 2018, J Phonetics 71:1-15, doi:10.1016/j.wocn.2018.07.001):
    a nucleus is a peak of the intensity contour that is loud enough, stands out from
    the dip that follows it and is voiced. Pauses are the silent intervals of Praat's
    ``To TextGrid (silences)`` between the first and the last sounding stretch. From
    them: speech rate, articulation rate, pause statistics, phonation time, and the
    median and spread of f0 (the spread in semitones is the monopitch measure of
    Rusz et al. 2011, J Acoust Soc Am 129(1):350-367, doi:10.1121/1.3514381).

DDK (``ddk_pa``, ``ddk_ta``, ``ddk_ka``, ``ddk_pataka``)
    In a DDK train every syllable starts with a stop closure, so the intensity falls
    deeply between syllables (Kent, Kent & Rosenbek 1987, J Speech Hear Disord
    52(4):367-387, doi:10.1044/jshd.5204.367). Syllables are the deep-dip-separated
    peaks of a finer intensity contour, each timed at its onset (the steepest rise
    before the peak, the stop release). Rate and the coefficient of variation of the
    onset-to-onset intervals follow the automatic DDK analyses compared by Tanchip
    et al. 2022 (J Speech Lang Hear Res 65(3), "Validating automatic
    diadochokinesis analysis methods across dysarthria severity and syllable task in
    amyotrophic lateral sclerosis").

Every tunable is a keyword argument whose default is one of the module constants
below (the one place they are set).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import parselmouth
from parselmouth.praat import call
from scipy.signal import find_peaks

# ---------------------------------------------------------------------------
# Tunables (defaults of the keyword arguments; de Jong & Wempe 2009's values)
# ---------------------------------------------------------------------------
#: Praat intensity minimum pitch, Hz (de Jong & Wempe 2009: 50 Hz).
INTENSITY_MIN_PITCH_HZ = 50.0
#: Silence threshold re the 0.99 quantile of intensity, dB (de Jong & Wempe: -25).
SILENCE_DB = -25.0
#: Minimum fall of intensity after a peak for it to be a nucleus, dB (de Jong & Wempe: 2).
MIN_DIP_DB = 2.0
#: Shortest silent interval that counts as a pause, s (de Jong & Wempe: 0.3).
MIN_PAUSE_S = 0.3
#: Shortest sounding interval of the silence TextGrid, s (de Jong & Wempe: 0.1).
MIN_SOUNDING_S = 0.1
#: Praat ``To Pitch`` floor and ceiling, Hz (the Praat manual's standard range).
PITCH_FLOOR_HZ = 75.0
PITCH_CEILING_HZ = 600.0
#: Second-pass f0 range for the f0 statistics: floor = 0.75 x Q1, ceiling = 1.5 x Q3 of
#: the first pass (De Looze & Hirst 2008; Hirst 2011); removes octave errors.
F0_FLOOR_Q1_FACTOR = 0.75
F0_CEILING_Q3_FACTOR = 1.5
#: DDK intensity minimum pitch, Hz: a 32 ms effective window resolves 8 syll/s trains.
DDK_MIN_PITCH_HZ = 100.0
#: DDK intensity time step, s (finer than Praat's auto step, for onset timing).
DDK_TIME_STEP_S = 0.002
#: DDK silence threshold re the 0.99 quantile of intensity, dB.
DDK_SILENCE_DB = -25.0
#: DDK minimum prominence of a syllable peak (scipy: over the higher of its two flanking minima), dB.
DDK_MIN_DIP_DB = 6.0
#: DDK shortest onset-to-onset interval, s (12.5 syll/s, above human DDK rates).
DDK_MIN_INTERVAL_S = 0.08
#: DDK fewest syllables for rate and CV (two intervals).
DDK_MIN_SYLLABLES = 3

#: Keys of :func:`connected_speech_measures`, in order.
CONNECTED_MEASURES: tuple[str, ...] = (
    "speech_rate_syl_s",
    "speech_articulation_rate_syl_s",
    "speech_pause_count",
    "speech_pause_ratio",
    "speech_pause_mean_s",
    "speech_phonation_time_s",
    "speech_f0_median_hz",
    "speech_f0_sd_st",
)

#: DDK task name -> the syllable tag used in its measure names.
DDK_TASKS: dict[str, str] = {"ddk_pa": "pa", "ddk_ta": "ta", "ddk_ka": "ka", "ddk_pataka": "pataka"}


def ddk_measure_names(task: str) -> tuple[str, ...]:
    """Keys of :func:`ddk_measures` for one DDK task.

    Parameters
    ----------
    task : str
        One of ``ddk_pa``, ``ddk_ta``, ``ddk_ka``, ``ddk_pataka``.

    Returns
    -------
    tuple of str
        ``speech_ddk_<syll>_rate_syl_s``, ``speech_ddk_<syll>_cv``, ``speech_ddk_<syll>_count``.

    Raises
    ------
    ValueError
        If ``task`` is not a DDK task.
    """
    if task not in DDK_TASKS:
        raise ValueError(f"not a DDK task: {task!r} (expected one of {sorted(DDK_TASKS)})")
    s = DDK_TASKS[task]
    return (f"speech_ddk_{s}_rate_syl_s", f"speech_ddk_{s}_cv", f"speech_ddk_{s}_count")


#: Keys of :func:`ddk_measures` over all four DDK tasks, in task order.
DDK_MEASURES: tuple[str, ...] = tuple(n for t in DDK_TASKS for n in ddk_measure_names(t))


@dataclass(frozen=True)
class Nuclei:
    """Syllable nuclei and the speech/pause segmentation of one recording.

    Attributes
    ----------
    times_s : ndarray, shape (n_nuclei,)
        Times of the syllable nuclei, s from the start of the signal, increasing.
    speech : ndarray, shape (n_segments, 2)
        Sounding intervals ``[start, end]``, s.
    pauses : ndarray, shape (n_pauses, 2)
        Silent intervals of at least the minimum pause between the first and the last
        sounding interval (leading and trailing silence excluded), s.
    threshold_db : float or None
        Intensity threshold used (dB, Praat's intensity scale); ``None`` when the
        signal gave no intensity contour.
    """

    times_s: np.ndarray
    speech: np.ndarray
    pauses: np.ndarray
    threshold_db: float | None

    @property
    def phonation_time_s(self) -> float:
        """Total duration of the sounding intervals, s."""
        return float(np.sum(self.speech[:, 1] - self.speech[:, 0])) if len(self.speech) else 0.0

    @property
    def span_s(self) -> float:
        """From the start of the first to the end of the last sounding interval, s."""
        return float(self.speech[-1, 1] - self.speech[0, 0]) if len(self.speech) else 0.0


def _empty_nuclei(threshold: float | None = None) -> Nuclei:
    return Nuclei(np.zeros(0), np.zeros((0, 2)), np.zeros((0, 2)), threshold)


def _sound(y: np.ndarray, sr: int) -> parselmouth.Sound:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be mono, shape (n_samples,), got {y.shape}")
    if sr <= 0:
        raise ValueError(f"sr must be positive, got {sr}")
    y = np.nan_to_num(y.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return parselmouth.Sound(y, sampling_frequency=float(sr))


def _intensity(snd: parselmouth.Sound, min_pitch: float, time_step: float = 0.0) -> parselmouth.Intensity | None:
    """Praat ``To Intensity`` (time step 0 = Praat's auto, mean subtracted); ``None`` if too short or silent."""
    if not np.any(snd.values):
        return None
    try:
        return snd.to_intensity(minimum_pitch=min_pitch, time_step=time_step or None, subtract_mean=True)
    except parselmouth.PraatError:
        return None


def _threshold(db: np.ndarray, silence_db: float) -> float:
    """De Jong & Wempe's silence threshold: 0.99 quantile + ``silence_db``, not below the minimum."""
    return float(max(np.quantile(db, 0.99) + silence_db, db.min()))


def _sounding_intervals(intensity: parselmouth.Intensity, threshold: float, min_pause_s: float, min_sounding_s: float) -> np.ndarray:
    """Sounding intervals of Praat's ``To TextGrid (silences)``, shape (n, 2), s."""
    rel = threshold - call(intensity, "Get maximum", 0, 0, "Parabolic")  # threshold re the maximum
    with warnings.catch_warnings():  # Praat warns when loud and soft parts differ little (noise)
        warnings.simplefilter("ignore", parselmouth.PraatWarning)
        tg = call(intensity, "To TextGrid (silences)", rel, min_pause_s, min_sounding_s, "silent", "sounding")
    out = []
    for i in range(1, int(call(tg, "Get number of intervals", 1)) + 1):
        if call(tg, "Get label of interval", 1, i) == "sounding":
            out.append((call(tg, "Get start time of interval", 1, i), call(tg, "Get end time of interval", 1, i)))
    return np.asarray(out, dtype=float).reshape(-1, 2)


def _pitch(snd: parselmouth.Sound, floor: float, ceiling: float) -> parselmouth.Pitch | None:
    try:
        return snd.to_pitch(pitch_floor=floor, pitch_ceiling=ceiling)
    except parselmouth.PraatError:
        return None


def _f0_in(pitch: parselmouth.Pitch | None, intervals: np.ndarray) -> np.ndarray:
    """f0 of the voiced frames of ``pitch`` whose times lie inside ``intervals`` (n, 2), Hz."""
    if pitch is None:
        return np.zeros(0)
    f0, ft = pitch.selected_array["frequency"], pitch.xs()
    seg = np.searchsorted(intervals[:, 0], ft, side="right") - 1
    return f0[(f0 > 0) & (seg >= 0) & (ft <= intervals[np.maximum(seg, 0), 1])]


def _voiced_at(pitch: parselmouth.Pitch, times: np.ndarray) -> np.ndarray:
    """Whether Praat's pitch is defined at each time (the frame containing it is voiced)."""
    f0 = pitch.selected_array["frequency"]
    if f0.size == 0:
        return np.zeros(times.shape, dtype=bool)
    idx = np.clip(np.round((times - pitch.x1) / pitch.dx).astype(int), 0, f0.size - 1)
    return f0[idx] > 0


def _nuclei(
    snd: parselmouth.Sound,
    silence_db: float,
    min_dip_db: float,
    min_pause_s: float,
    min_sounding_s: float,
    intensity_min_pitch_hz: float,
    pitch_floor_hz: float,
    pitch_ceiling_hz: float,
) -> tuple[Nuclei, parselmouth.Pitch | None]:
    """:func:`syllable_nuclei` on a Praat sound, also returning the Praat pitch it used."""
    intensity = _intensity(snd, intensity_min_pitch_hz)
    if intensity is None:
        return _empty_nuclei(), None
    db = intensity.values[0]
    t = intensity.xs()
    finite = np.isfinite(db)
    if finite.sum() < 3 or np.ptp(db[finite]) <= 0:
        return _empty_nuclei(), None
    db = np.where(finite, db, db[finite].min())
    thr = _threshold(db, silence_db)
    speech = _sounding_intervals(intensity, thr, min_pause_s, min_sounding_s)
    if len(speech) == 0:
        return _empty_nuclei(thr), None
    pauses = np.column_stack([speech[:-1, 1], speech[1:, 0]]) if len(speech) > 1 else np.zeros((0, 2))

    seg = np.searchsorted(speech[:, 0], t, side="right") - 1  # sounding interval of each frame
    inside = (seg >= 0) & (t <= speech[np.maximum(seg, 0), 1])
    peaks, _ = find_peaks(db)
    peaks = peaks[(db[peaks] > thr) & inside[peaks]]
    keep = np.zeros(peaks.size, dtype=bool)
    for k, p in enumerate(peaks):
        same_next = k + 1 < peaks.size and seg[peaks[k + 1]] == seg[p]
        if same_next:
            dip = db[p : peaks[k + 1] + 1].min()
        else:  # last peak of its interval: the fall to the interval's end
            dip = db[p : np.searchsorted(t, speech[seg[p], 1], side="right")].min()
        keep[k] = db[p] - dip >= min_dip_db
    times = t[peaks[keep]]
    pitch = _pitch(snd, pitch_floor_hz, pitch_ceiling_hz)
    times = times[_voiced_at(pitch, times)] if pitch is not None else times[:0]
    return Nuclei(np.asarray(times, dtype=float), speech, pauses, thr), pitch


def syllable_nuclei(
    y: np.ndarray,
    sr: int,
    *,
    silence_db: float = SILENCE_DB,
    min_dip_db: float = MIN_DIP_DB,
    min_pause_s: float = MIN_PAUSE_S,
    min_sounding_s: float = MIN_SOUNDING_S,
    intensity_min_pitch_hz: float = INTENSITY_MIN_PITCH_HZ,
    pitch_floor_hz: float = PITCH_FLOOR_HZ,
    pitch_ceiling_hz: float = PITCH_CEILING_HZ,
) -> Nuclei:
    """Syllable nuclei and speech/pause segments of connected speech.

    The method of de Jong & Wempe 2009 (Behav Res Methods 41(2):385-390,
    doi:10.3758/BRM.41.2.385), implemented here with parselmouth:

    1. Praat intensity contour (``To Intensity``, minimum pitch
       ``intensity_min_pitch_hz``, mean subtracted), dB.
    2. Threshold = 0.99 quantile of the contour + ``silence_db``, but not below its
       minimum.
    3. Sounding and silent intervals by Praat ``To TextGrid (silences)`` with that
       threshold, silences of at least ``min_pause_s`` and sounding stretches of at
       least ``min_sounding_s``.
    4. Candidate nuclei: local maxima of the contour above the threshold, inside a
       sounding interval.
    5. A candidate is kept when the contour falls by at least ``min_dip_db`` between
       it and the next candidate (for the last one of a sounding interval: before the
       interval ends).
    6. Only voiced candidates remain: Praat ``To Pitch`` (autocorrelation,
       ``pitch_floor_hz`` to ``pitch_ceiling_hz``) is defined at the peak.

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
        Mono audio, full scale 1 (pre-processed, see the speech package contract).
        Non-finite samples are treated as 0.
    sr : int
        Sampling rate, Hz.
    silence_db, min_dip_db, min_pause_s, min_sounding_s : float
        dB re the 0.99 quantile, dB, s, s (defaults: de Jong & Wempe's values).
    intensity_min_pitch_hz, pitch_floor_hz, pitch_ceiling_hz : float
        Praat analysis settings, Hz.

    Returns
    -------
    Nuclei
        Nucleus times and segments, s. Empty (no nuclei, no segments) for digital
        silence or a signal too short for Praat's intensity window.

    Raises
    ------
    ValueError
        If ``y`` is not one-dimensional or ``sr`` is not positive.
    """
    snd = _sound(y, sr)
    return _nuclei(snd, silence_db, min_dip_db, min_pause_s, min_sounding_s, intensity_min_pitch_hz, pitch_floor_hz, pitch_ceiling_hz)[0]


def connected_speech_measures(
    y: np.ndarray,
    sr: int,
    *,
    silence_db: float = SILENCE_DB,
    min_dip_db: float = MIN_DIP_DB,
    min_pause_s: float = MIN_PAUSE_S,
    min_sounding_s: float = MIN_SOUNDING_S,
    intensity_min_pitch_hz: float = INTENSITY_MIN_PITCH_HZ,
    pitch_floor_hz: float = PITCH_FLOOR_HZ,
    pitch_ceiling_hz: float = PITCH_CEILING_HZ,
    f0_floor_q1_factor: float = F0_FLOOR_Q1_FACTOR,
    f0_ceiling_q3_factor: float = F0_CEILING_Q3_FACTOR,
) -> dict[str, float | None]:
    """Rate, pause and intonation measures of connected speech.

    From :func:`syllable_nuclei` (de Jong & Wempe 2009, doi:10.3758/BRM.41.2.385):

    ``speech_rate_syl_s``
        Nuclei / span from the start of the first to the end of the last sounding
        interval, syllables/s (leading and trailing silence excluded).
    ``speech_articulation_rate_syl_s``
        Nuclei / phonation time, syllables/s.
    ``speech_pause_count``
        Silent intervals of at least ``min_pause_s`` between sounding intervals.
    ``speech_pause_ratio``
        Total pause time / span, fraction.
    ``speech_pause_mean_s``
        Mean pause duration, s; ``None`` when there is no pause.
    ``speech_phonation_time_s``
        Total duration of the sounding intervals, s.
    ``speech_f0_median_hz``, ``speech_f0_sd_st``
        Median f0 over the voiced frames inside the sounding intervals, Praat
        ``To Pitch`` (autocorrelation; Boersma 1993, Proc Inst Phonetic Sci
        Amsterdam 17:97-110), Hz, and the SD of ``12 log2(f0 / median)``,
        semitones: the monopitch measure (Rusz et al. 2011, doi:10.1121/1.3514381).
        Two passes: the first from ``pitch_floor_hz`` to ``pitch_ceiling_hz``, the
        second from ``f0_floor_q1_factor`` x its first quartile to
        ``f0_ceiling_q3_factor`` x its third quartile (the speaker-adapted range of
        De Looze & Hirst 2008, Proc Speech Prosody; Hirst 2011, J Speech Sciences
        1(1)), which removes octave jumps.

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
        Mono audio, full scale 1, pre-processed.
    sr : int
        Sampling rate, Hz.
    silence_db, min_dip_db, min_pause_s, min_sounding_s, intensity_min_pitch_hz, pitch_floor_hz, pitch_ceiling_hz
        As in :func:`syllable_nuclei`.
    f0_floor_q1_factor, f0_ceiling_q3_factor : float
        Second-pass pitch range factors (dimensionless).

    Returns
    -------
    dict of str to float or None
        Keys :data:`CONNECTED_MEASURES`. All ``None`` when there is no speech (no
        sounding interval, or no voiced nucleus).

    Raises
    ------
    ValueError
        If ``y`` is not one-dimensional or ``sr`` is not positive.
    """
    out: dict[str, float | None] = dict.fromkeys(CONNECTED_MEASURES)
    snd = _sound(y, sr)
    nuc, pitch = _nuclei(
        snd,
        silence_db,
        min_dip_db,
        min_pause_s,
        min_sounding_s,
        intensity_min_pitch_hz,
        pitch_floor_hz,
        pitch_ceiling_hz,
    )
    span, phon = nuc.span_s, nuc.phonation_time_s
    if nuc.times_s.size == 0 or span <= 0 or phon <= 0:
        return out
    n = float(nuc.times_s.size)
    pause_d = nuc.pauses[:, 1] - nuc.pauses[:, 0]
    out["speech_rate_syl_s"] = n / span
    out["speech_articulation_rate_syl_s"] = n / phon
    out["speech_pause_count"] = float(pause_d.size)
    out["speech_pause_ratio"] = float(pause_d.sum() / span)
    out["speech_pause_mean_s"] = float(pause_d.mean()) if pause_d.size else None
    out["speech_phonation_time_s"] = phon
    f0 = _f0_in(pitch, nuc.speech)
    if f0.size >= 4:  # second pass in the speaker's own range (octave errors out)
        q1, q3 = np.quantile(f0, [0.25, 0.75])
        lo, hi = f0_floor_q1_factor * q1, f0_ceiling_q3_factor * q3
        if hi > lo:
            second = _pitch(snd, lo, hi)
            f0 = _f0_in(second, nuc.speech) if second is not None else f0
    if f0.size:
        med = float(np.median(f0))
        out["speech_f0_median_hz"] = med
        out["speech_f0_sd_st"] = float(np.std(12.0 * np.log2(f0 / med))) if f0.size > 1 else None
    return out


def _parabolic_offset(x: np.ndarray, j: int) -> float:
    """Sub-sample offset (-0.5..0.5 samples) of the extremum of the parabola through x[j-1:j+2]."""
    if j <= 0 or j >= x.size - 1:
        return 0.0
    a, b, c = x[j - 1], x[j], x[j + 1]
    den = a - 2 * b + c
    return float(np.clip(0.5 * (a - c) / den, -0.5, 0.5)) if den != 0 else 0.0


@dataclass(frozen=True)
class DDKSyllables:
    """Syllables of a DDK train.

    Attributes
    ----------
    onsets_s : ndarray, shape (n_syllables,)
        Onset of each syllable (steepest intensity rise before its peak), s.
    peaks_s : ndarray, shape (n_syllables,)
        Intensity peak of each syllable, s.
    """

    onsets_s: np.ndarray
    peaks_s: np.ndarray


def ddk_syllables(
    y: np.ndarray,
    sr: int,
    *,
    min_pitch_hz: float = DDK_MIN_PITCH_HZ,
    time_step_s: float = DDK_TIME_STEP_S,
    silence_db: float = DDK_SILENCE_DB,
    min_dip_db: float = DDK_MIN_DIP_DB,
    min_interval_s: float = DDK_MIN_INTERVAL_S,
) -> DDKSyllables:
    """Syllables of a diadochokinetic train from the intensity envelope.

    Each DDK syllable begins with a stop closure, so the intensity dips deeply
    between syllables (Kent, Kent & Rosenbek 1987, doi:10.1044/jshd.5204.367). A
    syllable is a peak of the Praat intensity contour (``To Intensity``, minimum
    pitch ``min_pitch_hz``) that lies above the 0.99 quantile + ``silence_db``, has a
    prominence (scipy.signal.find_peaks: height over the higher of its two flanking
    minima) of at least ``min_dip_db`` and is at least ``min_interval_s`` after the
    previous one. Its onset is the frame of steepest rise between the preceding dip
    and the peak (the stop release).

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
        Mono audio, full scale 1, pre-processed.
    sr : int
        Sampling rate, Hz.
    min_pitch_hz, time_step_s, silence_db, min_dip_db, min_interval_s : float
        Hz, s, dB re the 0.99 quantile, dB, s.

    Returns
    -------
    DDKSyllables
        Onset and peak times, s; empty for silence or a too-short signal.

    Raises
    ------
    ValueError
        If ``y`` is not one-dimensional or ``sr`` is not positive.
    """
    empty = DDKSyllables(np.zeros(0), np.zeros(0))
    intensity = _intensity(_sound(y, sr), min_pitch_hz, time_step_s)
    if intensity is None:
        return empty
    db, t = intensity.values[0], intensity.xs()
    finite = np.isfinite(db)
    if finite.sum() < 3 or np.ptp(db[finite]) <= 0:
        return empty
    db = np.where(finite, db, db[finite].min())
    thr = _threshold(db, silence_db)
    dt = float(intensity.dx)
    peaks, props = find_peaks(db, height=thr, prominence=min_dip_db, distance=max(1, int(round(min_interval_s / dt))))
    if peaks.size == 0:
        return empty
    slope = np.gradient(db, dt)
    onsets = np.empty(peaks.size)
    for k, p in enumerate(peaks):
        lo = props["left_bases"][k]
        if k:  # the dip between this peak and the previous syllable
            prev = peaks[k - 1]
            lo = prev + int(np.argmin(db[prev : p + 1]))
        j = lo + int(np.argmax(slope[lo : p + 1]))
        onsets[k] = t[j] + _parabolic_offset(slope, j) * dt
    return DDKSyllables(onsets, t[peaks])


def ddk_measures(
    y: np.ndarray,
    sr: int,
    task: str,
    *,
    min_pitch_hz: float = DDK_MIN_PITCH_HZ,
    time_step_s: float = DDK_TIME_STEP_S,
    silence_db: float = DDK_SILENCE_DB,
    min_dip_db: float = DDK_MIN_DIP_DB,
    min_interval_s: float = DDK_MIN_INTERVAL_S,
    min_syllables: int = DDK_MIN_SYLLABLES,
) -> dict[str, float | None]:
    """DDK rate, regularity and syllable count of one task.

    Syllables by :func:`ddk_syllables`; with onsets ``o_1 < ... < o_n`` and
    intervals ``d_i = o_{i+1} - o_i``:

    ``speech_ddk_<syll>_rate_syl_s``
        ``(n - 1) / (o_n - o_1)``, syllables/s (for ``pataka`` each of pa, ta, ka
        counts as one syllable).
    ``speech_ddk_<syll>_cv``
        Coefficient of variation of the intervals, ``SD(d) / mean(d)`` (sample SD,
        ``ddof=1``), fraction: the DDK regularity measure (Kent et al. 1987,
        doi:10.1044/jshd.5204.367; Tanchip et al. 2022, J Speech Lang Hear Res 65(3)).
    ``speech_ddk_<syll>_count``
        ``n``, syllables.

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
        Mono audio, full scale 1, pre-processed.
    sr : int
        Sampling rate, Hz.
    task : str
        ``ddk_pa``, ``ddk_ta``, ``ddk_ka`` or ``ddk_pataka``.
    min_pitch_hz, time_step_s, silence_db, min_dip_db, min_interval_s
        As in :func:`ddk_syllables`.
    min_syllables : int
        Fewer syllables give ``None`` rate and CV (the count is still given).

    Returns
    -------
    dict of str to float or None
        Keys :func:`ddk_measure_names` ``(task)``. All ``None`` when no syllable is
        found (no speech).

    Raises
    ------
    ValueError
        If ``task`` is not a DDK task, ``y`` is not one-dimensional or ``sr`` is not
        positive.
    """
    rate_k, cv_k, count_k = ddk_measure_names(task)
    out: dict[str, float | None] = {rate_k: None, cv_k: None, count_k: None}
    syl = ddk_syllables(
        y,
        sr,
        min_pitch_hz=min_pitch_hz,
        time_step_s=time_step_s,
        silence_db=silence_db,
        min_dip_db=min_dip_db,
        min_interval_s=min_interval_s,
    )
    n = syl.onsets_s.size
    if n == 0:
        return out
    out[count_k] = float(n)
    if n >= max(int(min_syllables), 3):
        d = np.diff(syl.onsets_s)
        out[rate_k] = float((n - 1) / (syl.onsets_s[-1] - syl.onsets_s[0]))
        out[cv_k] = float(np.std(d, ddof=1) / np.mean(d))
    return out
