"""Which inputs each registered recording's features are computed from (pure rules, no I/O).

The features stage reads the registry (one row per recording, columns ``key, site,
subject, session, task, kind ...``; see :func:`palsyflow.stages.ingest.export_registry`)
and asks these functions, per recording:

* whether it is measured from landmarks (:func:`has_face`: videos and photos);
* which rest photo a task photo is measured against (:func:`rest_photo_pairs`): a photo
  of a dynamic task has no neutral frame of its own, so its movement is measured from
  the rest photo of the same session; a video uses its own neutral key frame;
* whether its audio gets speech measures (:func:`gets_speech_measures`).

Reading the files these decisions name stays in the stage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from palsyflow.config import FeatureParams
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


def gets_speech_measures(record: Record, params: FeatureParams) -> bool:
    """True when the recording's audio track gets speech measures.

    Parameters
    ----------
    record : mapping
        A registry row; ``task`` and ``kind`` are read.
    params : FeatureParams
        ``speech_tasks``: the protocol tasks whose audio is speech.

    Returns
    -------
    bool
        The task is one of ``params.speech_tasks``, or the recording is audio only.
    """
    return record["task"] in params.speech_tasks or record["kind"] == "audio"


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
