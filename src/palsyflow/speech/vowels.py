"""Vowel articulation from aligned corner vowels: formant centralisation ratio and vowel space.

Reduced articulatory excursion in dysarthria moves the corner vowels /i/, /u/, /a/
towards the centre of the F1-F2 plane. The **formant centralisation ratio** (Sapir,
Ramig, Spielman & Fox 2010, "Formant centralization ratio: a proposal for a new acoustic
measure of dysarthric speech", J Speech Lang Hear Res 53(1):114,
doi:10.1044/1092-4388(2009/08-0184))::

    FCR = (F2u + F2a + F1i + F1u) / (F2i + F1a)

rises with centralisation (numerator formants rise, denominator formants fall when the
vowels centralise) and is less sensitive to the speaker's vocal-tract size than the
vowel space area. The triangular vowel space area, the area of the /i/-/u/-/a/
triangle in the (F1, F2) plane (shoelace formula), is given too (same source).

Where the vowels are: the phones of a forced alignment of the known text
(``speech.recognition.align``), ARPAbet labels of the CMU dictionary: /i/ = ``IY``,
/u/ = ``UW``, /a/ = ``AA`` (the low back vowel of "father", "r"; Sapir's /a/). ``AO`` and
``AH`` are not counted as /a/ by default (``AO`` is rounded, ``AH`` is mostly schwa in
unstressed syllables, and the bundled dictionary carries no stress marks), see
`A_PHONES`.

Formants: Praat "To Formant (burg)" through parselmouth with Praat's standard settings
(time step automatic, 5 formants, window 0.025 s, pre-emphasis from 50 Hz; ceiling
`FORMANT_CEILING_HZ`, Praat's value for a female voice, 5000 Hz suits men better); per
vowel token, the median F1 and F2 over the analysis frames in the middle third of the
segment (away from the consonant transitions); per vowel, the median over its tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import parselmouth
from parselmouth.praat import call

# --- tunables (one place; the lead moves them into params.yaml) --------------------------
#: Formant ceiling of Praat's Burg analysis, Hz (Praat manual: 5500 for a female, 5000 for
#: a male speaker).
FORMANT_CEILING_HZ = 5500.0
#: Praat's standard Burg settings: number of formants, window length s, pre-emphasis Hz.
N_FORMANTS = 5.0
WINDOW_S = 0.025
PRE_EMPHASIS_HZ = 50.0
#: Alignment phone labels of each corner vowel.
I_PHONES: tuple[str, ...] = ("IY",)
U_PHONES: tuple[str, ...] = ("UW",)
A_PHONES: tuple[str, ...] = ("AA",)
#: Shortest vowel segment used, s (the aligner's minimum is 3 frames = 0.03 s).
MIN_VOWEL_S = 0.03

#: Keys of `vowel_measures`.
VOWEL_KEYS: tuple[str, ...] = ("speech_fcr",)

Formants = dict[str, tuple[float, float] | None]


def _phones(alignment: Any) -> Sequence[tuple[str, float, float]]:
    return alignment.phones if hasattr(alignment, "phones") else alignment


def corner_vowel_formants(
    y: np.ndarray,
    sr: int,
    alignment: Any,
    *,
    formant_ceiling_hz: float = FORMANT_CEILING_HZ,
    i_phones: Sequence[str] = I_PHONES,
    u_phones: Sequence[str] = U_PHONES,
    a_phones: Sequence[str] = A_PHONES,
    min_vowel_s: float = MIN_VOWEL_S,
) -> Formants:
    """Median F1 and F2 of the corner vowels /i/, /u/, /a/ in an aligned signal.

    Parameters
    ----------
    y : ndarray, shape (n,), float
        Mono signal, full scale 1, pre-processed.
    sr : int
        Sampling rate, Hz.
    alignment : Alignment or sequence of (str, float, float)
        ``speech.recognition.Alignment`` or its ``phones``: ``(label, start_s, end_s)``.
    formant_ceiling_hz : float
        Praat's formant ceiling, Hz.
    i_phones, u_phones, a_phones : sequence of str
        Phone labels counted as /i/, /u/, /a/.
    min_vowel_s : float
        Shorter segments are ignored, s.

    Returns
    -------
    dict
        ``{"i": (F1, F2) | None, "u": ..., "a": ...}`` in Hz; ``None`` for a vowel with
        no usable token (absent from the text, too short, or no formant found).

    Raises
    ------
    ValueError
        If ``y`` is not 1-D or ``sr`` is not positive.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (mono), got shape {y.shape}")
    if sr <= 0:
        raise ValueError(f"sr must be positive, got {sr}")
    groups = {"i": set(i_phones), "u": set(u_phones), "a": set(a_phones)}
    segs = {k: [(s, e) for lab, s, e in _phones(alignment) if lab in labs and e - s >= min_vowel_s] for k, labs in groups.items()}
    out: Formants = dict.fromkeys(groups)
    if not any(segs.values()) or y.size < int(WINDOW_S * sr) or not np.any(y):
        return out
    sound = parselmouth.Sound(y, sampling_frequency=float(sr))
    formant = call(sound, "To Formant (burg)", 0.0, N_FORMANTS, float(formant_ceiling_hz), WINDOW_S, PRE_EMPHASIS_HZ)
    times = np.asarray(formant.xs(), dtype=float)
    f1 = np.full(times.shape, np.nan)
    f2 = np.full(times.shape, np.nan)
    for key, spans in segs.items():
        tokens = []
        for start, end in spans:
            third = (end - start) / 3.0
            sel = (times >= start + third) & (times <= end - third)
            if not sel.any():  # very short: the frame nearest the middle
                sel = np.zeros_like(times, dtype=bool)
                sel[int(np.argmin(np.abs(times - (start + end) / 2)))] = True
            for k in np.flatnonzero(sel & np.isnan(f1)):
                f1[k] = formant.get_value_at_time(1, times[k])
                f2[k] = formant.get_value_at_time(2, times[k])
            a, b = f1[sel], f2[sel]
            ok = np.isfinite(a) & np.isfinite(b)
            if ok.any():
                tokens.append((float(np.median(a[ok])), float(np.median(b[ok]))))
        if tokens:
            arr = np.array(tokens)
            out[key] = (float(np.median(arr[:, 0])), float(np.median(arr[:, 1])))
    return out


def fcr_from_formants(formants: Formants) -> float | None:
    """FCR ``(F2u + F2a + F1i + F1u) / (F2i + F1a)`` (Sapir et al. 2010,
    doi:10.1044/1092-4388(2009/08-0184)); ``None`` when a corner vowel is missing."""
    i, u, a = formants.get("i"), formants.get("u"), formants.get("a")
    if i is None or u is None or a is None:
        return None
    den = i[1] + a[0]
    return float((u[1] + a[1] + i[0] + u[0]) / den) if den > 0 else None


def vsa_from_formants(formants: Formants) -> float | None:
    """Triangular vowel space area, Hz², of /i/, /u/, /a/ in the (F1, F2) plane.

    ``|F1i (F2a - F2u) + F1a (F2u - F2i) + F1u (F2i - F2a)| / 2`` (shoelace formula;
    the tVSA of Sapir et al. 2010, doi:10.1044/1092-4388(2009/08-0184)); ``None`` when
    a corner vowel is missing.
    """
    i, u, a = formants.get("i"), formants.get("u"), formants.get("a")
    if i is None or u is None or a is None:
        return None
    return float(abs(i[0] * (a[1] - u[1]) + a[0] * (u[1] - i[1]) + u[0] * (i[1] - a[1])) / 2.0)


def formant_centralisation_ratio(y: np.ndarray, sr: int, alignment: Any, **kwargs: Any) -> float | None:
    """Formant centralisation ratio of the aligned corner vowels.

    ``FCR = (F2u + F2a + F1i + F1u) / (F2i + F1a)`` (Sapir et al. 2010,
    doi:10.1044/1092-4388(2009/08-0184)) from `corner_vowel_formants` (keyword
    arguments pass through to it).

    Parameters
    ----------
    y : ndarray, shape (n,), float
        Mono signal, full scale 1, pre-processed.
    sr : int
        Sampling rate, Hz.
    alignment : Alignment or sequence of (str, float, float)
        Phone segments of the known text (``speech.recognition.align``).

    Returns
    -------
    float or None
        Dimensionless, higher = more centralised; ``None`` when any of /i/, /u/, /a/ is
        missing or unmeasurable.

    Raises
    ------
    ValueError
        As `corner_vowel_formants`.
    """
    return fcr_from_formants(corner_vowel_formants(y, sr, alignment, **kwargs))


def vowel_measures(y: np.ndarray, sr: int, alignment: Any, **kwargs: Any) -> dict[str, float | None]:
    """``{"speech_fcr": FCR | None}`` of an aligned utterance (see
    `formant_centralisation_ratio`); ``None`` too when there is no alignment."""
    if alignment is None:
        return dict.fromkeys(VOWEL_KEYS)
    return {"speech_fcr": formant_centralisation_ratio(y, sr, alignment, **kwargs)}
