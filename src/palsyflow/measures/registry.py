"""The registry of every measure palsyflow reports, with one unit vocabulary.

Every column of the feature and session tables (:data:`FEATURE_MEASURES`) and every
``measure`` of the score table (:data:`SCORE_MEASURES`) has one :class:`Measure` entry:
name, unit (a key of :data:`UNITS`), region, patient side, direction, description and
source. ``docs/features.md`` is generated from it (:mod:`palsyflow.measures.docs`).

Names say what is measured: ``rest_`` for the resting posture, ``mov_`` for movement
over a video, ``task_<task>_`` for a protocol task's movement from neutral to peak,
``speech_`` for the voice; Emotrics-equivalent millimetre measures are ``rest_emotrics_*``
(neutral posture) and ``task_<task>_emotrics_*`` (the task's peak), ocular synkinesis
``synkinesis_ocular_<task>_*`` and eye-closure completeness ``lagophthalmos_gap_mm_*``;
the suffixes ``_left``/``_right`` (the patient's sides),
``_asym`` (:func:`palsyflow.measures.asymmetry.asymmetry`), ``_weaker`` (the weaker side)
and ``_symmetry`` (score table, ``100 * (1 - asym)``).

The face measures' lengths carry their frame in the unit: ``iod_iris`` (face frame
aligned on the iris centres, one unit = their distance; rest postures) or
``iod_canthal`` (aligned on the eye-corner midpoints, one unit = their distance;
movement, which must not follow gaze). See :mod:`palsyflow.features.geometry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

from palsyflow.conventions import SIDES
from palsyflow.measures.asymmetry import Direction

#: The one unit vocabulary: unit -> meaning.
UNITS: dict[str, str] = {
    "iod_iris": "length in inter-ocular distances, face frame aligned on the iris centres (468/473)",
    "iod_canthal": "length in inter-canthal distances, face frame aligned on the eye-corner midpoints (33-133 / 263-362)",
    "cm": "centimetres (iris diameter 11.77 mm calibration, Guarin et al. 2018)",
    "mm": "millimetres (iris diameter 11.77 mm calibration, Guarin et al. 2018; Emotrics-equivalent measures)",
    "fraction": "dimensionless ratio in [0, 1]",
    "ratio": "dimensionless ratio (not bounded to [0, 1])",
    "cosine": "cosine similarity in [-1, 1]",
    "deg": "degrees",
    "0-100": "score from 0 to 100 (100 = symmetric / normal)",
    "points": "House-Brackmann measurement points (0-8)",
    "grade": "House-Brackmann grade (1-6)",
    "sb_points": "Sunnybrook sub-score points (resting 0-20, voluntary 20-100, synkinesis 0-15; Ross et al. 1996)",
    "side": "'left' or 'right' (the patient's), or null",
    "bool": "true / false",
    "Hz": "hertz (per second)",
    "st": "semitones",
    "dB": "decibels (a level difference or spread)",
    "s": "seconds",
    "pct": "percent (0-100)",
    "syl/s": "syllables per second",
    "count": "a count",
    "text": "text (status codes, reasons, recognised words)",
}

#: Facial regions with a left/right measure, top of the face to the bottom (report order).
REGIONS: tuple[str, ...] = ("brow", "eye", "cheek", "mouth")

Kind = Literal["rest", "movement", "task", "summary", "parra", "speech", "score"]

_EMOTRICS = "Guarin et al. 2018, JAMA Facial Plast Surg 20(4):335, doi:10.1001/jamafacial.2018.0030"
_HB = "House & Brackmann 1985, doi:10.1177/019459988509300202"
_SUNNYBROOK = "Ross et al. 1996, doi:10.1016/S0194-5998(96)70206-1"
_EFACE = "Banks et al. 2015, doi:10.1097/PRS.0000000000001447"
_PARRA = "Parra-Dominguez et al. 2021, doi:10.3390/app11052435"
_MANKTELOW = "Manktelow et al. 2008, doi:10.1097/01.prs.0000297652.29904.8c"
_DEJONG = "de Jong & Wempe 2009, doi:10.3758/BRM.41.2.385"
_PRAAT = "Boersma 1993, Proc. Inst. Phonetic Sciences Amsterdam 17:97-110 (Praat pitch); Boersma & Weenink, Praat (praat.org)"
_PERTURBATION = "Praat voice report definitions (Boersma & Weenink, praat.org); Teixeira et al. 2013, doi:10.1016/j.protcy.2013.12.106"
_HNR = "Boersma 1993, Proc. Inst. Phonetic Sciences Amsterdam 17:97-110"
_CPPS = "Hillenbrand & Houde 1996, doi:10.1044/jshr.3902.311; Maryn & Weenink 2015, doi:10.1016/j.jvoice.2014.06.015"
_AVQI = "Maryn et al. 2010, doi:10.1016/j.jvoice.2008.12.014"
_DDK = "Kent, Kent & Rosenbek 1987, doi:10.1044/jshd.5204.367"
_FCR = "Sapir et al. 2010, doi:10.1044/1092-4388(2009/08-0184)"
_CLARITY = "Maier et al. 2009, doi:10.1016/j.specom.2008.12.003 (ASR accuracy as intelligibility); pocketsphinx, Huggins-Daines et al. 2006, doi:10.1109/ICASSP.2006.1659988"
_QUALITY = "palsyflow.speech.quality (docs/speech.md)"
_DYSARTHRIA = "palsyflow.speech.index (docs/speech.md); Darley, Aronson & Brown 1969, doi:10.1044/jshr.1202.246"


@dataclass(frozen=True)
class Measure:
    """One reported measure.

    Attributes
    ----------
    name : str
        Column name (feature/session table) or ``measure`` value (score table).
    unit : str
        A key of :data:`UNITS`.
    region : str
        ``brow``, ``eye``, ``cheek``, ``mouth``, ``face``, ``overall`` or ``speech``.
    side : {"left", "right"} or None
        The patient's side of a per-side value, None otherwise.
    higher_is_better : bool or None
        Clinical direction of the value; None when it has none (a side value whose
        meaning depends on the other side, a voice pitch).
    description : str
        What the value is, including the weaker-side rule for ``*_weaker``.
    source : str
        Paper and DOI of the definition ("" for bookkeeping columns).
    kind : str
        ``rest``, ``movement``, ``task``, ``summary``, ``parra``, ``speech`` or ``score``.
    family : str
        The pair the value belongs to (``rest_brow_height`` ...), or the name itself.
    """

    name: str
    unit: str
    region: str
    side: str | None
    higher_is_better: bool | None
    description: str
    source: str
    kind: Kind
    family: str

    @property
    def dtype(self) -> pl.DataType:
        """Polars dtype of the column (Utf8 for sides, Boolean for flags, else Float64)."""
        if self.unit == "side":
            return pl.Utf8()
        if self.unit == "bool":
            return pl.Boolean()
        if self.unit == "text":
            return pl.Utf8()
        return pl.Float64()


@dataclass(frozen=True)
class Family:
    """A left/right measure of the face frame (rest posture or movement over a video).

    Attributes
    ----------
    name : str
        Column prefix (``rest_brow_height``).
    region : str
    unit : str
    weaker : {"smaller", "larger"} or None
        Which value marks the weaker side; None when the family names no side.
    text : str
        What one side's value is.
    source : str
    """

    name: str
    region: str
    unit: str
    weaker: Direction | None
    text: str
    source: str


#: Rest (static) families, one per region in :data:`REGIONS` order, then the
#: commissure's midline distance. Weaker-side sources: module docstring of
#: :mod:`palsyflow.features.regional`.
REST_FAMILIES: tuple[Family, ...] = (
    Family("rest_brow_height", "brow", "iod_iris", "smaller",
           "brow height above the eye line (mean of 5 upper-brow points)", f"{_EMOTRICS}; weaker = lower brow, {_HB}"),
    Family("rest_palpebral_fissure_height", "eye", "iod_iris", "larger",
           "palpebral fissure height (mean of 3 upper/lower lid distances)", f"{_EMOTRICS}; weaker = wider fissure, {_HB}"),
    Family("rest_nasolabial_height", "cheek", "iod_iris", "larger",
           "alar base / nasolabial points' mean depth below the eye line", f"weaker = sagging side, {_SUNNYBROOK}"),
    Family("rest_commissure_height", "mouth", "iod_iris", "larger",
           "oral commissure depth below the eye line", f"{_EMOTRICS}; weaker = drooping corner, {_HB}"),
    Family("rest_commissure_midline_distance", "mouth", "iod_iris", None,
           "oral commissure distance from the facial midline", _EMOTRICS),
)
#: Emotrics-equivalent measures of ONE frame (:func:`palsyflow.features.emotrics.emotrics_measures`),
#: in millimetres from the iris diameter (11.77 mm): ``name -> (unit, description, source)``.
#: Frame-agnostic names (a rest photo or a task's peak frame); ``_left``/``_right`` are the
#: patient's sides. The "Emotrics frame" has its origin at the midpoint of the pupil (iris)
#: centres, x along the inter-pupil line, y perpendicular (down). Feature-table columns:
#: :data:`EMOTRICS_REST_COLUMNS` (every measure at the neutral posture) and
#: :data:`EMOTRICS_TASK_COLUMNS` (a task's measures at its peak posture).
_EMOTRICS_SIDED: dict[str, tuple[str, str]] = {
    "emotrics_brow_height": ("mm", "brow height: pupil centre to the brow (smoothing spline of the 5 brow points) on the perpendicular to the inter-pupil line through the pupil"),
    "emotrics_mrd1": ("mm", "marginal reflex distance 1: pupil centre to the upper-lid margin (spline of corner, 2 upper-lid points, corner) on the pupil's perpendicular; negative when the lid covers the pupil centre"),
    "emotrics_mrd2": ("mm", "marginal reflex distance 2: pupil centre to the lower-lid margin (spline of corner, 2 lower-lid points, corner) on the pupil's perpendicular"),
    "emotrics_palpebral_fissure_height": ("mm", "palpebral fissure height: lower-lid minus upper-lid spline along the perpendicular to the inter-pupil line at the lids' mid x (0 when the lids meet)"),
    "emotrics_commissure_excursion": ("mm", "commissure excursion: distance of the oral commissure from the lower-lip midpoint (outer lower-lip spline on the facial midline, the perpendicular bisector of the pupils)"),
    "emotrics_smile_angle": ("deg", "smile angle: 90 + elevation of the commissure above the inter-pupil direction, seen from the lower-lip midpoint (90 = level, > 90 = raised)"),
    "emotrics_dental_show": ("mm", "dental show: inner lower-lip minus inner upper-lip spline, on the perpendicular through the upper-lip point half-way (in x) from the commissure to the midline; 0 when closed"),
}
_EMOTRICS_BILATERAL: dict[str, tuple[str, str]] = {
    "emotrics_commissure_height_deviation": ("mm", "commissure height deviation: difference of the two commissures' heights perpendicular to the inter-pupil line"),
    "emotrics_lower_lip_height_deviation": ("mm", "lower-lip height deviation: height difference of the outer lower lip below the two dental-show points"),
    "emotrics_upper_lip_height_deviation": ("mm", "upper-lip height deviation: height difference of the two dental-show points on the outer upper lip"),
}
EMOTRICS_INFO: dict[str, tuple[str, str, str]] = {
    **{f"{n}_{s}": (u, f"{d}, patient's {s}", _EMOTRICS) for n, (u, d) in _EMOTRICS_SIDED.items() for s in SIDES},
    **{n: (u, d, _EMOTRICS) for n, (u, d) in _EMOTRICS_BILATERAL.items()},
}
#: Ocular synkinesis and eye-closure completeness (:mod:`palsyflow.features.emotrics`),
#: fissure heights by the Emotrics estimator: ``name -> (unit, description, source)``.
SYNKINESIS_TASKS: tuple[str, ...] = ("smile", "pucker")
SYNKINESIS_INFO: dict[str, tuple[str, str, str]] = {
    **{f"synkinesis_ocular_{t}_mm_{s}": ("mm", f"ocular synkinesis: palpebral fissure narrowing in {t} relative to rest (rest minus task fissure height), patient's {s}", f"{_EFACE}; fissure estimator {_EMOTRICS}") for t in SYNKINESIS_TASKS for s in SIDES},
    **{f"synkinesis_ocular_{t}_fraction_{s}": ("ratio", f"ocular synkinesis: fissure narrowing in {t} as a fraction of the rest fissure height (0 none, 1 closed, < 0 widening), patient's {s}", f"{_EFACE}; fissure estimator {_EMOTRICS}") for t in SYNKINESIS_TASKS for s in SIDES},
    **{f"lagophthalmos_gap_mm_{s}": ("mm", f"eye-closure completeness: residual palpebral fissure height in eye_closure_full (0 = complete closure), patient's {s}", f"{_EFACE}; fissure estimator {_EMOTRICS}") for s in SIDES},
}
#: Region of each Emotrics measure (prefix of an :data:`EMOTRICS_INFO` name).
EMOTRICS_REGION: dict[str, str] = {
    "emotrics_brow_height": "brow", "emotrics_mrd1": "eye", "emotrics_mrd2": "eye",
    "emotrics_palpebral_fissure_height": "eye", "emotrics_commissure_excursion": "mouth",
    "emotrics_smile_angle": "mouth", "emotrics_dental_show": "mouth",
    "emotrics_commissure_height_deviation": "mouth", "emotrics_lower_lip_height_deviation": "mouth",
    "emotrics_upper_lip_height_deviation": "mouth",
}
#: Rest (neutral posture) column -> its :data:`EMOTRICS_INFO` name: ``rest_emotrics_*``.
EMOTRICS_REST_COLUMNS: dict[str, str] = {f"rest_{n}": n for n in EMOTRICS_INFO}
#: The Emotrics measures read at a task's peak posture (the task's own movement).
EMOTRICS_TASK_MEASURES: dict[str, tuple[str, ...]] = {
    "brow_raise": ("emotrics_brow_height",),
    "smile": ("emotrics_commissure_excursion", "emotrics_smile_angle", "emotrics_dental_show"),
}
#: Task -> (column -> :data:`EMOTRICS_INFO` name): ``task_<task>_emotrics_*_<side>``.
EMOTRICS_TASK_COLUMNS: dict[str, dict[str, str]] = {
    t: {f"task_{t}_{n}_{s}": f"{n}_{s}" for n in names for s in SIDES} for t, names in EMOTRICS_TASK_MEASURES.items()
}
#: Task -> its :data:`SYNKINESIS_INFO` columns (ocular synkinesis in smile and pucker,
#: lagophthalmos in eye_closure_full), each measured against the task's neutral posture.
SYNKINESIS_TASK_COLUMNS: dict[str, tuple[str, ...]] = {
    **{t: tuple(n for n in SYNKINESIS_INFO if n.startswith(f"synkinesis_ocular_{t}_")) for t in SYNKINESIS_TASKS},
    "eye_closure_full": tuple(n for n in SYNKINESIS_INFO if n.startswith("lagophthalmos_")),
}

#: The rest family of each region.
REST_FAMILY_OF_REGION: dict[str, str] = {f.region: f.name for f in REST_FAMILIES if f.weaker is not None}

#: The rest family of each region, in :data:`REGIONS` order.
REGION_FAMILIES: tuple[str, ...] = tuple(REST_FAMILY_OF_REGION[r] for r in REGIONS)

#: Movement families of a video (excursions, canthus frame).
MOVEMENT_FAMILIES: tuple[Family, ...] = (
    Family("mov_brow_excursion", "brow", "iod_canthal", "smaller",
           "robust range (p95) of brow-height change from the neutral posture", _PARRA),
    Family("mov_palpebral_fissure_excursion", "eye", "iod_canthal", "smaller",
           "robust range (p95) of fissure-height change from the neutral posture", _PARRA),
    Family("mov_commissure_excursion", "mouth", "iod_canthal", "smaller",
           "RMS commissure movement about its mean position (radius of gyration of its trajectory)",
           "this project (benchmarks/phantom_response.py); weaker = less voluntary movement"),
)
FAMILIES: dict[str, Family] = {f.name: f for f in (*REST_FAMILIES, *MOVEMENT_FAMILIES)}
#: Family names in table order.
REST_FAMILY_NAMES: tuple[str, ...] = tuple(f.name for f in REST_FAMILIES)
MOVEMENT_FAMILY_NAMES: tuple[str, ...] = tuple(f.name for f in MOVEMENT_FAMILIES)


@dataclass(frozen=True)
class TaskInfo:
    """Reporting facts of one protocol task's movement (its geometry is in :mod:`palsyflow.features.tasks`)."""

    task: str
    region: str
    unit: str
    description: str
    source: str


#: The dynamic tasks of the session protocol, in report order.
TASK_INFO: dict[str, TaskInfo] = {
    t.task: t
    for t in (
        TaskInfo("brow_raise", "brow", "iod_canthal", "brow rise (mean upward displacement of the 5 upper-brow points)", _HB),
        TaskInfo("eye_closure_gentle", "eye", "fraction", "gentle eye closure fraction 1 - area/area_rest of the eye contour", _EFACE),
        TaskInfo("eye_closure_full", "eye", "fraction", "full eye closure fraction 1 - area/area_rest of the eye contour", _EFACE),
        TaskInfo("smile", "mouth", "iod_canthal", "commissure excursion (displacement length of the mouth corner, Manktelow)", _MANKTELOW),
        TaskInfo("snarl", "cheek", "iod_canthal", "nose wrinkle: mean rise of alar, nasolabial and upper-lip points", _SUNNYBROOK),
        TaskInfo("pucker", "mouth", "iod_canthal", "lip pucker: mean medial movement of the mouth corner points (outer and inner commissure)", _SUNNYBROOK),
        TaskInfo("eee", "mouth", "iod_canthal", "lower teeth bared: mean displacement of the commissure and lateral lower lip", _EFACE),
    )
}
DYNAMIC_TASKS: tuple[str, ...] = tuple(TASK_INFO)
#: Task -> prefix of its House-Brackmann movement columns (cm).
HB_TASK_COLUMNS: dict[str, str] = {"brow_raise": "hb_brow_cm", "smile": "hb_commissure_cm"}

#: Parra-Dominguez features: ``name -> (kind, definition)``; indices are iBUG-68
#: (0-based), ``|a-b|`` the Euclidean distance, ``ang(a->b)`` =
#: ``|atan2(y_b - y_a, x_b - x_a)|`` in degrees, ``mean_y`` over image y. Confirmed in the
#: authors' code (:mod:`palsyflow.features.parra`; Parra-Dominguez et al. 2021,
#: doi:10.3390/app11052435).
PARRA_FEATURES: dict[str, tuple[str, str]] = {
    "parra_f00": ("angle", "ang(26->17): outer brow ends"),
    "parra_f01": ("angle", "ang(24->19): brow peaks"),
    "parra_f02": ("angle", "ang(22->21): inner brow ends"),
    "parra_f03": ("minmax", "minmax(mean_y 22-26, mean_y 17-21): brow image-y means"),
    "parra_f04": ("slope", "|y26-y17| / |x26-x17|"),
    "parra_f05": ("slope", "|y24-y19| / |x24-x19|"),
    "parra_f06": ("slope", "|y22-y21| / |x22-x21|"),
    "parra_f07": ("angle", "ang(36->45): outer eye corners"),
    "parra_f08": ("minmax", "minmax(|39-36|, |45-42|): eye widths"),
    "parra_f09": ("minmax", "minmax(|36-0|, |16-45|): outer canthus to jaw end"),
    "parra_f10": ("minmax", "minmax(|36-31|, |45-35|): outer canthus to nostril"),
    "parra_f11": (
        "minmax",
        "minmax((|y37-y41|+|y38-y40|)/2, (|y43-y47|+|y44-y46|)/2): eye opening heights; 0 if both 0",
    ),
    "parra_f12": ("minmax", "minmax(|37-41|, |44-46|): lid pair heights"),
    "parra_f13": ("minmax", "minmax(|38-40|, |43-47|): lid pair heights"),
    "parra_f14": ("angle", "ang(48->54): mouth corners"),
    "parra_f15": ("minmax", "minmax(|57-36|, |45-57|): outer canthus to lower-lip middle"),
    "parra_f16": ("minmax", "minmax(|49-59|, |53-55|): outer lip heights, lateral"),
    "parra_f17": ("minmax", "minmax(|50-58|, |52-56|): outer lip heights, medial"),
    "parra_f18": ("maxnorm", "max(|57-48|, |57-54|) / |16-0|: half-mouth to jaw width"),
    "parra_f19": ("maxnorm", "max(|49-59|, |53-55|) / |54-48|: lateral lip height to mouth width"),
    "parra_f20": ("maxnorm", "max(|50-58|, |52-56|) / |54-48|: medial lip height to mouth width"),
    "parra_f21": (
        "maxnorm",
        "max(P_a, P_b) / |54-48|: half outer-lip perimeters "
        "P_a = 48-49-50-51-57-58-59-48, P_b = 51-52-53-54-55-56-57-51",
    ),
    "parra_f22": ("angle", "ang(31->35): nostril line"),
    "parra_f23": ("angle", "ang(30->57): nose tip to lower-lip middle (side-sensitive)"),
    "parra_f24": ("minmax", "minmax(|31-57|, |35-57|): nostril to lower-lip middle"),
    "parra_f25": ("maxnorm", "max(|57-19|, |24-57|) / |16-0|: brow peak to lower lip, to jaw width"),
    "parra_f26": ("maxnorm", "max(|57-20|, |23-57|) / |16-0|: brow to lower lip, to jaw width"),
    "parra_f27": ("norm", "|8-57| / |16-0|: lower lip to chin, to jaw width"),
    "parra_f28": ("norm", "|51-33| / |16-0|: nose base to upper lip, to jaw width"),
}
_PARRA_UNIT = {"angle": "deg", "minmax": "fraction", "maxnorm": "ratio", "norm": "ratio", "slope": "ratio"}

#: Speech measures (:mod:`palsyflow.speech`): name -> (unit, higher_is_better, description, source).
#: Voice measures come from the sustained vowel only (jitter and shimmer are not valid
#: on connected speech); ``speech_status`` etc. describe the recording's audio quality
#: gate (:mod:`palsyflow.speech.quality`): when it is not ``ok`` the measures are null.
SPEECH_INFO: dict[str, tuple[str, bool | None, str, str]] = {
    "speech_status": ("text", None, "audio quality gate: ok, digital_silence, too_short, low_sample_rate, clipped, noise_only, low_snr, no_speech or no_audio", _QUALITY),
    "speech_reason": ("text", None, "why the gate refused the audio (one sentence), null when ok", _QUALITY),
    "speech_snr_db": ("dB", True, "signal-to-noise ratio: speech level over the session's room tone (silence task) or the recording's pauses", _QUALITY),
    # sustained vowel
    "speech_vowel_f0_mean_hz": ("Hz", None, "mean f0 of the sustained vowel (Praat cross-correlation pitch)", _PRAAT),
    "speech_vowel_f0_sd_hz": ("Hz", False, "SD of f0 over the sustained vowel", _PRAAT),
    "speech_jitter_local_pct": ("pct", False, "jitter (local): mean absolute difference of consecutive periods / mean period, sustained vowel", _PERTURBATION),
    "speech_shimmer_local_pct": ("pct", False, "shimmer (local): mean absolute difference of consecutive peak amplitudes / mean amplitude, sustained vowel", _PERTURBATION),
    "speech_shimmer_local_db": ("dB", False, "shimmer (local, dB): mean absolute 20 log10 ratio of consecutive peak amplitudes, sustained vowel", _PERTURBATION),
    "speech_hnr_db": ("dB", True, "harmonics-to-noise ratio (Praat cross-correlation harmonicity), sustained vowel", _HNR),
    "speech_cpps_db": ("dB", True, "smoothed cepstral peak prominence, sustained vowel", _CPPS),
    "speech_vowel_duration_s": ("s", True, "voiced duration of the sustained vowel trial (a maximum-phonation-time proxy)", _PRAAT),
    "speech_vowel_trials": ("count", None, "sustained-vowel trials measured in the recording (voiced stretches of 1 s or more, at most 3)", _PRAAT),
    **{
        f"{m}_trial_sd": (u, False, f"trial-to-trial SD of {m} over the vowel trials (2 or more): the within-session spread a change between sessions is judged against", _PRAAT)
        for m, u in (("speech_vowel_f0_mean_hz", "Hz"), ("speech_jitter_local_pct", "pct"), ("speech_shimmer_local_pct", "pct"), ("speech_hnr_db", "dB"), ("speech_cpps_db", "dB"))
    },
    "speech_avqi": ("ratio", False, "Acoustic Voice Quality Index v02.03 (0-10, higher = more dysphonic) from the vowel and the session's connected speech", _AVQI),
    # connected speech
    "speech_rate_syl_s": ("syl/s", True, "speech rate: syllable nuclei per second of the utterance (pauses included)", _DEJONG),
    "speech_articulation_rate_syl_s": ("syl/s", True, "articulation rate: syllable nuclei per second of phonation (pauses excluded)", _DEJONG),
    "speech_pause_count": ("count", False, "silent pauses inside the utterance", _DEJONG),
    "speech_pause_ratio": ("fraction", False, "pause time / utterance time", _DEJONG),
    "speech_pause_mean_s": ("s", False, "mean duration of the silent pauses", _DEJONG),
    "speech_phonation_time_s": ("s", None, "time spent sounding", _DEJONG),
    "speech_f0_median_hz": ("Hz", None, "median f0 of connected speech (Praat pitch)", _PRAAT),
    "speech_f0_sd_st": ("st", True, "SD of f0 of connected speech in semitones re its median (low = monopitch)", _PRAAT),
    "speech_connected_cpps_db": ("dB", True, "smoothed cepstral peak prominence of connected speech", _CPPS),
    # diadochokinesis
    **{
        f"speech_ddk_{syl}_{m}": spec
        for syl in ("pa", "ta", "ka", "pataka")
        for m, spec in {
            "rate_syl_s": ("syl/s", True, f"DDK rate: '{syl}' syllables per second", _DDK),
            "cv": ("fraction", False, f"DDK regularity: coefficient of variation of the '{syl}' syllable intervals", _DDK),
            "count": ("count", None, f"'{syl}' syllables detected", _DDK),
        }.items()
    },
    # known text
    "speech_clarity": ("0-100", True, "machine intelligibility: 100 x share of the prompt's words the recogniser gets right (closed grammar of the session's sentence set); a proxy for listener intelligibility", _CLARITY),
    "speech_words": ("text", None, "the words the recogniser heard", _CLARITY),
    "speech_fcr": ("ratio", False, "formant centralisation ratio (F2u + F2a + F1i + F1u) / (F2i + F1a) of the aligned corner vowels", _FCR),
    # composite
    "speech_dysarthria_index": ("0-100", False, "dysarthria screening index: mean deviation of the speech components from healthy reference values in the direction of impairment (0 = healthy, 100 = severe; not a diagnosis)", _DYSARTHRIA),
}
SPEECH_MEASURES: tuple[str, ...] = tuple(SPEECH_INFO)
#: Vowel measure -> the column of its trial-to-trial SD.
VOWEL_TRIAL_SPREAD: dict[str, str] = {m.removesuffix("_trial_sd"): m for m in SPEECH_INFO if m.endswith("_trial_sd")}
#: Speech measures scored per session (against healthy speakers): the numbers with a
#: clinical direction, not the bookkeeping (status, reason, words, counts).
SCORED_SPEECH_MEASURES: tuple[str, ...] = tuple(
    m for m, (u, better, _, _) in SPEECH_INFO.items() if u not in ("text", "count") and better is not None and m != "speech_snr_db" and not m.endswith("_trial_sd")
)

_ASYM_TEXT = "asymmetry abs(L-R) / max(abs(L), abs(R)) of the two sides (0 when both are 0)"


def _family_measures(fam: Family, kind: Kind) -> list[Measure]:
    out = [
        Measure(f"{fam.name}_{s}", fam.unit, fam.region, s, None, f"{fam.text}, patient's {s}", fam.source, kind, fam.name)
        for s in SIDES
    ]
    out.append(Measure(f"{fam.name}_asym", "fraction", fam.region, None, False, _ASYM_TEXT, _EMOTRICS, kind, fam.name))
    if fam.weaker is not None:
        floor = "weaker_min_diff_iod" if kind == "rest" else "movement_weaker_min_diff_iod"
        out.append(Measure(
            f"{fam.name}_weaker", "side", fam.region, None, None,
            f"patient side judged weaker: the one with the {fam.weaker} value, when asym > weaker_min_asym "
            f"and abs(L-R) > {floor}", fam.source, kind, fam.name,
        ))
    return out


def _task_measures() -> list[Measure]:
    out: list[Measure] = []
    for t in TASK_INFO.values():
        fam, reg, u, src = f"task_{t.task}", t.region, t.unit, t.source
        out += [
            Measure(f"{fam}_left", u, reg, "left", None, f"{t.description}, patient's left", src, "task", fam),
            Measure(f"{fam}_right", u, reg, "right", None, f"{t.description}, patient's right", src, "task", fam),
            Measure(f"{fam}_activated", "bool", reg, None, None, "max(left, right) reached the activation threshold", "", "task", fam),
            Measure(f"{fam}_threshold", u, reg, None, None, "activation threshold: task_activation_factor x landmark (TTA) noise of the movement", "", "task", fam),
            Measure(f"{fam}_asym", "fraction", reg, None, False, "asymmetry abs(L-R) / max(L, R) of the movement; null when not activated", _EMOTRICS, "task", fam),
            Measure(f"{fam}_cosine", "cosine", reg, None, True, "cosine similarity of the mirrored left and the right displacement vectors; null when not activated", "", "task", fam),
            Measure(f"{fam}_weaker", "side", reg, None, None, "patient side judged weaker: the one that moved less (when asym > weaker_min_asym); null when not activated", src, "task", fam),
            Measure(f"{fam}_eface", "0-100", reg, None, True, "eFACE-style item: 100 x weaker / stronger movement; null when not activated", _EFACE, "task", fam),
        ]
    for s in SIDES:
        out.append(Measure(f"hb_brow_cm_{s}", "cm", "brow", s, None, f"House-Brackmann brow elevation: superior movement of the mid-brow in brow_raise, patient's {s}", _HB, "task", "hb_brow_cm"))
    for s in SIDES:
        out.append(Measure(f"hb_commissure_cm_{s}", "cm", "mouth", s, None, f"House-Brackmann lateral commissure excursion in smile, patient's {s}", _HB, "task", "hb_commissure_cm"))
    out += [
        Measure("hb_measure_points", "points", "overall", None, True, "House-Brackmann measurement of the weaker side: 1 point per 0.25 cm brow + commissure movement, max 4 each, out of 8 (session only)", _HB, "summary", "hb_measure"),
        Measure("hb_measure_weaker", "side", "overall", None, None, "side the House-Brackmann measurement was taken on: fewer points (session only)", _HB, "summary", "hb_measure"),
        Measure("task_movement_weaker", "side", "overall", None, None, "weaker side of the movement tasks: at least features.task_side_min_tasks activated tasks move less on it by more than task_side_min_asym, and more than on the other side (session only)", _EFACE, "summary", "movement_side"),
        Measure("eface_static", "0-100", "overall", None, True, "eFACE-style static subscore: mean 100 x (1 - asym) of the rest brow, fissure, nasolabial and commissure heights (session only)", _EFACE, "summary", "eface"),
        Measure("eface_dynamic", "0-100", "overall", None, True, "eFACE-style dynamic subscore: mean task eFACE item of the activated brow_raise, eye closures, smile, eee (session only)", _EFACE, "summary", "eface"),
    ]
    out += [Measure(n, u, "overall", None, better, d, src, "summary", fam) for n, (u, better, d, src, fam) in SCALE_INFO.items()]
    return out


_AUTO_EFACE = f"{_EFACE}; automated as Auto-eFACE, Miller et al. 2021, doi:10.1097/PRS.0000000000007572"
_KANERVA = "Kanerva et al. 2011, doi:10.1177/0194599810397497"
#: Clinical-scale AUTOMATED ESTIMATES of a session (:mod:`palsyflow.measures.scales`):
#: ``name -> (unit, higher_is_better, description, source, family)``.
SCALE_INFO: dict[str, tuple[str, bool, str, str, str]] = {
    "eface_synkinesis": ("0-100", True, "AUTOMATED ESTIMATE of the eFACE synkinesis subscore (100 = none): ocular synkinesis only, 100 x (1 - side difference of fissure narrowing in smile/pucker) (session only)", _AUTO_EFACE, "eface"),
    "eface_total": ("0-100", True, "AUTOMATED ESTIMATE of the eFACE total: mean of the available static, dynamic and synkinesis items; needs >= 2 static and >= 2 dynamic items (session only)", _AUTO_EFACE, "eface"),
    "sunnybrook_resting": ("sb_points", False, "AUTOMATED ESTIMATE of the Sunnybrook resting-symmetry score (0-20, x5 of eye, cheek, mouth items from rest asymmetries) (session only)", _SUNNYBROOK, "sunnybrook"),
    "sunnybrook_voluntary": ("sb_points", True, "AUTOMATED ESTIMATE of the Sunnybrook voluntary-movement score (20-100, x4 of brow lift, gentle eye closure, smile, snarl, pucker scored 1-5 from weaker/stronger movement; scaled from >= 3 items) (session only)", _SUNNYBROOK, "sunnybrook"),
    "sunnybrook_synkinesis": ("sb_points", False, "AUTOMATED ESTIMATE of the Sunnybrook synkinesis score (0-15; ocular synkinesis in smile and pucker only) (session only)", _SUNNYBROOK, "sunnybrook"),
    "sunnybrook_composite": ("0-100", True, "AUTOMATED ESTIMATE of the Sunnybrook composite: voluntary - resting - synkinesis, 0-100 (session only)", _SUNNYBROOK, "sunnybrook"),
    "hb_scale_grade_estimate": ("grade", False, "AUTOMATED ESTIMATE of the House-Brackmann grade (1-6) from sunnybrook_composite by the Kanerva 2011 crosswalk, at least 4 with one-sided incomplete eye closure; not a clinician grade (session only)", f"{_HB}; {_KANERVA}", "house_brackmann"),
}


def _emotrics_region(name: str) -> str:
    return next(r for p, r in EMOTRICS_REGION.items() if name.startswith(p))


def _emotrics_side(name: str) -> str | None:
    return next((s for s in SIDES if name.endswith(f"_{s}")), None)


def _emotrics_measures() -> list[Measure]:
    """Emotrics-equivalent (mm), ocular synkinesis and lagophthalmos columns."""
    out: list[Measure] = []
    for col, name in EMOTRICS_REST_COLUMNS.items():
        u, d, src = EMOTRICS_INFO[name]
        side = _emotrics_side(name)
        fam = col.removesuffix(f"_{side}") if side else col
        out.append(Measure(col, u, _emotrics_region(name), side, None, f"{d}; neutral posture", src, "rest", fam))
    for task, cols in EMOTRICS_TASK_COLUMNS.items():
        for col, name in cols.items():
            u, d, src = EMOTRICS_INFO[name]
            side = _emotrics_side(name)
            out.append(Measure(col, u, TASK_INFO[task].region, side, None, f"{d}; {task} peak posture", src, "task", col.removesuffix(f"_{side}")))
    for task, cols in SYNKINESIS_TASK_COLUMNS.items():
        for col in cols:
            u, d, src = SYNKINESIS_INFO[col]
            side = _emotrics_side(col)
            out.append(Measure(col, u, "eye", side, None, f"{d}; {task} peak vs its neutral posture", src, "task", col.removesuffix(f"_{side}")))
    return out


def _build_feature_measures() -> tuple[Measure, ...]:
    ms: list[Measure] = []
    for fam in REST_FAMILIES:
        ms += _family_measures(fam, "rest")
    for fam in MOVEMENT_FAMILIES:
        ms += _family_measures(fam, "movement")
    ms += [
        Measure(name, _PARRA_UNIT.get(kind, "ratio"), "face", None, None,
                f"Parra-Dominguez 2021 {name.removeprefix('parra_')}: {text.replace('|', '')}; iBUG-68 points (MediaPipe via the 478->68 map), neutral posture",
                _PARRA, "parra", "parra")
        for name, (kind, text) in PARRA_FEATURES.items()
    ]
    ms += _task_measures()
    ms += _emotrics_measures()
    ms += [Measure(n, u, "speech", None, better, d, s, "speech", n) for n, (u, better, d, s) in SPEECH_INFO.items()]
    return tuple(ms)


#: Every measure column of the feature (per recording) and session tables, in table order.
FEATURE_MEASURES: tuple[Measure, ...] = _build_feature_measures()

#: Score-table measure of each region's rest symmetry.
REST_SYMMETRY: dict[str, str] = {r: f"{REST_FAMILY_OF_REGION[r]}_symmetry" for r in REGIONS}
#: Score-table measure of the video's commissure movement symmetry.
MOVEMENT_SYMMETRY = "mov_commissure_excursion_symmetry"
#: The rest composite, the movement composite and the overall index.
REST_COMPOSITE = "rest_symmetry"
MOVEMENT_COMPOSITE = "mov_symmetry"
SYMMETRY_INDEX = "symmetry_index"
_COMPOSITES = f"Sunnybrook composite ({_SUNNYBROOK}); eFACE ({_EFACE})"


def _build_score_measures() -> tuple[Measure, ...]:
    ms = [
        Measure(REST_SYMMETRY[r], "0-100", r, None, True, f"100 x (1 - {REST_FAMILY_OF_REGION[r]}_asym), 100 = symmetric", _EMOTRICS, "score", REST_FAMILY_OF_REGION[r])
        for r in REGIONS
    ]
    ms += [
        Measure(MOVEMENT_SYMMETRY, "0-100", "mouth", None, True, "100 x (1 - mov_commissure_excursion_asym)", _EMOTRICS, "score", "mov_commissure_excursion"),
        Measure(REST_COMPOSITE, "0-100", "overall", None, True, "mean of the available regional rest symmetries", _COMPOSITES, "score", REST_COMPOSITE),
        Measure(MOVEMENT_COMPOSITE, "0-100", "overall", None, True, "mean of the available movement symmetries: mov_commissure_excursion_symmetry and eface_dynamic", _COMPOSITES, "score", MOVEMENT_COMPOSITE),
        Measure(SYMMETRY_INDEX, "0-100", "overall", None, True, "mean of rest_symmetry and mov_symmetry (whichever exist)", _COMPOSITES, "score", SYMMETRY_INDEX),
    ]
    ms += [Measure(n, SPEECH_INFO[n][0], "speech", None, SPEECH_INFO[n][1], SPEECH_INFO[n][2], SPEECH_INFO[n][3], "speech", n) for n in SCORED_SPEECH_MEASURES]
    return tuple(ms)


#: Every ``measure`` of the score table, in score-table order.
SCORE_MEASURES: tuple[Measure, ...] = _build_score_measures()

FEATURE_BY_NAME: dict[str, Measure] = {m.name: m for m in FEATURE_MEASURES}
SCORE_BY_NAME: dict[str, Measure] = {m.name: m for m in SCORE_MEASURES}
#: Feature/session-table measure column names, in table order.
MEASURE_COLUMNS: tuple[str, ...] = tuple(m.name for m in FEATURE_MEASURES)
