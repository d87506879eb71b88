"""Key-frame selection on synthetic sequences with known neutral and peak frames."""

from __future__ import annotations

import numpy as np
import pytest

from palsyflow.landmarks.keyframes import normalise_shapes, select_keyframes
from palsyflow.landmarks.schemes.mediapipe478 import NAMED


def base_face(rng) -> np.ndarray:
    pts = rng.uniform(-1.0, 1.0, size=(478, 3)) * [60, 80, 10] + [180, 150, 0]
    pts[[33, 133], :2] = [[130, 120], [160, 120]]  # patient's right eye (image left)
    pts[[362, 263], :2] = [[200, 120], [230, 120]]
    return pts


def sequence(expression: np.ndarray, seed: int = 0) -> np.ndarray:
    """Frames = base face + expression[t] * smile, each under a random similarity."""
    rng = np.random.default_rng(seed)
    face = base_face(rng)
    mouth = [NAMED["right_mouth_corner"], NAMED["left_mouth_corner"], 0, 17, 13, 14]
    smile = np.zeros((478, 3))
    smile[mouth, 0] = [-12, 12, 0, 0, 0, 0]
    smile[mouth, 1] = [-8, -8, -2, 3, 0, 2]
    frames = []
    for e in expression:
        p = face + e * smile
        a, s = np.radians(rng.uniform(-10, 10)), rng.uniform(0.8, 1.25)
        r = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        xy = (p[:, :2] - 180) @ r.T + 180 + rng.uniform(-20, 20, 2)
        frames.append(np.concatenate([xy, p[:, 2:]], axis=1))
    return np.stack(frames)


def test_neutral_and_peak_found_despite_head_motion():
    # most frames at rest (the method assumes the median shape is the resting face)
    expr = np.array([0.3, 0.0, 0.0, 0.1, 0.0, 0.5, 1.0, 0.7, 0.0, 0.0, 0.0, 0.0, 0.2])
    keys = select_keyframes(sequence(expr), 2)
    assert list(keys) == ["neutral", "peak"]
    assert expr[keys["neutral"]] == 0.0
    assert keys["peak"] == int(np.argmax(expr))


def test_nan_frames_are_never_chosen():
    expr = np.array([0.0, 0.0, 1.0, 0.0, 0.4])
    pts = sequence(expr)
    pts[2] = np.nan  # the true peak has no face
    keys = select_keyframes(pts, 2)
    assert 2 not in keys.values()
    assert keys["peak"] == 4


def test_more_keyframes_are_distinct_and_bounded():
    expr = np.linspace(0, 1, 9)
    keys = select_keyframes(sequence(expr), 4)
    assert list(keys) == ["neutral", "peak", "key2", "key3"]
    assert len(set(keys.values())) == 4
    assert len(select_keyframes(sequence(expr[:2]), 5)) == 2
    assert select_keyframes(sequence(expr), 0) == {}
    assert select_keyframes(np.full((4, 478, 3), np.nan), 2) == {}


def test_normalisation_removes_similarity_transforms():
    shapes = normalise_shapes(sequence(np.zeros(5)))
    np.testing.assert_allclose(shapes, np.broadcast_to(shapes[0], shapes.shape), atol=1e-9)
    # eye centres land on (-0.5, 0) and (+0.5, 0) in IOD units
    right = shapes[0, [33, 133]].mean(axis=0)
    assert right == pytest.approx([-0.5, 0.0])


def test_rejects_wrong_shape():
    with pytest.raises(ValueError):
        select_keyframes(np.zeros((3, 50, 2)), 2)  # no scheme has 50 points
    with pytest.raises(ValueError):
        select_keyframes(np.zeros((3, 478)), 2)


def test_rest_window_finds_neutral_when_the_expression_is_held():
    # starts at rest, then a smile held for most of the clip
    expr = np.concatenate([np.zeros(4), np.linspace(0.2, 1.0, 4), np.full(14, 1.0), [0.9]])
    pts = sequence(expr, seed=3)
    whole = select_keyframes(pts, 2)
    assert expr[whole["neutral"]] == 1.0  # the documented failure of the whole-clip median
    keys = select_keyframes(pts, 2, rest_frames=4)
    assert expr[keys["neutral"]] == 0.0 and keys["neutral"] < 4
    assert expr[keys["peak"]] == 1.0


def test_rest_window_opens_when_the_face_appears():
    expr = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    pts = sequence(expr)
    pts[:3] = np.nan  # the face enters at frame 3, at rest, then smiles
    keys = select_keyframes(pts, 2, rest_frames=2)
    assert keys["neutral"] in (3, 4) and expr[keys["peak"]] == 1.0


def test_isolated_detections_are_not_keyframes():
    expr = np.array([0.0, 0.0, 0.0, 0.2, 0.5, 0.6, 0.0, 0.0, 0.0, 3.0, 0.0])
    pts = sequence(expr)
    pts[[8, 10]] = np.nan  # frame 9 (a wild outlier) is a one-frame detection
    keys = select_keyframes(pts, 2)
    assert 9 not in keys.values() and keys["peak"] == 5


def test_68_point_tracks_are_picked_directly_with_the_ibug_eye_corners():
    """The picker reads the scheme's eye corners: no 68 -> 478 slot map (issue 8)."""
    from palsyflow.landmarks.schemes.ibug68 import SCHEME as IBUG68

    expr = np.concatenate([np.zeros(5), np.linspace(0.1, 1.0, 10), np.linspace(0.9, 0.0, 10)])
    seq478 = sequence(expr)
    # iBUG eye corners 36, 39 | 42, 45 carry MediaPipe's 33, 133 | 362, 263; mouth corners 48, 54
    idx = np.arange(68) * 7
    idx[[36, 39, 42, 45, 48, 54]] = [33, 133, 362, 263, NAMED["right_mouth_corner"], NAMED["left_mouth_corner"]]
    seq68 = seq478[:, idx]
    keys = select_keyframes(seq68, 2, rest_frames=5)
    assert keys["peak"] == int(np.argmax(expr)) and keys["neutral"] < 5
    assert keys == select_keyframes(seq68, 2, rest_frames=5, scheme=IBUG68)
    # the face frame is the iBUG eye-corner frame: eye centres at (-0.5, 0) and (0.5, 0)
    shapes = normalise_shapes(seq68[:1])
    right = (shapes[0, 36] + shapes[0, 39]) / 2
    assert right == pytest.approx([-0.5, 0.0])
