"""Regional L/R measures on synthetic, exactly symmetric faces."""

from __future__ import annotations

import numpy as np
import pytest

from palsyflow.config import FeatureParams
from palsyflow.features.regional import measure_names, recording_measures
from palsyflow.measures.asymmetry import asymmetry, weaker_side
from palsyflow.measures.registry import FAMILIES
from palsyflow.features.regions import (
    BROW,
    CHEEK,
    COMMISSURE,
    EYE_INNER,
    EYE_OUTER,
    EYE_UPPER_LID,
    IRIS_CENTER,
    IRIS_RING,
    MOUTH_CORNER_REGION,
    mirror_pairs,
)

IOD_PX = 100.0
ORIGIN = np.array([320.0, 200.0])


def symmetric_face(seed: int = 0) -> np.ndarray:
    """One frame (478, 3) in pixels: face-like right-side points mirrored to the left."""
    rng = np.random.default_rng(seed)
    pts = np.full((478, 3), np.nan)
    pts[:, 0] = ORIGIN[0] + rng.normal(0, 1, 478)  # midline-ish filler
    pts[:, 1] = ORIGIN[1] + rng.uniform(0, 150, 478)
    pts[:, 2] = 0.0
    # right side (image left): brows above the eye, lids around it, cheek and mouth below
    def put(idx, dx, dy):
        pts[idx, 0] = ORIGIN[0] - dx * IOD_PX
        pts[idx, 1] = ORIGIN[1] + dy * IOD_PX

    for i in range(478):
        put(i, rng.uniform(0.05, 0.6), rng.uniform(-0.3, 1.2))
    put(IRIS_CENTER["right"], 0.5, 0.0)
    put(EYE_OUTER["right"], 0.75, 0.0)  # canthus midpoint on the iris centre: same IOD
    put(EYE_INNER["right"], 0.25, 0.0)
    for k, i in enumerate(BROW["right"]):
        put(i, 0.8 - 0.12 * k, -0.35 - 0.02 * k)
    for k, (u, l) in enumerate(zip(EYE_UPPER_LID["right"], (144, 145, 153), strict=True)):
        put(u, 0.6 - 0.1 * k, -0.06)
        put(l, 0.6 - 0.1 * k, 0.06)
    for k, i in enumerate(CHEEK["right"]):
        put(i, 0.2 + 0.1 * k, 0.6 + 0.05 * k)
    put(COMMISSURE["right"], 0.35, 1.0)
    for r, l in mirror_pairs():
        pts[l, 0] = 2 * ORIGIN[0] - pts[r, 0]
        pts[l, 1:] = pts[r, 1:]
    return pts


def test_asymmetry_properties():
    rng = np.random.default_rng(0)
    for a, b in rng.normal(0, 2, size=(200, 2)):
        v = asymmetry(a, b)
        assert 0.0 <= v <= 1.0
        assert v == pytest.approx(asymmetry(b, a))
        assert asymmetry(a * 3.0, b * 3.0) == pytest.approx(v)  # scale free
    assert asymmetry(0.4, 0.4) == 0.0 and asymmetry(0.0, 0.0) == 0.0
    assert asymmetry(None, 1.0) is None and asymmetry(float("nan"), 1.0) is None
    assert asymmetry(0.5, 1.0) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "family,left,right,expected",
    [
        ("rest_brow_height", 0.3, 0.4, "left"),  # lower brow
        ("rest_palpebral_fissure_height", 0.15, 0.10, "left"),  # wider fissure
        ("rest_commissure_height", 1.1, 1.0, "left"),  # commissure lower (larger y)
        ("rest_nasolabial_height", 0.6, 0.7, "right"),
        ("mov_commissure_excursion", 0.05, 0.2, "left"),  # moves less
    ],
)
def test_weaker_side_rules(family, left, right, expected):
    assert weaker_side(FAMILIES[family].weaker, left, right) == expected
    other = "right" if expected == "left" else "left"
    assert weaker_side(FAMILIES[family].weaker, right, left) == other
    assert weaker_side(FAMILIES[family].weaker, left, left) is None
    assert weaker_side(FAMILIES[family].weaker, left, right, min_asym=0.99) is None


def test_symmetric_face_has_zero_asymmetry():
    m = recording_measures(symmetric_face()[None])
    assert set(m) == set(measure_names())
    for region in ("rest_brow_height", "rest_palpebral_fissure_height", "rest_nasolabial_height", "rest_commissure_height"):
        assert m[f"{region}_asym"] == pytest.approx(0.0, abs=1e-12)
        assert m[f"{region}_weaker"] is None
    assert m["rest_brow_height_left"] == pytest.approx(np.mean([0.35 + 0.02 * k for k in range(5)]))
    assert m["rest_palpebral_fissure_height_left"] == pytest.approx(0.12)
    assert m["rest_commissure_height_right"] == pytest.approx(1.0)
    assert m["rest_commissure_midline_distance_left"] == pytest.approx(0.35)
    assert m["mov_commissure_excursion_left"] is None  # a photo has no movement


@pytest.mark.parametrize(
    "region,idx,dy,weaker",
    [
        ("rest_brow_height", BROW["left"], +0.05, "left"),  # left brow pushed down
        ("rest_palpebral_fissure_height", EYE_UPPER_LID["right"], -0.03, "right"),  # right fissure opened wider
        ("rest_nasolabial_height", CHEEK["right"], +0.04, "right"),  # right cheek sags
        ("rest_commissure_height", MOUTH_CORNER_REGION["left"], +0.06, "left"),  # left corner droops
    ],
)
def test_one_sided_change_names_that_side_and_leaves_other_regions(region, idx, dy, weaker):
    base = symmetric_face()
    face = base.copy()
    face[list(idx), 1] += dy * IOD_PX
    m = recording_measures(face[None])
    assert m[f"{region}_weaker"] == weaker
    assert m[f"{region}_asym"] > 0.02
    for other in {"rest_brow_height", "rest_palpebral_fissure_height", "rest_nasolabial_height", "rest_commissure_height"} - {region}:
        assert m[f"{other}_asym"] == pytest.approx(0.0, abs=1e-12)


def _video(n: int = 20, move_left: float = 0.15, move_right: float = 0.03) -> np.ndarray:
    base = symmetric_face()
    frames = np.repeat(base[None], n, axis=0)
    t = np.linspace(0, 1, n)
    frames[:, COMMISSURE["left"], 0] += move_left * IOD_PX * t  # lateral pull (smile)
    frames[:, COMMISSURE["right"], 0] -= move_right * IOD_PX * t
    return frames


def test_mouth_excursion_smaller_on_the_weak_side():
    m = recording_measures(_video(), keyframes={"neutral": 0})
    assert m["mov_commissure_excursion_left"] > m["mov_commissure_excursion_right"] > 0
    assert m["mov_commissure_excursion_weaker"] == "right"
    # RMS about the mean of a linear ramp from 0 to the full displacement = its SD
    assert m["mov_commissure_excursion_left"] == pytest.approx(0.15 * np.std(np.linspace(0, 1, 20)), rel=1e-9)
    assert m["mov_brow_excursion_asym"] == pytest.approx(0.0, abs=1e-12)


def test_excursions_ignore_gaze():
    """Irises sweeping sideways and up (gaze) are not brow or mouth movement."""
    still = np.repeat(symmetric_face()[None], 20, axis=0)
    gaze = still.copy()
    shift = np.linspace(0, 1, 20)[:, None] * np.array([0.25, -0.1]) * IOD_PX  # both eyes look right and up
    for s in ("left", "right"):
        ring = [IRIS_CENTER[s], *IRIS_RING[s]]
        gaze[:, ring, :2] += shift[:, None, :]
    m = recording_measures(gaze, keyframes={"neutral": 0})
    for fam in ("mov_brow_excursion", "mov_palpebral_fissure_excursion", "mov_commissure_excursion"):
        assert m[f"{fam}_left"] == pytest.approx(0.0, abs=1e-9)
        assert m[f"{fam}_right"] == pytest.approx(0.0, abs=1e-9)
    # the same sweep with real mouth movement keeps that movement and its side
    moving = _video()
    for s in ("left", "right"):
        moving[:, [IRIS_CENTER[s], *IRIS_RING[s]], :2] += shift[:, None, :]
    m = recording_measures(moving, keyframes={"neutral": 0})
    assert m["mov_commissure_excursion_left"] == pytest.approx(0.15 * np.std(np.linspace(0, 1, 20)), rel=1e-9)
    assert m["mov_commissure_excursion_weaker"] == "right"


def test_neutral_keyframe_selects_the_static_frame():
    frames = _video()
    last = recording_measures(frames, keyframes={"neutral": len(frames) - 1})
    first = recording_measures(frames, keyframes={"neutral": 0})
    median = recording_measures(frames)
    assert first["rest_commissure_midline_distance_left"] == pytest.approx(0.35)
    assert last["rest_commissure_midline_distance_left"] == pytest.approx(0.35 + 0.15)
    assert first["rest_commissure_midline_distance_left"] < median["rest_commissure_midline_distance_left"] < last["rest_commissure_midline_distance_left"]


def test_too_few_face_frames_gives_all_none():
    frames = _video(n=10)
    found = np.zeros(10, dtype=bool)
    found[:3] = True
    frames[3:] = np.nan
    m = recording_measures(frames, found, params=FeatureParams(min_face_found_fraction=0.5))
    assert all(v is None for v in m.values())
    m = recording_measures(frames, found, params=FeatureParams(min_face_found_fraction=0.2))
    assert m["rest_commissure_height_left"] is not None and m["mov_commissure_excursion_left"] is not None


def test_face_found_shape_is_checked():
    with pytest.raises(ValueError):
        recording_measures(_video(n=4), np.ones(3, dtype=bool))
