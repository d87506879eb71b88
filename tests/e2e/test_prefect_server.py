"""The nightly deployment on a real ``prefect server``: the scheduler creates a run, ``palsyflow serve`` runs it.

Starts ``prefect server start`` on a free loopback port (its own PREFECT_HOME, the
scheduler service looping every 5 s), then ``palsyflow serve`` with a cron that fires
every minute, on a one-recording cohort. Through the Prefect client it checks that a
SCHEDULED run of ``nightly/nightly-cohort`` appears (the scheduler failed on every loop
under SQLAlchemy 2.1), that the run completes with every stage's task COMPLETED, and
that the stage summaries logged at INFO are stored by the server. Both services are
killed as process groups at the end.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.support.servers import free_port, process_group, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

BIN = Path(sys.executable).parent
#: Every task of the nightly flow (flows/nightly.py), in pipeline order
STAGES = {"ingest", "landmarks", "features", "validate", "train", "dvc-commit-train", "register", "score", "report", "deliver", "dvc-commit"}


def _project(tmp: Path, grid: Path, face_model: Path) -> Path:
    root = tmp / "project"
    drop = root / "drops" / "alpha"
    drop.mkdir(parents=True)
    shutil.copyfile(grid / "bbaf2n.mpg", drop / "A1.mpg")
    (drop / "manifest.csv").write_text("subject,session_date,task,file,hb_grade,healthy\nA1,2026-01-05,rest,A1.mpg,,yes\n")
    params = {
        "paths": {"drops": "drops", "data": "data", "face_model": str(face_model)},
        "executor": {"kind": "serial"},
        "landmarks": {"tta_copies": 1},
        "schedule": {"cron": "0 2 * * *", "timezone": "Europe/Berlin"},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def _env(tmp: Path, api_url: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def _wait(what: str, fn, timeout_s: float, logs: list[Path]):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(2)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs)
    raise AssertionError(f"{what} did not happen within {timeout_s:.0f} s\n{tails}")


def test_scheduled_run_fires_and_reports_through_the_api(tmp_path, shared_data, face_model):
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId, FlowRunFilterId, LogFilter, LogFilterFlowRunId

    root = _project(tmp_path, shared_data / "talking-faces" / "grid", face_model)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    server_log, serve_log = tmp_path / "prefect-server.log", tmp_path / "palsyflow-serve.log"
    server_cmd = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with process_group(server_cmd, _env(tmp_path, None), server_log) as server:
        wait_for(f"{api}/health", server, server_log, timeout_s=180)
        serve_cmd = [str(BIN / "palsyflow"), "serve", "--root", str(root), "--cron", "* * * * *"]
        with process_group(serve_cmd, _env(tmp_path, api), serve_log, cwd=root):
            client = SyncPrefectClient(api)
            with client:
                logs = [server_log, serve_log]
                dep = _wait("deployment registered", lambda: _deployment(client), 180, logs)
                # the cron's time zone comes from params.yaml, the expression from --cron
                assert dep.schedules[0].schedule.cron == "* * * * *"
                assert dep.schedules[0].schedule.timezone == "Europe/Berlin"
                runs_of = FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[dep.id]))
                scheduled = _wait(
                    "a SCHEDULED run",
                    lambda: [r for r in client.read_flow_runs(flow_run_filter=runs_of) if r.state_type.value == "SCHEDULED"],
                    120, logs,
                )
                assert scheduled[0].auto_scheduled, "the run was not created by the server's scheduler"
                # ``serve`` runs one at a time (limit=1): the first run to finish is the one to check
                done = _wait(
                    "a finished run",
                    lambda: [r for r in client.read_flow_runs(flow_run_filter=runs_of) if r.state_type.value in ("COMPLETED", "FAILED", "CRASHED")],
                    360, logs,
                )
                run = done[0]
                assert run.state_type.value == "COMPLETED", f"{run.state}\n{serve_log.read_text(errors='replace')[-3000:]}"
                tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
                states = {t.name.rsplit("-", 1)[0]: t.state_type.value for t in tasks}
                assert set(states) == STAGES, states
                assert set(states.values()) == {"COMPLETED"}, states
                messages = [
                    log.message for log in client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
                ]
                assert any(m.startswith("ingest done in") and "1 processed" in m for m in messages), messages
                assert any(m.startswith("landmarks done in") for m in messages), messages


def _deployment(client):
    try:
        return client.read_deployment_by_name("nightly/nightly-cohort")
    except Exception:  # noqa: BLE001 - not registered yet
        return None
