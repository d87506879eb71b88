"""Session measures and the long score table (palsyflow.scoring.scores)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from scipy.stats import norm

from palsyflow.config import ScoreParams
from palsyflow.models.normative import NormativeModel
from palsyflow.schemas import SCORE_SCHEMA
from palsyflow.scoring.scores import MEASURE_INFO, REGIONS, SPEECH_MEASURES, score_sessions, session_measures


def session_row(subject="s1", session="20240101", asym=None, left=None, weaker=None, **extra):
    """One session-table row. ``asym``/``left``/``weaker``: dict region -> value.

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
        row[f"{r}_left"] = L
        row[f"{r}_right"] = None if (L is None or a is None) else L * (1.0 - a)
        row[f"{r}_asym"] = a
        row[f"{r}_weaker"] = weaker.get(r)
    for s in SPEECH_MEASURES:
        row[s] = None
    row.update(extra)
    return row


SCHEMA_OVERRIDES = {
    **{f"{r}_{k}": pl.Float64 for r in REGIONS for k in ("left", "right", "asym")},
    **{f"{r}_weaker": pl.Utf8 for r in REGIONS},
    **{s: pl.Float64 for s in SPEECH_MEASURES},
    "healthy": pl.Boolean,
    "hb_grade": pl.Int8,
}


def table(rows):
    return pl.DataFrame(rows, schema_overrides=SCHEMA_OVERRIDES)


def test_symmetry_is_100_times_one_minus_asym_and_index_is_mean_of_available():
    t = table([session_row(asym={"brow": 0.1, "eye": 0.3, "mouth": 0.6})])  # cheek missing
    m = session_measures(t).row(0, named=True)
    assert m["symmetry_brow"] == pytest.approx(90.0)
    assert m["symmetry_eye"] == pytest.approx(70.0)
    assert m["symmetry_mouth"] == pytest.approx(40.0)
    assert m["symmetry_cheek"] is None
    assert m["symmetry_index"] == pytest.approx((90 + 70 + 40) / 3)


def test_asym_is_computed_from_sides_when_missing():
    row = session_row(asym={"mouth": 0.25})
    row["mouth_asym"] = None  # L = 0.5, R = 0.375 remain
    m = session_measures(table([row])).row(0, named=True)
    assert m["symmetry_mouth"] == pytest.approx(75.0)


@pytest.mark.parametrize(
    ("asym", "weaker", "expected"),
    [
        # three regions vote left above the floor, one right
        ({r: 0.2 for r in REGIONS}, {"brow": "left", "eye": "left", "cheek": "left", "mouth": "right"}, "left"),
        # the two "left" regions differ by 0.005 IOD < floor 0.01: only mouth votes
        ({"brow": 0.01, "eye": 0.01, "mouth": 0.2}, {"brow": "left", "eye": "left", "mouth": "right"}, "right"),
        # tie 1:1 broken by the larger |L-R| (mouth 0.2 vs brow 0.05 of L=0.5)
        ({"brow": 0.1, "mouth": 0.4}, {"brow": "left", "mouth": "right"}, "right"),
        ({"brow": 0.4, "mouth": 0.1}, {"brow": "left", "mouth": "right"}, "left"),
        # nobody names a side
        ({"brow": 0.4}, {}, None),
    ],
)
def test_overall_weaker_side_vote(asym, weaker, expected):
    m = session_measures(table([session_row(asym=asym, weaker=weaker)]), ScoreParams(noise_floor_iod=0.01))
    assert m["weaker_side"][0] == expected


def test_noise_floor_parameter_changes_the_vote():
    t = table([session_row(asym={"brow": 0.1, "mouth": 0.1}, weaker={"brow": "left", "mouth": "left"})])
    assert session_measures(t, ScoreParams(noise_floor_iod=0.01))["weaker_side"][0] == "left"
    # |L-R| = 0.05 IOD: a floor of 0.1 silences both votes
    assert session_measures(t, ScoreParams(noise_floor_iod=0.1))["weaker_side"][0] is None


def test_mouth_excursion_optional():
    base = session_row(asym={"mouth": 0.1})
    assert "symmetry_mouth_excursion" not in session_measures(table([base])).columns
    row = dict(base, mouth_excursion_left=0.2, mouth_excursion_right=0.3, mouth_excursion_asym=None)
    m = session_measures(table([row])).row(0, named=True)
    assert m["symmetry_mouth_excursion"] == pytest.approx(100 * (1 - 0.1 / 0.3))
    assert m["weaker_mouth_excursion"] == "left"  # smaller excursion
    # movement has its own floor: a 0.006 IOD difference names a side at the default
    # (0.005), not under a rest-position floor of 0.01, and not when that floor is raised
    small = dict(base, mouth_excursion_left=0.020, mouth_excursion_right=0.026, mouth_excursion_asym=None)
    assert session_measures(table([small])).row(0, named=True)["weaker_mouth_excursion"] == "left"
    raised = ScoreParams(movement_noise_floor_iod=0.01)
    assert session_measures(table([small]), raised).row(0, named=True)["weaker_mouth_excursion"] is None


def test_missing_measures_give_nulls_not_errors():
    # ids only: every measure column absent
    t = pl.DataFrame({"site": ["a"], "subject": ["s"], "session": ["20240105"]})
    m = session_measures(t)
    assert m["session_date"][0] == dt.date(2024, 1, 5)
    assert m["symmetry_index"][0] is None and m["weaker_side"][0] is None
    normative = NormativeModel(min_samples=3).fit(
        pl.DataFrame({"symmetry_mouth": [90.0, 95.0, 99.0, 97.0], "speech_rate_hz": [4.0, 5.0, 4.5, 5.5]})
    )
    scores = score_sessions(m, normative, ScoreParams(), "3")
    assert scores["value"].null_count() == scores.height
    assert scores["z"].null_count() == scores.height
    assert scores["percentile"].null_count() == scores.height
    # NaN values in the session table are treated as missing too
    row = session_row(asym={"mouth": 0.2})
    row["brow_asym"] = float("nan")
    m2 = session_measures(table([row]))
    assert m2["symmetry_brow"][0] is None
    assert m2["symmetry_index"][0] == pytest.approx(80.0)


def test_score_table_has_exact_schema_and_one_row_per_session_measure():
    t = table([session_row("s1", "20240101", asym={"mouth": 0.2}), session_row("s2", "20240101", asym={"eye": 0.1})])
    scores = score_sessions(session_measures(t), None, ScoreParams(), None)
    assert list(scores.columns) == list(SCORE_SCHEMA)
    assert dict(scores.schema) == SCORE_SCHEMA
    assert scores.height == 2 * len(MEASURE_INFO.keys() - {"symmetry_mouth_excursion"})
    assert scores.select(pl.struct("subject", "measure").is_duplicated().any()).item() is False
    # no model -> no z, percentile, version
    assert scores["z"].null_count() == scores.height
    assert scores["model_version"].null_count() == scores.height
    mouth = scores.filter((pl.col("subject") == "s1") & (pl.col("measure") == "symmetry_mouth")).row(0, named=True)
    assert mouth["value"] == pytest.approx(80.0) and mouth["region"] == "mouth" and mouth["unit"] == "0-100"


def test_empty_table_gives_empty_schema():
    scores = score_sessions(session_measures(table([session_row()]).clear()), None, ScoreParams(), None)
    assert scores.height == 0 and dict(scores.schema) == SCORE_SCHEMA


def test_z_and_percentile_from_model_and_null_for_unmodelled_measures():
    rng = np.random.default_rng(1)
    healthy = pl.DataFrame({"symmetry_mouth": rng.normal(95.0, 2.0, 400)})
    model = NormativeModel(min_samples=10).fit(healthy)
    loc, scale = model.location_[0], model.scale_[0]
    t = table([session_row(asym={"mouth": 0.15, "eye": 0.1})])
    scores = score_sessions(session_measures(t), model, ScoreParams(), "7")
    mouth = scores.filter(pl.col("measure") == "symmetry_mouth").row(0, named=True)
    assert mouth["z"] == pytest.approx((85.0 - loc) / scale)
    # the model's small-sample percentile (Crawford & Howell), not a bare normal CDF of z
    assert mouth["percentile"] == pytest.approx(model.percentile(np.array([[85.0]]))[0, 0])
    assert mouth["percentile"] > 100 * norm.cdf((85.0 - loc) / scale)
    assert mouth["model_version"] == "7"
    eye = scores.filter(pl.col("measure") == "symmetry_eye").row(0, named=True)
    assert eye["value"] == pytest.approx(90.0)
    assert eye["z"] is None and eye["percentile"] is None


def test_more_asymmetry_means_lower_symmetry_and_percentile():
    rng = np.random.default_rng(2)
    healthy = pl.DataFrame(
        {f"symmetry_{r}": 100 * (1 - np.abs(rng.normal(0.0, 0.05, 200))) for r in REGIONS}
    ).with_columns(pl.mean_horizontal([f"symmetry_{r}" for r in REGIONS]).alias("symmetry_index"))
    model = NormativeModel(min_samples=10).fit(healthy)
    levels = [0.0, 0.05, 0.1, 0.2, 0.4, 0.8]
    rows = [session_row(f"s{i}", asym={r: a for r in REGIONS}) for i, a in enumerate(levels)]
    scores = score_sessions(session_measures(table(rows)), model, ScoreParams(), "1")
    for measure in ["symmetry_mouth", "symmetry_index"]:
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
    scores = score_sessions(session_measures(table(rows)), None, ScoreParams(), None)
    got = {
        (r["subject"], r["session"]): r["change_since_first"]
        for r in scores.filter(pl.col("measure") == "symmetry_mouth").iter_rows(named=True)
    }
    assert got[("s1", "20240101")] == pytest.approx(0.0)
    assert got[("s1", "20240201")] == pytest.approx(80.0 - 60.0)
    assert got[("s1", "20240301")] == pytest.approx(90.0 - 60.0)
    assert got[("s2", "20231201")] == pytest.approx(0.0)
    assert got[("s3", "20240101")] is None and got[("s3", "20240201")] is None
    # same subject label at another site is another person
    other = session_row("s1", "20230101", asym={"mouth": 0.9}, site="siteB")
    scores2 = score_sessions(session_measures(table(rows + [other])), None, ScoreParams(), None)
    s1a = scores2.filter(
        (pl.col("site") == "siteA") & (pl.col("subject") == "s1") & (pl.col("measure") == "symmetry_mouth")
    )
    assert s1a.filter(pl.col("session") == "20240101")["change_since_first"][0] == pytest.approx(0.0)


def test_weaker_side_per_measure_in_scores():
    t = table([session_row(asym={"mouth": 0.3, "eye": 0.3}, weaker={"mouth": "left", "eye": "left"})])
    scores = score_sessions(session_measures(t), None, ScoreParams(), None)
    by = {r["measure"]: r["weaker_side"] for r in scores.iter_rows(named=True)}
    assert by["symmetry_mouth"] == "left" and by["symmetry_index"] == "left"
    assert by["symmetry_brow"] is None and by["speech_f0_median_hz"] is None


def test_duplicate_sessions_rejected():
    with pytest.raises(ValueError, match="more than one row"):
        session_measures(table([session_row(), session_row()]))


def test_measure_info_is_consistent():
    for m, (region, unit, better) in MEASURE_INFO.items():
        assert region in (*REGIONS, "overall", "speech"), m
        assert isinstance(unit, str) and unit
        assert better in (True, False, None)
    assert MEASURE_INFO['symmetry_index'][0] == 'overall'


def test_movement_weakness_lowers_the_index_and_names_the_side_that_moved_less():
    rest = {r: 0.02 for r in REGIONS}
    rest_weaker = {r: "right" for r in REGIONS}  # a slight resting asymmetry to the right
    rows = []
    for i, (exc_l, exc_r) in enumerate([(0.07, 0.07), (0.05, 0.07), (0.02, 0.07)]):
        rows.append(
            session_row(
                f"s{i}", asym=rest, weaker=rest_weaker,
                mouth_excursion_left=exc_l, mouth_excursion_right=exc_r,
                mouth_excursion_asym=abs(exc_l - exc_r) / max(exc_l, exc_r),
            )
        )
    m = session_measures(table(rows)).sort("subject")
    assert m["symmetry_rest"].to_list() == pytest.approx([98.0] * 3)
    # rest is unchanged, so the index falls only because movement does
    assert m["symmetry_movement"].to_list() == pytest.approx([100.0, 100 * (1 - 2 / 7), 100 * (1 - 5 / 7)])
    idx = m["symmetry_index"].to_list()
    assert idx[0] > idx[1] > idx[2]
    assert idx[2] == pytest.approx((98.0 + 100 * (1 - 5 / 7)) / 2)
    # the side that moves less is the weaker side, over the resting vote
    assert m["weaker_side"].to_list() == ["right", "left", "left"]


def test_session_measures_on_a_real_shaped_session_table():
    """The features stage's session table (every measure column) goes through scoring."""
    from palsyflow.features.table import SESSION_TABLE_SCHEMA

    row = {c: None for c in SESSION_TABLE_SCHEMA}
    row.update(site="a", subject="s1", session="20240101", session_date=dt.date(2024, 1, 1), healthy=True, simulated=False)
    for r in REGIONS:
        row.update({f"{r}_left": 0.5, f"{r}_right": 0.45, f"{r}_asym": 0.1, f"{r}_weaker": "right"})
    row.update(hb_measure_weaker="left", eface_dynamic=60.0)
    t = pl.DataFrame([row], schema=SESSION_TABLE_SCHEMA)
    m = session_measures(t).row(0, named=True)
    assert m["symmetry_movement"] == pytest.approx(60.0)
    assert m["symmetry_index"] == pytest.approx((90.0 + 60.0) / 2)
    assert m["weaker_side"] == "left"  # the photo tasks' House-Brackmann side, over the resting vote
