"""DVC and Prefect agree: `dvc repro` on a fresh clone, then the nightly flow, leave `dvc status` clean.

Works on a clone of this checkout with a smaller sample cohort (two clips) so it stays fast.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _dvc(clone: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), *args], cwd=clone, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory, face_model) -> Path:
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs a git checkout of palsyflow")
    dest = tmp_path_factory.mktemp("dvc") / "palsyflow"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    (dest / "models" / "face_landmarker.task").symlink_to(face_model)
    # keep two sites with one clip each
    for extra in (dest / "data" / "sample").iterdir():
        if extra.is_dir() and extra.name not in ("north", "south"):
            shutil.rmtree(extra)
    for site in ("north", "south"):
        drop = dest / "data" / "sample" / site
        lines = (drop / "manifest.csv").read_text().splitlines()
        keep = lines[:3]  # header + rest + speech of the first clip
        (drop / "manifest.csv").write_text("\n".join(keep) + "\n")
        kept = {row.split(",")[3] for row in keep[1:]}
        for f in drop.iterdir():
            if f.suffix == ".mpg" and f.name not in kept:
                f.unlink()
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["landmarks"]["tta_copies"] = 2
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return dest


def test_repro_then_nightly_leaves_dvc_status_clean(clone):
    from flows.nightly import nightly

    _dvc(clone, "repro")
    assert len(list((clone / "data" / "reports").rglob("*_report.pdf"))) == 2
    assert "up to date" in _dvc(clone, "status")
    summary = nightly(root=str(clone))
    assert summary["dvc"] == "committed"
    assert summary["landmarks"]["processed"] == 0  # dvc repro already did it, same params
    assert "up to date" in _dvc(clone, "status")


def test_a_second_nightly_after_dvc_commit_looks_at_no_item(clone):
    """``dvc commit`` leaves the outputs as they were: the next night finds every stage unchanged (issue 13, item 8)."""
    from flows.nightly import nightly

    summary = nightly(root=str(clone))
    assert all(r["unchanged"] for r in summary["ingest"]), summary["ingest"]
    assert summary["landmarks"]["unchanged"] and summary["features"]["unchanged"] and summary["report"]["unchanged"]
    assert "up to date" in _dvc(clone, "status")


def test_landmark_param_change_dirties_landmarks_not_ingest(clone):
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["landmarks"]["tta_copies"] = 3
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = _dvc(clone, "status")
    assert "landmarks:" in status
    assert "ingest:" not in status
