"""The catalog (palsyflow.stages.catalog) and dvc.yaml declare the same pipeline.

``dvc.yaml`` is parsed and, for every stage, its ``deps``, ``outs`` (with ``persist``),
``metrics`` and ``params`` are compared with the catalog's :class:`StageSpec`: a path,
parameter or code dependency present on one side only fails the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from palsyflow.config import PathParams, load_params
from palsyflow.models import training
from palsyflow.paths import RecordingPath
from palsyflow.stages.catalog import DATASETS, ROOTS, SOURCE_DIR, STAGE_SPECS, Catalog

ROOT = Path(__file__).resolve().parents[2]


def _entries(items) -> dict[str, dict]:
    """dvc.yaml list entries (``path`` or ``{path: {flags}}``) -> {path: flags}."""
    out: dict[str, dict] = {}
    for item in items or []:
        if isinstance(item, str):
            out[item] = {}
        else:
            ((path, flags),) = item.items()
            out[path] = dict(flags or {})
    return out


@pytest.fixture(scope="module")
def dvc_stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog(ROOT, load_params(ROOT / "params.yaml").paths)


def test_dvc_has_exactly_the_catalog_stages_in_order(dvc_stages):
    assert list(dvc_stages) == list(STAGE_SPECS)


@pytest.mark.parametrize("name", list(STAGE_SPECS))
def test_stage_matches_dvc_yaml(name, dvc_stages, catalog):
    spec, dvc = STAGE_SPECS[name], dvc_stages[name]
    assert dvc["cmd"] == f"python -m pipelines.{name}"

    deps = {catalog.relative(i) for i in spec.inputs} | set(spec.code_paths)
    assert set(dvc.get("deps", [])) == deps, "deps differ (dvc.yaml vs catalog)"

    outs = {catalog.relative(o): DATASETS[o].persist for o in spec.outputs}
    got = {p: bool(flags.get("persist", False)) for p, flags in _entries(dvc.get("outs")).items()}
    assert got == outs, "outs or their persist flags differ"

    metrics = _entries(dvc.get("metrics"))
    assert set(metrics) == {catalog.relative(m) for m in spec.metrics}
    assert all(flags.get("cache") is False for flags in metrics.values())

    assert set(dvc.get("params", [])) == set(spec.params)


@pytest.mark.parametrize("name", list(STAGE_SPECS))
def test_code_deps_exist_and_include_the_stage_module(name):
    spec = STAGE_SPECS[name]
    for path in spec.code_paths:
        assert (ROOT / path).exists(), path
    assert f"stages/{name}.py" in spec.code


def test_stage_params_name_real_sections_and_keys():
    params = load_params(ROOT / "params.yaml")
    for spec in STAGE_SPECS.values():
        for entry in spec.params:
            section, _, key = entry.partition(".")
            obj = getattr(params, "validate_" if section == "validate" else section)
            if key:
                assert key in type(obj).model_fields, entry


def test_every_dataset_is_named_by_a_stage_or_lies_in_one():
    cat = Catalog(ROOT, PathParams())
    named = {cat.relative(n) for s in STAGE_SPECS.values() for n in (*s.inputs, *s.outputs, *s.metrics, *s.untracked)}
    for name in DATASETS:
        rel = cat.relative(name)
        assert any(rel == n or rel.startswith(n + "/") for n in named), f"{name} ({rel}) belongs to no stage"
    assert {d.root for d in DATASETS.values()} <= set(ROOTS)


def test_catalog_names_the_files_the_training_module_writes():
    assert DATASETS["normative_model"].relative == training.NORMATIVE_FILE
    assert DATASETS["models_summary"].relative == training.METRICS_FILE


def test_catalog_follows_params_paths(tmp_path):
    paths = PathParams(data=tmp_path / "elsewhere", models=Path("fitted"), drops=Path("in"))
    cat = Catalog(tmp_path / "project", paths)
    assert cat.registry == tmp_path / "elsewhere" / "raw" / "recordings.parquet"
    assert cat.path("normative_model") == tmp_path / "project" / "fitted" / "normative.json"
    assert cat.drops == tmp_path / "project" / "in"
    rp = RecordingPath.from_task("north", "N01", "20260114", "brow_raise")
    files = cat.landmark_files(rp)
    assert files.points == cat.landmarks / "site-north/sub-N01/ses-20260114/sub-N01_ses-20260114_task-browraise_landmarks.parquet"
    assert files.stamp.name == "sub-N01_ses-20260114_task-browraise_landmarks.json"
    assert cat.feature_cache(rp).parent == tmp_path / "elsewhere" / "derivatives" / "features" / rp.session_dir
    assert cat.data_relative(cat.in_data("raw/x.mp4")) == "raw/x.mp4"


def test_session_report_names_carry_pseudonymous_ids_only(tmp_path):
    pdf = Catalog(tmp_path, PathParams()).session_report("north", "N01", "20260114")
    assert pdf == tmp_path / "data/reports/site-north/sub-N01/site-north_sub-N01_ses-20260114_report.pdf"


def test_source_dir_is_the_package():
    import palsyflow

    assert Path(palsyflow.__file__).resolve().parent == (ROOT / SOURCE_DIR).resolve()
