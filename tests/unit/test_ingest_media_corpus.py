"""The files-area corpus kinds (tests/corpus/kinds_files.py) through the ingest stage.

One drop holds every kind; :func:`palsyflow.stages.ingest_drop` runs on it with a real
store (SQLite). Each refused kind must be quarantined with a reason naming its file, its
manifest line and its rule, and a link's target must never reach the quarantine; each
``measured`` kind must enter the raw tree as a photo. The slow test then runs landmarks
and features and checks every ``measured`` row reaches the feature table.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from tests.corpus.base import Sources
from tests.corpus.kinds_files import KINDS

SITE = "FILES"


@pytest.fixture(scope="module")
def corpus_project(tmp_path_factory, shared_data: Path, face_model: Path):
    """A project whose one drop holds every kind of the files area; returns (root, rows by line)."""
    root = tmp_path_factory.mktemp("files_corpus")
    drop = root / "drops" / SITE
    drop.mkdir(parents=True)
    sources = Sources.from_shared(shared_data)
    rows: list[dict] = []
    for kind in KINDS:
        for row in kind.build(drop, sources):
            rows.append({**row, "_kind": kind.name})
    with open(drop / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["subject", "session_date", "task", "file"])
        w.writeheader()
        for r in rows:
            w.writerow({k: v for k, v in r.items() if not k.startswith("_")})
    params = {
        "paths": {"drops": "drops", "data": "data", "face_model": str(face_model)},
        "executor": {"kind": "serial"},
        "landmarks": {"tta_copies": 1},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root, {i + 2: r for i, r in enumerate(rows)}


@pytest.fixture(scope="module")
def ingested(corpus_project):
    from palsyflow import stages
    from palsyflow.project import Project

    root, by_line = corpus_project
    project = Project.load(root)
    result = stages.ingest(project, [SITE])
    return project, by_line, result


def test_at_least_one_kind_per_defect() -> None:
    names = {k.name for k in KINDS}
    assert len(names) == len(KINDS) >= 16
    refused = {k.name for k in KINDS if k.expect == "refused"}
    assert {"files-symlink-to-etc-passwd", "files-fifo", "files-truncated-mpg", "files-10-frames-over-9000-s"} <= refused
    assert all(k.rule for k in KINDS if k.expect == "refused")


def test_every_refused_kind_is_quarantined_with_file_line_and_rule(ingested) -> None:
    project, by_line, result = ingested
    reasons = [f["reason"] for f in result.failures]
    expected = {k.name: k for k in KINDS}
    for line, row in by_line.items():
        kind = expected[row["_kind"]]
        if kind.expect != "refused":
            continue
        mine = [r for r in reasons if f"manifest.csv line {line}: " in r]
        assert len(mine) == 1, (kind.name, reasons)
        from palsyflow.pseudonym import keyed_name

        # the original name is never shown (issue 13): the file part becomes its keyed hash, a folder stays
        folder, _, base = row["file"].rpartition("/")
        shown = (folder + "/" if folder else "") + keyed_name(project.secret, base)
        assert mine[0].startswith(f"manifest.csv line {line}: {shown}: ") and kind.rule.lower() in mine[0].lower(), (kind.name, mine[0])
        assert base not in mine[0], mine[0]
    assert result.failed == sum(1 for r in by_line.values() if expected[r["_kind"]].expect == "refused")


def test_link_targets_never_reach_the_quarantine(ingested) -> None:
    from palsyflow.stages.catalog import Catalog

    project, _, _ = ingested
    qdir = Catalog.of(project).quarantine / f"site-{SITE}"
    passwd = Path("/etc/passwd").read_bytes()
    copies = [p for p in qdir.iterdir() if not p.name.endswith(".reason.json")]
    assert not any(p.read_bytes() == passwd for p in copies)
    assert not any(p.name.endswith(("files-symlink-passwd.mp4", "files-symlink-video.mpg", "files-fifo.mp4")) for p in copies)
    sidecars = [json.loads(p.read_text()) for p in qdir.glob("*.reason.json")]
    from palsyflow.pseudonym import keyed_name

    assert any(s["file"] == keyed_name(project.secret, "files-symlink-passwd.mp4") and s["sha256"] is None for s in sidecars)


def test_measured_kinds_enter_the_raw_tree_as_photos(ingested) -> None:
    from palsyflow import stages

    project, by_line, _ = ingested
    registry = stages.read_registry(project, [SITE])
    measured = {r["subject"] for r in by_line.values() if next(k for k in KINDS if k.name == r["_kind"]).expect == "measured"}
    got = registry.filter(pl.col("subject").is_in(list(measured)))
    assert set(got["subject"]) == measured
    assert set(got["kind"]) == {"photo"}
    png_named_mp4 = got.filter(pl.col("subject") == "FPNGMP4")["raw_path"].item()
    assert png_named_mp4.endswith("_photo.png")


@pytest.mark.slow
def test_measured_kinds_reach_the_feature_table(ingested) -> None:
    from palsyflow import stages
    from palsyflow.stages.catalog import Catalog

    project, by_line, _ = ingested
    assert stages.landmarks(project).failed == 0
    stages.features(project)
    table = pl.read_parquet(Catalog.of(project).path("features_table"))
    measured = {r["subject"] for r in by_line.values() if next(k for k in KINDS if k.name == r["_kind"]).expect == "measured"}
    found = table.filter(pl.col("subject").is_in(list(measured)))
    assert set(found["subject"]) == measured
