"""The Landmarker protocol, the backend registry and the media reader (no model needed)."""

from __future__ import annotations

import typing
from pathlib import Path

import cv2
import numpy as np
import pytest

from palsyflow.config import LandmarkParams
from palsyflow.landmarks import LandmarkError, extract_landmarks
from palsyflow.landmarks.backends import LANDMARKERS, DlibLandmarker, MediaPipeLandmarker, landmarker_class
from palsyflow.landmarks.base import Landmarker
from palsyflow.landmarks.media import PhotoReader, VideoReader, open_media
from palsyflow.landmarks.schemes import SCHEMES, get_scheme, scheme_for_points


def test_registry_names_are_the_backend_parameter_values():
    allowed = typing.get_args(LandmarkParams.model_fields["backend"].annotation)
    assert set(LANDMARKERS) == set(allowed)
    assert landmarker_class("dlib") is DlibLandmarker and landmarker_class("mediapipe") is MediaPipeLandmarker
    with pytest.raises(ValueError, match="not implemented"):
        landmarker_class("openface")


@pytest.mark.parametrize("name", sorted(LANDMARKERS))
def test_every_backend_declares_the_protocol_attributes(name):
    cls = LANDMARKERS[name]
    assert cls.scheme in SCHEMES.values()
    assert cls.tta_layout in typing.get_args(typing.get_type_hints(Landmarker)["tta_layout"])
    for method in ("detect", "describe", "close", "__enter__", "__exit__"):
        assert callable(getattr(cls, method))


def test_dlib_landmarker_is_a_landmarker_without_its_models_loaded(tmp_path):
    lm = DlibLandmarker(tmp_path / "missing.task", "video", LandmarkParams(backend="dlib"))
    assert isinstance(lm, Landmarker)
    assert lm.model_path is None  # a missing fallback model disables the fallback
    assert not lm.tracks and lm.scheme.name == "ibug68" and lm.tta_layout == "downscaled_frame"
    with pytest.raises(RuntimeError):
        lm.detect(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError):
        DlibLandmarker(None, "stream", LandmarkParams())


def test_mediapipe_landmarker_needs_its_model(tmp_path):
    with pytest.raises(FileNotFoundError):
        MediaPipeLandmarker(tmp_path / "missing.task", "image", LandmarkParams())


def test_schemes_are_found_by_name_and_point_count():
    assert get_scheme("ibug68").n_points == 68 and get_scheme("mediapipe478").n_points == 478
    assert scheme_for_points(np.zeros((5, 68, 3))) is get_scheme("ibug68")
    assert scheme_for_points(np.zeros((478, 2))) is get_scheme("mediapipe478")
    for bad in (np.zeros((5, 50, 3)), np.zeros(3)):
        with pytest.raises(ValueError):
            scheme_for_points(bad)
    with pytest.raises(ValueError):
        get_scheme("openpose")
    for s in SCHEMES.values():  # the mirror pairs are an involution, the eye corners swap
        np.testing.assert_array_equal(s.flip[s.flip], np.arange(s.n_points))
        assert sorted(s.flip[list(s.right_eye_corners)]) == sorted(s.left_eye_corners)


def test_extract_landmarks_rejects_unknown_kind_and_backend(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        extract_landmarks(tmp_path / "x.mp4", "audio", LandmarkParams(), tmp_path / "m.task")
    with pytest.raises(ValueError, match="backend"):
        extract_landmarks(tmp_path / "x.mp4", "video", LandmarkParams.model_construct(backend="openface"), None)
    with pytest.raises(LandmarkError, match="file not found"):
        extract_landmarks(tmp_path / "x.mp4", "video", LandmarkParams(backend="dlib"), None)


def _write_video(path: Path, n: int, fps: float) -> list[np.ndarray]:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    frames = []
    for i in range(n):
        f = np.full((48, 64, 3), 10 * i, np.uint8)
        w.write(f)
        frames.append(f)
    w.release()
    return frames


def test_video_reader_streams_frames_with_increasing_times_and_rereads_chosen_ones(tmp_path):
    path = tmp_path / "clip.avi"
    written = _write_video(path, 12, 30.0)
    with open_media(path, "video") as media:
        assert isinstance(media, VideoReader) and media.fps == pytest.approx(30.0)
        frames = list(media.frames())
        again = media.read_frames([2, 7, 50])
    assert [f.index for f in frames] == list(range(12))
    ts = [f.timestamp_ms for f in frames]
    assert ts[:4] == [0, 33, 67, 100] and all(b > a for a, b in zip(ts, ts[1:], strict=False))
    assert sorted(again) == [2, 7]  # a frame past the end is simply missing
    np.testing.assert_array_equal(again[7], frames[7].rgb)
    assert abs(int(frames[7].rgb.mean()) - int(written[7].mean())) <= 3  # MJPG is lossy


def test_media_reader_errors_and_photos(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(LandmarkError, match="cannot be decoded"):
        open_media(bad, "photo")
    with pytest.raises(LandmarkError, match="file not found"):
        open_media(tmp_path / "missing.mp4", "video")
    with pytest.raises(ValueError):
        open_media(bad, "audio")
    good = tmp_path / "p.png"
    cv2.imwrite(str(good), np.full((5, 7, 3), (0, 0, 255), np.uint8))  # BGR red
    with open_media(good, "photo") as media:
        assert isinstance(media, PhotoReader) and media.fps is None
        (frame,) = list(media.frames())
    assert frame.index == 0 and frame.timestamp_ms == 0 and frame.rgb.shape == (5, 7, 3)
    assert tuple(frame.rgb[0, 0]) == (255, 0, 0)  # RGB
