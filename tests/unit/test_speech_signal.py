"""speech.signal: pre-processing (high-pass, hum notch only when present, no noise
reduction) and the SNR estimate, on known-answer signals and real speech."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from palsyflow.features.audio import load_audio
from palsyflow.speech.signal import (
    active_level,
    add_white_noise,
    detect_hum,
    estimate_snr_db,
    preprocess,
    preprocess_detailed,
    resample,
)

SR = 16000


def _tone(f: float, s: float = 2.0, amp: float = 0.1) -> np.ndarray:
    t = np.arange(int(s * SR)) / SR
    return amp * np.sin(2 * np.pi * f * t)


def _gain_db(x: np.ndarray, y: np.ndarray) -> float:
    core = slice(SR // 4, -SR // 4)  # ignore filter edges
    return 10 * np.log10(np.mean(y[core] ** 2) / np.mean(x[core] ** 2))


def _line_db(y: np.ndarray, f: float) -> float:
    freqs, p = sps.welch(y, fs=SR, nperseg=SR)
    return 10 * np.log10(p[np.argmin(np.abs(freqs - f))])


def _speech(shared_data, rel: str) -> np.ndarray:
    return load_audio(shared_data / rel, sr=SR).astype(np.float64)


def test_preprocess_removes_dc_and_rumble_keeps_voice_band():
    x = _tone(20.0) + 0.3  # rumble plus DC offset
    y = preprocess(x, SR)
    assert y.dtype == np.float64 and y.shape == x.shape
    assert abs(y[SR // 4 : -SR // 4].mean()) < 1e-3
    assert _gain_db(x - 0.3, y) < -40  # 20 Hz: 4th-order x2 passes at 60 Hz
    v = _tone(200.0)
    assert abs(_gain_db(v, preprocess(v, SR))) < 0.1  # voice f0 region untouched
    v75 = _tone(75.0)
    assert -2.0 < _gain_db(v75, preprocess(v75, SR)) < 0  # Praat's pitch floor barely attenuated


def test_preprocess_does_no_noise_reduction():
    """White noise keeps its power above the high-pass: nothing spectral is subtracted."""
    n = np.random.default_rng(3).normal(0, 0.05, 2 * SR)
    y = preprocess(n, SR)
    freqs, p_in = sps.welch(n, fs=SR, nperseg=1024)
    _, p_out = sps.welch(y, fs=SR, nperseg=1024)
    band = (freqs > 200) & (freqs < 7500)
    assert abs(10 * np.log10(p_out[band].sum() / p_in[band].sum())) < 0.2


@pytest.mark.shared_data
@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_added_hum_detected_and_notched_on_real_speech(shared_data, mains):
    x = _speech(shared_data, "speech/speech_recognition/english.wav")
    t = np.arange(x.size) / SR
    rms = np.sqrt(active_level(x, SR))
    hum = sum(0.1 * rms * np.sin(2 * np.pi * k * mains * t) for k in (1, 2, 3))
    pre = preprocess_detailed(x + hum, SR)
    assert pre.hum_hz == mains
    assert pre.notched_hz == (mains,)  # the fundamental only: harmonics overlap the voice
    assert all(f % mains == 0 for f in pre.notched_hz)
    for f in pre.notched_hz:
        assert _line_db(pre.signal, f) < _line_db(x + hum, f) - 15


@pytest.mark.shared_data
def test_a_sustained_vowel_on_a_mains_harmonic_keeps_its_voice(shared_data):
    # PC-GITA /u/ has 60 Hz hum and f0 = 180 Hz, the 3rd mains harmonic: notching the
    # harmonics cut the voice itself (shimmer 1.7 % -> 7.5 %, HNR 30.6 -> 21.8 dB)
    from palsyflow.speech.voice import voice_measures

    x = _speech(shared_data, "speech/disvoice_pcgita/098_u1_PCGITA.wav")
    raw, pre = voice_measures(x, SR), voice_measures(preprocess(x, SR), SR)
    assert abs(pre["speech_shimmer_local_pct"] - raw["speech_shimmer_local_pct"]) < 0.5
    assert abs(pre["speech_hnr_db"] - raw["speech_hnr_db"]) < 2.0


@pytest.mark.shared_data
def test_real_mains_hum_found_in_a_real_recording(shared_data):
    """PC-GITA was recorded in Colombia (60 Hz mains): its read text shows the 60 Hz line."""
    x = _speech(shared_data, "speech/disvoice_pcgita/001_readtext_PCGITA.wav")
    assert detect_hum(x, SR)[0] == 60.0


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "rel", ["speech/pocketsphinx_testdata/goforward.wav", "talking-faces/grid/audio_extracted/bbaf2n.wav"]
)
def test_no_hum_no_notch_on_clean_real_speech(shared_data, rel):
    x = _speech(shared_data, rel)
    assert detect_hum(x, SR) == (None, ())
    pre = preprocess_detailed(x, SR)
    assert pre.notched_hz == ()
    # without hum, preprocessing equals the high-pass alone (no notch applied)
    np.testing.assert_allclose(pre.signal, preprocess(x, SR, notch_hum=False), atol=1e-12)


def test_white_tone_line_is_not_hum_at_other_frequencies():
    assert detect_hum(_tone(130.0) + np.random.default_rng(0).normal(0, 0.01, 2 * SR), SR) == (None, ())


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "rel",
    [
        "speech/pocketsphinx_testdata/goforward.wav",
        "talking-faces/grid/audio_extracted/bbaf2n.wav",
        "speech/disvoice_pcgita/001_readtext_PCGITA.wav",
    ],
)
@pytest.mark.parametrize("snr", [20.0, 10.0, 0.0])
def test_snr_from_pauses_of_real_speech_with_known_noise(shared_data, rel, snr):
    x = preprocess(_speech(shared_data, rel), SR)
    est = estimate_snr_db(add_white_noise(x, SR, snr, seed=7), SR)
    assert est is not None and abs(est - snr) < 3.0


@pytest.mark.shared_data
@pytest.mark.parametrize("snr", [30.0, 20.0, 10.0])
def test_snr_from_silence_recording_on_a_vowel(shared_data, snr):
    vowel = preprocess(_speech(shared_data, "speech/disvoice_pcgita/001_a1_PCGITA.wav"), SR)
    sigma = np.sqrt(active_level(vowel, SR) / 10 ** (snr / 10))
    rng = np.random.default_rng(11)
    noisy = vowel + rng.normal(0, sigma, vowel.size)
    room = rng.normal(0, sigma, SR)  # the session's silence: the same room noise
    est = estimate_snr_db(noisy, SR, silence=room)
    assert est is not None and abs(est - snr) < 2.0


@pytest.mark.shared_data
def test_snr_unknown_for_vowel_without_pauses(shared_data):
    """A clean sustained vowel has no pause: no noise floor can be seen, so no estimate
    (rather than a falsely low SNR from the vowel's own quietest frames)."""
    vowel = preprocess(_speech(shared_data, "speech/disvoice_pcgita/001_a1_PCGITA.wav"), SR)
    assert estimate_snr_db(vowel, SR) is None


def test_add_white_noise_hits_requested_snr():
    x = _tone(200.0, amp=0.2)
    y = add_white_noise(x, SR, 10.0, seed=1)
    assert abs(10 * np.log10(active_level(x, SR) / np.mean((y - x) ** 2)) - 10.0) < 0.2


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        preprocess(np.zeros((2, 100)), SR)
    with pytest.raises(ValueError):
        estimate_snr_db(np.zeros(100), 0)
    assert estimate_snr_db(np.zeros(10), SR) is None
    assert preprocess(np.zeros(0), SR).size == 0


def test_resample_keeps_a_tone():
    x = _tone(440.0)
    y = resample(x, SR, 44100)
    assert y.size == round(x.size * 44100 / SR)
    t = np.arange(y.size) / 44100
    core = slice(4410, -4410)
    np.testing.assert_allclose(y[core], 0.1 * np.sin(2 * np.pi * 440 * t)[core], atol=2e-3)
