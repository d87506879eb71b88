"""Emotrics-equivalent millimetre columns in the feature and session tables (real photos)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from palsyflow.config import FeatureParams
from palsyflow.features.emotrics import emotrics_measures, lagophthalmos, ocular_synkinesis
from palsyflow.features.table import build_feature_table, recording_row, session_table
from palsyflow.landmarks.schemes import get_scheme
from palsyflow.measures.registry import (
    EMOTRICS_REST_COLUMNS,
    EMOTRICS_TASK_COLUMNS,
    FEATURE_BY_NAME,
    SYNKINESIS_TASK_COLUMNS,
)
from palsyflow.schemas import LANDMARK_SCHEMA

PHOTOS = {
    "rest": "face-mp-at-rest.jpg",
    "smile": "face-mp-big-smile-teeth-closed.jpg",
    "brow_raise": "face-mp-eyebrows-up.jpg",
    "eye_closure_full": "face-mp-eyes-closed-tightly.jpg",
    "pucker": "face-mp-lips-puckered.jpg",
}
IDS = {"site": "A", "subject": "N01", "session": "20240105", "kind": "photo", "healthy": True, "simulated": False}
SIDES = ("left", "right")
WIDTH = 4000  # any width: mirroring about it only has to be the same for every photo


def _table(points: np.ndarray) -> pl.DataFrame:
    """A one-frame landmark table (LANDMARK_SCHEMA) from (478, 3) pixel points."""
    n = points.shape[0]
    return pl.DataFrame({
        "frame": np.zeros(n, dtype=np.int64), "point": np.arange(n), "x": points[:, 0], "y": points[:, 1],
        "z": points[:, 2], "spread": np.zeros(n), "face_found": np.ones(n, dtype=bool),
    }).cast(LANDMARK_SCHEMA)


@pytest.fixture(scope="module")
def photos(shared_data, face_model) -> dict[str, np.ndarray]:
    from palsyflow.config import LandmarkParams
    from palsyflow.landmarks import extract_landmarks

    d = shared_data / "healthy-tasks" / "mpeschel_session_A_original_assets"
    params = LandmarkParams(tta_copies=1)
    return {t: extract_landmarks(d / f, "photo", params, face_model).points_array()[0].astype(np.float64) for t, f in PHOTOS.items()}


def _session(photos: dict[str, np.ndarray], tasks=tuple(PHOTOS)) -> dict:
    rest = _table(photos["rest"])
    rows = [recording_row({**IDS, "task": t, "recording_key": f"k-{t}-{i}"}, _table(photos[t]), None, None, FeatureParams(), rest, None)
            for i, t in enumerate(tasks)]
    st = session_table(build_feature_table(rows), FeatureParams())
    assert st.height == 1
    return st.row(0, named=True)


def _f32(p: np.ndarray) -> np.ndarray:
    return p.astype(np.float32).astype(np.float64)  # what the landmark table stores


def _mm_columns() -> list[str]:
    return [*EMOTRICS_REST_COLUMNS, *(c for v in EMOTRICS_TASK_COLUMNS.values() for c in v),
            *(c for v in SYNKINESIS_TASK_COLUMNS.values() for c in v)]


@pytest.mark.shared_data
def test_session_table_has_the_mm_columns_from_rest_and_peak(photos):
    s = _session(photos)
    for c in _mm_columns():
        assert s[c] is not None, c
        assert FEATURE_BY_NAME[c].unit in ("mm", "deg", "ratio")
    rest = emotrics_measures(_f32(photos["rest"]), "mediapipe478")
    smile = emotrics_measures(_f32(photos["smile"]), "mediapipe478")
    brow = emotrics_measures(_f32(photos["brow_raise"]), "mediapipe478")
    gap = lagophthalmos(_f32(photos["rest"]), _f32(photos["eye_closure_full"]), "mediapipe478")
    syn = ocular_synkinesis(_f32(photos["rest"]), _f32(photos["smile"]), "mediapipe478", "smile")
    for s_ in SIDES:
        # rest columns come from the rest photo (not the mean over the task photos) ...
        assert s[f"rest_emotrics_mrd1_{s_}"] == pytest.approx(rest[f"emotrics_mrd1_{s_}"], abs=1e-9)
        assert s[f"rest_emotrics_brow_height_{s_}"] == pytest.approx(rest[f"emotrics_brow_height_{s_}"], abs=1e-9)
        # ... task columns from the task's peak posture, against the rest photo
        assert s[f"task_smile_emotrics_commissure_excursion_{s_}"] == pytest.approx(smile[f"emotrics_commissure_excursion_{s_}"], abs=1e-9)
        assert s[f"task_brow_raise_emotrics_brow_height_{s_}"] == pytest.approx(brow[f"emotrics_brow_height_{s_}"], abs=1e-9)
        assert s[f"lagophthalmos_gap_mm_{s_}"] == pytest.approx(gap[f"lagophthalmos_gap_mm_{s_}"], abs=1e-9)
        assert s[f"synkinesis_ocular_smile_mm_{s_}"] == pytest.approx(syn[f"synkinesis_ocular_smile_mm_{s_}"], abs=1e-9)
        # a healthy face: a smile widens the mouth, raising the brows raises them, closing shuts the eye
        assert s[f"task_smile_emotrics_commissure_excursion_{s_}"] > s[f"rest_emotrics_commissure_excursion_{s_}"] + 5
        assert s[f"task_smile_emotrics_dental_show_{s_}"] > s[f"rest_emotrics_dental_show_{s_}"] + 3
        assert s[f"task_brow_raise_emotrics_brow_height_{s_}"] > s[f"rest_emotrics_brow_height_{s_}"] + 3
        assert s[f"lagophthalmos_gap_mm_{s_}"] < 0.35 * s[f"rest_emotrics_palpebral_fissure_height_{s_}"]


@pytest.mark.shared_data
def test_mirrored_session_swaps_the_sides(photos):
    sch = get_scheme("mediapipe478")
    s = _session(photos)
    m = _session({t: sch.mirror(p, WIDTH) for t, p in photos.items()})
    for c in _mm_columns():
        meas = FEATURE_BY_NAME[c]
        other = c if meas.side is None else c.removesuffix(meas.side) + ("right" if meas.side == "left" else "left")
        # the smoothing splines' knots follow the point order, so they are not exactly
        # mirror-symmetric: the 7-point lower-lip spline moves most (0.13 mm on this photo)
        tol = 0.5 if meas.unit == "deg" else (0.02 if meas.unit == "ratio" else (0.2 if "lip_height" in c else 0.1))
        assert m[c] == pytest.approx(s[other], abs=tol), c
    # the face is not symmetric to that precision, so the swap is seen, not just equality
    assert abs(s["rest_emotrics_commissure_excursion_left"] - s["rest_emotrics_commissure_excursion_right"]) > 1.0


@pytest.mark.shared_data
def test_repeats_are_averaged_and_a_task_without_rest_keeps_its_peak(photos):
    sch = get_scheme("mediapipe478")
    both = {**photos, "smile2": sch.mirror(photos["smile"], WIDTH)}
    rest = _table(photos["rest"])
    rows = [recording_row({**IDS, "task": t.removesuffix("2"), "recording_key": t}, _table(both[t]), None, None, FeatureParams(), rest, None)
            for t in ("rest", "smile", "smile2")]
    s = session_table(build_feature_table(rows), FeatureParams()).row(0, named=True)
    one = _session(photos, ("rest", "smile"))
    mean = 0.5 * (one["task_smile_emotrics_commissure_excursion_left"] + one["task_smile_emotrics_commissure_excursion_right"])
    for s_ in SIDES:
        assert s[f"task_smile_emotrics_commissure_excursion_{s_}"] == pytest.approx(mean, abs=0.1)
    # the brow-raise columns stay empty without a brow_raise recording
    assert s["task_brow_raise_emotrics_brow_height_left"] is None and s["lagophthalmos_gap_mm_left"] is None
    # a photo task without the session's rest photo: its peak measures, but no synkinesis
    alone = recording_row({**IDS, "task": "smile", "recording_key": "k"}, _table(photos["smile"]), None, None, FeatureParams())
    assert alone["task_smile_emotrics_commissure_excursion_left"] is not None
    assert alone["synkinesis_ocular_smile_mm_left"] is None and alone["task_smile_left"] is None
