"""The audit trail: entries written by record(), read back by site and time, append-only on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from palsyflow.store import audit
from palsyflow.store.db import session_scope
from palsyflow.store.models import AuditEvent


def test_record_and_read_back_by_site_and_time(engine):
    with session_scope(engine) as db:
        first = audit.record(db, site="north", action="ingest", subject="P01", session="20250102", entity="site-north_sub-P01_ses-20250102_task-rest")
        audit.record(db, site="south", action="report-generated", subject="S01", session="20250103", actor="dr x", source="host y")
    cut = first.recorded_at + dt.timedelta(microseconds=1)
    with session_scope(engine) as db:
        assert [(e.site, e.action) for e in audit.events(db)] == [("north", "ingest"), ("south", "report-generated")]
        (north,) = audit.events(db, site="north")
        assert north.subject == "P01" and north.session == "20250102" and north.actor and north.source
        assert [e.site for e in audit.events(db, since=cut)] == ["south"]
        south = audit.events(db, site="south")[0]
        assert (south.actor, south.source) == ("dr x", "host y")
        fhir = audit.as_fhir(south)
        assert fhir["resourceType"] == "AuditEvent" and fhir["action"] == "C"
        assert fhir["type"]["code"] == "110110" and fhir["subtype"][0]["code"] == "report-generated"
        assert fhir["agent"][0]["who"]["display"] == "dr x" and fhir["source"]["site"] == "site-south"
        assert [e["what"]["identifier"]["value"] for e in fhir["entity"]] == ["sub-S01", "ses-20250103"]


def test_unknown_actions_and_bad_labels_are_refused(engine):
    with session_scope(engine) as db:
        with pytest.raises(ValueError, match="unknown audit action"):
            audit.record(db, site="north", action="report-deleted")
        with pytest.raises(ValueError, match="not a valid label"):
            audit.record(db, site="no-where", action="ingest")


@pytest.mark.postgres
def test_the_audit_table_is_append_only_on_postgres(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("the trigger exists on PostgreSQL")
    with session_scope(engine) as db:
        audit.record(db, site="north", action="export", entity="bids/")
    for stmt in ("UPDATE audit_events SET actor = 'someone else'", "DELETE FROM audit_events", "TRUNCATE audit_events"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with engine.begin() as conn:  # a superuser too
                conn.execute(sa.text(stmt))
    with session_scope(engine) as db:
        assert [e.actor.split(" ")[0] for e in audit.events(db)] == ["postgres"]


def test_audit_command_prints_a_site_since_a_date(tmp_path, monkeypatch):
    from palsyflow.cli import app
    from palsyflow.project import Project

    (tmp_path / "params.yaml").write_text("paths:\n  data: data\n")
    project = Project.load(tmp_path)
    with session_scope(project.engine) as db:
        audit.record(db, site="north", action="ingest", subject="P01")
        audit.record(db, site="south", action="ingest", subject="S01")
        old = audit.record(db, site="north", action="export")
        old.recorded_at = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)  # only to place an old entry
    runner = CliRunner()
    res = runner.invoke(app, ["audit", "--site", "north", "--since", "2025-01-01", "--json", "--root", str(tmp_path)])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [(r["site"], r["action"], r["subject"]) for r in rows] == [("north", "ingest", "P01")]
    table = runner.invoke(app, ["audit", "--site", "south", "--root", str(tmp_path)])
    assert table.exit_code == 0 and "S01" in table.output and "P01" not in table.output
    bad = runner.invoke(app, ["audit", "--since", "yesterday", "--root", str(tmp_path)])
    assert bad.exit_code != 0
    with session_scope(project.engine) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 3


def test_migration_0006_hashes_the_names_an_older_store_holds(db_url, monkeypatch):
    """An older store's original names become keyed hashes, in the name columns and in the reasons."""
    from alembic import command

    from palsyflow.pseudonym import keyed_name
    from palsyflow.store.db import alembic_config, init_db, make_engine

    monkeypatch.setenv("PALSYFLOW_SECRET", "k" * 32)
    name, when = "Smith_John_MRN4711.mpg", dt.datetime(2025, 1, 2, tzinfo=dt.timezone.utc)
    if db_url.startswith("sqlite:///"):
        import pathlib

        pathlib.Path(db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0005")
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO sites (id, label) VALUES (1, 'A')"))
            conn.execute(sa.text("INSERT INTO subjects (id, site_id, label, simulated) VALUES (1, 1, 'P01', false)"))
            conn.execute(sa.text("INSERT INTO sessions (id, subject_id, label, session_date) VALUES (1, 1, '20250102', :d)"), {"d": when.date()})
            conn.execute(
                sa.text(
                    "INSERT INTO recordings (session_id, task, kind, sha256, raw_path, original_name, created_at) "
                    "VALUES (1, 'rest', 'video', :s, 'raw/r.mpg', :n, :t)"
                ),
                {"s": "a" * 64, "n": name, "t": when},
            )
            conn.execute(
                sa.text("INSERT INTO quarantine_items (site_id, original_name, reason, created_at) VALUES (1, :n, :r, :t)"),
                {"n": name, "r": f"manifest.csv line 2: {name}: too short", "t": when},
            )
        init_db(engine)
        token = keyed_name("k" * 32, name)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT original_name_hmac FROM recordings")).scalar_one() == token
            assert tuple(conn.execute(sa.text("SELECT original_name_hmac, reason FROM quarantine_items")).one()) == (
                token,
                f"manifest.csv line 2: {token}: too short",
            )
    finally:
        engine.dispose()
