"""Face alignment and region index sets: properties on synthetic point clouds."""

from __future__ import annotations

import numpy as np
import pytest

from palsyflow.conventions import IRIS_DIAMETER_MM
from palsyflow.features.geometry import GeometryError, align_face, eye_centres, iris_diameter_px
from palsyflow.features.regions import (
    EYE_INNER,
    EYE_OUTER,
    IRIS_CENTER,
    IRIS_RING,
    REGION_POINTS,
    mirror_pairs,
    mirror_permutation,
)


def _random_face(rng: np.random.Generator, n_frames: int = 3, n_points: int = 478) -> np.ndarray:
    """Random points in pixels with eye centres at plausible places (right eye on image left)."""
    pts = rng.uniform(100, 300, size=(n_frames, n_points, 3))
    for f in range(n_frames):
        cx, cy, half = rng.uniform(180, 220), rng.uniform(150, 170), rng.uniform(30, 50)
        if n_points >= 478:
            pts[f, IRIS_CENTER["right"], :2] = (cx - half, cy)
            pts[f, IRIS_CENTER["left"], :2] = (cx + half, cy)
        pts[f, EYE_OUTER["right"], :2] = (cx - half - 10, cy + 1)
        pts[f, EYE_INNER["right"], :2] = (cx - half + 10, cy - 1)
        pts[f, EYE_OUTER["left"], :2] = (cx + half + 10, cy + 1)
        pts[f, EYE_INNER["left"], :2] = (cx + half - 10, cy - 1)
    return pts


def _similarity(pts: np.ndarray, angle: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    out = pts.copy()
    out[..., :2] = scale * pts[..., :2] @ rot.T + np.asarray(shift)
    return out


def test_eye_centres_map_to_fixed_face_frame_positions():
    pts = _random_face(np.random.default_rng(1))
    al = align_face(pts)
    np.testing.assert_allclose(al.coords[:, IRIS_CENTER["right"]], [[-0.5, 0.0]] * 3, atol=1e-12)
    np.testing.assert_allclose(al.coords[:, IRIS_CENTER["left"]], [[0.5, 0.0]] * 3, atol=1e-12)
    assert al.used_iris
    d = pts[:, IRIS_CENTER["left"], :2] - pts[:, IRIS_CENTER["right"], :2]
    np.testing.assert_allclose(al.iod_px, np.hypot(d[:, 0], d[:, 1]))


@pytest.mark.parametrize("angle,scale,shift", [(0.3, 1.7, (40.0, -25.0)), (-0.5, 0.6, (-100.0, 300.0))])
def test_alignment_is_invariant_to_similarity_transforms(angle, scale, shift):
    pts = _random_face(np.random.default_rng(2))
    base = align_face(pts)
    moved = align_face(_similarity(pts, angle, scale, shift))
    np.testing.assert_allclose(moved.coords, base.coords, atol=1e-9)
    np.testing.assert_allclose(moved.iod_px, scale * base.iod_px, rtol=1e-12)
    # rotating the image by +angle (clockwise on screen, y down) adds angle to the roll
    np.testing.assert_allclose(moved.roll_rad, base.roll_rad + angle, atol=1e-12)


def test_y_axis_points_towards_the_chin():
    pts = _random_face(np.random.default_rng(3), n_frames=1)
    chin = 152
    pts[0, chin, :2] = pts[0, IRIS_CENTER["right"], :2] + (40, 120)  # well below the eyes
    assert align_face(pts).coords[0, chin, 1] > 0


def test_mirroring_negates_x_and_keeps_y():
    pts = _random_face(np.random.default_rng(4), n_frames=2)
    width = 640
    mirrored = pts.copy()
    mirrored[..., 0] = width - 1 - pts[..., 0]
    perm = mirror_permutation()
    mirrored = mirrored[:, perm]
    a, b = align_face(pts), align_face(mirrored)
    used = [i for pair in mirror_pairs() for i in pair]
    np.testing.assert_allclose(b.coords[:, perm][:, used, 0], -a.coords[:, used, 0], atol=1e-9)
    np.testing.assert_allclose(b.coords[:, perm][:, used, 1], a.coords[:, used, 1], atol=1e-9)
    np.testing.assert_allclose(b.roll_rad, -a.roll_rad, atol=1e-12)


def test_without_iris_uses_eye_corner_midpoints():
    pts = _random_face(np.random.default_rng(5), n_points=468)
    right, left, used_iris = eye_centres(pts)
    assert not used_iris
    np.testing.assert_allclose(right, 0.5 * (pts[:, 33, :2] + pts[:, 133, :2]))
    al = align_face(pts)
    assert al.mm_per_px is None
    assert al.coords.shape == (3, 468, 2)


def test_iris_calibration_recovers_known_scale():
    pts = _random_face(np.random.default_rng(6), n_frames=1)
    radius_px = 12.5
    for side in ("right", "left"):
        c = pts[0, IRIS_CENTER[side], :2]
        medial, top, lateral, bottom = IRIS_RING[side]
        sign = 1 if side == "right" else -1  # medial is towards the nose
        pts[0, medial, :2] = c + (sign * radius_px, 0)
        pts[0, lateral, :2] = c - (sign * radius_px, 0)
        pts[0, top, :2] = c - (0, radius_px)
        pts[0, bottom, :2] = c + (0, radius_px)
    np.testing.assert_allclose(iris_diameter_px(pts), [2 * radius_px])
    np.testing.assert_allclose(align_face(pts).mm_per_px, [IRIS_DIAMETER_MM / (2 * radius_px)])
    np.testing.assert_allclose(align_face(pts, mm_per_px=0.2).mm_per_px, [0.2])


def test_frames_without_face_are_nan_and_invalid():
    pts = _random_face(np.random.default_rng(7))
    pts[1] = np.nan
    al = align_face(pts)
    assert al.valid.tolist() == [True, False, True]
    assert np.isnan(al.coords[1]).all() and np.isnan(al.iod_px[1])
    assert np.isfinite(al.coords[[0, 2]]).all()


@pytest.mark.parametrize("shape", [(5, 478), (2, 478, 4), (2, 100, 2)])
def test_bad_shapes_raise(shape):
    with pytest.raises(GeometryError):
        align_face(np.zeros(shape))


def test_region_sets_are_paired_and_disjoint_across_sides():
    for region, sides in REGION_POINTS.items():
        assert len(sides["right"]) == len(sides["left"]), region
        assert not set(sides["right"]) & set(sides["left"]), region
    perm = mirror_permutation()
    np.testing.assert_array_equal(perm[perm], np.arange(478))  # an involution
    for r, l in mirror_pairs():
        assert perm[r] == l and perm[l] == r
