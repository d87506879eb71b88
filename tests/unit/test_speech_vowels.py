"""Formant centralisation ratio and vowel space area (speech/vowels.py)."""

from __future__ import annotations

import numpy as np
import pytest
from parselmouth.praat import call

from palsyflow.features.audio import load_audio
from palsyflow.speech import prompts as P
from palsyflow.speech import recognition as R
from palsyflow.speech import vowels as V

SR = 16000
# corner vowels of adult men, Hz (Peterson & Barney 1952, doi:10.1121/1.1906875, means)
HEALTHY = {"i": (270.0, 2290.0), "u": (300.0, 870.0), "a": (730.0, 1090.0)}


def _fcr(f):
    return (f["u"][1] + f["a"][1] + f["i"][0] + f["u"][0]) / (f["i"][1] + f["a"][0])


def _synth(formants, dur=0.3, gap=0.1):
    """Vowels synthesised by Praat's KlattGrid with the given F1, F2; their phone spans."""
    parts, phones, t = [np.zeros(int(gap * SR))], [], gap
    labels = {"i": "IY", "u": "UW", "a": "AA"}
    for key, (f1, f2) in formants.items():
        kg = call("Create KlattGrid from vowel", key, dur, 120.0, f1, 60.0, f2, 80.0, 2700.0, 120.0, 3500.0, 0.05, 1000.0)
        snd = call(call(kg, "To Sound"), "Resample", SR, 50)
        y = snd.values[0]
        parts += [0.5 * y / np.abs(y).max(), np.zeros(int(gap * SR))]
        phones.append((labels[key], t, t + y.size / SR))
        t += y.size / SR + gap
    return np.concatenate(parts), phones


def _centralise(formants, k):
    centre = np.mean([f for f in formants.values()], axis=0)
    return {v: tuple((1 - k) * np.asarray(f) + k * centre) for v, f in formants.items()}


def test_synthetic_vowels_known_answer():
    y, phones = _synth(HEALTHY)
    got = V.corner_vowel_formants(y, SR, phones)
    for v, (f1, f2) in HEALTHY.items():
        assert got[v][0] == pytest.approx(f1, rel=0.08), v
        assert got[v][1] == pytest.approx(f2, rel=0.05), v
    fcr = V.formant_centralisation_ratio(y, SR, phones)
    assert fcr == pytest.approx(_fcr(HEALTHY), abs=0.03)
    assert V.fcr_from_formants(HEALTHY) == pytest.approx(_fcr(HEALTHY))
    # VSA of the triangle, by the cross product of two edges
    (i1, i2), (u1, u2), (a1, a2) = (HEALTHY[k] for k in "iua")
    area = abs((u1 - i1) * (a2 - i2) - (u2 - i2) * (a1 - i1)) / 2
    assert V.vsa_from_formants(HEALTHY) == pytest.approx(area)


def test_centralised_vowels_raise_fcr_and_shrink_vsa():
    fcrs, vsas = [], []
    for k in (0.0, 0.3, 0.6):
        target = _centralise(HEALTHY, k)
        y, phones = _synth(target)
        got = V.corner_vowel_formants(y, SR, phones)
        fcrs.append(V.fcr_from_formants(got))
        vsas.append(V.vsa_from_formants(got))
        assert fcrs[-1] == pytest.approx(_fcr(target), abs=0.04)
    assert fcrs[0] < fcrs[1] < fcrs[2]
    assert vsas[0] > vsas[1] > vsas[2]
    assert fcrs[0] < 1.0 < fcrs[2]  # well-spread corners below 1, strongly centralised ones above


def test_missing_corner_vowel_gives_none():
    y, phones = _synth({"i": HEALTHY["i"], "u": HEALTHY["u"]})
    got = V.corner_vowel_formants(y, SR, phones)
    assert got["a"] is None and got["i"] is not None
    assert V.formant_centralisation_ratio(y, SR, phones) is None
    assert V.vowel_measures(y, SR, None) == {"speech_fcr": None}
    assert V.formant_centralisation_ratio(np.zeros(SR), SR, [("IY", 0.1, 0.3), ("UW", 0.4, 0.6), ("AA", 0.7, 0.9)]) is None
    with pytest.raises(ValueError):
        V.formant_centralisation_ratio(np.zeros((2, SR)), SR, [])


@pytest.mark.shared_data
def test_grid_clips_lack_the_a_vowel(shared_data):
    # no GRID word has AA except the letter r, absent from these clips: FCR must be None,
    # while the /i/ and /u/ found are where healthy speech puts them
    for clip in sorted((shared_data / "talking-faces" / "grid" / "audio_extracted").glob("*.wav"))[:4]:
        y = load_audio(clip, sr=SR).astype(np.float64)
        text = P.grid_sentence(clip)
        al = R.align(y, SR, text)
        got = V.corner_vowel_formants(y, SR, al)
        assert ("r" in text.split()) == (got["a"] is not None)
        assert V.formant_centralisation_ratio(y, SR, al) is None
        if got["i"] is not None:
            assert got["i"][0] < 450 and got["i"][1] > 1900
        if got["u"] is not None:
            assert got["u"][0] < 450


@pytest.mark.shared_data
def test_healthy_read_sentence_fcr_plausible(shared_data):
    d = shared_data / "speech" / "pocketsphinx_testdata" / "librivox"
    line = next(x for x in (d / "transcription").read_text().splitlines() if "0870" in x)
    text = line.split("<s>")[1].split("</s>")[0]
    y = load_audio(d / "sense_and_sensibility_01_austen_64kb-0870.wav", sr=SR).astype(np.float64)
    al = R.align(y, SR, text)
    got = V.corner_vowel_formants(y, SR, al)
    assert got["i"][1] > got["u"][1] > got["a"][1]  # F2: i > u > a
    assert got["a"][0] > got["u"][0] and got["a"][0] > got["i"][0]  # F1: a highest
    fcr = V.formant_centralisation_ratio(y, SR, al)
    assert 0.9 <= fcr <= 1.3  # connected speech centralises more than Sapir's words
