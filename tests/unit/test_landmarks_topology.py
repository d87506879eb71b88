"""MediaPipe 478 topology: mirror permutation and flip_points (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from palsyflow.landmarks.schemes.mediapipe478 import (
    LEFT_IRIS,
    MIDLINE,
    MP_FLIP,
    NAMED,
    RIGHT_IRIS,
    flip_points,
    interocular_distance,
)


def test_flip_is_an_involution_and_a_permutation():
    assert MP_FLIP.shape == (478,)
    assert np.issubdtype(MP_FLIP.dtype, np.integer)
    assert sorted(MP_FLIP.tolist()) == list(range(478))
    np.testing.assert_array_equal(MP_FLIP[MP_FLIP], np.arange(478))


@pytest.mark.parametrize("a,b", [(33, 263), (133, 362), (61, 291), (70, 300), (468, 473), (159, 386), (145, 374)])
def test_known_pairs(a, b):
    assert MP_FLIP[a] == b and MP_FLIP[b] == a


def test_fixed_points_are_exactly_the_midline():
    fixed = np.flatnonzero(MP_FLIP == np.arange(478))
    assert set(fixed.tolist()) == set(MIDLINE)
    for i in (0, 1, 4, 13, 14, 152, 168, 10):  # lips, nose tip, chin, nasion, forehead
        assert MP_FLIP[i] == i


def test_irises_swap_with_mirrored_contour_order():
    # contours run (image right, up, image left, down): mirroring swaps right/left
    assert [MP_FLIP[i] for i in RIGHT_IRIS] == [LEFT_IRIS[2], LEFT_IRIS[1], LEFT_IRIS[0], LEFT_IRIS[3]]
    assert set(MP_FLIP[list(LEFT_IRIS)].tolist()) == set(RIGHT_IRIS)


def test_named_sides_are_mirror_pairs():
    for name, idx in NAMED.items():
        if name.startswith("right_"):
            assert MP_FLIP[idx] == NAMED["left_" + name[len("right_") :]], name


def test_flip_twice_is_identity_and_mirrors_x():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 300, size=(5, 478, 3))
    once = flip_points(pts, 360)
    np.testing.assert_allclose(flip_points(once, 360), pts)
    # point i of the flipped face is the mirror of point MP_FLIP[i]
    np.testing.assert_allclose(once[:, 33, 0], 359 - pts[:, 263, 0])
    np.testing.assert_allclose(once[:, 33, 1:], pts[:, 263, 1:])
    assert once.shape == pts.shape


def test_flip_points_matches_cv2_flip_pixel_convention():
    import cv2

    img = np.zeros((10, 7), np.uint8)
    img[4, 2] = 255  # pixel centre at x=2
    flipped = cv2.flip(img, 1)
    ys, xs = np.nonzero(flipped)
    pts = np.zeros((478, 3))
    pts[:, 0] = 2.0
    assert flip_points(pts, 7)[0, 0] == xs[0] == 4


def test_flip_points_rejects_wrong_shape():
    with pytest.raises(ValueError):
        flip_points(np.zeros((68, 2)), 100)


def test_interocular_distance_scales_with_points():
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 100, size=(478, 2))
    assert interocular_distance(pts * 3.0) == pytest.approx(3.0 * interocular_distance(pts))
