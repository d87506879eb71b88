"""Read a drop's ``manifest.csv``: one row per (recording file, task).

Columns (header names are matched case-insensitively, surrounding spaces ignored):

``subject`` (required)
    Clinic subject code; made alphanumeric with :func:`palsyflow.paths.to_label`.
``session_date`` (required)
    ``YYYY-MM-DD``; the session label is the same date as ``YYYYMMDD``.
``task`` (required)
    A protocol task (:data:`palsyflow.conventions.TASKS`) or an alias from
    ``IngestParams.task_aliases``, resolved by :func:`palsyflow.ingest.tasks.canonical_task`.
``file`` (required)
    Path relative to the drop folder. One file may serve several rows (tasks).
``hb_grade``
    House-Brackmann grade 1-6, arabic or roman (I-VI), optionally prefixed ``HB``;
    empty = unknown.
``healthy``, ``simulated``
    yes/no, true/false, y/n, 1/0; empty = unknown (``simulated`` defaults to false).
``notes``
    Free text, kept as is.

A row that cannot be used becomes a :class:`ManifestProblem`; only a manifest that
cannot be read at all raises :class:`ManifestError`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from palsyflow.config import IngestParams
from palsyflow.ingest.tasks import canonical_task
from palsyflow.paths import InvalidLabelError, to_label

MANIFEST_NAME = "manifest.csv"
REQUIRED_COLUMNS: tuple[str, ...] = ("subject", "session_date", "task", "file")
OPTIONAL_COLUMNS: tuple[str, ...] = ("hb_grade", "healthy", "simulated", "notes")

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6}
_TRUE = frozenset({"yes", "y", "true", "t", "1"})
_FALSE = frozenset({"no", "n", "false", "f", "0"})


class ManifestError(ValueError):
    """The manifest as a whole cannot be read (missing, unreadable, missing a column)."""


@dataclass(frozen=True)
class ManifestRow:
    """One usable manifest row.

    Attributes
    ----------
    subject : str
        Alphanumeric subject label.
    session : str
        Session label, the session date as ``YYYYMMDD``.
    session_date : datetime.date
        The session date.
    task : str
        Canonical protocol task (an element of :data:`palsyflow.conventions.TASKS`).
    file : pathlib.Path
        Absolute path of the recording inside the drop folder (not resolved through
        symlinks).
    hb_grade : int or None
        House-Brackmann grade 1-6; ``None`` when unknown.
    healthy : bool or None
        ``None`` when the manifest does not say.
    simulated : bool
        True for phantom (synthetically weakened) recordings.
    line : int
        1-based line number in ``manifest.csv`` (the header is line 1).
    notes : str or None
        Free text from the ``notes`` column.
    """

    subject: str
    session: str
    session_date: date
    task: str
    file: Path
    hb_grade: int | None
    healthy: bool | None
    simulated: bool
    line: int
    notes: str | None = None


@dataclass(frozen=True)
class ManifestProblem:
    """A manifest row that cannot be used, and why.

    Attributes
    ----------
    line : int
        1-based line number in ``manifest.csv``.
    file : pathlib.Path or None
        Absolute path the row names, when it names one inside the drop folder.
    reason : str
        Every problem found in the row, joined with ``"; "``.
    """

    line: int
    file: Path | None
    reason: str


def parse_hb_grade(value: str | None) -> int | None:
    """House-Brackmann grade from ``"3"``, ``"III"``, ``"HB III"``; empty gives ``None``.

    Raises
    ------
    ValueError
        If the text is not a grade 1-6.
    """
    text = (value or "").strip()
    if not text:
        return None
    core = re.sub(r"^hb[\s\-_]*", "", text, flags=re.IGNORECASE).strip().upper()
    grade: int | None = None
    if re.fullmatch(r"\d+(\.0+)?", core):
        grade = int(float(core))
    elif core in _ROMAN:
        grade = _ROMAN[core]
    if grade is None or not 1 <= grade <= 6:
        raise ValueError(f"bad hb_grade {text!r} (expected 1-6 or I-VI)")
    return grade


def parse_flag(value: str | None, column: str) -> bool | None:
    """A yes/no manifest cell as ``True``/``False``; empty gives ``None``.

    Raises
    ------
    ValueError
        If the text is not one of yes/no, true/false, y/n, t/f, 1/0.
    """
    text = (value or "").strip().lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"bad {column} {value!r} (expected yes/no, true/false or 1/0)")


def parse_session_date(value: str | None) -> date:
    """An ISO ``YYYY-MM-DD`` date.

    Raises
    ------
    ValueError
        If the text is empty, not in that form or not a real date.
    """
    text = (value or "").strip()
    if not _DATE.match(text):
        raise ValueError(f"bad session_date {text!r} (expected YYYY-MM-DD)")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"bad session_date {text!r} (not a calendar date)") from None


def _drop_file(drop_dir: Path, value: str | None) -> Path:
    """Absolute path of a manifest ``file`` cell; refuses paths outside the drop."""
    text = (value or "").strip()
    if not text:
        raise ValueError("empty file")
    rel = Path(text.replace("\\", "/"))
    if rel.is_absolute():
        raise ValueError(f"file {text!r} must be relative to the drop folder")
    full = Path(os.path.normpath(drop_dir / rel))
    if full == drop_dir or drop_dir not in full.parents:
        raise ValueError(f"file {text!r} points outside the drop folder")
    return full


def read_manifest(drop_dir: Path | str, params: IngestParams) -> tuple[list[ManifestRow], list[ManifestProblem]]:
    """Read and check ``<drop_dir>/manifest.csv``.

    Parameters
    ----------
    drop_dir : path-like
        A clinic's upload folder.
    params : IngestParams
        ``task_aliases``.

    Returns
    -------
    rows : list of ManifestRow
        Usable rows, in file order.
    problems : list of ManifestProblem
        Rows that cannot be used (unknown task, bad date, bad grade or flag, empty
        subject, empty / missing / out-of-drop file), in file order.

    Raises
    ------
    ManifestError
        If the manifest is missing, cannot be parsed as UTF-8 CSV, or lacks a required
        column.
    """
    drop_dir = Path(os.path.abspath(drop_dir))
    path = drop_dir / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"{path}: manifest is missing")
    try:
        df = pl.read_csv(path, infer_schema=False, truncate_ragged_lines=False, encoding="utf8")
    except pl.exceptions.NoDataError:
        raise ManifestError(f"{path}: manifest is empty") from None
    except Exception as exc:  # polars raises several error types for malformed CSV
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ManifestError(f"{path}: cannot read as CSV ({first})") from None

    df = df.rename({c: c.strip().lstrip("\ufeff").strip().lower() for c in df.columns})
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError(f"{path}: missing required column(s) {', '.join(missing)}")

    rows: list[ManifestRow] = []
    problems: list[ManifestProblem] = []
    for i, rec in enumerate(df.iter_rows(named=True)):
        line = i + 2
        reasons: list[str] = []
        file: Path | None = None
        try:
            file = _drop_file(drop_dir, rec.get("file"))
            if not file.is_file():
                reasons.append(f"file {rec.get('file')!r} not found in the drop folder")
        except ValueError as exc:
            reasons.append(str(exc))
        subject = ""
        try:
            subject = to_label((rec.get("subject") or "").strip())
        except InvalidLabelError:
            reasons.append(f"empty subject {rec.get('subject')!r} (no letters or digits)")
        session_date = None
        try:
            session_date = parse_session_date(rec.get("session_date"))
        except ValueError as exc:
            reasons.append(str(exc))
        task = ""
        try:
            task = canonical_task(rec.get("task") or "", params.task_aliases)
        except ValueError as exc:
            reasons.append(str(exc))
        hb_grade = healthy = simulated = None
        try:
            hb_grade = parse_hb_grade(rec.get("hb_grade"))
        except ValueError as exc:
            reasons.append(str(exc))
        try:
            healthy = parse_flag(rec.get("healthy"), "healthy")
        except ValueError as exc:
            reasons.append(str(exc))
        try:
            simulated = parse_flag(rec.get("simulated"), "simulated")
        except ValueError as exc:
            reasons.append(str(exc))

        if reasons:
            problems.append(ManifestProblem(line=line, file=file, reason="; ".join(reasons)))
            continue
        assert file is not None and session_date is not None
        notes = (rec.get("notes") or "").strip() or None
        rows.append(
            ManifestRow(
                subject=subject,
                session=session_date.strftime("%Y%m%d"),
                session_date=session_date,
                task=task,
                file=file,
                hb_grade=hb_grade,
                healthy=healthy,
                simulated=bool(simulated),
                line=line,
                notes=notes,
            )
        )
    return rows, problems
