"""Feature table schema, recording rows from landmark/quality tables, session summary."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from palsyflow.features.regions import COMMISSURE, MOUTH_CORNER_REGION
from palsyflow.features.table import (
    FEATURE_TABLE_SCHEMA,
    MEASURE_COLUMNS,
    MEASURES,
    SESSION_TABLE_SCHEMA,
    build_feature_table,
    landmarks_to_array,
    recording_row,
    session_table,
)
from palsyflow.config import FeatureParams
from palsyflow.measures.docs import generated_markdown, render
from palsyflow.measures.registry import SCORE_MEASURES, UNITS
from palsyflow.schemas import FEATURE_ID_SCHEMA, LANDMARK_SCHEMA, QUALITY_SCHEMA


def _symmetric_face() -> np.ndarray:
    spec = importlib.util.spec_from_file_location(
        "_regional_helpers", Path(__file__).with_name("test_features_regional.py")
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("_regional_helpers", mod)
    spec.loader.exec_module(mod)
    return mod.symmetric_face()


def _landmark_df(frames: np.ndarray, frame_numbers: list[int], found: list[bool]) -> pl.DataFrame:
    n, p, _ = frames.shape
    fr = np.repeat(frame_numbers, p)
    pt = np.tile(np.arange(p), n)
    flat = frames.reshape(-1, 3)
    df = pl.DataFrame(
        {
            "frame": fr,
            "point": pt,
            "x": flat[:, 0],
            "y": flat[:, 1],
            "z": flat[:, 2],
            "spread": np.zeros(n * p),
            "face_found": np.repeat(found, p),
        }
    )
    return df.cast(LANDMARK_SCHEMA).sample(fraction=1.0, shuffle=True, seed=3)  # order must not matter


def _quality_df(frame_numbers: list[int], found: list[bool], keyframe: dict[int, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "frame": frame_numbers,
            "time_s": [f / 25 for f in frame_numbers],
            "face_found": found,
            "n_faces": [int(f) for f in found],
            "tta_copies": [8] * len(found),
            "tta_spread_px": [0.5] * len(found),
            "tta_spread_iod_pct": [1.0 + i for i in range(len(found))],
            "keyframe": [keyframe.get(f) for f in frame_numbers],
        },
        schema=QUALITY_SCHEMA,
    )


IDS = {
    "recording_key": "site-A_sub-01_ses-20240105_task-rest",
    "site": "A",
    "subject": "01",
    "session": "20240105",
    "task": "rest",
    "kind": "video",
    "sha256": "0" * 64,
    "healthy": True,
    "hb_grade": None,
    "simulated": False,
}


def test_measure_specs_are_consistent():
    assert len(set(MEASURE_COLUMNS)) == len(MEASURE_COLUMNS)
    for region in ("rest_brow_height", "rest_palpebral_fissure_height", "rest_nasolabial_height", "rest_commissure_height"):
        for suffix in ("left", "right", "asym", "weaker"):
            assert f"{region}_{suffix}" in MEASURE_COLUMNS
    for m in MEASURES:
        assert m.kind in ("rest", "movement", "task", "summary", "parra", "speech")
        assert (m.side is not None) == (m.name.endswith("_left") or m.name.endswith("_right"))
        assert m.description
        assert m.unit in UNITS, m
    md = generated_markdown()
    assert all(line.count("|") in (3, 8) for line in md.splitlines() if line.startswith("|")), "stray pipes"


def test_build_feature_table_empty_and_non_empty():
    empty = build_feature_table([])
    assert empty.height == 0
    assert list(empty.columns) == list(FEATURE_ID_SCHEMA) + list(MEASURE_COLUMNS)
    assert dict(empty.schema) == FEATURE_TABLE_SCHEMA

    rows = [
        {**IDS, "session_date": "2024-01-05", "n_frames": 3, "rest_commissure_height_left": 1.0, "rest_commissure_height_weaker": "left",
         "hb_grade": 3, "extra": "dropped"},
        {**IDS, "recording_key": "k2", "session_date": dt.date(2024, 1, 5), "rest_commissure_height_left": float("nan"),
         "speech_rate_syl_s": np.float32(3.5)},
    ]
    df = build_feature_table(rows)
    assert dict(df.schema) == FEATURE_TABLE_SCHEMA
    assert df.height == 2 and "extra" not in df.columns
    assert df["session_date"].to_list() == [dt.date(2024, 1, 5)] * 2
    assert df["rest_commissure_height_left"].to_list() == [1.0, None]  # NaN becomes null
    assert df["hb_grade"].to_list() == [3, None]
    assert df["speech_rate_syl_s"][1] == pytest.approx(3.5)


def test_landmarks_to_array_roundtrip():
    face = _symmetric_face()
    frames = np.stack([face, np.full_like(face, np.nan), face + 1.0])
    df = _landmark_df(frames, [10, 11, 12], [True, False, True])
    numbers, xyz, found = landmarks_to_array(df)
    assert numbers.tolist() == [10, 11, 12]
    assert found.tolist() == [True, False, True]
    np.testing.assert_allclose(xyz[[0, 2]], frames[[0, 2]].astype(np.float32), rtol=1e-6)
    assert np.isnan(xyz[1]).all()


def test_recording_row_video_uses_quality_and_neutral_keyframe():
    face = _symmetric_face()
    n = 6
    frames = np.repeat(face[None], n, axis=0)
    # the left corner droops only in frame number 104 (row 4), declared the neutral frame
    frames[4, list(MOUTH_CORNER_REGION["left"]), 1] += 8.0
    numbers = list(range(100, 100 + n))
    found = [True] * n
    row = recording_row(
        IDS,
        _landmark_df(frames, numbers, found),
        _quality_df(numbers, found, {104: "neutral"}),
    )
    assert list(row)[: len(FEATURE_ID_SCHEMA)] == list(FEATURE_ID_SCHEMA)
    assert row["n_frames"] == n and row["face_found_fraction"] == 1.0
    assert row["tta_spread_iod_pct"] == pytest.approx(np.median([1.0 + i for i in range(n)]))
    assert row["session_date"] == dt.date(2024, 1, 5)  # derived from the session label
    assert row["rest_commissure_height_weaker"] == "left" and row["rest_commissure_height_asym"] > 0
    assert row["speech_f0_median_hz"] is None  # "rest" is not a speech task
    table = build_feature_table([row])
    assert table.height == 1 and dict(table.schema) == FEATURE_TABLE_SCHEMA


def test_recording_row_audio_only_has_no_face_measures():
    speech = {"speech_status": "ok", "speech_clarity": 90.0, "not_a_column": 1.0}
    row = recording_row({**IDS, "task": "speech", "kind": "audio"}, None, None, speech)
    face_cols = [m.name for m in MEASURES if m.kind != "speech"]
    assert all(row[c] is None for c in face_cols)
    assert row["speech_status"] == "ok" and row["speech_clarity"] == 90.0 and "not_a_column" not in row
    assert row["n_frames"] is None


def _session_rows() -> list[dict]:
    base = {**IDS, "session_date": dt.date(2024, 1, 5)}
    rest = {**base, "task": "rest", "rest_commissure_height_left": 1.0, "rest_commissure_height_right": 1.1, "mov_commissure_excursion_left": 0.01,
            "mov_commissure_excursion_right": 0.01}
    smile = {**base, "task": "smile", "recording_key": "k-smile", "rest_commissure_height_left": 2.0, "rest_commissure_height_right": 2.0,
             "mov_commissure_excursion_left": 0.3, "mov_commissure_excursion_right": 0.1, "hb_grade": 2}
    speech = {**base, "task": "speech", "recording_key": "k-speech", "rest_brow_height_left": 0.4, "rest_brow_height_right": 0.3,
              "speech_status": "ok", "speech_f0_median_hz": 120.0, "mov_commissure_excursion_left": 0.1, "mov_commissure_excursion_right": 0.1}
    other = {**base, "session": "20240301", "session_date": dt.date(2024, 3, 1), "task": "smile",
             "recording_key": "k-other", "rest_commissure_height_left": 1.0, "rest_commissure_height_right": 1.5, "simulated": True}
    return [rest, smile, speech, other]


def test_session_table_rules():
    st = session_table(build_feature_table(_session_rows()), FeatureParams())
    assert dict(st.schema) == SESSION_TABLE_SCHEMA
    assert st.height == 2
    s1 = st.row(0, named=True)
    assert s1["n_recordings"] == 3 and s1["hb_grade"] == 2 and s1["simulated"] is False
    # static mouth from the rest recording, asymmetry recomputed from the sides
    assert (s1["rest_commissure_height_left"], s1["rest_commissure_height_right"]) == (1.0, 1.1)
    assert s1["rest_commissure_height_asym"] == pytest.approx(0.1 / 1.1)
    assert s1["rest_commissure_height_weaker"] == "right"
    # brow only measured in speech: mean over recordings with values
    assert s1["rest_brow_height_left"] == 0.4 and s1["rest_brow_height_weaker"] == "right"
    # dynamic from the non-rest recordings (smile, speech)
    assert s1["mov_commissure_excursion_left"] == pytest.approx(0.2)
    assert s1["mov_commissure_excursion_right"] == pytest.approx(0.1)
    assert s1["mov_commissure_excursion_weaker"] == "right"
    assert s1["speech_f0_median_hz"] == 120.0
    s2 = st.row(1, named=True)
    assert s2["session"] == "20240301" and s2["simulated"] is True
    assert s2["rest_commissure_height_weaker"] == "right" and s2["speech_f0_median_hz"] is None


def test_session_table_empty():
    st = session_table(build_feature_table([]), FeatureParams())
    assert st.height == 0 and dict(st.schema) == SESSION_TABLE_SCHEMA


def test_session_table_missing_column_raises():
    with pytest.raises(KeyError):
        session_table(build_feature_table([]).drop("rest_commissure_height_left"), FeatureParams())


def test_commissure_is_in_the_mouth_region():
    for side in ("left", "right"):
        assert COMMISSURE[side] in MOUTH_CORNER_REGION[side]


def test_docs_features_md_is_generated_from_the_registry():
    docs = Path(__file__).resolve().parents[2] / "docs" / "features.md"
    text = docs.read_text(encoding="utf-8")
    assert render(text) == text, "docs/features.md is stale: regenerate with python -m palsyflow.measures.docs"
    for m in (*MEASURES, *SCORE_MEASURES):
        assert f"| `{m.name}` |" in text
