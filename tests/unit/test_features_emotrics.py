"""Emotrics-equivalent measures, ocular synkinesis and lagophthalmos (palsyflow.features.emotrics).

Known answers come from a constructed iBUG-68 face whose contours lie on quadratics
(a cubic smoothing spline reproduces a quadratic exactly, so each measure is known in
closed form) and whose iris diameter fixes the millimetre scale.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from palsyflow.conventions import IRIS_DIAMETER_MM
from palsyflow.features.emotrics import (
    EMOTRICS_MEASURES,
    SYNKINESIS_MEASURES,
    emotrics_measures,
    lagophthalmos,
    ocular_synkinesis,
)
from palsyflow.landmarks.schemes import get_scheme
from palsyflow.measures.registry import EMOTRICS_INFO, SYNKINESIS_INFO, UNITS

IRIS_PX = 40.0  # iris diameter in the constructed image
PX = IRIS_PX / IRIS_DIAMETER_MM  # pixels per millimetre
SHIFT = np.array([400.0, 300.0])  # image position of the pupils' midpoint, px

# Constructed face, in mm (x towards the patient's left = image right, y down, origin
# between the pupils). Side-specific values differ so a swap shows.
BROW = {"right": 20.0, "left": 22.0}  # brow height above the pupil
UPPER = {"right": 4.0, "left": 3.0}  # MRD1
LOWER = {"right": 5.0, "left": 5.5}  # MRD2
PUPIL_X = {"right": -30.0, "left": 30.0}
C_RIGHT, C_LEFT = np.array([-25.0, 68.0]), np.array([25.0, 66.0])  # commissures 48, 54
LOWER_MID = 77.0  # outer lower lip on the midline
INNER_GAP = 4.0  # inner lower minus inner upper lip on the midline (teeth shown)


def _line(x):  # through both commissures
    return 67.0 - 0.04 * x


def outer_upper(x):
    return _line(x) - 6.0 * (1 - (x / 25.0) ** 2)


def outer_lower(x):
    return _line(x) + (LOWER_MID - 67.0) * (1 - (x / 25.0) ** 2)


def inner_upper(x):
    return _line(x) - 1.0 * (1 - (x / 20.0) ** 2)


def inner_lower(x):
    return _line(x) + (INNER_GAP - 1.0) * (1 - (x / 20.0) ** 2)


def face_mm(upper=UPPER, lower=LOWER) -> np.ndarray:
    """The constructed face's 68 points, mm."""
    p = np.zeros((68, 2))
    p[0:17] = np.column_stack([np.linspace(-70, 70, 17), 60 + 40 * np.sin(np.linspace(0, np.pi, 17))])  # jaw
    for side, idx in (("right", range(17, 22)), ("left", range(22, 27))):
        dx = np.array([-12.0, -6, 0, 6, 12])  # outer to inner (right), inner to outer (left): image x increases
        p[list(idx)] = np.column_stack([PUPIL_X[side] + dx, -BROW[side] + 0.02 * dx**2])
    p[27:31] = np.column_stack([np.zeros(4), [5, 15, 25, 35]])
    p[31:36] = np.column_stack([[-8, -4, 0, 4, 8], [42, 43, 44, 43, 42]])
    for side, (c0, u1, u2, c1, l1, l2) in (("right", (36, 37, 38, 39, 41, 40)), ("left", (42, 43, 44, 45, 47, 46))):
        x0 = PUPIL_X[side]
        for i, t in ((c0, -1.0), (u1, -5 / 14), (u2, 5 / 14), (c1, 1.0)):
            p[i] = (x0 + 14 * t, -upper[side] * (1 - t * t))
        for i, t in ((l1, -5 / 14), (l2, 5 / 14)):
            p[i] = (x0 + 14 * t, lower[side] * (1 - t * t))
    xs = np.linspace(-25, 25, 7)
    p[48:55] = np.column_stack([xs, outer_upper(xs)])
    p[[48, 59, 58, 57, 56, 55, 54]] = np.column_stack([xs, outer_lower(xs)])
    xi = np.linspace(-20, 20, 5)
    p[60:65] = np.column_stack([xi, inner_upper(xi)])
    p[[60, 67, 66, 65, 64]] = np.column_stack([xi, inner_lower(xi)])
    return p


def to_px(p_mm: np.ndarray, angle_deg: float = 0.0, scale: float = 1.0) -> np.ndarray:
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return (p_mm * PX * scale) @ rot.T + SHIFT


def iris_px(angle_deg: float = 0.0, scale: float = 1.0) -> np.ndarray:
    c = to_px(np.array([[PUPIL_X["right"], 0.0], [PUPIL_X["left"], 0.0]]), angle_deg, scale)
    return np.column_stack([c, np.full(2, IRIS_PX * scale / 2)])


def dental_point_x(c: np.ndarray) -> float:
    """Brute force: the outer-upper-lip x at distance |c_x|/2 from the commissure c (mm)."""
    x = np.linspace(min(c[0], 0), max(c[0], 0), 2_000_001)
    d = np.hypot(x - c[0], outer_upper(x) - c[1])
    return float(x[np.argmin(abs(d - abs(c[0]) / 2))])


def expected() -> dict[str, float]:
    xr, xl = dental_point_x(C_RIGHT), dental_point_x(C_LEFT)
    e = {}
    for s, c, xd in (("right", C_RIGHT, xr), ("left", C_LEFT, xl)):
        e[f"emotrics_brow_height_{s}"] = BROW[s]
        e[f"emotrics_mrd1_{s}"] = UPPER[s]
        e[f"emotrics_mrd2_{s}"] = LOWER[s]
        e[f"emotrics_palpebral_fissure_height_{s}"] = UPPER[s] + LOWER[s]
        e[f"emotrics_commissure_excursion_{s}"] = math.hypot(c[0], LOWER_MID - c[1])
        e[f"emotrics_smile_angle_{s}"] = 90 + math.degrees(math.atan2(LOWER_MID - c[1], abs(c[0])))
        e[f"emotrics_dental_show_{s}"] = inner_lower(xd) - inner_upper(xd)
    e["emotrics_commissure_height_deviation"] = abs(C_RIGHT[1] - C_LEFT[1])
    e["emotrics_upper_lip_height_deviation"] = abs(outer_upper(xl) - outer_upper(xr))
    e["emotrics_lower_lip_height_deviation"] = abs(outer_lower(xl) - outer_lower(xr))
    return e


def test_names_are_registered_with_units():
    assert set(EMOTRICS_MEASURES) == set(EMOTRICS_INFO)
    assert set(SYNKINESIS_MEASURES) == set(SYNKINESIS_INFO)
    for name, (unit, text, source) in {**EMOTRICS_INFO, **SYNKINESIS_INFO}.items():
        assert unit in (*UNITS, "mm") and text and "doi:" in source, name
        assert ("smile_angle" in name) == (unit == "deg"), name


@pytest.mark.parametrize(("angle", "scale"), [(0.0, 1.0), (12.0, 1.0), (-7.0, 2.5)])
def test_known_answer_face(angle, scale):
    got = emotrics_measures(to_px(face_mm(), angle, scale), "ibug68", iris=iris_px(angle, scale))
    want = expected()
    assert set(got) == set(EMOTRICS_MEASURES)
    assert 1.0 < want["emotrics_dental_show_right"] < INNER_GAP - 1  # the point is off the midline
    for k, v in want.items():
        assert got[k] == pytest.approx(v, abs=1e-4), k


def test_mirrored_face_swaps_sides():
    sch = get_scheme("ibug68")
    width = 800
    pts = to_px(face_mm(), 5.0)
    iris = iris_px(5.0)
    mirrored = sch.mirror(pts, width)
    iris_m = iris[::-1].copy()
    iris_m[:, 0] = (width - 1) - iris_m[:, 0]
    a = emotrics_measures(pts, sch, iris=iris)
    b = emotrics_measures(mirrored, sch, iris=iris_m)
    for k, v in a.items():
        twin = k.replace("_left", "_RIGHT").replace("_right", "_left").replace("_RIGHT", "_right")
        assert b[twin] == pytest.approx(v, abs=1e-6), k
    assert a["emotrics_brow_height_left"] != pytest.approx(a["emotrics_brow_height_right"], abs=0.5)


def test_scale_sources_and_missing_iris():
    pts = to_px(face_mm())
    no_iris = emotrics_measures(pts, "ibug68")
    assert no_iris["emotrics_brow_height_left"] is None  # no scale without an iris
    # smile angle needs no scale; the eye-contour pupils tilt the frame slightly here
    assert no_iris["emotrics_smile_angle_left"] == pytest.approx(expected()["emotrics_smile_angle_left"], abs=0.5)
    given = emotrics_measures(pts, "ibug68", mm_per_px=1 / PX)
    # pupils from the eye contours (Emotrics' closed-eye rule) move the brow reference a little
    assert given["emotrics_brow_height_right"] == pytest.approx(BROW["right"], abs=1.5)
    nan = pts.copy()
    nan[30] = np.nan
    assert all(v is None for v in emotrics_measures(nan, "ibug68", iris=iris_px()).values())
    with pytest.raises(ValueError):
        emotrics_measures(pts[:60], "ibug68", iris=iris_px())
    with pytest.raises(ValueError):
        emotrics_measures(pts, "ibug68", iris=iris_px()[:, :2])


def test_covered_pupil_gives_negative_mrd1_and_closed_fissure_zero():
    upper = {"right": -1.0, "left": 3.0}  # right upper lid below the pupil centre
    got = emotrics_measures(to_px(face_mm(upper=upper)), "ibug68", iris=iris_px())
    assert got["emotrics_mrd1_right"] == pytest.approx(-1.0, abs=1e-4)
    shut = emotrics_measures(to_px(face_mm(upper={"right": -5.0, "left": 3.0})), "ibug68", iris=iris_px())
    assert shut["emotrics_palpebral_fissure_height_right"] == 0.0  # lids crossed: closed, not a gap


def test_ocular_synkinesis_and_lagophthalmos_known_answer():
    rest_mm = face_mm(upper={"right": 4.0, "left": 4.0}, lower={"right": 5.0, "left": 5.0})
    # task photo taken closer (1.3x larger in pixels) and tilted; the right eye narrows by 3 mm
    task_mm = face_mm(upper={"right": 2.0, "left": 4.0}, lower={"right": 4.0, "left": 5.0})
    rest, task = to_px(rest_mm), to_px(task_mm, 8.0, 1.3)
    out = ocular_synkinesis(rest, task, "ibug68", "smile", rest_mm_per_px=1 / PX)
    assert out["synkinesis_ocular_smile_mm_right"] == pytest.approx(3.0, abs=0.02)
    assert out["synkinesis_ocular_smile_fraction_right"] == pytest.approx(3.0 / 9.0, abs=0.003)
    assert out["synkinesis_ocular_smile_mm_left"] == pytest.approx(0.0, abs=0.02)
    closed = to_px(face_mm(upper={"right": -5.0, "left": 0.0}, lower={"right": 5.0, "left": 1.0}), -4.0, 0.8)
    gap = lagophthalmos(rest, closed, "ibug68", rest_mm_per_px=1 / PX)
    assert gap["lagophthalmos_gap_mm_right"] == 0.0
    assert gap["lagophthalmos_gap_mm_left"] == pytest.approx(1.0, abs=0.02)
    # without a scale (iBUG-68 has no iris): nothing
    assert all(v is None for v in lagophthalmos(rest, closed, "ibug68").values())
    with pytest.raises(ValueError):
        ocular_synkinesis(rest, task, "ibug68", "brow_raise", rest_mm_per_px=1 / PX)


# --- real photos ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def mpeschel(shared_data, face_model):
    from palsyflow.config import LandmarkParams
    from palsyflow.landmarks import extract_landmarks

    d = shared_data / "healthy-tasks" / "mpeschel_session_A_original_assets"
    files = {"rest": "face-mp-at-rest.jpg", "smile": "face-mp-big-smile-teeth-closed.jpg",
             "pucker": "face-mp-lips-puckered.jpg", "eye_closure_full": "face-mp-eyes-closed-tightly.jpg"}
    params = LandmarkParams(tta_copies=1)
    return {t: extract_landmarks(d / f, "photo", params, face_model).points_array()[0].astype(np.float64) for t, f in files.items()}


@pytest.mark.shared_data
def test_real_photo_measures_and_mirror(mpeschel):
    rest = mpeschel["rest"]
    got = emotrics_measures(rest, "mediapipe478")
    # adult norms (Emotrics paper and MRD literature), broad: this is a healthy face at rest
    for s in ("left", "right"):
        assert 12 < got[f"emotrics_brow_height_{s}"] < 35
        assert 0.5 < got[f"emotrics_mrd1_{s}"] < 7
        assert 2 < got[f"emotrics_mrd2_{s}"] < 9
        assert 5 < got[f"emotrics_palpebral_fissure_height_{s}"] < 15
        assert 18 < got[f"emotrics_commissure_excursion_{s}"] < 40
        fh = got[f"emotrics_palpebral_fissure_height_{s}"]
        assert fh == pytest.approx(got[f"emotrics_mrd1_{s}"] + got[f"emotrics_mrd2_{s}"], rel=0.25)
    assert got["emotrics_commissure_height_deviation"] < 4
    # mirroring the points swaps the patient's sides (up to the smoothing spline, whose
    # knot placement follows the point order and so is not exactly mirror-symmetric)
    sch = get_scheme("mediapipe478")
    mirrored = emotrics_measures(sch.mirror(rest, 2000), sch)
    for s, o in (("left", "right"), ("right", "left")):
        for m in ("brow_height", "mrd1", "palpebral_fissure_height", "commissure_excursion"):
            assert mirrored[f"emotrics_{m}_{s}"] == pytest.approx(got[f"emotrics_{m}_{o}"], abs=0.05), m
        assert mirrored[f"emotrics_smile_angle_{s}"] == pytest.approx(got[f"emotrics_smile_angle_{o}"], abs=0.3)


@pytest.mark.shared_data
def test_real_photos_eye_closure_and_synkinesis(mpeschel):
    rest = mpeschel["rest"]
    fissure = emotrics_measures(rest, "mediapipe478")
    gap = lagophthalmos(rest, mpeschel["eye_closure_full"], "mediapipe478")
    pucker = ocular_synkinesis(rest, mpeschel["pucker"], "mediapipe478", "pucker")
    smile = ocular_synkinesis(rest, mpeschel["smile"], "mediapipe478", "smile")
    # the closure frame measured as a narrowing (the same estimator as the gap)
    closure = ocular_synkinesis(rest, mpeschel["eye_closure_full"], "mediapipe478", "smile")
    for s in ("left", "right"):
        rest_h = fissure[f"emotrics_palpebral_fissure_height_{s}"]
        g = gap[f"lagophthalmos_gap_mm_{s}"]
        # a healthy eye closed tightly keeps only a small residual fissure (MediaPipe's lids
        # never quite meet), and gap and narrowing describe the same closure
        assert 0 <= g < 0.35 * rest_h
        assert closure[f"synkinesis_ocular_smile_mm_{s}"] == pytest.approx(rest_h - g, abs=0.3)
        # puckering barely moves a healthy eye; a big smile narrows it less than closing it
        assert abs(pucker[f"synkinesis_ocular_pucker_fraction_{s}"]) < 0.35
        assert smile[f"synkinesis_ocular_smile_fraction_{s}"] < closure[f"synkinesis_ocular_smile_fraction_{s}"] - 0.3
    # a healthy face narrows both eyes alike in a smile (what ocular synkinesis would break)
    assert abs(smile["synkinesis_ocular_smile_fraction_left"] - smile["synkinesis_ocular_smile_fraction_right"]) < 0.15
