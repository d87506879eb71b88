"""Vectorised table building and the parquet round trip (no model needed)."""

from __future__ import annotations

import numpy as np
import polars as pl

from palsyflow.landmarks import LandmarkResult, read_landmarks, write_landmarks
from palsyflow.landmarks.result import build_tables
from palsyflow.landmarks.io import read_meta
from palsyflow.schemas import LANDMARK_SCHEMA, QUALITY_SCHEMA


def make_result(n=4, seed=0) -> LandmarkResult:
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 300, size=(n, 478, 3)).astype(np.float32)
    pts[1] = np.nan  # no face in frame 1
    spread = np.full((n, 478), np.nan, np.float32)
    spread[2] = rng.uniform(0, 2, 478)
    tta = np.zeros(n, np.int16)
    tta[2] = 7
    keys = [None] * n
    keys[2] = "neutral"
    p, q = build_tables(pts, spread, np.array([1, 0, 1, 2][:n], np.int16), tta, np.arange(n) / 25.0, keys)
    return LandmarkResult(p, q, {"source": "x.mp4", "n_frames": n, "keyframes": {"neutral": 2}}), pts, spread


def test_tables_have_exact_schemas_and_layout():
    res, pts, spread = make_result()
    assert res.points.schema == pl.Schema(LANDMARK_SCHEMA)
    assert res.quality.schema == pl.Schema(QUALITY_SCHEMA)
    assert res.points.height == 4 * 478 and res.quality.height == 4
    # row k*478+i is (frame k, point i) and carries that point's coordinates
    row = res.points.row(3 * 478 + 263, named=True)
    assert (row["frame"], row["point"]) == (3, 263)
    assert row["x"] == pts[3, 263, 0] and row["z"] == pts[3, 263, 2]
    np.testing.assert_array_equal(res.points_array(), pts)


def test_no_face_and_tta_flags():
    res, _, spread = make_result()
    q = res.quality
    assert q["face_found"].to_list() == [True, False, True, True]
    f1 = res.points.filter(pl.col("frame") == 1)
    assert not f1["face_found"].any() and f1["x"].is_nan().all()
    assert q["tta_copies"].to_list() == [0, 0, 7, 0]
    assert q["tta_spread_px"][2] == np.float32(np.median(spread[2]))
    assert np.isnan(q["tta_spread_px"][0])
    assert q["tta_spread_iod_pct"][2] > 0
    assert q["keyframe"].to_list() == [None, None, "neutral", None]


def test_round_trip_keeps_tables_and_meta(tmp_path):
    res, _, _ = make_result()
    pp, qp = tmp_path / "a" / "lm.parquet", tmp_path / "a" / "q.parquet"
    write_landmarks(res, pp, qp)
    back = read_landmarks(pp, qp)
    assert back.points.equals(res.points) and back.quality.equals(res.quality)
    assert back.meta == res.meta and read_meta(pp)["keyframes"] == {"neutral": 2}
    assert sorted(p.name for p in pp.parent.iterdir()) == ["lm.parquet", "q.parquet"]  # no temp files left


def test_failed_write_leaves_old_file(tmp_path):
    res, _, _ = make_result()
    pp, qp = tmp_path / "lm.parquet", tmp_path / "q.parquet"
    write_landmarks(res, pp, qp)
    before = pp.read_bytes()
    bad = LandmarkResult(res.points, res.quality, {"x": object()})  # not JSON-serialisable
    try:
        write_landmarks(bad, pp, qp)
    except TypeError:
        pass
    assert pp.read_bytes() == before
