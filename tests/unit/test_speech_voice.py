"""speech.voice: Praat voice measures against known-answer synthetic vowels, on real
sustained vowels, their response to added noise, CPPS and AVQI."""

from __future__ import annotations

import numpy as np
import pytest

from palsyflow.features.audio import load_audio
from palsyflow.speech.signal import add_white_noise, preprocess
from palsyflow.speech.voice import VOICE_MEASURES, avqi, cpps_db, voice_measures

SR = 16000


def pulse_vowel(
    sr: int = SR, f0: float = 125.0, dur: float = 2.0, jitter: float = 0.0, shimmer: float = 0.0, pad: float = 0.3
) -> np.ndarray:
    """A synthetic sustained vowel: one fixed 6 ms two-formant pulse per glottal period.

    Periods alternate ``T(1 + jitter)``, ``T(1 - jitter)`` and pulse amplitudes
    ``A(1 + shimmer)``, ``A(1 - shimmer)``. Because the pulse shape is fixed, the
    peak-to-peak intervals are exactly the periods, so the known answers are
    jitter (local) = mean|T_i - T_i+1| / mean T = 2 * jitter,
    shimmer (local) = 2 * shimmer, shimmer (dB) = 20 log10((1 + shimmer) / (1 - shimmer)).
    """
    n = int(dur * f0)
    alt = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    periods = (1 + jitter * alt) / f0
    amps = 1 + shimmer * alt
    starts = np.concatenate([[0.0], np.cumsum(periods)[:-1]])
    t = np.arange(int((starts[-1] + periods[-1]) * sr)) / sr
    y = np.zeros_like(t)
    for s0, a in zip(starts, amps, strict=True):
        i0, i1 = int(np.ceil(s0 * sr)), min(t.size, int((s0 + 0.006) * sr))
        tau = t[i0:i1] - s0
        env = np.exp(-tau / 0.0012) * np.sin(np.pi * tau / 0.006)
        y[i0:i1] += a * env * (np.sin(2 * np.pi * 700 * tau) + 0.5 * np.sin(2 * np.pi * 1200 * tau))
    y *= 0.3 / np.abs(y).max()
    z = np.zeros(int(pad * sr))
    return np.concatenate([z, y, z])


def test_keys_and_unperturbed_synthetic():
    m = voice_measures(pulse_vowel(), SR)
    assert tuple(m) == VOICE_MEASURES
    assert m["speech_vowel_f0_mean_hz"] == pytest.approx(125.0, abs=0.2)
    assert m["speech_jitter_local_pct"] < 0.05
    assert m["speech_shimmer_local_pct"] < 0.1
    assert m["speech_hnr_db"] > 40
    assert m["speech_vowel_duration_s"] == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize(("jit", "shim"), [(0.01, 0.0), (0.0, 0.05), (0.01, 0.05), (0.005, 0.02)])
def test_known_jitter_and_shimmer(jit, shim):
    m = voice_measures(pulse_vowel(jitter=jit, shimmer=shim), SR)
    assert m["speech_jitter_local_pct"] == pytest.approx(200 * jit, abs=0.1)
    assert m["speech_shimmer_local_pct"] == pytest.approx(200 * shim, abs=0.3)
    assert m["speech_shimmer_local_db"] == pytest.approx(20 * np.log10((1 + shim) / (1 - shim)), abs=0.03)
    assert m["speech_vowel_f0_mean_hz"] == pytest.approx(125.0, abs=0.5)


def test_stable_middle_ignores_onset_and_offset():
    """A 0.15 s onset glide (f0 100 -> 125 Hz) inside the first 10 % does not move f0 SD."""
    y = pulse_vowel(dur=2.0)
    glide = preprocess(pulse_vowel(f0=100.0, dur=0.15, pad=0.0), SR)
    pad = int(0.3 * SR)
    with_onset = np.concatenate([y[:pad], glide, y[pad:]])
    m = voice_measures(with_onset, SR)
    assert m["speech_vowel_f0_sd_hz"] < 0.5


def test_silence_and_noise_give_none():
    m = voice_measures(np.zeros(2 * SR), SR)
    assert all(v is None for v in m.values())
    with pytest.raises(ValueError):
        voice_measures(np.zeros((2, SR)), SR)


def _vowel(shared_data, name: str, sr: int = SR) -> np.ndarray:
    return preprocess(load_audio(shared_data / "speech" / "disvoice_pcgita" / name, sr=sr), sr)


def _acf_f0(y: np.ndarray, sr: int, lo: float = 75.0, hi: float = 600.0) -> float:
    """Independent f0 check: autocorrelation peak of the middle 1 s (numpy only)."""
    mid = y[y.size // 2 - sr // 2 : y.size // 2 + sr // 2]
    mid = mid - mid.mean()
    ac = np.fft.irfft(np.abs(np.fft.rfft(mid, 2 * mid.size)) ** 2)[: mid.size]
    lags = np.arange(int(sr / hi), int(sr / lo))
    return sr / lags[np.argmax(ac[lags])]


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["001_a1_PCGITA.wav", "098_u1_PCGITA.wav"])
def test_real_vowels(shared_data, name):
    y = _vowel(shared_data, name)
    m = voice_measures(y, SR)
    assert all(m[k] is not None for k in VOICE_MEASURES)
    assert m["speech_vowel_f0_mean_hz"] == pytest.approx(_acf_f0(y, SR), rel=0.03)
    assert m["speech_vowel_duration_s"] == pytest.approx(y.size / SR, abs=0.15)  # voiced throughout
    assert 0 < m["speech_jitter_local_pct"] < 2.0  # a steady phonation of a real voice
    assert m["speech_hnr_db"] > 10 and m["speech_cpps_db"] > 8


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["001_a1_PCGITA.wav", "098_u1_PCGITA.wav"])
def test_noise_moves_the_measures_and_preprocessing_removes_no_noise(shared_data, name):
    y = _vowel(shared_data, name)
    clean = voice_measures(y, SR)
    noisy_raw = add_white_noise(y, SR, 10.0, seed=3)
    noisy = voice_measures(preprocess(noisy_raw, SR), SR)
    assert noisy["speech_hnr_db"] < clean["speech_hnr_db"] - 4
    assert noisy["speech_cpps_db"] < clean["speech_cpps_db"] - 3
    assert noisy["speech_shimmer_local_pct"] > clean["speech_shimmer_local_pct"]
    # pre-processing is no noise reduction: measuring before or after it gives the same HNR
    assert voice_measures(noisy_raw, SR)["speech_hnr_db"] == pytest.approx(noisy["speech_hnr_db"], abs=0.5)


@pytest.mark.shared_data
def test_cpps_on_connected_speech_and_noise(shared_data):
    text = preprocess(load_audio(shared_data / "speech/disvoice_pcgita/001_readtext_PCGITA.wav", sr=SR), SR)
    noise = np.random.default_rng(0).normal(0, 0.05, 3 * SR)
    c_text, c_noise = cpps_db(text, SR), cpps_db(noise, SR)
    assert c_text is not None and c_noise is not None
    assert c_text > c_noise + 2
    assert cpps_db(np.zeros(100), SR) is None


@pytest.mark.shared_data
def test_avqi(shared_data):
    """The formula's behaviour on real speech (PC-GITA is 16 kHz native, so its value is
    outside AVQI's specification: that is what ``native_sr`` guards)."""
    sr = 22050
    vowel = _vowel(shared_data, "001_a1_PCGITA.wav", sr)
    text = _vowel(shared_data, "001_readtext_PCGITA.wav", sr)[: 6 * sr]
    a = avqi(vowel, text, sr)
    assert a is not None and 0 < a < 10
    noisy = avqi(add_white_noise(vowel, sr, 10, seed=1), add_white_noise(text, sr, 10, seed=2), sr)
    assert noisy is not None and noisy > a + 1  # noise looks like dysphonia
    assert avqi(vowel, text, SR) is None  # 16 kHz: no LTAS up to 10 kHz
    assert avqi(vowel, text, sr, native_sr=16000) is None  # PC-GITA is 16 kHz native
    assert avqi(vowel, np.random.default_rng(0).normal(0, 0.05, 3 * sr), sr) is None  # no voiced speech
    with pytest.raises(ValueError):
        avqi(vowel, text, sr, version="9")
