"""Faces the plain MediaPipe pass misses (small in a large frame, filling the frame) and the
subject rule for photos with several faces, on real photos (healthy-tasks, misc-faces)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from palsyflow.config import LandmarkParams
from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker
from palsyflow.landmarks.media import LandmarkError, open_media
from palsyflow.landmarks.pipeline import extract_landmarks
from palsyflow.landmarks.schemes.mediapipe478 import interocular_distance

SUBJECT = "K8bhUx2Hqv2LjfP4BsKy"
#: phone JPEGs cut to their landmark box shrunk by 20 % per side; the plain pass (padded
#: retry included) finds neither crop, and main's TTA copies find only the first
TIGHT = ("lips-puckered-2.jpg", "nose-wrinkle-1.jpg")


def _rgb(path: Path) -> np.ndarray:
    with open_media(path, "photo") as m:
        return m.rgb


def _save(rgb: np.ndarray, path: Path) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def _points(result) -> np.ndarray:
    df = result.points.sort("point")
    return np.stack([df["x"].to_numpy(), df["y"].to_numpy()], axis=1)


@pytest.fixture(scope="module")
def plain(face_model):
    with MediaPipeLandmarker(face_model, "image", LandmarkParams()) as lm:
        yield lm


@pytest.fixture(scope="module")
def webcam(shared_data, plain):
    """The 640x480 webcam photo at rest and its plain-pass landmarks (478, 3)."""
    rgb = _rgb(shared_data / "healthy-tasks" / "app_uploads" / SUBJECT / "at-rest-0.png")
    det = plain.detect(rgb)
    assert det.points is not None
    return rgb, det.points


def _found(result) -> bool:
    return bool(result.quality["face_found"][0])


def test_small_face_in_a_large_portrait_is_found_where_it_is(webcam, face_model, tmp_path):
    rgb, pts = webcam
    width = pts[:, 0].max() - pts[:, 0].min()
    f = 85.0 / width
    small = cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    canvas = np.full((1024, 817, 3), 128, np.uint8)
    y0, x0 = 300, 250
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    path = _save(canvas, tmp_path / "portrait.png")
    result = extract_landmarks(path, "photo", LandmarkParams(), face_model)
    assert _found(result)
    assert int(result.quality["tta_copies"][0]) > 1  # TTA ran on the proposal's crop
    expected = (pts[:, :2] + 0.5) * f - 0.5 + np.array([x0, y0])
    err = np.linalg.norm(_points(result) - expected, axis=1).mean()
    assert err < 0.15 * interocular_distance(expected)


def test_the_plain_pass_misses_that_portrait(webcam, plain):
    """The defect itself (so the test above is not trivially true)."""
    rgb, pts = webcam
    f = 85.0 / (pts[:, 0].max() - pts[:, 0].min())
    small = cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    canvas = np.full((1024, 817, 3), 128, np.uint8)
    canvas[300 : 300 + small.shape[0], 250 : 250 + small.shape[1]] = small
    assert plain.detect(canvas).n_faces == 0


@pytest.mark.parametrize("name", TIGHT)
def test_tight_crop_is_found_and_mapped_back_to_its_pixels(name, shared_data, plain, face_model, tmp_path):
    rgb = _rgb(shared_data / "healthy-tasks" / "app_uploads" / SUBJECT / name)
    pts = plain.detect(rgb).points
    lo, hi = pts[:, :2].min(axis=0), pts[:, :2].max(axis=0)
    x0, y0 = (lo + 0.2 * (hi - lo)).astype(int)
    x1, y1 = (hi - 0.2 * (hi - lo)).astype(int)
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    path = _save(crop, tmp_path / f"tight-{Path(name).stem}.png")
    result = extract_landmarks(path, "photo", LandmarkParams(), face_model)
    assert _found(result)
    expected = pts[:, :2] - np.array([x0, y0])
    inside = (expected[:, 0] > 0) & (expected[:, 0] < crop.shape[1]) & (expected[:, 1] > 0) & (expected[:, 1] < crop.shape[0])
    err = np.linalg.norm(_points(result)[inside] - expected[inside], axis=1).mean()
    assert err < 0.15 * interocular_distance(pts)


def test_proposals_leave_a_face_the_plain_pass_finds_unchanged(webcam, face_model, shared_data):
    path = shared_data / "healthy-tasks" / "app_uploads" / SUBJECT / "at-rest-0.png"
    on = extract_landmarks(path, "photo", LandmarkParams(), face_model)
    off = extract_landmarks(path, "photo", LandmarkParams(proposals=False), face_model)
    assert on.points.equals(off.points)
    assert on.quality.equals(off.quality)


def test_group_photo_without_a_clear_subject_is_refused_with_the_count(shared_data, face_model):
    path = shared_data / "misc-faces" / "multi_face.jpg"
    with pytest.raises(LandmarkError) as err:
        extract_landmarks(path, "photo", LandmarkParams(), face_model)
    msg = str(err.value)
    assert msg.startswith("multi_face.jpg: ")
    n = int(msg.split(": ", 1)[1].split(" ")[0])
    assert n >= 2
    assert "none is clearly the subject" in msg and "upload a photo of the patient alone" in msg


def _with_corner_face(rgb: np.ndarray, other: np.ndarray, lm) -> np.ndarray:
    """``rgb`` with the face of ``other`` (its landmark box, 50 % margin) pasted 180 px wide top left."""
    from palsyflow.landmarks.crop import face_square, square_crop

    cx, cy, side = face_square(lm.detect(other).points, 0.5)
    face, _ = square_crop(other, cx, cy, side, 180)
    out = rgb.copy()
    out[4 : 4 + 180, 4 : 4 + 180] = face
    return out


def test_patient_photo_with_a_small_face_in_a_corner_is_measured_on_the_patient(webcam, shared_data, plain, face_model, tmp_path):
    rgb, pts = webcam
    photo = _with_corner_face(rgb, _rgb(shared_data / "misc-faces" / "single_face.jpg"), plain)
    path = _save(photo, tmp_path / "with-corner-face.png")
    result = extract_landmarks(path, "photo", LandmarkParams(), face_model)
    assert int(result.quality["n_faces"][0]) >= 2  # the corner face is seen ...
    err = np.linalg.norm(_points(result) - pts[:, :2], axis=1).mean()
    assert err < 0.1 * interocular_distance(pts)  # ... and the patient measured


def _face(cx: float, cy: float, size: float) -> np.ndarray:
    """A square of four points standing for a face's landmarks."""
    h = size / 2.0
    return np.array([[cx - h, cy - h], [cx + h, cy - h], [cx - h, cy + h], [cx + h, cy + h]])


@pytest.mark.parametrize(
    ("faces", "clear"),
    [
        ([_face(320, 240, 200), _face(60, 60, 60)], True),  # large, central + small in a corner
        ([_face(320, 240, 200), _face(500, 240, 180)], False),  # two of similar size
        ([_face(600, 440, 200), _face(60, 60, 60)], False),  # largest, but at the border
    ],
)
def test_subject_rule_needs_size_margin_and_centre(faces, clear):
    from palsyflow.landmarks.base import unclear_subject

    why = unclear_subject(np.stack(faces), 640, 480, 1.5, 0.6)
    assert (why is None) is clear
    if not clear:
        assert why.startswith("2 faces and none is clearly the subject")


def test_subject_rule_margins_come_from_params():
    from palsyflow.landmarks.base import unclear_subject

    faces = np.stack([_face(320, 240, 200), _face(500, 240, 150)])  # 1.33x
    assert unclear_subject(faces, 640, 480, 1.5, 0.6) is not None
    assert unclear_subject(faces, 640, 480, 1.2, 0.6) is None


def test_video_with_a_small_face_in_a_large_frame_is_tracked_on_the_proposal_crop(shared_data, face_model, tmp_path):
    clip = sorted((shared_data / "talking-faces" / "grid").glob("*.mpg"))[0]
    cap = cv2.VideoCapture(str(clip))
    frames = []
    while len(frames) < 12:
        ok, bgr = cap.read()
        assert ok
        frames.append(bgr)
    cap.release()
    scale, (x0, y0) = 0.6, (850, 450)

    def write(name, imgs, size):
        out = tmp_path / name
        vw = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 25, size)
        for img in imgs:
            vw.write(img)
        vw.release()
        return out

    def placed(bgr):
        small = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        canvas = np.full((720, 1280, 3), 128, np.uint8)
        canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
        return canvas

    big = write("small-face-720p.mp4", [placed(f) for f in frames], (1280, 720))
    plain = extract_landmarks(big, "video", LandmarkParams(proposals=False, tta_copies=1), face_model)
    assert not plain.quality["face_found"].any()  # the defect
    result = extract_landmarks(big, "video", LandmarkParams(tta_copies=1), face_model)
    assert result.quality["face_found"].all()
    ref = extract_landmarks(write("native.mp4", frames, (frames[0].shape[1], frames[0].shape[0])), "video",
                            LandmarkParams(tta_copies=1), face_model)
    got = result.points.sort("frame", "point")
    want = ref.points.sort("frame", "point")
    gx = np.stack([got["x"].to_numpy(), got["y"].to_numpy()], axis=1)
    wx = (np.stack([want["x"].to_numpy(), want["y"].to_numpy()], axis=1) + 0.5) * scale - 0.5 + np.array([x0, y0])
    iod = interocular_distance(wx[:478])
    assert np.linalg.norm(gx - wx, axis=1).mean() < 0.15 * iod


def test_video_of_a_group_is_refused_on_its_key_frames(shared_data, face_model, tmp_path):
    bgr = cv2.imread(str(shared_data / "misc-faces" / "multi_face.jpg"))
    out = tmp_path / "group.mp4"
    vw = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 25, (bgr.shape[1], bgr.shape[0]))
    for _ in range(8):
        vw.write(bgr)
    vw.release()
    with pytest.raises(LandmarkError, match=r"^group\.mp4: key frame \d+ \([0-9.]+ s\): \d+ faces and none is clearly"):
        extract_landmarks(out, "video", LandmarkParams(tta_copies=1), face_model)
