"""Parra-Dominguez f0-f28 (palsyflow.features.parra): properties and real annotated faces."""

from __future__ import annotations

import numpy as np
import pytest

from palsyflow.features.parra import (
    FEATURE_NAMES,
    FEATURES,
    IBUG68_FLIP,
    MINMAX_FEATURES,
    PARRA51_FROM_IBUG68,
    POSITION_DEPENDENT,
    SIDE_SENSITIVE,
    features_matrix,
    flip_ibug68,
    level_on_jaw,
    parra_features,
    parra_features_batch,
)

ANGLES_NEAR_180 = ("parra_f00", "parra_f01", "parra_f02")
ANGLES_NEAR_0 = ("parra_f07", "parra_f14", "parra_f22")


def _annotated_faces(shared_data) -> np.ndarray:
    import csv

    path = shared_data / "faces-68pt" / "dlib_faces_68pt_landmarks.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return np.array([[[float(r[f"x{i}"]), float(r[f"y{i}"])] for i in range(68)] for r in rows])


def _rotate(points: np.ndarray, deg: float, centre=(0.0, 0.0)) -> np.ndarray:
    t = np.radians(deg)
    r = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    c = np.asarray(centre)
    return (points - c) @ r.T + c


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """A symmetric, level synthetic iBUG-68 face (pixels), built from mirror pairs."""
    half = np.zeros((68, 2))
    # jaw: a U from (−60, 0) down to the chin (0, 70)
    t = np.linspace(np.pi, 0, 17)
    half[:17] = np.c_[60 * np.cos(t), 70 * np.sin(t) * (1 - 0.1 * np.cos(t) ** 2)]
    half[17:22] = np.c_[np.linspace(-50, -12, 5), [-40, -46, -48, -46, -42]]  # brow (image left)
    half[22:27] = np.c_[-half[21:16:-1, 0], half[21:16:-1, 1]]
    half[27:31] = np.c_[np.zeros(4), [-25, -15, -5, 5]]  # nasal bridge + tip
    half[31:36] = np.c_[[-12, -6, 0, 6, 12], [14, 16, 17, 16, 14]]
    eye_r = np.c_[[-40, -33, -24, -17, -24, -33], [-22, -26, -26, -22, -19, -19]]  # 36..41
    half[36:42] = eye_r
    half[42:48] = np.c_[-eye_r[[3, 2, 1, 0, 5, 4], 0], eye_r[[3, 2, 1, 0, 5, 4], 1]]
    outer = np.c_[[-25, -15, -6, 0, 6, 15, 25, 15, 6, 0, -6, -15], [35, 30, 28, 29, 28, 30, 35, 42, 45, 46, 45, 42]]
    half[48:60] = outer
    half[60:68] = np.c_[[-20, -6, 0, 6, 20, 6, 0, -6], [35, 33, 33, 33, 35, 37, 38, 37]]
    # symmetrise exactly through the flip permutation, then place in the image
    mirrored = half[IBUG68_FLIP] * np.array([-1.0, 1.0])
    sym = (half + mirrored) / 2
    assert np.allclose(sym[[8, 27, 28, 29, 30, 33, 51, 57, 62, 66], 0], 0)
    return sym + np.array([320.0, 240.0])


# ----------------------------------------------------------------------------- structure
def test_point_set_and_names():
    assert len(PARRA51_FROM_IBUG68) == 51 and len(set(PARRA51_FROM_IBUG68)) == 51
    jaw = [i for i in PARRA51_FROM_IBUG68 if i < 17]
    assert jaw == [0, 16, 8]  # jaw ends (tilt correction, f9, f18...) and chin (f27)
    assert FEATURE_NAMES == tuple(f"parra_f{k:02d}" for k in range(29))
    assert set(SIDE_SENSITIVE) | set(POSITION_DEPENDENT) <= set(FEATURE_NAMES)
    assert {FEATURES[k][0] for k in FEATURE_NAMES} == {"angle", "slope", "minmax", "maxnorm", "norm"}


def test_flip_permutation_is_an_involution_with_midline_fixed():
    assert np.array_equal(IBUG68_FLIP[IBUG68_FLIP], np.arange(68))
    fixed = set(np.flatnonzero(IBUG68_FLIP == np.arange(68)).tolist())
    assert fixed == {8, 27, 28, 29, 30, 33, 51, 57, 62, 66}
    assert IBUG68_FLIP[36] == 45 and IBUG68_FLIP[48] == 54 and IBUG68_FLIP[17] == 26


def test_shape_errors_and_nan_frames(face):
    with pytest.raises(ValueError):
        parra_features(np.zeros((51, 2)))
    with pytest.raises(ValueError):
        parra_features_batch(np.zeros((68, 2)))
    bad = face.copy()
    bad[40] = np.nan
    batch = parra_features_batch(np.stack([face, bad, face]))
    m = features_matrix(batch)
    assert m.shape == (3, 29)
    assert np.isfinite(m[[0, 2]]).all() and np.isnan(m[1]).all()
    assert np.allclose(m[0], m[2])
    assert all(np.isnan(v) for v in parra_features(bad).values())
    assert parra_features_batch(np.zeros((0, 68, 2)))["parra_f00"].shape == (0,)


# ----------------------------------------------------------------------------- geometry
def test_symmetric_level_face_is_perfectly_symmetric(face):
    f = parra_features(face)
    for k in MINMAX_FEATURES:
        assert f[k] == pytest.approx(1.0, abs=1e-9), k
    for k in ANGLES_NEAR_180:
        assert f[k] == pytest.approx(180.0, abs=1e-6), k
    for k in ANGLES_NEAR_0:
        assert f[k] == pytest.approx(0.0, abs=1e-6), k
    for k in ("parra_f04", "parra_f05", "parra_f06"):
        assert f[k] == pytest.approx(0.0, abs=1e-9), k
    assert f["parra_f23"] == pytest.approx(90.0, abs=1e-6)


def test_level_on_jaw_levels_the_jaw_ends(face):
    tilted = _rotate(face, 17.0, centre=face[30])
    lv = level_on_jaw(tilted)
    assert lv[16, 1] == pytest.approx(lv[0, 1], abs=1e-9)
    assert lv[16, 0] > lv[0, 0]
    assert np.allclose(lv[0], tilted[0])
    # upside-down faces are turned upright too (jaw end 16 to the right of 0)
    flipped = level_on_jaw(_rotate(face, 180.0, centre=face[30]))
    assert flipped[16, 0] > flipped[0, 0] and flipped[8, 1] > flipped[0, 1]


@pytest.mark.parametrize("deg", [-25.0, -4.0, 9.0, 30.0])
def test_head_tilt_is_corrected(face, deg):
    """In-plane rotation does not change the features (f3 reads image y: excluded)."""
    asym = face.copy()
    asym[54] += [0.0, 6.0]  # a drooping commissure, so not everything is 1 / 0
    asym[22:27, 1] += 4.0  # a lower brow
    a = parra_features(asym)
    b = parra_features(_rotate(asym, deg, centre=(100.0, 50.0)))
    for k in FEATURE_NAMES:
        if k in POSITION_DEPENDENT:
            continue
        assert b[k] == pytest.approx(a[k], rel=1e-9, abs=1e-9), k


def test_scale_and_shift_invariance_except_f3(face):
    a = parra_features(face + [0.0, 0.0])
    b = parra_features(2.5 * face + [40.0, -70.0])
    for k in FEATURE_NAMES:
        if k not in POSITION_DEPENDENT:
            assert b[k] == pytest.approx(a[k], rel=1e-9, abs=1e-9), k


def test_unilateral_droop_moves_the_relevant_features(face):
    """A drooping commissure tilts the mouth-corner line; a lowered brow breaks brow symmetry."""
    base = parra_features(face)
    droop = face.copy()
    droop[[48, 49, 59, 60], 1] += 8.0  # patient's right corner of the mouth drops
    d = parra_features(droop)
    assert d["parra_f14"] > base["parra_f14"] + 5.0
    assert d["parra_f21"] > base["parra_f21"] + 1e-3  # that half of the lip outline lengthens
    assert d["parra_f00"] == pytest.approx(base["parra_f00"])  # brows untouched
    brow = face.copy()
    brow[22:27, 1] += 6.0  # patient's left brow lower (brow ptosis)
    b = parra_features(brow)
    assert b["parra_f03"] < base["parra_f03"]
    assert b["parra_f00"] < 179.0 and b["parra_f04"] > 0.05
    assert b["parra_f14"] == pytest.approx(base["parra_f14"], abs=1e-9)


def test_mirror_synthetic_asymmetric_face(face):
    asym = face.copy()
    asym[[48, 49, 59], 1] += 7.0
    asym[[43, 44], 1] -= 2.0
    asym[57, 0] += 3.0
    a = parra_features(asym)
    m = parra_features(flip_ibug68(asym, width=640))
    for k in FEATURE_NAMES:
        if k in SIDE_SENSITIVE:
            assert m[k] == pytest.approx(180.0 - a[k], abs=1e-9), k
        else:  # jaw ends are level here, so f3 is mirror-invariant too
            assert m[k] == pytest.approx(a[k], rel=1e-9, abs=1e-9), k
    assert a["parra_f23"] != pytest.approx(90.0, abs=0.5)


# ----------------------------------------------------------------------------- real faces
def test_real_annotated_faces_finite_and_mirror_invariant(shared_data):
    pts = _annotated_faces(shared_data)
    assert pts.shape[1:] == (68, 2) and len(pts) >= 40
    f = parra_features_batch(pts)
    m = features_matrix(f)
    assert np.isfinite(m).all()
    for k in MINMAX_FEATURES:
        assert ((f[k] >= 0) & (f[k] <= 1)).all(), k
    g = parra_features_batch(flip_ibug68(pts, width=2000))
    for k in FEATURE_NAMES:
        if k in SIDE_SENSITIVE:
            np.testing.assert_allclose(g[k], 180.0 - f[k], atol=1e-8, err_msg=k)
        elif k in POSITION_DEPENDENT:  # pivot moves to the other jaw end: small change
            np.testing.assert_allclose(g[k], f[k], atol=0.03, err_msg=k)
        else:
            np.testing.assert_allclose(g[k], f[k], rtol=1e-9, atol=1e-9, err_msg=k)


def test_real_healthy_faces_are_near_symmetric(shared_data):
    """dlib's example faces (healthy, in-the-wild, 40-80 px): ratios near 1, lines near level.

    f9 (outer canthus to jaw end) is excluded from the near-1 check: it is dominated by
    head yaw in these non-frontal photos (a turned head shortens one side's distance).
    """
    f = parra_features_batch(_annotated_faces(shared_data))
    for k in MINMAX_FEATURES:
        if k == "parra_f09":
            continue
        assert np.median(f[k]) > 0.85, (k, np.median(f[k]))
    for k in ANGLES_NEAR_180:
        assert np.median(f[k]) > 170.0, k
    for k in ANGLES_NEAR_0:
        assert np.median(f[k]) < 8.0, k
    assert 80.0 < np.median(f["parra_f23"]) < 100.0


def test_local_flip_matches_the_landmarks_package():
    """The local permutation must agree with palsyflow.landmarks.schemes.ibug68 once that exists."""
    ibug68 = pytest.importorskip("palsyflow.landmarks.schemes.ibug68")
    if not hasattr(ibug68, "IBUG68_FLIP"):
        pytest.skip("palsyflow.landmarks.schemes.ibug68 has no IBUG68_FLIP")
    assert np.array_equal(np.asarray(ibug68.IBUG68_FLIP), IBUG68_FLIP)
