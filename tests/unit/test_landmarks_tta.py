"""TTA geometry and determinism with a fake detector (no model needed).

The fake detector "finds" a face at the centroid of the bright blob in the image,
all 478 points at that spot: whatever the augmentation did, mapping its detection back
must land on the blob's position in the ORIGINAL image.
"""

from __future__ import annotations

import numpy as np
import pytest

from palsyflow.config import LandmarkParams
from palsyflow.landmarks.base import Detection, choose_face
from palsyflow.landmarks.schemes.mediapipe478 import MP_FLIP, flip_points
from palsyflow.landmarks.schemes.ibug68 import SCHEME as IBUG68
from palsyflow.landmarks.schemes.mediapipe478 import SCHEME as MEDIAPIPE478
from palsyflow.landmarks.tta import (
    Augmentation,
    apply_augmentation,
    make_augmentations,
    points_to_original,
    run_tta,
    tta_enabled,
)

W, H = 200, 150
BLOB = (130.0, 50.0)  # (x, y), off-centre so a wrong flip or shift shows


class BlobDetector:
    """A fake MediaPipe-layout landmarker (478 points, face-crop TTA layout)."""

    scheme = MEDIAPIPE478
    tta_layout = "face_crop"
    tracks = False

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
    scheme = MEDIAPIPE478
    tta_layout = "face_crop"

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
    p = LandmarkParams(tta_copies=5)  # rounded down to a mirror-closed 4
    run_tta(blob_image(), det, p, copy0=copy0)
    assert det.calls == len(make_augmentations(p, W, H)) - 1 == 3


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
    from palsyflow.landmarks.crop import square_crop

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
    assert seen[:2] == [(H, W, 3)] * 2  # copy 0 and the pure mirror: the frame itself
    assert seen[2:] == [(64, 64, 3)] * 2


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
    # the pure mirror (copy 1) on the full frame, copies 2..5 rendered at detection size
    assert seen == [(2 * H, 2 * W, 3)] + [(H, W, 3)] * 4
    assert res.n_found == 6
    assert res.points[0, :2] == pytest.approx((2 * BLOB[0], 2 * BLOB[1]), abs=1.0)


# mirror closure (issue 3): tta(mirror(I)) == flip_points(tta(I)) --------------------------
def _key(a: Augmentation) -> tuple:
    """Parameters of an augmentation, rounded so that float round-off does not matter."""
    return (
        a.flip,
        tuple(np.round(np.asarray(a.matrix), 6).ravel()),
        round(a.scale, 9),
        round(a.brightness, 9),
        round(a.contrast, 9),
        round(a.gamma, 9),
        round(a.noise_sigma, 9),
        a.blur_ksize,
        a.noise_seed if a.noise_sigma > 0 else 0,
        a.noise_mirror if a.noise_sigma > 0 else False,
    )


@pytest.mark.parametrize("n", [2, 3, 4, 6, 7, 8, 16])
@pytest.mark.parametrize("flip", [True, False])
def test_augmentation_set_is_closed_under_mirroring(n, flip):
    p = LandmarkParams(tta_copies=n, tta_flip=flip, tta_noise_sigma=3.0)
    augs = make_augmentations(p, W, H)
    assert len(augs) == (n - n % 2 if flip else n) <= n  # cost never above the request
    assert augs[0].is_geometric_identity and augs[0].is_photometric_identity
    keys = sorted(_key(a) for a in augs)
    assert len(set(keys)) == len(keys)  # no duplicate copies
    assert sorted(_key(a.mirror_conjugate(W)) for a in augs) == keys  # {F s F} = S
    if flip:
        assert sorted(_key(a.input_flipped()) for a in augs) == keys  # {s F} = S
        pure = [a for a in augs if a.flip and np.allclose(a.matrix, [[1, 0, 0], [0, 1, 0]])]
        assert any(a.is_photometric_identity for a in pure)  # the pure mirror is a copy
    else:
        assert not any(a.flip for a in augs)
    # the draws are not degenerate: some copies rotate (both ways)
    angles = [np.degrees(np.arctan2(-a.matrix[0, 1], a.matrix[0, 0])) for a in augs]
    if n >= (6 if flip else 3):
        assert min(angles) < -1e-3 and max(angles) > 1e-3


def test_mirror_conjugate_negates_rotation_and_x_shift_and_mirrors_the_noise():
    import cv2

    m = cv2.getRotationMatrix2D(((W - 1) / 2, (H - 1) / 2), 4.0, 1.03)
    m[:, 2] += (5.0, -3.0)
    a = Augmentation(matrix=m, scale=1.03, noise_sigma=8.0, noise_seed=7, blur_ksize=3, gamma=1.1)
    c = a.mirror_conjugate(W)
    want = cv2.getRotationMatrix2D(((W - 1) / 2, (H - 1) / 2), -4.0, 1.03)
    want[:, 2] += (-5.0, -3.0)
    np.testing.assert_allclose(c.matrix, want, atol=1e-9)
    np.testing.assert_allclose(c.mirror_conjugate(W).matrix, m, atol=1e-9)
    # rendering: F(A(F(img))) == (F A F)(img) up to interpolation round-off
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), (9, 9), 3)
    lhs = cv2.flip(apply_augmentation(np.ascontiguousarray(cv2.flip(img, 1)), a), 1).astype(int)
    rhs = apply_augmentation(img, c).astype(int)
    diff = np.abs(lhs - rhs)
    assert diff.max() <= 2 and (diff > 0).mean() < 0.01  # the noise field came out mirrored
    # and without the mirrored noise they would differ everywhere the noise is
    unmirrored = apply_augmentation(img, Augmentation(**{**c.__dict__, "noise_mirror": False})).astype(int)
    assert (np.abs(lhs - unmirrored) > 2).mean() > 0.3


def test_resize_mirror_symmetric_commutes_with_mirroring_exactly():
    import cv2

    from palsyflow.landmarks.tta import resize_mirror_symmetric

    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (997, 751, 3), dtype=np.uint8)
    for size, interp in (((500, 663), cv2.INTER_AREA), ((1003, 1333), cv2.INTER_CUBIC), ((384, 384), cv2.INTER_AREA)):
        a = resize_mirror_symmetric(img, size, interp)
        b = resize_mirror_symmetric(np.ascontiguousarray(img[:, ::-1]), size, interp)
        assert a.shape == (size[1], size[0], 3)
        np.testing.assert_array_equal(a[:, ::-1], b)
        assert np.abs(a.astype(int) - cv2.resize(img, size, interpolation=interp)).max() <= 1


class BiasedDetector(BlobDetector):
    """A detector with a left/right bias: every point lands 3 px to the image right of the
    blob (plus a point-dependent offset), in whatever image it is shown."""

    def detect(self, rgb, timestamp_ms=None):
        det = super().detect(rgb, timestamp_ms)
        if det.n_faces:
            det.faces[0, :, 0] += 3.0 + 0.01 * np.arange(478)
            det.faces[0, :, 1] += 0.005 * np.arange(478)
        return det


def textured_image(h: int = H, w: int = W) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(3)
    img = cv2.GaussianBlur(rng.integers(0, 100, (h, w, 3), dtype=np.uint8), (5, 5), 1)
    yy, xx = np.mgrid[0:h, 0:w]
    img[(xx - BLOB[0] * w / W) ** 2 + (yy - BLOB[1] * h / H) ** 2 <= 36 * (w / W) ** 2] = 255
    return img


@pytest.mark.parametrize("crop_side", [96, 0])
@pytest.mark.parametrize("n", [6, 8, 16])
def test_closed_set_tta_is_exactly_mirror_equivariant_with_a_biased_detector(n, crop_side):
    # a frame larger than detect_max_side also exercises the downscaled whole-frame path
    img = textured_image(2 * H, 2 * W)
    mir = np.ascontiguousarray(img[:, ::-1])
    p = LandmarkParams(tta_copies=n, tta_crop_side=crop_side, detect_max_side=W, tta_noise_sigma=6.0, tta_blur_prob=0.5)
    a = run_tta(img, BiasedDetector(), p)
    b = run_tta(mir, BiasedDetector(), p)
    assert a.n_found == b.n_found == n
    np.testing.assert_allclose(flip_points(b.points, 2 * W), a.points, atol=1e-9)
    np.testing.assert_allclose(b.spread[MP_FLIP], a.spread, atol=1e-9)
    # without TTA the same detector is 6 px off after un-mirroring (its bias, doubled)
    one = BiasedDetector().detect(img).faces[0]
    one_m = flip_points(BiasedDetector().detect(mir).faces[0], 2 * W)
    assert np.abs(one_m[:, 0] - one[:, 0]).min() > 5.0


def test_closed_set_tta_is_not_exactly_equivariant_without_flips():
    # conjugate pairs alone leave the detector's own bias: documented, and checked here
    img = textured_image()
    p = LandmarkParams(tta_copies=6, tta_flip=False, tta_crop_side=0)
    a = run_tta(img, BiasedDetector(), p)
    b = run_tta(np.ascontiguousarray(img[:, ::-1]), BiasedDetector(), p)
    assert np.abs(flip_points(b.points, W)[:, 0] - a.points[:, 0]).min() > 5.0


def test_real_photo_tta_is_mirror_equivariant(shared_data, face_model):
    from palsyflow.landmarks.media import read_photo
    from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker
    from palsyflow.landmarks.schemes.mediapipe478 import interocular_distance

    path = shared_data / "healthy-tasks" / "mpeschel_session_A_original_assets" / "face-mp-at-rest.jpg"
    if not path.is_file():
        pytest.skip(f"{path} absent")
    rgb = read_photo(path)
    mir = np.ascontiguousarray(np.fliplr(rgb))
    width = rgb.shape[1]
    out = {}
    with MediaPipeLandmarker(face_model, "image", LandmarkParams()) as lm:
        for n in (1, 8, 16):
            p = LandmarkParams(tta_copies=n)
            if n == 1:
                a, b = lm.detect(rgb).points, lm.detect(mir).points
            else:
                a, b = run_tta(rgb, lm, p).points, run_tta(mir, lm, p).points
            d = np.linalg.norm(flip_points(b, width)[:, :2] - a[:, :2], axis=1)
            iod = float(interocular_distance(a))
            out[n] = (d.max(), d.mean(), 100 * d.max() / iod, 100 * d.mean() / iod)
    print("mirror difference (max px, mean px, max %IOD, mean %IOD):", out)
    assert out[1][0] > 0.5  # MediaPipe alone is not mirror-equivariant ...
    for n in (8, 16):  # ... the closed-set TTA is, to floating-point round-off
        assert out[n][0] < 1e-6
        assert out[n][0] < 1e-3 * out[1][0]


# one routine for every scheme and layout -------------------------------------------------
class Blob68(BiasedDetector):
    """A biased fake with the dlib layout: 68 iBUG points, every copy on the downscaled frame."""

    scheme = IBUG68
    tta_layout = "downscaled_frame"

    def __init__(self):
        super().__init__()
        self.sizes = []

    def detect(self, rgb, timestamp_ms=None):
        self.sizes.append(rgb.shape[:2])
        det = super().detect(rgb, timestamp_ms)
        faces = det.faces[:, :68].copy()
        if det.n_faces:
            faces[0, :, 0] += 0.02 * np.arange(68)  # a point-dependent bias, like a real model
            faces[0, [42, 45], 0] += 20.0  # eye corners one IOD apart for the face gate
            faces[..., 2] = np.nan  # 2-D scheme
        return Detection(faces, det.chosen)


@pytest.mark.parametrize("n", [2, 6])
def test_the_same_tta_is_exactly_mirror_equivariant_for_68_points(n):
    img = textured_image(2 * H, 2 * W)
    mir = np.ascontiguousarray(img[:, ::-1])
    p = LandmarkParams(tta_copies=n, detect_max_side=W, tta_noise_sigma=6.0, tta_blur_prob=0.5)
    a, b = run_tta(img, Blob68(), p), run_tta(mir, Blob68(), p)
    assert a.points.shape == (68, 3) and a.spread.shape == (68,)
    assert a.n_found == b.n_found == n and np.isnan(a.points[:, 2]).all()
    np.testing.assert_allclose(IBUG68.mirror(b.points, 2 * W)[:, :2], a.points[:, :2], atol=1e-9)
    # un-mirroring with the 478-point pairs would be wrong for 68 points
    with pytest.raises(ValueError):
        flip_points(b.points, 2 * W)


def test_downscaled_layout_renders_every_copy_at_detect_max_side_and_maps_back():
    img = textured_image(2 * H, 2 * W)
    det = Blob68()
    res = run_tta(img, det, LandmarkParams(tta_copies=6, detect_max_side=W, tta_crop_side=64))
    assert det.sizes == [(H, W)] * 6  # no full-resolution anchor, no face crop
    # the blob is at 2 x BLOB in the full frame; the biased fake is about 3 px right of it
    # in the image it sees (6 px at full resolution), the median cancels the mirror pairs
    x0 = np.median(res.points[:, 0] - 2 * BLOB[0] - 2 * 0.02 * np.arange(68))
    assert abs(res.points[30, 1] - 2 * BLOB[1]) < 2.0 and abs(x0) < 3.0


def test_face_crop_layout_detects_the_anchors_at_full_resolution():
    img = textured_image(2 * H, 2 * W)

    class Sizes(BiasedDetector):
        sizes: list = []

        def detect(self, rgb, timestamp_ms=None):
            self.sizes.append(rgb.shape[:2])
            return super().detect(rgb, timestamp_ms)

    d = Sizes()
    d.sizes = []
    run_tta(img, d, LandmarkParams(tta_copies=6, detect_max_side=W, tta_crop_side=64))
    assert d.sizes == [(2 * H, 2 * W)] * 2 + [(64, 64)] * 4


def test_tta_enabled_is_the_tta_copies_gate():
    assert [tta_enabled(LandmarkParams(tta_copies=n)) for n in (0, 1, 2, 3, 6)] == [False, False, True, True, True]
    assert tta_enabled(LandmarkParams(tta_copies=3, tta_flip=False))
