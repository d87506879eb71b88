"""The speech phantom: known-answer checks of each component on real healthy speech."""

from __future__ import annotations

import numpy as np
import parselmouth
import pytest
from parselmouth.praat import call
from scipy import signal

from palsyflow.features.audio import load_audio
from palsyflow.speech.phantom import SEVERITIES, PhantomStrength, component_strengths, degrade

SR = 16000
GRID = "talking-faces/grid/audio_extracted/bbaf2n.wav"
VOWEL = "speech/disvoice_pcgita/001_a1_PCGITA.wav"


def _hf_share_db(y: np.ndarray) -> float:
    """Energy above 3 kHz over total energy, dB (Welch spectrum)."""
    f, p = signal.welch(y, SR, nperseg=1024)
    return float(10 * np.log10(p[f >= 3000].sum() / p.sum()))


def _hnr_db(y: np.ndarray) -> float:
    """Mean harmonics-to-noise ratio, Praat To Harmonicity (cc) with its standard settings."""
    h = call(parselmouth.Sound(y.astype(np.float64), SR), "To Harmonicity (cc)", 0.01, 75, 0.1, 1.0)
    return float(call(h, "Get mean", 0, 0))


def _f0_sd_st(y: np.ndarray) -> float:
    f0 = parselmouth.Sound(y.astype(np.float64), SR).to_pitch().selected_array["frequency"]
    f0 = f0[f0 > 0]
    return float(np.std(12 * np.log2(f0 / np.median(f0))))


def test_severity_zero_is_the_input_and_strengths_are_linear():
    rng = np.random.default_rng(0)
    y = rng.standard_normal(SR).astype(np.float32) * 0.1
    assert np.array_equal(degrade(y, SR, 0.0, seed=3), y)
    half, full = component_strengths(0.5), component_strengths(1.0)
    for key in ("smear_ms", "hf_atten_db", "breath_ratio", "jitter_sd"):
        assert half[key] == pytest.approx(full[key] / 2)
    assert full["duration_factor"] - 1 == pytest.approx(2 * (half["duration_factor"] - 1))
    with pytest.raises(ValueError):
        degrade(y, SR, 1.5)
    with pytest.raises(ValueError):
        degrade(y[None, :], SR, 0.5)


@pytest.mark.shared_data
def test_same_seed_same_phantom_other_seed_other_noise(shared_data):
    y = load_audio(shared_data / GRID, sr=SR)
    a, b, c = degrade(y, SR, 0.5, seed=1), degrade(y, SR, 0.5, seed=1), degrade(y, SR, 0.5, seed=2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.shared_data
def test_duration_grows_with_severity_as_stated(shared_data):
    y = load_audio(shared_data / GRID, sr=SR)
    lengths = [degrade(y, SR, s, seed=0).size for s in SEVERITIES]
    assert all(b > a for a, b in zip(lengths, lengths[1:]))
    for s, n in zip(SEVERITIES, lengths):
        c = component_strengths(s)
        stretched = y.size * c["duration_factor"]
        assert stretched * 0.97 <= n <= stretched * 1.03 + c["n_pauses"] * c["pause_s"] * SR
    # without the pauses the stretch is the stated factor
    no_pauses = PhantomStrength(n_pauses=0)
    n = degrade(y, SR, 1.0, seed=0, strength=no_pauses).size
    assert n / y.size == pytest.approx(component_strengths(1.0)["duration_factor"], rel=0.03)


@pytest.mark.shared_data
def test_pauses_are_inserted_quiet_and_of_the_stated_length(shared_data):
    pauses_only = PhantomStrength(rate_stretch=0.0, monopitch=0.0, jitter_sd=0.0, smear_ms=0.0, hf_atten_db=0.0, breath_ratio=0.0)
    y = load_audio(shared_data / GRID, sr=SR)
    d = degrade(y, SR, 1.0, seed=0, strength=pauses_only)
    c = component_strengths(1.0, pauses_only)
    gap = round(c["pause_s"] * SR)
    k, rest = divmod(d.size - y.size, gap)  # whole pauses only, at least one, at most n_pauses
    assert rest == 0 and 1 <= k <= c["n_pauses"]
    win = int(0.02 * SR)
    rms = np.sqrt(np.convolve(d.astype(np.float64) ** 2, np.ones(win) / win, mode="valid"))
    quiet = rms < 10 ** (-40 / 20) * rms.max()  # 40 dB below the peak
    runs, run = [], 0
    for q in quiet:
        run = run + 1 if q else 0
        runs.append(run)
    assert max(runs) >= 0.9 * (c["pause_s"] * SR - win)


@pytest.mark.shared_data
def test_precision_loss_lowers_high_frequency_energy(shared_data):
    # the precision component alone (the aspiration noise adds high-frequency energy of its own)
    precision_only = PhantomStrength(rate_stretch=0.0, monopitch=0.0, jitter_sd=0.0, breath_ratio=0.0)
    y = load_audio(shared_data / GRID, sr=SR)
    hf = [_hf_share_db(degrade(y, SR, s, seed=0, strength=precision_only)) for s in SEVERITIES]
    assert all(b < a for a, b in zip(hf, hf[1:])), hf
    assert hf[0] - hf[-1] > 6.0


@pytest.mark.shared_data
def test_breathier_voice_lowers_hnr_of_a_real_vowel(shared_data):
    y = load_audio(shared_data / VOWEL, sr=SR)
    hnr = [_hnr_db(degrade(y, SR, s, seed=0)) for s in SEVERITIES]
    assert all(b < a for a, b in zip(hnr, hnr[1:])), hnr
    assert hnr[0] - hnr[-1] > 5.0


@pytest.mark.shared_data
def test_monopitch_shrinks_the_f0_excursion(shared_data):
    prosody_only = PhantomStrength(rate_stretch=0.0, jitter_sd=0.0, smear_ms=0.0, hf_atten_db=0.0, breath_ratio=0.0)
    y = load_audio(shared_data / GRID, sr=SR)
    sd = [_f0_sd_st(degrade(y, SR, s, seed=0, strength=prosody_only)) for s in (0.0, 0.5, 1.0)]
    assert sd[0] > sd[1] > sd[2]


@pytest.mark.shared_data
def test_shimmer_component_raises_shimmer_of_a_real_vowel(shared_data):
    shimmer_only = PhantomStrength(rate_stretch=0.0, monopitch=0.0, jitter_sd=0.0, smear_ms=0.0, hf_atten_db=0.0, breath_ratio=0.0, n_pauses=0)
    y = load_audio(shared_data / VOWEL, sr=SR)

    def shimmer(x):
        snd = parselmouth.Sound(x.astype(np.float64), SR)
        pp = call(snd, "To PointProcess (periodic, cc)", 75, 600)
        return 100 * call([snd, pp], "Get shimmer (local)", 0, 0, 0.0001, 0.02, 1.3, 1.6)

    values = [shimmer(degrade(y, SR, s, seed=0, strength=shimmer_only)) for s in (0.0, 0.5, 1.0)]
    assert values[0] < values[1] < values[2], values
