"""The bad-input corpus through one nightly run: every bad item refused, every good one measured.

Every ``tests/corpus/kinds_*.py`` contributes kinds of upload (:class:`tests.corpus.base.Kind`),
each built from real files of ``../shared/data``. They go into one clinic drop (kinds that
break the manifest itself get a drop and a site of their own), the nightly flow runs twice
as ``make demo`` runs it, and then:

* every row of a ``refused`` kind is refused with one reason that names its file, its
  manifest line and the rule it broke, and ``palsyflow status --json`` lists that refusal
  once;
* every row of a ``measured`` kind reaches the feature table;
* the second run changes nothing that the first stored (raw files, store rows, outputs).
"""

from __future__ import annotations

import csv
import importlib
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from palsyflow.config import IngestParams
from palsyflow.ingest.tasks import canonical_task
from tests.corpus.base import Kind, Sources

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SITE = "corpus"
COLUMNS = ["subject", "session_date", "task", "file", "hb_grade", "healthy", "simulated"]


def all_kinds() -> list[Kind]:
    kinds: list[Kind] = []
    for path in sorted((ROOT / "tests" / "corpus").glob("kinds_*.py")):
        kinds += importlib.import_module(f"tests.corpus.{path.stem}").KINDS
    names = [k.name for k in kinds]
    assert len(names) == len(set(names)), "corpus kind names must be unique"
    return kinds


def _write_manifest(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="raise")
        w.writeheader()
        for row in rows:
            w.writerow({c: row.get(c, "") for c in COLUMNS})


def _build(root: Path, sources: Sources) -> tuple[dict[str, list[tuple[int, dict]]], dict[str, str]]:
    """The drops; returns kind -> [(manifest line, row)] and kind -> its own site."""
    drops = root / "drops"
    main = drops / SITE
    main.mkdir(parents=True)
    rows_of: dict[str, list[tuple[int, dict]]] = {}
    site_of: dict[str, str] = {}
    manifest: list[dict] = []
    for i, kind in enumerate(all_kinds()):
        if kind.own_drop:
            site = f"m{i:02d}"
            (drops / site).mkdir()
            assert kind.build(drops / site, sources) == [], kind.name
            site_of[kind.name] = site
            continue
        rows = kind.build(main, sources)
        assert rows, f"{kind.name} built no manifest row"
        rows_of[kind.name] = [(len(manifest) + j + 2, r) for j, r in enumerate(rows)]  # header is line 1
        manifest += rows
    _write_manifest(main / "manifest.csv", manifest)
    params = {
        "paths": {"drops": "drops", "data": "data", "face_model": str(ROOT / "models" / "face_landmarker.task")},
        "executor": {"kind": "process", "workers": 2},
        "landmarks": {"tta_copies": 2},
        "train": {"min_healthy_sessions": 2},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return rows_of, site_of


def _status(root: Path) -> dict:
    out = subprocess.run(
        [str(Path(sys.executable).with_name("palsyflow")), "status", "--json"], cwd=root, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, shared_data, face_model):
    from flows.nightly import nightly

    root = tmp_path_factory.mktemp("corpus") / "project"
    root.mkdir()
    rows_of, site_of = _build(root, Sources.from_shared(shared_data))
    nightly(root=str(root), dvc_commit=False)
    first_raw = {p.relative_to(root): p.read_bytes() for p in (root / "data" / "raw").rglob("*") if p.is_file() and p.suffix != ".parquet"}
    first_status = _status(root)
    nightly(root=str(root), dvc_commit=False)
    return root, rows_of, site_of, first_raw, first_status


def _kinds(expect: str, own_drop: bool = False) -> list[str]:
    return [k.name for k in all_kinds() if k.expect == expect and k.own_drop == own_drop]


def test_the_corpus_has_at_least_30_kinds():
    assert len([k for k in all_kinds() if k.expect == "refused"]) >= 30


@pytest.mark.parametrize("name", _kinds("refused"))
def test_bad_item_is_refused_with_file_line_and_rule(corpus, name):
    from palsyflow.project import Project
    from palsyflow.pseudonym import keyed_name

    root, rows_of, _, _, status = corpus
    secret = Project.load(root).secret
    kind = next(k for k in all_kinds() if k.name == name)
    for line, row in rows_of[name]:
        # the file is named by its manifest line and its keyed hash; the original name is never shown (issue 13)
        shown = keyed_name(secret, Path(row["file"]).name)
        hits = [
            f for f in status["failures"]
            if f.get("site") == SITE and f"line {line}" in f["reason"] and shown in f["reason"]
        ]
        assert hits, f"{name}: no refusal naming line {line} and {shown} ({row['file']}): {status['failures']}"
        if len(Path(row["file"]).stem) > 6:  # long enough not to occur by chance in a sentence
            assert not any(Path(row["file"]).name in f["reason"] for f in hits), hits
        assert any(kind.rule.lower() in f["reason"].lower() for f in hits), (name, kind.rule, hits)


@pytest.mark.parametrize("name", _kinds("refused", own_drop=True))
def test_bad_manifest_is_refused_with_the_rule(corpus, name):
    _, _, site_of, _, status = corpus
    kind = next(k for k in all_kinds() if k.name == name)
    hits = [f for f in status["failures"] if f.get("site") == site_of[name]]
    assert hits, f"{name}: nothing refused for site {site_of[name]}"
    assert any(kind.rule.lower() in f["reason"].lower() and "manifest.csv" in f["reason"] for f in hits), hits


@pytest.mark.parametrize("name", _kinds("measured"))
def test_good_item_is_measured(corpus, name):
    root, rows_of, _, _, _ = corpus
    table = pl.read_parquet(root / "data" / "features" / "features.parquet")
    aliases = IngestParams().task_aliases
    for _, row in rows_of[name]:
        session = row["session_date"].replace("-", "")
        task = canonical_task(row["task"], aliases)
        got = table.filter((pl.col("subject") == row["subject"]) & (pl.col("session") == session) & (pl.col("task") == task))
        assert got.height == 1, f"{name}: {row} not in the feature table"


def test_status_lists_each_refusal_once(corpus):
    root, *_ = corpus
    failures = _status(root)["failures"]
    keys = [(f.get("site"), f.get("file"), f["reason"]) for f in failures]
    assert len(keys) == len(set(keys)), [k for k in keys if keys.count(k) > 1]


def test_second_run_loses_and_changes_nothing(corpus):
    root, _, _, first_raw, first_status = corpus
    raw = {p.relative_to(root): p.read_bytes() for p in (root / "data" / "raw").rglob("*") if p.is_file() and p.suffix != ".parquet"}
    assert raw == first_raw
    assert _status(root)["sites"] == first_status["sites"]
