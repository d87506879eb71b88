"""A site's cohort as a BIDS dataset (raw recordings + palsyflow derivatives).

Layout written under ``out`` (BIDS 1.11, https://bids-specification.readthedocs.io)::

    dataset_description.json   README.md   .bidsignore
    participants.tsv + participants.json
    sub-<id>/sub-<id>_sessions.tsv (+ sessions.json at the root)
    sub-<id>/ses-<date>/sub-<id>_ses-<date>_scans.tsv (+ scans.json at the root)
    sub-<id>/ses-<date>/beh/sub-<id>_ses-<date>_task-<t>_<video|photo|audio>.<ext> + .json
    derivatives/palsyflow/dataset_description.json (DatasetType "derivative", GeneratedBy)
    derivatives/palsyflow/.bidsignore
    derivatives/palsyflow/sub-<id>/ses-<date>/beh/..._landmarks.parquet, ..._quality.parquet
    derivatives/palsyflow/sub-<id>/ses-<date>/sub-<id>_ses-<date>_scores.tsv

BIDS 1.11 has no datatype for face video, face photographs or speech audio (the
``photo`` suffix exists only for electrode/coil photos in eeg/ieeg/meg/nirs/emg, and
``beh`` holds only ``_beh.tsv``/events/physio): the media files sit in ``beh/`` with
BIDS entities and are listed in ``.bidsignore``, as the specification advises for
data it does not cover yet. Session labels are the *shifted* session dates
(:func:`palsyflow.pseudonym.date_shift_days`), so no calendar date of a visit leaves the site; file
names are built from the entities only, never from an uploaded file's name. The
recordings are copied without their own dating metadata (EXIF dates and GPS, XMP, video
``creation_time``, tags: :func:`palsyflow.exports.scrub.scrub_copy`).

The writer is given everything it copies (:class:`BidsSubject` ...); it reads no store
and knows no data tree (``palsyflow.stages.export`` gathers the inputs).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from palsyflow.atomic import atomic_path, atomic_write_bytes
from palsyflow.measures.symmetry import relabel_basis
from palsyflow.pseudonym import shift_date, shift_label
from palsyflow.exports.scrub import scrub_copy

#: The BIDS version the export follows.
BIDS_VERSION = "1.11.1"

#: The only patterns the raw dataset's ``.bidsignore`` lists (media BIDS has no datatype for).
RAW_IGNORE: tuple[str, ...] = ("**/beh/*_video.*", "**/beh/*_photo.*", "**/beh/*_audio.*")
#: Derivative files BIDS has no suffix for.
#: (bids-validator 3.0.2 honours a derivative's own ``.bidsignore`` when the derivative is
#: validated as the dataset it is, not under ``-r`` from the raw dataset.)
DERIVATIVE_IGNORE: tuple[str, ...] = ("*_landmarks.parquet", "*_quality.parquet", "*_scores.tsv", "*_scores.json")

#: Score-table columns written to a session's ``_scores.tsv``, and what each holds.
SCORE_COLUMNS: dict[str, str] = {
    "measure": "palsyflow measure name (palsyflow.measures.registry.SCORE_MEASURES)",
    "region": "face region of the measure (brow, eye, cheek, mouth, overall, speech)",
    "value": "the measure's value, in the unit of the 'unit' column",
    "unit": "a key of palsyflow.measures.registry.UNITS",
    "z": "z-score against the normative model of healthy sessions",
    "percentile": "percentile (0-100) against healthy sessions",
    "weaker_side": "the patient's weaker side (left or right), n/a when none",
    "side_basis": "why the weaker side was named: healthy-range, noise-floor, movement-tasks or earlier-session:<session> (that session's exported, shifted label); n/a when none",
    "change_since_first": "value minus the subject's first session's value",
}


@dataclass(frozen=True)
class BidsRecording:
    """One raw recording to copy.

    Attributes
    ----------
    task : str
        BIDS task label (alphanumeric, ``browraise``).
    kind : {"video", "photo", "audio"}
        The file's suffix.
    source : pathlib.Path
        The raw file.
    extension : str
        Lower-case extension with the dot.
    task_name : str
        The protocol task's name (``brow_raise``), the sidecar's ``TaskName``.
    media : dict
        Probe facts (``duration_s``, ``fps``, ``width``, ``height``, ``codec``,
        ``has_audio``), ``None`` values dropped.
    derivatives : dict of str to pathlib.Path
        Derived files by suffix (``landmarks``, ``quality``); missing ones are skipped.
    """

    task: str
    kind: str
    source: Path
    extension: str
    task_name: str
    media: dict = field(default_factory=dict)
    derivatives: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BidsSession:
    """One session: its real date (shifted on export), grade, recordings and scores."""

    date: dt.date
    hb_grade: int | None
    recordings: Sequence[BidsRecording]
    scores: Sequence[dict] = ()


@dataclass(frozen=True)
class BidsSubject:
    """One pseudonymous subject and the day offset of its dates."""

    label: str
    healthy: bool | None
    simulated: bool
    shift_days: int
    sessions: Sequence[BidsSession]


@dataclass
class BidsSummary:
    """What an export wrote (counts, and the files relative to ``out``)."""

    subjects: int = 0
    sessions: int = 0
    recordings: int = 0
    derivative_files: int = 0
    files: list[str] = field(default_factory=list)


def session_label(session: BidsSession, subject: BidsSubject) -> str:
    """The exported session label: the shifted date as ``YYYYMMDD``."""
    return shift_date(session.date, subject.shift_days).strftime("%Y%m%d")


def _exported_score(row: dict, subject: BidsSubject) -> dict:
    """A score row as exported: an earlier session named in ``side_basis`` by its shifted label."""
    return {**row, "side_basis": relabel_basis(row.get("side_basis"), lambda ref: shift_label(ref, subject.shift_days))}


def _na(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)


def _tsv(header: Sequence[str], rows: Sequence[Sequence]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE, escapechar="\\")
    w.writerow(header)
    for r in rows:
        w.writerow([_na(v) for v in r])
    return buf.getvalue().encode()


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode()


class _Writer:
    def __init__(self, out: Path, summary: BidsSummary) -> None:
        self.out, self.summary = out, summary

    def bytes(self, rel: str, data: bytes) -> None:
        atomic_write_bytes(self.out / rel, data)
        self.summary.files.append(rel)

    def copy(self, rel: str, src: Path) -> None:
        with atomic_path(self.out / rel) as tmp:
            shutil.copyfile(src, tmp)  # content only: the source's mtime would date the ingest
        self.summary.files.append(rel)

    def media(self, rel: str, src: Path) -> None:
        """A recording, without the metadata that would date or locate it (:func:`scrub_copy`)."""
        with atomic_path(self.out / rel) as tmp:
            scrub_copy(src, tmp)
        self.summary.files.append(rel)


def _group(subject: BidsSubject) -> str:
    return "n/a" if subject.healthy is None else ("control" if subject.healthy else "patient")


def _sidecar(rec: BidsRecording) -> dict:
    m = rec.media
    side: dict = {"TaskName": rec.task_name}
    if m.get("duration_s") is not None:
        side["RecordingDuration"] = round(float(m["duration_s"]), 3)
    if m.get("fps") is not None:
        side["FrameRate"] = round(float(m["fps"]), 3)
    if m.get("width") is not None and m.get("height") is not None:
        side["ImageWidth"], side["ImageHeight"] = int(m["width"]), int(m["height"])
    if m.get("codec"):
        side["Codec"] = str(m["codec"])
    if m.get("has_audio") is not None:
        side["HasAudio"] = bool(m["has_audio"])
    return side


def write_bids(
    out: Path,
    site: str,
    subjects: Sequence[BidsSubject],
    *,
    generated_by: dict,
    dataset_name: str | None = None,
) -> BidsSummary:
    """Write ``subjects`` of ``site`` as a BIDS dataset with palsyflow derivatives under ``out``.

    Parameters
    ----------
    out : pathlib.Path
        Target folder (created; files of an earlier export are overwritten, others kept).
    site : str
        The site label (the dataset's ``Name`` and the README; BIDS has no site level).
    subjects : sequence of BidsSubject
        What to export; each subject's dates are shifted by its ``shift_days``.
    generated_by : dict
        BIDS ``GeneratedBy`` entry of the pipeline (``Name``, ``Version``).
    dataset_name : str, optional
        ``Name`` of the dataset, default ``"palsyflow export of site <site>"``.

    Returns
    -------
    BidsSummary

    Raises
    ------
    FileNotFoundError
        If a raw recording's source file is missing.
    """
    out = Path(out)
    summary = BidsSummary()
    w = _Writer(out, summary)
    name = dataset_name or f"palsyflow export of site {site}"
    w.bytes(
        "dataset_description.json",
        _json({"Name": name, "BIDSVersion": BIDS_VERSION, "DatasetType": "raw", "GeneratedBy": [generated_by]}),
    )
    w.bytes(
        "README.md",
        (
            f"# {name}\n\nFace video, face photographs and speech audio of a facial-palsy cohort, exported by "
            "palsyflow. Subject labels are pseudonyms; every date of a subject is shifted by a secret number of "
            "days (intervals between a subject's sessions are kept), and session labels are the shifted dates. "
            "BIDS has no datatype for these media yet: they are in `beh/` and listed in `.bidsignore`.\n"
        ).encode(),
    )
    w.bytes(".bidsignore", ("\n".join(RAW_IGNORE) + "\n").encode())
    w.bytes(
        "participants.json",
        _json(
            {
                "participant_id": {"Description": "pseudonymous subject label"},
                "group": {
                    "Description": "healthy control or patient, as the site's manifest says",
                    "Levels": {"control": "healthy", "patient": "facial palsy"},
                },
                "simulated": {
                    "Description": "recordings synthetically weakened from a healthy subject (palsyflow phantom)",
                    "Levels": {"true": "simulated", "false": "recorded"},
                },
            }
        ),
    )
    w.bytes(
        "participants.tsv",
        _tsv(("participant_id", "group", "simulated"), [(f"sub-{s.label}", _group(s), s.simulated) for s in subjects]),
    )
    w.bytes(
        "sessions.json",
        _json(
            {
                "acq_time": {"Description": "session date, shifted per subject by a secret number of days"},
                "hb_grade": {"Description": "clinician's House-Brackmann grade (1 normal to 6 total paralysis)"},
            }
        ),
    )
    w.bytes("scans.json", _json({"acq_time": {"Description": "session date of the recording, shifted like acq_time in the sessions file"}}))
    deriv = "derivatives/palsyflow"
    w.bytes(
        f"{deriv}/dataset_description.json",
        _json(
            {
                "Name": f"{name}: palsyflow derivatives",
                "BIDSVersion": BIDS_VERSION,
                "DatasetType": "derivative",
                "GeneratedBy": [generated_by],
                "SourceDatasets": [{"URL": "../../"}],
            }
        ),
    )
    w.bytes(f"{deriv}/.bidsignore", ("\n".join(DERIVATIVE_IGNORE) + "\n").encode())
    w.bytes(
        f"{deriv}/README.md",
        (
            "# palsyflow derivatives\n\nPer recording: face landmarks (`_landmarks.parquet`) and per-frame quality "
            "(`_quality.parquet`); per session: the score table (`_scores.tsv`, columns in `_scores.json`). "
            "Labels and dates as in the raw dataset.\n"
        ).encode(),
    )

    for subject in subjects:
        summary.subjects += 1
        sub = f"sub-{subject.label}"
        ses_rows = []
        for session in sorted(subject.sessions, key=lambda s: s.date):
            summary.sessions += 1
            ses = f"ses-{session_label(session, subject)}"
            day = shift_date(session.date, subject.shift_days)
            acq = f"{day.isoformat()}T00:00:00"
            ses_rows.append((ses, acq, session.hb_grade))
            scans = []
            for rec in sorted(session.recordings, key=lambda r: r.task):
                stem = f"{sub}_{ses}_task-{rec.task}"
                rel = f"beh/{stem}_{rec.kind}{rec.extension}"
                w.media(f"{sub}/{ses}/{rel}", rec.source)
                w.bytes(f"{sub}/{ses}/beh/{stem}_{rec.kind}.json", _json(_sidecar(rec)))
                scans.append((rel, acq))
                summary.recordings += 1
                for suffix, src in sorted(rec.derivatives.items()):
                    if src is not None and Path(src).exists():
                        w.copy(f"{deriv}/{sub}/{ses}/beh/{stem}_{suffix}{Path(src).suffix}", Path(src))
                        summary.derivative_files += 1
            w.bytes(f"{sub}/{ses}/{sub}_{ses}_scans.tsv", _tsv(("filename", "acq_time"), scans))
            if session.scores:
                cols = list(SCORE_COLUMNS)
                rows = [[_exported_score(r, subject).get(c) for c in cols]
                        for r in sorted(session.scores, key=lambda r: r["measure"])]
                w.bytes(f"{deriv}/{sub}/{ses}/{sub}_{ses}_scores.tsv", _tsv(cols, rows))
                w.bytes(f"{deriv}/{sub}/{ses}/{sub}_{ses}_scores.json", _json({c: {"Description": d} for c, d in SCORE_COLUMNS.items()}))
                summary.derivative_files += 2
        w.bytes(f"{sub}/{sub}_sessions.tsv", _tsv(("session_id", "acq_time", "hb_grade"), ses_rows))
    return summary
