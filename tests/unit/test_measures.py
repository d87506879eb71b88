"""The measures package: one asymmetry/weaker-side definition, the registry, its place in the layers."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from palsyflow.measures import registry as R
from palsyflow.measures.asymmetry import asymmetry, asymmetry_expr, weaker_side, weaker_side_expr

SRC = Path(__file__).resolve().parents[2] / "src" / "palsyflow"


def _random_pairs(n: int = 2000, seed: int = 0) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    pool = np.concatenate([rng.normal(0.0, 1.0, n), rng.uniform(0.0, 0.02, n)])
    specials = [0.0, -0.0, None, float("nan"), 1e-12, -1e-12]

    def draw():
        u = rng.uniform()
        if u < 0.25:
            return specials[rng.integers(len(specials))]
        return float(pool[rng.integers(pool.size)])

    left = [draw() for _ in range(n)]
    right = [draw() if rng.uniform() < 0.8 else left[i] for i in range(n)]  # some exact ties
    return left, right


def test_scalar_and_polars_asymmetry_agree_including_zeros_nulls_and_nan():
    left, right = _random_pairs()
    df = pl.DataFrame({"l": left, "r": right}, schema={"l": pl.Float64, "r": pl.Float64}, strict=False)
    got = df.select(asymmetry_expr("l", "r").alias("a"))["a"].to_list()
    want = [asymmetry(a, b) for a, b in zip(left, right, strict=True)]
    assert sum(w == 0.0 for w in want) > 10 and sum(w is None for w in want) > 100  # the cases are there
    for g, w, a, b in zip(got, want, left, right, strict=True):
        if w is None:
            assert g is None, (a, b, g)
        else:
            assert g is not None and math.isclose(g, w, rel_tol=0, abs_tol=1e-15), (a, b, g, w)


@pytest.mark.parametrize("direction", ["smaller", "larger"])
@pytest.mark.parametrize(("min_asym", "min_diff"), [(0.0, 0.0), (0.1, 0.0), (0.0, 0.01), (0.05, 0.005)])
def test_scalar_and_polars_weaker_side_agree(direction, min_asym, min_diff):
    left, right = _random_pairs(seed=1)
    df = pl.DataFrame({"l": left, "r": right}, schema={"l": pl.Float64, "r": pl.Float64}, strict=False)
    got = df.select(weaker_side_expr(direction, "l", "r", min_asym, min_diff).alias("w"))["w"].to_list()
    want = [weaker_side(direction, a, b, min_asym, min_diff) for a, b in zip(left, right, strict=True)]
    assert got == want
    assert {"left", "right", None} <= set(want)


def test_weaker_side_rule_and_both_zero():
    assert asymmetry(0.0, 0.0) == 0.0  # two zeros are symmetric, in every form
    assert weaker_side("smaller", 0.0, 0.0) is None
    assert weaker_side("smaller", 0.02, 0.026) == "left"
    assert weaker_side("smaller", 0.02, 0.026, min_diff=0.006) is None  # |L-R| = 0.006 is not above it
    assert weaker_side("larger", 0.5, 0.4, min_asym=0.25) is None  # asym 0.2
    with pytest.raises(ValueError):
        weaker_side("lower", 1.0, 2.0)  # type: ignore[arg-type]


def test_registry_names_units_and_families():
    for table in (R.FEATURE_MEASURES, R.SCORE_MEASURES):
        names = [m.name for m in table]
        assert len(names) == len(set(names))
        for m in table:
            assert m.unit in R.UNITS, m
            assert m.side in (None, "left", "right")
            assert m.description
            assert (m.side is not None) == (m.name.endswith("_left") or m.name.endswith("_right")), m
    used = {m.unit for m in (*R.FEATURE_MEASURES, *R.SCORE_MEASURES)}
    assert used == set(R.UNITS), "a unit of the vocabulary is unused, or a measure's unit is missing"
    assert R.REGIONS == tuple(R.REST_FAMILY_OF_REGION)
    for fam in R.REST_FAMILIES:
        assert fam.unit == "iod_iris" and fam.name.startswith("rest_")
    for fam in R.MOVEMENT_FAMILIES:
        assert fam.unit == "iod_canthal" and fam.name.startswith("mov_") and fam.weaker == "smaller"
    for m in R.SCORE_MEASURES:
        if m.name.endswith("_symmetry") and m.kind == "score" and m.family in R.FAMILIES:
            assert f"{m.family}_asym" in R.FEATURE_BY_NAME
    assert all("doi:" in m.source for m in R.FEATURE_MEASURES if m.kind in ("rest", "parra", "speech") and m.name.endswith("_left"))


def _imports(path: Path) -> set[str]:
    """Every palsyflow module a file imports, at module level or inside functions."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("palsyflow"):
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("palsyflow"))
    return out


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("measures", ("features", "models", "scoring", "reports", "validation", "landmarks", "ingest", "stages")),
        ("models", ("scoring", "reports", "features", "stages")),
        ("reports", ("scoring", "models", "features", "stages")),
    ],
)
def test_measures_sit_below_features_models_scoring_and_reports(package, forbidden):
    for path in (SRC / package).glob("*.py"):
        for mod in _imports(path):
            parts = mod.split(".")
            assert len(parts) < 2 or parts[1] not in forbidden, f"{path.name} imports {mod}"


def test_asymmetry_and_regions_are_defined_once():
    """No other module re-implements the ratio or re-lists the regions."""
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.parent.name == "measures":
            continue
        text = path.read_text(encoding="utf-8")
        if '("brow", "eye", "cheek", "mouth")' in text or "def asymmetry(" in text or "def weaker_side(" in text:
            offenders.append(str(path.relative_to(SRC)))
    assert offenders == []
