"""dlib 68-point backend on real faces (faces-68pt, misc-faces, GRID) and the MediaPipe map."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from palsyflow.config import LandmarkParams
from palsyflow.landmarks.schemes import ibug68 as ib

dlib = pytest.importorskip("dlib")
from palsyflow.landmarks.backends.dlib import DlibLandmarker, mediapipe_box  # noqa: E402
from palsyflow.landmarks.tta import run_tta  # noqa: E402


def _faces(shared_data, split):
    d = shared_data / "faces-68pt"
    if not (d / "dlib_faces_68pt_landmarks.csv").is_file():
        pytest.skip("faces-68pt not available")
    out = []
    with open(d / "dlib_faces_68pt_landmarks.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["split"] != split:
                continue
            img = cv2.cvtColor(cv2.imread(str(d / r["image"])), cv2.COLOR_BGR2RGB)
            box = [float(r[k]) for k in ("box_left", "box_top", "box_width", "box_height")]
            truth = np.array([[float(r[f"x{i}"]), float(r[f"y{i}"])] for i in range(68)])
            out.append((img, box, truth))
    return out


def _crop(img, box, truth, margin=2.2, size=400):
    """Crop around the annotated box, upscale; return crop and the truth in crop pixels."""
    left, top, w, h = box
    cx, cy = left + (w - 1) / 2, top + (h - 1) / 2
    s = size / (margin * max(w, h))
    m = np.array([[s, 0, (size - 1) / 2 - s * cx], [0, s, (size - 1) / 2 - s * cy]])
    crop = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    return crop, truth @ m[:, :2].T + m[:, 2]


@pytest.fixture(scope="module")
def test_faces(shared_data):
    return [_crop(*f) for f in _faces(shared_data, "testing")]


def test_dlib_finds_faces_with_low_nme(test_faces):
    params = LandmarkParams(backend="dlib")
    errs = []
    with DlibLandmarker(None, "image", params) as lm:
        for crop, truth in test_faces[::4]:  # 7 faces over all test photos
            det = lm.detect(crop)
            assert det.points is not None, "dlib missed an annotated face"
            assert det.points.shape == (68, 3) and np.isnan(det.points[:, 2]).all()
            errs.append(float(ib.nme(det.points, truth)))
        assert lm.n_fallback == 0  # HOG found them all
    assert max(errs) < 10.0, errs


def test_dlib_flip_pair_map_matches_the_model(test_faces):
    """Detect on a mirrored crop, un-mirror with IBUG68_FLIP: the same face comes back."""
    params = LandmarkParams(backend="dlib")
    with DlibLandmarker(None, "image", params) as lm:
        for crop, truth in test_faces[:3]:
            a = lm.detect(crop).points
            b = ib.flip_points68(lm.detect(np.ascontiguousarray(cv2.flip(crop, 1))).points, crop.shape[1])
            iod = float(ib.interocular_distance68(truth))
            per_point = np.linalg.norm(a[:, :2] - b[:, :2], axis=1) / iod
            assert per_point.mean() < 0.06, per_point.mean()
            # a wrong pairing of the eyes would move points by about one IOD
            assert per_point[36:48].max() < 0.25


def _rotate(crop, truth, angle):
    c = ((crop.shape[1] - 1) / 2, (crop.shape[0] - 1) / 2)
    m = cv2.getRotationMatrix2D(c, angle, 1.0)
    rot = cv2.warpAffine(crop, m, crop.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return rot, truth @ m[:, :2].T + m[:, 2]


def test_fallback_box_on_a_rotated_face(face_model, test_faces):
    params = LandmarkParams(backend="dlib", dlib_upsample=0)
    with DlibLandmarker(face_model, "image", params) as lm:
        cases = []
        for crop, truth in test_faces[:6]:
            for angle in (50.0, 60.0, 40.0):
                rot, tr = _rotate(crop, truth, angle)
                if not lm.hog_boxes(rot):  # HOG misses this one: the fallback must find it
                    cases.append((rot, tr))
                    break
            if len(cases) == 2:
                break
        if not cases:
            pytest.skip("HOG found every rotated face; no fallback to test")
        for rot, truth_rot in cases:
            before = lm.n_fallback
            det = lm.detect(rot)
            assert lm.n_fallback == before + 1
            assert det.points is not None
            assert ib.nme(det.points, truth_rot) < 10.0
    with DlibLandmarker(None, "image", params) as lm:  # without the fallback: no face, no exception
        det = lm.detect(cases[0][0])
        assert det.points is None and det.n_faces == 0


def test_tilted_face_found_by_hog_is_refined_upright(test_faces):
    """HOG fires on a 40-degree roll with an upright box; the tilt refinement recovers."""
    params = LandmarkParams(backend="dlib", dlib_upsample=0)
    errs = []
    with DlibLandmarker(None, "image", params) as lm:
        for crop, truth in test_faces[:9:2]:
            rot, truth_rot = _rotate(crop, truth, 40.0)
            boxes = lm.hog_boxes(rot)
            if not boxes:
                continue
            det = lm.detect(rot)
            errs.append(float(ib.nme(det.points, truth_rot)))
    if not errs:
        pytest.skip("HOG found none of the rotated faces")
    assert max(errs) < 6.0, errs


def test_mediapipe_box_resembles_the_hog_box(face_model, test_faces):
    from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker

    params = LandmarkParams()
    ious = []
    with MediaPipeLandmarker(face_model, "image", params) as mp_lm, DlibLandmarker(None, "image", params) as dl_lm:
        for crop, _ in test_faces[::5]:
            hog = dl_lm.hog_boxes(crop)
            mp = mp_lm.detect(crop).points
            if not hog or mp is None:
                continue
            a, b = np.array(hog[0]), np.array(mediapipe_box(mp))
            inter = np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None))
            union = np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter
            ious.append(inter / union)
    assert ious and min(ious) > 0.6, ious


def test_offset_correction_reduces_train_nme(shared_data, face_model):
    from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker

    raw, corr = [], []
    with MediaPipeLandmarker(face_model, "image", LandmarkParams()) as lm:
        for f in _faces(shared_data, "training"):
            crop, truth = _crop(*f)
            p = lm.detect(crop).points
            assert p is not None
            raw.append(float(ib.nme(ib.mediapipe_to_ibug68(p, correct=False), truth)))
            corr.append(float(ib.nme(ib.mediapipe_to_ibug68(p, correct=True), truth)))
    assert np.mean(corr) < np.mean(raw) - 0.3, (np.mean(raw), np.mean(corr))


def test_run_tta_combines_dlib_copies(test_faces):
    crop, truth = test_faces[0]
    params = LandmarkParams(backend="dlib", tta_copies=4)
    with DlibLandmarker(None, "image", params) as lm:
        res = run_tta(crop, lm, params)
        again = run_tta(crop, lm, params)
    assert res.n_found == 4 and res.points.shape == (68, 3)
    assert np.isfinite(res.spread).all() and (res.spread >= 0).all()
    np.testing.assert_array_equal(res.points, again.points)  # seeded, deterministic
    assert ib.nme(res.points, truth) < 10.0


def test_extract_landmarks_dlib_photo_and_video(shared_data, face_model):
    from palsyflow.landmarks import extract_landmarks

    photo = shared_data / "misc-faces" / "single_face.jpg"
    video = next(iter(sorted((shared_data / "talking-faces" / "grid").glob("*.mpg"))), None)
    if not photo.is_file() or video is None:
        pytest.skip("misc-faces/single_face.jpg or a GRID clip missing")
    params = LandmarkParams(backend="dlib", tta_copies=3)
    res = extract_landmarks(photo, "photo", params, face_model)
    assert res.points.height == 68 and res.meta["n_points"] == 68 and res.meta["scheme"] == "ibug68"
    assert bool(res.quality["face_found"][0]) and res.quality["tta_copies"][0] >= 2
    assert res.points["z"].is_nan().all() and res.points["x"].is_finite().all()
    arr = res.points_array()
    assert arr[0, 36, 0] < arr[0, 45, 0]  # index 36 is on the image left (patient's right)

    vparams = LandmarkParams(backend="dlib", tta_copies=2, tta_keyframes=2)
    v = extract_landmarks(video, "video", vparams, face_model)
    n = v.meta["n_frames"]
    assert n > 10 and v.points.height == n * 68
    assert v.quality["face_found"].mean() > 0.9
    assert set(v.meta["keyframes"]) == {"neutral", "peak"}
    assert (v.quality.filter(v.quality["keyframe"].is_not_null())["tta_copies"] >= 1).all()
