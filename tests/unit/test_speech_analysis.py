"""One recording through the gate and its task's measures; one session's speech (palsyflow.speech.analysis/session)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from palsyflow.features.audio import load_audio
from palsyflow.features.session import measure_speech
from palsyflow.speech.analysis import analyse_recording, recording_prompt, session_sentence_set, vowel_trials
from palsyflow.speech.prompts import grid_sentence_set
from palsyflow.speech.session import aggregate_speech, speech_block

SR = 16000


@pytest.fixture(scope="module")
def vowel(shared_data: Path) -> np.ndarray:
    return load_audio(shared_data / "speech" / "disvoice_pcgita" / "001_a1_PCGITA.wav", SR).astype(np.float64)


@pytest.fixture(scope="module")
def grid(shared_data: Path) -> Path:
    return shared_data / "talking-faces" / "grid" / "audio_extracted"


def test_a_face_task_is_not_a_speech_task():
    with pytest.raises(ValueError, match="not a speech task"):
        analyse_recording(np.zeros(SR), SR, "smile")


def test_digital_silence_gets_a_status_and_no_numbers():
    out = analyse_recording(np.zeros(2 * SR), SR, "vowel")
    assert out["speech_status"] == "digital_silence" and out["speech_reason"]
    assert all(v is None for k, v in out.items() if k not in ("speech_status", "speech_reason", "speech_snr_db"))


@pytest.mark.shared_data
def test_three_vowel_trials_in_one_file_are_measured_with_their_spread(vowel):
    gap = np.zeros(SR // 2)
    rng = np.random.default_rng(1)
    trials = [vowel, 0.8 * vowel, vowel + rng.normal(0.0, 0.002, vowel.size)]
    y = np.concatenate([gap, trials[0], gap, trials[1], gap, trials[2], gap])
    assert len(vowel_trials(y, SR)) == 3
    out = analyse_recording(y, SR, "vowel")
    assert out["speech_status"] == "ok" and out["speech_vowel_trials"] == 3.0
    single = analyse_recording(vowel, SR, "vowel")
    assert out["speech_jitter_local_pct"] == pytest.approx(single["speech_jitter_local_pct"], rel=0.3)
    assert out["speech_hnr_db_trial_sd"] is not None and out["speech_hnr_db_trial_sd"] >= 0.0
    assert single["speech_hnr_db_trial_sd"] is None  # one trial: no spread
    assert out["speech_rate_syl_s"] is None and out["speech_clarity"] is None  # not a connected task


@pytest.mark.shared_data
def test_a_prompt_word_outside_the_dictionary_skips_clarity_with_a_note(grid):
    y = load_audio(grid / "bbaf2n.wav", SR)
    out = analyse_recording(y, SR, "sentences", prompt="bin blue at f two nowzz")
    assert out["speech_status"] == "ok" and out["speech_clarity"] is None
    assert "nowzz" in out["speech_reason"]
    assert out["speech_articulation_rate_syl_s"] is not None  # the rest is still measured


def test_session_sentence_set_is_grid_for_grid_prompts_else_a_word_loop():
    assert session_sentence_set(["bin blue at f two now", "lay red with p nine again"]) == grid_sentence_set()
    other = session_sentence_set(["the cat sat on the mat", "bin blue at f two now"])
    assert other is not None and other != grid_sentence_set() and other.word_loop
    assert session_sentence_set([""]) is None


def test_prompt_comes_from_the_manifest_or_a_grid_file_name():
    assert recording_prompt("sentences", None, "bbaf2n.wav") == "bin blue at f two now"
    assert recording_prompt("sentences", "hello there", "bbaf2n.wav") == "hello there"
    assert recording_prompt("vowel", None, "bbaf2n.wav") is None  # a vowel has no text
    assert "north wind" in recording_prompt("passage", "north wind").lower()  # a passage by name


def test_session_speech_keeps_refused_tasks_out_and_names_them():
    rows = [
        {"task": "sentences", "speech_status": "ok", "speech_clarity": 100.0, "speech_words": "bin blue at f two now",
         "speech_snr_db": 40.0, "speech_articulation_rate_syl_s": 4.1, "speech_pause_ratio": 0.0,
         "speech_f0_sd_st": 2.5, "speech_connected_cpps_db": 7.0},
        {"task": "vowel", "speech_status": "clipped", "speech_reason": "45% of samples are clipped",
         "speech_jitter_local_pct": 9.9, "speech_snr_db": 30.0},
        {"task": "rest"},  # a face task
    ]
    s = aggregate_speech(rows)
    assert s["speech_clarity"] == 100.0 and s["speech_jitter_local_pct"] is None  # the clipped vowel's numbers are not used
    assert s["speech_status"] == "clipped" and s["speech_reason"] == "vowel: 45% of samples are clipped"
    assert s["speech_snr_db"] == 35.0
    assert s["speech_dysarthria_index"] is not None and s["speech_dysarthria_index"] < 20.0  # healthy-like sentences
    block = speech_block(rows)
    assert block["clarity"] == 100.0 and set(block["tasks"]) == {"sentences", "vowel"}
    assert block["tasks"]["vowel"]["status"] == "clipped" and "speech_jitter_local_pct" in block["tasks"]["vowel"]
    assert block["quality"]["status"] == "clipped" and "speech_clarity" in block["dysarthria_components"]


@pytest.mark.shared_data
def test_measure_speech_of_real_files_gives_the_json_block(shared_data: Path, grid):
    files = {
        "vowel": shared_data / "speech" / "disvoice_pcgita" / "001_a1_PCGITA.wav",
        "ddk_pataka": shared_data / "speech" / "disvoice_pcgita" / "001_ddk1_PCGITA.wav",
        "sentences": grid / "lrwp9a.wav",
        "silence": shared_data / "speech" / "alsa_utils" / "Noise.wav",  # loud noise as the room tone
    }
    out = measure_speech(files, {"sentences": "lay red with p nine again"})
    assert set(out) == set(files)
    # a room tone this loud leaves too little signal over noise: the gate refuses, with the number
    assert out["sentences"]["speech_status"] == "low_snr" and "dB" in out["sentences"]["speech_reason"]
    quiet = measure_speech({k: v for k, v in files.items() if k != "silence"})
    assert quiet["vowel"]["speech_status"] == "ok" and quiet["vowel"]["speech_hnr_db"] is not None
    assert quiet["ddk_pataka"]["speech_ddk_pataka_rate_syl_s"] == pytest.approx(3.49, rel=0.08)
    assert quiet["sentences"]["speech_clarity"] >= 66.0  # text from the GRID file name


@pytest.mark.shared_data
def test_a_recording_is_preprocessed_once_for_the_gate_and_the_measures(vowel, monkeypatch):
    from palsyflow.speech import signal as speech_signal

    calls: list[int] = []
    real = speech_signal.preprocess_detailed

    def counting(y, sr, **kw):
        calls.append(len(y))
        return real(y, sr, **kw)

    monkeypatch.setattr(speech_signal, "preprocess_detailed", counting)
    monkeypatch.setattr("palsyflow.speech.quality.preprocess_detailed", counting)
    out = analyse_recording(vowel, SR, "vowel")
    assert out["speech_status"] == "ok" and out["speech_hnr_db"] is not None
    assert calls == [len(vowel)]  # the gate's pre-processed signal is the one measured


def test_a_file_without_decodable_audio_gets_no_audio_and_the_reason(tmp_path: Path):
    bad = tmp_path / "sub-X_ses-1_task-vowel.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt this is not audio")
    out = measure_speech({"vowel": bad})
    assert out["vowel"]["speech_status"] == "no_audio"
    assert out["vowel"]["speech_reason"] and "vowel" not in out["vowel"]["speech_reason"].split()[0]
    block = speech_block([{"task": "vowel", **out["vowel"]}])
    assert block["tasks"]["vowel"]["status"] == "no_audio" and block["clarity"] is None
