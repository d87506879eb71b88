"""Which inputs each registered recording's features are computed from (pure rules, no I/O).

The features stage reads the registry (one row per recording, columns ``key, site,
subject, session, task, kind ...``; see :func:`palsyflow.stages.ingest.export_registry`)
and asks these functions, per recording:

* whether it is measured from landmarks (:func:`has_face`: videos and photos);
* which rest photo a task photo is measured against (:func:`rest_photo_pairs`): a photo
  of a dynamic task has no neutral frame of its own, so its movement is measured from
  the rest photo of the same session; a video uses its own neutral key frame;
* whether its audio gets speech measures (:func:`gets_speech_measures`), and which
  other recordings of its session the speech measures use (:func:`speech_contexts`: the
  room tone of the ``silence`` task for the noise floor, the session's sentence set for
  the recogniser's closed grammar, connected speech for a vowel's AVQI).

Reading the files these decisions name stays in the stage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from palsyflow.conventions import SPEECH_TASK_KINDS, SPEECH_TASKS
from palsyflow.features.tasks import DYNAMIC_TASKS

#: Recording kinds that show a face (landmarks are extracted from them).
FACE_KINDS: tuple[str, ...] = ("video", "photo")

#: The protocol task of the neutral face.
REST_TASK = "rest"

Record = Mapping[str, Any]


def has_face(record: Record) -> bool:
    """True when the recording is a video or photo (its features come from landmarks).

    Parameters
    ----------
    record : mapping
        A registry row; ``kind`` is read.
    """
    return record["kind"] in FACE_KINDS


def gets_speech_measures(record: Record) -> bool:
    """True when the recording's audio gets speech measures.

    Parameters
    ----------
    record : mapping
        A registry row; ``task`` is read.

    Returns
    -------
    bool
        The task is a speech task of the protocol (:data:`palsyflow.conventions.SPEECH_TASKS`).
    """
    return record["task"] in SPEECH_TASKS


@dataclass(frozen=True)
class SpeechContext:
    """What a speech recording's measures use besides its own audio.

    Attributes
    ----------
    task_kind : str
        ``silence``, ``vowel``, ``ddk`` or ``connected``
        (:data:`palsyflow.conventions.SPEECH_TASK_KINDS`).
    prompt : str or None
        The text spoken (manifest column ``prompt``), None when not given.
    sentence_set : tuple of str
        The prompts of the session's connected-speech recordings (the closed grammar's
        sentences; the recogniser may widen a recognised set such as GRID's).
    silence_path : str or None
        ``raw_path`` of the session's ``silence`` recording (room tone), if any.
    connected_path : str or None
        For a ``vowel``: ``raw_path`` of the session's connected speech used with it for
        AVQI (``passage`` first, then ``sentences``, then ``speech``), if any.
    """

    task_kind: str
    prompt: str | None = None
    sentence_set: tuple[str, ...] = ()
    silence_path: str | None = None
    connected_path: str | None = None


_CONNECTED_PREFERENCE = ("passage", "sentences", "speech")


def speech_contexts(records: Iterable[Record]) -> dict[str, SpeechContext]:
    """The speech context of every speech recording (pure rule, no I/O).

    Parameters
    ----------
    records : iterable of mapping
        Registry rows; ``key, site, subject, session, task, raw_path`` and the optional
        ``prompt`` are read.

    Returns
    -------
    dict
        Recording key -> :class:`SpeechContext`, for every recording of a speech task.
    """
    records = list(records)
    by_session: dict[tuple[str, str, str], list[Record]] = {}
    for r in records:
        by_session.setdefault(_session(r), []).append(r)
    out: dict[str, SpeechContext] = {}
    for rec in records:
        if not gets_speech_measures(rec):
            continue
        mates = by_session[_session(rec)]
        kind = SPEECH_TASK_KINDS[rec["task"]]
        prompts = tuple(sorted({r.get("prompt") for r in mates if SPEECH_TASK_KINDS.get(r["task"]) == "connected" and r.get("prompt")}))
        silence = next((r["raw_path"] for r in mates if r["task"] == "silence"), None)
        connected = None
        if kind == "vowel":
            connected = next((r["raw_path"] for t in _CONNECTED_PREFERENCE for r in mates if r["task"] == t), None)
        out[rec["key"]] = SpeechContext(
            task_kind=kind,
            prompt=rec.get("prompt") or None,
            sentence_set=prompts,
            silence_path=silence if rec["task"] != "silence" else None,
            connected_path=connected,
        )
    return out


def _session(record: Record) -> tuple[str, str, str]:
    return (record["site"], record["subject"], record["session"])


def rest_photo_pairs(records: Iterable[Record], dynamic_tasks: Iterable[str] = DYNAMIC_TASKS) -> dict[str, Record]:
    """The rest photo each task photo is measured against.

    Parameters
    ----------
    records : iterable of mapping
        Registry rows; ``key, site, subject, session, task, kind`` are read.
    dynamic_tasks : iterable of str, optional
        Tasks measured as a movement from rest (default: every dynamic task,
        :data:`palsyflow.features.tasks.DYNAMIC_TASKS`).

    Returns
    -------
    dict
        Recording key -> the registry row of its rest photo, for every photo of a
        dynamic task whose session (same site, subject and session) has a rest
        recording that is a photo too. Videos, rest recordings and photos without
        such a rest photo are absent (a video uses its own neutral frame).
    """
    records = list(records)
    dynamic = frozenset(dynamic_tasks)
    rest_of = {_session(r): r for r in records if r["task"] == REST_TASK}
    pairs: dict[str, Record] = {}
    for rec in records:
        rest = rest_of.get(_session(rec))
        if rec["kind"] == "photo" and rec["task"] in dynamic and rest is not None and rest["kind"] == "photo":
            pairs[rec["key"]] = rest
    return pairs
