"""Speech pre-processing and signal-to-noise estimation (pure numpy/scipy).

Every speech measure is taken on the output of :func:`preprocess`: DC removed, a
zero-phase Butterworth high-pass below the lowest voice f0 of interest, and a mains-hum
notch only where the spectrum shows a narrow peak at 50 or 60 Hz. No spectral noise
reduction is applied anywhere: it distorts the cycle-to-cycle perturbation that jitter
and shimmer measure (issue 9: on real vowels at 10 dB SNR it more than doubled them).

:func:`estimate_snr_db` gives the recording's SNR either from a session's silence
recording (room tone) or from the pauses of the signal itself, and
:func:`add_white_noise` makes derived test/phantom signals at a known SNR with the same
SNR definition (active speech level over noise power).

Tunables are keyword arguments whose defaults live in :data:`SIGNAL_DEFAULTS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

__all__ = [
    "SIGNAL_DEFAULTS",
    "SignalDefaults",
    "Preprocessed",
    "preprocess",
    "preprocess_detailed",
    "detect_hum",
    "frame_power",
    "active_level",
    "estimate_snr_db",
    "add_white_noise",
    "resample",
]


@dataclass(frozen=True)
class SignalDefaults:
    """Default tunables of pre-processing and SNR estimation (one place).

    Attributes
    ----------
    highpass_hz : float
        High-pass cut-off, Hz. 60 Hz lies below Praat's standard 75 Hz pitch floor
        (Praat manual, "Sound: To Pitch (cc)..."), so the zero-phase filter attenuates a
        75 Hz fundamental by about 1.3 dB and 100 Hz by under 0.1 dB, while removing
        rumble, handling noise and the 50/60 Hz hum fundamental.
    highpass_order : int
        Butterworth order of each pass (the forward-backward pass squares the
        magnitude response: effective order ``2 * highpass_order``).
    hum_candidates_hz : tuple of float
        Mains frequencies tried by the hum detector.
    hum_prominence_db : float
        A spectral line counts as hum when its peak exceeds the median of its
        neighbourhood (3-15 Hz either side) by at least this, dB.
    hum_max_harmonic : int
        Highest harmonic of the mains frequency that is checked (and notched if present).
        1: the fundamental only. A sustained vowel is itself a narrow line spectrum, and
        its harmonics fall on mains harmonics (f0 = 180 Hz is the 3rd of 60 Hz): notching
        them cut the voice (PC-GITA /u/: shimmer 1.7 % -> 7.5 %, HNR 30.6 -> 21.8 dB).
    hum_q : float
        Quality factor of each IIR notch (bandwidth = f / Q: 1.7 Hz at 50 Hz).
    frame_s, hop_s : float
        Frame length and hop of the frame-energy analysis, s.
    noise_percentile : float
        Percentile of the frame powers taken as the noise floor of the pauses.
    active_threshold_db : float
        After subtracting the noise power, frames within this of the loudest (99th
        percentile) are the active speech frames, dB.
    min_pause_s : float
        Minimum duration of aperiodic low-energy frames needed for a pause-based
        estimate; with less (e.g. a vowel with no pause) the estimate is ``None``.
    pause_max_periodicity : float
        A low-energy frame counts as a pause only if its normalised autocorrelation peak
        in the 1/600-1/60 s lag range is below this (room noise is aperiodic; the quiet
        parts of a vowel are not).
    """

    highpass_hz: float = 60.0
    highpass_order: int = 4
    hum_candidates_hz: tuple[float, ...] = (50.0, 60.0)
    hum_prominence_db: float = 10.0
    hum_max_harmonic: int = 1
    hum_q: float = 30.0
    frame_s: float = 0.025
    hop_s: float = 0.010
    noise_percentile: float = 10.0
    active_threshold_db: float = 20.0
    min_pause_s: float = 0.1
    pause_max_periodicity: float = 0.5


SIGNAL_DEFAULTS = SignalDefaults()


@dataclass(frozen=True)
class Preprocessed:
    """A pre-processed signal and what was done to it.

    Attributes
    ----------
    signal : ndarray, shape (n,), float64
        The pre-processed signal, full scale 1.
    sr : int
        Sampling rate, Hz.
    hum_hz : float or None
        Detected mains frequency (50 or 60 Hz), ``None`` when no hum was found.
    notched_hz : tuple of float
        Frequencies notched (the hum fundamental and those harmonics that showed a peak).
    """

    signal: np.ndarray
    sr: int
    hum_hz: float | None
    notched_hz: tuple[float, ...]


def _check(y: np.ndarray, sr: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"expected a mono signal of shape (n,), got shape {y.shape}")
    if sr <= 0:
        raise ValueError(f"sr must be positive, got {sr}")
    return y.astype(np.float64, copy=True)


def _line_prominence_db(freqs: np.ndarray, psd_db: np.ndarray, f: float) -> float:
    """Peak (within +-1.5 Hz of ``f``) over the median of its 3-15 Hz neighbourhood, dB."""
    peak = np.abs(freqs - f) <= 1.5
    dist = np.abs(freqs - f)
    ring = (dist >= 3.0) & (dist <= 15.0)
    if not peak.any() or ring.sum() < 4:
        return float("-inf")
    return float(psd_db[peak].max() - np.median(psd_db[ring]))


def detect_hum(
    y: np.ndarray,
    sr: int,
    *,
    candidates_hz: tuple[float, ...] = SIGNAL_DEFAULTS.hum_candidates_hz,
    prominence_db: float = SIGNAL_DEFAULTS.hum_prominence_db,
    max_harmonic: int = SIGNAL_DEFAULTS.hum_max_harmonic,
) -> tuple[float | None, tuple[float, ...]]:
    """Find mains hum: a narrow spectral line at 50 or 60 Hz and its harmonics.

    The power spectral density is estimated with Welch's method (Hann window, 1 s
    segments, i.e. 1 Hz resolution; Welch 1967, doi:10.1109/TAU.1967.1161901). A mains
    frequency is detected when its fundamental stands at least ``prominence_db`` above
    the median of the neighbouring 3-15 Hz on both sides; the fundamental is required
    because voice harmonics can fall on 100, 150, 200 ... Hz, while the voice has almost
    no energy at 50-60 Hz (below the f0 of adult speakers). Harmonics up to
    ``max_harmonic`` below Nyquist that show the same narrow line are reported too.

    Parameters
    ----------
    y : ndarray, shape (n,)
        Signal, full scale 1.
    sr : int
        Sampling rate, Hz.
    candidates_hz : tuple of float
        Mains frequencies to try, Hz.
    prominence_db : float
        Minimum line prominence, dB.
    max_harmonic : int
        Highest harmonic number checked.

    Returns
    -------
    hum_hz : float or None
        The mains frequency with the most prominent fundamental, ``None`` when none.
    lines_hz : tuple of float
        The hum frequencies present (fundamental first), empty when no hum.

    Raises
    ------
    ValueError
        If ``y`` is not 1-D or ``sr`` is not positive.
    """
    x = _check(y, sr)
    if x.size < sr // 4:
        return None, ()
    x -= x.mean()
    nperseg = min(x.size, int(sr))
    freqs, psd = sps.welch(x, fs=sr, window="hann", nperseg=nperseg, nfft=max(nperseg, int(sr)))
    psd_db = 10.0 * np.log10(psd + 1e-30)
    best: tuple[float, float] | None = None
    for f in candidates_hz:
        prom = _line_prominence_db(freqs, psd_db, f)
        if prom >= prominence_db and (best is None or prom > best[1]):
            best = (f, prom)
    if best is None:
        return None, ()
    f0 = best[0]
    lines = [f0]
    for k in range(2, max_harmonic + 1):
        fk = k * f0
        if fk + 16.0 >= sr / 2:
            break
        if _line_prominence_db(freqs, psd_db, fk) >= prominence_db:
            lines.append(fk)
    return f0, tuple(lines)


def preprocess_detailed(
    y: np.ndarray,
    sr: int,
    *,
    highpass_hz: float | None = SIGNAL_DEFAULTS.highpass_hz,
    highpass_order: int = SIGNAL_DEFAULTS.highpass_order,
    notch_hum: bool = True,
    hum_q: float = SIGNAL_DEFAULTS.hum_q,
    hum_prominence_db: float = SIGNAL_DEFAULTS.hum_prominence_db,
) -> Preprocessed:
    """Pre-process a recording and report what was done (see :func:`preprocess`).

    Parameters
    ----------
    y : ndarray, shape (n,)
        Mono signal, full scale 1.
    sr : int
        Sampling rate, Hz.
    highpass_hz : float or None
        Butterworth high-pass cut-off, Hz; ``None`` skips the high-pass.
    highpass_order : int
        Order of each pass of the zero-phase (forward-backward) filter.
    notch_hum : bool
        Whether to notch detected mains hum (:func:`detect_hum`).
    hum_q : float
        Quality factor of each notch.
    hum_prominence_db : float
        Line prominence needed to call it hum, dB.

    Returns
    -------
    Preprocessed
        The float64 signal (same length as ``y``) and the hum found/notched.

    Raises
    ------
    ValueError
        If ``y`` is not 1-D, ``sr`` is not positive or ``highpass_hz`` is not below Nyquist.
    """
    x = _check(y, sr)
    if x.size == 0:
        return Preprocessed(x, int(sr), None, ())
    x -= x.mean()  # DC removal
    hum_hz, lines = (None, ())
    if notch_hum:
        hum_hz, lines = detect_hum(x, sr, prominence_db=hum_prominence_db)
    padlen_min = 3 * (2 * highpass_order + 1)
    if highpass_hz is not None and x.size > padlen_min:
        if not 0 < highpass_hz < sr / 2:
            raise ValueError(f"highpass_hz must lie in (0, {sr / 2}), got {highpass_hz}")
        # zero-phase Butterworth (Butterworth 1930); forward-backward filtering keeps
        # the waveform's timing (Gustafsson 1996, doi:10.1109/78.492552)
        sos = sps.butter(highpass_order, highpass_hz, btype="highpass", fs=sr, output="sos")
        x = sps.sosfiltfilt(sos, x)
    for f in lines:
        b, a = sps.iirnotch(f, hum_q, fs=sr)
        if x.size > 3 * max(len(a), len(b)):
            x = sps.filtfilt(b, a, x)
    return Preprocessed(x, int(sr), hum_hz, tuple(lines))


def preprocess(
    y: np.ndarray,
    sr: int,
    *,
    highpass_hz: float | None = SIGNAL_DEFAULTS.highpass_hz,
    highpass_order: int = SIGNAL_DEFAULTS.highpass_order,
    notch_hum: bool = True,
    hum_q: float = SIGNAL_DEFAULTS.hum_q,
    hum_prominence_db: float = SIGNAL_DEFAULTS.hum_prominence_db,
) -> np.ndarray:
    """The pre-processed signal every speech measure is computed on.

    Steps: (1) DC removal (subtract the mean); (2) mains hum: if :func:`detect_hum`
    finds a narrow line at 50 or 60 Hz, IIR notches (``scipy.signal.iirnotch``, Q =
    ``hum_q``) at it and at its harmonics that show a line, applied forward-backward;
    nothing is notched when no hum is present; (3) zero-phase Butterworth high-pass at
    ``highpass_hz`` (order ``highpass_order`` per pass, ``scipy.signal.sosfiltfilt``).
    No spectral noise reduction (spectral subtraction, Wiener filtering) is done: it
    alters the perturbation measures (issue 9). Resampling is done at decoding
    (:func:`palsyflow.features.audio.load_audio`, FFmpeg's libswresample).

    Parameters
    ----------
    y : ndarray, shape (n,)
        Mono signal, full scale 1.
    sr : int
        Sampling rate, Hz.
    highpass_hz, highpass_order, notch_hum, hum_q, hum_prominence_db
        See :func:`preprocess_detailed`; defaults in :data:`SIGNAL_DEFAULTS`.

    Returns
    -------
    ndarray, shape (n,), float64
        Pre-processed signal, full scale 1.

    Raises
    ------
    ValueError
        If ``y`` is not 1-D or ``sr`` is not positive.
    """
    return preprocess_detailed(
        y,
        sr,
        highpass_hz=highpass_hz,
        highpass_order=highpass_order,
        notch_hum=notch_hum,
        hum_q=hum_q,
        hum_prominence_db=hum_prominence_db,
    ).signal


def resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample by a rational factor with a polyphase FIR (``scipy.signal.resample_poly``,
    Kaiser-windowed anti-aliasing filter).

    Files are resampled at decoding (:func:`palsyflow.features.audio.load_audio`); this is
    for in-memory signals (e.g. a fast 16 kHz copy for voicing decisions).

    Parameters
    ----------
    y : ndarray, shape (n,)
        Signal.
    sr_in, sr_out : int
        Input and output sampling rates, Hz.

    Returns
    -------
    ndarray, shape (round(n * sr_out / sr_in),), float64

    Raises
    ------
    ValueError
        If ``y`` is not 1-D or a rate is not positive.
    """
    x = _check(y, sr_in)
    if sr_out <= 0:
        raise ValueError(f"sr_out must be positive, got {sr_out}")
    if sr_in == sr_out or x.size == 0:
        return x
    g = math.gcd(int(sr_in), int(sr_out))
    return sps.resample_poly(x, int(sr_out) // g, int(sr_in) // g)


def _frames(x: np.ndarray, sr: int, frame_s: float, hop_s: float) -> np.ndarray:
    n = max(1, int(round(frame_s * sr)))
    h = max(1, int(round(hop_s * sr)))
    if x.size < n:
        return np.zeros((0, n))
    return np.lib.stride_tricks.sliding_window_view(x, n)[::h]


def frame_power(
    y: np.ndarray,
    sr: int,
    *,
    frame_s: float = SIGNAL_DEFAULTS.frame_s,
    hop_s: float = SIGNAL_DEFAULTS.hop_s,
) -> np.ndarray:
    """Mean power of each frame (mean of squared samples, full scale 1 = 1).

    Parameters
    ----------
    y : ndarray, shape (n,)
        Signal.
    sr : int
        Sampling rate, Hz.
    frame_s, hop_s : float
        Frame length and hop, s.

    Returns
    -------
    ndarray, shape (n_frames,), float64
        Empty when the signal is shorter than one frame.

    Raises
    ------
    ValueError
        If ``y`` is not 1-D or ``sr`` is not positive.
    """
    x = _check(y, sr)
    n = max(1, int(round(frame_s * sr)))
    h = max(1, int(round(hop_s * sr)))
    if x.size < n:
        return np.zeros(0)
    cs = np.concatenate([[0.0], np.cumsum(x * x)])
    starts = np.arange(0, x.size - n + 1, h)
    return np.maximum(cs[starts + n] - cs[starts], 0.0) / n


def active_level(
    y: np.ndarray,
    sr: int,
    *,
    threshold_db: float = 30.0,
    frame_s: float = SIGNAL_DEFAULTS.frame_s,
    hop_s: float = SIGNAL_DEFAULTS.hop_s,
) -> float:
    """Active speech level of a CLEAN signal: mean power of its active frames.

    Active frames are those within ``threshold_db`` of the loudest frame (99th
    percentile of frame powers), a simple frame-energy analogue of the active speech
    level of ITU-T P.56 (2011). It defines the reference level of
    :func:`add_white_noise` and of :func:`estimate_snr_db`'s speech level.

    Parameters
    ----------
    y : ndarray, shape (n,)
        Clean signal.
    sr : int
        Sampling rate, Hz.
    threshold_db : float
        Frames quieter than the 99th percentile by more than this are inactive, dB.
    frame_s, hop_s : float
        Frame length and hop, s.

    Returns
    -------
    float
        Mean power (full scale 1 = 1); 0.0 for an empty or all-zero signal.
    """
    p = frame_power(y, sr, frame_s=frame_s, hop_s=hop_s)
    if p.size == 0 or not np.any(p > 0):
        return 0.0
    top = np.percentile(p, 99)
    return float(p[p >= top * 10 ** (-threshold_db / 10)].mean())


def add_white_noise(y: np.ndarray, sr: int, snr_db: float, *, seed: int = 0) -> np.ndarray:
    """Add Gaussian white noise at a known SNR (active speech level over noise power).

    ``SNR = 10 log10(active_level(y) / sigma^2)`` with :func:`active_level`; the same
    definition :func:`estimate_snr_db` estimates.

    Parameters
    ----------
    y : ndarray, shape (n,)
        Clean signal, full scale 1.
    sr : int
        Sampling rate, Hz.
    snr_db : float
        Target SNR, dB.
    seed : int
        Seed of the noise generator (``numpy.random.default_rng``).

    Returns
    -------
    ndarray, shape (n,), float64
        ``y`` plus noise (not clipped; may exceed full scale at very low SNR).

    Raises
    ------
    ValueError
        If ``y`` is not 1-D, ``sr`` not positive, or ``y`` has no active frames.
    """
    x = _check(y, sr)
    level = active_level(x, sr)
    if level <= 0:
        raise ValueError("signal has no active frames: an SNR is undefined")
    sigma = np.sqrt(level / 10 ** (snr_db / 10))
    return x + np.random.default_rng(seed).normal(0.0, sigma, x.size)


def _periodicity(frames: np.ndarray, sr: int) -> np.ndarray:
    """Normalised autocorrelation peak of each frame at lags 1/600 .. 1/60 s."""
    fr = frames - frames.mean(axis=1, keepdims=True)
    n = fr.shape[1]
    spec = np.fft.rfft(fr, 2 * n, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :n]
    lo, hi = max(1, int(sr / 600)), min(n - 1, int(sr / 60))
    if hi <= lo:
        return np.zeros(fr.shape[0])
    # unbiased normalisation so that long lags are not penalised by the overlap length
    overlap = (n - np.arange(lo, hi)) / n
    r = ac[:, lo:hi] / overlap / np.maximum(ac[:, :1], 1e-30)
    return r.max(axis=1)


def estimate_snr_db(
    y: np.ndarray,
    sr: int,
    *,
    silence: np.ndarray | None = None,
    frame_s: float = SIGNAL_DEFAULTS.frame_s,
    hop_s: float = SIGNAL_DEFAULTS.hop_s,
    noise_percentile: float = SIGNAL_DEFAULTS.noise_percentile,
    active_threshold_db: float = SIGNAL_DEFAULTS.active_threshold_db,
    min_pause_s: float = SIGNAL_DEFAULTS.min_pause_s,
    pause_max_periodicity: float = SIGNAL_DEFAULTS.pause_max_periodicity,
) -> float | None:
    """Signal-to-noise ratio of a speech recording, dB.

    Method (frame-energy distribution, in the spirit of NIST's ``stnr`` tool of the
    SPHERE/SPQA package, which takes the signal level from the upper part and the noise
    level from the lower part of the frame-power distribution; see also Kim & Stern 2008,
    WADA-SNR, Interspeech, for the same problem without pauses):

    1. frame powers ``p`` (``frame_s`` frames every ``hop_s``);
    2. noise power ``N``: with a ``silence`` recording (the session's room tone, same
       sampling rate and pre-processing), its mean power; otherwise the mean power of
       the pause frames of ``y``: frames at or below the ``noise_percentile``-th
       percentile of ``p`` whose normalised autocorrelation peak (lags 1/600-1/60 s) is
       below ``pause_max_periodicity``. If these pauses last less than ``min_pause_s``
       (e.g. a sustained vowel with no pause), the SNR cannot be estimated: ``None``;
    3. noise-subtracted frame powers ``q = p - N`` (noise and speech powers add);
       active speech frames: ``q`` within ``active_threshold_db`` of its 99th
       percentile; speech power ``S = mean(q[active])``;
    4. ``SNR = 10 log10(S / N)``; the same definition as :func:`add_white_noise`
       (active speech level over noise power).

    Parameters
    ----------
    y : ndarray, shape (n,)
        Pre-processed speech signal, full scale 1.
    sr : int
        Sampling rate, Hz.
    silence : ndarray, shape (m,), optional
        The session's silence recording, pre-processed the same way, same ``sr``.
    frame_s, hop_s, noise_percentile, active_threshold_db, min_pause_s, pause_max_periodicity
        Tunables, defaults in :data:`SIGNAL_DEFAULTS`.

    Returns
    -------
    float or None
        SNR in dB; ``+inf`` is never returned: a noise power of exactly zero (digital
        silence in the pauses) gives ``None``, as do a signal shorter than a frame, no
        speech frames, or no usable pauses.

    Raises
    ------
    ValueError
        If ``y`` or ``silence`` is not 1-D or ``sr`` is not positive.
    """
    x = _check(y, sr)
    p = frame_power(x, sr, frame_s=frame_s, hop_s=hop_s)
    if p.size == 0:
        return None
    if silence is not None:
        s = _check(silence, sr)
        if s.size == 0:
            return None
        s = s - s.mean()
        noise = float(np.mean(s**2))
    else:
        fr = _frames(x - x.mean(), sr, frame_s, hop_s)
        low = p <= np.percentile(p, noise_percentile)
        low_idx = np.flatnonzero(low)
        aperiodic = _periodicity(fr[low_idx], sr) < pause_max_periodicity
        pause = low_idx[aperiodic]
        # duration of the pause frames counted by their hop (frames overlap)
        if pause.size * hop_s < min_pause_s:
            return None
        noise = float(p[pause].mean())
    if noise <= 0:
        return None
    q = p - noise  # noise-subtracted frame powers
    top = np.percentile(q, 99)
    if top <= 0:
        return None
    speech = q >= top * 10 ** (-active_threshold_db / 10)
    s_pow = float(q[speech].mean())
    if s_pow <= 0:
        return None
    return float(10 * np.log10(s_pow / noise))
