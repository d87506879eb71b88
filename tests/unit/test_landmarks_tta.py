"""TTA geometry and determinism with a fake detector (no model needed).

The fake detector "finds" a face at the centroid of the bright blob in the image,
all 478 points at that spot: whatever the augmentation did, mapping its detection back
must land on the blob's position in the ORIGINAL image.
"""

from __future__ import annotations

import numpy as np
import pytest

from palsyflow.config import LandmarkParams
from palsyflow.landmarks.mediapipe_backend import Detection, choose_face
from palsyflow.landmarks.topology import flip_points
from palsyflow.landmarks.tta import (
    Augmentation,
    apply_augmentation,
    make_augmentations,
    points_to_original,
    run_tta,
)

W, H = 200, 150
BLOB = (130.0, 50.0)  # (x, y), off-centre so a wrong flip or shift shows


class BlobDetector:
    def __init__(self):
        self.calls = 0

    def detect(self, rgb, timestamp_ms=None):
        self.calls += 1
        g = rgb.astype(np.float64).mean(axis=2)
        mask = g > 128
        if not mask.any():
            return Detection(np.empty((0, 478, 3)), None)
        ys, xs = np.nonzero(mask)
        w = g[ys, xs]
        face = np.zeros((1, 478, 3))
        face[0, :, 0] = (xs * w).sum() / w.sum()
        face[0, :, 1] = (ys * w).sum() / w.sum()
        # eye corners one IOD apart so the TTA face gate has a scale
        face[0, [263, 362], 0] += 20.0
        return Detection(face, 0)


class NoFace:
    def detect(self, rgb, timestamp_ms=None):
        return Detection(np.empty((0, 478, 3)), None)


def blob_image() -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    yy, xx = np.mgrid[0:H, 0:W]
    img[(xx - BLOB[0]) ** 2 + (yy - BLOB[1]) ** 2 <= 36] = 255
    return img


def test_copy0_is_identity_and_count_follows_params():
    p = LandmarkParams(tta_copies=6)
    augs = make_augmentations(p, W, H)
    assert len(augs) == 6
    assert augs[0].is_geometric_identity and augs[0].is_photometric_identity
    assert any(a.flip for a in augs[1:]) and not all(a.flip for a in augs[1:])
    assert len(make_augmentations(LandmarkParams(tta_copies=1), W, H)) == 1


def test_augmentations_are_deterministic_and_seeded():
    p = LandmarkParams()
    a, b = make_augmentations(p, W, H), make_augmentations(p, W, H)
    c = make_augmentations(p, W, H, seed=p.tta_seed + 1)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.matrix, y.matrix)
        assert (x.flip, x.gamma, x.noise_seed, x.blur_ksize) == (y.flip, y.gamma, y.noise_seed, y.blur_ksize)
    assert not all(np.array_equal(x.matrix, y.matrix) for x, y in zip(a[1:], c[1:], strict=True))
    img = blob_image()
    np.testing.assert_array_equal(apply_augmentation(img, a[3]), apply_augmentation(img, b[3]))


def test_augmentation_ranges_respect_params():
    p = LandmarkParams(tta_copies=40, tta_rotation_deg=5.0, tta_scale=0.05, tta_flip=False, tta_blur_prob=0.0)
    for a in make_augmentations(p, W, H)[1:]:
        assert not a.flip and a.blur_ksize == 0
        assert 0.95 <= a.scale <= 1.05
        angle = np.degrees(np.arctan2(-a.matrix[0, 1], a.matrix[0, 0]))
        assert abs(angle) <= 5.0 + 1e-9


@pytest.mark.parametrize("flip", [False, True])
def test_points_to_original_inverts_the_augmentation(flip):
    import cv2

    m = cv2.getRotationMatrix2D(((W - 1) / 2, (H - 1) / 2), 4.0, 1.03)
    m[:, 2] += (5.0, -3.0)
    aug = Augmentation(matrix=m, scale=1.03, flip=flip)
    rng = np.random.default_rng(2)
    pts = np.concatenate([rng.uniform(0, 140, (478, 2)), rng.normal(0, 5, (478, 1))], axis=1)
    # forward: what a perfect detector would report on the augmented copy
    fwd = flip_points(pts, W) if flip else pts.copy()
    xy = fwd[:, :2] @ m[:, :2].T + m[:, 2]
    fwd = np.concatenate([xy, fwd[:, 2:] * 1.03], axis=1)
    np.testing.assert_allclose(points_to_original(fwd, aug, W), pts, atol=1e-9)


def test_tta_maps_detections_back_to_the_original_frame():
    det = BlobDetector()
    p = LandmarkParams(tta_copies=8)
    res = run_tta(blob_image(), det, p)
    assert det.calls == 8 and res.n_copies == 8 and res.n_found == 8
    assert res.points.shape == (478, 3) and res.spread.shape == (478,)
    assert res.points[0, 0] == pytest.approx(BLOB[0], abs=0.6)
    assert res.points[0, 1] == pytest.approx(BLOB[1], abs=0.6)
    # the fake's eye-corner offsets do not rotate with the image: judge the other points
    others = np.setdiff1d(np.arange(478), [33, 133, 263, 362])
    assert np.all(res.spread[others] < 1.0)


def test_flip_only_copy_lands_on_the_blob():
    res = run_tta(blob_image(), BlobDetector(), LandmarkParams(), augmentations=[Augmentation(flip=True)])
    assert res.points[0, :2] == pytest.approx(BLOB, abs=0.3)


def test_tta_is_deterministic():
    p = LandmarkParams(tta_copies=6, tta_noise_sigma=10.0, tta_blur_prob=0.5)
    a = run_tta(blob_image(), BlobDetector(), p)
    b = run_tta(blob_image(), BlobDetector(), p)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.spread, b.spread)


def test_copy0_detection_is_reused():
    det = BlobDetector()
    copy0 = det.detect(blob_image())
    det.calls = 0
    run_tta(blob_image(), det, LandmarkParams(tta_copies=5), copy0=copy0)
    assert det.calls == 4


def test_no_face_gives_nan_not_an_error():
    res = run_tta(blob_image(), NoFace(), LandmarkParams(tta_copies=4))
    assert res.n_found == 0 and not res.face_found
    assert np.isnan(res.points).all() and np.isnan(res.spread).all()


def test_choose_face_prefers_large_central_faces():
    def box(cx, cy, size):
        f = np.zeros((478, 3))
        f[:, 0] = np.linspace(cx - size / 2, cx + size / 2, 478)
        f[:, 1] = np.linspace(cy - size / 2, cy + size / 2, 478)
        return f

    small_centre = box(100, 75, 30)
    big_centre = box(100, 75, 80)
    big_corner = box(20, 15, 80)
    assert choose_face(np.stack([small_centre, big_centre]), W, H) == 1
    assert choose_face(np.stack([big_corner, big_centre]), W, H) == 1
    assert choose_face(np.empty((0, 478, 3)), W, H) is None


# face crop (tta_crop_side) and full-resolution mapping ---------------------------------
def test_square_crop_maps_points_both_ways_and_fills_outside():
    from palsyflow.landmarks.mediapipe_backend import square_crop

    img = blob_image()
    # a square that sticks out of the top-right corner, upscaled 3x
    canvas, crop = square_crop(img, cx=190.0, cy=10.0, side=60.0, out_side=180, border="constant")
    assert canvas.shape == (180, 180, 3) and crop.side == 60 and crop.scale == pytest.approx(3.0)
    pts = np.array([[170.0, 5.0, 2.0], [199.0, 0.0, -1.0], [160.0, 39.0, 0.0]])
    np.testing.assert_allclose(crop.to_frame(crop.to_canvas(pts)), pts, atol=1e-9)
    # pixel centres: frame pixel (x, y) covers canvas [3(x - x0), 3(x - x0) + 3)
    cx, cy = crop.to_canvas(pts[:1])[0, :2]
    assert cx == pytest.approx(3 * (170 - crop.x0) + 1.0)
    assert cy == pytest.approx(3 * (5 - crop.y0) + 1.0)
    assert canvas[:3, -3:].max() == 0  # beyond the image: constant black border


def test_face_crop_tta_lands_on_the_blob_in_full_resolution():
    det = BlobDetector()
    p = LandmarkParams(tta_copies=8, tta_crop_side=96)
    res = run_tta(blob_image(), det, p)
    assert det.calls == 8 and res.n_found == 8
    assert res.points[0, :2] == pytest.approx(BLOB, abs=0.6)
    a = run_tta(blob_image(), BlobDetector(), p)
    np.testing.assert_array_equal(a.points, res.points)  # deterministic


def test_face_crop_renders_copies_at_the_crop_size():
    seen = []

    class Recording(BlobDetector):
        def detect(self, rgb, timestamp_ms=None):
            seen.append(rgb.shape)
            return super().detect(rgb, timestamp_ms)

    run_tta(blob_image(), Recording(), LandmarkParams(tta_copies=4, tta_crop_side=64))
    assert seen[0] == (H, W, 3)  # copy 0: the frame itself
    assert seen[1:] == [(64, 64, 3)] * 3


def test_whole_frame_tta_with_a_full_resolution_copy0_on_a_downscaled_frame():
    # the frame is larger than detect_max_side: copies are augmented at half size, but
    # copy 0 (e.g. the video pass) is in full-resolution pixels; all must agree
    big = np.zeros((2 * H, 2 * W, 3), np.uint8)
    yy, xx = np.mgrid[0 : 2 * H, 0 : 2 * W]
    big[(xx - 2 * BLOB[0]) ** 2 + (yy - 2 * BLOB[1]) ** 2 <= 144] = 255
    seen = []

    class Recording(BlobDetector):
        def detect(self, rgb, timestamp_ms=None):
            seen.append(rgb.shape)
            return super().detect(rgb, timestamp_ms)

    copy0 = BlobDetector().detect(big)
    p = LandmarkParams(tta_copies=6, tta_crop_side=0, detect_max_side=W, tta_noise_sigma=0.0, tta_blur_prob=0.0)
    res = run_tta(big, Recording(), p, copy0=copy0)
    assert seen == [(H, W, 3)] * 5  # copies 1..5 rendered at detection size
    assert res.n_found == 6
    assert res.points[0, :2] == pytest.approx((2 * BLOB[0], 2 * BLOB[1]), abs=1.0)
