"""Dose-response check of the phantom: does measured asymmetry follow simulated weakness?

For a real healthy recording, phantoms are made at weakness fractions ``w`` (default
0, 0.2, ..., 1.0) on each side, MediaPipe landmarks are detected again **on the
phantom's pixels**, and the task is measured as palsyflow measures patients:

* photo tasks (rest photo + task photo): :func:`palsyflow.features.tasks.task_measure`
  on the unchanged rest photo and the phantom task photo (movement per side, asymmetry
  score ``|m_L - m_R| / max``, weaker side = smaller movement);
* speech (a video): :func:`palsyflow.features.regional.recording_measures`'
  ``mov_commissure_excursion`` (root-mean-square commissure movement about its mean position).

Besides the (unsigned) asymmetry score, each row carries the **signed** asymmetry
towards the weakened side, ``(m_other - m_weakened) / max(m_L, m_R)`` in [-1, 1]:
a healthy face is never exactly symmetric, so weakening its naturally stronger side
first makes it *more* symmetric and the unsigned score dips before it rises; the
signed score is monotone in ``w`` by construction of the phantom.

Monotonicity is judged with Spearman's rank correlation between ``w`` and the score
(Spearman 1904, Am J Psychol 15(1):72, doi:10.2307/1412159;
:func:`scipy.stats.spearmanr`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from palsyflow.config import FeatureParams, LandmarkParams
from palsyflow.conventions import SIDES, Side
from palsyflow.features.regional import recording_measures
from palsyflow.features.tasks import make_pose, task_measure
from palsyflow.landmarks import extract_landmarks
from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker
from palsyflow.phantom.simulate import PhantomError, detect_photo, simulate_weakness, track_video
from palsyflow.phantom.warp import warp_frame

__all__ = ["FRACTIONS", "photo_sweep", "video_sweep", "summarise", "signed_asymmetry"]

#: Weakness fractions of the sweep.
FRACTIONS: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def signed_asymmetry(left: float | None, right: float | None, weakened: Side) -> float | None:
    """``(m_other - m_weakened) / max(m_L, m_R)``; positive = the weakened side moves less.

    Parameters
    ----------
    left, right : float or None
        Movement of the patient's left and right side (>= 0).
    weakened : {"left", "right"}

    Returns
    -------
    float in [-1, 1], 0 when both are 0, or None when a value is missing.
    """
    if left is None or right is None or not (np.isfinite(left) and np.isfinite(right)):
        return None
    top = max(left, right)
    if top <= 0:
        return 0.0
    weak, other = (left, right) if weakened == "left" else (right, left)
    return float((other - weak) / top)


def _lm_params(params: LandmarkParams | None) -> LandmarkParams:
    return (params or LandmarkParams()).model_copy(update={"tta_copies": 1})


def photo_sweep(
    rest: Path,
    task_photo: Path,
    task: str,
    model_path: Path,
    fractions: Sequence[float] = FRACTIONS,
    sides: Iterable[Side] = SIDES,
    params: LandmarkParams | None = None,
    feature_params: FeatureParams | None = None,
    blend: str = "morph",
) -> list[dict]:
    """Sweep ``w`` for one rest/task photo pair and measure every phantom.

    The phantoms are made in memory with :func:`palsyflow.phantom.warp.warp_frame`
    (the same code :func:`~palsyflow.phantom.simulate.simulate_weakness` runs for a
    photo, without the lossless PNG round trip), and detected again in IMAGE mode.

    Parameters
    ----------
    rest, task_photo : Path
        Rest photo and task photo of one healthy person.
    task : str
        Protocol task of ``task_photo`` (:data:`palsyflow.features.tasks.DYNAMIC_TASKS`).
    model_path : Path
        ``face_landmarker.task``.
    fractions : sequence of float
    sides : iterable of {"left", "right"}
    params : LandmarkParams, optional
        Detection settings (TTA off).
    feature_params : FeatureParams, optional
        Activation gate and weaker-side settings.
    blend : {"morph", "warp"}

    Returns
    -------
    list of dict
        One row per (side, fraction): ``task, side, fraction, left, right, threshold,
        activated, asymmetry, signed, weaker`` (``asymmetry``/``weaker`` None when the
        task is not activated; ``signed`` from :func:`signed_asymmetry` always when
        measured; ``threshold`` the activation threshold, same unit as left/right).

    Raises
    ------
    palsyflow.phantom.PhantomError
        No face in the rest or task photo.
    """
    p = _lm_params(params)
    rgb0, pts0 = detect_photo(rest, model_path, p)
    rgb, pts = detect_photo(task_photo, model_path, p)
    neutral = make_pose(pts0)
    rows: list[dict] = []
    with MediaPipeLandmarker(Path(model_path), "image", p) as lm:
        for side in sides:
            for w in fractions:
                img = warp_frame(rgb, pts, pts0, side, float(w), neutral_image=rgb0, blend=blend).image
                found = lm.detect(img).points
                if found is None:
                    raise PhantomError(f"{task_photo}: no face found in the phantom (side {side}, w {w})")
                m = task_measure(task, neutral, make_pose(found), feature_params)
                rows.append(
                    _row(task, side, w, m.left, m.right, m.activated, m.asymmetry_score, m.weaker_side, m.threshold)
                )
    return rows


def _row(task, side, w, left, right, activated, asym, weaker, threshold=None) -> dict:
    return {
        "threshold": threshold,
        "task": task,
        "side": side,
        "fraction": float(w),
        "left": left,
        "right": right,
        "activated": bool(activated),
        "asymmetry": asym,
        "signed": signed_asymmetry(left, right, side),
        "weaker": weaker,
    }


def video_sweep(
    src: Path,
    model_path: Path,
    fractions: Sequence[float] = FRACTIONS,
    sides: Iterable[Side] = SIDES,
    params: LandmarkParams | None = None,
    feature_params: FeatureParams | None = None,
    workdir: Path | None = None,
    task: str = "speech",
) -> list[dict]:
    """Sweep ``w`` for one video (speech) and measure the commissure excursion of each phantom.

    Each phantom is written to ``workdir`` with
    :func:`~palsyflow.phantom.simulate.simulate_weakness` (source landmarks tracked once),
    then read back with :func:`palsyflow.landmarks.extract_landmarks` (TTA off) and
    measured with :func:`palsyflow.features.regional.recording_measures`
    (``mov_commissure_excursion``, the commissures' RMS movement about their mean position).

    Parameters
    ----------
    src : Path
        A healthy talking-face video.
    model_path : Path
    fractions, sides, params, feature_params
        As :func:`photo_sweep`.
    workdir : Path, optional
        Where phantoms are written (a temporary folder, removed, when omitted).
    task : str
        Label of the rows.

    Returns
    -------
    list of dict
        Rows as :func:`photo_sweep`; ``activated`` is True when both excursions exist;
        ``threshold`` is None (regional measures have no activation gate).
    """
    p = _lm_params(params)
    tracks = track_video(src, model_path, p)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="palsyflow-phantom-") as tmp:
        out_dir = Path(workdir) if workdir is not None else Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        cache: dict[float, dict] = {}
        for side in sides:
            for w in fractions:
                key = (side, float(w)) if w > 0 else ("none", 0.0)
                if key not in cache:
                    out = out_dir / f"{Path(src).stem}_{key[0]}_{int(round(100 * w)):03d}.mp4"
                    simulate_weakness(src, out, side, float(w), model_path, params=p, sidecar=False, tracks=tracks)
                    res = extract_landmarks(out, "video", p, model_path)
                    xyz = res.points_array()
                    found = res.quality["face_found"].to_numpy()
                    cache[key] = recording_measures(xyz, found, res.meta.get("keyframes"), feature_params)
                meas = cache[key]
                left, right = meas["mov_commissure_excursion_left"], meas["mov_commissure_excursion_right"]
                ok = left is not None and right is not None
                rows.append(_row(task, side, w, left, right, ok, meas["mov_commissure_excursion_asym"], meas["mov_commissure_excursion_weaker"]))
    return rows


def _evaluable(series: Sequence[dict]) -> bool:
    base = min(series, key=lambda r: r["fraction"])
    if not base["activated"]:
        return False
    weak = base["left"] if base["side"] == "left" else base["right"]
    thr = base.get("threshold")
    return weak is not None and (thr is None or weak >= thr)


def summarise(rows: Sequence[dict], min_fraction_for_side: float = 0.4) -> dict:
    """Spearman's rho per task and the weaker-side accuracy of a sweep.

    Parameters
    ----------
    rows : sequence of dict
        Rows of :func:`photo_sweep` / :func:`video_sweep`, each with an extra
        ``"subject"`` key (series = (subject, task, side)).
    min_fraction_for_side : float
        Side accuracy counts phantoms with ``w >=`` this.

    Returns
    -------
    dict
        Only **evaluable** series count: those whose unweakened phantom (the smallest
        ``w``, normally 0, i.e. the healthy original) is activated and whose weakened
        side itself moved at least the activation threshold there (a movement the
        volunteer did not make cannot be weakened). Per task: ``n_series``,
        ``excluded_series``, ``rho_pooled`` (w against the asymmetry score over the
        evaluable series' rows; a non-activated phantom counts as asymmetry 0), ``rho_series_median`` and
        ``rho_series_min`` (per series), the same three for the signed score
        (``signed_*``), ``side_accuracy`` (weaker side == weakened side among
        activated phantoms with ``w >= min_fraction_for_side``), ``side_n``,
        ``n_series``, ``not_activated``; ``change_rho_pooled``: pooled rho of the signed
        score's change from its own series' unweakened value (each person's natural
        asymmetry removed, as in a longitudinal comparison with their own baseline); and
        ``series_rho_at_least_0_9``: the fraction of series whose signed rho is >= 0.9.
        Plus ``"all"``: the pooled numbers over tasks.
    """
    from scipy.stats import spearmanr

    def rho(x, y) -> float | None:
        x, y = np.asarray(x, float), np.asarray(y, float)
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
            return None
        return float(spearmanr(x[ok], y[ok]).statistic)

    def score(r: dict, key: str) -> float:
        v = r[key]
        if v is None:
            return 0.0 if key == "asymmetry" and r["left"] is not None else np.nan
        return float(v)

    out: dict = {}
    tasks = sorted({r["task"] for r in rows})
    for task in [*tasks, "all"]:
        chosen = [r for r in rows if task == "all" or r["task"] == task]
        all_series: dict[tuple, list[dict]] = {}
        for r in chosen:
            all_series.setdefault((r.get("subject"), r["task"], r["side"]), []).append(r)
        series = {k: v for k, v in all_series.items() if _evaluable(v)}
        sel = [r for v in series.values() for r in v]
        res: dict = {"n_rows": len(sel), "n_series": len(series), "excluded_series": len(all_series) - len(series)}
        for key, name in (("asymmetry", ""), ("signed", "signed_")):
            res[f"{name}rho_pooled"] = rho([r["fraction"] for r in sel], [score(r, key) for r in sel])
            per = [rho([r["fraction"] for r in s], [score(r, key) for r in s]) for s in series.values()]
            per = [v for v in per if v is not None]
            res[f"{name}rho_series_median"] = float(np.median(per)) if per else None
            res[f"{name}rho_series_min"] = float(np.min(per)) if per else None
        signed_per = per  # the loop's last pass is the signed score
        change_x, change_y = [], []
        for s in series.values():
            base = score(min(s, key=lambda r: r["fraction"]), "signed")
            for r in s:
                change_x.append(r["fraction"])
                change_y.append(score(r, "signed") - base)
        res["change_rho_pooled"] = rho(change_x, change_y)
        res["series_rho_at_least_0_9"] = float(np.mean([v >= 0.9 for v in signed_per])) if signed_per else None
        strong = [r for r in sel if r["fraction"] >= min_fraction_for_side and r["activated"]]
        hits = sum(r["weaker"] == r["side"] for r in strong)
        res["side_n"] = len(strong)
        res["side_accuracy"] = float(hits / len(strong)) if strong else None
        res["not_activated"] = sum(not r["activated"] for r in sel)
        out[task] = res
    return out
