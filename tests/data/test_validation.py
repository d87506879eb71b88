"""Great Expectations suite over the feature table: clean tables pass, bad rows are
quarantined with reasons, table-level failures fail every row."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from palsyflow.config import ValidationParams
from palsyflow.schemas import FEATURE_ID_SCHEMA
from palsyflow.validation.suite import validate_features

from palsyflow.measures.registry import REGION_FAMILIES as REGIONS  # noqa: E402 - rest column prefixes
SPEECH = (
    "speech_f0_median_hz",
    "speech_f0_sd_st",
    "speech_pause_ratio",
    "speech_articulation_rate_syl_s",
    "speech_connected_cpps_db",
    "speech_rate_syl_s",
)
MEASURES = (
    [f"{r}_{s}" for r in REGIONS for s in ("left", "right", "asym", "weaker")]
    + ["mov_commissure_excursion_left", "mov_commissure_excursion_right", "mov_commissure_excursion_asym"]
    + list(SPEECH)
)
FACE_TASKS = ("rest", "brow_raise", "eye_closure_gentle", "smile", "pucker")
PARAMS = ValidationParams()


def _row(i: int, task: str) -> dict:
    """One plausible recording row; ``task == 'speech'`` gives an audio row."""
    speech = task == "speech"
    session = f"2024030{1 + i % 3}"
    row = {
        "recording_key": f"site-A_sub-S{i:02d}_ses-{session}_task-{task}",
        "site": "A",
        "subject": f"S{i:02d}",
        "session": session,
        "session_date": dt.date(2024, 3, 1 + i % 3),
        "task": task,
        "kind": "audio" if speech else ("photo" if i % 4 == 0 else "video"),
        "sha256": f"{i:064x}",
        "healthy": i % 2 == 0,
        "hb_grade": None if i % 2 == 0 else 1 + i % 6,
        "simulated": False,
        "n_frames": 0 if speech else 30 + i,
        "face_found_fraction": None if speech else 0.9,
        "tta_spread_iod_pct": None if speech else 1.0 + 0.1 * i,
    }
    for k, r in enumerate(REGIONS):
        left, right = (None, None) if speech else (0.2 + 0.01 * k, 0.18 + 0.01 * i % 5)
        row[f"{r}_left"] = left
        row[f"{r}_right"] = right
        row[f"{r}_asym"] = None if speech else abs(left - right) / max(left, right)
        row[f"{r}_weaker"] = None if speech else ("left" if left < right else "right")
    row["mov_commissure_excursion_left"] = None if speech else 0.3
    row["mov_commissure_excursion_right"] = None if speech else 0.25
    row["mov_commissure_excursion_asym"] = None if speech else 0.05 / 0.3
    for c in SPEECH:
        row[c] = None
    if speech:
        row.update(
            speech_f0_median_hz=120.0 + i,
            speech_f0_sd_st=2.0,
            speech_pause_ratio=0.1,
            speech_articulation_rate_syl_s=4.5,
            speech_connected_cpps_db=8.0,
            speech_rate_syl_s=4.0,
        )
    return row


def make_table(n: int = 12) -> pl.DataFrame:
    """A clean feature table with face rows and speech rows (speech every 4th row)."""
    rows = [_row(i, "speech" if i % 4 == 3 else FACE_TASKS[i % len(FACE_TASKS)]) for i in range(n)]
    schema = dict(FEATURE_ID_SCHEMA)
    for c in MEASURES:
        schema[c] = pl.Utf8 if c.endswith("_weaker") else pl.Float64
    return pl.DataFrame(rows, schema=schema)


@pytest.fixture(scope="module")
def clean_table() -> pl.DataFrame:
    return make_table()


@pytest.fixture(scope="module")
def clean_result(clean_table):
    return validate_features(clean_table, PARAMS, list(MEASURES))


@pytest.fixture(scope="module")
def bad_table(clean_table) -> pl.DataFrame:
    """Row 2: mouth asym 1.7; rows 5 and 6 share a key; row 9: null subject."""
    keys = clean_table["recording_key"].to_list()
    keys[6] = keys[5]
    return clean_table.with_columns(
        pl.Series("recording_key", keys),
        pl.when(pl.int_range(pl.len()) == 2).then(1.7).otherwise(pl.col("rest_commissure_height_asym")).alias("rest_commissure_height_asym"),
        pl.when(pl.int_range(pl.len()) == 9).then(None).otherwise(pl.col("subject")).alias("subject"),
    )


@pytest.fixture(scope="module")
def bad_result(bad_table):
    return validate_features(bad_table, PARAMS, list(MEASURES))


@pytest.fixture(scope="module")
def missing_result(clean_table):
    return validate_features(clean_table.drop("rest_palpebral_fissure_height_asym"), PARAMS, list(MEASURES))


def test_clean_table_passes(clean_table, clean_result):
    assert clean_result.summary["success"] is True
    assert clean_result.failed.height == 0
    assert clean_result.valid.equals(clean_table)
    assert clean_result.summary["n_rows"] == clean_table.height == clean_result.summary["n_valid"]
    json.dumps(clean_result.summary)  # JSON-serialisable
    checked = {(e["expectation"], e["column"]) for e in clean_result.summary["expectations"]}
    assert ("expect_column_values_to_be_between", "rest_commissure_height_asym") in checked
    assert ("expect_column_values_to_be_unique", "recording_key") in checked
    assert all(e["success"] for e in clean_result.summary["expectations"])


def test_null_speech_measures_on_face_rows_pass(clean_table, clean_result):
    face = clean_table.filter(pl.col("task") != "speech")
    assert face["speech_f0_median_hz"].null_count() == face.height > 0
    speech = clean_table.filter(pl.col("task") == "speech")
    assert speech["rest_commissure_height_asym"].null_count() == speech.height > 0
    assert set(clean_result.valid["recording_key"]) == set(clean_table["recording_key"])


def test_bad_rows_are_quarantined_with_reasons(bad_table, bad_result):
    failed = bad_result.failed
    assert failed.columns == bad_table.columns + ["reasons"]
    assert failed["sha256"].to_list() == [bad_table["sha256"][i] for i in (2, 5, 6, 9)]
    reasons = dict(zip(failed["sha256"].to_list(), failed["reasons"].to_list(), strict=True))
    sha = bad_table["sha256"].to_list()
    assert "rest_commissure_height_asym" in reasons[sha[2]] and "duplicated" not in reasons[sha[2]]
    assert "recording_key is duplicated" in reasons[sha[5]]
    assert "recording_key is duplicated" in reasons[sha[6]]
    assert reasons[sha[9]] == "subject is null"
    assert bad_result.summary["success"] is False
    assert bad_result.summary["n_failed"] == 4
    by_check = {(e["expectation"], e["column"]): e for e in bad_result.summary["expectations"]}
    assert by_check[("expect_column_values_to_be_between", "rest_commissure_height_asym")]["unexpected_count"] == 1
    assert by_check[("expect_column_values_to_be_unique", "recording_key")]["unexpected_count"] == 2
    assert by_check[("expect_column_values_to_be_between", "rest_palpebral_fissure_height_asym")]["success"] is True


def test_partition_is_complete_and_disjoint(bad_table, bad_result):
    valid_sha = set(bad_result.valid["sha256"])
    failed_sha = set(bad_result.failed["sha256"])
    assert not valid_sha & failed_sha
    assert valid_sha | failed_sha == set(bad_table["sha256"])
    assert bad_result.valid.height + bad_result.failed.height == bad_table.height
    assert bad_result.valid.columns == bad_table.columns


def test_missing_column_fails_every_row(clean_table, missing_result):
    assert missing_result.summary["success"] is False
    assert missing_result.valid.height == 0
    assert missing_result.failed.height == clean_table.height
    assert set(missing_result.failed["reasons"]) == {"column 'rest_palpebral_fissure_height_asym' is missing"}


def test_out_of_protocol_values_fail():
    """Session label, task, hb grade, face-found, TTA spread and f0 bounds."""
    table = make_table(8)
    # rows: 0 photo face, 1 video, 2 video, 3 speech (audio), 4 photo, 5 video, 6 video, 7 speech
    table = table.with_columns(
        pl.Series("session", ["2024-03-01"] + table["session"].to_list()[1:]),
        pl.Series("task", table["task"].to_list()[:1] + ["smirk"] + table["task"].to_list()[2:]),
        pl.Series("hb_grade", [None, None, None, None, None, 7, None, None], dtype=pl.Int8),
        pl.Series("face_found_fraction", [0.9, 0.9, 0.2, None, 0.9, 0.9, 0.9, None]),
        pl.Series("tta_spread_iod_pct", [1.0, 1.0, 1.0, None, 25.0, 1.0, 1.0, None]),
        pl.Series("speech_f0_median_hz", [None] * 7 + [900.0]),
    )
    # an audio row with a low face-found fraction is fine (no face expected)
    table = table.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(0.0).otherwise(pl.col("face_found_fraction")).alias(
            "face_found_fraction"
        )
    )
    result = validate_features(table, PARAMS, list(MEASURES))
    reasons = dict(zip(result.failed["sha256"].to_list(), result.failed["reasons"].to_list(), strict=True))
    sha = table["sha256"].to_list()
    assert set(reasons) == {sha[i] for i in (0, 1, 2, 4, 5, 7)}
    assert "session" in reasons[sha[0]]
    assert "task" in reasons[sha[1]]
    assert "face_found_fraction" in reasons[sha[2]]
    assert "tta_spread_iod_pct" in reasons[sha[4]]
    assert "hb_grade" in reasons[sha[5]]
    assert "speech_f0_median_hz" in reasons[sha[7]]
