"""Landmarks on real recordings with the real MediaPipe model.

Needs ../shared/data (fixture ``shared_data``) and models/face_landmarker.task
(fixture ``face_model``); skips otherwise.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import polars as pl
import pytest

from palsyflow.config import LandmarkParams
from palsyflow.landmarks import LandmarkError, extract_landmarks, read_landmarks, write_landmarks
from palsyflow.landmarks.media import read_photo
from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker
from palsyflow.landmarks.schemes.mediapipe478 import MP_FLIP, NAMED, derive_mesh_flip, flip_points
from palsyflow.landmarks.tta import Augmentation, run_tta
from palsyflow.schemas import LANDMARK_SCHEMA, QUALITY_SCHEMA

CLIP = "talking-faces/grid/bbaf2n.mpg"


@pytest.fixture(scope="module")
def grid_clip(shared_data) -> Path:
    path = shared_data / CLIP
    if not path.is_file():
        pytest.skip(f"{path} absent")
    return path


@pytest.fixture(scope="module")
def frontal_rgb(grid_clip) -> np.ndarray:
    cap = cv2.VideoCapture(str(grid_clip))
    ok, bgr = cap.read()
    cap.release()
    assert ok
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def image_landmarker(face_model):
    with MediaPipeLandmarker(face_model, "image", LandmarkParams()) as lm:
        yield lm


def test_flip_map_is_reproduced_from_the_canonical_mesh(face_model):
    flip, residual = derive_mesh_flip(face_model)
    np.testing.assert_array_equal(flip, MP_FLIP[:468])
    assert residual < 1e-4


def test_named_sides_on_a_real_frontal_face(frontal_rgb, image_landmarker):
    pts = image_landmarker.detect(frontal_rgb).points
    assert pts is not None
    # patient's right appears on the image left (smaller x)
    for part in ("eye_outer", "eye_inner", "mouth_corner", "brow_outer", "iris_center"):
        assert pts[NAMED[f"right_{part}"], 0] < pts[NAMED[f"left_{part}"], 0], part
    assert pts[NAMED["right_eye_outer"], 1] < pts[NAMED["upper_lip_center"], 1]


def test_detecting_a_mirrored_image_matches_flip_points(frontal_rgb, image_landmarker):
    h, w = frontal_rgb.shape[:2]
    direct = image_landmarker.detect(frontal_rgb).points
    mirrored = image_landmarker.detect(np.ascontiguousarray(cv2.flip(frontal_rgb, 1))).points
    back = flip_points(mirrored, w)
    err = np.linalg.norm(back[:, :2] - direct[:, :2], axis=1)
    iod = np.linalg.norm(direct[33, :2] - direct[263, :2])
    assert np.median(err) < 0.03 * iod and err.max() < 0.15 * iod
    assert np.abs(err[468:]).max() < 0.05 * iod  # iris ordering included
    # a wrong mapping (mirroring x without re-indexing) is far off
    naive = mirrored.copy()
    naive[:, 0] = w - 1 - naive[:, 0]
    assert np.median(np.linalg.norm(naive[:, :2] - direct[:, :2], axis=1)) > 5 * np.median(err)


def test_tta_unflip_of_a_flipped_only_copy(frontal_rgb, image_landmarker):
    direct = image_landmarker.detect(frontal_rgb).points
    res = run_tta(frontal_rgb, image_landmarker, LandmarkParams(), augmentations=[Augmentation(flip=True)])
    assert res.n_found == 1
    err = np.linalg.norm(res.points[:, :2] - direct[:, :2], axis=1)
    assert np.median(err) < 2.0 and err.max() < 8.0  # pixels, face ~60 px IOD


def test_tta_on_a_real_face_is_deterministic_and_tight(frontal_rgb, image_landmarker):
    p = LandmarkParams(tta_copies=6)
    a = run_tta(frontal_rgb, image_landmarker, p)
    b = run_tta(frontal_rgb, image_landmarker, p)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.spread, b.spread)
    assert a.n_found == 6
    direct = image_landmarker.detect(frontal_rgb).points
    assert np.median(np.linalg.norm(a.points[:, :2] - direct[:, :2], axis=1)) < 2.0
    assert 0.0 < np.median(a.spread) < 3.0
    c = run_tta(frontal_rgb, image_landmarker, p, seed=p.tta_seed + 1)
    assert not np.array_equal(a.points, c.points)


def test_extract_grid_clip(grid_clip, face_model, tmp_path):
    params = LandmarkParams()
    res = extract_landmarks(grid_clip, "video", params, face_model)
    assert res.points.schema == pl.Schema(LANDMARK_SCHEMA)
    assert res.quality.schema == pl.Schema(QUALITY_SCHEMA)
    assert res.quality.height == 75 and res.points.height == 75 * 478
    assert res.quality["face_found"].mean() >= 0.95
    m = res.meta
    assert (m["width"], m["height"], m["n_frames"], m["n_points"]) == (360, 288, 75, 478)
    assert m["fps"] == pytest.approx(25.0) and m["params_digest"] == params.digest()
    assert m["source"] == grid_clip.name and m["backend"] == "mediapipe"
    q = res.quality
    keyed = q.filter(pl.col("keyframe").is_not_null())
    assert sorted(keyed["keyframe"].to_list()) == ["neutral", "peak"]
    assert (keyed["tta_copies"] >= params.tta_copies - 1).all()
    assert keyed["tta_spread_px"].is_finite().all()
    assert q.filter(pl.col("keyframe").is_null())["tta_spread_px"].is_nan().all()
    sp = res.points.join(keyed.select("frame"), on="frame", how="anti")["spread"]
    assert sp.is_nan().all()
    assert q["time_s"][10] == pytest.approx(10 / 25.0)
    # points stay inside the frame
    pts = res.points_array()
    assert np.nanmin(pts[..., 0]) > -20 and np.nanmax(pts[..., 0]) < 380
    # round trip through parquet
    write_landmarks(res, tmp_path / "p.parquet", tmp_path / "q.parquet")
    back = read_landmarks(tmp_path / "p.parquet", tmp_path / "q.parquet")
    assert back.points.equals(res.points) and back.meta == res.meta


def test_extract_without_tta_marks_keyframes_only(grid_clip, face_model):
    res = extract_landmarks(grid_clip, "video", LandmarkParams(tta_copies=1), face_model)
    assert res.points["spread"].is_nan().all()
    assert (res.quality["tta_copies"] == 0).all()
    assert res.quality["keyframe"].drop_nulls().len() == 2
    # savgol smoothing lowers the frame-to-frame acceleration of the tracks
    smooth = extract_landmarks(grid_clip, "video", LandmarkParams(tta_copies=1, smoothing="savgol"), face_model)
    raw_acc = np.nanmean(np.abs(np.diff(res.points_array()[..., :2], n=2, axis=0)))
    smooth_acc = np.nanmean(np.abs(np.diff(smooth.points_array()[..., :2], n=2, axis=0)))
    assert smooth_acc < 0.7 * raw_acc


def test_extract_is_picklable_for_process_pools(grid_clip, face_model):
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1) as pool:
        res = pool.submit(extract_landmarks, grid_clip, "video", LandmarkParams(tta_copies=2), face_model).result()
    assert res.quality.height == 75 and res.meta["n_frames"] == 75


def test_sideways_exif_phone_photo_comes_out_upright(shared_data, face_model):
    from PIL import Image

    photos = sorted((shared_data / "healthy-tasks" / "app_uploads").glob("*/at-rest-1.jpg"))
    if not photos:
        pytest.skip("no phone photos in healthy-tasks/app_uploads")
    path = photos[0]
    with Image.open(path) as im:
        assert im.getexif().get(0x0112) in (5, 6, 7, 8)  # stored sideways
        stored = im.size
    rgb = read_photo(path)
    assert (rgb.shape[1], rgb.shape[0]) == (stored[1], stored[0])
    res = extract_landmarks(path, "photo", LandmarkParams(tta_copies=4), face_model)
    assert res.quality["face_found"][0]
    assert (res.meta["width"], res.meta["height"]) == (stored[1], stored[0])
    pts = res.points_array()[0]
    eyes_y = pts[[33, 133, 263, 362], 1].mean()
    mouth_y = pts[[61, 291, 13, 14], 1].mean()
    assert eyes_y < mouth_y
    assert pts[33, 0] < pts[263, 0]  # unmirrored: patient's right on the image left
    assert res.quality["tta_copies"][0] >= 3


@pytest.mark.parametrize("source", ["dogs", "blank"])
def test_no_face_is_flagged_not_raised(source, shared_data, face_model, tmp_path):
    if source == "dogs":
        path = shared_data / "faces-68pt" / "dogs.jpg"
        if not path.is_file():
            pytest.skip(f"{path} absent")
    else:
        path = tmp_path / "blank.png"
        cv2.imwrite(str(path), np.full((240, 320, 3), 127, np.uint8))
    res = extract_landmarks(path, "photo", LandmarkParams(tta_copies=3), face_model)
    assert res.quality.height == 1 and not res.quality["face_found"][0]
    assert res.points.height == 478 and res.points["x"].is_nan().all()
    assert not res.points["face_found"].any()


@pytest.mark.parametrize("kind,name", [("photo", "broken.jpg"), ("video", "broken.mp4"), ("video", "missing.mp4")])
def test_undecodable_file_raises_landmark_error(kind, name, face_model, tmp_path):
    path = tmp_path / name
    if name != "missing.mp4":
        path.write_bytes(b"this is not media" * 10)
    with pytest.raises(LandmarkError, match=str(path)):
        extract_landmarks(path, kind, LandmarkParams(), face_model)


def test_large_photo_is_downscaled_for_detection_but_reported_full_size(frontal_rgb, face_model):
    big = cv2.resize(frontal_rgb, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)  # 1440 x 1152
    with MediaPipeLandmarker(face_model, "image", LandmarkParams(detect_max_side=400)) as lm:
        small_pts = lm.detect(frontal_rgb).points
        big_pts = lm.detect(big).points
    # pixel centres: x_big + 0.5 = 4 (x_small + 0.5)
    expected = (small_pts[:, :2] + 0.5) * 4 - 0.5
    err = np.linalg.norm(big_pts[:, :2] - expected, axis=1)
    assert np.median(err) < 4.0  # 4x pixels, i.e. < 1 original pixel
