"""Every speech measure on the healthy speech of ../shared/data, and how far degraded copies move it.

Recordings (read from ``../shared/data``, never copied): the 11 GRID sentences
(``talking-faces/grid/audio_extracted``, the text decoded from the file name) as
``sentences``; the sustained vowels ``speech/disvoice_pcgita/001_a1`` and ``098_u1``
and the Praat hVd words ``praat_heed/hid/hood/hud`` as ``vowel``; ``001_ddk1`` as
``ddk_pataka``; ``the_north_wind_and_the_sun`` as ``passage`` (connected measures
only: it is an excerpt, so no clarity). Each is decoded at 16 kHz and measured on the
pre-processed signal (:func:`palsyflow.speech.signal.preprocess`) in four conditions:
healthy, white noise at 20 dB and 10 dB SNR (:func:`palsyflow.speech.signal.add_white_noise`,
added before pre-processing) and an 8 kHz band limit (resampled to 8 kHz and back,
polyphase, so nothing above 4 kHz is left).

The quality gate (:func:`palsyflow.speech.quality.assess`) judges each decoded copy;
its status is reported, but the measures are taken regardless, to show how far they
move. Prints, per measure: the healthy mean, SD, min-max and n, the mean in each degraded
condition and its shift in healthy SDs; the recogniser's words for every GRID clip;
the time per recording. Saves ``benchmarks/results/speech_reference-<date>.json``
including the measured healthy reference (:func:`palsyflow.speech.reference.measured_reference`)
that ``benchmarks/speech_phantom.py`` uses.

Usage::

    python benchmarks/speech_reference.py [--no-save]

Timings are wall clock on a shared 2-core machine (noisy).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _results import save_result  # benchmarks/_results.py (scripts run with benchmarks/ on sys.path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SHARED = Path(os.environ.get("PALSYFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))  # as tests/conftest.py
SR = 16000
CONDITIONS = ("healthy", "snr20", "snr10", "band8k")
GRID_DIR = "talking-faces/grid/audio_extracted"
VOWELS = (
    "speech/disvoice_pcgita/001_a1_PCGITA.wav",
    "speech/disvoice_pcgita/098_u1_PCGITA.wav",
    "speech/parselmouth_praat/praat_heed.wav",
    "speech/parselmouth_praat/praat_hid.wav",
    "speech/parselmouth_praat/praat_hood.wav",
    "speech/parselmouth_praat/praat_hud.wav",
)
DDK = (("speech/disvoice_pcgita/001_ddk1_PCGITA.wav", "ddk_pataka"),)
PASSAGES = ("speech/parselmouth_praat/the_north_wind_and_the_sun.wav",)


def recordings(shared: Path) -> list[dict]:
    """(path, task, prompt) of every healthy recording used."""
    from palsyflow.speech.prompts import grid_sentence

    recs = [{"path": p, "task": "sentences", "prompt": grid_sentence(p)} for p in sorted((shared / GRID_DIR).glob("*.wav"))]
    recs += [{"path": shared / v, "task": "vowel", "prompt": None} for v in VOWELS]
    recs += [{"path": shared / d, "task": t, "prompt": None} for d, t in DDK]
    recs += [{"path": shared / p, "task": "passage", "prompt": None} for p in PASSAGES]
    return [r for r in recs if r["path"].is_file()]


def degraders() -> dict[str, Callable]:
    """Condition name -> function (y, sr) -> degraded y (before pre-processing)."""
    from scipy.signal import resample_poly

    from palsyflow.speech.signal import add_white_noise

    return {
        "healthy": lambda y, sr: y,
        "snr20": lambda y, sr: add_white_noise(y, sr, 20.0, seed=20),
        "snr10": lambda y, sr: add_white_noise(y, sr, 10.0, seed=10),
        "band8k": lambda y, sr: resample_poly(resample_poly(y, 1, sr // 8000), sr // 8000, 1)[: y.size],
    }


def quality_of(raw, sr: int, task: str) -> dict | str:
    """The quality gate's verdict on the decoded (not pre-processed) signal, when the voice module's gate is merged."""
    try:
        from palsyflow.speech import quality
    except ImportError:
        return "not available"
    kind = "vowel" if task == "vowel" else "ddk" if task.startswith("ddk_") else "connected"
    q = quality.assess(raw, sr, kind)
    return {k: getattr(q, k, None) for k in ("status", "reason", "snr_db")}


def measure(y, sr: int, task: str, prompt: str | None) -> tuple[dict[str, float | None], dict]:
    """All measures of one pre-processed recording for its task, and extras (recognised words)."""
    from palsyflow.speech import articulation

    out: dict[str, float | None] = {}
    extra: dict = {}
    if task in ("sentences", "passage"):
        out.update(articulation.connected_speech_measures(y, sr))
        out["speech_connected_cpps_db"] = _voice_call("cpps_db", y, sr)
    if task == "sentences" and prompt:
        from palsyflow.speech import recognition, vowels

        clarity, words = recognition.clarity(y, sr, prompt)
        out.update(clarity)
        extra["words"] = words
        out.update(vowels.vowel_measures(y, sr, recognition.align(y, sr, prompt)))
    if task == "vowel":
        vm = _voice_call("voice_measures", y, sr)
        if isinstance(vm, dict):
            out.update(vm)
    if task.startswith("ddk_"):
        out.update(articulation.ddk_measures(y, sr, task))
    return out, extra


def _voice_call(name: str, y, sr: int):
    """Call ``palsyflow.speech.voice.<name>`` when the voice module is merged, else None."""
    try:
        from palsyflow.speech import voice
    except ImportError:
        return None
    fn = getattr(voice, name, None)
    return fn(y, sr) if fn is not None else None


def summarise(rows: list[dict]) -> list[dict]:
    """Per measure: healthy mean/SD/min/max/n and each degraded condition's mean and shift in healthy SDs."""
    names = sorted({k for r in rows for k in r["measures"]})
    table = []
    for name in names:
        entry: dict = {"measure": name}
        healthy = [r["measures"].get(name) for r in rows if r["condition"] == "healthy"]
        hv = [v for v in healthy if v is not None]
        sd = statistics.stdev(hv) if len(hv) >= 2 else None
        entry["healthy"] = {
            "mean": statistics.fmean(hv) if hv else None,
            "sd": sd,
            "min": min(hv) if hv else None,
            "max": max(hv) if hv else None,
            "n": len(hv),
        }
        for cond in CONDITIONS[1:]:
            # paired: the same recordings, so the shift is not a change of sample
            pairs = [
                (h["measures"].get(name), d["measures"].get(name))
                for h in rows
                if h["condition"] == "healthy"
                for d in rows
                if d["condition"] == cond and d["path"] == h["path"]
            ]
            dv = [d for h, d in pairs if d is not None]
            shifts = [d - h for h, d in pairs if d is not None and h is not None]
            mean_shift = statistics.fmean(shifts) if shifts else None
            entry[cond] = {
                "mean": statistics.fmean(dv) if dv else None,
                "n": len(dv),
                "mean_shift": mean_shift,
                "shift_in_healthy_sd": (mean_shift / sd) if (mean_shift is not None and sd) else None,
                "n_lost": sum(1 for h, d in pairs if h is not None and d is None),
            }
        table.append(entry)
    return table


def _fmt(v, nd=2) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)
    if not SHARED.is_dir():
        print(f"skipped: the real recordings of {SHARED} are absent (see ../shared/data/README.md)")
        return {}

    from palsyflow.features.audio import load_audio
    from palsyflow.speech.reference import COMPONENTS, MEASURED_HERE, combined_reference, measured_reference
    from palsyflow.speech.signal import preprocess

    degrade = degraders()
    rows: list[dict] = []
    for rec in recordings(SHARED):
        y = load_audio(rec["path"], sr=SR)
        for cond in CONDITIONS:
            t0 = time.perf_counter()
            raw = degrade[cond](y, SR)
            pre = preprocess(raw, SR)
            measures, extra = measure(pre, SR, rec["task"], rec["prompt"])
            extra["quality"] = quality_of(raw, SR, rec["task"])
            seconds = time.perf_counter() - t0
            rows.append({
                "path": str(rec["path"].relative_to(SHARED)),
                "task": rec["task"],
                "prompt": rec["prompt"],
                "condition": cond,
                "duration_s": y.size / SR,
                "seconds": seconds,
                "measures": measures,
                **extra,
            })
            q = extra["quality"]
            print(f"{rows[-1]['path']:<55} {cond:<8} {seconds:5.2f} s {q['status'] if isinstance(q, dict) else q:<16}" + (f"  heard: {extra['words']!r}" if "words" in extra else ""))

    table = summarise(rows)
    print(f"\n{'measure':<34} {'healthy mean (sd) [min-max] n':<40} {'+20 dB':>14} {'+10 dB':>14} {'8 kHz':>14}   (mean, shift in healthy SD)")
    for e in table:
        h = e["healthy"]
        cells = [f"{_fmt(e[c]['mean'])} ({_fmt(e[c]['shift_in_healthy_sd'], 1)})" for c in CONDITIONS[1:]]
        print(f"{e['measure']:<34} {_fmt(h['mean'])} ({_fmt(h['sd'])}) [{_fmt(h['min'])}-{_fmt(h['max'])}] {h['n']:<3}".ljust(75) + "".join(f"{c:>15}" for c in cells))

    print("\nclarity per GRID clip (healthy): recogniser's words")
    for r in rows:
        if r["task"] == "sentences" and r["condition"] == "healthy":
            print(f"  {Path(r['path']).stem:<16} {_fmt(r['measures'].get('speech_clarity'), 0):>4}  said: {r['prompt']!r}  heard: {r.get('words', '')!r}")

    statuses: dict[str, dict[str, int]] = {}
    for r in rows:
        st = r["quality"]["status"] if isinstance(r["quality"], dict) else str(r["quality"])
        statuses.setdefault(r["condition"], {}).setdefault(st, 0)
        statuses[r["condition"]][st] += 1
    print("\nquality status per condition: " + "; ".join(f"{c}: {v}" for c, v in statuses.items()))

    per_task: dict[str, list[float]] = {}
    for r in rows:
        per_task.setdefault(f"{r['task']}/{r['condition']}", []).append(r["seconds"])
    timing = {k: {"mean_s": statistics.fmean(v), "max_s": max(v), "n": len(v)} for k, v in sorted(per_task.items())}
    print("\ntime per recording (s): " + ", ".join(f"{k} {v['mean_s']:.2f}" for k, v in timing.items()))

    healthy_rows = [r["measures"] for r in rows if r["condition"] == "healthy"]
    measured = measured_reference(healthy_rows, components=COMPONENTS, label="healthy recordings of ../shared/data (GRID, PC-GITA 001/098, Praat examples)")
    used = combined_reference(measured)
    drift = {}
    for k, ref in MEASURED_HERE.items():  # the reference the pipeline uses by default, against this run
        new = measured.get(k)
        drift[k] = None if new is None else {"code_mean": ref.mean, "run_mean": new.mean, "code_sd": ref.sd, "run_sd": new.sd}
        if new is None or abs(new.mean - ref.mean) > 0.1 * ref.sd or abs(new.sd - ref.sd) > 0.1 * ref.sd:
            print(f"NOTE: {k}: this run's healthy reference differs from reference.MEASURED_HERE: {drift[k]} (update it)")
    result = {
        "benchmark": "speech_reference",
        "conditions": list(CONDITIONS),
        "sr": SR,
        "table": table,
        "timing": timing,
        "quality_status_counts": statuses,
        "measured_reference": {k: dataclasses.asdict(v) for k, v in measured.items()},
        "reference_used_by_index": {k: v.kind for k, v in used.items()},
        "drift_from_MEASURED_HERE": drift,
        "rows": rows,
    }
    if not args.no_save:
        save_result("speech_reference", result)
    return result


if __name__ == "__main__":
    main()
