"""A `dvc exp run` is isolated from production, and the registered model's provenance is the committed dvc.lock.

On a git clone of this checkout with a reduced healthy cohort (three clips per site, one
TTA copy): `dvc repro` and a git commit of `dvc.lock` and `data/metrics` (the nightly flow
of `palsyflow demo` does the same through `dvc commit`; a Prefect server is too slow to start
on a loaded CI machine), then `dvc exp run -S landmarks.tta_copies=2`. Checks that
`dvc exp show` has train metrics for the baseline and the experiment, that the store's
scores and reports, the `production` alias and the production PDFs are unchanged by the
experiment, and that the production version's tags equal train's entry in the committed
`dvc.lock`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _run(clone: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("DVC_EXP_NAME", None)
    proc = subprocess.run(list(args), cwd=clone, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _dvc(clone: Path, *args: str) -> str:
    return _run(clone, str(Path(sys.executable).parent / "dvc"), *args)


def _production_state(clone: Path) -> dict:
    from mlflow import MlflowClient

    db = sqlite3.connect(clone / "data" / "store" / "palsyflow.db")
    scores = sorted(db.execute("select session_id, measure, value, z, model_version from scores").fetchall(), key=str)
    reports = sorted(db.execute("select session_id, path, sha256 from reports").fetchall(), key=str)
    db.close()
    uri = f"sqlite:///{clone / 'data' / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    prod = client.get_model_version_by_alias("palsyflow-normative", "production")
    reports_dir = clone / "data" / "reports"
    pdfs = {
        p.relative_to(reports_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in reports_dir.rglob("*.pdf")
        if not p.relative_to(reports_dir).parts[0].startswith("exp-")
    }
    return {"scores": scores, "reports": reports, "production": str(prod.version), "tags": dict(prod.tags), "pdfs": pdfs}


@pytest.fixture(scope="module")
def clone(tmp_path_factory, face_model) -> Path:
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs a git checkout of palsyflow")
    dest = tmp_path_factory.mktemp("exp") / "palsyflow"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    (dest / "models" / "face_landmarker.task").symlink_to(face_model)
    for extra in (dest / "data" / "sample").iterdir():
        if extra.is_dir() and extra.name not in ("north", "south"):
            shutil.rmtree(extra)
    for site in ("north", "south"):  # three healthy sessions per site: six for the normative model
        drop = dest / "data" / "sample" / site
        lines = (drop / "manifest.csv").read_text().splitlines()
        files = []
        for row in lines[1:]:
            f = row.split(",")[3]
            if f not in files:
                files.append(f)
        kept = set(files[:3])
        (drop / "manifest.csv").write_text("\n".join([lines[0]] + [r for r in lines[1:] if r.split(",")[3] in kept]) + "\n")
        for f in drop.iterdir():
            if f.suffix in (".mpg", ".mp4", ".wav") and f.name not in kept:
                f.unlink()
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["landmarks"]["tta_copies"] = 1
    params["train"]["min_healthy_sessions"] = 3
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for k, v in (("user.email", "test@palsyflow.invalid"), ("user.name", "palsyflow test")):
        subprocess.run(["git", "config", k, v], cwd=dest, check=True)
    subprocess.run(["git", "commit", "-qam", "reduced cohort"], cwd=dest, check=True)
    return dest


def test_demo_then_experiment_leaves_production_alone(clone):
    # the baseline: the pipeline under DVC, then dvc.lock and the metrics committed (README: who commits what)
    _dvc(clone, "repro")
    _run(clone, "git", "add", "dvc.lock", "data/metrics", "data/.gitignore")
    _run(clone, "git", "commit", "-qm", "baseline: dvc.lock and metrics")
    assert _run(clone, "git", "status", "--porcelain", "--", "dvc.lock", "data/metrics") == ""
    before = _production_state(clone)
    assert before["scores"] and before["reports"] and before["pdfs"]

    # the production version's tags are train's entry in the committed dvc.lock
    lock = yaml.safe_load(_run(clone, "git", "show", "HEAD:dvc.lock"))["stages"]["train"]
    entries = {e["path"]: e["md5"] for e in lock["deps"] + lock["outs"]}
    assert {k[len("dvc.train."):]: v for k, v in before["tags"].items() if k.startswith("dvc.train.")} == entries
    scored = {row[4] for row in before["scores"] if row[4]}
    assert scored and all(v.startswith(f"palsyflow-normative/{before['production']} ") for v in scored), scored

    _dvc(clone, "exp", "run", "-S", "landmarks.tta_copies=2", "-n", "tta2")
    after = _production_state(clone)
    assert after == before  # store rows, production alias (and its tags), production PDFs
    assert list((clone / "data" / "reports" / "exp-tta2").rglob("*.pdf")), "the experiment's PDFs are in its own folder"

    from mlflow import MlflowClient

    uri = f"sqlite:///{clone / 'data' / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp_version = json.loads((clone / "data" / "registration.json").read_text())["normative_version"]
    v = client.get_model_version("palsyflow-normative", exp_version)
    assert v.tags["palsyflow.experiment"] == "tta2" and v.aliases == []
    run = client.get_run(v.run_id)
    assert "landmarks.tta_copies=2" in run.info.run_name and run.data.params["landmarks.tta_copies"] == "2"
    lock = yaml.safe_load((clone / "dvc.lock").read_text())["stages"]["train"]  # the experiment's lock
    assert v.tags["dvc.train.data/models"] == next(e["md5"] for e in lock["outs"] if e["path"] == "data/models")

    shown = json.loads(_dvc(clone, "exp", "show", "--json"))
    metrics = []
    for commit in shown:
        for rev in [commit] + [e for exp in (commit.get("experiments") or []) for e in (exp.get("revs") or [])]:
            files = ((rev.get("data") or {}).get("metrics") or {})
            if "data/metrics/train.json" in files:
                metrics.append((rev.get("name") or rev.get("rev"), files["data/metrics/train.json"]["data"]))
    assert len(metrics) >= 2, shown  # the baseline and the experiment
    assert all("normative_loso_ks" in m for _, m in metrics), metrics
