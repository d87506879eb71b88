"""One session's speech: its recordings' speech columns -> the session's speech measures.

Rule (used by :func:`palsyflow.measures.session.aggregate_session`, hence by the session
table and by ``palsyflow measure``):

* every numeric measure: the mean over the session's speech recordings whose gate is
  ``ok`` and that have a value (several recordings of a task are averaged); a trial
  spread (``*_trial_sd``) is the mean of the recordings' spreads;
* ``speech_words``: the recognised words of each sentence recording, `` | ``-joined;
* ``speech_status`` / ``speech_reason``: ``ok`` when every speech recording passed the
  gate; otherwise the first refused task's status, and the reason of every refused task
  (``"vowel: ..."``), so the session says what was not measured;
* ``speech_snr_db``: the median over the recordings;
* ``speech_dysarthria_index``: :func:`palsyflow.speech.index.dysarthria_index` of the
  session's measures against :data:`palsyflow.speech.reference.HEALTHY_REFERENCE`
  (None when fewer than three components are valid). Not a diagnosis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from palsyflow.conventions import SPEECH_TASKS
from palsyflow.measures.registry import FEATURE_BY_NAME, SPEECH_MEASURES
from palsyflow.speech.index import dysarthria_index_detail
from palsyflow.speech.quality import OK

#: Session-level bookkeeping columns (not averaged).
_TEXT = ("speech_status", "speech_reason", "speech_words", "speech_snr_db", "speech_dysarthria_index")
#: Speech measures shown per task in the JSON block (every numeric measure but the composite).
_NUMERIC = tuple(m for m in SPEECH_MEASURES if m not in _TEXT and FEATURE_BY_NAME[m].unit != "text")


def _task_order(task: str) -> int:
    return SPEECH_TASKS.index(task) if task in SPEECH_TASKS else len(SPEECH_TASKS)


def speech_recordings(recordings: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The session's recordings of speech tasks that went through the gate, in protocol order."""
    recs = [r for r in recordings if r.get("task") in SPEECH_TASKS and r.get("speech_status") is not None]
    return sorted(recs, key=lambda r: _task_order(r["task"]))


def aggregate_speech(recordings: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The session's speech columns (rule in the module docstring).

    Parameters
    ----------
    recordings : sequence of mapping
        Feature-table rows of one session (``task`` and the speech columns of
        :func:`palsyflow.speech.analysis.analyse_recording`).

    Returns
    -------
    dict
        Every :data:`~palsyflow.measures.registry.SPEECH_MEASURES` key; all None when
        the session has no speech recording.
    """
    out: dict[str, Any] = dict.fromkeys(SPEECH_MEASURES)
    recs = speech_recordings(recordings)
    if not recs:
        return out
    ok = [r for r in recs if r["speech_status"] == OK]
    for name in _NUMERIC:
        vals = [float(r[name]) for r in ok if r.get(name) is not None and np.isfinite(float(r[name]))]
        out[name] = float(np.mean(vals)) if vals else None
    words = [r["speech_words"] for r in ok if r.get("speech_words") is not None]
    out["speech_words"] = " | ".join(words) if words else None
    refused = [r for r in recs if r["speech_status"] != OK]
    out["speech_status"] = refused[0]["speech_status"] if refused else OK
    out["speech_reason"] = "; ".join(f"{r['task']}: {r['speech_reason']}" for r in refused) if refused else None
    snr = [float(r["speech_snr_db"]) for r in recs if r.get("speech_snr_db") is not None]
    out["speech_snr_db"] = float(np.median(snr)) if snr else None
    out["speech_dysarthria_index"] = dysarthria_index_detail(out).value
    return out


def speech_block(recordings: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The ``speech`` block of ``palsyflow measure``'s JSON.

    Parameters
    ----------
    recordings : sequence of mapping
        As :func:`aggregate_speech`.

    Returns
    -------
    dict or None
        ``{"clarity", "dysarthria_index", "dysarthria_components": [...],
        "quality": {"status", "reason", "snr_db"}, "tasks": {TASK: {"status", "reason",
        "snr_db", "words"?, <measures with a value>}}}``; None without speech recordings.
    """
    recs = speech_recordings(recordings)
    if not recs:
        return None
    session = aggregate_speech(recs)
    tasks: dict[str, dict[str, Any]] = {}
    for r in recs:
        entry: dict[str, Any] = {"status": r["speech_status"], "reason": r.get("speech_reason"), "snr_db": r.get("speech_snr_db")}
        if r.get("speech_words") is not None:
            entry["words"] = r["speech_words"]
        entry.update({m: r[m] for m in _NUMERIC if r.get(m) is not None})
        tasks.setdefault(r["task"], entry)
    detail = dysarthria_index_detail(session)
    return {
        "clarity": session["speech_clarity"],
        "dysarthria_index": session["speech_dysarthria_index"],
        "dysarthria_components": list(detail.used),
        "quality": {"status": session["speech_status"], "reason": session["speech_reason"], "snr_db": session["speech_snr_db"]},
        "tasks": tasks,
    }
