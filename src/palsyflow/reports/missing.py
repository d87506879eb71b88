"""What a session's clinician report could not measure, and why (pure).

Every reason comes from a record that says it: a quarantine entry of the store (its
reason as ingest or a later stage wrote it), the speech quality gate's status and reason
in the session row (``speech_status``, ``speech_reason``:
:mod:`palsyflow.speech.quality`), the task-posture rule
(:func:`palsyflow.features.tasks.task_postures`), the landmarks stage's missing outputs, or
the protocol task list (:data:`palsyflow.conventions.TASKS`) against the tasks recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from palsyflow.conventions import TASKS

__all__ = ["not_measured"]


def _speech_items(status: str | None, reason: str | None) -> list[tuple[str, str]]:
    if status is None or status == "ok":
        return []
    parts = [p.strip() for p in (reason or "").split("; ") if p.strip()]
    if not parts:
        return [("Speech measures", f"speech quality gate: {status}")]
    out = []
    for i, part in enumerate(parts):
        task, _, why = part.partition(": ")
        if not why:
            task, why = "speech", part
        gate = f"speech quality gate ({status}): " if i == 0 else "speech quality gate: "
        out.append((f"Speech measures, task {task}", gate + why))
    return out


def not_measured(
    recorded_tasks: Iterable[str],
    quarantined: Sequence[tuple[str, str]] = (),
    session_row: Mapping[str, Any] | None = None,
    problems: Sequence[tuple[str, str]] = (),
    protocol: Sequence[str] = TASKS,
    refused_tasks: Iterable[str] = (),
) -> tuple[tuple[str, str], ...]:
    """The "Not measured" list of one session: ``(what, reason)`` pairs.

    Parameters
    ----------
    recorded_tasks : iterable of str
        Tasks of the session's registered recordings.
    quarantined : sequence of (str, str)
        ``(file or recording, reason)`` of the session's standing quarantine entries.
    session_row : mapping, optional
        The session-table row (``speech_status``, ``speech_reason``).
    problems : sequence of (str, str)
        Further ``(what, reason)`` found while drawing the key frames (no landmarks, no
        face, no peak distinct from the neutral frame).
    protocol : sequence of str
        The protocol's tasks, in report order.
    refused_tasks : iterable of str
        Tasks whose file was refused at ingest (listed with its quarantine reason, so
        not again as "not recorded").

    Returns
    -------
    tuple of (str, str)
        Quarantined recordings first, then the speech gate's refusals, the key-frame and
        posture problems, and last the protocol tasks not recorded (one entry).
    """
    out: list[tuple[str, str]] = [(f"Recording {name}", f"quarantined: {reason}") for name, reason in quarantined]
    row = session_row or {}
    out += _speech_items(row.get("speech_status"), row.get("speech_reason"))
    out += list(problems)
    recorded = set(recorded_tasks) | set(refused_tasks)
    absent = [t for t in protocol if t not in recorded]
    if absent:
        out.append(("Tasks " + ", ".join(t.replace("_", " ") for t in absent), "not recorded in this session"))
    return tuple(out)
