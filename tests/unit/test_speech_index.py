"""The dysarthria index and its healthy reference: known answers on constructed components."""

from __future__ import annotations

import math

import pytest

from palsyflow.speech.index import Z_MAX, component_severity, dysarthria_index, dysarthria_index_detail
from palsyflow.speech.reference import (
    COMPONENTS,
    DIRECTIONS,
    HEALTHY_REFERENCE,
    LITERATURE_REFERENCE,
    MEASURED_HERE,
    SD_FLOOR,
    Ref,
    combined_reference,
    measured_reference,
)

REF = HEALTHY_REFERENCE


def _at_mean() -> dict[str, float]:
    return {k: r.mean for k, r in REF.items()}


def _shifted(n_sd: float) -> dict[str, float]:
    """Every component moved n_sd SD toward impairment."""
    out = {}
    for k, r in REF.items():
        sign = 1.0 if r.direction == "higher_is_worse" else -1.0
        out[k] = r.mean + sign * n_sd * r.sd
    return out


def test_every_reference_names_a_component_with_its_direction_and_a_source():
    assert set(LITERATURE_REFERENCE) <= set(COMPONENTS) and set(MEASURED_HERE) <= set(COMPONENTS)
    for table, kind in ((LITERATURE_REFERENCE, "literature"), (MEASURED_HERE, "measured")):
        for name, ref in table.items():
            assert ref.direction == DIRECTIONS[name]
            assert ref.sd > 0 and ref.source and ref.kind == kind
    # the default: measured here where it exists, the literature otherwise
    assert all(HEALTHY_REFERENCE[k] is v for k, v in MEASURED_HERE.items())
    assert all(HEALTHY_REFERENCE[k] is v for k, v in LITERATURE_REFERENCE.items() if k not in MEASURED_HERE)


def test_healthy_values_give_zero_and_worse_values_give_more():
    assert dysarthria_index(_at_mean()) == pytest.approx(0.0)
    values = [dysarthria_index(_shifted(k)) for k in (0.0, 1.0, 2.0, 3.0, 4.0, 6.0)]
    assert values[0] == pytest.approx(0.0)
    assert all(b > a for a, b in zip(values[:5], values[1:5]))
    # k SD toward impairment: every component has severity k / Z_MAX, saturating at 1
    assert values[2] == pytest.approx(100 * 2.0 / Z_MAX)
    assert values[4] == pytest.approx(100.0) and values[5] == pytest.approx(100.0)


def test_direction_matters_better_than_healthy_adds_nothing():
    better = _shifted(-3.0)  # every component 3 SD on the healthy side
    assert dysarthria_index(better) == pytest.approx(0.0)
    hnr = REF["speech_hnr_db"]
    z_low, s_low = component_severity(hnr.mean - 2 * hnr.sd, hnr)
    z_high, s_high = component_severity(hnr.mean + 2 * hnr.sd, hnr)
    assert z_low == pytest.approx(2.0) and s_low == pytest.approx(0.5)
    assert z_high == pytest.approx(-2.0) and s_high == 0.0
    jit = REF["speech_jitter_local_pct"]
    assert component_severity(jit.mean + 2 * jit.sd, jit)[1] == pytest.approx(0.5)
    assert component_severity(jit.mean - 2 * jit.sd, jit)[1] == 0.0


def test_missing_components_are_left_out_and_too_few_give_none():
    comps = _shifted(2.0)
    names = list(comps)
    for name in names[:-3]:
        comps[name] = None
    comps[names[-3]] = math.nan
    detail = dysarthria_index_detail(comps)  # two valid left
    assert detail.value is None
    assert set(detail.used) == set(names[-2:])
    assert set(detail.missing) == set(names[:-2])
    assert dysarthria_index(comps, min_valid=2) == pytest.approx(50.0)
    # a measure without a reference is ignored, not counted as missing
    extra = {**_shifted(1.0), "speech_vowel_f0_mean_hz": 120.0}
    d = dysarthria_index_detail(extra)
    assert "speech_vowel_f0_mean_hz" not in d.used + d.missing
    assert d.value == pytest.approx(25.0)


def test_one_impaired_component_among_healthy_ones_is_averaged():
    comps = _at_mean()
    comps["speech_pause_ratio"] = None  # missing: left out of the mean
    worst = "speech_ddk_pataka_rate_syl_s"
    r = REF[worst]
    comps[worst] = r.mean - Z_MAX * r.sd
    assert dysarthria_index(comps) == pytest.approx(100.0 / (len(REF) - 1))


def test_measured_reference_is_mean_and_sample_sd_and_preferred_when_enough():
    rows = [{"speech_hnr_db": v, "speech_clarity": c} for v, c in ((18.0, 90.0), (20.0, 100.0), (22.0, None))]
    rows.append({"speech_hnr_db": None})
    m = measured_reference(rows, min_n=3)
    assert set(m) == {"speech_hnr_db"}  # clarity has only 2 values
    assert m["speech_hnr_db"].mean == pytest.approx(20.0)
    assert m["speech_hnr_db"].sd == pytest.approx(2.0)
    assert m["speech_hnr_db"].kind == "measured" and m["speech_hnr_db"].n == 3
    assert measured_reference(rows, min_n=2)["speech_clarity"].direction == "lower_is_worse"
    comb = combined_reference(m)
    assert comb["speech_hnr_db"].kind == "measured"
    assert comb["speech_jitter_local_pct"].kind == "literature"
    d = dysarthria_index_detail({"speech_hnr_db": 16.0, "speech_jitter_local_pct": 0.5, "speech_cpps_db": 16.2}, comb)
    assert d.reference_kind["speech_hnr_db"] == "measured"
    assert d.z["speech_hnr_db"] == pytest.approx(2.0)
    with pytest.raises(ValueError):
        measured_reference(rows, components=["speech_vowel_f0_mean_hz"])


def test_measured_reference_floors_a_zero_spread():
    rows = [{"speech_clarity": 100.0, "speech_f0_sd_st": 2.0}] * 4
    m = measured_reference(rows)
    assert m["speech_clarity"].sd == SD_FLOOR["speech_clarity"] and "floor" in m["speech_clarity"].source
    assert "speech_f0_sd_st" not in m  # no spread, no floor
    assert "speech_clarity" not in measured_reference(rows, sd_floor={})


def test_bad_arguments_raise():
    ref = Ref(1.0, 0.0, "higher_is_worse", None, "x")
    with pytest.raises(ValueError):
        component_severity(1.0, ref)
    with pytest.raises(ValueError):
        dysarthria_index(_at_mean(), min_valid=0)
    with pytest.raises(ValueError):
        dysarthria_index(_at_mean(), z_max=1.0, z_free=2.0)
