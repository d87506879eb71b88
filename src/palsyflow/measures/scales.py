"""Clinical scales as AUTOMATED ESTIMATES from a session's measures (never a clinician's grade).

Every function here reads one session-table row (:func:`palsyflow.measures.session.aggregate_session`'s
``row``: the ``*_asym`` rest families, the ``task_<task>_eface`` items, the ocular
synkinesis and lagophthalmos columns) and returns the scale with the items it used and
the items it could not score. A missing task makes its item missing; a score is computed
from the available items only when at least the stated minimum of them exist, else None.

eFACE (Banks et al. 2015, doi:10.1097/PRS.0000000000001447; automated as Auto-eFACE,
Miller et al. 2021, doi:10.1097/PRS.0000000000007572)
    Every item 0-100 with 100 = normal. Static items (resting brow, palpebral fissure,
    nasolabial fold, oral commissure): ``100 * (1 - asym)`` of the rest family
    (:data:`palsyflow.measures.tasks.EFACE_STATIC_FAMILIES`). Dynamic items (brow
    elevation, gentle and full eye closure, commissure with smile, lower lip / EEEE):
    the task's ``task_<task>_eface`` (``100 * weaker / stronger`` movement). Synkinesis
    items: only ocular synkinesis is measurable from the protocol's photos (midfacial,
    mentalis and platysmal synkinesis are never scored here); its item is
    ``100 * (1 - min(1, d))`` with ``d`` the largest side difference of the fissure
    narrowing fraction (``synkinesis_ocular_<task>_fraction_*``) in smile and pucker:
    synkinesis is one eye closing more than the other in a mouth movement. Subscores
    are the item means; the total is the mean of all available items, as in eFACE.
    Minimum items: 2 static, 2 dynamic, 1 synkinesis; the total needs the static and
    the dynamic subscore.
Sunnybrook composite (Ross et al. 1996, doi:10.1016/S0194-5998(96)70206-1)
    ``voluntary - resting - synkinesis``, clipped to 0-100.
    *Resting symmetry* (x 5, 0-20): eye (fissure asymmetry > :data:`REST_ASYM_MILD`: 1),
    cheek (nasolabial asymmetry > :data:`REST_ASYM_SEVERE`: 2, > mild: 1), mouth
    (commissure height asymmetry > mild: 1). Needs the three rest families.
    *Voluntary movement* (x 4, 20-100): each of the five standard expressions scores
    1-5 from the weaker / stronger movement ratio ``r`` of its task
    (:data:`VOLUNTARY_TASKS`; bands :data:`VOLUNTARY_BANDS`: ``r >= 0.85`` complete (5),
    ``>= 0.60`` almost complete (4), ``>= 0.35`` mild excursion (3), ``>= 0.10`` slight
    (2), else unable to initiate (1)). Missing expressions are left out and the sum is
    scaled to five items; needs at least :data:`MIN_VOLUNTARY_ITEMS`.
    *Synkinesis* (0-15, 0-3 per expression): scored only where it is measured (ocular
    synkinesis in smile and pucker: ``d`` < 0.15 none, < 0.30 mild, < 0.50 moderate, else
    severe); the other expressions are not measured and add nothing (listed as missing).
    The band edges are this project's rule (the Sunnybrook sheet grades by eye).
House-Brackmann grade estimate (House & Brackmann 1985, doi:10.1177/019459988509300202)
    From the Sunnybrook composite through the crosswalk of Kanerva et al. 2011
    (doi:10.1177/0194599810397497; 5397 paired gradings), whose interquartile ranges of
    the composite per grade are I 100, II 71-90, III 43-62, IV 26-43, V 13-25, VI 5-14.
    The cut-offs :data:`HB_SUNNYBROOK_CUTOFFS` are the midpoints between neighbouring
    ranges (this project's rule on that published table). House-Brackmann grade IV
    begins with incomplete eye closure: when the lagophthalmos gap of one eye is at
    least :data:`LAGOPHTHALMOS_MM` and exceeds the other eye's by
    :data:`LAGOPHTHALMOS_SIDE_DIFF_MM`, the estimate is at least IV (project rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from palsyflow.conventions import SIDES
from palsyflow.measures.registry import SYNKINESIS_TASKS
from palsyflow.measures.tasks import EFACE_DYNAMIC_TASKS, EFACE_STATIC_FAMILIES

#: Label every scale value carries.
ESTIMATE_LABEL = "automated estimate"
KANERVA_2011 = "Kanerva et al. 2011, doi:10.1177/0194599810397497"

#: Minimum items for each eFACE subscore.
EFACE_MIN_STATIC = 2
EFACE_MIN_DYNAMIC = 2
EFACE_MIN_SYNKINESIS = 1
#: Sunnybrook voluntary expression -> the protocol tasks that measure it, first preferred
#: (gentle eye closure falls back to full closure, open-mouth smile to the smile photo
#: and then to the lower-teeth-bared EEEE).
VOLUNTARY_TASKS: dict[str, tuple[str, ...]] = {
    "brow_lift": ("brow_raise",),
    "gentle_eye_closure": ("eye_closure_gentle", "eye_closure_full"),
    "open_mouth_smile": ("smile", "eee"),
    "snarl": ("snarl",),
    "lip_pucker": ("pucker",),
}
MIN_VOLUNTARY_ITEMS = 3
#: (lowest weaker/stronger ratio, Sunnybrook voluntary score), highest first.
VOLUNTARY_BANDS: tuple[tuple[float, int], ...] = ((0.85, 5), (0.60, 4), (0.35, 3), (0.10, 2))
#: Rest asymmetry above which a Sunnybrook resting item scores 1 (cheek: 2 above severe).
REST_ASYM_MILD = 0.10
REST_ASYM_SEVERE = 0.25
#: Sunnybrook resting items -> rest family.
RESTING_ITEMS: dict[str, str] = {
    "eye": "rest_palpebral_fissure_height",
    "cheek": "rest_nasolabial_height",
    "mouth": "rest_commissure_height",
}
#: (upper bound of the fissure-narrowing side difference, synkinesis score 0-2); else 3.
SYNKINESIS_BANDS: tuple[tuple[float, int], ...] = ((0.15, 0), (0.30, 1), (0.50, 2))
#: Synkinesis task -> the Sunnybrook expression it is scored for.
SYNKINESIS_EXPRESSION: dict[str, str] = {"smile": "open_mouth_smile", "pucker": "lip_pucker"}
#: (lowest Sunnybrook composite, House-Brackmann grade), highest first; below: VI.
HB_SUNNYBROOK_CUTOFFS: tuple[tuple[float, int], ...] = ((95.0, 1), (66.5, 2), (43.0, 3), (25.5, 4), (13.5, 5))
LAGOPHTHALMOS_MM = 2.0
LAGOPHTHALMOS_SIDE_DIFF_MM = 1.5
ROMAN: tuple[str, ...] = ("I", "II", "III", "IV", "V", "VI")


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def ocular_synkinesis(row: Mapping[str, Any]) -> dict[str, Any]:
    """Ocular synkinesis per mouth task and eye-closure completeness, from a session row.

    Parameters
    ----------
    row : mapping
        Session-table row with ``synkinesis_ocular_<task>_fraction_<side>`` (ratio),
        ``synkinesis_ocular_<task>_mm_<side>`` and ``lagophthalmos_gap_mm_<side>`` (mm).

    Returns
    -------
    dict
        ``{"tasks": {task: {"fraction": {side: ...}, "mm": {side: ...},
        "side_difference": d, "more_narrowing_side": side|None}},
        "lagophthalmos_gap_mm": {side: ...}, "incomplete_closure_side": side|None,
        "label": "automated estimate"}``; ``d = |f_left - f_right|`` (fraction of the
        rest fissure height). Tasks without both fractions are absent.
    """
    tasks: dict[str, Any] = {}
    for t in SYNKINESIS_TASKS:
        f = {s: _num(row.get(f"synkinesis_ocular_{t}_fraction_{s}")) for s in SIDES}
        mm = {s: _num(row.get(f"synkinesis_ocular_{t}_mm_{s}")) for s in SIDES}
        if f["left"] is None or f["right"] is None:
            continue
        d = abs(f["left"] - f["right"])
        tasks[t] = {"fraction": f, "mm": mm, "side_difference": d,
                    "more_narrowing_side": None if d == 0 else max(SIDES, key=lambda s: f[s])}
    gap = {s: _num(row.get(f"lagophthalmos_gap_mm_{s}")) for s in SIDES}
    return {"tasks": tasks, "lagophthalmos_gap_mm": gap, "incomplete_closure_side": incomplete_closure_side(gap),
            "label": ESTIMATE_LABEL}


def incomplete_closure_side(gap: Mapping[str, float | None]) -> str | None:
    """The eye that does not close (lagophthalmos rule of the module docstring), or None.

    Parameters
    ----------
    gap : mapping
        Side -> residual fissure height in full eye closure, mm (None when unmeasured).
    """
    if gap.get("left") is None or gap.get("right") is None:
        return None
    hi = max(SIDES, key=lambda s: gap[s])
    lo = "left" if hi == "right" else "right"
    if gap[hi] >= LAGOPHTHALMOS_MM and gap[hi] - gap[lo] >= LAGOPHTHALMOS_SIDE_DIFF_MM:
        return hi
    return None


def _mean_if(items: Mapping[str, float], minimum: int) -> float | None:
    return float(np.mean(list(items.values()))) if len(items) >= minimum else None


def eface(row: Mapping[str, Any]) -> dict[str, Any]:
    """eFACE static, dynamic, synkinesis and total, automated estimates (module docstring).

    Parameters
    ----------
    row : mapping
        Session-table row.

    Returns
    -------
    dict
        ``{"static", "dynamic", "synkinesis", "total"}`` (0-100 or None), ``"items"``
        (item -> 0-100), ``"used"`` and ``"missing"`` (item names), ``"label"``.
    """
    static = {f: 100.0 * (1.0 - v) for f in EFACE_STATIC_FAMILIES if (v := _num(row.get(f"{f}_asym"))) is not None}
    dynamic = {t: v for t in EFACE_DYNAMIC_TASKS if (v := _num(row.get(f"task_{t}_eface"))) is not None}
    syn = ocular_synkinesis(row)["tasks"]
    synk: dict[str, float] = {}
    if syn:
        d = max(v["side_difference"] for v in syn.values())
        synk["ocular_synkinesis"] = 100.0 * (1.0 - min(1.0, d))
    s, dy, sy = _mean_if(static, EFACE_MIN_STATIC), _mean_if(dynamic, EFACE_MIN_DYNAMIC), _mean_if(synk, EFACE_MIN_SYNKINESIS)
    items = {**{f"static_{k}": v for k, v in static.items()}, **{f"dynamic_{k}": v for k, v in dynamic.items()},
             **{f"synkinesis_{k}": v for k, v in synk.items()}}
    total = float(np.mean(list(items.values()))) if s is not None and dy is not None else None
    every = ([f"static_{f}" for f in EFACE_STATIC_FAMILIES] + [f"dynamic_{t}" for t in EFACE_DYNAMIC_TASKS]
             + ["synkinesis_ocular_synkinesis", "synkinesis_midfacial", "synkinesis_mentalis", "synkinesis_platysmal"])
    return {"static": s, "dynamic": dy, "synkinesis": sy, "total": total, "items": items,
            "used": list(items), "missing": [i for i in every if i not in items], "label": ESTIMATE_LABEL}


def voluntary_score(ratio: float) -> int:
    """Sunnybrook voluntary-movement score 1-5 of a weaker/stronger movement ratio (bands above)."""
    return next((score for lo, score in VOLUNTARY_BANDS if ratio >= lo), 1)


def synkinesis_score(side_difference: float) -> int:
    """Sunnybrook synkinesis score 0-3 of a fissure-narrowing side difference (bands above)."""
    return next((score for hi, score in SYNKINESIS_BANDS if side_difference < hi), 3)


def sunnybrook(row: Mapping[str, Any]) -> dict[str, Any]:
    """Sunnybrook resting, voluntary, synkinesis and composite, automated estimates.

    Parameters
    ----------
    row : mapping
        Session-table row.

    Returns
    -------
    dict
        ``{"resting" (0-20), "voluntary" (20-100), "synkinesis" (0-15), "composite"
        (0-100)}``, each None when not computable; ``"items"``: the item scores
        (``resting_eye`` ..., ``voluntary_brow_lift`` ..., ``synkinesis_open_mouth_smile``
        ...); ``"tasks"``: expression -> the task that scored it; ``"used"``,
        ``"missing"``, ``"label"``. The composite needs resting and voluntary.
    """
    items: dict[str, int] = {}
    asyms = {k: _num(row.get(f"{fam}_asym")) for k, fam in RESTING_ITEMS.items()}
    for k, a in asyms.items():
        if a is not None:
            items[f"resting_{k}"] = (2 if a > REST_ASYM_SEVERE else int(a > REST_ASYM_MILD)) if k == "cheek" else int(a > REST_ASYM_MILD)
    resting = 5.0 * sum(items[f"resting_{k}"] for k in RESTING_ITEMS) if all(a is not None for a in asyms.values()) else None
    used_tasks: dict[str, str] = {}
    vol: dict[str, int] = {}
    for expr, tasks in VOLUNTARY_TASKS.items():
        t = next((t for t in tasks if _num(row.get(f"task_{t}_eface")) is not None), None)
        if t is not None:
            used_tasks[expr] = t
            vol[expr] = voluntary_score(_num(row[f"task_{t}_eface"]) / 100.0)
            items[f"voluntary_{expr}"] = vol[expr]
    voluntary = 4.0 * 5.0 * float(np.mean(list(vol.values()))) if len(vol) >= MIN_VOLUNTARY_ITEMS else None
    syn = ocular_synkinesis(row)["tasks"]
    for t, v in syn.items():
        items[f"synkinesis_{SYNKINESIS_EXPRESSION[t]}"] = synkinesis_score(v["side_difference"])
    synk = float(sum(v for k, v in items.items() if k.startswith("synkinesis_"))) if syn else None
    composite = None
    if resting is not None and voluntary is not None:
        composite = float(np.clip(voluntary - resting - (synk or 0.0), 0.0, 100.0))
    every = ([f"resting_{k}" for k in RESTING_ITEMS] + [f"voluntary_{e}" for e in VOLUNTARY_TASKS]
             + [f"synkinesis_{e}" for e in VOLUNTARY_TASKS])
    return {"resting": resting, "voluntary": voluntary, "synkinesis": synk, "composite": composite,
            "items": items, "tasks": used_tasks, "used": list(items),
            "missing": [i for i in every if i not in items], "label": ESTIMATE_LABEL}


def house_brackmann(sunny: Mapping[str, Any], synkinesis: Mapping[str, Any]) -> dict[str, Any]:
    """House-Brackmann grade estimate I-VI from the Sunnybrook composite (Kanerva crosswalk).

    Parameters
    ----------
    sunny : mapping
        :func:`sunnybrook`'s result.
    synkinesis : mapping
        :func:`ocular_synkinesis`'s result (the lagophthalmos rule).

    Returns
    -------
    dict
        ``{"grade": "I".."VI" or None, "grade_number": 1-6 or None, "basis": str,
        "label": "automated estimate"}``; ``basis`` names the composite, the crosswalk
        and the eye-closure rule when it applied, or why there is no grade.
    """
    comp = sunny.get("composite")
    if comp is None:
        return {"grade": None, "grade_number": None, "label": ESTIMATE_LABEL,
                "basis": "no Sunnybrook composite (needs the three resting items and "
                         f"{MIN_VOLUNTARY_ITEMS} of 5 voluntary expressions)"}
    grade = next((g for lo, g in HB_SUNNYBROOK_CUTOFFS if comp >= lo), 6)
    basis = (f"Sunnybrook composite {comp:.0f} (automated) through the Sunnybrook/House-Brackmann "
             f"crosswalk of {KANERVA_2011} (cut-offs at the midpoints of its per-grade interquartile ranges)")
    eye = synkinesis.get("incomplete_closure_side")
    if eye is not None and grade < 4:
        grade = 4
        basis += f"; raised to IV: incomplete eye closure on the {eye} (lagophthalmos gap >= {LAGOPHTHALMOS_MM:g} mm)"
    return {"grade": ROMAN[grade - 1], "grade_number": grade, "basis": basis, "label": ESTIMATE_LABEL}


@dataclass
class ScaleEstimates:
    """All scales of one session (JSON-ready dicts) and their session-table columns."""

    eface: dict[str, Any] = field(default_factory=dict)
    sunnybrook: dict[str, Any] = field(default_factory=dict)
    house_brackmann: dict[str, Any] = field(default_factory=dict)
    synkinesis: dict[str, Any] = field(default_factory=dict)

    def columns(self) -> dict[str, float | None]:
        """The ``summary`` columns of :data:`palsyflow.measures.registry.SCALE_INFO`."""
        return {
            "eface_synkinesis": self.eface["synkinesis"],
            "eface_total": self.eface["total"],
            "sunnybrook_resting": self.sunnybrook["resting"],
            "sunnybrook_voluntary": self.sunnybrook["voluntary"],
            "sunnybrook_synkinesis": self.sunnybrook["synkinesis"],
            "sunnybrook_composite": self.sunnybrook["composite"],
            "hb_scale_grade_estimate": None if self.house_brackmann["grade_number"] is None else float(self.house_brackmann["grade_number"]),
        }


def session_scales(row: Mapping[str, Any]) -> ScaleEstimates:
    """eFACE, Sunnybrook, House-Brackmann and synkinesis estimates of one session row.

    Parameters
    ----------
    row : mapping
        Session-table row (:func:`palsyflow.measures.session.aggregate_session`).

    Returns
    -------
    ScaleEstimates
    """
    syn = ocular_synkinesis(row)
    sb = sunnybrook(row)
    return ScaleEstimates(eface=eface(row), sunnybrook=sb, house_brackmann=house_brackmann(sb, syn), synkinesis=syn)
