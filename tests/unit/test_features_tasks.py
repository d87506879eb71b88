"""Task (dynamic) measures: movement per side, activation gate, scores, HB measure, eFACE,
the session JSON contract and the feature/session table columns, on synthetic faces."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from palsyflow.config import FeatureParams
from palsyflow.features import tasks as T
from palsyflow.config import IngestParams
from palsyflow.features.session import measure_results
from palsyflow.ingest.tasks import UnknownTaskError, canonical_task, task_from_filename
from palsyflow.measures import tasks as MT
from palsyflow.features.table import (
    MEASURES,
    SESSION_TABLE_SCHEMA,
    build_feature_table,
    recording_row,
    session_table,
)
from palsyflow.landmarks.result import build_tables
from palsyflow.landmarks.schemes.mediapipe478 import MP_FLIP, flip_points

W, H = 640, 480
CX, CY, IOD = 320.0, 200.0, 100.0


def face(seed: int = 0) -> np.ndarray:
    """A mirror-symmetric synthetic face (478, 3) in pixels, patient's right on the image left."""
    rng = np.random.default_rng(seed)
    p = np.zeros((478, 3))
    p[:, 0] = CX - rng.uniform(0.05, 0.8, 478) * IOD
    p[:, 1] = CY + rng.uniform(-0.2, 1.2, 478) * IOD

    def put(i, dx, dy):
        p[i, 0], p[i, 1] = CX - dx * IOD, CY + dy * IOD

    # eye contour: ellipse about the right eye centre (0.5 IOD from the midline)
    for k, i in enumerate(T.EYE_CONTOUR["right"]):
        a = math.pi * k / 8  # 33 (outer, k=0) ... 133 (inner, k=8) along the upper lid
        put(i, 0.5 + 0.25 * math.cos(a), -0.06 * math.sin(a))
    put(468, 0.5, 0.0)
    for k, i in enumerate((469, 470, 471, 472)):  # image right, up, image left, down
        a = math.pi / 2 * k
        p[i, 0], p[i, 1] = CX - 0.5 * IOD + 0.09 * IOD * math.cos(a), CY - 0.09 * IOD * math.sin(a)
    for k, i in enumerate(T.BROW["right"]):
        put(i, 0.8 - 0.12 * k, -0.3 - 0.02 * k)
    for k, i in enumerate(T.SNARL_POINTS["right"]):
        put(i, 0.15 + 0.05 * k, 0.6 + 0.1 * k)
    put(61, 0.4, 1.1)
    for k, i in enumerate((146, 91, 181)):
        put(i, 0.35 - 0.1 * k, 1.15 + 0.02 * k)
    for k, i in enumerate((185, 40, 39)):
        put(i, 0.35 - 0.1 * k, 1.05 - 0.02 * k)
    for i in (78, 95, 191):
        put(i, 0.3, 1.1)
    low = [i for i in range(478) if MP_FLIP[i] > i]  # patient's right side and right iris
    for i in low:
        j = MP_FLIP[i]
        p[j, 0] = 2 * CX - p[i, 0]
        p[j, 1:] = p[i, 1:]
    for i in range(478):
        if MP_FLIP[i] == i:
            p[i, 0] = CX
    return p


def move(p: np.ndarray, idx, dx: float, dy: float) -> np.ndarray:
    """Move points by (dx, dy) IOD in the image (dx towards the image right)."""
    q = p.copy()
    q[list(idx), 0] += dx * IOD
    q[list(idx), 1] += dy * IOD
    return q


def similarity(p: np.ndarray, angle_deg: float, scale: float, shift) -> np.ndarray:
    a = math.radians(angle_deg)
    r = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    q = p.copy()
    q[:, :2] = (p[:, :2] - [CX, CY]) @ r.T * scale + [CX, CY] + np.asarray(shift)
    return q


def measure(task, neutral, peak, spread=0.5, params=None):
    s = np.full(478, spread)
    return T.task_measure(task, T.make_pose(neutral, s), T.make_pose(peak, s), params)


def test_brow_raise_values_sides_and_scores():
    rest = face()
    peak = move(move(rest, T.BROW["right"], 0, -0.10), T.BROW["left"], 0, -0.05)
    m = measure("brow_raise", rest, peak)
    assert m.available and m.activated and m.unit == "iod_canthal"
    assert (m.left, m.right) == pytest.approx((0.05, 0.10))
    assert m.asymmetry_score == pytest.approx(0.5)
    assert m.eface == pytest.approx(50.0)
    assert m.weaker_side == "left"
    assert m.cosine_score == pytest.approx(1.0)  # both sides move straight up
    # House-Brackmann movement in cm: IOD = 100 px, iris 18 px = 11.77 mm
    mm_per_iod = 100 * 11.77 / 18
    assert m.hb_cm["right"] == pytest.approx(0.10 * mm_per_iod / 10)


def test_cosine_detects_opposite_directions():
    rest = face()
    # right commissure moves up and out, left commissure moves down and in (not mirrored)
    peak = move(move(rest, [61], -0.1, -0.1), [291], -0.1, 0.1)
    m = measure("smile", rest, peak)
    assert m.activated
    assert m.asymmetry_score == pytest.approx(0.0, abs=1e-9)  # same length ...
    assert m.cosine_score < -0.5  # ... opposite directions


@pytest.mark.parametrize("task", T.DYNAMIC_TASKS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mirror_flip_gives_same_scores_sides_swapped(task, seed):
    rng = np.random.default_rng(seed)
    rest = face(seed)
    peak = rest.copy()
    pts = list(T.TASK_SPECS[task].points["right"]) + list(T.TASK_SPECS[task].points["left"])
    peak[pts, :2] += rng.normal(0, 0.05 * IOD, (len(pts), 2))
    if T.TASK_SPECS[task].kind == "closure":  # a real (asymmetric) closure
        for s, f in (("right", 0.2), ("left", 0.7)):
            idx = list(T.EYE_CONTOUR[s])
            peak[idx, 1] = CY + (rest[idx, 1] - CY) * f
    spread = rng.uniform(0.2, 0.8, 478)
    a = T.task_measure(task, T.make_pose(rest, spread), T.make_pose(peak, spread))
    b = T.task_measure(
        task, T.make_pose(flip_points(rest, W), spread[MP_FLIP]), T.make_pose(flip_points(peak, W), spread[MP_FLIP])
    )
    assert a.available and b.available
    assert (b.left, b.right) == pytest.approx((a.right, a.left), abs=1e-9)
    assert b.threshold == pytest.approx(a.threshold)
    assert b.activated == a.activated
    for key in ("asymmetry_score", "cosine_score", "eface"):
        va, vb = getattr(a, key), getattr(b, key)
        assert (va is None) == (vb is None)
        if va is not None:
            assert vb == pytest.approx(va, abs=1e-9)
    if a.weaker_side:
        assert b.weaker_side == {"left": "right", "right": "left"}[a.weaker_side]


def test_pose_alignment_removes_position_roll_and_scale():
    rest = face()
    peak = move(rest, [61], -0.08, -0.05)
    a = measure("smile", rest, peak)
    # the task photo taken closer, tilted and off-centre
    b = measure("smile", rest, similarity(peak, 8.0, 1.3, (25, -15)))
    assert (b.left, b.right) == pytest.approx((a.left, a.right), abs=1e-9)
    assert b.asymmetry_score == pytest.approx(a.asymmetry_score)


def test_activation_gate_from_landmark_noise():
    rest = face()
    peak = move(rest, T.BROW["right"], 0, -0.02)  # 2 px of movement
    quiet = measure("brow_raise", rest, peak, spread=0.1)
    noisy = measure("brow_raise", rest, peak, spread=2.0)
    assert quiet.activated and quiet.asymmetry_score == pytest.approx(1.0)
    assert noisy.threshold > quiet.threshold
    assert noisy.threshold == pytest.approx(3.0 * math.hypot(0.02, 0.02))  # 2 px / 100 px IOD
    assert not noisy.activated
    assert noisy.asymmetry_score is None and noisy.cosine_score is None
    assert noisy.weaker_side is None and noisy.eface is None
    assert noisy.left == pytest.approx(0.0) and noisy.right == pytest.approx(0.02)
    # the factor is a parameter
    lax = measure("brow_raise", rest, peak, spread=2.0, params=FeatureParams(task_activation_factor=0.5))
    assert lax.activated


def test_no_spread_uses_default_noise():
    rest = face()
    peak = move(rest, [61, 291], 0, -0.1)
    m = T.task_measure("smile", T.make_pose(rest), T.make_pose(peak), FeatureParams(task_noise_default_iod=0.01))
    assert m.threshold == pytest.approx(3 * math.hypot(0.01, 0.01))


def test_eye_closure_fraction():
    rest = face()
    peak = rest.copy()
    idx = list(T.EYE_CONTOUR["right"])
    peak[idx, 1] = CY  # right lids fully closed (flat contour), left eye open
    m = measure("eye_closure_full", rest, peak, spread=0.3)
    assert m.unit == "fraction"
    assert m.right == pytest.approx(1.0) and m.left == pytest.approx(0.0, abs=1e-9)
    assert m.activated and m.weaker_side == "left" and m.asymmetry_score == pytest.approx(1.0)


def test_pucker_ignores_a_sideways_shift_of_the_whole_mouth():
    rest = face()
    lips = list(T.LIP_CORNER["right"]) + list(T.LIP_CORNER["left"])
    peak = move(rest, T.LIP_CORNER["right"], 0.06, 0)  # right corner region moves medially
    peak = move(peak, T.LIP_CORNER["left"], -0.06, 0)  # left too: symmetric pucker
    shifted = move(peak, lips + list(T.LIP_MIDLINE), 0.04, 0)  # whole mouth drawn to one side
    a, b = measure("pucker", rest, peak), measure("pucker", rest, shifted)
    assert a.asymmetry_score == pytest.approx(0.0, abs=1e-9)
    assert b.asymmetry_score == pytest.approx(0.0, abs=1e-9)
    assert b.left == pytest.approx(0.06)


def test_missing_postures_are_not_available():
    m = T.task_measure("smile", None, T.make_pose(face()))
    assert not m.available and m.reason and m.left is None and not m.activated
    with pytest.raises(MT.TaskError):
        T.task_measure("rest", T.make_pose(face()), T.make_pose(face()))
    nan_face = np.full((478, 3), np.nan)
    assert T.make_pose(nan_face) is None


@pytest.mark.parametrize(
    ("cm", "points"), [(-0.1, 0), (0.0, 0), (0.24, 0), (0.25, 1), (0.5, 2), (0.74, 2), (0.99, 3), (1.0, 4), (3.0, 4), (float("nan"), 0)]
)
def test_hb_points(cm, points):
    assert MT.hb_points(cm) == points


def test_hb_measure_weaker_side_and_no_cm_grade():
    brow = MT.TaskMeasure("brow_raise", "iod_canthal", hb_cm={"left": 0.3, "right": 1.1})
    smile = MT.TaskMeasure("smile", "iod_canthal", hb_cm={"left": 0.55, "right": 1.0})
    hb = MT.hb_measure(brow, smile)
    assert hb["side"] == "left" and hb["points"] == 1 + 2
    assert hb["by_side"]["right"]["points"] == 8
    assert hb["label"] == "estimate"
    # the cm-based grade is retired (it read healthy volunteers as III-IV): the grade is scales.house_brackmann's
    assert "grade_estimate" not in hb and "grade_label" not in hb
    assert MT.hb_measure(brow, None) is None
    assert MT.hb_measure(brow, MT.TaskMeasure("smile", "iod_canthal")) is None  # no mm calibration


def test_eface_subscores():
    assert MT.eface_static({"rest_brow_height": 0.1, "rest_palpebral_fissure_height": 0.0, "rest_nasolabial_height": None}) == pytest.approx(95.0)
    assert MT.eface_static({}) is None
    ms = {
        "brow_raise": MT.TaskMeasure("brow_raise", "iod_canthal", eface=80.0),
        "smile": MT.TaskMeasure("smile", "iod_canthal", eface=60.0),
        "pucker": MT.TaskMeasure("pucker", "iod_canthal", eface=10.0),  # not an eFACE item
        "eee": MT.TaskMeasure("eee", "iod_canthal", activated=False),
    }
    score, used = MT.eface_dynamic(ms)
    assert score == pytest.approx(70.0) and used == ["brow_raise", "smile"]
    assert MT.eface_dynamic({}) == (None, [])


def test_combine_and_from_sides():
    a = MT.TaskMeasure("smile", "iod_canthal", left=0.2, right=0.3, threshold=0.02, cosine_score=0.9, hb_cm={"left": 1.0, "right": 1.2})
    b = MT.TaskMeasure("smile", "iod_canthal", left=0.1, right=0.3, threshold=0.04, cosine_score=0.7, hb_cm={"left": 0.5, "right": 1.0})
    c = MT.combine("smile", [a, b, MT.not_available("smile", "x")])
    assert (c.left, c.right, c.threshold) == pytest.approx((0.15, 0.3, 0.03))
    assert c.cosine_score == pytest.approx(0.8) and c.hb_cm["left"] == pytest.approx(0.75)
    assert c.activated and c.weaker_side == "left" and c.asymmetry_score == pytest.approx(0.5)
    assert not MT.combine("smile", [MT.not_available("smile", "x")]).available
    low = MT.from_sides("smile", 0.01, 0.02, 0.03, 0.9)
    assert not low.activated and low.cosine_score is None


def test_task_names():
    aliases = IngestParams().task_aliases
    assert canonical_task("big-smile", aliases) == "smile"
    assert canonical_task("Eyes_Closed_Gently", aliases) == "eye_closure_gentle"
    assert canonical_task("eye_closure_full", aliases) == "eye_closure_full"
    with pytest.raises(UnknownTaskError):
        canonical_task("small-smile", aliases)
    assert task_from_filename("eyebrows-up-2.jpg", IngestParams().task_aliases) == "brow_raise"
    assert task_from_filename("face-mp-eyes-closed-gently.jpg", IngestParams().task_aliases) == "eye_closure_gentle"
    assert task_from_filename("face-mp-eyes-closed-tightly.jpg", IngestParams().task_aliases) == "eye_closure_full"
    assert task_from_filename("face-mp-big-smile-teeth-closed.jpg", IngestParams().task_aliases) == "smile"
    assert task_from_filename("mpeschel_lower_teeth_bared.jpg", IngestParams().task_aliases) == "eee"
    assert task_from_filename("mpeschel_at_rest.jpg", IngestParams().task_aliases) == "rest"
    assert task_from_filename("face-mp-small-smile.jpg", IngestParams().task_aliases) is None
    assert task_from_filename("sub-01_ses-20240105_task-eye_closure_gentle.mp4", IngestParams().task_aliases) == "eye_closure_gentle"
    assert task_from_filename("smile.png", IngestParams().task_aliases) == "smile"


def _tables(frames: list[np.ndarray], spread: float = 0.5, keyframes: list | None = None):
    pts = np.stack(frames).astype(np.float32)
    n = pts.shape[0]
    return build_tables(
        pts, np.full((n, 478), spread, np.float32), np.ones(n, np.int16), np.full(n, 8, np.int16),
        np.arange(n) / 25.0, keyframes or [None] * n,
    )


def _session():
    rest = face()
    smile = move(move(rest, [61], -0.12, -0.08), [291], 0.06, -0.04)
    brow = move(move(rest, T.BROW["right"], 0, -0.12), T.BROW["left"], 0, -0.11)
    return {"at-rest": _tables([rest]), "big-smile": _tables([smile]), "eyebrows-up": _tables([brow])}


def test_measure_results_contract():
    out = measure_results(_session())
    assert set(out) >= {"static", "tasks", "hb_measure"}
    assert set(out["tasks"]) == {"smile", "brow_raise"}  # tasks not recorded are absent
    sm = out["tasks"]["smile"]
    for key in ("activated", "asymmetry_score", "cosine_score", "weaker_side", "left", "right", "unit"):
        assert key in sm
    assert sm["activated"] and sm["weaker_side"] == "left" and sm["unit"] == "iod_canthal"
    assert sm["right"] == pytest.approx(math.hypot(0.12, 0.08))
    assert out["hb_measure"]["side"] == "left" and out["hb_measure"]["label"] == "estimate"
    assert out["static"]["rest_commissure_height_asym"] == pytest.approx(0.0, abs=1e-9)
    # without rest, photo tasks are not available (never guessed)
    no_rest = measure_results({k: v for k, v in _session().items() if k != "at-rest"})
    assert not no_rest["tasks"]["smile"]["available"] and no_rest["tasks"]["smile"]["asymmetry_score"] is None
    assert no_rest["hb_measure"] is None
    with pytest.raises(ValueError):
        measure_results({"juggling": _session()["at-rest"]})


def test_video_task_uses_its_own_neutral_and_peak_frames():
    rest = face()
    frames = [rest, rest, move(move(rest, [61], -0.1, -0.05), [291], 0.05, -0.02), rest]
    pts, q = _tables(frames, keyframes=[None, "neutral", "peak", None])
    out = measure_results({"smile": (pts, q)})  # no rest recording needed
    sm = out["tasks"]["smile"]
    assert sm["available"] and sm["right"] == pytest.approx(math.hypot(0.1, 0.05))
    # without key frames the peak is found by the task's own movement
    pts2, q2 = _tables(frames)
    assert measure_results({"smile": (pts2, q2)})["tasks"]["smile"]["right"] == pytest.approx(sm["right"])


IDS = {"site": "A", "subject": "01", "session": "20240105", "kind": "photo", "sha256": "0" * 64,
       "healthy": True, "hb_grade": None, "simulated": False}


def test_feature_and_session_tables_match_the_json():
    sess = _session()
    out = measure_results(sess)
    rest_pts, rest_q = sess["at-rest"]
    rows = []
    for name, task in (("at-rest", "rest"), ("big-smile", "smile"), ("eyebrows-up", "brow_raise")):
        pts, q = sess[name]
        rows.append(recording_row({**IDS, "recording_key": name, "task": task}, pts, q, None,
                                  rest_points=rest_pts, rest_quality=rest_q))
    ft = build_feature_table(rows)
    assert ft.schema["task_smile_activated"] == pl.Boolean
    smile_row = ft.filter(pl.col("task") == "smile").row(0, named=True)
    assert smile_row["task_smile_asym"] == pytest.approx(out["tasks"]["smile"]["asymmetry_score"])
    assert smile_row["task_brow_raise_left"] is None  # other tasks' columns stay empty
    st = session_table(ft, FeatureParams())
    assert dict(st.schema) == SESSION_TABLE_SCHEMA and st.height == 1
    s = st.row(0, named=True)
    for task, m in out["tasks"].items():
        assert s[f"task_{task}_left"] == pytest.approx(m["left"])
        assert s[f"task_{task}_asym"] == pytest.approx(m["asymmetry_score"])
        assert s[f"task_{task}_cosine"] == pytest.approx(m["cosine_score"])
        assert s[f"task_{task}_weaker"] == m["weaker_side"]
        assert s[f"task_{task}_activated"] == m["activated"]
    assert s["hb_measure_points"] == out["hb_measure"]["points"]
    assert s["hb_measure_weaker"] == out["hb_measure"]["side"]
    assert "hb_grade_estimate" not in s and s["hb_scale_grade_estimate"] == out["house_brackmann"]["grade_number"]
    assert s["eface_dynamic"] == pytest.approx(out["eface"]["dynamic"])
    assert s["eface_static"] == pytest.approx(out["eface"]["static"])
    # a photo task row without the rest landmarks has no task measure
    pts, q = sess["big-smile"]
    bare = recording_row({**IDS, "recording_key": "x", "task": "smile"}, pts, q, None)
    assert bare["task_smile_left"] is None


def test_task_measure_specs():
    names = [m.name for m in MEASURES]
    for task in T.DYNAMIC_TASKS:
        for suffix in ("left", "right", "asym", "cosine", "weaker", "activated", "threshold", "eface"):
            assert f"task_{task}_{suffix}" in names
    for name in ("hb_measure_points", "hb_scale_grade_estimate", "eface_static", "eface_dynamic"):
        assert name in names
    assert "hb_grade_estimate" not in names  # retired: the cm-based grade read healthy faces as III-IV


def test_measure_json_and_session_table_aggregate_repeated_rest_recordings_alike():
    """One aggregator: two rest recordings are averaged in the JSON as in the session table."""
    rest_a = face()
    rest_b = move(face(), [291], 0.0, 0.08)  # the patient's left commissure lower
    ta, tb = _tables([rest_a]), _tables([rest_b])
    out = measure_results({"rest": ta, "at-rest": tb})
    rows = [recording_row({**IDS, "recording_key": k, "task": "rest"}, p, q, None) for k, (p, q) in (("a", ta), ("b", tb))]
    s = session_table(build_feature_table(rows), FeatureParams()).row(0, named=True)
    for col, value in out["static"].items():
        if isinstance(value, float):
            assert value == pytest.approx(s[col]), col
        else:
            assert value == s[col], col
    assert out["static"]["rest_commissure_height_left"] == pytest.approx(
        np.mean([r["rest_commissure_height_left"] for r in rows])
    )
    assert out["static"]["rest_commissure_height_left"] != pytest.approx(rows[0]["rest_commissure_height_left"])


def test_big_smile_is_an_alias_in_measure_results():
    sess = _session()
    out = measure_results({"at_rest": sess["at-rest"], "big_smile": sess["big-smile"]})
    assert set(out["tasks"]) == {"smile"} and out["tasks"]["smile"]["available"]


def test_task_specs_match_the_registry():
    from palsyflow.measures.registry import DYNAMIC_TASKS, TASK_INFO

    assert tuple(T.TASK_SPECS) == DYNAMIC_TASKS
    for t, spec in T.TASK_SPECS.items():
        assert spec.unit == TASK_INFO[t].unit in ("iod_canthal", "fraction")


def _task(side: str | None, asym: float, activated: bool = True):
    from palsyflow.measures.tasks import TaskMeasure

    return TaskMeasure(task="t", unit="iod", available=True, activated=activated, asymmetry_score=asym, weaker_side=side)


def test_movement_side_needs_several_tasks_beyond_the_floor():
    from palsyflow.measures.tasks import movement_side

    healthy = {"a": _task("left", 0.18), "b": _task("left", 0.1), "c": _task("right", 0.22), "d": _task("left", 0.05)}
    assert movement_side(healthy, 0.2, 3) is None  # one task beyond the floor never decides
    weak_left = {"a": _task("left", 0.4), "b": _task("left", 0.35), "c": _task("left", 0.3), "d": _task("right", 0.25)}
    assert movement_side(weak_left, 0.2, 3) == "left"
    weak_right = {k: _task("right" if v.weaker_side == "left" else "left", v.asymmetry_score) for k, v in weak_left.items()}
    assert movement_side(weak_right, 0.2, 3) == "right"
    tie = {"a": _task("left", 0.4), "b": _task("left", 0.4), "c": _task("left", 0.4),
           "d": _task("right", 0.4), "e": _task("right", 0.4), "f": _task("right", 0.4)}
    assert movement_side(tie, 0.2, 3) is None
    not_activated = {k: _task(v.weaker_side, v.asymmetry_score, activated=False) for k, v in weak_left.items()}
    assert movement_side(not_activated, 0.2, 3) is None
