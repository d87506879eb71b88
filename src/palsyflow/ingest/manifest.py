"""Read a drop's ``manifest.csv``: one row per (recording file, task).

The manifest is comma-separated UTF-8 text (a UTF-8 byte-order mark is allowed), cells
with commas, quotes or line breaks in double quotes (RFC 4180). Columns (header names
are matched case-insensitively, surrounding spaces ignored; unknown columns are
ignored; a cell's surrounding spaces are not part of it):

``subject`` (required)
    Clinic subject code. It must already be a valid label (``[A-Za-z0-9]+``,
    :data:`palsyflow.paths.LABEL_RULE`): it is checked, never rewritten, so ``N-01``
    is refused rather than merged with ``N01``.
``session_date`` (required)
    ``YYYY-MM-DD``, not before 1900 and not after today (UTC); the session label is the
    same date as ``YYYYMMDD``.
``task`` (required)
    A protocol task (:data:`palsyflow.conventions.TASKS`) or an alias from
    ``IngestParams.task_aliases``, resolved by :func:`palsyflow.ingest.tasks.canonical_task`.
``file`` (required)
    Path relative to the drop folder. One file may serve several rows (tasks).
``hb_grade``
    House-Brackmann grade 1-6, arabic or roman (I-VI), optionally prefixed ``HB``;
    empty = unknown.
``healthy``, ``simulated``
    yes/no, true/false, y/n, 1/0; empty = not said. One subject has one value of each:
    a row contradicting an earlier row of the manifest is refused (the earlier stands).
``onset``
    The subject's date of onset of the palsy, ``YYYY-MM-DD``; empty = not said. Not after
    today (UTC), not after the row's ``session_date``, not before 1900; one subject has one
    onset date: a row giving another date than an earlier row of the subject is refused
    (the earlier stands). The session table's ``days_since_onset`` is computed from it.

A row that cannot be used becomes a :class:`ManifestProblem` whose reason starts with
``manifest.csv line <n>:`` (:func:`at_line`); a row with more cells than the header
(an unquoted comma) is one of them. Only a manifest that cannot be read at all raises
:class:`ManifestError`, with one sentence naming the manifest and the problem: missing,
empty, not UTF-8 (naming the encoding it looks like), ``;`` or tab as the delimiter,
a required column missing, a column named twice, or broken quoting.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from palsyflow.config import IngestParams
from palsyflow.conventions import SPEECH_TASKS
from palsyflow.ingest.tasks import canonical_task
from palsyflow.paths import LABEL_RULE, is_label

MANIFEST_NAME = "manifest.csv"
REQUIRED_COLUMNS: tuple[str, ...] = ("subject", "session_date", "task", "file")
OPTIONAL_COLUMNS: tuple[str, ...] = ("hb_grade", "healthy", "simulated", "notes", "prompt", "onset")

#: Longest accepted ``prompt`` (the text a speech task's speaker reads), characters.
MAX_PROMPT_CHARS = 2000
#: Earliest plausible session date.
EARLIEST_SESSION_DATE = date(1900, 1, 1)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6}
_TRUE = frozenset({"yes", "y", "true", "t", "1"})
_FALSE = frozenset({"no", "n", "false", "f", "0"})
_OTHER_DELIMITERS = {";": "';' (semicolon)", "\t": "a tab", "|": "'|' (pipe)"}
_UTF8_BOM = b"\xef\xbb\xbf"


class ManifestError(ValueError):
    """The manifest as a whole cannot be read; the message is one sentence naming it and the problem.

    Raised for a manifest that is missing, a symbolic link, empty, not UTF-8, delimited
    by something other than commas, lacking a required column, naming a column twice,
    or with broken quoting (:func:`read_manifest`).
    """


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
    simulated : bool or None
        True for phantom (synthetically weakened) recordings; ``None`` when the
        manifest does not say (a new subject is then stored as not simulated).
    line : int
        1-based line number in ``manifest.csv`` (the header is line 1).
    notes : str or None
        Free text from the ``notes`` column.
    prompt : str or None
        The text spoken (``prompt`` column), for a speech task only
        (:data:`palsyflow.conventions.SPEECH_TASKS`); the recogniser scores the speech
        against it.
    onset : datetime.date or None
        The subject's onset date (``onset`` column); ``None`` when not said.
    """

    subject: str
    session: str
    session_date: date
    task: str
    file: Path
    hb_grade: int | None
    healthy: bool | None
    simulated: bool | None
    line: int
    notes: str | None = None
    prompt: str | None = None
    onset: date | None = None


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
        ``manifest.csv line <n>: `` then every problem found in the row, joined with
        ``"; "``.
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


def at_line(line: int | None, reason: str, file: str | None = None) -> str:
    """A refusal's reason with the manifest line (and file) it concerns, said once.

    ``"manifest.csv line <line>: <file>: <rule>"`` when ``file`` (the file's path in the
    drop, as the row names it) is given — a leading ``"<file>: "`` of ``reason`` is not
    repeated — else ``"manifest.csv line <line>: <reason>"``. ``reason`` is returned
    unchanged when it already carries a line, or when ``line`` is None (a file no row
    names).

    Parameters
    ----------
    line : int or None
        1-based manifest line (the header is line 1).
    reason : str
        The refusal.
    file : str, optional
        The file the row names, relative to the drop folder.

    Returns
    -------
    str
    """
    if line is None or reason.startswith(f"{MANIFEST_NAME} line "):
        return reason
    if file is None:
        return f"{MANIFEST_NAME} line {line}: {reason}"
    rule = reason[len(file) + 2 :] if reason.startswith(f"{file}: ") else reason
    return f"{MANIFEST_NAME} line {line}: {file}: {rule}"


def parse_subject(value: str | None) -> str:
    """The subject label of a manifest cell, checked, never rewritten.

    Surrounding spaces of the cell are not part of it; everything else is.

    Raises
    ------
    ValueError
        If the cell is empty, or not a valid label (:data:`palsyflow.paths.LABEL_RULE`),
        e.g. ``"subject 'N-01' is not a valid label: only letters A-Z, a-z and digits
        0-9 (BIDS label rule); rename it in the manifest"``.
    """
    text = (value or "").strip()
    if not text:
        raise ValueError("empty subject")
    if not is_label(text):
        raise ValueError(f"subject {text!r} is not a valid label: {LABEL_RULE}; rename it in the manifest")
    return text


def parse_session_date(value: str | None, today: date | None = None) -> date:
    """An ISO ``YYYY-MM-DD`` session date that is plausible.

    Parameters
    ----------
    value : str or None
        The cell.
    today : datetime.date, optional
        Today's date; defaults to today in UTC.

    Raises
    ------
    ValueError
        If the text is empty, not in that form, not a real date, before
        :data:`EARLIEST_SESSION_DATE` or after ``today``.
    """
    return _plausible_date("session_date", (value or "").strip(), today)


def _plausible_date(column: str, text: str, today: date | None) -> date:
    """``text`` as a ``YYYY-MM-DD`` date of ``column``, neither in the future nor before
    :data:`EARLIEST_SESSION_DATE`; ValueError naming the column otherwise."""
    if not _DATE.match(text):
        raise ValueError(f"bad {column} {text!r} (expected YYYY-MM-DD)")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"bad {column} {text!r} (not a calendar date)") from None
    today = today or datetime.now(timezone.utc).date()
    if day > today:
        raise ValueError(f"{column} {text} is in the future (today is {today.isoformat()}, UTC)")
    if day < EARLIEST_SESSION_DATE:
        raise ValueError(f"{column} {text} is implausibly old (before {EARLIEST_SESSION_DATE.isoformat()})")
    return day


def parse_onset(value: str | None, today: date | None = None) -> date | None:
    """The subject's onset date from the ``onset`` cell, or None when empty.

    Parameters
    ----------
    value : str or None
        The cell, ``YYYY-MM-DD``.
    today : datetime.date, optional
        Today's date; defaults to today in UTC.

    Raises
    ------
    ValueError
        If the text is not in that form, not a real date, after ``today`` or before
        :data:`EARLIEST_SESSION_DATE`.
    """
    text = (value or "").strip()
    if not text:
        return None
    return _plausible_date("onset", text, today)


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


def _guess_encoding(data: bytes) -> str:
    """What a manifest that is not UTF-8 looks like, for the message."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data:
        return "UTF-16 (or not a text file at all)"
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return "Latin-1 (ISO-8859-1) or another 8-bit encoding"
    return "Latin-1 / Windows-1252"


def decode_manifest(data: bytes, path: Path | str) -> str:
    """The text of a manifest's bytes, which must be UTF-8 (a byte-order mark is dropped).

    Parameters
    ----------
    data : bytes
        The file's content.
    path : path-like
        The manifest, for the message.

    Returns
    -------
    str

    Raises
    ------
    ManifestError
        If the bytes are not UTF-8 or hold NUL bytes; the message says which encoding
        they look like and how to fix it.
    """
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    fix = "save it as UTF-8 (Excel: 'CSV UTF-8 (Comma delimited)'; or iconv -f latin1 -t utf-8) and upload it again"
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise ManifestError(
            f"{path}: not UTF-8 text (NUL byte on line {line}); it looks like {_guess_encoding(data)}: {fix}"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ManifestError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02X} on line {line}); "
            f"it looks like {_guess_encoding(data)}: {fix}"
        ) from None


def _column_name(cell: str) -> str:
    return cell.strip().lstrip("\ufeff").strip().lower()


def _records(text: str, path: Path) -> list[tuple[int, list[str]]]:
    """(first line, cells) of every non-blank CSV record, in file order."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    out: list[tuple[int, list[str]]] = []
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return out
        except csv.Error as exc:
            raise ManifestError(
                f"{path}: cannot read as CSV near line {reader.line_num or start} ({exc}); "
                "check that every double quote is paired"
            ) from None
        if any(c.strip() for c in cells):
            out.append((start, cells))


def _header(cells: list[str], header_text: str, path: Path) -> list[str]:
    """Normalised column names; refuses other delimiters, missing and repeated columns."""
    names = [_column_name(c) for c in cells]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        for delim, what in _OTHER_DELIMITERS.items():
            alt = [_column_name(c) for c in header_text.split(delim)]
            if len(alt) > 1 and (len(names) == 1 or all(c in alt for c in REQUIRED_COLUMNS)):
                raise ManifestError(
                    f"{path}: uses {what} as the delimiter; a manifest is comma-separated: "
                    "save it as CSV with commas (Excel: 'CSV UTF-8 (Comma delimited)') and upload it again"
                )
        has = ", ".join(n for n in names if n) or "nothing"
        raise ManifestError(
            f"{path}: missing required column(s) {', '.join(missing)} "
            f"(the header has: {has}; required: {', '.join(REQUIRED_COLUMNS)})"
        )
    seen: set[str] = set()
    for n in names:
        if n and n in seen:
            raise ManifestError(f"{path}: column {n!r} appears twice in the header")
        seen.add(n)
    return names


def read_manifest(
    drop_dir: Path | str, params: IngestParams, today: date | None = None
) -> tuple[list[ManifestRow], list[ManifestProblem]]:
    """Read and check ``<drop_dir>/manifest.csv``.

    Parameters
    ----------
    drop_dir : path-like
        A clinic's upload folder.
    params : IngestParams
        ``task_aliases``.
    today : datetime.date, optional
        Today's date for the future-date check; defaults to today in UTC.

    Returns
    -------
    rows : list of ManifestRow
        Usable rows, in file order.
    problems : list of ManifestProblem
        Rows that cannot be used, in file order: unknown task; bad, future or
        pre-1900 date; bad grade or flag; empty or invalid subject label; empty /
        missing / out-of-drop file; more cells than the header (an unquoted comma;
        extra cells that are empty are tolerated); a ``healthy`` or ``simulated``
        value contradicting an earlier usable row of the same subject; a bad, future
        or pre-1900 ``onset``, one after the row's session date, or one differing from
        an earlier usable row's onset of the same subject.

    Raises
    ------
    ManifestError
        If the manifest is missing, a symbolic link, empty, not UTF-8, delimited by
        ``;`` / tab / ``|``, lacks a required column, names a column twice, or has
        broken quoting.
    """
    drop_dir = Path(os.path.abspath(drop_dir))
    path = drop_dir / MANIFEST_NAME
    if path.is_symlink():
        raise ManifestError(f"{path}: manifest is a symbolic link; upload the file itself")
    if not path.is_file():
        raise ManifestError(f"{path}: manifest is missing")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from None
    text = decode_manifest(data, path)
    records = _records(text, path)
    if not records:
        raise ManifestError(f"{path}: manifest is empty")
    header_line, header_cells = records[0]
    lines = io.StringIO(text, newline="").readlines()  # the lines csv counts
    header_text = lines[header_line - 1].rstrip("\r\n") if header_line <= len(lines) else ""
    columns = _header(header_cells, header_text, path)
    today = today or datetime.now(timezone.utc).date()

    rows: list[ManifestRow] = []
    problems: list[ManifestProblem] = []
    facts: dict[tuple[str, str], tuple[bool, int]] = {}  # (subject, flag) -> (value, line)
    onsets: dict[str, tuple[date, int]] = {}  # subject -> (onset, line)
    for line, cells in records[1:]:
        reasons: list[str] = []
        file: Path | None = None
        if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
            reasons.append(
                f"{len(cells)} cells but the header has {len(columns)} columns "
                "(an unquoted comma? put a cell that holds a comma in double quotes)"
            )
            for cell in cells:  # quarantine the file the row names, wherever it landed
                try:
                    candidate = _drop_file(drop_dir, cell)
                except ValueError:
                    continue
                if candidate.is_file():
                    file = candidate
                    break
            name = str(file.relative_to(drop_dir)) if file is not None else None
            problems.append(ManifestProblem(line=line, file=file, reason=at_line(line, "; ".join(reasons), name)))
            continue
        rec = {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(columns) if name}
        try:
            file = _drop_file(drop_dir, rec.get("file"))
            if not file.is_file():
                reasons.append(f"file {rec.get('file')!r} not found in the drop folder")
        except ValueError as exc:
            reasons.append(str(exc))
        subject = ""
        try:
            subject = parse_subject(rec.get("subject"))
        except ValueError as exc:
            reasons.append(str(exc))
        session_date = None
        try:
            session_date = parse_session_date(rec.get("session_date"), today)
        except ValueError as exc:
            reasons.append(str(exc))
        task = ""
        try:
            task = canonical_task(rec.get("task") or "", params.task_aliases)
        except ValueError as exc:
            reasons.append(str(exc))
        hb_grade = None
        flags: dict[str, bool | None] = {"healthy": None, "simulated": None}
        try:
            hb_grade = parse_hb_grade(rec.get("hb_grade"))
        except ValueError as exc:
            reasons.append(str(exc))
        for flag in flags:
            try:
                flags[flag] = parse_flag(rec.get(flag), flag)
            except ValueError as exc:
                reasons.append(str(exc))
        if subject:
            for flag, value in flags.items():
                earlier = facts.get((subject, flag))
                if value is not None and earlier is not None and earlier[0] != value:
                    reasons.append(
                        f"subject {subject} is {flag}={_yes_no(value)} here but {flag}={_yes_no(earlier[0])} "
                        f"on line {earlier[1]}; one subject has one {flag} flag: correct one of the rows"
                    )

        onset = None
        try:
            onset = parse_onset(rec.get("onset"), today)
        except ValueError as exc:
            reasons.append(str(exc))
        if onset is not None and session_date is not None and onset > session_date:
            reasons.append(f"onset {onset.isoformat()} is after the session date {session_date.isoformat()}")
        earlier_onset = onsets.get(subject) if subject else None
        if onset is not None and earlier_onset is not None and earlier_onset[0] != onset:
            reasons.append(
                f"subject {subject} has onset {onset.isoformat()} here but {earlier_onset[0].isoformat()} "
                f"on line {earlier_onset[1]}; one subject has one onset date: correct one of the rows"
            )

        prompt = " ".join((rec.get("prompt") or "").split()) or None
        if prompt is not None and task and task not in SPEECH_TASKS:
            reasons.append(f"a prompt is the text of a speech task, but task {task} is not one ({', '.join(SPEECH_TASKS)})")
        elif prompt is not None and len(prompt) > MAX_PROMPT_CHARS:
            reasons.append(f"the prompt has {len(prompt)} characters (at most {MAX_PROMPT_CHARS})")

        if reasons:
            named = (rec.get("file") or "").strip() or None  # the file as the row names it
            problems.append(ManifestProblem(line=line, file=file, reason=at_line(line, "; ".join(reasons), named)))
            continue
        assert file is not None and session_date is not None
        for flag, value in flags.items():
            if value is not None:
                facts.setdefault((subject, flag), (value, line))
        if onset is not None:
            onsets.setdefault(subject, (onset, line))
        notes = (rec.get("notes") or "").strip() or None
        rows.append(
            ManifestRow(
                subject=subject,
                session=session_date.strftime("%Y%m%d"),
                session_date=session_date,
                task=task,
                file=file,
                hb_grade=hb_grade,
                healthy=flags["healthy"],
                simulated=flags["simulated"],
                line=line,
                notes=notes,
                prompt=prompt,
                onset=onset,
            )
        )
    return rows, problems


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"
