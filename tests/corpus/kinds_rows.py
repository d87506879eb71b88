"""Corpus kinds of manifest rows a clinic gets wrong: tasks, grades, flags, paths, empty and non-media files.

Each item is a real GRID clip (or a file derived from one) under a row with one mistake;
the rule each kind names is the sentence ``palsyflow.ingest.manifest`` / ``plan`` refuses
it with.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.corpus.base import Kind, Row, Sources

SESSION = "2024-06-03"


def _row(subject: str, file: str, task: str = "rest", **extra: str) -> Row:
    return {"subject": subject, "session_date": SESSION, "task": task, "file": file, "healthy": "yes", **extra}


def _clip(drop: Path, sources: Sources, index: int, name: str) -> str:
    shutil.copyfile(sources.other_videos[index], drop / name)
    return name


def _unknown_task(drop: Path, sources: Sources) -> list[Row]:
    return [_row("RTASK", _clip(drop, sources, 0, "rows-unknown-task.mpg"), task="small-smile")]


def _bad_grade(drop: Path, sources: Sources) -> list[Row]:
    return [_row("RGRADE", _clip(drop, sources, 1, "rows-bad-grade.mpg"), hb_grade="7")]


def _bad_flag(drop: Path, sources: Sources) -> list[Row]:
    return [_row("RFLAG", _clip(drop, sources, 2, "rows-bad-flag.mpg"), healthy="maybe")]


def _missing_file(drop: Path, sources: Sources) -> list[Row]:
    return [_row("RMISS", "rows-missing.mpg")]


def _outside_drop(drop: Path, sources: Sources) -> list[Row]:
    shutil.copyfile(sources.other_videos[3], drop.parent / "rows-outside.mpg")
    return [_row("ROUT", "../rows-outside.mpg")]


def _empty_file(drop: Path, sources: Sources) -> list[Row]:
    (drop / "rows-empty.mp4").write_bytes(b"")
    return [_row("REMPTY", "rows-empty.mp4")]


def _text_as_video(drop: Path, sources: Sources) -> list[Row]:
    (drop / "rows-notes.mp4").write_text("patient was tired today; repeat the smile next visit\n")
    return [_row("RTEXT", "rows-notes.mp4")]


KINDS: list[Kind] = [
    Kind("rows-unknown-task", _unknown_task, "refused", rule="unknown task"),
    Kind("rows-hb-grade-out-of-range", _bad_grade, "refused", rule="bad hb_grade"),
    Kind("rows-healthy-flag-not-yes-no", _bad_flag, "refused", rule="bad healthy"),
    Kind("rows-file-not-in-drop", _missing_file, "refused", rule="not found in the drop folder"),
    Kind("rows-path-outside-drop", _outside_drop, "refused", rule="points outside the drop folder"),
    Kind("rows-empty-file", _empty_file, "refused", rule="file is empty"),
    Kind("rows-text-file-named-mp4", _text_as_video, "refused", rule="not a photo, video or audio recording"),
]
