"""Bad-input corpus, identity area: subject labels, subject facts, shared content, dates, unreadable manifests.

Order matters and is part of the kinds: ``identity-baseline`` (a good subject,
``IDBASE1``, healthy, not simulated, session 2026-02-01) must come before the kinds that
contradict it (``identity-healthy-conflict``, ``identity-simulated-conflict``: refused by
the manifest reader against the earlier row), reuse its bytes
(``identity-same-content``: refused at ingest against the registered recording) or
predate it (``identity-earlier-session``: refused at ingest because IDBASE1's session
2026-02-01 is already stored when its row comes) or spell it in lower case
(``identity-label-case``: refused at ingest against the stored label). The runner ingests the drop once, in
manifest order, so these hold as long as the kinds' rows keep this list's order.

Every item is a copy of a GRID clip from the end of ``Sources.other_videos``, renamed
with the kind's name. The baseline's clip (``other_videos[-1]``) must not be used by
another kind's good item under another subject: the same content under two subjects is
refused (that is ``identity-same-content``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .base import Kind, Row, Sources

HEADER = "subject,session_date,task,file,hb_grade,healthy,simulated,notes"
BASE_SUBJECT = "IDBASE1"
BASE_DATE = "2026-02-01"


def _copy(src: Path, drop: Path, name: str) -> str:
    drop.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, drop / name)
    return name


def _row(subject: str, day: str, task: str, file: str, healthy: str = "", simulated: str = "", notes: str = "") -> Row:
    return {
        "subject": subject,
        "session_date": day,
        "task": task,
        "file": file,
        "hb_grade": "",
        "healthy": healthy,
        "simulated": simulated,
        "notes": notes,
    }


def _baseline(drop: Path, src: Sources) -> list[Row]:
    name = _copy(src.other_videos[-1], drop, "identity-baseline.mpg")
    return [
        _row(BASE_SUBJECT, BASE_DATE, "rest", name, "yes", "no", "identity corpus: the subject later kinds contradict"),
        _row(BASE_SUBJECT, BASE_DATE, "speech", name, "yes", "no"),
    ]


def _label(kind: str, subject: str) -> Kind:
    def build(drop: Path, src: Sources) -> list[Row]:
        name = _copy(src.other_videos[-2], drop, f"{kind}.mpg")
        return [_row(subject, "2026-02-05", "rest", name, "no", "no", f"subject label {subject!r}")]

    return Kind(kind, build, "refused", rule="is not a valid label", notes=f"{subject!r} used to become an existing label")


def _healthy_conflict(drop: Path, src: Sources) -> list[Row]:
    name = _copy(src.other_videos[-3], drop, "identity-healthy-conflict.mpg")
    return [_row(BASE_SUBJECT, "2026-02-02", "rest", name, "no", "", "HB 4 patient under the healthy subject's label")]


def _simulated_conflict(drop: Path, src: Sources) -> list[Row]:
    name = _copy(src.other_videos[-3], drop, "identity-simulated-conflict.mpg")
    return [_row(BASE_SUBJECT, "2026-02-03", "rest", name, "", "yes")]


def _case_variant(drop: Path, src: Sources) -> list[Row]:
    name = _copy(src.other_videos[-3], drop, "identity-label-case.mpg")
    return [_row(BASE_SUBJECT.lower(), "2026-02-04", "rest", name, "yes", "no", "the baseline subject typed in lower case")]


def _same_content(drop: Path, src: Sources) -> list[Row]:
    name = _copy(src.other_videos[-1], drop, "identity-same-content.mpg")  # the baseline's bytes
    return [_row("IDBASE2", BASE_DATE, "rest", name, "yes", "no", "another person, the same recording")]


def _future(drop: Path, src: Sources) -> list[Row]:
    name = _copy(src.other_videos[-4], drop, "identity-future-date.mpg")
    return [_row("IDFUT1", "2099-01-01", "rest", name, "yes", "no")]


def _earlier(drop: Path, src: Sources) -> list[Row]:
    name = _copy(src.other_videos[-4], drop, "identity-earlier-session.mpg")
    return [_row(BASE_SUBJECT, "2026-01-15", "rest", name, "", "", "dated before IDBASE1's stored session")]


def _own_manifest(kind: str, build_text):
    def build(drop: Path, src: Sources) -> list[Row]:
        name = _copy(src.other_videos[-4], drop, f"{kind}.mpg")
        data = build_text(name)
        (drop / "manifest.csv").write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        return []

    return build


def _latin1(name: str) -> bytes:
    return f"{HEADER}\nIDL1,2026-02-01,rest,{name},,yes,no,Jos\u00e9 Mu\u00f1oz saw him\n".encode("latin-1")


def _semicolon(name: str) -> str:
    return f"{HEADER.replace(',', ';')}\nIDS1;2026-02-01;rest;{name};;yes;no;\n"


def _unquoted_comma(name: str) -> str:
    return f"{HEADER}\nIDC1,2026-02-01,rest,{name},,yes,no,seen by Dr A, ENT\n"


def _missing_column(name: str) -> str:
    return f"subject,date,task,file\nIDM1,2026-02-01,rest,{name}\n"


KINDS: list[Kind] = [
    Kind("identity-baseline", _baseline, "measured", notes="the good subject the next kinds contradict; keep it first"),
    _label("identity-label-hyphen", "N-01"),
    _label("identity-label-space", "B 29"),
    _label("identity-label-non-ascii", "\u00d130-Jos\u00e9"),
    _label("identity-label-path", "B28/../../x"),
    Kind("identity-label-case", _case_variant, "refused", rule="only in letter case"),
    Kind("identity-healthy-conflict", _healthy_conflict, "refused", rule="one healthy flag"),
    Kind("identity-simulated-conflict", _simulated_conflict, "refused", rule="one simulated flag"),
    Kind("identity-same-content", _same_content, "refused", rule="the same recording"),
    Kind("identity-future-date", _future, "refused", rule="is in the future"),
    Kind("identity-earlier-session", _earlier, "refused", rule="dated before its latest stored session"),
    Kind("identity-latin1-manifest", _own_manifest("identity-latin1-manifest", _latin1), "refused", rule="not UTF-8", own_drop=True),
    Kind(
        "identity-semicolon-manifest",
        _own_manifest("identity-semicolon-manifest", _semicolon),
        "refused",
        rule="as the delimiter",
        own_drop=True,
    ),
    Kind(
        "identity-unquoted-comma",
        _own_manifest("identity-unquoted-comma", _unquoted_comma),
        "refused",
        rule="unquoted comma",
        own_drop=True,
        notes="only that row is refused (named by its line); the rest of a manifest would go on",
    ),
    Kind(
        "identity-missing-column",
        _own_manifest("identity-missing-column", _missing_column),
        "refused",
        rule="missing required column(s) session_date",
        own_drop=True,
    ),
]
