"""Session measures (palsyflow.measures.symmetry) and the long score table (palsyflow.scoring.scores)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from scipy.stats import norm

from palsyflow.config import FeatureParams
from palsyflow.measures.asymmetry import weaker_side
from palsyflow.measures.registry import REGIONS, REST_FAMILY_OF_REGION, REST_SYMMETRY, SCORE_MEASURES, UNITS
from palsyflow.measures.registry import SCORED_SPEECH_MEASURES as SPEECH_MEASURES
from palsyflow.measures.session import aggregate_session
from palsyflow.models.normative import NormativeModel
from palsyflow.schemas import SCORE_SCHEMA
from palsyflow.scoring.scores import score_sessions, session_measures

FAM = REST_FAMILY_OF_REGION


def session_row(subject="s1", session="20240101", asym=None, left=None, weaker=None, **extra):
    """One session-table row. ``asym``/``left``/``weaker``: dict region -> value (the
    region's rest family columns).

    The right side is derived as ``left * (1 - asym)`` so L, R and asym agree.
    """
    asym = asym or {}
    left = left or {}
    weaker = weaker or {}
    row = {
        "site": "siteA",
        "subject": subject,
        "session": session,
        "session_date": dt.datetime.strptime(session, "%Y%m%d").date(),
        "healthy": None,
        "hb_grade": None,
        "simulated": False,
    }
    for r in REGIONS:
        a = asym.get(r)
        L = left.get(r, 0.5 if a is not None else None)
        row[f"{FAM[r]}_left"] = L
        row[f"{FAM[r]}_right"] = None if (L is None or a is None) else L * (1.0 - a)
        row[f"{FAM[r]}_asym"] = a
        row[f"{FAM[r]}_weaker"] = weaker.get(r)
    for s in SPEECH_MEASURES:
        row[s] = None
    row.update(extra)
    return row


SCHEMA_OVERRIDES = {
    **{f"{FAM[r]}_{k}": pl.Float64 for r in REGIONS for k in ("left", "right", "asym")},
    **{f"{FAM[r]}_weaker": pl.Utf8 for r in REGIONS},
    **{s: pl.Float64 for s in SPEECH_MEASURES},
    "healthy": pl.Boolean,
    "hb_grade": pl.Int8,
}


def table(rows):
    return pl.DataFrame(rows, schema_overrides=SCHEMA_OVERRIDES)


def test_symmetry_is_100_times_one_minus_asym_and_index_is_mean_of_available():
    t = table([session_row(asym={"brow": 0.1, "eye": 0.3, "mouth": 0.6})])  # cheek missing
    m = session_measures(t).row(0, named=True)
    assert m["rest_brow_height_symmetry"] == pytest.approx(90.0)
    assert m["rest_palpebral_fissure_height_symmetry"] == pytest.approx(70.0)
    assert m["rest_commissure_height_symmetry"] == pytest.approx(40.0)
    assert m["rest_nasolabial_height_symmetry"] is None
    assert m["symmetry_index"] == pytest.approx((90 + 70 + 40) / 3)


def test_asym_is_computed_from_sides_when_missing():
    row = session_row(asym={"mouth": 0.25})
    row["rest_commissure_height_asym"] = None  # L = 0.5, R = 0.375 remain
    m = session_measures(table([row])).row(0, named=True)
    assert m["rest_commissure_height_symmetry"] == pytest.approx(75.0)


@pytest.mark.parametrize(
    ("asym", "weaker", "expected"),
    [
        # three regions vote left, one right
        ({r: 0.2 for r in REGIONS}, {"brow": "left", "eye": "left", "cheek": "left", "mouth": "right"}, "left"),
        # regions whose weaker side is null (below the features' floor) do not vote
        ({"brow": 0.01, "eye": 0.01, "mouth": 0.2}, {"mouth": "right"}, "right"),
        # tie 1:1 broken by the larger |L-R| (mouth 0.2 vs brow 0.05 of L=0.5)
        ({"brow": 0.1, "mouth": 0.4}, {"brow": "left", "mouth": "right"}, "right"),
        ({"brow": 0.4, "mouth": 0.1}, {"brow": "left", "mouth": "right"}, "left"),
        # nobody names a side
        ({"brow": 0.4}, {}, None),
    ],
)
def test_overall_weaker_side_vote(asym, weaker, expected):
    m = session_measures(table([session_row(asym=asym, weaker=weaker)]))
    assert m["weaker_side"][0] == expected


def _recording(task, fam, left, right):
    return {"task": task, f"{fam}_left": left, f"{fam}_right": right}


def test_rest_floor_parameter_changes_the_session_weaker_side_and_the_scores():
    # |L-R| = 0.05 iod_iris on two regions: named at the default floor (0.01), not at 0.1
    recs = [
        _recording("rest", FAM["brow"], 0.45, 0.50) | _recording("rest", FAM["mouth"], 1.05, 1.00),
    ]

    def scored(params):
        row = aggregate_session(recs, params).row
        t = table([session_row() | {k: v for k, v in row.items() if k.startswith("rest_") or k.startswith("mov_")}])
        return {r["measure"]: r["weaker_side"] for r in score_sessions(session_measures(t), None).iter_rows(named=True)}

    default = scored(FeatureParams())
    assert default[REST_SYMMETRY["brow"]] == "left" and default[REST_SYMMETRY["mouth"]] == "left"
    assert default["symmetry_index"] == "left"
    raised = scored(FeatureParams(weaker_min_diff_iod=0.1))
    assert raised[REST_SYMMETRY["brow"]] is None and raised[REST_SYMMETRY["mouth"]] is None
    assert raised["symmetry_index"] is None


def test_movement_has_its_own_floor_and_one_rule():
    # a 0.006 iod_canthal difference names a side at the default movement floor (0.005),
    # not when that floor is raised; the session table and the score agree (one rule)
    recs = [_recording("speech", "mov_commissure_excursion", 0.020, 0.026)]
    row = aggregate_session(recs, FeatureParams()).row
    assert row["mov_commissure_excursion_weaker"] == "left"
    t = table([session_row(asym={"mouth": 0.1}) | {k: v for k, v in row.items() if k.startswith("mov_commissure")}])
    assert session_measures(t)["mov_commissure_excursion_weaker"][0] == "left"
    raised = aggregate_session(recs, FeatureParams(movement_weaker_min_diff_iod=0.01)).row
    assert raised["mov_commissure_excursion_weaker"] is None


def test_mouth_excursion_optional():
    base = session_row(asym={"mouth": 0.1})
    assert "mov_commissure_excursion_symmetry" not in session_measures(table([base])).columns
    row = dict(base, mov_commissure_excursion_left=0.2, mov_commissure_excursion_right=0.3,
               mov_commissure_excursion_asym=None, mov_commissure_excursion_weaker="left")
    m = session_measures(table([row])).row(0, named=True)
    assert m["mov_commissure_excursion_symmetry"] == pytest.approx(100 * (1 - 0.1 / 0.3))
    assert m["mov_commissure_excursion_weaker"] == "left"  # passed through from the session table


def test_both_sides_zero_is_symmetric():
    row = session_row(asym={"mouth": 0.0}, left={"mouth": 0.0})
    row[f"{FAM['mouth']}_asym"] = None
    assert session_measures(table([row]))[REST_SYMMETRY["mouth"]][0] == pytest.approx(100.0)


def test_missing_measures_give_nulls_not_errors():
    # ids only: every measure column absent
    t = pl.DataFrame({"site": ["a"], "subject": ["s"], "session": ["20240105"]})
    m = session_measures(t)
    assert m["session_date"][0] == dt.date(2024, 1, 5)
    assert m["symmetry_index"][0] is None and m["weaker_side"][0] is None
    normative = NormativeModel(min_samples=3).fit(
        pl.DataFrame({"rest_commissure_height_symmetry": [90.0, 95.0, 99.0, 97.0], "speech_rate_syl_s": [4.0, 5.0, 4.5, 5.5]})
    )
    scores = score_sessions(m, normative, model_version="3")
    assert scores["value"].null_count() == scores.height
    assert scores["z"].null_count() == scores.height
    assert scores["percentile"].null_count() == scores.height
    # NaN values in the session table are treated as missing too
    row = session_row(asym={"mouth": 0.2})
    row["rest_brow_height_asym"] = float("nan")
    m2 = session_measures(table([row]))
    assert m2["rest_brow_height_symmetry"][0] is None
    assert m2["symmetry_index"][0] == pytest.approx(80.0)


def test_score_table_has_exact_schema_and_one_row_per_session_measure():
    t = table([session_row("s1", "20240101", asym={"mouth": 0.2}), session_row("s2", "20240101", asym={"eye": 0.1})])
    scores = score_sessions(session_measures(t), None)
    assert list(scores.columns) == list(SCORE_SCHEMA)
    assert dict(scores.schema) == SCORE_SCHEMA
    assert scores.height == 2 * (len(SCORE_MEASURES) - 1)  # no mov_commissure_excursion_* columns
    assert scores.select(pl.struct("subject", "measure").is_duplicated().any()).item() is False
    # no model -> no z, percentile, version
    assert scores["z"].null_count() == scores.height
    assert scores["model_version"].null_count() == scores.height
    mouth = scores.filter((pl.col("subject") == "s1") & (pl.col("measure") == "rest_commissure_height_symmetry")).row(0, named=True)
    assert mouth["value"] == pytest.approx(80.0) and mouth["region"] == "mouth" and mouth["unit"] == "0-100"


def test_empty_table_gives_empty_schema():
    scores = score_sessions(session_measures(table([session_row()]).clear()), None)
    assert scores.height == 0 and dict(scores.schema) == SCORE_SCHEMA


def test_z_and_percentile_from_model_and_null_for_unmodelled_measures():
    rng = np.random.default_rng(1)
    healthy = pl.DataFrame({"rest_commissure_height_symmetry": rng.normal(95.0, 2.0, 400)})
    model = NormativeModel(min_samples=10).fit(healthy)
    loc, scale = model.location_[0], model.scale_[0]
    t = table([session_row(asym={"mouth": 0.15, "eye": 0.1})])
    scores = score_sessions(session_measures(t), model, model_version="7")
    mouth = scores.filter(pl.col("measure") == "rest_commissure_height_symmetry").row(0, named=True)
    assert mouth["z"] == pytest.approx((85.0 - loc) / scale)
    # the model's small-sample percentile (Crawford & Howell), not a bare normal CDF of z
    assert mouth["percentile"] == pytest.approx(model.percentile(np.array([[85.0]]))[0, 0])
    assert mouth["percentile"] > 100 * norm.cdf((85.0 - loc) / scale)
    assert mouth["model_version"] == "7 (healthy n=400)"  # the reference size is shown
    eye = scores.filter(pl.col("measure") == "rest_palpebral_fissure_height_symmetry").row(0, named=True)
    assert eye["value"] == pytest.approx(90.0)
    assert eye["z"] is None and eye["percentile"] is None


def test_more_asymmetry_means_lower_symmetry_and_percentile():
    rng = np.random.default_rng(2)
    healthy = pl.DataFrame(
        {REST_SYMMETRY[r]: 100 * (1 - np.abs(rng.normal(0.0, 0.05, 200))) for r in REGIONS}
    ).with_columns(pl.mean_horizontal([REST_SYMMETRY[r] for r in REGIONS]).alias("symmetry_index"))
    model = NormativeModel(min_samples=10).fit(healthy)
    levels = [0.0, 0.05, 0.1, 0.2, 0.4, 0.8]
    rows = [session_row(f"s{i}", asym={r: a for r in REGIONS}) for i, a in enumerate(levels)]
    scores = score_sessions(session_measures(table(rows)), model, model_version="1")
    for measure in ["rest_commissure_height_symmetry", "symmetry_index"]:
        sub = scores.filter(pl.col("measure") == measure).sort("subject")
        sym, pct = sub["value"].to_numpy(), sub["percentile"].to_numpy()
        assert np.all(np.diff(sym) < 0), measure
        assert np.all(np.diff(pct) <= 0) and pct[0] > pct[-1], measure
        assert pct[-1] < 1.0  # 80 % asymmetry is far outside the healthy range


def test_change_since_first_with_sessions_out_of_date_order():
    # mouth asymmetry improves 0.4 -> 0.2 -> 0.1 over time; rows given out of order
    rows = [
        session_row("s1", "20240301", asym={"mouth": 0.1}),
        session_row("s1", "20240101", asym={"mouth": 0.4}),
        session_row("s1", "20240201", asym={"mouth": 0.2}),
        session_row("s2", "20231201", asym={"mouth": 0.0}),  # another subject, earlier date
        session_row("s3", "20240101", asym={}),  # first session missing the measure
        session_row("s3", "20240201", asym={"mouth": 0.3}),
    ]
    scores = score_sessions(session_measures(table(rows)), None)
    got = {
        (r["subject"], r["session"]): r["change_since_first"]
        for r in scores.filter(pl.col("measure") == "rest_commissure_height_symmetry").iter_rows(named=True)
    }
    assert got[("s1", "20240101")] == pytest.approx(0.0)
    assert got[("s1", "20240201")] == pytest.approx(80.0 - 60.0)
    assert got[("s1", "20240301")] == pytest.approx(90.0 - 60.0)
    assert got[("s2", "20231201")] == pytest.approx(0.0)
    assert got[("s3", "20240101")] is None and got[("s3", "20240201")] is None
    # same subject label at another site is another person
    other = session_row("s1", "20230101", asym={"mouth": 0.9}, site="siteB")
    scores2 = score_sessions(session_measures(table(rows + [other])), None)
    s1a = scores2.filter(
        (pl.col("site") == "siteA") & (pl.col("subject") == "s1") & (pl.col("measure") == "rest_commissure_height_symmetry")
    )
    assert s1a.filter(pl.col("session") == "20240101")["change_since_first"][0] == pytest.approx(0.0)


def test_weaker_side_per_measure_in_scores():
    t = table([session_row(asym={"mouth": 0.3, "eye": 0.3}, weaker={"mouth": "left", "eye": "left"})])
    scores = score_sessions(session_measures(t), None)
    by = {r["measure"]: r["weaker_side"] for r in scores.iter_rows(named=True)}
    assert by["rest_commissure_height_symmetry"] == "left" and by["symmetry_index"] == "left"
    assert by["rest_brow_height_symmetry"] is None and by["speech_clarity"] is None


def test_duplicate_sessions_rejected():
    with pytest.raises(ValueError, match="more than one row"):
        session_measures(table([session_row(), session_row()]))


def test_score_measures_are_consistent():
    for m in SCORE_MEASURES:
        assert m.region in (*REGIONS, "overall", "speech"), m
        assert m.unit in UNITS, m
        assert m.higher_is_better in (True, False, None)
    assert {m.name: m for m in SCORE_MEASURES}["symmetry_index"].region == "overall"


def test_movement_weakness_lowers_the_index_and_names_the_side_that_moved_less():
    rest = {r: 0.02 for r in REGIONS}
    rest_weaker = {r: "right" for r in REGIONS}  # a slight resting asymmetry to the right
    rows = []
    for i, (exc_l, exc_r) in enumerate([(0.07, 0.07), (0.05, 0.07), (0.02, 0.07)]):
        rows.append(
            session_row(
                f"s{i}", asym=rest, weaker=rest_weaker,
                mov_commissure_excursion_left=exc_l, mov_commissure_excursion_right=exc_r,
                mov_commissure_excursion_asym=abs(exc_l - exc_r) / max(exc_l, exc_r),
                mov_commissure_excursion_weaker=weaker_side("smaller", exc_l, exc_r, 0.0, 0.005),
            )
        )
    m = session_measures(table(rows)).sort("subject")
    assert m["rest_symmetry"].to_list() == pytest.approx([98.0] * 3)
    # rest is unchanged, so the index falls only because movement does
    assert m["mov_symmetry"].to_list() == pytest.approx([100.0, 100 * (1 - 2 / 7), 100 * (1 - 5 / 7)])
    idx = m["symmetry_index"].to_list()
    assert idx[0] > idx[1] > idx[2]
    assert idx[2] == pytest.approx((98.0 + 100 * (1 - 5 / 7)) / 2)
    # the side that moves less is the weaker side, over the resting vote
    # symmetric movement: "no consistent weaker side"; the resting vote never overrides it
    assert m["weaker_side"].to_list() == [None, "left", "left"]


def test_session_measures_on_a_real_shaped_session_table():
    """The features stage's session table (every measure column) goes through scoring."""
    from palsyflow.features.table import SESSION_TABLE_SCHEMA

    row = {c: None for c in SESSION_TABLE_SCHEMA}
    row.update(site="a", subject="s1", session="20240101", session_date=dt.date(2024, 1, 1), healthy=True, simulated=False)
    for r in REGIONS:
        f = FAM[r]
        row.update({f"{f}_left": 0.5, f"{f}_right": 0.45, f"{f}_asym": 0.1, f"{f}_weaker": "right"})
    row.update(hb_measure_weaker="right", task_movement_weaker="left", eface_dynamic=60.0)
    t = pl.DataFrame([row], schema=SESSION_TABLE_SCHEMA)
    m = session_measures(t).row(0, named=True)
    assert m["mov_symmetry"] == pytest.approx(60.0)
    assert m["symmetry_index"] == pytest.approx((90.0 + 60.0) / 2)
    assert m["weaker_side"] == "left"  # the photo tasks' side, over the resting vote and the HB measurement side
    # movement tasks without a consistent side: no weaker side, although rest and the HB measurement name one
    row.update(task_movement_weaker=None)
    m = session_measures(pl.DataFrame([row], schema=SESSION_TABLE_SCHEMA)).row(0, named=True)
    assert m["hb_measure_weaker"] == "right" and m["rest_weaker"] == "right" and m["weaker_side"] is None
