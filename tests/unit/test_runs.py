"""Failures that were hard to see: recorded runs, interrupted runs, the run lock, retries, stamps, quarantine.

Each test names the defect of issue 12 it guards against; each fails on the code before it.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from palsyflow import stages
from palsyflow.cli import app
from palsyflow.project import Project
from palsyflow.pseudonym import keyed_name
from palsyflow.schemas import SCORE_SCHEMA
from tests.support.tables import with_named_basis
from palsyflow.store import repo
from palsyflow.store.db import session_scope
from palsyflow.store.models import ProcessingRun, QuarantineItem, Report

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _project(tmp_path: Path, extra: str = "") -> Project:
    (tmp_path / "params.yaml").write_text("paths:\n  data: data\n  drops: drops\n" + extra)
    return Project.load(tmp_path)


def _child_env() -> dict:
    return {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}


def _spawn(code: str, *args: str) -> subprocess.Popen:
    """A child Python running ``code`` that prints ``ready`` once set up."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_ready(proc: subprocess.Popen) -> str:
    line = proc.stdout.readline()
    assert line.startswith("ready"), (line, proc.stderr.read() if proc.poll() is not None else "")
    return line


# --------------------------------------------------------------------------- interrupted runs


def test_a_run_killed_with_sigkill_is_shown_interrupted(tmp_path):
    """Was: after kill -9 the landmarks run stayed ``running`` forever and ``status`` said ``"failures": []``."""
    project = _project(tmp_path)
    child = _spawn(
        """
        import sys, time
        from palsyflow.project import Project
        from palsyflow.stages.lock import run_lock
        from palsyflow.stages.runs import Run
        p = Project.load(sys.argv[1])
        with run_lock(p):
            run = Run(p, "landmarks", "h", {})
            print("ready", flush=True)
            time.sleep(60)
        """,
        str(tmp_path),
    )
    _wait_ready(child)
    assert stages.status(project)["runs"][0]["status"] == "running"  # alive: not judged dead
    child.send_signal(signal.SIGKILL)
    child.wait()
    summary = stages.status(project)
    assert [r["status"] for r in summary["runs"]] == ["interrupted"]
    failures = [f for f in summary["failures"] if f["kind"] == "run"]
    assert len(failures) == 1 and failures[0]["file"] == "landmarks"
    assert "interrupted" in failures[0]["reason"] and str(child.pid) in failures[0]["reason"]


def test_every_stage_records_its_run(tmp_path):
    """Was: only ingest and landmarks recorded runs."""
    project = _project(tmp_path)
    for stage in ("landmarks", "features", "report"):
        getattr(stages, stage)(project)
    with session_scope(project.engine) as db:
        runs = db.scalars(sa.select(ProcessingRun).order_by(ProcessingRun.id)).all()
        assert [(r.stage, r.status, r.pid) for r in runs] == [
            ("landmarks", "succeeded", os.getpid()),
            ("features", "succeeded", os.getpid()),
            ("report", "succeeded", os.getpid()),
        ]
        assert all(r.finished_at is not None and r.host for r in runs)


def test_a_stage_that_raises_records_a_failed_run_with_one_sentence(tmp_path, monkeypatch):
    project = _project(tmp_path)
    scores = project.path("data/scores/scores.parquet")
    scores.parent.mkdir(parents=True)
    scores.write_bytes(b"not a parquet file")
    with pytest.raises(Exception):
        stages.report(project)
    summary = stages.status(project)
    (run,) = summary["runs"]
    assert run["stage"] == "report" and run["status"] == "failed"
    assert run["error"].startswith("the report stage failed") and "\n" not in run["error"]


def test_a_failed_run_followed_by_a_success_is_no_longer_a_failure(tmp_path):
    """Was: fixed items stayed listed as failures on every later run."""
    project = _project(tmp_path)
    with session_scope(project.engine) as db:
        old = repo.start_run(db, "report", "v", "h", {}, pid=os.getpid(), host="x")
        repo.finish_run(db, old, "failed", error="boom")
    assert [f["reason"] for f in stages.status(project)["failures"]] == ["boom"]
    time.sleep(0.01)
    stages.report(project)  # no scores yet: a successful run that does nothing
    assert stages.status(project)["failures"] == []


# --------------------------------------------------------------------------- the run lock


def test_a_second_run_on_the_same_root_refuses_and_a_dead_holder_releases(tmp_path):
    """Was: two runs on the same root at once both recomputed everything (no run lock)."""
    project = _project(tmp_path)
    child = _spawn(
        """
        import sys, time
        from palsyflow.project import Project
        from palsyflow.stages.lock import run_lock
        with run_lock(Project.load(sys.argv[1]), command="test holder"):
            print("ready", flush=True)
            time.sleep(60)
        """,
        str(tmp_path),
    )
    _wait_ready(child)
    with pytest.raises(stages.RunLocked, match=rf"pid {child.pid} .*test holder"):
        with stages.run_lock(project):
            pass
    assert not stages.is_transient(stages.RunLocked("x"))
    child.send_signal(signal.SIGKILL)
    child.wait()
    with stages.run_lock(project):  # the kernel released the dead holder's lock
        with stages.run_lock(project):  # re-entrant in one process
            pass


def test_ingest_refuses_while_another_run_holds_the_root(tmp_path):
    _project(tmp_path)
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "manifest.csv").write_text("subject,session_date,task,file\n")
    child = _spawn(
        """
        import sys, time
        from palsyflow.project import Project
        from palsyflow.stages.lock import run_lock
        with run_lock(Project.load(sys.argv[1]), command="palsyflow run"):
            print("ready", flush=True)
            time.sleep(60)
        """,
        str(tmp_path),
    )
    try:
        _wait_ready(child)
        res = runner.invoke(app, ["ingest", "north", str(drop), "--root", str(tmp_path)])
    finally:
        child.kill()
        child.wait()
    assert res.exit_code == 1
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert lines[-1].startswith("palsyflow: error: another palsyflow run holds the run lock")
    assert "Traceback" not in res.output


# --------------------------------------------------------------------------- retries and the CLI


@pytest.mark.parametrize(
    "exc,transient",
    [
        (FileNotFoundError(errno.ENOENT, "No such file", "drops/nowhere"), False),
        (PermissionError(errno.EACCES, "denied"), False),
        (ValueError("subject label 'N-01' is not alphanumeric"), False),
        (OSError(errno.ENOSPC, "No space left"), False),
        (OSError(errno.ESTALE, "Stale file handle"), True),
        (TimeoutError("timed out"), True),
        (sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly")), True),
        (sa.exc.IntegrityError("INSERT", {}, Exception("duplicate key")), False),
    ],
)
def test_only_transient_errors_are_retried(exc, transient):
    """Was: ``run --site nowhere`` retried a permanent ``FileNotFoundError`` twice for 41 s."""
    pytest.importorskip("prefect")
    from prefect.states import Failed

    from flows.nightly import RETRIES

    assert stages.is_transient(exc) is transient
    assert stages.is_transient(stages.StageFailed("ingest", exc)) is transient
    assert RETRIES["retry_condition_fn"](None, None, Failed(data=exc)) is transient


def test_a_store_outage_is_one_sentence_naming_the_url_without_password_and_the_stage():
    exc = sa.exc.OperationalError("INSERT", {}, Exception("terminating connection due to administrator command\nmore"))
    msg = stages.describe_error(exc, "report", "postgresql+psycopg://pf:s3cret@db.example:5432/palsy")
    assert msg == (
        "the store at postgresql+psycopg://pf:***@db.example:5432/palsy could not be reached or written during the "
        "report stage (terminating connection due to administrator command)"
    )


def test_a_bad_site_label_is_bad_usage_not_a_traceback(tmp_path):
    _project(tmp_path)
    res = runner.invoke(app, ["run", "--site", "no/where", "--root", str(tmp_path)])
    assert res.exit_code == 2
    assert "Traceback" not in res.output and "is not a valid label" in res.output


def test_an_unreadable_manifest_fails_ingest_with_exit_1(tmp_path):
    """Was: an unreadable manifest discarded the whole drop, yet ``ingest`` exited 0."""
    _project(tmp_path)
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "manifest.csv").write_text("subject;session_date;task;file\nP1;2026-01-01;rest;a.mp4\n")
    res = runner.invoke(app, ["ingest", "north", str(drop), "--root", str(tmp_path)])
    assert res.exit_code == 1, res.output
    assert "palsyflow: error: nothing of the drop was ingested" in res.output
    assert "None" not in res.output  # was: "quarantined None: ..."
    status = json.loads(runner.invoke(app, ["status", "--json", "--root", str(tmp_path)]).output)
    assert [f["file"] for f in status["failures"] if f["kind"] == "quarantine"] == ["manifest.csv"]


# --------------------------------------------------------------------------- stamps after store rows


def _scores_table() -> pl.DataFrame:
    rows = []
    for i, subject in enumerate(("P1", "P2", "P3")):
        for j, measure in enumerate(("symmetry_index", "symmetry_mouth")):
            rows.append(
                {
                    "site": "north", "subject": subject, "session": "20260105",
                    "session_date": dt.date(2026, 1, 5), "measure": measure,
                    "region": "overall" if j == 0 else "mouth", "value": 70.0 + i + j, "unit": "0-100",
                    "z": None, "percentile": 40.0 + i, "weaker_side": "left", "change_since_first": 0.0,
                    "simulated": False, "model_version": None,
                }
            )
    return pl.DataFrame(rows).pipe(with_named_basis).select([pl.col(c).cast(t) for c, t in SCORE_SCHEMA.items()])


def test_a_store_outage_during_report_loses_no_report_row(tmp_path, monkeypatch):
    """Was: the stamp was written before the ``reports`` row, so after the rerun PDFs outnumbered rows."""
    project = _project(tmp_path, "report:\n  deterministic: true\n")
    scores = _scores_table()
    path = project.path("data/scores/scores.parquet")
    path.parent.mkdir(parents=True)
    scores.write_parquet(path)
    with session_scope(project.engine) as db:
        repo.upsert_scores(db, scores.to_dicts())

    real, calls = repo.add_report, {"n": 0}

    def flaky(db, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # the second session's clinician row (each session writes a clinician and a patient row)
            raise sa.exc.OperationalError("INSERT INTO reports", {}, Exception("connection refused"))
        return real(db, *args, **kwargs)

    monkeypatch.setattr(repo, "add_report", flaky)
    with pytest.raises(sa.exc.OperationalError):
        stages.report(project)
    monkeypatch.setattr(repo, "add_report", real)
    again = stages.report(project)
    pdfs = sorted(project.path("data/reports").rglob("*.pdf"))
    with session_scope(project.engine) as db:
        rows = db.scalars(sa.select(Report)).all()
    assert len(pdfs) == len(rows) == 6
    assert sorted(r.kind for r in rows) == ["clinician"] * 3 + ["patient"] * 3
    assert again.processed == 2 and again.skipped == 1  # the session written before the outage stays done


# --------------------------------------------------------------------------- quarantine


def test_quarantine_paths_are_relative_and_resolved_items_are_not_listed(tmp_path):
    """Was: ``quarantined_path`` stored absolute; fixed items stayed listed as failures."""
    project = _project(tmp_path)
    drop = tmp_path / "drops" / "north"
    drop.mkdir(parents=True)
    (drop / "manifest.csv").write_text("subject,session_date,task,file\nP1,2026-01-01,rest,a.wav\n")
    (drop / "a.wav").write_bytes(b"RIFF not really a wav")
    res = stages.ingest_drop(project, "north", drop)
    assert res.failed == 1
    with session_scope(project.engine) as db:
        (item,) = db.scalars(sa.select(QuarantineItem)).all()
        assert item.quarantined_path and not Path(item.quarantined_path).is_absolute()
        assert project.path("data").joinpath(item.quarantined_path).is_file()
    assert stages.status(project)["sites"]["north"]["quarantined"] == 1
    # the same refusal again is listed once, not twice
    stages.ingest_drop(project, "north", drop)
    assert len([f for f in stages.status(project)["failures"] if f["kind"] == "quarantine"]) == 1
    # a later success for the same recording resolves it
    with session_scope(project.engine) as db:
        n = repo.resolve_quarantine(db, "north", original_name=keyed_name(project.secret, "a.wav"))  # stored keyed
    assert n == 1
    summary = stages.status(project)
    assert summary["sites"]["north"]["quarantined"] == 0
    assert [f for f in summary["failures"] if f["kind"] == "quarantine"] == []


def test_a_landmarks_refusal_is_resolved_when_the_recording_later_succeeds(tmp_path):
    project = _project(tmp_path)
    key = "site-north_sub-P1_ses-20260101_task-rest"
    stages.runs.quarantine_in_store(project, "north", "raw.mpg", None, "landmarks: no face", recording_key=key)
    stages.runs.quarantine_in_store(project, "north", key, None, "validation: too asymmetric", recording_key=key)
    n = stages.runs.resolve_in_store(project, "north", recording_key=key, reason_prefix="landmarks:")
    assert n == 1
    assert [f["reason"] for f in stages.status(project)["failures"]] == ["validation: too asymmetric"]


# --------------------------------------------------------------------------- orphans


def _alive(pid: int) -> bool:
    from palsyflow.stages.lock import pid_alive

    return pid_alive(pid)


def test_pool_workers_die_with_their_parent(tmp_path):
    """Was: killing the main process left its pool workers running."""
    child = _spawn(
        """
        import os, sys, time
        from palsyflow.config import ExecutorParams
        from palsyflow.executors import run_jobs
        jobs = [(str(i), (60,)) for i in range(2)]
        print("ready", os.getpid(), flush=True)
        for _ in run_jobs(time.sleep, jobs, ExecutorParams(kind="process", workers=2)):
            pass
        """
    )
    _wait_ready(child)
    workers: list[int] = []
    deadline = time.monotonic() + 60
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        out = subprocess.run(["pgrep", "-P", str(child.pid)], capture_output=True, text=True).stdout.split()
        workers = [int(p) for p in out if "multiprocessing" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")
                   and "spawn_main" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")]
    assert len(workers) == 2, "the pool did not start"
    time.sleep(2)  # let the workers run their initializer
    child.send_signal(signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in workers)


def test_the_temporary_prefect_server_dies_with_its_parent():
    """Was: killing the main process left the temporary Prefect server running (about 750 MB)."""
    pytest.importorskip("prefect")
    child = _spawn(
        """
        import os, time
        os.environ.pop("PREFECT_API_URL", None)
        from flows.server import temporary_server
        with temporary_server() as url:
            print("ready", url, flush=True)
            time.sleep(120)
        """
    )
    line = _wait_ready(child)
    port = line.split(":")[-1].split("/")[0]
    servers = [
        int(p) for p in subprocess.run(["pgrep", "-P", str(child.pid)], capture_output=True, text=True).stdout.split()
    ]
    assert servers and all(port in Path(f"/proc/{p}/cmdline").read_text(errors="replace") for p in servers)
    child.send_signal(signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in servers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in servers)


def test_the_temporary_server_takes_the_flow_s_last_logs_before_it_stops():
    """Was: every ``palsyflow demo`` ended with "--- Error logging to API --- All connection
    attempts failed": log records still queued were sent at exit, to the stopped server."""
    pytest.importorskip("prefect")
    child = _spawn(
        """
        import os
        os.environ.pop("PREFECT_API_URL", None)
        from flows.server import temporary_server
        with temporary_server():
            from prefect import flow, get_run_logger

            @flow
            def chatty():
                log = get_run_logger()
                for i in range(200):
                    log.warning("line %d", i)  # the tests set PREFECT_LOGGING_LEVEL=WARNING

            chatty()
        print("ready", flush=True)
        """
    )
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0 and out.startswith("ready"), err[-2000:]
    assert "Error logging to API" not in err, err[-2000:]


def test_ingest_fails_only_when_no_drop_could_be_read():
    """One site's unreadable manifest is its refusal; the stage (and the flow) fail only when every drop was unreadable."""
    from palsyflow.stages.ingest import nothing_readable

    assert nothing_readable([None, "site b: manifest.csv: not UTF-8"]) is None
    assert nothing_readable(["site a: x", "site b: y"]) == "site a: x; site b: y"
    assert nothing_readable([]) is None
