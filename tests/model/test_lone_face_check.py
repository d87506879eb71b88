"""A photo in which MediaPipe finds one face is checked with dlib HOG for the faces it missed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from palsyflow.config import LandmarkParams
from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker
from palsyflow.landmarks.base import Detection
from palsyflow.landmarks.media import LandmarkError
from palsyflow.landmarks.pipeline import extract_landmarks

pytestmark = pytest.mark.shared_data


@pytest.fixture()
def mediapipe_sees_one_face(monkeypatch):
    """MediaPipe as if it missed every face but the one it chose (as it does on some group photos)."""
    detect = MediaPipeLandmarker.detect

    def one(self, rgb):
        det = detect(self, rgb)
        if det.chosen is None:
            return det
        return Detection(faces=det.faces[[det.chosen]], chosen=0)

    monkeypatch.setattr(MediaPipeLandmarker, "detect", one)


def test_a_group_photo_with_one_face_found_is_refused_with_the_count(shared_data, face_model, mediapipe_sees_one_face):
    photo = shared_data / "misc-faces" / "multi_face.jpg"
    params = LandmarkParams(tta_copies=1)
    with pytest.raises(LandmarkError, match=r"multi_face\.jpg: [2-9] faces and none is clearly the subject"):
        extract_landmarks(photo, "photo", params, face_model)
    off = params.model_copy(update={"subject_hog_upsample": -1})
    res = extract_landmarks(photo, "photo", off, face_model)  # the check off: measured, as before
    assert np.isfinite(res.points.select("x").to_numpy()).all()


def test_single_subject_photos_are_not_refused(shared_data, face_model, mediapipe_sees_one_face):
    photos = [shared_data / "misc-faces" / "single_face.jpg"]
    photos += sorted((shared_data / "healthy-tasks").rglob("*.jpg"))[:3]
    params = LandmarkParams(tta_copies=1)
    for photo in photos:
        res = extract_landmarks(Path(photo), "photo", params, face_model)
        assert int(res.quality["n_faces"][0]) == 1, photo
