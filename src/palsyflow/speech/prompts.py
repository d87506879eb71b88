"""What a speaker is asked to say: closed sentence sets, the GRID grammar, standard passages.

A **sentence set** is the closed set of utterances a recogniser may answer with when the
clarity index is measured (see ``speech/recognition.py``). Two kinds exist:

* the **GRID grammar** (Cooke, Barker, Cunningham & Shao 2006, "An audio-visual corpus for
  speech perception and automatic speech recognition", J Acoust Soc Am 120(5):2421,
  doi:10.1121/1.2229005): six slots, one word from each, in order:
  command, colour, preposition, letter (a-z without w), digit, adverb. The GRID file
  name encodes the sentence, one character per slot (``bbaf2n`` = "bin blue at f two
  now"; the digit zero is written ``z``);
* the **sentences of a session** (the manifest's ``prompt`` texts): the recogniser may
  answer any one of them, or, with ``word_loop=True``, any sequence of their words.

Standard passages (public-domain texts) are kept here as constants with a name lookup.
Everything here is pure Python: no recogniser is imported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# --- the GRID grammar (Cooke et al. 2006, Table I) -----------------------------------
GRID_COMMANDS: tuple[str, ...] = ("bin", "lay", "place", "set")
GRID_COLOURS: tuple[str, ...] = ("blue", "green", "red", "white")
GRID_PREPOSITIONS: tuple[str, ...] = ("at", "by", "in", "with")
GRID_LETTERS: tuple[str, ...] = tuple(c for c in "abcdefghijklmnopqrstuvxyz")  # no w
GRID_DIGITS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
GRID_ADVERBS: tuple[str, ...] = ("again", "now", "please", "soon")
#: The six slots of a GRID sentence, in spoken order.
GRID_SLOTS: tuple[tuple[str, ...], ...] = (
    GRID_COMMANDS,
    GRID_COLOURS,
    GRID_PREPOSITIONS,
    GRID_LETTERS,
    GRID_DIGITS,
    GRID_ADVERBS,
)
#: Code character of each digit in GRID file names: ``z`` for zero, ``1``..``9``.
_GRID_DIGIT_CODES: tuple[str, ...] = ("z", "1", "2", "3", "4", "5", "6", "7", "8", "9")
_GRID_CODE_LEN = 6

#: Spoken form of a bare digit in a prompt text ("at f 2 now" -> "at f two now").
_DIGIT_WORDS: dict[str, str] = {str(i): w for i, w in enumerate(GRID_DIGITS)}


def _grid_code_table() -> tuple[dict[str, str], ...]:
    """Per slot: code character -> word (first letter, except letters and digits)."""
    tables: list[dict[str, str]] = []
    for slot in (GRID_COMMANDS, GRID_COLOURS, GRID_PREPOSITIONS):
        tables.append({w[0]: w for w in slot})
    tables.append({c: c for c in GRID_LETTERS})
    tables.append(dict(zip(_GRID_DIGIT_CODES, GRID_DIGITS, strict=True)))
    tables.append({w[0]: w for w in GRID_ADVERBS})
    return tuple(tables)


_GRID_CODES = _grid_code_table()


def grid_sentence(name: str | Path) -> str | None:
    """The sentence a GRID file name encodes.

    Parameters
    ----------
    name : str or Path
        A GRID code (``"bbaf2n"``) or a file name/path whose stem ends with one
        (``"id2_vcd_swwp2s.wav"``): the last six characters of the stem are read,
        case-insensitively, one per slot of the GRID grammar (Cooke et al. 2006,
        doi:10.1121/1.2229005); the digit zero is coded ``z``.

    Returns
    -------
    str or None
        The sentence, lower case, words separated by one space
        (``"bin blue at f two now"``); ``None`` when the stem is not a GRID code.
    """
    stem = Path(str(name)).name
    stem = stem.split(".", 1)[0] if "." in stem else stem
    code = stem[-_GRID_CODE_LEN:].lower()
    if len(code) != _GRID_CODE_LEN:
        return None
    words = []
    for ch, table in zip(code, _GRID_CODES, strict=True):
        word = table.get(ch)
        if word is None:
            return None
        words.append(word)
    return " ".join(words)


# --- text normalisation ----------------------------------------------------------------
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")


def normalise_words(text: str) -> list[str]:
    """Words of a prompt or transcript, as the recogniser's dictionary spells them.

    Lower case; punctuation dropped (apostrophes inside a word kept: ``"don't"``);
    hyphens and other non-letters split words; a bare digit ``0``-``9`` becomes its
    word (``"2"`` -> ``"two"``).

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    list of str
        The words in order; empty for text without letters or digits.
    """
    words = _TOKEN.findall(text.lower().replace("\u2019", "'"))
    return [_DIGIT_WORDS.get(w, w) for w in words]


# --- sentence sets ---------------------------------------------------------------------
@dataclass(frozen=True)
class SentenceSet:
    """A closed set of utterances for the recogniser.

    Exactly one of ``slots`` and ``sentences`` is non-empty.

    Attributes
    ----------
    name : str
        Short identifier (letters, digits, underscore), used as the grammar's name.
    slots : tuple of tuple of str
        Slot grammar: an utterance is one word of each slot, in order (GRID).
    sentences : tuple of tuple of str
        Sentence list: an utterance is one of these word sequences.
    word_loop : bool
        With ``sentences``: allow any sequence (one or more) of the set's words instead
        of whole sentences only, so that the recogniser can report a word it did not
        hear as missing or replaced (useful for a single prompt or a passage, where a
        one-sentence grammar could only answer that sentence).
    """

    name: str
    slots: tuple[tuple[str, ...], ...] = ()
    sentences: tuple[tuple[str, ...], ...] = ()
    word_loop: bool = False

    def __post_init__(self) -> None:
        if bool(self.slots) == bool(self.sentences):
            raise ValueError("a SentenceSet needs exactly one of slots and sentences")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.name):
            raise ValueError(f"SentenceSet name must be an identifier, got {self.name!r}")
        groups = self.slots or self.sentences
        if any(not g or any(not w for w in g) for g in groups):
            raise ValueError("empty slot, sentence or word in SentenceSet")

    @property
    def vocabulary(self) -> tuple[str, ...]:
        """Every word the set can produce, sorted, without repeats."""
        return tuple(sorted({w for g in (self.slots or self.sentences) for w in g}))

    def contains(self, words: Sequence[str]) -> bool:
        """Whether the word sequence is an utterance of the set."""
        words = tuple(words)
        if self.slots:
            return len(words) == len(self.slots) and all(w in s for w, s in zip(words, self.slots, strict=True))
        if self.word_loop:
            vocab = set(self.vocabulary)
            return bool(words) and all(w in vocab for w in words)
        return words in self.sentences


def grid_sentence_set() -> SentenceSet:
    """The GRID grammar as a sentence set (Cooke et al. 2006, doi:10.1121/1.2229005)."""
    return SentenceSet(name="grid", slots=GRID_SLOTS)


def sentence_set_from_prompts(prompts: Iterable[str], *, name: str = "session", word_loop: bool = False) -> SentenceSet:
    """The closed set of a session's prompt texts.

    Parameters
    ----------
    prompts : iterable of str
        The texts the speaker was asked to say (normalised by `normalise_words`;
        repeats are kept once, order is kept).
    name : str
        Grammar name (an identifier).
    word_loop : bool
        See `SentenceSet.word_loop`.

    Returns
    -------
    SentenceSet

    Raises
    ------
    ValueError
        When no prompt has a word.
    """
    seen: dict[tuple[str, ...], None] = {}
    for p in prompts:
        words = tuple(normalise_words(p))
        if words:
            seen.setdefault(words, None)
    if not seen:
        raise ValueError("no prompt with words")
    return SentenceSet(name=name, sentences=tuple(seen), word_loop=word_loop)


def jsgf_grammar(sentence_set: SentenceSet) -> str:
    """A JSGF grammar (Java Speech Grammar Format 1.0) accepting exactly the set.

    Words are written lower case, as in the CMU pronouncing dictionary bundled with
    pocketsphinx (letters are the words ``a`` .. ``z``). One public rule, ``<utterance>``.

    Parameters
    ----------
    sentence_set : SentenceSet

    Returns
    -------
    str
        The grammar text.
    """
    name = sentence_set.name
    lines = ["#JSGF V1.0;", f"grammar {name};"]
    if sentence_set.slots:
        refs = []
        for i, slot in enumerate(sentence_set.slots):
            lines.append(f"<slot{i}> = {' | '.join(slot)};")
            refs.append(f"<slot{i}>")
        lines.append(f"public <utterance> = {' '.join(refs)};")
    elif sentence_set.word_loop:
        lines.append(f"<word> = {' | '.join(sentence_set.vocabulary)};")
        lines.append("public <utterance> = <word>+;")
    else:
        alts = " | ".join(f"( {' '.join(s)} )" for s in sentence_set.sentences)
        lines.append(f"public <utterance> = {alts};")
    return "\n".join(lines) + "\n"


# --- standard passages (public-domain texts) ---------------------------------------------
#: "The North Wind and the Sun" (Aesop), the text used for the illustrations of the
#: Handbook of the International Phonetic Association (1999, Cambridge University Press).
NORTH_WIND_AND_THE_SUN: str = (
    "The North Wind and the Sun were disputing which was the stronger, when a traveler "
    "came along wrapped in a warm cloak. They agreed that the one who first succeeded in "
    "making the traveler take his cloak off should be considered stronger than the other. "
    "Then the North Wind blew as hard as he could, but the more he blew the more closely "
    "did the traveler fold his cloak around him; and at last the North Wind gave up the "
    "attempt. Then the Sun shined out warmly, and immediately the traveler took off his "
    "cloak. And so the North Wind was obliged to confess that the Sun was the stronger of "
    "the two."
)
#: "The Rainbow Passage", first paragraph (Fairbanks 1960, Voice and Articulation
#: Drillbook, 2nd ed., Harper & Row).
RAINBOW_PASSAGE: str = (
    "When the sunlight strikes raindrops in the air, they act as a prism and form a "
    "rainbow. The rainbow is a division of white light into many beautiful colors. These "
    "take the shape of a long round arch, with its path high above, and its two ends "
    "apparently beyond the horizon. There is, according to legend, a boiling pot of gold "
    "at one end. People look, but no one ever finds it. When a man looks for something "
    "beyond his reach, his friends say he is looking for the pot of gold at the end of "
    "the rainbow."
)
#: Passage name -> text; names as a manifest's ``prompt`` may give them.
PASSAGES: dict[str, str] = {
    "north_wind_and_the_sun": NORTH_WIND_AND_THE_SUN,
    "rainbow_passage": RAINBOW_PASSAGE,
}


def passage_text(name: str) -> str | None:
    """The text of a standard passage by name.

    Parameters
    ----------
    name : str
        ``"north_wind_and_the_sun"`` or ``"rainbow_passage"``; case, spaces, hyphens and
        a leading "the" are ignored (``"The North Wind and the Sun"`` works).

    Returns
    -------
    str or None
        The passage text; ``None`` for an unknown name.
    """
    key = "_".join(normalise_words(name))
    if key.startswith("the_"):
        key = key[4:]
    if key == "rainbow":
        key = "rainbow_passage"
    return PASSAGES.get(key)
