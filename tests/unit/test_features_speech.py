"""Audio decoding (PyAV) and speech measures on synthetic signals."""

from __future__ import annotations

import av
import numpy as np
import pytest
import soundfile as sf

from palsyflow.config import FeatureParams
from palsyflow.features.audio import AudioError, load_audio
from palsyflow.features.speech import SPEECH_MEASURES, speech_features


def _voice(f0: float, sr: int, seconds: float, vibrato_st: float = 0.0) -> np.ndarray:
    """A harmonic, voice-like tone with syllable-rate amplitude modulation (4 Hz)."""
    t = np.arange(int(sr * seconds)) / sr
    inst = f0 * 2 ** (vibrato_st * np.sin(2 * np.pi * 1.0 * t) / 12)
    phase = 2 * np.pi * np.cumsum(inst) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 6))
    env = 0.2 + 0.8 * np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None)  # 4 bursts per second
    return (0.2 * y * env).astype(np.float32)


def test_load_audio_resamples_and_downmixes(tmp_path):
    sr_in, sr_out = 44100, 16000
    t = np.arange(sr_in) / sr_in
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([tone, tone], axis=1)
    path = tmp_path / "tone.wav"
    sf.write(path, stereo, sr_in)
    y = load_audio(path, sr_out)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(y.size - sr_out) <= 64  # one second
    spectrum = np.abs(np.fft.rfft(y))
    freq = np.fft.rfftfreq(y.size, 1 / sr_out)[np.argmax(spectrum)]
    assert freq == pytest.approx(440, abs=3)
    assert np.max(np.abs(y)) == pytest.approx(0.5, rel=0.05)


def test_load_audio_without_audio_stream_raises(tmp_path):
    path = tmp_path / "silent_video.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(AudioError, match="no audio stream"):
        load_audio(path, 16000)


def test_load_audio_unreadable_file_raises(tmp_path):
    path = tmp_path / "junk.wav"
    path.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="junk.wav"):
        load_audio(path, 16000)


@pytest.mark.parametrize("f0", [110.0, 220.0])
def test_speech_features_recover_synthetic_pitch(f0):
    sr = 16000
    feats = speech_features(_voice(f0, sr, 2.0), sr)
    assert set(feats) == set(SPEECH_MEASURES)
    assert feats["speech_f0_median_hz"] == pytest.approx(f0, rel=0.03)
    assert feats["speech_f0_sd_st"] < 0.5
    assert feats["speech_voiced_fraction"] > 0.5
    assert 3.0 <= feats["speech_rate_hz"] <= 5.0  # 4 amplitude bursts per second


def test_intonation_range_increases_f0_sd():
    sr = 16000
    flat = speech_features(_voice(150.0, sr, 2.0), sr)
    wobbly = speech_features(_voice(150.0, sr, 2.0, vibrato_st=3.0), sr)
    assert wobbly["speech_f0_sd_st"] > flat["speech_f0_sd_st"] + 1.0


def test_louder_signal_has_higher_energy_by_20_db():
    sr = 16000
    y = _voice(150.0, sr, 1.0)
    a = speech_features(y, sr)
    b = speech_features(10 * y, sr)
    assert b["speech_energy_db_mean"] - a["speech_energy_db_mean"] == pytest.approx(20.0, abs=0.5)


@pytest.mark.parametrize("y", [np.zeros(32000, np.float32), np.zeros(100, np.float32), np.full(32000, np.nan, np.float32)])
def test_silence_and_short_input_give_none(y):
    feats = speech_features(y, 16000)
    assert all(v is None for v in feats.values())


def test_white_noise_is_mostly_unvoiced():
    y = np.random.default_rng(0).normal(0, 0.1, 32000).astype(np.float32)
    feats = speech_features(y, 16000, FeatureParams())
    assert feats["speech_voiced_fraction"] < 0.2


def test_bad_input_raises():
    with pytest.raises(ValueError):
        speech_features(np.zeros((2, 100)), 16000)
    with pytest.raises(ValueError):
        speech_features(np.zeros(100), 0)
