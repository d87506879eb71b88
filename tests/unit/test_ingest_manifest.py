"""read_manifest: row parsing, per-row problems, whole-manifest errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from palsyflow.config import IngestParams
from palsyflow.ingest.tasks import canonical_task
from palsyflow.ingest.manifest import (
    ManifestError,
    parse_flag,
    parse_hb_grade,
    read_manifest,
)

PARAMS = IngestParams()


def _drop(tmp_path: Path, manifest: str, files: tuple[str, ...] = ("a.mp4", "b.jpg")) -> Path:
    drop = tmp_path / "drop"
    drop.mkdir()
    for name in files:
        (drop / name).parent.mkdir(parents=True, exist_ok=True)
        (drop / name).write_bytes(b"x")
    (drop / "manifest.csv").write_text(manifest, encoding="utf-8")
    return drop


def test_good_rows(tmp_path: Path) -> None:
    drop = _drop(
        tmp_path,
        "\ufeffSubject , session_date,task,file,hb_grade,healthy,simulated,notes\n"
        "P01,2024-03-05,at-rest,a.mp4,III,no,,first visit\n"
        "P01,2024-03-05,Brow raise,a.mp4,2,,yes,\n"
        " p02 ,2023-12-31,reading,b.jpg,,YES,0,\n",
    )
    rows, problems = read_manifest(drop, PARAMS)
    assert problems == []
    assert [r.line for r in rows] == [2, 3, 4]
    r0, r1, r2 = rows
    assert (r0.subject, r0.session, r0.session_date, r0.task) == ("P01", "20240305", date(2024, 3, 5), "rest")
    assert r0.file == (drop / "a.mp4").absolute() and r0.file.is_absolute()
    assert (r0.hb_grade, r0.healthy, r0.simulated, r0.notes) == (3, False, None, "first visit")
    assert (r1.task, r1.hb_grade, r1.healthy, r1.simulated, r1.notes) == ("brow_raise", 2, None, True, None)
    assert (r2.subject, r2.task, r2.healthy, r2.simulated, r2.session) == ("p02", "speech", True, False, "20231231")


def test_row_problems(tmp_path: Path) -> None:
    drop = _drop(
        tmp_path,
        "subject,session_date,task,file,hb_grade,healthy\n"
        "P01,2024-03-05,wiggle-ears,a.mp4,,\n"  # 2 unknown task
        "P01,05/03/2024,rest,a.mp4,,\n"  # 3 bad date format
        "P01,2024-02-30,rest,a.mp4,,\n"  # 4 not a calendar date
        "P01,2024-03-05,rest,a.mp4,7,\n"  # 5 grade out of range
        "P01,2024-03-05,rest,a.mp4,,maybe\n"  # 6 bad flag
        "P01,2024-03-05,rest,missing.mp4,,\n"  # 7 missing file
        " ,2024-03-05,rest,a.mp4,,\n"  # 8 empty subject
        "P01,2024-03-05,rest,../a.mp4,,\n"  # 9 outside drop
        ",,,,,\n"  # blank row (Excel's trailing rows): skipped, nothing to refuse
        "-,never,nap,,mild,perhaps\n"  # 11 everything wrong at once
        "P01,2024-03-05,smile,b.jpg,VI,1\n",  # 12 fine
    )
    rows, problems = read_manifest(drop, PARAMS)
    assert [r.line for r in rows] == [12]
    assert rows[0].hb_grade == 6 and rows[0].healthy is True
    by_line = {p.line: p for p in problems}
    assert sorted(by_line) == [*range(2, 10), 11]
    expect = {
        2: "unknown task 'wiggle-ears'",
        3: "bad session_date",
        4: "not a calendar date",
        5: "bad hb_grade '7'",
        6: "bad healthy 'maybe'",
        7: "not found",
        8: "empty subject",
        9: "outside the drop folder",
    }
    for line, fragment in expect.items():
        assert fragment in by_line[line].reason, by_line[line]
        assert by_line[line].reason.startswith(f"manifest.csv line {line}: ")
    assert by_line[2].file == drop / "a.mp4"
    assert by_line[9].file is None
    assert by_line[11].reason.count(";") >= 5  # all problems of the row are listed


def test_missing_manifest(tmp_path: Path) -> None:
    (tmp_path / "drop").mkdir()
    with pytest.raises(ManifestError, match="manifest.csv: manifest is missing"):
        read_manifest(tmp_path / "drop", PARAMS)


def test_missing_column(tmp_path: Path) -> None:
    drop = _drop(tmp_path, "subject,date,task,file\nP01,2024-03-05,rest,a.mp4\n")
    with pytest.raises(ManifestError, match=r"manifest.csv: missing required column\(s\) session_date"):
        read_manifest(drop, PARAMS)


@pytest.mark.parametrize("content", [b"", b"subject,session_date,task,file\n\xff\xfe\x00bad,\x80\x81,x,y\n"])
def test_unreadable_manifest(tmp_path: Path, content: bytes) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "manifest.csv").write_bytes(content)
    with pytest.raises(ManifestError, match=str(drop)):
        read_manifest(drop, PARAMS)


def test_header_only_manifest(tmp_path: Path) -> None:
    drop = _drop(tmp_path, "subject,session_date,task,file\n")
    assert read_manifest(drop, PARAMS) == ([], [])


def test_parsers() -> None:
    assert [parse_hb_grade(v) for v in ("1", " iv ", "HB III", "hb-6", "", None, "2.0")] == [1, 4, 3, 6, None, None, 2]
    for bad in ("0", "VII", "mild", "3a"):
        with pytest.raises(ValueError):
            parse_hb_grade(bad)
    assert [parse_flag(v, "x") for v in ("Yes", "n", "TRUE", "0", "")] == [True, False, True, False, None]
    assert canonical_task("EYES-CLOSED", PARAMS.task_aliases) == "eye_closure_full"
    assert canonical_task("eye closure gentle", PARAMS.task_aliases) == "eye_closure_gentle"
    assert canonical_task("speech", PARAMS.task_aliases) == "speech"
    custom = IngestParams(task_aliases={"Grin": "smile"})
    assert canonical_task("grin", custom.task_aliases) == "smile"
    with pytest.raises(ValueError):
        canonical_task("at-rest", custom.task_aliases)


def test_big_smile_maps_to_smile_in_the_manifest_and_in_measure(tmp_path: Path) -> None:
    """One alias rule: ``big_smile`` (underscore) is the alias ``big-smile`` in both callers."""
    from palsyflow.features import session as measure_module
    from palsyflow.ingest import tasks as task_module

    drop = _drop(tmp_path, "subject,session_date,task,file\nP1,2024-03-05,big_smile,a.mp4\nP1,2024-03-05,Big Smile,a.mp4\n")
    rows, problems = read_manifest(drop, PARAMS)
    assert problems == [] and [r.task for r in rows] == ["smile", "smile"]
    assert measure_module.canonical_task is task_module.canonical_task  # the measure command's resolver
    assert canonical_task("big_smile", PARAMS.task_aliases) == "smile"
    with pytest.raises(ValueError, match="unknown task"):
        canonical_task("small_smile", PARAMS.task_aliases)
