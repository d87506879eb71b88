"""iBUG-68 scheme: mirror pairs, MediaPipe->iBUG map, offsets, NME, scheme conversion."""

from __future__ import annotations

import json

import numpy as np
import pytest

from palsyflow.landmarks.schemes import ibug68 as ib
from palsyflow.landmarks.result import LandmarkResult, build_tables, to_scheme
from palsyflow.landmarks.schemes.mediapipe478 import MP_FLIP, flip_points


def _rng_face478(rng, n=None):
    """Random but face-like 478-point sets: a jittered copy of a fixed random layout."""
    shape = (478, 3) if n is None else (n, 478, 3)
    base = rng.uniform(100, 300, size=(478, 3))
    return base + rng.normal(0, 2, size=shape)


def _similarity(points, angle_deg, scale, shift):
    a = np.deg2rad(angle_deg)
    r = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    out = np.array(points, dtype=float, copy=True)
    out[..., :2] = out[..., :2] @ r.T + np.asarray(shift)
    return out


# pair map ---------------------------------------------------------------------------------
def test_flip_is_an_involution_with_known_pairs():
    f = ib.IBUG68_FLIP
    assert f.shape == (68,)
    np.testing.assert_array_equal(f[f], np.arange(68))
    assert sorted(f.tolist()) == list(range(68))  # a permutation
    for a, b in [(36, 45), (48, 54), (0, 16), (39, 42), (17, 26), (31, 35), (60, 64), (1, 15), (21, 22)]:
        assert f[a] == b and f[b] == a
    fixed = {8, 27, 28, 29, 30, 33, 51, 57, 62, 66}
    assert {i for i in range(68) if f[i] == i} == fixed


def test_flip_points68_twice_is_identity_and_mirrors_x():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 640, size=(3, 68, 3))
    once = ib.flip_points68(pts, 640)
    np.testing.assert_allclose(ib.flip_points68(once, 640), pts)
    # the point at index 45 of the flipped set is the mirror of input point 36
    np.testing.assert_allclose(once[:, 45, 0], 639 - pts[:, 36, 0])
    np.testing.assert_allclose(once[:, 45, 1:], pts[:, 36, 1:])
    with pytest.raises(ValueError):
        ib.flip_points68(np.zeros((478, 2)), 10)


def test_mp_map_commutes_with_mirroring():
    m = ib.MP_TO_IBUG68
    assert m.shape == (68,) and len(set(m.tolist())) == 68
    assert m.min() >= 0 and m.max() < 468  # mesh vertices, no iris points
    np.testing.assert_array_equal(MP_FLIP[m], m[ib.IBUG68_FLIP])
    # anatomical anchors: outer/inner eye corners and mouth corners
    assert (m[36], m[39], m[42], m[45], m[48], m[54]) == (33, 133, 362, 263, 61, 291)


# mapping ----------------------------------------------------------------------------------
def test_mapping_shapes():
    rng = np.random.default_rng(1)
    assert ib.mediapipe_to_ibug68(_rng_face478(rng), correct=False).shape == (68, 3)
    assert ib.mediapipe_to_ibug68(_rng_face478(rng, 5)[..., :2]).shape == (5, 68, 2)
    assert ib.mediapipe_to_ibug68(np.zeros((2, 4, 478, 3))).shape == (2, 4, 68, 3)
    with pytest.raises(ValueError):
        ib.mediapipe_to_ibug68(np.zeros((68, 2)))
    with pytest.raises(ValueError):
        ib.mediapipe_to_ibug68(_rng_face478(rng), offsets=np.zeros((67, 2)))
    nan = np.full((478, 3), np.nan)
    assert np.isnan(ib.mediapipe_to_ibug68(nan)).all()


def test_uncorrected_map_picks_the_vertices():
    rng = np.random.default_rng(2)
    p = _rng_face478(rng)
    np.testing.assert_array_equal(ib.mediapipe_to_ibug68(p, correct=False), p[ib.MP_TO_IBUG68])


def test_correction_is_similarity_equivariant():
    rng = np.random.default_rng(3)
    p = _rng_face478(rng)
    off = rng.normal(0, 0.05, size=(68, 2))
    q = _similarity(p, 30.0, 1.7, (40.0, -25.0))
    a = _similarity(ib.mediapipe_to_ibug68(p, offsets=off), 30.0, 1.7, (40.0, -25.0))
    b = ib.mediapipe_to_ibug68(q, offsets=off)
    np.testing.assert_allclose(a[:, :2], b[:, :2], atol=1e-9)


def test_symmetric_offsets_commute_with_mirroring():
    rng = np.random.default_rng(4)
    off = rng.normal(0, 0.05, size=(68, 2))
    sym = (off + off[ib.IBUG68_FLIP] * [-1.0, 1.0]) / 2.0
    p = _rng_face478(rng)
    a = ib.flip_points68(ib.mediapipe_to_ibug68(p, offsets=sym), 640)
    b = ib.mediapipe_to_ibug68(flip_points(p, 640), offsets=sym)
    np.testing.assert_allclose(a, b, atol=1e-9)
    # a non-symmetric offset table does not: the test can tell
    c = ib.mediapipe_to_ibug68(flip_points(p, 640), offsets=off)
    assert np.abs(ib.flip_points68(ib.mediapipe_to_ibug68(p, offsets=off), 640) - c).max() > 1e-3


def test_learn_offsets_recovers_planted_offsets():
    rng = np.random.default_rng(5)
    planted = rng.normal(0, 0.04, size=(68, 2))
    faces = np.stack([_similarity(_rng_face478(rng), rng.uniform(-20, 20), rng.uniform(0.5, 2), rng.uniform(-50, 50, 2)) for _ in range(12)])
    truth = ib.mediapipe_to_ibug68(faces, offsets=planted)[..., :2]
    learned = ib.learn_offsets(faces, truth, symmetric=False)
    np.testing.assert_allclose(learned, planted, atol=1e-9)
    sym = ib.learn_offsets(faces, truth, symmetric=True)
    np.testing.assert_allclose(sym, sym[ib.IBUG68_FLIP] * [-1.0, 1.0], atol=1e-12)


def test_save_and_load_offsets(tmp_path):
    off = np.arange(136, dtype=float).reshape(68, 2) / 1000.0
    path = ib.save_offsets(tmp_path / "o.json", off, {"split": "training", "n_faces": 3}, extra={"dlib_box": {"cx": 0.0}})
    got, prov = ib.load_offsets(path)
    np.testing.assert_allclose(got, off)
    assert prov["split"] == "training" and prov["n_faces"] == 3
    assert json.loads(path.read_text())["dlib_box"] == {"cx": 0.0}


def test_committed_offsets_are_from_the_training_split():
    off, prov = ib.load_offsets()
    assert off.shape == (68, 2) and np.isfinite(off).all()
    assert prov["split"] == "training" and prov["n_faces"] > 0
    assert "faces-68pt" in prov["data"]
    np.testing.assert_allclose(off, off[ib.IBUG68_FLIP] * [-1.0, 1.0], atol=1e-5)  # symmetric
    assert np.abs(off).max() < 0.5  # offsets are corrections, not a new shape


# NME ----------------------------------------------------------------------------------------
def test_nme_definition():
    rng = np.random.default_rng(6)
    truth = rng.uniform(0, 200, size=(68, 2))
    d = np.linalg.norm(truth[36] - truth[45])
    assert ib.nme(truth, truth) == 0.0
    shifted = truth + np.array([0.1 * d, 0.0])
    assert ib.nme(shifted, truth) == pytest.approx(10.0)
    pred = truth.copy()
    pred[:17] += [0.2 * d, 0.0]  # error only on the jaw
    assert ib.nme(pred, truth, ib.INNER) == pytest.approx(0.0)
    assert ib.nme(pred, truth) == pytest.approx(100.0 * 0.2 * 17 / 68)


# scheme conversion --------------------------------------------------------------------------
def _result478(n_frames=3, missing=(1,)):
    rng = np.random.default_rng(7)
    pts = _rng_face478(rng, n_frames).astype(np.float32)
    for f in missing:
        pts[f] = np.nan
    spread = np.abs(rng.normal(0, 1, size=(n_frames, 478))).astype(np.float32)
    p_df, q_df = build_tables(pts, spread, np.ones(n_frames, np.int16), np.full(n_frames, 4, np.int16), np.arange(n_frames) / 25.0, [None] * n_frames)
    return LandmarkResult(p_df, q_df, {"n_frames": n_frames, "n_points": 478, "backend": "mediapipe"}), pts, spread


def test_to_scheme_converts_478_to_68():
    res, pts, spread = _result478()
    out = to_scheme(res, "ibug68", correct=False)
    assert out.points.height == 3 * 68 and out.meta["n_points"] == 68 and out.meta["scheme"] == "ibug68"
    arr = out.points_array()
    np.testing.assert_allclose(arr[0], pts[0, ib.MP_TO_IBUG68], rtol=1e-6)
    assert np.isnan(arr[1]).all() and not out.quality["face_found"][1]
    np.testing.assert_allclose(out.points["spread"].to_numpy().reshape(3, 68)[2], spread[2, ib.MP_TO_IBUG68])
    assert out.quality["tta_spread_px"][0] == pytest.approx(float(np.median(spread[0, ib.MP_TO_IBUG68])), rel=1e-5)
    assert to_scheme(res, "mediapipe478") is res
    assert to_scheme(out, "ibug68") is out
    with pytest.raises(ValueError):
        to_scheme(out, "mediapipe478")
    with pytest.raises(ValueError):
        to_scheme(res, "ibug98")


def test_to_scheme_corrected_records_provenance():
    res, _, _ = _result478()
    out = to_scheme(res, "ibug68")
    assert out.meta["ibug68_offsets"] is True
    assert out.meta["ibug68_offsets_provenance"]["split"] == "training"
