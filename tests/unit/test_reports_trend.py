"""The report's longitudinal reading: labels, events, the bands and markers on the trend plot."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import polars as pl
import pytest

from palsyflow.config import ReportParams
from palsyflow.reports.model import build_session_report
from palsyflow.reports.plots import history_plot_png, trend_caption
from palsyflow.schemas import SCORE_SCHEMA
from palsyflow.measures.longitudinal import HEALTHY_BANDS, MDC_TABLE

MDC = MDC_TABLE["symmetry_index"].mdc


def _scores(index_values, clarity_values=None) -> pl.DataFrame:
    rows = []
    for i, v in enumerate(index_values):
        d = dt.date(2026, 1, 5) + dt.timedelta(days=35 * i)
        base = dict(site="sim", subject="P1", session=d.strftime("%Y%m%d"), session_date=d, z=None, percentile=None,
                    weaker_side=None, change_since_first=v - index_values[0], simulated=True, model_version=None)
        rows.append({**base, "measure": "symmetry_index", "region": "overall", "value": v, "unit": "0-100"})
        if clarity_values is not None:
            rows.append({**base, "measure": "speech_clarity", "region": "speech", "value": clarity_values[i], "unit": "0-100",
                         "change_since_first": clarity_values[i] - clarity_values[0]})
    return pl.DataFrame(rows, schema=SCORE_SCHEMA)


def _report(scores: pl.DataFrame, k: int):
    session = scores["session"].unique().sort()[k]
    return build_session_report(scores, "sim", "P1", session, ReportParams())


def test_improve_then_worsen_reads_as_regression_at_the_last_session():
    vals = [60.0, 60.0 + 3 * MDC, 60.0 + 0.5 * MDC]
    scores = _scores(vals)
    last = _report(scores, 2).longitudinal
    assert last.mdc == pytest.approx(MDC)
    assert [c.events for c in last.series] == [(), (), ("regression",)]
    assert last.events == ("regression",)
    c = last.this_session["symmetry_index"]
    assert c.label_previous == "worsening" and c.label_baseline == "within noise"
    middle = _report(scores, 1).longitudinal
    assert middle.this_session["symmetry_index"].label_baseline == "improvement" and middle.events == ()
    assert "regression" in trend_caption(_report(scores, 2))
    assert "improvement" in trend_caption(_report(scores, 1))


def test_plateau_and_speech_labels_reach_the_report():
    vals = [50.0, 50.0 + 4 * MDC, 50.0 + 4.2 * MDC, 50.0 + 4.4 * MDC]
    clarity_mdc = MDC_TABLE["speech_clarity"].mdc if "speech_clarity" in MDC_TABLE else None
    clar = [50.0, 90.0, 90.0, 90.0]
    rep = _report(_scores(vals, clar), 3)
    assert rep.longitudinal.events == ("plateau",)
    sp = rep.longitudinal.this_session["speech_clarity"]
    assert sp.since_baseline == pytest.approx(40.0)
    assert sp.label_baseline == ("improvement" if clarity_mdc is not None and clarity_mdc < 40 else sp.label_baseline)


def _png_array(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def test_trend_plot_draws_healthy_band_and_event_marker():
    vals = [60.0, 60.0 + 3 * MDC, 60.0 + 0.5 * MDC]
    scores = _scores(vals)
    rep = _report(scores, 2)
    bare = rep.__class__(**{**rep.__dict__, "longitudinal": None})
    with_bands, without = _png_array(history_plot_png(rep)), _png_array(history_plot_png(bare))
    assert with_bands.shape == without.shape
    # the healthy band: light green-tinted pixels (G clearly above R and B) only in the banded plot
    def greenish(a):
        r, g, b = a[..., 0], a[..., 1], a[..., 2]
        return np.sum((g - r > 12) & (g - b > 12) & (g > 200))
    assert HEALTHY_BANDS["symmetry_index"].high > HEALTHY_BANDS["symmetry_index"].low
    assert greenish(with_bands) > 20 * greenish(without) + 500
    # the regression marker: red (tab:red) pixels; the bare plot has none
    def reddish(a):
        r, g, b = a[..., 0], a[..., 1], a[..., 2]
        return np.sum((r > 180) & (g < 80) & (b < 80))
    assert reddish(with_bands) > 50 and reddish(without) == 0


def test_patient_summary_follows_the_clinician_labels():
    from palsyflow.reports.summary import plain_language_summary

    # a fall of 1.2 MDC since the first session: beyond noise for the clinician's caption,
    # but below the old 5-point rule when the MDC is small; the patient must read it the same way
    vals = [80.0, 80.0 + 3 * MDC, 80.0 - 1.2 * MDC]
    scores = _scores(vals)
    last = _report(scores, 2)
    text = plain_language_summary(last)
    reading = last.longitudinal.this_session["symmetry_index"]
    assert reading.label_baseline == "worsening" and "stayed about the same" not in text
    assert "went down by" in text and "talk about this with your clinician" in text  # the regression
    steady = _report(_scores([80.0, 80.0 + 0.5 * MDC]), 1)
    assert "stayed about the same" in plain_language_summary(steady) and "went" not in plain_language_summary(steady)
