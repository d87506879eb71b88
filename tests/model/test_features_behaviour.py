"""Behaviour of the face and speech measures on real recordings (../shared/data).

Landmarks are computed here directly with MediaPipe (the project's extractor is
tested elsewhere): IMAGE mode on healthy-volunteer photos, VIDEO mode on a GRID
talking-face clip; normalised x, y, z are scaled to pixels (x * width, y * height,
z * width).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from palsyflow.features.audio import load_audio
from palsyflow.features.geometry import align_face
from palsyflow.features.regional import measure_names, recording_measures
from palsyflow.features.regions import COMMISSURE, IRIS_CENTER, MOUTH_CORNER_REGION, mirror_permutation
from palsyflow.speech.analysis import analyse_recording
from palsyflow.speech.prompts import grid_sentence
from palsyflow.features.table import FEATURE_TABLE_SCHEMA, build_feature_table, recording_row
from palsyflow.schemas import LANDMARK_SCHEMA

pytestmark = pytest.mark.shared_data

PHOTOS = (
    "healthy-tasks/app_uploads/K8bhUx2Hqv2LjfP4BsKy/at-rest-0.png",
    "healthy-tasks/app_uploads/lSHYQROPdgk7kJTsZxJu/at-rest-0.png",
    "healthy-tasks/mpeschel_session_A_original_assets/face-mp-big-smile-teeth-closed.jpg",
    "healthy-tasks/app_uploads/K8bhUx2Hqv2LjfP4BsKy/at-rest-1.jpg",  # phone JPEG with EXIF rotation
)
GRID_CLIP = "talking-faces/grid/bbaf2n.mpg"
GRID_WAVS = ("bbaf2n.wav", "brbk7n.wav", "lbax4n.wav")


# -- MediaPipe helper -----------------------------------------------------------
def _rgb(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def _to_px(result, width: int, height: int) -> np.ndarray:
    if not result.face_landmarks:
        return np.full((478, 3), np.nan)
    lm = result.face_landmarks[0]
    return np.array([[p.x * width, p.y * height, p.z * width] for p in lm], dtype=np.float64)


@lru_cache(maxsize=16)
def detect_photo(model: str, path: str, flip: bool = False) -> tuple[np.ndarray, int]:
    """(478, 3) pixel landmarks of the first face of a photo and the image width."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    img = _rgb(Path(path))
    if flip:
        img = np.ascontiguousarray(img[:, ::-1])
    opts = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=model), running_mode=vision.RunningMode.IMAGE, num_faces=1
    )
    with vision.FaceLandmarker.create_from_options(opts) as landmarker:
        res = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=img))
    h, w = img.shape[:2]
    return _to_px(res, w, h), w


@lru_cache(maxsize=4)
def detect_video(model: str, path: str) -> tuple[np.ndarray, int]:
    """(n_frames, 478, 3) pixel landmarks of a video (NaN rows without a face) and its width."""
    import av
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    opts = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=model), running_mode=vision.RunningMode.VIDEO, num_faces=1
    )
    out = []
    width = 0
    with vision.FaceLandmarker.create_from_options(opts) as landmarker, av.open(path) as container:
        stream = container.streams.video[0]
        for i, frame in enumerate(container.decode(stream)):
            # PyAV pads rows (360 px wide -> non-contiguous); MediaPipe then silently finds no face
            img = np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
            h, width = img.shape[:2]
            t_ms = int(round(float(frame.time) * 1000)) if frame.time is not None else i * 40
            res = landmarker.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=img), t_ms)
            out.append(_to_px(res, width, h))
    return np.stack(out), width


def mirror(points: np.ndarray, width: int) -> np.ndarray:
    """Mirror image x and swap patient left/right point indices (from our region sets)."""
    m = np.array(points, dtype=np.float64, copy=True)
    m[..., 0] = width - 1 - m[..., 0]
    return m[..., mirror_permutation(m.shape[-2]), :]


def swap_sides(measures: dict) -> dict:
    swapped = {}
    for k, v in measures.items():
        if k.endswith("_left"):
            k = k[: -len("_left")] + "_right"
        elif k.endswith("_right"):
            k = k[: -len("_right")] + "_left"
        if k.endswith("_weaker") and v is not None:
            v = "left" if v == "right" else "right"
        swapped[k] = v
    return swapped


def assert_same_measures(a: dict, b: dict, tol: float = 1e-6) -> None:
    assert set(a) == set(b)
    for k in a:
        if a[k] is None or isinstance(a[k], str):
            assert a[k] == b[k], k
        else:
            assert b[k] == pytest.approx(a[k], abs=tol), k


# -- tests -------------------------------------------------------------------------
def test_mediapipe_sides_follow_the_patient_convention(shared_data, face_model):
    pts, _ = detect_photo(str(face_model), str(shared_data / PHOTOS[0]))
    # the patient's right side is on the image left
    assert pts[IRIS_CENTER["right"], 0] < pts[IRIS_CENTER["left"], 0]
    assert pts[COMMISSURE["right"], 0] < pts[COMMISSURE["left"], 0]


@pytest.mark.parametrize("photo", PHOTOS)
def test_mirror_invariance_on_photos(shared_data, face_model, photo):
    pts, width = detect_photo(str(face_model), str(shared_data / photo))
    assert np.isfinite(pts).all(), "no face found"
    m = recording_measures(pts[None])
    mm = recording_measures(mirror(pts, width)[None])
    assert_same_measures(swap_sides(m), mm)
    assert m["rest_brow_height_left"] is not None and m["rest_commissure_height_asym"] is not None


def test_mirror_invariance_on_grid_video(shared_data, face_model):
    pts, width = detect_video(str(face_model), str(shared_data / GRID_CLIP))
    found = np.isfinite(pts).all(axis=(1, 2))
    assert found.mean() > 0.9
    m = recording_measures(pts, found)
    mm = recording_measures(mirror(pts, width), found)
    assert_same_measures(swap_sides(m), mm)
    assert m["mov_commissure_excursion_left"] > 0 and m["mov_commissure_excursion_right"] > 0


def test_redetected_flipped_photo_gives_similar_asymmetry(shared_data, face_model):
    """MediaPipe on the flipped image (not just flipped points) agrees within landmark noise."""
    path = str(shared_data / PHOTOS[0])
    m = recording_measures(detect_photo(str(face_model), path)[0][None])
    mf = swap_sides(recording_measures(detect_photo(str(face_model), path, flip=True)[0][None]))
    for region in ("rest_brow_height", "rest_palpebral_fissure_height", "rest_nasolabial_height", "rest_commissure_height"):
        assert abs(m[f"{region}_left"] - mf[f"{region}_left"]) < 0.03, region
        assert abs(m[f"{region}_asym"] - mf[f"{region}_asym"]) < 0.06, region


def _lower_corner(points: np.ndarray, side: str, amount_iod: float) -> np.ndarray:
    """Move one commissure's lip points down the face (face-frame +y) by amount * IOD."""
    al = align_face(points)
    out = np.array(points, dtype=np.float64, copy=True)
    roll = al.roll_rad
    down = np.stack([-np.sin(roll), np.cos(roll)], axis=-1) * al.iod_px[:, None]  # (n_frames, 2) px
    idx = list(MOUTH_CORNER_REGION[side])
    out[:, idx, :2] += amount_iod * down[:, None, :]
    return out


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("source", ["photo", "video"])
def test_synthetic_commissure_droop_is_detected(shared_data, face_model, side, source):
    if source == "photo":
        pts = detect_photo(str(face_model), str(shared_data / PHOTOS[1]))[0][None]
    else:
        pts = detect_video(str(face_model), str(shared_data / GRID_CLIP))[0]
    found = np.isfinite(pts).all(axis=(1, 2))
    base = recording_measures(pts, found)
    other = "right" if side == "left" else "left"
    # start beyond the face's natural difference so the droop dominates from the first step,
    # and above the rest noise floor (features.weaker_min_diff_iod, 0.01) that names a side
    head = max(0.0, base[f"rest_commissure_height_{other}"] - base[f"rest_commissure_height_{side}"])
    amounts = head + np.array([0.015, 0.03, 0.06, 0.1, 0.15])
    results = [recording_measures(_lower_corner(pts, side, a), found) for a in amounts]
    asym = [r["rest_commissure_height_asym"] for r in results]
    assert all(b > a for a, b in zip(asym, asym[1:], strict=False)), asym
    assert all(r["rest_commissure_height_weaker"] == side for r in results)
    # the alignment uses only the eyes: other regions are untouched
    for r in results:
        for region in ("rest_brow_height", "rest_palpebral_fissure_height", "rest_nasolabial_height"):
            assert r[f"{region}_asym"] == pytest.approx(base[f"{region}_asym"], abs=1e-9)


def test_healthy_rest_photos_are_nearly_symmetric(shared_data, face_model):
    """Sanity bound, not a fitted value: healthy faces at rest have small asymmetry."""
    for photo in PHOTOS[:2]:
        m = recording_measures(detect_photo(str(face_model), str(shared_data / photo))[0][None])
        for region in ("rest_brow_height", "rest_nasolabial_height", "rest_commissure_height"):
            assert m[f"{region}_asym"] < 0.15, (photo, region, m[f"{region}_asym"])


@pytest.mark.parametrize("wav", GRID_WAVS)
def test_speech_features_on_grid_speech(shared_data, wav):
    y = load_audio(shared_data / "talking-faces/grid/audio_extracted" / wav, 16000)
    f = analyse_recording(y, 16000, "sentences", prompt=grid_sentence(wav))
    assert f["speech_status"] == "ok" and f["speech_reason"] is None
    assert 70.0 <= f["speech_f0_median_hz"] <= 300.0  # adult voice
    assert 2.0 <= f["speech_articulation_rate_syl_s"] <= 8.0  # syllables per second of phonation
    assert f["speech_clarity"] >= 66.0 and len(f["speech_words"].split()) == 6  # a GRID sentence
    assert f["speech_jitter_local_pct"] is None  # jitter is not measured on connected speech


def test_speech_features_on_noise_are_refused(shared_data):
    y = load_audio(shared_data / "speech/alsa_utils/Noise.wav", 16000)
    f = analyse_recording(y, 16000, "sentences", prompt="bin blue at f two now")
    assert f["speech_status"] == "noise_only" and "voiced" in f["speech_reason"]
    assert f["speech_f0_median_hz"] is None and f["speech_clarity"] is None and f["speech_words"] is None


def test_video_container_audio_matches_extracted_wav(shared_data):
    a = load_audio(shared_data / GRID_CLIP, 16000)
    b = load_audio(shared_data / "talking-faces/grid/audio_extracted/bbaf2n.wav", 16000)
    assert abs(a.size - b.size) < 1600  # within 0.1 s
    fa = analyse_recording(a, 16000, "sentences", prompt="bin blue at f two now")
    fb = analyse_recording(b, 16000, "sentences", prompt="bin blue at f two now")
    assert fa["speech_f0_median_hz"] == pytest.approx(fb["speech_f0_median_hz"], rel=0.1)
    assert fa["speech_words"] == fb["speech_words"]


def test_recording_row_end_to_end_on_grid(shared_data, face_model):
    pts, _ = detect_video(str(face_model), str(shared_data / GRID_CLIP))
    n = pts.shape[0]
    found = np.isfinite(pts).all(axis=(1, 2))
    lm = pl.DataFrame(
        {
            "frame": np.repeat(np.arange(n), 478),
            "point": np.tile(np.arange(478), n),
            "x": pts[..., 0].ravel(),
            "y": pts[..., 1].ravel(),
            "z": pts[..., 2].ravel(),
            "spread": np.full(n * 478, np.nan),
            "face_found": np.repeat(found, 478),
        }
    ).cast(LANDMARK_SCHEMA)
    ids = {"recording_key": "site-G_sub-s1_ses-20060101_task-speech", "site": "G", "subject": "s1",
           "session": "20060101", "task": "speech", "kind": "video"}
    audio = load_audio(shared_data / GRID_CLIP, 16000)
    row = recording_row(ids, lm, None, analyse_recording(audio, 16000, "speech", prompt="bin blue at f two now"))
    table = build_feature_table([row])
    assert dict(table.schema) == FEATURE_TABLE_SCHEMA
    assert row["n_frames"] == n and row["face_found_fraction"] == pytest.approx(found.mean())
    direct = recording_measures(pts, found)
    for k in measure_names():  # float32 storage of the landmark table costs < 1e-4 IOD
        if isinstance(direct[k], float):
            assert row[k] == pytest.approx(direct[k], abs=1e-4), k
    assert 70.0 <= row["speech_f0_median_hz"] <= 300.0
