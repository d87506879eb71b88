"""Clinical-scale automated estimates (palsyflow.measures.scales): known-answer rows,
missing items, the published crosswalk, the session aggregate and real healthy photos."""

from __future__ import annotations

import pytest

from palsyflow.config import FeatureParams, IngestParams, LandmarkParams
from palsyflow.measures.registry import FEATURE_BY_NAME, UNITS
from palsyflow.measures.scales import (
    EFACE_DYNAMIC_TASKS,
    EFACE_STATIC_FAMILIES,
    RESTING_ITEMS,
    ScaleEstimates,
    eface,
    house_brackmann,
    ocular_synkinesis,
    session_scales,
    sunnybrook,
    synkinesis_score,
    voluntary_score,
)
from palsyflow.measures.session import aggregate_session

ALL_TASKS = ("brow_raise", "eye_closure_gentle", "eye_closure_full", "smile", "snarl", "pucker", "eee")


def normal_row(ratio: float = 1.0, rest_asym: float = 0.0, narrowing: tuple[float, float] = (0.2, 0.2)) -> dict:
    """A session row with every task's eFACE item = 100 * ratio and equal rest asymmetries."""
    row: dict = {f"{f}_asym": rest_asym for f in EFACE_STATIC_FAMILIES}
    row |= {f"task_{t}_eface": 100.0 * ratio for t in ALL_TASKS}
    for t in ("smile", "pucker"):
        row[f"synkinesis_ocular_{t}_fraction_left"], row[f"synkinesis_ocular_{t}_fraction_right"] = narrowing
    row["lagophthalmos_gap_mm_left"] = row["lagophthalmos_gap_mm_right"] = 0.0
    return row


def test_a_symmetric_face_scores_normal_on_every_scale():
    s = session_scales(normal_row())
    assert s.eface["total"] == pytest.approx(100.0) and s.eface["synkinesis"] == pytest.approx(100.0)
    assert s.sunnybrook["resting"] == 0 and s.sunnybrook["voluntary"] == 100 and s.sunnybrook["synkinesis"] == 0
    assert s.sunnybrook["composite"] == 100
    assert s.house_brackmann["grade"] == "I"
    assert {s.eface["label"], s.sunnybrook["label"], s.house_brackmann["label"]} == {"automated estimate"}
    # the unmeasurable eFACE synkinesis items are listed as missing
    assert "synkinesis_mentalis" in s.eface["missing"] and "synkinesis_ocular_synkinesis" in s.eface["used"]


def test_eface_items_follow_the_asymmetries_and_the_total_is_the_item_mean():
    row = normal_row(ratio=0.5, rest_asym=0.2, narrowing=(0.1, 0.4))
    e = eface(row)
    assert e["static"] == pytest.approx(80.0)
    assert e["dynamic"] == pytest.approx(50.0)
    assert e["synkinesis"] == pytest.approx(70.0)
    n_s, n_d = len(EFACE_STATIC_FAMILIES), len(EFACE_DYNAMIC_TASKS)
    assert e["total"] == pytest.approx((80 * n_s + 50 * n_d + 70) / (n_s + n_d + 1))


def test_weaker_movement_lowers_eface_and_sunnybrook_and_raises_house_brackmann():
    grades, totals, composites = [], [], []
    for ratio in (1.0, 0.8, 0.5, 0.2, 0.0):
        s = session_scales(normal_row(ratio=ratio))
        totals.append(s.eface["total"])
        composites.append(s.sunnybrook["composite"])
        grades.append(s.house_brackmann["grade_number"])
    assert totals == sorted(totals, reverse=True) and totals[0] > totals[-1]
    assert composites == sorted(composites, reverse=True) and composites[0] > composites[-1]
    assert grades == sorted(grades) and grades[0] == 1 and grades[-1] >= 5


def test_sunnybrook_item_bands():
    assert [voluntary_score(r) for r in (1.0, 0.85, 0.7, 0.4, 0.2, 0.0)] == [5, 5, 4, 3, 2, 1]
    assert [synkinesis_score(d) for d in (0.0, 0.2, 0.4, 0.9)] == [0, 1, 2, 3]
    row = normal_row()
    row["rest_nasolabial_height_asym"] = 0.3  # cheek: 2 points
    row["rest_commissure_height_asym"] = 0.15  # mouth: 1 point
    sb = sunnybrook(row)
    assert sb["items"]["resting_cheek"] == 2 and sb["items"]["resting_mouth"] == 1 and sb["items"]["resting_eye"] == 0
    assert sb["resting"] == 15 and sb["composite"] == 85


@pytest.mark.parametrize(
    ("composite", "grade"),
    # inside each per-grade interquartile range of Kanerva et al. 2011
    [(100, "I"), (80, "II"), (71, "II"), (62, "III"), (50, "III"), (30, "IV"), (20, "V"), (13, "VI"), (5, "VI")],
)
def test_house_brackmann_follows_the_kanerva_crosswalk(composite, grade):
    hb = house_brackmann({"composite": float(composite)}, {"incomplete_closure_side": None})
    assert hb["grade"] == grade and "Kanerva" in hb["basis"]


def test_one_eye_not_closing_makes_the_estimate_at_least_iv():
    row = normal_row()
    row["lagophthalmos_gap_mm_left"] = 3.0
    syn = ocular_synkinesis(row)
    assert syn["incomplete_closure_side"] == "left"
    hb = session_scales(row).house_brackmann
    assert hb["grade"] == "IV" and "left" in hb["basis"]
    row["lagophthalmos_gap_mm_right"] = 2.5  # both eyes open alike: noise, not one-sided lagophthalmos
    assert ocular_synkinesis(row)["incomplete_closure_side"] is None


def test_missing_tasks_leave_their_items_out_and_too_few_give_none():
    row = normal_row()
    for t in ("snarl", "pucker", "eye_closure_gentle", "eye_closure_full"):
        row.pop(f"task_{t}_eface")
    sb = sunnybrook(row)  # brow lift and smile remain: 2 < 3 voluntary items
    assert sb["voluntary"] is None and sb["composite"] is None
    assert "voluntary_snarl" in sb["missing"] and sb["tasks"] == {"brow_lift": "brow_raise", "open_mouth_smile": "smile"}
    hb = house_brackmann(sb, ocular_synkinesis(row))
    assert hb["grade"] is None and "no Sunnybrook composite" in hb["basis"]
    e = eface(row)  # brow_raise, smile, eee: enough dynamic items
    assert e["dynamic"] == pytest.approx(100.0) and e["total"] is not None
    for f in EFACE_STATIC_FAMILIES[1:]:
        row.pop(f"{f}_asym")
    assert eface(row)["static"] is None and eface(row)["total"] is None


def test_gentle_closure_falls_back_to_full_closure():
    row = normal_row()
    row.pop("task_eye_closure_gentle_eface")
    row["task_eye_closure_full_eface"] = 30.0
    sb = sunnybrook(row)
    assert sb["tasks"]["gentle_eye_closure"] == "eye_closure_full" and sb["items"]["voluntary_gentle_eye_closure"] == 2


def test_scale_columns_are_registered_summary_measures():
    cols = ScaleEstimates(eface(normal_row()), sunnybrook(normal_row()), house_brackmann({"composite": 100.0}, {}), {}).columns()
    for name in cols:
        m = FEATURE_BY_NAME[name]
        assert m.kind == "summary" and m.unit in UNITS and "AUTOMATED ESTIMATE" in m.description and m.source


def test_session_aggregate_carries_the_scales():
    rest = {"task": "rest"}
    for fam in (*EFACE_STATIC_FAMILIES, *RESTING_ITEMS.values()):
        rest[f"{fam}_left"], rest[f"{fam}_right"] = 1.0, 0.9
    recs = [rest]
    for t, (left, right) in {"brow_raise": (0.10, 0.05), "smile": (0.20, 0.20), "snarl": (0.05, 0.05),
                             "pucker": (0.04, 0.01), "eye_closure_full": (0.9, 0.9)}.items():
        recs.append({"task": t, f"task_{t}_left": left, f"task_{t}_right": right, f"task_{t}_threshold": 0.005})
    agg = aggregate_session(recs, FeatureParams())
    assert agg.row["eface_total"] == pytest.approx(agg.scales.eface["total"])
    assert agg.row["sunnybrook_composite"] == pytest.approx(agg.scales.sunnybrook["composite"])
    # brow 0.5 -> 3, pucker 0.25 -> 2, smile / snarl / closure 5; resting asym 0.1 is not above 0.1
    assert agg.scales.sunnybrook["voluntary"] == pytest.approx(4 * (3 + 2 + 5 + 5 + 5))
    assert agg.row["hb_scale_grade_estimate"] == agg.scales.house_brackmann["grade_number"]


@pytest.mark.shared_data
def test_a_healthy_volunteer_session_grades_i_or_ii(shared_data, face_model):
    from palsyflow.features.session import measure_results
    from palsyflow.ingest.tasks import task_from_filename
    from palsyflow.landmarks import extract_landmarks

    folder = shared_data / "healthy-tasks" / "mpeschel_session_B_test_resources"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    res = {}
    for f in sorted(folder.glob("*.jpg")):
        task = task_from_filename(f.name, IngestParams().task_aliases)
        if task:
            res[task] = extract_landmarks(f, "photo", LandmarkParams(), face_model)
    doc = measure_results(res)
    assert doc["house_brackmann"]["grade"] in ("I", "II"), doc["house_brackmann"]
    assert doc["eface"]["total"] > 85 and doc["sunnybrook"]["composite"] > 70
    assert set(doc["synkinesis"]["tasks"]) == {"smile", "pucker"}
    assert doc["emotrics"]["rest_emotrics_mrd1_left"] > 0  # the mm block is the session's


def test_clinician_pdf_shows_the_scales_beside_the_clinicians_grade(tmp_path):
    from palsyflow.config import ReportParams
    from palsyflow.reports.model import build_session_report
    from palsyflow.reports.pdf import SCALES_TITLE, eface_bars_png, render_session_report
    from tests.unit.test_reports import SUBJECT, make_scores

    row = normal_row(ratio=0.5) | {"hb_grade": 3}
    scores = make_scores()
    rep = build_session_report(scores, "A", SUBJECT, "20240420", ReportParams(), session_row=row)
    assert rep.scales is not None and rep.scales.clinician_hb_grade == 3
    hb = rep.scales.estimates.house_brackmann["grade"]
    data = render_session_report(rep, tmp_path / "s.pdf", ReportParams(page_compression=False)).read_bytes()

    def shown(text: str) -> bytes:
        return ("(" + text.replace("(", "\\(").replace(")", "\\)") + ") Tj").encode()

    assert shown(SCALES_TITLE) in data and shown("clinician's grade: III") in data and shown(hb) in data
    plain = build_session_report(scores, "A", SUBJECT, "20240420", ReportParams())
    assert plain.scales is None
    assert shown(SCALES_TITLE) not in render_session_report(plain, tmp_path / "p.pdf", ReportParams(page_compression=False)).read_bytes()
    # the bar graphic changes with the values
    assert eface_bars_png({"static": 90.0, "dynamic": 50.0, "synkinesis": None, "total": 70.0}) != eface_bars_png(
        {"static": 90.0, "dynamic": 60.0, "synkinesis": None, "total": 70.0})
