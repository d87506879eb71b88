"""One speech recording: the quality gate, then the measures of its task's kind.

:func:`analyse_recording` is what the features stage and ``palsyflow measure`` call for
every recording of a speech task (:data:`palsyflow.conventions.SPEECH_TASK_KINDS`):

1. the gate (:func:`palsyflow.speech.quality.assess`) on the decoded signal, with the
   session's room tone when there is one: a status other than ``ok`` nulls every
   measure and keeps the status and its one-sentence reason;
2. pre-processing (:func:`palsyflow.speech.signal.preprocess`: DC, mains-hum notch,
   high-pass; never spectral noise reduction);
3. by task kind:

   ``vowel``      up to three sustained trials in the recording (:func:`vowel_trials`),
                  :func:`~palsyflow.speech.voice.voice_measures` per trial, their mean
                  and their trial-to-trial SD; AVQI with the session's connected speech;
   ``ddk``        :func:`~palsyflow.speech.articulation.ddk_measures`;
   ``connected``  :func:`~palsyflow.speech.articulation.connected_speech_measures`, CPPS
                  of connected speech; for sentences with a known text the clarity index
                  (:func:`~palsyflow.speech.recognition.clarity`, closed grammar of the
                  session's sentence set) and, where the text has the corner vowels, the
                  formant centralisation ratio from a forced alignment;
   ``silence``    nothing but the gate (it is the noise floor of the others).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from palsyflow.conventions import SPEECH_TASK_KINDS
from palsyflow.measures.registry import SPEECH_MEASURES, VOWEL_TRIAL_SPREAD
from palsyflow.speech import articulation, quality, recognition, signal, voice, vowels
from palsyflow.speech.prompts import (
    SentenceSet,
    grid_sentence,
    grid_sentence_set,
    normalise_words,
    passage_text,
    sentence_set_from_prompts,
)

#: Most sustained-vowel trials measured in one recording (the protocol asks for three).
MAX_VOWEL_TRIALS = 3
#: A voiced stretch of at least this long (s) counts as a vowel trial.
MIN_TRIAL_S = 1.0
#: Tasks whose known text is scored by the recogniser (sentences, not passages).
CLARITY_TASKS: tuple[str, ...] = ("sentences", "speech")


def gate_thresholds(min_snr_db: dict[str, float], min_duration_s: dict[str, float]) -> quality.QualityThresholds:
    """The gate's limits with the per-kind SNR and duration minima of ``params.yaml`` (``features``)."""
    return dataclasses.replace(quality.QUALITY_DEFAULTS, min_snr_db=dict(min_snr_db), min_duration_s=dict(min_duration_s))


def empty_speech() -> dict[str, Any]:
    """Every speech column of a recording row, all ``None``."""
    return dict.fromkeys(SPEECH_MEASURES)


def session_sentence_set(prompts: Sequence[str]) -> SentenceSet | None:
    """The closed set the recogniser uses for a session's sentences.

    Parameters
    ----------
    prompts : sequence of str
        The texts of the session's sentence recordings.

    Returns
    -------
    SentenceSet or None
        The GRID grammar when every prompt is a GRID sentence (Cooke et al. 2006,
        doi:10.1121/1.2229005), else a loop over the words of the session's prompts
        (a closed vocabulary, so one sentence alone is not a trivial choice); None when
        no prompt has words the recogniser's dictionary knows (a prompt with an unknown
        word is left out of the set).
    """
    texts = [p for p in prompts if normalise_words(p) and not recognition.unknown_words(normalise_words(p))]
    if not texts:
        return None
    grid = grid_sentence_set()
    if all(grid.contains(normalise_words(p)) for p in texts):
        return grid
    return sentence_set_from_prompts(texts, name="session", word_loop=True)


def recording_prompt(task: str, prompt: str | None, original_name: str | None = None) -> str | None:
    """The text spoken in a speech recording.

    The manifest's ``prompt`` when given (a passage may be named: ``north wind``,
    :func:`~palsyflow.speech.prompts.passage_text`); for a sentence without one, the
    GRID sentence its file name encodes (``bbaf2n.wav`` -> "bin blue at f two now").

    Parameters
    ----------
    task : str
        Protocol task.
    prompt : str or None
        Manifest ``prompt``.
    original_name : str, optional
        The file name as uploaded.

    Returns
    -------
    str or None
    """
    if prompt:
        return passage_text(prompt) or prompt
    if task in CLARITY_TASKS and original_name:
        return grid_sentence(original_name)
    return None


def vowel_trials(y: np.ndarray, sr: int, *, max_trials: int = MAX_VOWEL_TRIALS, min_trial_s: float = MIN_TRIAL_S) -> list[tuple[float, float]]:
    """The sustained-vowel trials of a recording, in time order.

    Voiced stretches (:func:`palsyflow.speech.voice.voiced_intervals`) of at least
    ``min_trial_s``; when there are more than ``max_trials``, the longest ones.

    Parameters
    ----------
    y : ndarray, shape (n,)
        Pre-processed mono signal.
    sr : int
        Hz.

    Returns
    -------
    list of (start_s, end_s)
        Empty when no stretch is long enough.
    """
    spans = [(float(a), float(b)) for a, b in voice.voiced_intervals(y, sr) if b - a >= min_trial_s]
    spans = sorted(sorted(spans, key=lambda s: s[1] - s[0], reverse=True)[:max_trials])
    return spans


def _vowel(x: np.ndarray, sr: int, connected: np.ndarray | None, native_sr: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    spans = vowel_trials(x, sr)
    pad = int(0.05 * sr)
    trials = [voice.voice_measures(x[max(0, int(a * sr) - pad): int(b * sr) + pad], sr) for a, b in spans]
    if not trials:
        trials = [voice.voice_measures(x, sr)]
    for name in voice.VOICE_MEASURES:
        vals = [t[name] for t in trials if t.get(name) is not None]
        out[name] = float(np.mean(vals)) if vals else None
    out["speech_vowel_trials"] = float(len(spans))
    for name, spread in VOWEL_TRIAL_SPREAD.items():
        vals = [t[name] for t in trials if t.get(name) is not None]
        out[spread] = float(np.std(vals, ddof=1)) if len(vals) >= 2 else None
    if connected is not None:
        out["speech_avqi"] = voice.avqi(x, connected, sr, native_sr=native_sr)
    return out


def _connected(x: np.ndarray, sr: int, task: str, text: str | None, sentence_set: SentenceSet | None) -> dict[str, Any]:
    out: dict[str, Any] = dict(articulation.connected_speech_measures(x, sr))
    out["speech_connected_cpps_db"] = voice.cpps_db(x, sr)
    words = normalise_words(text) if text else []
    unknown = recognition.unknown_words(words)
    x16 = x if sr == recognition.SAMPLE_RATE else signal.resample(x, sr, recognition.SAMPLE_RATE)
    if unknown:
        out["speech_reason"] = (
            "clarity and vowel centralisation not scored: the prompt has words the recogniser's dictionary "
            f"lacks ({', '.join(unknown)})"
        )
    elif words:
        if task in CLARITY_TASKS:
            measures, words = recognition.clarity(x16, recognition.SAMPLE_RATE, text, sentence_set)
            out.update(measures)
            out["speech_words"] = words
        alignment = recognition.align(x16, recognition.SAMPLE_RATE, text)
        if alignment is not None:
            out["speech_fcr"] = vowels.formant_centralisation_ratio(x, sr, alignment)
    return out


def analyse_recording(
    y: np.ndarray,
    sr: int,
    task: str,
    *,
    native_sr: int | None = None,
    prompt: str | None = None,
    sentence_set: SentenceSet | None = None,
    silence: np.ndarray | None = None,
    connected: np.ndarray | None = None,
    thresholds: quality.QualityThresholds = quality.QUALITY_DEFAULTS,
) -> dict[str, Any]:
    """The speech columns of one recording (steps in the module docstring).

    Parameters
    ----------
    y : ndarray, shape (n,)
        Decoded mono audio, full scale 1, at ``sr`` (:func:`palsyflow.features.audio.load_audio`).
    sr : int
        Sampling rate, Hz (the pipeline decodes at the file's own rate, at most 48 kHz; the
        recogniser gets a 16 kHz copy).
    task : str
        A speech task of the protocol (:data:`palsyflow.conventions.SPEECH_TASK_KINDS`).
    native_sr : int, optional
        The file's own sampling rate (a telephone-band file resampled to 16 kHz is
        still narrow band; the gate refuses both).
    prompt : str, optional
        The text spoken (:func:`recording_prompt`).
    sentence_set : SentenceSet, optional
        The session's closed set (:func:`session_sentence_set`); default: from the prompt.
    silence : ndarray, optional
        The session's room tone at ``sr`` (the noise floor of the SNR).
    connected : ndarray, optional
        For a vowel: the session's connected speech at ``sr`` (AVQI).
    thresholds : QualityThresholds, optional
        The gate's limits (default :data:`palsyflow.speech.quality.QUALITY_DEFAULTS`;
        the pipeline's come from ``features.speech_min_snr_db`` / ``speech_min_duration_s``).

    Returns
    -------
    dict
        Every :data:`palsyflow.measures.registry.SPEECH_MEASURES` key: ``speech_status``,
        ``speech_reason`` (None when ok; with an ``ok`` status, a note on what was
        not scored, e.g. a prompt word the recogniser does not know), ``speech_snr_db`` and the measures of the task
        kind (the others None). When the gate is not ``ok`` every measure is None.

    Raises
    ------
    ValueError
        If ``task`` is not a speech task, or ``y`` is not one-dimensional.
    """
    kind = SPEECH_TASK_KINDS.get(task)
    if kind is None:
        raise ValueError(f"task {task!r} is not a speech task ({', '.join(SPEECH_TASK_KINDS)})")
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"y must be mono, shape (n,), got {y.shape}")
    out = empty_speech()
    gate, pre = quality.assess_detailed(y, sr, kind, native_sr=native_sr, silence=silence, thresholds=thresholds)
    out["speech_status"] = gate.status
    out["speech_reason"] = gate.reason
    out["speech_snr_db"] = gate.snr_db
    if gate.status != quality.OK or kind == "silence" or pre is None:
        return out
    x = pre.signal  # the gate's pre-processed signal: computed once
    if kind == "vowel":
        conn = signal.preprocess(np.asarray(connected, dtype=np.float64), sr) if connected is not None and np.size(connected) else None
        out.update(_vowel(x, sr, conn, native_sr))
    elif kind == "ddk":
        out.update(articulation.ddk_measures(x, sr, task))
    else:
        out.update(_connected(x, sr, task, prompt, sentence_set))
    return {k: out.get(k) for k in SPEECH_MEASURES}
