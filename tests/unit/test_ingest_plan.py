"""plan_ingest on a small real drop; copy_in and quarantine file operations."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

import palsyflow.ingest.plan as plan_mod
from palsyflow.atomic import sha256_file
from palsyflow.config import IngestParams
from palsyflow.ingest import (
    ImmutableRawError,
    ManifestError,
    SourceChangedError,
    copy_in,
    plan_ingest,
    quarantine,
)

PARAMS = IngestParams()

MANIFEST = (
    "subject,session_date,task,file,hb_grade,healthy,simulated,notes\n"
    "P01,2024-03-05,at-rest,clips/talk_a.mpg,III,no,,\n"  # 2 ok
    "P01,2024-03-05,reading,clips/talk_a.mpg,III,no,,\n"  # 3 ok, same clip serves speech
    "P02,2024-03-06,smile,talk_b.MPG,,yes,,\n"  # 4 ok
    "P02,2024-03-06,wiggle-ears,talk_b.MPG,,yes,,\n"  # 5 unknown task
    "P03,2024-03-07,rest,broken.mpg,,,,\n"  # 6 truncated clip
    "P02,2024-03-06,smile,clips/talk_a.mpg,,,,\n"  # 7 repeats line 4 with another file
)


@pytest.fixture()
def grid_clips(shared_data: Path) -> list[Path]:
    clips = sorted((shared_data / "talking-faces" / "grid").glob("*.mpg"))
    if len(clips) < 2:
        pytest.skip("need two GRID clips")
    return clips[:2]


@pytest.fixture()
def drop(tmp_path: Path, grid_clips: list[Path]) -> Path:
    d = tmp_path / "drop"
    (d / "clips").mkdir(parents=True)
    shutil.copyfile(grid_clips[0], d / "clips" / "talk_a.mpg")
    shutil.copyfile(grid_clips[1], d / "talk_b.MPG")
    (d / "broken.mpg").write_bytes(grid_clips[0].read_bytes()[:20_000])
    shutil.copyfile(grid_clips[1], d / "extra.mp4")  # on disk, named by no row
    (d / "README.txt").write_text("uploaded by clinic X\n")
    (d / ".DS_Store").write_bytes(b"\0")
    (d / "manifest.csv").write_text(MANIFEST)
    return d


def test_plan_small_drop(drop: Path, grid_clips: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    probed: list[Path] = []
    hashed: list[Path] = []
    real_probe, real_hash = plan_mod.probe_media, plan_mod.sha256_file
    monkeypatch.setattr(plan_mod, "probe_media", lambda p, params: probed.append(p) or real_probe(p, params))
    monkeypatch.setattr(plan_mod, "sha256_file", lambda p: hashed.append(Path(p)) or real_hash(p))

    plan = plan_ingest(drop, "CL1", PARAMS)

    # items ---------------------------------------------------------------------
    assert [i.row.line for i in plan.items] == [2, 3, 4]
    a_rest, a_speech, b_smile = plan.items
    assert (a_rest.row.task, a_speech.row.task, b_smile.row.task) == ("rest", "speech", "smile")
    assert a_rest.source == a_speech.source == drop / "clips" / "talk_a.mpg"
    assert a_rest.sha256 == a_speech.sha256 == sha256_file(grid_clips[0])
    assert b_smile.sha256 == sha256_file(grid_clips[1])
    assert a_rest.media.kind == "video" and a_rest.media.fps == pytest.approx(25.0)
    assert a_rest.row.hb_grade == 3 and a_rest.row.healthy is False
    assert b_smile.row.healthy is True and b_smile.row.hb_grade is None
    assert a_rest.target.key == "site-CL1_sub-P01_ses-20240305_task-rest"
    assert a_speech.target.key == "site-CL1_sub-P01_ses-20240305_task-speech"
    assert b_smile.target.extension == ".mpg"  # lower-cased from .MPG
    assert b_smile.target.raw(Path("/r")) == Path(
        "/r/site-CL1/sub-P02/ses-20240306/beh/sub-P02_ses-20240306_task-smile_video.mpg"
    )

    # rejected ------------------------------------------------------------------
    got = [(r.line, r.source, r.reason) for r in plan.rejected]
    assert [g[0] for g in got] == [5, 6, 7, None]
    assert got[0][1] == drop / "talk_b.MPG" and "unknown task 'wiggle-ears'" in got[0][2]
    assert got[1][1] == drop / "broken.mpg" and got[1][2].startswith("manifest.csv line 6: broken.mpg: file is truncated")
    assert got[2][1] == drop / "clips" / "talk_a.mpg" and "already given by line 4" in got[2][2]
    assert got[3] == (None, drop / "extra.mp4", "not listed in manifest.csv")
    assert all(r.sha256 and len(r.sha256) == 64 for r in plan.rejected)

    # each file probed once and hashed once
    assert sorted(map(str, probed)) == sorted(map(str, {drop / "clips/talk_a.mpg", drop / "talk_b.MPG", drop / "broken.mpg"}))
    assert len(hashed) == len(set(hashed)) == 4


def test_bad_file_rejected_once_per_row(tmp_path: Path) -> None:
    d = tmp_path / "drop"
    d.mkdir()
    (d / "v.mp4").write_bytes(os.urandom(4096))
    (d / "manifest.csv").write_text(
        "subject,session_date,task,file\nS1,2024-01-02,rest,v.mp4\nS1,2024-01-02,speech,v.mp4\n"
    )
    plan = plan_ingest(d, "A", PARAMS)
    assert plan.items == []
    assert [r.line for r in plan.rejected] == [2, 3]
    assert all(r.reason.startswith(f"manifest.csv line {r.line}: v.mp4: ") for r in plan.rejected)


def test_missing_manifest_raises(tmp_path: Path) -> None:
    with pytest.raises(ManifestError):
        plan_ingest(tmp_path, "A", PARAMS)


def _copied_drop(tmp_path: Path, clip: Path) -> Path:
    d = tmp_path / "drop"
    d.mkdir()
    shutil.copyfile(clip, d / "clip.mpg")
    (d / "manifest.csv").write_text("subject,session_date,task,file\nS1,2024-01-02,rest,clip.mpg\n")
    return d


def test_copy_in_once(tmp_path: Path, drop: Path) -> None:
    plan = plan_ingest(drop, "CL1", PARAMS)
    raw = tmp_path / "raw"
    item = plan.items[0]
    path, copied = copy_in(item, raw)
    assert copied is True and path == item.target.raw(raw)
    assert sha256_file(path) == item.sha256 and not path.is_symlink()
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    mtime = path.stat().st_mtime_ns
    path2, copied2 = copy_in(item, raw)
    assert (path2, copied2) == (path, False)
    assert path.stat().st_mtime_ns == mtime
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left


def test_changed_source_is_refused(tmp_path: Path, grid_clips: list[Path]) -> None:
    d = _copied_drop(tmp_path, grid_clips[0])
    raw = tmp_path / "raw"
    first = plan_ingest(d, "A", PARAMS).items[0]
    target, copied = copy_in(first, raw)
    assert copied

    # the clinic re-uploads different bytes under the same name, same row
    shutil.copyfile(grid_clips[1], d / "clip.mpg")
    second = plan_ingest(d, "A", PARAMS).items[0]
    assert second.target == first.target and second.sha256 != first.sha256
    with pytest.raises(ImmutableRawError, match="immutable"):
        copy_in(second, raw)
    assert sha256_file(target) == first.sha256  # untouched


def test_source_changed_after_planning(tmp_path: Path, grid_clips: list[Path]) -> None:
    d = _copied_drop(tmp_path, grid_clips[0])
    item = plan_ingest(d, "A", PARAMS).items[0]
    shutil.copyfile(grid_clips[1], d / "clip.mpg")
    raw = tmp_path / "raw"
    with pytest.raises(SourceChangedError):
        copy_in(item, raw)
    assert not item.target.raw(raw).exists()
    assert list(item.target.raw(raw).parent.iterdir()) == []


def test_quarantine_writes_sidecar_and_is_idempotent(tmp_path: Path) -> None:
    src = tmp_path / "drop" / "bad clip.mp4"
    src.parent.mkdir()
    src.write_bytes(b"not a video at all")
    qroot = tmp_path / "quarantine"
    sha = sha256_file(src)

    dest = quarantine(src, "bad clip.mp4: cannot open as media", qroot, "CL1", sha)
    assert dest == qroot / "site-CL1" / f"{sha}.mp4"  # named by content, never by the uploaded name
    assert dest.read_bytes() == src.read_bytes()
    sidecar = dest.with_name(dest.name + ".reason.json")
    meta = json.loads(sidecar.read_text())
    assert meta["file"] == "bad clip.mp4" and meta["site"] == "CL1" and meta["sha256"] == sha
    assert meta["reason"] == "bad clip.mp4: cannot open as media" and meta["when"]
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in dest.parent.iterdir()}

    again = quarantine(src, "bad clip.mp4: cannot open as media", qroot, "CL1")  # sha computed
    assert again == dest
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in dest.parent.iterdir()}
    assert after == before and len(after) == 2

    quarantine(src, "another reason", qroot, "CL1", sha)
    assert json.loads(sidecar.read_text())["reason"] == "another reason"
    assert len(list(dest.parent.iterdir())) == 2


def test_quarantine_missing_source(tmp_path: Path) -> None:
    dest = quarantine(tmp_path / "gone.mp4", "file not found", tmp_path / "q", "CL1")
    assert dest.name == "nohash_gone.mp4" and not dest.exists()
    meta = json.loads(dest.with_name("nohash_gone.mp4.reason.json").read_text())
    assert meta["sha256"] is None and meta["reason"] == "file not found"
