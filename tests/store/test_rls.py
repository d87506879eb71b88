"""Site isolation: PostgreSQL row-level security per site, and the repository's site filter on SQLite.

Two login roles, each granted one site (``palsyflow db grant-site``), connect to a store
holding both sites' rows in every table; each must see exactly its own rows, through
plain selects, joins and ``psql``, and must be refused writing the other site's rows.
Role and site names are unique per run and dropped afterwards (roles are cluster-wide).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from palsyflow.store import audit, repo
from palsyflow.store.db import init_db, make_engine, session_scope
from palsyflow.store.models import Delivery, Score

from tests.store.conftest import PG_URL, _pg_unreachable_reason

#: Every table that holds a site's rows (all of the store's tables).
SITE_TABLES = (
    "sites",
    "subjects",
    "sessions",
    "recordings",
    "quarantine_items",
    "processing_runs",
    "scores",
    "reports",
    "audit_events",
    "deliveries",
)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _fill(db, site: str) -> None:
    """One row of ``site`` in every table."""
    subj = repo.get_or_create_subject(db, site, f"P{site[-4:]}", healthy=False)
    ses = repo.get_or_create_session(db, subj, "20250102", hb_grade=3)
    repo.register_recording(db, ses, "smile", "video", sha(site), f"raw/{site}.mp4", "f-" + "0" * 24 + ".mp4", {})
    db.add(Score(session_id=ses.id, measure="symmetry_overall", value=80.0))
    report = repo.add_report(db, site, subj.label, "20250102", f"reports/{site}.pdf", sha(site + "pdf"))
    db.flush()
    db.add(Delivery(report_id=report.id, site_id=subj.site_id, sha256=sha(site + "pdf"), channel="outbox"))
    repo.add_quarantine(db, site, "f-" + "1" * 24 + ".mp4", None, "too short", None)
    repo.start_run(db, "ingest", "0", "p", {}, site=site)
    audit.record(db, site=site, action="ingest", subject=subj.label, session="20250102")
    db.flush()


@pytest.fixture
def two_sites(tmp_path) -> Iterator[dict]:
    """A PostgreSQL store with sites A and B in every table and a login role granted each."""
    reason = _pg_unreachable_reason()
    if reason:
        pytest.skip(reason)
    tag = uuid.uuid4().hex[:8]
    schema, site_a, site_b = f"pftest_rls_{tag}", f"A{tag}", f"B{tag}"
    role_a, role_b = f"pf_{tag}_a", f"pf_{tag}_b"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        for r in (role_a, role_b):
            conn.exec_driver_sql(f'CREATE ROLE "{r}" LOGIN')

    def url(user: str | None = None) -> str:
        u = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        return (u.set(username=user) if user else u).render_as_string(hide_password=False)

    service = init_db(url())
    try:
        with session_scope(service) as db:
            _fill(db, site_a)
            _fill(db, site_b)
            repo.start_run(db, "report", "0", "p", {})  # a run over every site: the service's only
            repo.grant_site(db, site_a, role_a)
        # the second grant through the command line verb
        (tmp_path / "params.yaml").write_text("paths:\n  data: data\n")
        res = CliRunner().invoke(
            __import__("palsyflow.cli", fromlist=["app"]).app,
            ["db", "grant-site", site_b, role_b, "--root", str(tmp_path)],
            env={"PALSYFLOW_DB_URL": url()},
        )
        assert res.exit_code == 0, res.output
        engines = {site_a: make_engine(url(role_a)), site_b: make_engine(url(role_b))}
        yield {
            "sites": (site_a, site_b),
            "roles": {site_a: role_a, site_b: role_b},
            "engines": engines,
            "service": service,
            "schema": schema,
        }
        for e in engines.values():
            e.dispose()
    finally:
        service.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            for r in (role_a, role_b, f"palsyflow_site_{site_a}", f"palsyflow_site_{site_b}"):
                conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{r}"')
        admin.dispose()


def _site_of_rows(conn, table: str) -> set[str]:
    """The site label of every row of ``table`` the connection can see."""
    sql = {
        "sites": "SELECT label FROM sites",
        "subjects": "SELECT si.label FROM subjects t JOIN sites si ON si.id = t.site_id",
        "quarantine_items": "SELECT si.label FROM quarantine_items t JOIN sites si ON si.id = t.site_id",
        "sessions": "SELECT si.label FROM sessions t JOIN subjects su ON su.id = t.subject_id JOIN sites si ON si.id = su.site_id",
        "processing_runs": "SELECT coalesce(site, '<all>') FROM processing_runs",
        "audit_events": "SELECT site FROM audit_events",
        "deliveries": "SELECT si.label FROM deliveries t JOIN sites si ON si.id = t.site_id",
    }.get(table)
    if sql is None:  # recordings, scores, reports: through their session
        sql = (
            f"SELECT si.label FROM {table} t JOIN sessions se ON se.id = t.session_id "
            "JOIN subjects su ON su.id = se.subject_id JOIN sites si ON si.id = su.site_id"
        )
    return set(conn.execute(sa.text(sql)).scalars())


@pytest.mark.postgres
def test_each_site_role_sees_only_its_own_rows_in_every_table(two_sites):
    a, b = two_sites["sites"]
    with two_sites["service"].connect() as conn:
        for table in SITE_TABLES:
            n = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            assert n >= 2, f"the service sees both sites in {table}"
    for site, other in ((a, b), (b, a)):
        with two_sites["engines"][site].connect() as conn:
            for table in SITE_TABLES:
                # raw counts: a policy that leaked the other site, or hid everything, fails here
                n = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                assert n == (2 if table == "audit_events" and site == b else 1), (site, table, n)
                assert _site_of_rows(conn, table) == {site}, (site, table)
            # a direct lookup of the other site's rows, with and without joins, finds nothing
            assert conn.execute(sa.text("SELECT count(*) FROM sites WHERE label = :o"), {"o": other}).scalar_one() == 0
            other_ids = conn.execute(
                sa.text(
                    "SELECT r.id FROM recordings r JOIN sessions s ON s.id = r.session_id "
                    "JOIN subjects su ON su.id = s.subject_id JOIN sites si ON si.id = su.site_id WHERE si.label = :o"
                ),
                {"o": other},
            ).all()
            assert other_ids == []
            assert conn.execute(sa.text("SELECT count(*) FROM audit_events WHERE site = :o"), {"o": other}).scalar_one() == 0
            # the repository sees the same (status, listings)
            with session_scope(two_sites["engines"][site]) as db:
                assert set(repo.status_summary(db)["sites"]) == {site}
                assert {r.site for r in repo.list_recordings(db)} == {site}


@pytest.mark.postgres
def test_direct_select_with_psql_sees_no_other_site(two_sites):
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed")
    a, b = two_sites["sites"]
    url = sa.make_url(PG_URL)
    for site, other in ((a, b), (b, a)):
        env = {**os.environ, "PGOPTIONS": f"-csearch_path={two_sites['schema']}"}
        cmd = [psql, "-h", url.host, "-p", str(url.port or 5432), "-U", two_sites["roles"][site], "-d", url.database, "-At", "-v", "ON_ERROR_STOP=1"]
        sql = "; ".join(
            [*(f"SELECT '{t}', count(*) FROM {t}" for t in SITE_TABLES), f"SELECT 'other', count(*) FROM sites WHERE label = '{other}'"]
        )
        out = subprocess.run([*cmd, "-c", sql], env=env, capture_output=True, text=True, check=True).stdout
        counts = dict(line.split("|") for line in out.split())
        assert counts.pop("other") == "0"
        assert {t: int(n) for t, n in counts.items()} == {t: (2 if t == "audit_events" and site == b else 1) for t in SITE_TABLES}


@pytest.mark.postgres
def test_writing_another_sites_rows_is_refused(two_sites):
    a, b = two_sites["sites"]
    with two_sites["service"].connect() as conn:
        ids = {
            s: conn.execute(sa.text("SELECT id FROM sites WHERE label = :s"), {"s": s}).scalar_one() for s in (a, b)
        }
        b_session = conn.execute(
            sa.text("SELECT se.id FROM sessions se JOIN subjects su ON su.id = se.subject_id WHERE su.site_id = :i"),
            {"i": ids[b]},
        ).scalar_one()
        b_subject = conn.execute(sa.text("SELECT id FROM subjects WHERE site_id = :i"), {"i": ids[b]}).scalar_one()
    eng = two_sites["engines"][a]
    refused = [
        ("INSERT INTO sites (label) VALUES (:x)", {"x": f"Z{b}"}),
        ("INSERT INTO subjects (site_id, label, simulated) VALUES (:i, 'X1', false)", {"i": ids[b]}),
        ("INSERT INTO sessions (subject_id, label, session_date) VALUES (:i, '20250301', '2025-03-01')", {"i": b_subject}),
        (
            "INSERT INTO recordings (session_id, task, kind, sha256, raw_path, original_name_hmac, created_at) "
            "VALUES (:i, 'rest', 'video', :h, 'raw/x.mp4', 'f-x', now())",
            {"i": b_session, "h": sha("x")},
        ),
        ("INSERT INTO scores (session_id, measure, simulated) VALUES (:i, 'm', false)", {"i": b_session}),
        ("INSERT INTO quarantine_items (site_id, original_name_hmac, reason, created_at) VALUES (:i, 'f', 'r', now())", {"i": ids[b]}),
        (
            "INSERT INTO processing_runs (stage, started_at, status, code_version, params_hash, input_hashes, site) "
            "VALUES ('x', now(), 'running', '0', 'p', '{}', :s)",
            {"s": b},
        ),
        ("INSERT INTO audit_events (recorded_at, site, action, actor, source) VALUES (now(), :s, 'ingest', 'x', 'y')", {"s": b}),
        ("UPDATE subjects SET site_id = :i", {"i": ids[b]}),  # moving one's own rows to the other site
    ]
    for stmt, args in refused:
        with pytest.raises(sa.exc.ProgrammingError, match="row-level security|permission denied"):
            with eng.begin() as conn:
                conn.execute(sa.text(stmt), args)
    # updates and deletes aimed at the other site touch nothing
    with eng.begin() as conn:
        assert conn.execute(sa.text("UPDATE sessions SET hb_grade = 1 WHERE id = :i"), {"i": b_session}).rowcount == 0
        assert conn.execute(sa.text("DELETE FROM reports WHERE session_id = :i"), {"i": b_session}).rowcount == 0
    # its own site's rows it may write
    with session_scope(eng) as db:
        subj = repo.get_or_create_subject(db, a, "NEW1")
        assert subj.id is not None
        repo.check_may_write_site(db, a)
        with pytest.raises(repo.SiteAccessError, match=f"may not write site '{b}'"):
            repo.check_may_write_site(db, b)


@pytest.mark.postgres
def test_ingest_under_another_site_is_refused_before_anything_is_written(two_sites, tmp_path, monkeypatch):
    from palsyflow.project import Project
    from palsyflow.stages.ingest import ingest_drop

    a, b = two_sites["sites"]
    u = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={two_sites['schema']}"})
    monkeypatch.setenv("PALSYFLOW_DB_URL", u.set(username=two_sites["roles"][a]).render_as_string(hide_password=False))
    monkeypatch.setenv("PALSYFLOW_SECRET", "s" * 32)
    (tmp_path / "params.yaml").write_text("paths:\n  data: data\n  drops: drops\n")
    drop = tmp_path / "drops" / b
    drop.mkdir(parents=True)
    (drop / "manifest.csv").write_text("subject,session_date,task,file\n")
    project = Project.load(tmp_path)
    with pytest.raises(repo.SiteAccessError, match=f"role '{two_sites['roles'][a]}' may not write site '{b}'"):
        ingest_drop(project, b, drop)
    with two_sites["service"].connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM processing_runs WHERE site = :s"), {"s": b}).scalar_one() == 1


@pytest.mark.postgres
def test_grant_site_is_audited_and_refuses_a_missing_role(two_sites):
    a, b = two_sites["sites"]
    with session_scope(two_sites["service"]) as db:
        granted = [(e.site, e.entity) for e in audit.events(db, action="role-granted")]
        assert granted == [(b, two_sites["roles"][b])]  # the command line verb recorded it
        with pytest.raises(ValueError, match="does not exist"):
            repo.grant_site(db, a, f"nobody_{uuid.uuid4().hex[:6]}")


def test_sqlite_status_and_listings_filter_by_site(tmp_path):
    """On SQLite (single-organisation) the repository applies the same site filter."""
    engine = init_db(f"sqlite:///{tmp_path / 'store.db'}")
    with session_scope(engine) as db:
        _fill(db, "North")
        _fill(db, "South")
        summary = repo.status_summary(db, site="North")
        assert set(summary["sites"]) == {"North"}
        assert summary["runs"] and {r["site"] for r in summary["runs"]} == {"North"}
        assert summary["failures"] and {f["site"] for f in summary["failures"]} == {"North"}
        assert set(repo.status_summary(db)["sites"]) == {"North", "South"}
        assert repo.may_write_site(db, "South")  # no roles on SQLite
        with pytest.raises(ValueError, match="PostgreSQL"):
            repo.grant_site(db, "North", "someone")
    engine.dispose()
