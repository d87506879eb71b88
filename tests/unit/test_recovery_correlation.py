"""Spearman correlation of a subject's face and speech recovery curves (measures/longitudinal.py)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from palsyflow.config import ReportParams
from palsyflow.measures.longitudinal import MIN_CORRELATION_SESSIONS, recovery_correlation
from palsyflow.reports.model import build_session_report
from palsyflow.schemas import SCORE_SCHEMA


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based), ties sharing their mean rank: independent of scipy."""
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(1, len(x) + 1)
    for v in np.unique(x):
        r[x == v] = r[x == v].mean()
    return r


def test_rho_is_the_pearson_correlation_of_the_ranks_with_ties():
    face = [55.0, 60.0, 60.0, 71.0, 80.0, 78.0]
    clarity = [40.0, 62.0, 50.0, 70.0, 70.0, 90.0]
    c = recovery_correlation(face, clarity)
    expected = np.corrcoef(_ranks(np.array(face)), _ranks(np.array(clarity)))[0, 1]
    assert c.rho == pytest.approx(expected) and c.n == 6 and c.interpretable and c.note is None


def test_speech_index_falling_as_the_face_recovers_is_concordant():
    face = [50.0, 60.0, 70.0, 85.0]
    index = [60.0, 40.0, 30.0, 10.0]  # dysarthria index: lower is better
    c = recovery_correlation(face, index, speech_measure="speech_dysarthria_index")
    assert c.rho == pytest.approx(-1.0) and c.concordance == pytest.approx(1.0)
    same = recovery_correlation(face, [10.0, 30.0, 40.0, 60.0], speech_measure="speech_clarity")
    assert same.rho == pytest.approx(1.0) and same.concordance == pytest.approx(1.0)


def test_sessions_without_both_values_are_left_out_and_few_sessions_are_flagged():
    c = recovery_correlation([50.0, None, 70.0, 80.0, float("nan")], [20.0, 30.0, None, 60.0, 70.0])
    assert c.n == 2 and not c.interpretable and "not interpretable" in c.note
    three = recovery_correlation([50.0, 60.0, 70.0], [20.0, 40.0, 30.0])
    assert three.n == 3 < MIN_CORRELATION_SESSIONS and three.rho == pytest.approx(0.5) and not three.interpretable
    assert recovery_correlation([50.0], [20.0]).rho is None
    flat = recovery_correlation([50.0, 60.0, 70.0, 80.0], [90.0] * 4)
    assert flat.rho is None and "does not change" in flat.note
    with pytest.raises(ValueError, match="the sessions must be the same"):
        recovery_correlation([1.0, 2.0], [1.0])


def test_the_report_carries_the_correlation_up_to_the_reported_session():
    index = [50.0, 60.0, 65.0, 80.0, 70.0]
    clarity = [40.0, 55.0, 60.0, 75.0, 90.0]
    rows = []
    for i, (v, c) in enumerate(zip(index, clarity)):
        d = dt.date(2026, 1, 5) + dt.timedelta(days=30 * i)
        base = dict(site="s", subject="P1", session=d.strftime("%Y%m%d"), session_date=d, z=None, percentile=None,
                    weaker_side=None, change_since_first=None, simulated=False, model_version=None)
        rows.append({**base, "measure": "symmetry_index", "region": "overall", "value": v, "unit": "0-100"})
        rows.append({**base, "measure": "speech_clarity", "region": "speech", "value": c, "unit": "0-100"})
    scores = pl.DataFrame(rows, schema=SCORE_SCHEMA)
    sessions = scores["session"].unique().sort().to_list()
    fourth = build_session_report(scores, "s", "P1", sessions[3], ReportParams()).longitudinal.recovery
    assert [(r.speech_measure, r.n) for r in fourth] == [("speech_clarity", 4)]
    assert fourth[0].rho == pytest.approx(1.0)  # the last session (a face worsening) is not yet counted
    last = build_session_report(scores, "s", "P1", sessions[4], ReportParams()).longitudinal.recovery[0]
    assert last.n == 5 and last.rho == pytest.approx(0.9)
    only_face = build_session_report(scores.filter(pl.col("measure") == "symmetry_index"), "s", "P1", sessions[4], ReportParams())
    assert only_face.longitudinal.recovery == ()
