"""Closed-grammar recognition, word accuracy, clarity and forced alignment (speech/recognition.py)."""

from __future__ import annotations

import numpy as np
import pytest

from palsyflow.features.audio import load_audio
from palsyflow.speech import prompts as P
from palsyflow.speech import recognition as R

SR = R.SAMPLE_RATE


# --- word accuracy: known answers -------------------------------------------------------
def test_word_errors_counts():
    e = R.word_errors("a b c d".split(), "a x c d e".split())
    assert (e.n, e.hits, e.substitutions, e.deletions, e.insertions) == (4, 3, 1, 0, 1)
    assert e.wer == pytest.approx(0.5) and e.accuracy == pytest.approx(0.75)
    e = R.word_errors("bin blue at f two now".split(), "bin at f now".split())
    assert (e.hits, e.substitutions, e.deletions, e.insertions) == (4, 0, 2, 0)
    e = R.word_errors("a b".split(), [])
    assert (e.hits, e.deletions, e.wer) == (0, 2, 1.0)
    e = R.word_errors(["a"], "x y z".split())
    assert e.wer == pytest.approx(3.0) and e.accuracy == 0.0  # WER may exceed 1, accuracy cannot
    assert R.word_accuracy("a b c".split(), "a b c".split()) == 1.0
    # shifted sequence: one deletion + one insertion beats three substitutions
    e = R.word_errors("a b c".split(), "b c d".split())
    assert (e.hits, e.substitutions, e.deletions, e.insertions) == (2, 0, 1, 1)
    with pytest.raises(ValueError):
        R.word_errors([], ["a"])


def test_bad_calls_raise():
    with pytest.raises(ValueError, match="16000"):
        R.recognise(np.zeros(8000), 8000, P.grid_sentence_set())
    with pytest.raises(ValueError, match="1-D"):
        R.recognise(np.zeros((2, SR)), SR, P.grid_sentence_set())
    with pytest.raises(ValueError, match="dictionary"):
        R.recognise(np.zeros(SR), SR, P.sentence_set_from_prompts(["blorptastic zibble"]))
    assert R.unknown_words(["bin", "zibble", "zibble"]) == ["zibble"]


# --- real GRID clips ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def grid_clips(shared_data):
    clips = sorted((shared_data / "talking-faces" / "grid" / "audio_extracted").glob("*.wav"))
    assert len(clips) >= 10
    return [(c.name, load_audio(c, sr=SR).astype(np.float64), P.grid_sentence(c)) for c in clips]


@pytest.mark.shared_data
def test_grid_closed_grammar_is_accurate_and_beats_dictation(grid_clips):
    grid = P.grid_sentence_set()
    clarities, closed_wer, open_wer, closed_sub = [], [], [], []
    for i, (_, y, ref) in enumerate(grid_clips):
        measures, words = R.clarity(y, SR, ref, grid)
        clarities.append(measures["speech_clarity"])
        assert grid.contains(words.split())  # the closed grammar answers with a GRID sentence
        closed_wer.append(R.word_errors(ref.split(), words.split()).wer)
        if i % 3 == 0:  # dictation is slow (~1 s per clip): every third clip
            closed_sub.append(closed_wer[-1])
            open_wer.append(R.word_errors(ref.split(), R.open_dictation(y, SR).words).wer)
    assert np.mean(clarities) >= 80.0
    assert np.median(clarities) == 100.0
    assert np.mean(closed_wer) <= 0.2
    assert np.mean(open_wer) >= np.mean(closed_sub) + 0.4


@pytest.mark.shared_data
def test_every_grid_clip_cut_tight_to_its_speech_is_recognised(grid_clips):
    # lbbc2a starts speaking at once: without silence padding it read "bin red in i six
    # again" (clarity 17) for "lay blue by c two again"
    for name, y, ref in grid_clips:
        measures, words = R.clarity(y, SR, ref, P.grid_sentence_set())
        assert measures["speech_clarity"] >= 66.0, (name, words)


@pytest.mark.shared_data
def test_grid_prompt_gets_the_grid_grammar_by_default(grid_clips):
    name, y, ref = next(c for c in grid_clips if c[0] == "bbaf2n.wav")
    assert R.default_sentence_set(ref) == P.grid_sentence_set()
    measures, words = R.clarity(y, SR, ref)
    assert words == ref and measures["speech_clarity"] == 100.0


@pytest.mark.shared_data
def test_white_noise_at_0db_snr_lowers_clarity(grid_clips):
    rng = np.random.default_rng(9)
    grid = P.grid_sentence_set()
    clean, noisy = [], []
    for _, y, ref in grid_clips:
        noise = rng.standard_normal(y.size)
        noise *= np.sqrt(np.mean(y**2) / np.mean(noise**2))  # 0 dB SNR
        clean.append(R.clarity(y, SR, ref, grid)[0]["speech_clarity"])
        noisy.append(R.clarity(y + noise, SR, ref, grid)[0]["speech_clarity"])
    assert np.mean(noisy) <= np.mean(clean) - 40.0


def test_digital_silence_gives_no_words_and_no_clarity():
    rec = R.recognise(np.zeros(3 * SR), SR, P.grid_sentence_set())
    assert rec.words == () and rec.text == ""
    assert R.open_dictation(np.zeros(3 * SR), SR).words == ()
    assert R.clarity(np.zeros(3 * SR), SR, "bin blue at f two now") == ({"speech_clarity": None}, "")
    assert R.clarity(np.zeros(10), SR, "bin blue at f two now")[0]["speech_clarity"] is None  # too short
    assert R.align(np.zeros(3 * SR), SR, "bin blue at f two now") is None


@pytest.mark.shared_data
def test_noise_only_recording_gives_no_words(shared_data):
    y = load_audio(shared_data / "speech" / "alsa_utils" / "Noise.wav", sr=SR)
    assert np.sqrt(np.mean(y.astype(float) ** 2)) > 0.01  # really a loud signal, not silence
    measures, words = R.clarity(y, SR, "bin blue at f two now", P.grid_sentence_set())
    # the recogniser reaches no final state of the grammar: no words, clarity 0 (the
    # quality gate upstream turns noise-only audio into a status and a null)
    assert words == "" and measures["speech_clarity"] == 0.0
    white = np.random.default_rng(1).standard_normal(3 * SR) * 0.05
    assert R.recognise(white, SR, P.grid_sentence_set()).words == ()


@pytest.mark.shared_data
def test_pocketsphinx_testdata_sentences(shared_data):
    d = shared_data / "speech" / "pocketsphinx_testdata"
    measures, words = R.clarity(load_audio(d / "goforward.wav", sr=SR), SR, "go forward ten meters")
    assert words == "go forward ten meters" and measures["speech_clarity"] == 100.0
    lines = (d / "cards" / "cards.transcription").read_text().splitlines()
    refs = [line.split("(")[0].replace("<s>", "").replace("</s>", "").strip() for line in lines]
    cards = P.sentence_set_from_prompts(refs, name="cards")
    for i, ref in enumerate(refs, start=1):
        assert R.recognise(load_audio(d / "cards" / f"{i:03d}.wav", sr=SR), SR, cards).text == ref


@pytest.mark.shared_data
def test_forced_alignment_matches_grid_word_timings(shared_data):
    grid = shared_data / "talking-faces" / "grid"
    y = load_audio(grid / "audio_extracted" / "id2_vcd_swwp2s.wav", sr=SR)
    al = R.align(y, SR, "set white with p two soon")
    assert al is not None
    assert [w for w, _, _ in al.words] == "set white with p two soon".split()
    # the corpus' own word alignment: lines 'start end word', times in units of 1/25000 s
    ref = [line.split() for line in (grid / "swwp2s.align").read_text().splitlines()]
    ref = [(w, int(a) / 25000, int(b) / 25000) for a, b, w in ref if w != "sil"]
    for (w, s, e), (rw, rs, re_) in zip(al.words, ref, strict=True):
        assert w == rw and abs(s - rs) < 0.08 and abs(e - re_) < 0.08, (w, s, e, rs, re_)
    phones = [p for p, _, _ in al.phones]
    assert phones[:3] == ["S", "EH", "T"] and "UW" in phones and "SIL" not in phones
    starts = [s for _, s, _ in al.phones]
    assert starts == sorted(starts)
    assert all(al.words[0][1] <= s < al.words[-1][2] for s in starts)
