"""Time since onset: the manifest's ``onset`` column, its identity rule, the session table and the report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from palsyflow.config import FeatureParams, IngestParams, ReportParams
from palsyflow.features.table import build_feature_table, days_since_onset, session_table
from palsyflow.ingest.identity import onset_conflict
from palsyflow.ingest.manifest import parse_onset, read_manifest
from palsyflow.reports.model import SessionReport, onset_line

TODAY = dt.date(2026, 6, 1)
HEADER = "subject,session_date,task,file,onset\n"


def _drop(tmp_path: Path, body: str) -> Path:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.mp4").write_bytes(b"x")
    (drop / "manifest.csv").write_text(HEADER + body, encoding="utf-8")
    return drop


def test_onset_is_read_per_subject(tmp_path):
    drop = _drop(tmp_path, "P01,2026-03-05,rest,a.mp4,2026-02-20\nP01,2026-04-05,rest,a.mp4,\nP02,2026-03-05,rest,a.mp4,\n")
    rows, problems = read_manifest(drop, IngestParams(), today=TODAY)
    assert problems == []
    assert [r.onset for r in rows] == [dt.date(2026, 2, 20), None, None]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("P01,2026-03-05,rest,a.mp4,2026-07-01\n", "onset 2026-07-01 is in the future (today is 2026-06-01, UTC)"),
        ("P01,2026-03-05,rest,a.mp4,2026-03-06\n", "onset 2026-03-06 is after the session date 2026-03-05"),
        ("P01,2026-03-05,rest,a.mp4,20/02/2026\n", "bad onset '20/02/2026' (expected YYYY-MM-DD)"),
        ("P01,2026-03-05,rest,a.mp4,2026-02-30\n", "bad onset '2026-02-30' (not a calendar date)"),
    ],
)
def test_bad_onset_is_refused_in_one_sentence(tmp_path, body, reason):
    rows, problems = read_manifest(_drop(tmp_path, body), IngestParams(), today=TODAY)
    assert rows == [] and len(problems) == 1
    assert problems[0].reason == f"manifest.csv line 2: a.mp4: {reason}"


def test_conflicting_onsets_of_one_subject_are_refused(tmp_path):
    drop = _drop(tmp_path, "P01,2026-03-05,rest,a.mp4,2026-02-20\nP01,2026-04-05,smile,a.mp4,2026-02-21\n"
                           "P01,2026-04-05,rest,a.mp4,2026-02-20\n")
    rows, problems = read_manifest(drop, IngestParams(), today=TODAY)
    assert [r.line for r in rows] == [2, 4]
    assert [p.line for p in problems] == [3]
    assert problems[0].reason.endswith(
        "subject P01 has onset 2026-02-21 here but 2026-02-20 on line 2; one subject has one onset date: correct one of the rows")


def test_parse_onset_empty_is_unknown():
    assert parse_onset("  ", TODAY) is None and parse_onset(None, TODAY) is None
    assert parse_onset("2026-01-01", TODAY) == dt.date(2026, 1, 1)


def test_onset_against_the_store():
    d = dt.date
    assert onset_conflict("P01", d(2026, 2, 1), None, ()) == []
    assert onset_conflict("P01", None, d(2026, 2, 1), ()) == []  # not said: the stored one stands
    assert onset_conflict("P01", d(2026, 2, 1), d(2026, 2, 1), [("20260301", d(2026, 3, 1))]) == []
    (msg,) = onset_conflict("P01", d(2026, 2, 2), d(2026, 2, 1), ())
    assert msg == "subject P01 has onset 2026-02-02 here but the store already holds 2026-02-01; a subject has one onset date: correct the row"
    (late,) = onset_conflict("P01", d(2026, 3, 10), None, [("20260301", d(2026, 3, 1)), ("20260305", d(2026, 3, 5))])
    assert "after subject P01's stored session 20260301 (2026-03-01)" in late


def test_session_table_counts_days_since_onset():
    ids = dict(site="A", kind="video", healthy=False, simulated=False, hb_grade=None)
    rows = [
        {**ids, "recording_key": "k1", "subject": "P01", "session": "20260305", "session_date": dt.date(2026, 3, 5), "task": "rest",
         "onset": dt.date(2026, 2, 20)},
        {**ids, "recording_key": "k2", "subject": "P01", "session": "20260405", "session_date": dt.date(2026, 4, 5), "task": "rest",
         "onset": dt.date(2026, 2, 20)},
        {**ids, "recording_key": "k3", "subject": "P02", "session": "20260305", "session_date": dt.date(2026, 3, 5), "task": "rest"},
    ]
    st = session_table(build_feature_table(rows), FeatureParams())
    assert st.select("subject", "session", "days_since_onset").rows() == [("P01", "20260305", 13), ("P01", "20260405", 44), ("P02", "20260305", None)]
    assert days_since_onset(dt.date(2026, 3, 5), dt.date(2026, 3, 5)) == 0


def _report(days):
    return SessionReport(site="A", subject="P01", session="20260305", session_date=dt.date(2026, 3, 5), regions=(),
                         overall=None, speech=(), history=(), simulated=False, model_version=None, days_since_onset=days)


def test_onset_line_of_the_report_header():
    assert onset_line(_report(None)) is None
    assert onset_line(_report(5)) == "Day 5 since onset"
    assert onset_line(_report(44)) == "Day 44 since onset (6 weeks)"
    assert onset_line(_report(200)) == "Day 200 since onset (7 months)"


def test_the_report_model_takes_days_since_onset_from_the_session_row():
    import polars as pl

    from palsyflow.reports.model import build_session_report
    from palsyflow.schemas import SCORE_SCHEMA

    row = dict(site="A", subject="P01", session="20260305", session_date=dt.date(2026, 3, 5), measure="symmetry_index",
               region="overall", value=80.0, unit="0-100", z=None, percentile=None, weaker_side=None,
               change_since_first=0.0, simulated=False, model_version=None)
    scores = pl.DataFrame([row], schema=SCORE_SCHEMA)
    rep = build_session_report(scores, "A", "P01", "20260305", ReportParams(), session_row={"days_since_onset": 13})
    assert rep.days_since_onset == 13 and onset_line(rep) == "Day 13 since onset"
    assert build_session_report(scores, "A", "P01", "20260305", ReportParams()).days_since_onset is None
