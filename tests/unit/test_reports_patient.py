"""The one-page patient report: read off the clinician model, plain words, one page, month-only names."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import polars as pl
import pytest

from palsyflow.config import PathParams, ReportParams
from palsyflow.measures.longitudinal import MDC_TABLE
from palsyflow.measures.registry import REST_SYMMETRY
from palsyflow.measures.scales import session_scales
from palsyflow.reports.model import ScaleReport, build_session_report
from palsyflow.reports.patient import (
    FACE_AREAS,
    MAX_TALK,
    MIN_TALK,
    build_patient_report,
    improvement_pct,
    is_worse,
    page_texts,
    speech_sentence,
    words_of_ten,
)
from palsyflow.reports.patient_pdf import BODY_PT, render_patient_report
from palsyflow.reports.summary import side_verdict
from palsyflow.schemas import SCORE_SCHEMA
from palsyflow.stages.catalog import Catalog
from tests.unit.test_reports import OTHER, SUBJECT, make_scores

MDC = MDC_TABLE["symmetry_index"].mdc

#: Words a patient page must never print (clinical jargon, statistics, scale names).
BANNED = (
    "percentile", "asymmetry", "symmetry", "eface", "sunnybrook", "house", "brackmann", "mdc", "z-score",
    "synkinesis", "dysarthria", "lagophthalmos", "commissure", "palpebral", "nasolabial", "fissure", "index",
    "normative", "baseline", "regression", "plateau", "noise", "deviation", "cpps", "intelligibility", "unilateral",
)


def _report(scores: pl.DataFrame, subject: str, session: str, **kw):
    return build_session_report(scores, "A", subject, session, ReportParams(**kw))


@pytest.fixture(scope="module")
def scores() -> pl.DataFrame:
    return make_scores()


def _series(values, percentile=2.0, region_values=None, clarity=None) -> pl.DataFrame:
    """One subject ("P1"), sessions five weeks apart; regions follow ``region_values`` (default: the index)."""
    rows = []
    for i, v in enumerate(values):
        d = dt.date(2026, 1, 5) + dt.timedelta(days=35 * i)
        base = dict(site="A", subject="P1", session=d.strftime("%Y%m%d"), session_date=d, z=None, simulated=False,
                    model_version="m1", weaker_side="left")
        rows.append({**base, "measure": "symmetry_index", "region": "overall", "value": v, "unit": "0-100",
                     "percentile": percentile, "change_since_first": v - values[0]})
        for r in FACE_AREAS:
            rv = (region_values or {}).get(r, values)
            rows.append({**base, "measure": REST_SYMMETRY[r], "region": r, "value": rv[i], "unit": "0-100",
                         "percentile": percentile, "change_since_first": rv[i] - rv[0]})
        if clarity is not None:
            rows.append({**base, "measure": "speech_clarity", "region": "speech", "value": clarity[i], "unit": "0-100",
                         "percentile": percentile, "weaker_side": None, "change_since_first": clarity[i] - clarity[0]})
    return pl.DataFrame(rows, schema=SCORE_SCHEMA)


def _sessions(scores: pl.DataFrame) -> list[tuple[str, str]]:
    return scores.select("subject", "session").unique().sort("subject", "session").rows()


# --------------------------------------------------------------------------- never contradicts the clinician report


@pytest.mark.parametrize("variant", ["fixture", "healthy", "worsening", "no_model"])
def test_every_light_agrees_with_the_clinician_report(scores, variant):
    """Each area's light follows the clinician model's labels, percentile and side (module rules)."""
    table = {
        "fixture": scores,
        "healthy": scores.with_columns(pl.when(pl.col("percentile").is_not_null()).then(40.0).alias("percentile")),
        "worsening": _series([80.0, 80.0 - 3 * MDC], clarity=[90.0, 40.0]),
        "no_model": scores.with_columns(pl.lit(None, pl.Float64).alias("percentile")),
    }[variant]
    checked = 0
    for subject, session in _sessions(table):
        clin = build_session_report(table, "A", subject, session, ReportParams())
        pat = build_patient_report(clin)
        rows = {r.measure: r for r in (*clin.regions, *clin.components, *clin.speech, clin.overall)}
        for a in pat.areas:
            row = rows[a.measure]
            change = clin.longitudinal.this_session.get(a.measure)
            worse = is_worse(change)
            assert a.worse == worse
            if worse:
                assert a.light == "red"
            elif row.percentile is None:
                assert a.light == "grey"
            elif row.percentile >= clin.healthy_range_percentile:
                assert a.light == "green"
            else:
                assert a.light == "amber"
            # a side named on the patient page is the clinician table's weaker side of that row
            for side in ("left", "right"):
                if f"your {side} side" in a.sentence.lower():
                    assert row.weaker_side == side
            if change is not None and change.label_baseline == "improvement" and not worse and a.light != "green":
                assert "better" in a.sentence or "more than at your first visit" in a.sentence
            checked += 1
        # the headline names the side the clinician summary names, or none
        verdict = side_verdict(clin)
        if verdict in ("left", "right"):
            assert pat.headline.startswith(f"Your {verdict} side moved less")
        else:
            assert "side moved less" not in pat.headline
        # the overall change reads as the clinician's label
        reading = clin.longitudinal.this_session.get("symmetry_index")
        if reading is not None and not clin.is_first_session:
            word = {"within noise": "about the same", "improvement": "better", "worsening": "worse"}[reading.label_baseline]
            assert word in pat.improvement_sentence
    assert checked >= 5


def test_a_worsening_gives_a_red_light_and_a_talking_point():
    table = _series([80.0, 80.0 - 3 * MDC], region_values={"mouth": [80.0, 50.0]}, clarity=[90.0, 90.0])
    clin = build_session_report(table, "A", "P1", "20260209", ReportParams())
    assert clin.longitudinal.this_session["symmetry_index"].label_previous == "worsening"
    pat = build_patient_report(clin)
    lights = {a.area: a.light for a in pat.areas}
    assert lights["mouth"] == "red" and lights["face"] == "red"
    assert pat.change == "down" and "worse" in pat.improvement_sentence
    assert pat.improvement_pct == pytest.approx(100 * (-3 * MDC) / 80.0)
    assert any("went down" in t for t in pat.talk_about)
    assert any("smile and mouth" in t for t in pat.talk_about)
    assert MIN_TALK <= len(pat.talk_about) <= MAX_TALK


def test_a_plateau_is_a_talking_point():
    pat = build_patient_report(build_session_report(_series([50.0, 50.0 + 4 * MDC, 50.2 + 4 * MDC, 50.4 + 4 * MDC]),
                                                    "A", "P1", "20260420", ReportParams()))
    assert any("stayed the same for your last three visits" in t for t in pat.talk_about)


def test_first_session_has_nothing_to_compare(scores):
    pat = build_patient_report(_report(scores, SUBJECT, "20240201"))
    assert pat.first_session and pat.change == "first" and pat.improvement_pct is None
    assert pat.improvement_sentence == "This is your first visit, so there is nothing to compare yet."
    assert [p.weeks for p in pat.recovery] == [0.0]  # later visits are never on an earlier page
    assert not any("better" in a.sentence or "worse" in a.sentence for a in pat.areas)


def test_improvement_pct_from_the_overall_row(scores):
    clin = _report(scores, SUBJECT, "20240420")
    pat = build_patient_report(clin)
    # 60 -> 81: (81 - 60) / 60
    assert improvement_pct(clin) == pytest.approx(35.0)
    assert pat.improvement_sentence == "Your face has got 35% better since your first visit."
    assert [round(p.weeks, 2) for p in pat.recovery] == [0.0, 4.71, 11.29] and pat.recovery[-1].this_session
    within = _series([70.0, 70.0 + 0.5 * MDC])
    same = build_patient_report(build_session_report(within, "A", "P1", "20260209", ReportParams()))
    assert same.change == "same" and same.improvement_sentence == "Your face is about the same as at your first visit."


def test_speech_clarity_in_words(scores):
    assert words_of_ten(83.3) == 8 and words_of_ten(85.0) == 9 and words_of_ten(4.0) == 0
    assert speech_sentence(90.0) == "The computer understood about 9 of every 10 words you read."
    assert speech_sentence(100.0) == "The computer understood all of the words you read."
    assert speech_sentence(97.0) == "The computer understood about 10 of every 10 words you read."
    pat = build_patient_report(_report(scores, SUBJECT, "20240420"))
    assert pat.speech_sentence == "The computer understood about 8 of every 10 words you read."
    no_speech = build_patient_report(_report(scores, SUBJECT, "20240305"))
    assert no_speech.speech_sentence is None and "speech" not in {a.area for a in no_speech.areas}


def _with_open_left_eye(clin):
    """The clinician report with a scale section whose left eye does not close (gap 4 mm against 0.2 mm)."""
    row = {"lagophthalmos_gap_mm_left": 4.0, "lagophthalmos_gap_mm_right": 0.2}
    return dataclasses.replace(clin, scales=ScaleReport(session_scales(row)))


def test_an_eye_that_does_not_close_is_red_and_a_talking_point(scores):
    clin = _with_open_left_eye(_report(scores, SUBJECT, "20240420"))
    assert clin.scales.estimates.synkinesis["incomplete_closure_side"] == "left"
    pat = build_patient_report(clin)
    eye = next(a for a in pat.areas if a.area == "eye")
    assert eye.light == "red" and "left eye did not close" in eye.sentence
    assert any("left eye did not close" in t for t in pat.talk_about)


# --------------------------------------------------------------------------- words


def _all_pages(scores):
    tables = [scores, _series([80.0, 80.0 - 3 * MDC], clarity=[90.0, 40.0]),
              _series([50.0, 50.0 + 4 * MDC, 50.2 + 4 * MDC, 50.4 + 4 * MDC])]
    for t in tables:
        for subject, session in _sessions(t):
            yield build_patient_report(build_session_report(t, "A", subject, session, ReportParams()))


def test_no_jargon_and_no_percentiles(scores):
    for pat in _all_pages(scores):
        text = " ".join(page_texts(pat)).lower()
        for word in BANNED:
            assert not re.search(rf"\b{re.escape(word)}", text), (word, text)
        assert not re.search(r"\d+(st|nd|rd|th)\b", text)  # no "2nd percentile"-style ranks


def _syllables(word: str) -> int:
    """Vowel groups, a silent final e dropped, at least 1 (the usual heuristic)."""
    w = re.sub(r"[^a-z]", "", word.lower())
    if not w:
        return 0
    n = len(re.findall(r"[aeiouy]+", w))
    if w.endswith("e") and not w.endswith(("le", "ee")) and n > 1:
        n -= 1
    return max(1, n)


def fk_grade(text: str) -> float:
    """Flesch-Kincaid grade: 0.39 words/sentence + 11.8 syllables/word - 15.59 (Kincaid et al. 1975)."""
    sentences = [s for s in re.split(r"[.!?:]+\s|[.!?]$", text) if s.strip()]
    words = re.findall(r"[A-Za-z']+", text)
    syl = sum(_syllables(w) for w in words)
    return 0.39 * len(words) / len(sentences) + 11.8 * syl / len(words) - 15.59


def test_fk_grade_helper_can_tell_hard_from_easy():
    assert fk_grade("The cat sat on the mat. It was warm.") < 2
    assert fk_grade("Longitudinal quantification of unilateral facial neuromuscular dysfunction necessitates "
                    "standardised photogrammetric methodology.") > 14


def test_reading_level_at_most_grade_7(scores):
    grades = []
    for pat in _all_pages(scores):
        text = " ".join(t if t.endswith((".", "?", "!", ":")) else t + "." for t in page_texts(pat))
        grades.append(fk_grade(text))
    assert max(grades) <= 7.0, grades


def test_left_and_right_are_the_patients_own(scores):
    texts = " ".join(page_texts(build_patient_report(_report(scores, OTHER, "20240305"))))
    assert "Your right side moved less than your left side." in texts
    assert "your own left and right" in texts


# --------------------------------------------------------------------------- the page


def _pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", data))


def test_one_page_even_at_its_fullest(scores, tmp_path):
    """Six areas, four talking points, the test-data banner and a long series: still one page."""
    table = _series([80.0, 60.0, 55.0, 50.0, 50.0, 50.0, 48.0, 30.0], clarity=[30.0] * 8)
    last = table["session"].max()
    clin = _with_open_left_eye(build_session_report(table.with_columns(pl.lit(True).alias("simulated")), "A", "P1", last,
                                                    ReportParams()))
    pat = build_patient_report(clin)
    assert len(pat.areas) == 6 and len(pat.talk_about) == MAX_TALK and pat.simulated
    for p, name in ((pat, "full.pdf"), (build_patient_report(_report(scores, SUBJECT, "20240420")), "a.pdf")):
        data = render_patient_report(p, tmp_path / name, ReportParams(deterministic=True, page_compression=False)).read_bytes()
        assert data.startswith(b"%PDF-") and _pages(data) == 1
        assert re.search(rb"/F\d+ 14\.5 Tf", data)  # the body size is in the content stream
        # sizes of the fonts that show text (a font set and a string on the same line)
        shown = [float(s) for s in re.findall(rb"/F\d+ ([\d.]+) Tf[^\n]*?\(", data)]
        assert shown and min(shown) >= 12  # key, footer and axis labels at 12, body 14.5, headings larger
    assert BODY_PT >= 14
    assert not list(tmp_path.glob(".*.tmp"))


def test_page_is_deterministic_and_has_this_patient_only(scores, tmp_path):
    pat = build_patient_report(_report(scores, SUBJECT, "20240420"))
    a = render_patient_report(pat, tmp_path / "a.pdf", ReportParams(deterministic=True)).read_bytes()
    b = render_patient_report(pat, tmp_path / "b.pdf", ReportParams(deterministic=True)).read_bytes()
    assert a == b
    raw = render_patient_report(pat, tmp_path / "c.pdf", ReportParams(deterministic=True, page_compression=False)).read_bytes()
    assert b"(April 2024) Tj" in raw and b"20240420" not in raw and OTHER.encode() not in raw


# --------------------------------------------------------------------------- the file name


def test_file_name_is_pseudonymous_and_month_only(tmp_path):
    cat = Catalog(tmp_path, PathParams())
    sessions = ["20260114", "20260128", "20260203"]
    first = cat.patient_report("north", "N01", "20260114", sessions)
    assert first == tmp_path / "data/reports/site-north/sub-N01/sub-N01_2026-01_patient.pdf"
    second = cat.patient_report("north", "N01", "20260128", sessions)
    assert second.name == "sub-N01_2026-01_visit2_patient.pdf"
    assert cat.patient_report("north", "N01", "20260203", sessions).name == "sub-N01_2026-02_patient.pdf"
    for p in (first, second):
        assert not re.search(r"\d{4}-?\d{2}-?\d{2}|14|28", p.name)  # no day in any form
        assert Catalog.is_patient_report(p) and not Catalog.is_patient_report(cat.session_report("north", "N01", "20260114"))
    assert cat.report_stamp(second).name == "sub-N01_2026-01_visit2_patient.json"
    with pytest.raises(ValueError, match="YYYYMMDD"):
        cat.patient_report("north", "N01", "2026Jan")


# --------------------------------------------------------------------------- the stage


def test_stage_writes_a_patient_pdf_per_session_redraws_on_change_and_renames_within_a_month(tmp_path):
    from palsyflow import stages
    from palsyflow.atomic import sha256_file
    from palsyflow.store import repo
    from palsyflow.store.db import session_scope
    from tests.unit.test_runs import _project, _scores_table

    project = _project(tmp_path, "report:\n  deterministic: true\n")
    scores = _scores_table().filter(pl.col("subject") == "P1")
    path = project.path("data/scores/scores.parquet")
    path.parent.mkdir(parents=True)

    def publish(table):
        table.write_parquet(path)
        with session_scope(project.engine) as db:
            repo.upsert_scores(db, table.to_dicts())

    publish(scores)
    first = stages.report(project)
    folder = project.path("data/reports/site-north/sub-P1")
    assert first.processed == 1 and sorted(p.name for p in folder.glob("*_patient.*")) == [
        "sub-P1_2026-01_patient.json", "sub-P1_2026-01_patient.pdf"]
    assert stages.report(project).processed == 0  # nothing changed: nothing redrawn
    # an earlier session of the same month arrives: it takes the month's name, the other becomes visit2
    earlier = scores.with_columns(pl.lit("20260102").alias("session"), pl.lit(dt.date(2026, 1, 2)).alias("session_date"))
    publish(pl.concat([scores, earlier]))
    third = stages.report(project)
    assert sorted(p.name for p in folder.glob("*_patient.pdf")) == ["sub-P1_2026-01_patient.pdf", "sub-P1_2026-01_visit2_patient.pdf"]
    assert third.processed == 2  # both redrawn: the old name now holds the earlier session
    with session_scope(project.engine) as db:
        for session, name in (("20260102", "sub-P1_2026-01_patient.pdf"), ("20260105", "sub-P1_2026-01_visit2_patient.pdf")):
            assert repo.report_sha256(db, "north", "P1", session, "patient") == sha256_file(folder / name)
