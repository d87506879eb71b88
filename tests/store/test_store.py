"""Session store: migrations, repository semantics and the status summary.

Every test runs twice, on SQLite (tmp_path) and on PostgreSQL (its own schema), via
the ``engine`` / ``db_url`` fixtures of ``tests/store/conftest.py``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from palsyflow.schemas import SCORE_SCHEMA
from palsyflow.store import repo
from palsyflow.store.db import current_revision, head_revision, init_db, resolve_url, session_scope
from palsyflow.store.models import TABLES, Base, ProcessingRun, Recording, Score, Site, Subject

MEDIA = {"size_bytes": 1234, "duration_s": 3.5, "fps": 30.0, "width": 640, "height": 480, "codec": "h264", "has_audio": True}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_session(db, site="A", subject="P01", label="20250102", **kw):
    subj = repo.get_or_create_subject(db, site, subject, healthy=kw.pop("healthy", None))
    return repo.get_or_create_session(db, subj, label, **kw)


def score_row(site="A", subject="P01", session="20250102", measure="symmetry_mouth", value=80.0, **kw):
    row = {c: None for c in SCORE_SCHEMA}
    row.update(
        site=site,
        subject=subject,
        session=session,
        session_date=dt.datetime.strptime(session, "%Y%m%d").date(),
        measure=measure,
        region="mouth",
        value=value,
        unit="0-100",
        simulated=False,
    )
    row.update(kw)
    return row


# --------------------------------------------------------------------------- migrations


def test_migrations_create_every_table_and_are_idempotent(db_url, request):
    engine = init_db(db_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
        assert set(TABLES) <= tables
        assert set(TABLES) == {
            "sites",
            "subjects",
            "sessions",
            "recordings",
            "quarantine_items",
            "processing_runs",
            "scores",
            "reports",
            "audit_events",
        }
        assert "alembic_version" in tables
        assert current_revision(engine) == head_revision()
        with session_scope(engine) as db:
            repo.get_or_create_site(db, "A")
    finally:
        engine.dispose()

    # a second init on the same database changes nothing and keeps the data
    engine = init_db(db_url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
            assert conn.execute(sa.text("SELECT label FROM sites")).scalars().all() == ["A"]
            # the migrated schema matches the models exactly
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
            assert diff == []
            if conn.dialect.name == "postgresql":
                schema = request.node.pg_schema
                where = conn.execute(
                    sa.text("SELECT table_schema FROM information_schema.tables WHERE table_name = 'alembic_version'")
                ).scalars().all()
                assert schema in where
                assert conn.execute(sa.text("SELECT current_schema()")).scalar_one() == schema
    finally:
        engine.dispose()


def test_sqlite_parent_folder_is_created_and_pragmas_set(tmp_path):
    path = tmp_path / "deep" / "er" / "store.db"
    engine = init_db(f"sqlite:///{path}")
    try:
        assert path.is_file()
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar().lower() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    finally:
        engine.dispose()


def test_resolve_url(tmp_path):
    base = tmp_path / "proj"
    assert resolve_url("sqlite:///data/store/p.db", base, env={}) == f"sqlite:///{base.resolve()}/data/store/p.db"
    assert resolve_url("sqlite:////abs/p.db", base, env={}) == "sqlite:////abs/p.db"
    assert resolve_url("sqlite://", base, env={}) == "sqlite://"
    pg = "postgresql+psycopg://user@db.example:5432/palsy"
    assert resolve_url("sqlite:///data/p.db", base, env={"PALSYFLOW_DB_URL": pg}) == pg
    assert resolve_url("sqlite:///data/p.db", base, env={"PALSYFLOW_DB_URL": "  "}).startswith("sqlite:////")
    assert resolve_url("sqlite:///x.db", base, env={"PALSYFLOW_DB_URL": "sqlite:///rel/y.db"}) == (
        f"sqlite:///{base.resolve()}/rel/y.db"
    )


# --------------------------------------------------------------------------- entities


def test_get_or_create_is_idempotent_and_fills_unknowns(engine):
    with session_scope(engine) as db:
        s1 = make_session(db)
        s2 = make_session(db, hb_grade=3)  # fills the missing grade
        assert s1.id == s2.id and s2.hb_grade == 3
        s3 = make_session(db, hb_grade=5)  # does not overwrite a recorded grade
        assert s3.hb_grade == 3
        subj = repo.get_or_create_subject(db, "A", "P01", healthy=False)
        assert subj.healthy is False
        assert repo.get_or_create_subject(db, "A", "P01", healthy=True).healthy is False
    with session_scope(engine) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Site)) == 1
        assert db.scalar(sa.select(sa.func.count()).select_from(Subject)) == 1
        assert repo.list_sessions(db)[0].session_date == dt.date(2025, 1, 2)


def test_session_validation(engine):
    with session_scope(engine) as db:
        subj = repo.get_or_create_subject(db, "A", "P01")
        with pytest.raises(ValueError, match="YYYYMMDD"):
            repo.get_or_create_session(db, subj, "2025-01-02")
        with pytest.raises(ValueError, match="does not match"):
            repo.get_or_create_session(db, subj, "20250102", dt.date(2025, 1, 3))
        with pytest.raises(ValueError, match="1-6"):
            repo.get_or_create_session(db, subj, "20250102", hb_grade=7)


def test_unique_constraints_are_enforced_by_the_database(engine):
    with session_scope(engine) as db:
        ses = make_session(db)
        site_id = ses.subject.site_id
        repo.register_recording(db, ses, "smile", "video", sha("a"), "raw/a.mp4", "a.mp4", MEDIA)

    def must_fail(obj):
        with pytest.raises(IntegrityError):
            with session_scope(engine) as db:
                db.add(obj)
                db.flush()

    must_fail(Site(label="A"))
    must_fail(Subject(site_id=site_id, label="P01"))
    must_fail(Recording(session_id=ses.id, task="smile", kind="video", sha256=sha("b"), raw_path="x", original_name_hmac="x"))
    with session_scope(engine) as db:
        db.add(Score(session_id=ses.id, measure="m"))
    must_fail(Score(session_id=ses.id, measure="m"))
    # check constraints and foreign keys hold on both backends
    must_fail(Recording(session_id=ses.id, task="rest", kind="movie", sha256=sha("c"), raw_path="x", original_name_hmac="x"))
    must_fail(Subject(site_id=999_999, label="P02"))


# --------------------------------------------------------------------------- recordings


def test_register_recording_is_idempotent_and_refuses_conflicts(engine):
    with session_scope(engine) as db:
        ses = make_session(db, hb_grade=2)
        rec, created = repo.register_recording(
            db, ses, "smile", "video", sha("smile").upper(), Path("raw/site-A/x_video.mp4"), "IMG_1.MOV", MEDIA
        )
        assert created
        assert rec.sha256 == sha("smile")  # normalised to lower case
        assert rec.raw_path == "raw/site-A/x_video.mp4"
        assert (rec.width, rec.height, rec.codec, rec.has_audio) == (640, 480, "h264", True)
        assert rec.created_at.tzinfo is not None and rec.created_at.utcoffset() == dt.timedelta(0)

    with session_scope(engine) as db:
        ses = make_session(db)
        again, created = repo.register_recording(
            db, ses, "smile", "video", sha("smile"), "raw/other.mp4", "IMG_1.MOV", {}
        )
        assert not created and again.id == rec.id and again.raw_path == "raw/site-A/x_video.mp4"
        with pytest.raises(repo.RecordingConflict) as info:
            repo.register_recording(db, ses, "smile", "video", sha("other"), "raw/o.mp4", "IMG_2.MOV", MEDIA)
        assert info.value.key == "site-A_sub-P01_ses-20250102_task-smile"
        assert info.value.existing_sha256 == sha("smile")
        # the same content may go to another task; another task is independent
        _, created = repo.register_recording(db, ses, "rest", "photo", sha("rest"), "raw/r.jpg", "r.jpg", {})
        assert created
        with pytest.raises(ValueError):
            repo.register_recording(db, ses, "eee", "video", "xyz", "raw/e.mp4", "e.mp4", {})
        with pytest.raises(ValueError):
            repo.register_recording(db, ses, "eee", "movie", sha("e"), "raw/e.mp4", "e.mp4", {})
        with pytest.raises(ValueError):
            repo.register_recording(db, ses, "eee", "video", sha("e"), "/abs/e.mp4", "e.mp4", {})

    with session_scope(engine) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Recording)) == 2
        found = repo.find_recording_by_sha(db, sha("smile"))
        assert found is not None and found.task == "smile"
        assert repo.find_recording_by_sha(db, sha("nothing")) is None
        infos = repo.list_recordings(db)
        assert [i.key for i in infos] == [
            "site-A_sub-P01_ses-20250102_task-rest",
            "site-A_sub-P01_ses-20250102_task-smile",
        ]
        assert infos[1].hb_grade == 2 and infos[1].session_date == dt.date(2025, 1, 2)
        assert infos[0].kind == "photo" and infos[0].simulated is False
        with pytest.raises(dataclasses.FrozenInstanceError):
            infos[0].task = "x"
        assert repo.list_sessions(db)[0].tasks == ("rest", "smile")


# --------------------------------------------------------------------------- quarantine


def test_quarantine_is_idempotent(engine):
    with session_scope(engine) as db:
        item, created = repo.add_quarantine(db, "A", "clip.mov", None, "too short (0.2 s)", None)
        assert created
        again, created = repo.add_quarantine(db, "A", "clip.mov", sha("clip"), "too short (0.2 s)", "quarantine/site-A/clip.mov")
        assert not created and again.id == item.id
        assert again.sha256 == sha("clip") and again.quarantined_path == "quarantine/site-A/clip.mov"
        _, created = repo.add_quarantine(db, "A", "clip.mov", sha("clip"), "unreadable", None)
        assert created  # another reason is another item
        _, created = repo.add_quarantine(db, "B", "clip.mov", None, "too short (0.2 s)", None)
        assert created  # another site is another item
    with session_scope(engine) as db:
        assert repo.status_summary(db)["sites"]["A"]["quarantined"] == 2


# --------------------------------------------------------------------------- scores and reports


def test_score_upsert_updates_in_place(engine):
    with session_scope(engine) as db:
        run1 = repo.start_run(db, "score", "0.1.0", "p" * 64, {"features": sha("f1")})
        n = repo.upsert_scores(
            db,
            [
                score_row(measure="symmetry_mouth", value=70.0, weaker_side="left"),
                score_row(measure="symmetry_eye", value=float("nan")),
                score_row(subject="P02", measure="symmetry_mouth", value=90.0, simulated=True),
            ],
            run=run1,
        )
        assert n == 3
    with session_scope(engine) as db:
        run2 = repo.start_run(db, "score", "0.1.0", "p" * 64, {"features": sha("f2")})
        df = pl.DataFrame([score_row(measure="symmetry_mouth", value=75.5, weaker_side="right", z=-1.5,
                                     side_basis="earlier-session:20250101")], schema=SCORE_SCHEMA)
        assert repo.upsert_scores(db, df, run=run2) == 1
    with session_scope(engine) as db:
        scores = db.scalars(sa.select(Score).order_by(Score.id)).all()
        assert len(scores) == 3
        mouth = scores[0]
        assert (mouth.measure, mouth.value, mouth.weaker_side, mouth.side_basis, mouth.z, mouth.run_id) == (
            "symmetry_mouth",
            75.5,
            "right",
            "earlier-session:20250101",
            -1.5,
            run2.id,
        )
        assert scores[1].value is None  # NaN stored as null
        # the subject missing from the store was created from the row
        sessions = {s.subject: s for s in repo.list_sessions(db)}
        assert sessions["P02"].simulated is True
        with pytest.raises(ValueError):
            repo.upsert_scores(db, [score_row(weaker_side="up")])
        with pytest.raises(KeyError):
            repo.upsert_scores(db, [{"site": "A", "subject": "P01", "session": "20250102"}])


def test_report_upsert(engine):
    with session_scope(engine) as db:
        make_session(db)
        r1 = repo.add_report(db, "A", "P01", "20250102", "reports/a.pdf", sha("pdf1"))
        r2 = repo.add_report(db, "A", "P01", "20250102", Path("reports/b.pdf"), sha("pdf2"))
        assert r1.id == r2.id and r2.path == "reports/b.pdf" and r2.sha256 == sha("pdf2")
        with pytest.raises(repo.NotFound):
            repo.add_report(db, "A", "P01", "20990101", "reports/c.pdf", sha("pdf3"))
    with session_scope(engine) as db:
        assert db.scalar(sa.text("SELECT count(*) FROM reports")) == 1
        assert repo.list_sessions(db)[0].has_report is True


def test_a_session_has_a_clinician_and_a_patient_report(engine):
    """Migration 0006: one row per session and kind; listing and counts see the clinician report once."""
    with session_scope(engine) as db:
        make_session(db)
        c = repo.add_report(db, "A", "P01", "20250102", "reports/c.pdf", sha("c"))
        p = repo.add_report(db, "A", "P01", "20250102", "reports/p.pdf", sha("p"), kind="patient")
        again = repo.add_report(db, "A", "P01", "20250102", "reports/p2.pdf", sha("p2"), kind="patient")
        assert c.kind == "clinician" and p.id == again.id != c.id
        with pytest.raises(ValueError, match="report kind"):
            repo.add_report(db, "A", "P01", "20250102", "reports/x.pdf", sha("x"), kind="family")
    with session_scope(engine) as db:
        assert db.scalar(sa.text("SELECT count(*) FROM reports")) == 2
        assert repo.report_sha256(db, "A", "P01", "20250102") == sha("c")
        assert repo.report_sha256(db, "A", "P01", "20250102", "patient") == sha("p2")
        assert len(repo.list_sessions(db)) == 1 and repo.list_sessions(db)[0].has_report
        assert repo.status_summary(db)["sites"]["A"]["reports"] == 1


# --------------------------------------------------------------------------- runs and status


def test_finish_run_validates_status(engine):
    with session_scope(engine) as db:
        run = repo.start_run(db, "landmarks", "abc123", "p" * 64, ["x"], site="A")
        assert run.status == "running" and run.id is not None and run.finished_at is None
        with pytest.raises(ValueError):
            repo.finish_run(db, run, "running")
        repo.finish_run(db, run, "succeeded", n_processed=4, n_skipped=1)
        with pytest.raises(ValueError, match="already finished"):
            repo.finish_run(db, run, "failed")
    with session_scope(engine) as db:
        stored = db.get(ProcessingRun, run.id)
        assert (stored.status, stored.n_processed, stored.n_skipped, stored.n_failed) == ("succeeded", 4, 1, 0)
        assert stored.input_hashes == ["x"]
        assert stored.finished_at >= stored.started_at


def test_status_summary_two_sites(engine):
    with session_scope(engine) as db:
        # site A: 2 subjects, 3 sessions, 4 recordings, 1 quarantined, 1 report
        a1 = make_session(db, "A", "P01", "20250101")
        a2 = make_session(db, "A", "P01", "20250201")
        a3 = make_session(db, "A", "P02", "20250105")
        for ses, task in [(a1, "rest"), (a1, "smile"), (a2, "rest"), (a3, "rest")]:
            repo.register_recording(db, ses, task, "video", sha(f"{ses.id}{task}"), f"raw/{ses.id}{task}.mp4", "x.mp4", MEDIA)
        repo.add_quarantine(db, "A", "bad.avi", None, "cannot decode", None)
        repo.add_report(db, "A", "P01", "20250101", "reports/a.pdf", sha("r"))
        # site B: 1 subject, 1 session, 1 recording, 2 quarantined, 0 reports
        b1 = make_session(db, "B", "H01", "20250303")
        repo.register_recording(db, b1, "eee", "audio", sha("b1"), "raw/b1.wav", "b1.wav", {})
        repo.add_quarantine(db, "B", "x.txt", None, "not a recording", None)
        repo.add_quarantine(db, "B", "y.mp4", sha("y"), "duration 0.1 s < 0.5 s", "quarantine/y.mp4")
        # an empty site C, a succeeded run and a failed run
        repo.get_or_create_site(db, "C")
        ok = repo.start_run(db, "ingest", "v", "h", {})
        repo.finish_run(db, ok, "succeeded", n_processed=5)
        bad = repo.start_run(db, "landmarks", "v", "h", {"a": sha("a")}, site="B")
        repo.finish_run(db, bad, "failed", n_failed=1, error="MediaPipe model missing")

    with session_scope(engine) as db:
        summary = repo.status_summary(db)
    json.dumps(summary)  # must be JSON-serialisable
    assert summary["sites"] == {
        "A": {"subjects": 2, "sessions": 3, "recordings": 4, "quarantined": 1, "reports": 1},
        "B": {"subjects": 1, "sessions": 1, "recordings": 1, "quarantined": 2, "reports": 0},
        "C": {"subjects": 0, "sessions": 0, "recordings": 0, "quarantined": 0, "reports": 0},
    }
    failures = summary["failures"]
    assert len(failures) == 4
    assert sorted((f["kind"], f["site"], f["file"]) for f in failures) == [
        ("quarantine", "A", "bad.avi"),
        ("quarantine", "B", "x.txt"),
        ("quarantine", "B", "y.mp4"),
        ("run", "B", "landmarks"),
    ]
    run_failure = next(f for f in failures if f["kind"] == "run")
    assert run_failure["reason"] == "MediaPipe model missing"
    assert failures[0] is run_failure  # newest first
    whens = [dt.datetime.fromisoformat(f["when"]) for f in failures]
    assert all(w.utcoffset() == dt.timedelta(0) for w in whens)
    assert whens == sorted(whens, reverse=True)


def test_naive_datetimes_are_refused(engine):
    with pytest.raises(Exception, match="naive datetime"):
        with session_scope(engine) as db:
            run = repo.start_run(db, "x", "v", "h", {})
            run.finished_at = dt.datetime(2025, 1, 1, 12, 0)
            db.flush()


# --------------------------------------------------------------------------- concurrency


def test_concurrent_workers_init_and_write(db_url):
    """Several workers, each with its own engine, migrate and write at the same time."""
    from concurrent.futures import ThreadPoolExecutor

    n_workers, n_tasks = 4, 5

    def worker(i: int) -> int:
        engine = init_db(db_url)
        try:
            created = 0
            for t in range(n_tasks):
                with session_scope(engine) as db:
                    ses = make_session(db, "A", "P01", "20250102")
                    _, new = repo.register_recording(
                        db, ses, f"task{t}", "video", sha(f"t{t}"), f"raw/t{t}.mp4", f"t{t}.mp4", {}
                    )
                    created += new
                    repo.add_quarantine(db, "A", f"w{i}.mov", None, "too short", None)
            return created
        finally:
            engine.dispose()

    with ThreadPoolExecutor(n_workers) as pool:
        created = list(pool.map(worker, range(n_workers)))
    assert sum(created) == n_tasks  # each recording was created by exactly one worker

    engine = init_db(db_url)
    try:
        with session_scope(engine) as db:
            summary = repo.status_summary(db)["sites"]
        assert summary == {"A": {"subjects": 1, "sessions": 1, "recordings": n_tasks, "quarantined": n_workers, "reports": 0}}
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(engine):
    from alembic import command

    from palsyflow.store.db import alembic_config

    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert set(sa.inspect(engine).get_table_names()) & set(TABLES) == set()
    assert current_revision(engine) is None
    init_db(engine)
    assert set(TABLES) <= set(sa.inspect(engine).get_table_names())
    assert current_revision(engine) == head_revision()


# --------------------------------------------------------------------------- recording keys


def test_registry_keys_are_recording_paths_for_every_protocol_task(engine):
    from palsyflow.conventions import TASKS
    from palsyflow.paths import RecordingPath, task_label

    with session_scope(engine) as db:
        ses = make_session(db)
        for task in TASKS:
            repo.register_recording(db, ses, task, "video", sha(task), f"raw/{task}.mp4", f"{task}.mp4", {})
        infos = repo.list_recordings(db)
        assert len(infos) == len(TASKS)
        for info in infos:
            rp = RecordingPath.from_key(info.key)  # the old `task-brow_raise` keys did not parse
            assert (rp.site, rp.subject, rp.session, rp.task) == (info.site, info.subject, info.session, task_label(info.task))
        with pytest.raises(repo.RecordingConflict) as conflict:
            repo.register_recording(db, ses, "brow_raise", "video", sha("x"), "raw/x.mp4", "x.mp4", {})
        assert conflict.value.key == "site-A_sub-P01_ses-20250102_task-browraise"


def test_migration_0002_rewrites_stored_recording_keys_and_back(db_url):
    from alembic import command

    from palsyflow.store.db import alembic_config, make_engine

    old, new = "site-A_sub-P01_ses-20250102_task-brow_raise", "site-A_sub-P01_ses-20250102_task-browraise"
    plain = "site-A_sub-P01_ses-20250102_task-smile"
    columns = ("stage", "started_at", "status", "code_version", "params_hash")
    runs = sa.table("processing_runs", *(sa.column(c) for c in columns), sa.column("input_hashes", sa.JSON))
    if db_url.startswith("sqlite:///"):
        Path(db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0001")
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO sites (id, label) VALUES (1, 'A')"))
            conn.execute(sa.text("INSERT INTO subjects (id, site_id, label, simulated) VALUES (1, 1, 'P01', false)"))
            conn.execute(
                sa.text("INSERT INTO sessions (id, subject_id, label, session_date) VALUES (1, 1, '20250102', :d)"),
                {"d": dt.date(2025, 1, 2)},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO recordings (session_id, task, kind, sha256, raw_path, original_name, created_at) "
                    "VALUES (1, 'brow_raise', 'video', :s, 'raw/b.mp4', 'b.mp4', :t)"
                ),
                {"s": sha("b"), "t": dt.datetime(2025, 1, 2, tzinfo=dt.timezone.utc)},
            )
            quarantined = ((old, "validation: too asymmetric"), (plain, "validation: x"), (old, "not listed in manifest.csv"))
            for name, reason in quarantined:
                conn.execute(
                    sa.text(
                        "INSERT INTO quarantine_items (site_id, original_name, reason, created_at) VALUES (1, :n, :r, :t)"
                    ),
                    {"n": name, "r": reason, "t": dt.datetime(2025, 1, 2, tzinfo=dt.timezone.utc)},
                )
            when = dt.datetime(2025, 1, 2, tzinfo=dt.timezone.utc)
            base = {"started_at": when, "status": "succeeded", "code_version": "0", "params_hash": "p"}
            conn.execute(
                runs.insert(),
                [
                    {**base, "stage": "landmarks", "input_hashes": {sha("b"): [old, plain]}},
                    {**base, "stage": "ingest", "input_hashes": {"drop": "/drops/A/" + old}},
                ],
            )

        def state():
            with engine.connect() as conn:
                names = conn.execute(sa.text("SELECT original_name, reason FROM quarantine_items ORDER BY id")).all()
                docs = conn.execute(sa.select(runs.c.input_hashes).order_by(sa.text("id"))).scalars().all()
            return [tuple(n) for n in names], docs

        with engine.begin() as conn:  # up to the revision before the names are hashed (0008 has its own test)
            command.upgrade(alembic_config(conn), "0005")
        assert current_revision(engine) == "0005"
        names, docs = state()
        assert names == [(new, "validation: too asymmetric"), (plain, "validation: x"), (old, "not listed in manifest.csv")]
        assert docs == [{sha("b"): [new, plain]}, {"drop": "/drops/A/" + old}]  # a path is not a key

        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0001")
        names, docs = state()
        assert names[0] == (old, "validation: too asymmetric")
        assert docs[0] == {sha("b"): [old, plain]}
    finally:
        engine.dispose()


def test_subject_facts_and_content_uses_for_the_identity_checks(engine):
    with session_scope(engine) as db:
        assert repo.subject_facts(db, "A", "P01") is None
        later = make_session(db, label="20250301", healthy=True)
        earlier = make_session(db, label="20250102")
        repo.register_recording(db, later, "rest", "video", sha("v"), "raw/v.mp4", "v.mp4", MEDIA)
        repo.register_recording(db, later, "speech", "video", sha("v"), "raw/v.mp4", "v.mp4", MEDIA)
        other = make_session(db, site="B", subject="Q01", label="20250105")
        repo.register_recording(db, other, "rest", "video", sha("v"), "raw/q.mp4", "q.mp4", MEDIA)
        assert earlier.id != later.id
    with session_scope(engine) as db:
        facts = repo.subject_facts(db, "A", "P01")
        assert facts == repo.SubjectFacts(
            site="A",
            label="P01",
            healthy=True,
            simulated=False,
            sessions=(("20250102", dt.date(2025, 1, 2)), ("20250301", dt.date(2025, 3, 1))),
        )
        assert repo.subject_facts(db, "B", "P01") is None  # labels are per site
        assert repo.content_uses(db, sha("v").upper()) == [
            repo.ContentUse("A", "P01", "20250301", "rest"),
            repo.ContentUse("A", "P01", "20250301", "speech"),
            repo.ContentUse("B", "Q01", "20250105", "rest"),
        ]
        assert repo.content_uses(db, sha("nothing")) == []
        with pytest.raises(ValueError, match="64 hex"):
            repo.content_uses(db, "abc")
