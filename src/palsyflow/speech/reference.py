"""Healthy reference values of the dysarthria index's components (literature, and measured here).

Each component of :func:`palsyflow.speech.index.dysarthria_index` is judged by its
deviation from healthy speakers: a location (``mean``), a spread (``sd``) and the
direction in which impairment moves it (:class:`Ref`). Two sources exist:

* :data:`LITERATURE_REFERENCE`: values from published healthy groups or clinical
  thresholds, each with its source. They come from other software (MDVP, CSL,
  Praat scripts with other settings), other languages and other recording set-ups,
  so they are a starting point only. Where a paper gives a threshold for pathology
  but no healthy spread, the SD is *set* so that the threshold lies two SD from the
  healthy mean; the ``source`` says so. Components for which no value could be
  verified here (pause ratio, f0 SD in semitones, articulation rate, the DDK
  coefficient of variation, the clarity index) have no literature entry: they
  count only through a measured reference.
* :func:`measured_reference` (and its result for the data here, :data:`MEASURED_HERE`):
  mean and SD of the healthy recordings measured by
  this engine (``benchmarks/speech_reference.py`` measures the healthy speech of
  ``../shared/data``); same software and settings as the patients' measures.

:func:`combined_reference` takes the measured value where one exists and the
literature value otherwise; every :class:`Ref` records its ``kind``
(``"literature"`` or ``"measured"``), so a result states which was used.
:data:`HEALTHY_REFERENCE` is the default: :data:`MEASURED_HERE` (connected
speech and clarity of the healthy GRID speakers) and the literature for the rest.
**A site replaces these with its own healthy speakers** (the same protocol,
microphone and room), through :func:`measured_reference` on their measures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

__all__ = [
    "Ref",
    "Direction",
    "DIRECTIONS",
    "COMPONENTS",
    "LITERATURE_REFERENCE",
    "MEASURED_HERE",
    "HEALTHY_REFERENCE",
    "SD_FLOOR",
    "measured_reference",
    "combined_reference",
]

Direction = Literal["higher_is_worse", "lower_is_worse"]


@dataclass(frozen=True)
class Ref:
    """Healthy reference of one component.

    Attributes
    ----------
    mean, sd : float
        Location and spread of healthy speakers, in the measure's unit (``sd > 0``).
    direction : {"higher_is_worse", "lower_is_worse"}
        Which way impairment moves the measure.
    n : int or None
        Number of healthy speakers/recordings behind the values (None: a threshold
        or an unstated group size).
    source : str
        Where the values come from (paper and DOI, or "measured here ...").
    kind : {"literature", "measured"}
        Which of the two sources this is.
    """

    mean: float
    sd: float
    direction: Direction
    n: int | None
    source: str
    kind: Literal["literature", "measured"] = "literature"


#: Direction of impairment of every index component (registry names). Rate and
#: f0 variation are scored one way only (slower, flatter): a faster than healthy
#: rate (seen in some hypokinetic dysarthria) is not counted as impairment.
DIRECTIONS: dict[str, Direction] = {
    # sustained vowel (Darley, Aronson & Brown 1969, doi:10.1044/jshr.1202.246: harsh, breathy voice)
    "speech_jitter_local_pct": "higher_is_worse",
    "speech_shimmer_local_pct": "higher_is_worse",
    "speech_hnr_db": "lower_is_worse",
    "speech_cpps_db": "lower_is_worse",
    # connected speech (slow rate, prolonged pauses, monopitch)
    "speech_connected_cpps_db": "lower_is_worse",
    "speech_articulation_rate_syl_s": "lower_is_worse",
    "speech_pause_ratio": "higher_is_worse",
    "speech_f0_sd_st": "lower_is_worse",
    # diadochokinesis (slow, irregular alternating motion)
    **{f"speech_ddk_{s}_rate_syl_s": "lower_is_worse" for s in ("pa", "ta", "ka", "pataka")},
    **{f"speech_ddk_{s}_cv": "higher_is_worse" for s in ("pa", "ta", "ka", "pataka")},
    # intelligibility and vowel centralisation
    "speech_clarity": "lower_is_worse",
    "speech_fcr": "higher_is_worse",
}

#: The index's components, in a fixed order.
COMPONENTS: tuple[str, ...] = tuple(DIRECTIONS)

_PRAAT_VOICE = "Praat manual, 'Voice 2. Jitter' / 'Voice 3. Shimmer' (MDVP thresholds for pathology)"

#: Literature values (see the module docstring for their limits).
LITERATURE_REFERENCE: dict[str, Ref] = {
    "speech_jitter_local_pct": Ref(
        0.5, 0.27, "higher_is_worse", 40,
        "mean: healthy young adults' sustained /a/ 0.49-0.62 % (Felippe, Grillo & Grechi 2006, Rev Bras "
        "Otorrinolaringol 72(5):659-664, SciELO S0034-72992006000500013; CSL, n=40); SD set so that MDVP's "
        f"1.04 % threshold for pathology lies 2 SD above ({_PRAAT_VOICE}; Teixeira, Oliveira & Lopes 2013, "
        "doi:10.1016/j.protcy.2013.12.106)",
    ),
    "speech_shimmer_local_pct": Ref(
        2.5, 0.65, "higher_is_worse", None,
        f"MDVP threshold for pathology 3.81 % ({_PRAAT_VOICE}; Teixeira et al. 2013, "
        "doi:10.1016/j.protcy.2013.12.106); no healthy mean verified here: mean and SD set so that the "
        "threshold lies 2 SD above a mean of 2.5 % (assumption)",
    ),
    "speech_hnr_db": Ref(
        20.0, 4.0, "lower_is_worse", None,
        "Praat manual, 'Harmonicity': a healthy speaker's sustained [a] has a harmonicity of about 20 dB "
        "(Boersma 1993, Proc. Inst. Phonetic Sciences Amsterdam 17:97-110; no DOI); SD assumed (4 dB)",
    ),
    "speech_cpps_db": Ref(
        16.2, 1.75, "lower_is_worse", 52,
        "mean: Praat CPPS of healthy sustained vowels, women 16.0 dB, men 16.4 dB (Nunez-Batalla et al. "
        "2019, as tabulated by Murton, Hillman & Mehta 2020, Am J Speech Lang Pathol; DOIs not verified "
        "here); SD set so that Murton et al.'s Praat cut-off for dysphonia on vowels, 14.45 dB, lies 1 SD "
        "below. CPPS in Praat: Maryn & Weenink 2015, doi:10.1016/j.jvoice.2014.06.015. Settings differ "
        "between studies: prefer the measured reference",
    ),
    "speech_connected_cpps_db": Ref(
        10.5, 1.2, "lower_is_worse", None,
        "Praat CPPS on read sentences of healthy speakers 7.8-11.3 dB (Nunez-Batalla et al. 2019) and "
        "Praat cut-off for dysphonia on the Rainbow Passage 9.33 dB (Murton, Hillman & Mehta 2020); mean "
        "and SD set so that the cut-off lies 1 SD below (assumption; DOIs not verified here)",
    ),
    "speech_ddk_pataka_rate_syl_s": Ref(
        6.57, 0.84, "lower_is_worse", 106,
        "sequential motion rate /pataka/ of 106 healthy young adults, 6.57 (SD 0.84) syllables/s "
        "('Oral-diadochokinetic rate for healthy young Jordanian adults'; DOI not verified here)",
    ),
    "speech_fcr": Ref(
        1.0, 0.05, "higher_is_worse", 14,
        "formant centralisation ratio (F2u+F2a+F1i+F1u)/(F2i+F1a) is near 1 in healthy speakers and "
        "rises with centralisation (Sapir et al. 2010, doi:10.1044/1092-4388(2009/08-0184), 14 healthy "
        "controls); the exact control mean and SD were not verified here: 1.0 and 0.05 are approximate",
    ),
}

#: Smallest SD a measured reference may have, for measures on which a small healthy
#: group can show no spread at all (every healthy GRID sentence is recognised
#: perfectly; read sentences have no pauses). Assumed values: 5 points of clarity
#: (under a third of one word of a six-word sentence), 0.05 of pause ratio.
SD_FLOOR: dict[str, float] = {"speech_clarity": 5.0, "speech_pause_ratio": 0.05}

_HERE = "measured here (benchmarks/speech_reference.py, run of 2026-12-02): 11 healthy GRID sentences and the Praat passage excerpt"

#: Reference measured by this engine on the healthy speech of ``../shared/data``
#: (:func:`measured_reference` in ``benchmarks/speech_reference.py``, which reports
#: when these drift from a new run). Only components with at least 10 healthy values
#: are kept: connected speech and clarity (GRID sentences: short fixed-syntax
#: commands, so the rate and pauses of other material may differ). The vowel and DDK
#: recordings here (three usable vowels, one pataka of a speaker whose health is not
#: stated) are too few; those components use the literature.
MEASURED_HERE: dict[str, Ref] = {
    "speech_connected_cpps_db": Ref(6.956, 1.502, "lower_is_worse", 12, _HERE, "measured"),
    "speech_articulation_rate_syl_s": Ref(4.132, 0.920, "lower_is_worse", 12, _HERE, "measured"),
    "speech_pause_ratio": Ref(0.0, 0.05, "higher_is_worse", 12, _HERE + "; no pauses: SD set to the floor 0.05", "measured"),
    "speech_f0_sd_st": Ref(2.588, 1.158, "lower_is_worse", 12, _HERE, "measured"),
    "speech_clarity": Ref(93.94, 8.41, "lower_is_worse", 11, _HERE.replace(" and the Praat passage excerpt", ""), "measured"),
}

#: The default reference of the index: :data:`MEASURED_HERE` where it exists, the
#: literature otherwise. A site passes its own (``measured_reference`` of its healthy speakers).
HEALTHY_REFERENCE: dict[str, Ref] = {**LITERATURE_REFERENCE, **MEASURED_HERE}


def measured_reference(
    rows: Iterable[Mapping[str, float | None]],
    *,
    components: Iterable[str] = COMPONENTS,
    min_n: int = 3,
    label: str = "healthy recordings",
    sd_floor: Mapping[str, float] = SD_FLOOR,
) -> dict[str, Ref]:
    """Healthy reference from measured recordings: mean and sample SD per component.

    Parameters
    ----------
    rows : iterable of mapping
        One mapping per healthy recording (or speaker): component name -> value.
        ``None``, NaN and missing keys are skipped.
    components : iterable of str
        Components to derive (default :data:`COMPONENTS`; each must be in :data:`DIRECTIONS`).
    min_n : int
        Fewest valid values for a component to get a reference (>= 2).
    label : str
        What the rows are, for the ``source`` text.
    sd_floor : mapping
        Smallest SD per component (default :data:`SD_FLOOR`); the ``source`` says
        when the floor was used.

    Returns
    -------
    dict
        Component -> :class:`Ref` (``kind="measured"``, ``n`` = valid values,
        ``sd`` = sample SD with ``ddof=1``, raised to ``sd_floor``); components
        with fewer than ``min_n`` valid values or zero spread (and no floor) are left out.

    Raises
    ------
    ValueError
        If ``min_n < 2`` or a component has no known direction.
    """
    if min_n < 2:
        raise ValueError(f"min_n must be >= 2, got {min_n}")
    comps = tuple(components)
    unknown = [c for c in comps if c not in DIRECTIONS]
    if unknown:
        raise ValueError(f"no direction of impairment known for {unknown}")
    rows = list(rows)
    out: dict[str, Ref] = {}
    for c in comps:
        vals = [float(r[c]) for r in rows if r.get(c) is not None and math.isfinite(float(r[c]))]
        if len(vals) < min_n:
            continue
        mean = sum(vals) / len(vals)
        sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
        source = f"measured here: {len(vals)} {label}"
        floor = float(sd_floor.get(c, 0.0))
        if sd < floor:
            sd, source = floor, f"{source}; SD raised from {sd:.3g} to the floor {floor:g}"
        if sd <= 0.0:
            continue
        out[c] = Ref(mean, sd, DIRECTIONS[c], len(vals), source, "measured")
    return out


def combined_reference(
    measured: Mapping[str, Ref],
    literature: Mapping[str, Ref] = LITERATURE_REFERENCE,
    *,
    min_n: int = 3,
) -> dict[str, Ref]:
    """The measured reference where it rests on at least ``min_n`` values, the literature otherwise.

    Parameters
    ----------
    measured : mapping
        From :func:`measured_reference`.
    literature : mapping
        Fallback values (default :data:`LITERATURE_REFERENCE`).
    min_n : int
        Fewest measured values to prefer the measured reference.

    Returns
    -------
    dict
        Component -> :class:`Ref`; its ``kind`` says which source was used.
    """
    out = dict(literature)
    for c, ref in measured.items():
        if ref.n is not None and ref.n >= min_n:
            out[c] = replace(ref, kind="measured")
    return out
