"""Machine intelligibility: closed-grammar speech recognition, word accuracy, forced alignment.

The **clarity index** (``speech_clarity``, 0-100) is the share of the reference words a
recogniser gets right on an utterance whose text is known, x 100. The recogniser is
CMU PocketSphinx 5 (Huggins-Daines et al. 2006, "PocketSphinx: a free, real-time
continuous speech recognition system for hand-held devices", ICASSP,
doi:10.1109/ICASSP.2006.1659988) with the US-English acoustic model and CMU pronouncing
dictionary its wheel bundles, offline. Recognition is constrained to a **closed
grammar** built from the session's sentence set (``speech/prompts.py``): open dictation
with the bundled language model is far less accurate on healthy read sentences, so its
errors would measure the recogniser, not the speaker (`open_dictation` is kept for that
comparison only).

Clarity is *machine* intelligibility, a proxy for listener intelligibility: recogniser
accuracy tracks expert intelligibility ratings of pathological speech (Maier et al.
2009, "PEAKS - a system for the automatic evaluation of voice and speech disorders",
Speech Communication 51(5):425, doi:10.1016/j.specom.2008.12.003).

Cost: the acoustic model and dictionary load once per process (`decoder`, cached; a
fraction of a second and a few tens of MB, measured in the speech benchmark). A grammar
is compiled once per distinct sentence set and kept in the decoder. The open-dictation
language model, several times larger, is loaded on first use only. A decoder is not
thread-safe: use processes, not threads.

Input: ``y`` mono float (full scale 1) at ``SAMPLE_RATE`` Hz, i.e. after
``speech.signal.preprocess``; it is converted to 16-bit PCM, the recogniser's input.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pocketsphinx

from palsyflow.speech.prompts import (
    SentenceSet,
    grid_sentence_set,
    jsgf_grammar,
    normalise_words,
    sentence_set_from_prompts,
)

# --- tunables (one place; the lead moves them into params.yaml) --------------------------
#: Sampling rate the acoustic model was trained on, Hz.
SAMPLE_RATE = 16000
#: Pronunciations added to the bundled (US) dictionary: GRID talkers are British and say
#: "zed" for the letter z. Word -> ARPAbet phones, added as alternates.
EXTRA_PRONUNCIATIONS: dict[str, str] = {"z": "Z EH D"}
#: Shortest signal the recogniser is run on, s; shorter input gives no words.
MIN_DURATION_S = 0.1
#: Digital silence added before and after an utterance for recognition, s. The decoder's
#: cepstral mean normalisation and its silence model expect silence around the speech;
#: clips cut tight to the speech (GRID) were misrecognised without it (the measured
#: effect is in docs/validation.md). Word times are reported without the padding.
RECOGNITION_PAD_S = 0.3

#: Keys of `clarity`'s measures.
RECOGNITION_KEYS: tuple[str, ...] = ("speech_clarity",)

_ALT = re.compile(r"\(\d+\)$")
_NON_WORDS = frozenset({"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]", "[BREATH]", "[COUGH]", "[UH]", "[UM]", "[SMACK]"})
_SILENCE_PHONES = frozenset({"SIL", "+NSN+", "+SPN+", "+BREATH+", "+COUGH+", "+UM+", "+UH+", "+SMACK+"})


@dataclass(frozen=True)
class Recognition:
    """What the recogniser heard.

    Attributes
    ----------
    words : tuple of str
        Recognised words in order (lower case, alternate-pronunciation marks and
        silences/fillers removed); empty when nothing was recognised.
    text : str
        ``" ".join(words)``.
    segments : tuple of (str, float, float)
        ``(word, start_s, end_s)`` per recognised word, seconds from the signal start.
    search : str
        ``"grammar:<name>"`` or ``"dictation"``.
    """

    words: tuple[str, ...]
    text: str
    segments: tuple[tuple[str, float, float], ...]
    search: str


@dataclass(frozen=True)
class Alignment:
    """A forced alignment of a known text.

    Attributes
    ----------
    words : tuple of (str, float, float)
        ``(word, start_s, end_s)`` in order, silences removed.
    phones : tuple of (str, float, float)
        ``(phone, start_s, end_s)`` in order, ARPAbet without stress marks (``IY``,
        ``UW``, ``AA`` ...), silences removed.
    """

    words: tuple[tuple[str, float, float], ...]
    phones: tuple[tuple[str, float, float], ...]


# --- the decoder ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def decoder() -> pocketsphinx.Decoder:
    """The process's PocketSphinx decoder (bundled en-us model, no language model).

    Loaded once per process and cached; grammars and the dictation language model are
    added to it as named searches. Adds `EXTRA_PRONUNCIATIONS`.
    """
    model = pocketsphinx.get_model_path()
    dec = pocketsphinx.Decoder(
        hmm=os.path.join(model, "en-us", "en-us"),
        dict=os.path.join(model, "en-us", "cmudict-en-us.dict"),
        lm=None,
        samprate=float(SAMPLE_RATE),
        loglevel="FATAL",
    )
    for word, phones in EXTRA_PRONUNCIATIONS.items():
        n = 2
        while dec.lookup_word(f"{word}({n})") is not None:
            n += 1
        dec.add_word(f"{word}({n})", phones, True)
    return dec


_SEARCHES: set[str] = set()


def _search_for(sentence_set: SentenceSet) -> str:
    dec = decoder()
    grammar = jsgf_grammar(sentence_set)
    name = f"g{abs(hash(grammar)):x}"
    if name not in _SEARCHES:
        missing = unknown_words(sentence_set.vocabulary)
        if missing:
            raise ValueError(f"words not in the recogniser's dictionary: {', '.join(missing)}")
        dec.add_jsgf_string(name, grammar)
        _SEARCHES.add(name)
    return name


def unknown_words(words: Sequence[str]) -> list[str]:
    """The words the recogniser's dictionary has no pronunciation for.

    Parameters
    ----------
    words : sequence of str
        Lower-case words (e.g. from `normalise_words`).

    Returns
    -------
    list of str
        The unknown ones, in order, without repeats (empty when all are known).
    """
    dec = decoder()
    return list(dict.fromkeys(w for w in words if dec.lookup_word(w) is None))


def _pcm(y: np.ndarray, sr: int) -> bytes:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (mono), got shape {y.shape}")
    if sr != SAMPLE_RATE:
        raise ValueError(f"sr must be {SAMPLE_RATE} Hz (resample with speech.signal first), got {sr}")
    y = np.nan_to_num(y.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.round(np.clip(y, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _audible(pcm: bytes, sr: int) -> bool:
    """At least `MIN_DURATION_S` of samples, not all zero (digital silence)."""
    return len(pcm) >= 2 * MIN_DURATION_S * sr and bool(np.any(np.frombuffer(pcm, dtype="<i2")))


def _decode(pcm: bytes) -> None:
    dec = decoder()
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()


def _segments(frame_rate: float) -> tuple[tuple[str, float, float], ...]:
    out = []
    for s in decoder().seg():
        if s.word in _NON_WORDS:
            continue
        out.append((_ALT.sub("", s.word).lower(), s.start_frame / frame_rate, (s.end_frame + 1) / frame_rate))
    return tuple(out)


def _recognise(y: np.ndarray, sr: int, search: str, label: str) -> Recognition:
    pcm = _pcm(y, sr)
    if not _audible(pcm, sr):
        # nothing to hear (too short, or digital silence): never invent words
        return Recognition((), "", (), label)
    pad = bytes(2 * int(round(RECOGNITION_PAD_S * sr)))
    dec = decoder()
    dec.activate_search(search)
    _decode(pad + pcm + pad)
    segs = _segments(float(dec.config["frate"])) if dec.hyp() is not None else ()
    segs = tuple((w, a - RECOGNITION_PAD_S, b - RECOGNITION_PAD_S) for w, a, b in segs)
    words = tuple(w for w, _, _ in segs)
    return Recognition(words, " ".join(words), segs, label)


def recognise(y: np.ndarray, sr: int, sentence_set: SentenceSet) -> Recognition:
    """Recognise an utterance with a closed grammar.

    Parameters
    ----------
    y : ndarray, shape (n,), float
        Mono signal, full scale 1, pre-processed.
    sr : int
        Sampling rate, Hz; must be `SAMPLE_RATE`.
    sentence_set : SentenceSet
        The closed set (compiled to JSGF by `prompts.jsgf_grammar`, cached per set).

    Returns
    -------
    Recognition
        No words for an empty, too short (< `MIN_DURATION_S`) or all-zero signal, or
        when the decoder reaches no final state of the grammar.

    Raises
    ------
    ValueError
        If ``y`` is not 1-D, ``sr`` is not `SAMPLE_RATE`, or a word of the set is not
        in the dictionary (see `unknown_words`).
    """
    search = _search_for(sentence_set)
    return _recognise(y, sr, search, f"grammar:{sentence_set.name}")


def open_dictation(y: np.ndarray, sr: int) -> Recognition:
    """Recognise with the bundled trigram language model (open vocabulary).

    For comparison with the closed grammar only; not a clarity measure. The language
    model (``en-us.lm.bin``) is loaded into the cached decoder on first use.

    Parameters and errors as `recognise` (without the sentence set).
    """
    dec = decoder()
    if "dictation" not in _SEARCHES:
        dec.add_lm_file("dictation", os.path.join(pocketsphinx.get_model_path(), "en-us", "en-us.lm.bin"))
        _SEARCHES.add("dictation")
    return _recognise(y, sr, "dictation", "dictation")


# --- word accuracy ---------------------------------------------------------------------------
@dataclass(frozen=True)
class WordErrors:
    """Counts of a minimum-edit alignment of a hypothesis to a reference.

    Attributes
    ----------
    n : int
        Reference words.
    hits, substitutions, deletions, insertions : int
        ``hits = n - substitutions - deletions``.
    """

    n: int
    hits: int
    substitutions: int
    deletions: int
    insertions: int

    @property
    def wer(self) -> float:
        """Word error rate ``(S + D + I) / N`` (may exceed 1)."""
        return (self.substitutions + self.deletions + self.insertions) / self.n

    @property
    def accuracy(self) -> float:
        """Share of reference words recognised, ``H / N`` in [0, 1]."""
        return self.hits / self.n


def word_errors(reference: Sequence[str], hypothesis: Sequence[str]) -> WordErrors:
    """Align a hypothesis to a reference with the fewest edits and count them.

    Levenshtein distance over words by dynamic programming (Wagner & Fischer 1974,
    "The string-to-string correction problem", J ACM 21(1):168,
    doi:10.1145/321796.321811), unit costs for substitution, deletion and insertion;
    among the alignments of least cost, the one with most hits. Word error rate
    ``WER = (S + D + I) / N`` and hits ``H = N - S - D`` as defined by Morris, Maier &
    Green 2004, "From WER and RIL to MER and WIL: improved evaluation measures for
    connected speech recognition", Interspeech, doi:10.21437/Interspeech.2004-668.

    Parameters
    ----------
    reference, hypothesis : sequence of str
        Words (compare normalised words, see `prompts.normalise_words`).

    Returns
    -------
    WordErrors

    Raises
    ------
    ValueError
        If the reference is empty.
    """
    ref, hyp = list(reference), list(hypothesis)
    n, m = len(ref), len(hyp)
    if n == 0:
        raise ValueError("empty reference")
    # cell = (cost, -hits, S, D, I); tuples compare cost first, then more hits
    prev = [(j, 0, 0, 0, j) for j in range(m + 1)]
    for i in range(1, n + 1):
        cur = [(i, 0, 0, i, 0)]
        for j in range(1, m + 1):
            c, h, s, d, ins = prev[j - 1]
            if ref[i - 1] == hyp[j - 1]:
                diag = (c, h - 1, s, d, ins)
            else:
                diag = (c + 1, h, s + 1, d, ins)
            c, h, s, d, ins = prev[j]
            up = (c + 1, h, s, d + 1, ins)
            c, h, s, d, ins = cur[j - 1]
            left = (c + 1, h, s, d, ins + 1)
            cur.append(min(diag, up, left))
        prev = cur
    _, neg_hits, s, d, ins = prev[m]
    return WordErrors(n=n, hits=-neg_hits, substitutions=s, deletions=d, insertions=ins)


def word_accuracy(reference_words: Sequence[str], hypothesis_words: Sequence[str]) -> float:
    """Share of the reference words recognised: ``(N - S - D) / N`` in [0, 1].

    See `word_errors` for the alignment and sources. Unlike ``1 - WER`` it ignores
    insertions, so it stays in [0, 1].

    Raises
    ------
    ValueError
        If the reference is empty.
    """
    return word_errors(reference_words, hypothesis_words).accuracy


# --- the clarity index ---------------------------------------------------------------------------
def default_sentence_set(prompt: str) -> SentenceSet:
    """The closed set to recognise a prompt with when the session gives none.

    The GRID grammar when the prompt is a GRID sentence (``bin blue at f two now``),
    else a word loop over the prompt's own words (`prompts.SentenceSet.word_loop`).
    """
    words = normalise_words(prompt)
    if grid_sentence_set().contains(words):
        return grid_sentence_set()
    return sentence_set_from_prompts([prompt], name="prompt", word_loop=True)


def clarity(
    y: np.ndarray,
    sr: int,
    prompt: str,
    sentence_set: SentenceSet | None = None,
) -> tuple[dict[str, float | None], str]:
    """The clarity index of one utterance of a known text.

    ``speech_clarity = 100 * word_accuracy(prompt words, recognised words)``, the
    recogniser constrained to ``sentence_set`` (see the module docstring for the
    recogniser and the proxy's source).

    Parameters
    ----------
    y : ndarray, shape (n,), float
        Mono signal, full scale 1, pre-processed, at `SAMPLE_RATE` Hz.
    sr : int
        Sampling rate, Hz.
    prompt : str
        The text the speaker was asked to say (the reference).
    sentence_set : SentenceSet, optional
        The session's closed set; default `default_sentence_set(prompt)`. The prompt
        should be an utterance of the set.

    Returns
    -------
    measures : dict
        ``{"speech_clarity": float in [0, 100] | None}``; ``None`` when there is nothing
        to judge (empty, too short or all-zero signal) or the prompt has no words. A
        signal in which nothing is recognised scores 0. The quality gate upstream
        nulls it for bad audio (silence, noise only, ...).
    words : str
        The recognised words, space-separated ("" when none).

    Raises
    ------
    ValueError
        As `recognise` (wrong shape or rate, a word outside the dictionary).
    """
    ref = normalise_words(prompt)
    if sentence_set is None and ref:
        sentence_set = default_sentence_set(prompt)
    if not ref or sentence_set is None:
        return {"speech_clarity": None}, ""
    rec = recognise(y, sr, sentence_set)
    if not _audible(_pcm(y, sr), sr):
        return {"speech_clarity": None}, ""
    return {"speech_clarity": 100.0 * word_accuracy(ref, rec.words)}, rec.text


# --- forced alignment -------------------------------------------------------------------------------
def align(y: np.ndarray, sr: int, text: str) -> Alignment | None:
    """Word and phone boundaries of a known text in the signal (forced alignment).

    PocketSphinx 5 alignment mode (``Decoder.set_align_text``): a first pass aligns the
    words (choosing among alternate pronunciations), a second pass
    (``set_alignment``) the phones and HMM states within them. Times at the decoder's
    frame rate (100 frames/s).

    Parameters
    ----------
    y : ndarray, shape (n,), float
        Mono signal, full scale 1, pre-processed, at `SAMPLE_RATE` Hz.
    sr : int
        Sampling rate, Hz.
    text : str
        What was said (normalised by `normalise_words`).

    Returns
    -------
    Alignment or None
        ``None`` when the text has no words, the signal is empty, too short or all
        zero, or the decoder finds no alignment.

    Raises
    ------
    ValueError
        As `recognise`, or a word of the text is not in the dictionary.
    """
    words = normalise_words(text)
    pcm = _pcm(y, sr)
    if not words or not _audible(pcm, sr):
        return None
    missing = unknown_words(words)
    if missing:
        raise ValueError(f"words not in the recogniser's dictionary: {', '.join(missing)}")
    dec = decoder()
    rate = float(dec.config["frate"])
    try:
        dec.set_align_text(" ".join(words))
        _decode(pcm)
        if dec.hyp() is None:
            return None
        dec.set_alignment()
        _decode(pcm)
        al = dec.get_alignment()
    except RuntimeError:
        return None
    if al is None:
        return None

    def spans(entries, skip) -> tuple[tuple[str, float, float], ...]:
        return tuple(
            (_ALT.sub("", e.name), e.start / rate, (e.start + e.duration) / rate) for e in entries if e.name not in skip
        )

    word_spans = spans(al.words(), _NON_WORDS)
    if not word_spans:
        return None
    return Alignment(words=word_spans, phones=spans(al.phones(), _SILENCE_PHONES))

