"""Session reports: content selection, patient summary, history plot and PDF."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest

from palsyflow.config import ReportParams
from palsyflow.measures.registry import REST_SYMMETRY
from palsyflow.reports.model import build_session_report
from palsyflow.reports.pdf import DISCLAIMER, render_session_report
from palsyflow.reports.plots import history_plot_png
from palsyflow.reports.summary import plain_language_summary
from palsyflow.schemas import SCORE_SCHEMA
from tests.support.tables import with_named_basis

REGIONS = ("brow", "eye", "cheek", "mouth")
SUBJECT = "subjALPHA7"
OTHER = "subjBRAVO9"


def _session_rows(site, subject, date, index, regional, weaker, percentile, first_index, first_regional,
                  speech=True, simulated=False, model_version="normative-v3"):
    session = date.strftime("%Y%m%d")
    base = dict(site=site, subject=subject, session=session, session_date=date, simulated=simulated,
                model_version=model_version, z=None)
    rows = [dict(base, measure="symmetry_index", region="overall", value=index, unit="0-100",
                 percentile=percentile, weaker_side=weaker, change_since_first=index - first_index)]
    for r, v, v0 in zip(REGIONS, regional, first_regional, strict=True):
        rows.append(dict(base, measure=REST_SYMMETRY[r], region=r, value=v, unit="0-100",
                         percentile=None if percentile is None else percentile / 2,
                         weaker_side=weaker, change_since_first=v - v0))
    if speech:
        rows += [
            dict(base, measure="speech_dysarthria_index", region="speech", value=12.0, unit="0-100",
                 percentile=None, weaker_side=None, change_since_first=0.0),
            dict(base, measure="speech_clarity", region="speech", value=83.3, unit="0-100",
                 percentile=percentile, weaker_side=None, change_since_first=0.0),
            dict(base, measure="speech_jitter_local_pct", region="speech", value=None, unit="pct",  # no vowel task
                 percentile=None, weaker_side=None, change_since_first=None),
        ]
    return rows


def make_scores() -> pl.DataFrame:
    """Two subjects; SUBJECT has three sessions given out of date order."""
    first = (60.0, (70.0, 55.0, 65.0, 50.0))
    rows = []
    # SUBJECT: patient's left weaker, improving; rows deliberately not in date order
    rows += _session_rows("A", SUBJECT, dt.date(2024, 4, 20), 81.0, (88.0, 80.0, 84.0, 72.0), "left", 2.0,
                          *first, simulated=True)
    rows += _session_rows("A", SUBJECT, dt.date(2024, 2, 1), 60.0, first[1], "left", 3.0, *first, simulated=True)
    rows += _session_rows("A", SUBJECT, dt.date(2024, 3, 5), 72.0, (80.0, 70.0, 76.0, 61.0), "left", None,
                          *first, speech=False, simulated=True)
    # OTHER: patient's right weaker, single session
    rows += _session_rows("A", OTHER, dt.date(2024, 3, 5), 66.0, (75.0, 66.0, 70.0, 58.0), "right", 1.0,
                          66.0, (75.0, 66.0, 70.0, 58.0), model_version=None)
    return pl.DataFrame(rows).pipe(with_named_basis).select([pl.col(c).cast(t) for c, t in SCORE_SCHEMA.items()])


@pytest.fixture(scope="module")
def scores() -> pl.DataFrame:
    return make_scores()


@pytest.fixture(scope="module")
def report(scores):
    return build_session_report(scores, "A", SUBJECT, "20240420", ReportParams())


def test_build_picks_session_and_orders_history(report):
    assert (report.site, report.subject, report.session) == ("A", SUBJECT, "20240420")
    assert report.session_date == dt.date(2024, 4, 20)
    assert [r.region for r in report.regions] == list(REGIONS)
    assert [r.value for r in report.regions] == [88.0, 80.0, 84.0, 72.0]
    assert report.overall.value == 81.0 and report.overall.percentile == 2.0
    assert report.overall.change_since_first == pytest.approx(21.0)
    assert [h.session for h in report.history] == ["20240201", "20240305", "20240420"]
    assert [h.symmetry_index for h in report.history] == [60.0, 72.0, 81.0]
    assert report.history[1].regions["mouth"] == 61.0
    assert [s.measure for s in report.speech] == ["speech_clarity", "speech_dysarthria_index"]  # clarity first; unmeasured ones left out
    assert report.simulated is True
    assert report.model_version == "normative-v3"
    assert not report.is_first_session


def test_build_unknown_session_raises(scores):
    with pytest.raises(KeyError, match="20240101"):
        build_session_report(scores, "A", SUBJECT, "20240101", ReportParams())
    with pytest.raises(KeyError, match="not in the score table"):
        build_session_report(scores, "A", "nobody", "20240305", ReportParams())


def test_summary_names_patient_side_and_change(report):
    text = plain_language_summary(report)
    assert "your left side" in text.lower()
    assert "right side moved less" not in text.lower()
    assert "2nd percentile" in text
    assert "risen by 21 points" in text
    assert "around" not in text  # resting regions never say where a side "moved less"
    assert "not a diagnosis" in text
    assert "understood 83 of every 100 words" in text and "speech screening score was 12 out of 100" in text
    n_sentences = len(re.findall(r"[.!?](?:\s|$)", text))
    assert 2 <= n_sentences <= 8
    assert plain_language_summary(report) == text


def test_summary_names_no_side_within_the_healthy_range(scores):
    healthy_like = scores.with_columns(
        pl.when(pl.col("percentile").is_not_null()).then(40.0).otherwise(None).alias("percentile")
    )
    rep = build_session_report(healthy_like, "A", SUBJECT, "20240420", ReportParams())
    text = plain_language_summary(rep)
    assert "within the range seen in people without facial weakness" in text
    assert "side moved less" not in text
    strict = build_session_report(healthy_like, "A", SUBJECT, "20240420", ReportParams(healthy_range_percentile=50.0))
    assert "Your left side moved less" in plain_language_summary(strict)


def test_summary_side_only_from_the_movement_verdict(scores):
    """A side named by resting regions only (overall verdict null) gives no "moved less"
    sentence; a movement row on the named side says where (issue 10: a resting brow
    height made a healthy volunteer read "Your right side moved less")."""
    rest_only = scores.with_columns(
        pl.when(pl.col("measure") == "symmetry_index").then(None).otherwise(pl.col("weaker_side")).alias("weaker_side")
    )
    text = plain_language_summary(build_session_report(rest_only, "A", SUBJECT, "20240420", ReportParams()))
    assert "moved less" not in text
    assert "did not show one side of your face moving consistently less" in text
    this = scores.filter((pl.col("subject") == SUBJECT) & (pl.col("session") == "20240420"))
    mov = this.filter(pl.col("measure") == "symmetry_index").with_columns(
        pl.lit("mov_commissure_excursion_symmetry").alias("measure"), pl.lit("mouth").alias("region")
    )
    text = plain_language_summary(build_session_report(pl.concat([scores, mov]), "A", SUBJECT, "20240420", ReportParams()))
    assert "Your left side moved less than your right side, most clearly around the mouth." in text


def _carried(scores: pl.DataFrame, overall_percentile: float) -> pl.DataFrame:
    """The 20240420 session's overall and movement side kept from the first session (20240201)."""
    this = (pl.col("subject") == SUBJECT) & (pl.col("session") == "20240420")
    overall = this & (pl.col("measure") == "symmetry_index")
    return scores.with_columns(
        pl.when(overall).then(pl.lit("earlier-session:20240201")).otherwise(pl.col("side_basis")).alias("side_basis"),
        pl.when(overall).then(overall_percentile).otherwise(pl.col("percentile")).alias("percentile"),
        pl.when(this & ~overall).then(None).otherwise(pl.col("weaker_side")).alias("weaker_side"),
    )


def test_a_side_kept_from_an_earlier_session_is_said_as_such_in_both_reports(scores, tmp_path):
    from palsyflow.reports.patient import build_patient_report

    # outside the overall healthy range: the side, "as on" the earlier date, in both texts
    rep = build_session_report(_carried(scores, 2.0), "A", SUBJECT, "20240420", ReportParams())
    assert rep.overall.weaker_side == "left" and rep.overall.side_from_session == "20240201"
    text = plain_language_summary(rep)
    assert ("Your left side moved less than your right side, as on 1 February 2024; the movement difference "
            "between the sides, taken alone, is within the range") in text
    assert "Your left side still moved a little less than your right side, as at your visit in February." \
        == build_patient_report(rep).headline
    # overall inside the healthy range: no side said, whatever its basis (as for a side named by the session)
    inside = build_session_report(_carried(scores, 40.0), "A", SUBJECT, "20240420", ReportParams())
    assert inside.overall.side_from_session == "20240201"
    assert "side moved less" not in plain_language_summary(inside)
    assert "left" not in build_patient_report(inside).headline
    # the clinician PDF marks the row and says why
    data = render_session_report(rep, tmp_path / "c.pdf", _params()).read_bytes()
    assert b"(Left*) Tj" in data
    assert b"* The side named at the session of 1 February 2024" in data
    # a side named by this session itself gets no mark
    plain = render_session_report(build_session_report(scores, "A", SUBJECT, "20240420", ReportParams()),
                                  tmp_path / "p.pdf", _params()).read_bytes()
    assert b"Left*" not in plain and b"The side named at the session" not in plain


def test_summary_never_says_0th_percentile(scores):
    low = scores.with_columns(pl.when(pl.col("measure") == "symmetry_index").then(0.13).otherwise(pl.col("percentile"))
                              .alias("percentile"))
    text = plain_language_summary(build_session_report(low, "A", SUBJECT, "20240420", ReportParams()))
    assert "0th percentile" not in text and "below the 1st percentile: fewer than 1 in 100" in text


def test_summary_other_side_and_missing_percentile(scores):
    other = build_session_report(scores, "A", OTHER, "20240305", ReportParams())
    text = plain_language_summary(other)
    assert "Your right side moved less than your left side" in text
    assert "first measured session" in text
    middle = build_session_report(scores, "A", SUBJECT, "20240305", ReportParams())
    text = plain_language_summary(middle)
    assert middle.overall.percentile is None
    assert "percentile" not in text and "not available" in text
    assert "risen by 12 points" in text


def test_summary_change_follows_the_mdc_label_of_the_clinician_report(scores):
    # 12 points is beyond the symmetry index's MDC95: "risen" even when the old points rule says 20
    r = build_session_report(scores, "A", SUBJECT, "20240305", ReportParams(min_change_points=20.0))
    assert r.longitudinal.this_session["symmetry_index"].label_baseline == "improvement"
    assert "risen by 12 points" in plain_language_summary(r)


def test_history_plot_png(report, scores):
    png = history_plot_png(report, 5.0, 2.5)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    single = build_session_report(scores, "A", OTHER, "20240305", ReportParams())
    assert len(single.history) == 1
    assert history_plot_png(single, 5.0, 2.5).startswith(b"\x89PNG")
    assert history_plot_png(report, 5.0, 2.5) == png


def _params(**kw) -> ReportParams:
    return ReportParams(deterministic=True, page_compression=False, **kw)


def test_pdf_valid_and_has_only_this_subject(report, tmp_path):
    out = render_session_report(report, tmp_path / "r.pdf", _params())
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) >= 1
    # drawn on the page (a text-showing operator), not only in the document metadata
    assert re.search(rb"\(" + SUBJECT.encode() + rb"\) Tj", data)
    assert OTHER.encode() not in data
    assert b"(SIMULATED DATA) Tj" in data
    assert DISCLAIMER.encode() in data
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temp file


def test_pdf_no_simulated_banner_for_real_data(scores, tmp_path):
    other = build_session_report(scores, "A", OTHER, "20240305", ReportParams())
    data = render_session_report(other, tmp_path / "o.pdf", _params()).read_bytes()
    assert OTHER.encode() in data and SUBJECT.encode() not in data
    assert b"SIMULATED DATA" not in data


def test_pdf_deterministic(report, tmp_path):
    a = render_session_report(report, tmp_path / "a.pdf", ReportParams(deterministic=True)).read_bytes()
    b = render_session_report(report, tmp_path / "b.pdf", ReportParams(deterministic=True)).read_bytes()
    assert a == b
    c = render_session_report(report, tmp_path / "c.pdf", ReportParams(deterministic=True, title="Other title"))
    assert c.read_bytes() != a


def test_speech_only_session(scores, tmp_path):
    only_speech = scores.filter((pl.col("subject") == OTHER) & (pl.col("region") == "speech"))
    r = build_session_report(only_speech, "A", OTHER, "20240305", ReportParams())
    assert r.overall is None and r.regions == () and r.history == ()
    assert len(r.speech) == 2
    assert "could not be measured" in plain_language_summary(r)
    data = render_session_report(r, tmp_path / "s.pdf", _params()).read_bytes()
    assert data.startswith(b"%PDF-") and b"(No facial symmetry scores for this session) Tj" in data


def test_millimetre_table_from_the_session_row(scores, tmp_path):
    from palsyflow.reports.model import MILLIMETRE_LABELS
    from palsyflow.reports.pdf import MILLIMETRE_TITLE

    row = {
        "rest_emotrics_mrd1_left": 3.3, "rest_emotrics_mrd1_right": 1.4,
        "rest_emotrics_commissure_height_deviation": 2.5,
        "task_smile_emotrics_commissure_excursion_left": 41.0, "task_smile_emotrics_commissure_excursion_right": None,
        "lagophthalmos_gap_mm_left": None, "lagophthalmos_gap_mm_right": None,  # not measured: no row
    }
    with_mm = build_session_report(scores, "A", SUBJECT, "20240420", ReportParams(), session_row=row)
    plain = build_session_report(scores, "A", SUBJECT, "20240420", ReportParams())
    got = {r.family: r for r in with_mm.millimetres}
    assert list(got) == ["rest_emotrics_mrd1", "rest_emotrics_commissure_height_deviation", "task_smile_emotrics_commissure_excursion"]
    mrd1 = got["rest_emotrics_mrd1"]
    assert (mrd1.left, mrd1.right, mrd1.unit) == (3.3, 1.4, "mm") and mrd1.difference == pytest.approx(1.9)  # patient's left - right
    dev = got["rest_emotrics_commissure_height_deviation"]
    assert dev.left is None and dev.right is None and dev.difference == 2.5
    assert got["task_smile_emotrics_commissure_excursion"].difference is None  # one side only
    assert plain.millimetres == ()
    # the patient summary does not change with the millimetre table
    assert plain_language_summary(with_mm) == plain_language_summary(plain)
    data = render_session_report(with_mm, tmp_path / "mm.pdf", _params()).read_bytes()
    def shown(text: str) -> bytes:  # a PDF string literal escapes its parentheses
        return ("(" + text.replace("(", "\\(").replace(")", "\\)") + ") Tj").encode()

    assert shown(MILLIMETRE_TITLE) in data
    assert shown(MILLIMETRE_LABELS["rest_emotrics_mrd1"]) in data
    for cell in ("3.3", "1.4", "+1.9", "2.5", "41.0"):
        assert shown(cell) in data, cell
    without = render_session_report(plain, tmp_path / "plain.pdf", _params()).read_bytes()
    assert shown(MILLIMETRE_TITLE) not in without and shown("+1.9") not in without
