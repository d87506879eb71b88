"""Paths, parameters, atomic writes and executors: the plumbing every stage relies on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from palsyflow.atomic import atomic_path, atomic_write_text, sha256_file
from palsyflow.config import ExecutorParams, Params, load_params
from palsyflow.executors import run_jobs
from palsyflow.conventions import TASKS
from palsyflow.paths import InvalidLabelError, RecordingPath, check_label, session_key, task_label

ROOT = Path(__file__).resolve().parents[2]


def test_recording_path_builds_bids_like_names(tmp_path):
    rp = RecordingPath("north", "N01", "20260114", "rest", kind="video", extension=".mpg")
    assert rp.raw(tmp_path) == tmp_path / "site-north/sub-N01/ses-20260114/beh/sub-N01_ses-20260114_task-rest_video.mpg"
    assert rp.derivative(tmp_path, "landmarks").name == "sub-N01_ses-20260114_task-rest_landmarks.parquet"
    assert RecordingPath.from_key(rp.key) == rp.with_(extension=".mp4")


@pytest.mark.parametrize("bad", ["N-01", "", "a b", "x_y", "ü"])
def test_recording_path_rejects_non_alphanumeric_labels(bad):
    with pytest.raises(InvalidLabelError):
        RecordingPath("north", bad, "20260114", "rest")


@pytest.mark.parametrize("bad", ["N-01", "B 29", "\u00d130-Jos\u00e9", "B28/../../x", " N01", "", "--", "N01\n"])
def test_labels_are_validated_never_rewritten(bad):
    """Defect: ``N-01`` became ``N01`` (paths.to_label); now every non-label is refused, with the rule."""
    with pytest.raises(InvalidLabelError, match=r"is not a valid label: only letters A-Z, a-z and digits 0-9 \(BIDS label rule\)"):
        check_label("subject", bad)
    assert check_label("subject", "N01") == "N01"


def test_task_label_is_defined_for_protocol_tasks_only():
    assert task_label("brow_raise") == "browraise"
    assert {task_label(t) for t in TASKS} == {t.replace("_", "") for t in TASKS}
    assert len({task_label(t) for t in TASKS}) == len(TASKS)  # no two tasks share a label
    with pytest.raises(InvalidLabelError, match="not a protocol task"):
        task_label("Brow Raise")


@pytest.mark.parametrize("task", TASKS)
def test_recording_key_round_trips_for_every_protocol_task(task):
    rp = RecordingPath.from_task("north", "N01", "20260114", task)
    assert rp.task == task_label(task)
    assert rp.key == f"site-north_sub-N01_ses-20260114_task-{task_label(task)}"
    assert RecordingPath.from_key(rp.key) == rp
    assert rp.key.startswith(rp.session_key + "_") and rp.session_key == session_key("north", "N01", "20260114")


def test_from_key_refuses_keys_with_separators_in_a_label():
    with pytest.raises(ValueError):
        RecordingPath.from_key("site-north_sub-N01_ses-20260114_task-brow_raise")
    with pytest.raises(InvalidLabelError):
        session_key("north", "N-01", "20260114")


def test_params_yaml_in_repo_is_valid_and_complete():
    params = load_params(ROOT / "params.yaml")
    # every section is spelled out in params.yaml, so DVC can track each one
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert set(raw) == {f.alias or name for name, f in Params.model_fields.items()}
    assert params == Params.model_validate(raw)


def test_params_reject_unknown_keys_and_bad_types(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("landmarks:\n  tta_copiez: 3\n")
    with pytest.raises(ValidationError):
        load_params(f)
    f.write_text("landmarks:\n  tta_copies: many\n")
    with pytest.raises(ValidationError):
        load_params(f)


def test_section_digest_changes_with_values_only():
    a, b = Params().landmarks, Params().landmarks
    assert a.digest() == b.digest()
    assert a.model_copy(update={"tta_copies": 3}).digest() != a.digest()


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temp file left


def test_sha256_file_matches_hashlib(tmp_path):
    import hashlib

    data = os.urandom(3 << 20)
    (tmp_path / "b").write_bytes(data)
    assert sha256_file(tmp_path / "b") == hashlib.sha256(data).hexdigest()


def _square_or_fail(x: int) -> int:
    if x == 3:
        raise ValueError("three is bad")
    return x * x


@pytest.mark.parametrize("kind,workers", [("serial", 1), ("process", 2)])
def test_run_jobs_reports_each_failure_and_goes_on(kind, workers):
    jobs = [(f"k{i}", (i,)) for i in range(6)]
    outcomes = {o.key: o for o in run_jobs(_square_or_fail, jobs, ExecutorParams(kind=kind, workers=workers))}
    assert set(outcomes) == {f"k{i}" for i in range(6)}
    assert not outcomes["k3"].ok and "three is bad" in outcomes["k3"].error
    assert [outcomes[f"k{i}"].value for i in (0, 1, 2, 4, 5)] == [0, 1, 4, 16, 25]


def test_run_jobs_on_a_dask_cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        params = ExecutorParams(dask_scheduler=cluster.scheduler_address)
        outcomes = {o.key: o for o in run_jobs(_square_or_fail, [("a", (2,)), ("b", (3,))], params)}
    assert outcomes["a"].value == 4
    assert not outcomes["b"].ok


def test_code_digest_changes_with_the_stage_source(tmp_path, monkeypatch):
    from palsyflow import stages

    a = stages.code_digest("scoring")
    assert a == stages.code_digest("scoring")
    assert a != stages.code_digest("reports")
    assert stages.code_digest("scoring", "models") != a
