"""Sentence sets, the GRID code and the standard passages (speech/prompts.py)."""

from __future__ import annotations

from pathlib import Path

import pocketsphinx
import pytest

from palsyflow.speech import prompts as P


def _cmudict_words() -> set[str]:
    path = Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"
    return {line.split(maxsplit=1)[0].split("(")[0] for line in path.read_text(encoding="utf-8").splitlines() if line}


@pytest.mark.parametrize(
    ("name", "sentence"),
    [
        ("bbaf2n", "bin blue at f two now"),
        ("id2_vcd_swwp2s.wav", "set white with p two soon"),
        ("/x/y/lwbsza.wav", "lay white by s zero again"),
        ("PWIJ3P.mpg", "place white in j three please"),
        ("sbwe5n", "set blue with e five now"),
        ("grid/lrwp9a.align", "lay red with p nine again"),
    ],
)
def test_grid_code_decodes_each_slot(name, sentence):
    assert P.grid_sentence(name) == sentence


@pytest.mark.parametrize("name", ["goforward.wav", "abcdef", "bbaw2n", "bbaf0n", "bbaf2x", "bba", "", "001_a1_PCGITA.wav"])
def test_non_grid_names_give_none(name):
    # a: no command starts with a; w: not a GRID letter; 0: zero is coded z; x: no adverb
    assert P.grid_sentence(name) is None


def test_every_grid_clip_name_decodes_to_a_grid_utterance(shared_data):
    clips = sorted((shared_data / "talking-faces" / "grid" / "audio_extracted").glob("*.wav"))
    assert len(clips) >= 10
    grid = P.grid_sentence_set()
    for clip in clips:
        sentence = P.grid_sentence(clip)
        assert sentence is not None and grid.contains(sentence.split()), clip.name


def test_grid_grammar_shape():
    grid = P.grid_sentence_set()
    assert [len(s) for s in grid.slots] == [4, 4, 4, 25, 10, 4]
    assert "w" not in P.GRID_LETTERS
    assert grid.contains("bin blue at f two now".split())
    assert not grid.contains("blue bin at f two now".split())
    assert not grid.contains("bin blue at f two".split())


def test_every_grid_and_passage_word_has_a_pronunciation():
    words = _cmudict_words()
    vocab = set(P.grid_sentence_set().vocabulary)
    for text in P.PASSAGES.values():
        vocab |= set(P.normalise_words(text))
    assert vocab - words == set()


def test_normalise_words():
    assert P.normalise_words("Bin BLUE at F, 2 now!") == ["bin", "blue", "at", "f", "two", "now"]
    assert P.normalise_words("He didn\u2019t - well-known.") == ["he", "didn't", "well", "known"]
    assert P.normalise_words(" ... ") == []
    assert P.normalise_words("10 pots") == ["10", "pots"]  # only single digits are spelled


def test_sentence_set_from_prompts_and_grammar():
    s = P.sentence_set_from_prompts(["Go forward ten meters.", "go forward ten meters", "Stop"], name="nav")
    assert s.sentences == (("go", "forward", "ten", "meters"), ("stop",))
    assert s.vocabulary == ("forward", "go", "meters", "stop", "ten")
    assert s.contains(["stop"]) and not s.contains(["stop", "go"])
    g = P.jsgf_grammar(s)
    assert g.startswith("#JSGF V1.0;") and "grammar nav;" in g
    assert "( go forward ten meters ) | ( stop )" in g
    loop = P.sentence_set_from_prompts(["stop", "go"], name="loop", word_loop=True)
    assert loop.contains(["stop", "go", "go"]) and not loop.contains(["halt"])
    assert "<word>+" in P.jsgf_grammar(loop)
    grid = P.jsgf_grammar(P.grid_sentence_set())
    assert "<slot3> = a | b | c" in grid and "public <utterance> = <slot0> <slot1>" in grid


def test_sentence_set_rejects_bad_input():
    with pytest.raises(ValueError):
        P.sentence_set_from_prompts(["...", ""])
    with pytest.raises(ValueError):
        P.SentenceSet(name="bad name", sentences=(("a",),))
    with pytest.raises(ValueError):
        P.SentenceSet(name="x")


def test_passages_by_name():
    assert P.passage_text("The North Wind and the Sun") == P.NORTH_WIND_AND_THE_SUN
    assert P.passage_text("rainbow-passage") == P.RAINBOW_PASSAGE
    assert P.passage_text("the rainbow") == P.RAINBOW_PASSAGE
    assert P.passage_text("hamlet") is None
    assert P.normalise_words(P.NORTH_WIND_AND_THE_SUN)[:4] == ["the", "north", "wind", "and"]
    assert P.normalise_words(P.RAINBOW_PASSAGE)[-3:] == ["of", "the", "rainbow"]
