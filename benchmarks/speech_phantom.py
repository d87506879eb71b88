"""Speech phantom dose-response: clarity and the dysarthria index against known severity, per speaker.

Each of the 11 healthy GRID sentences (``../shared/data/talking-faces/grid/audio_extracted``,
one speaker and sentence per clip, the text decoded from the file name) is degraded
by :func:`palsyflow.speech.phantom.degrade` at every severity in
:data:`palsyflow.speech.phantom.SEVERITIES`, pre-processed
(:func:`palsyflow.speech.signal.preprocess`) and measured: connected-speech measures,
connected-speech CPPS (when the voice module is present), the clarity index with the
recogniser's words, FCR where the alignment finds the corner vowels, and the
dysarthria index of these components (:func:`palsyflow.speech.index.dysarthria_index_detail`).

The index's healthy reference for a clip is measured on the *other* ten healthy
clips (leave one speaker out, :func:`palsyflow.speech.reference.measured_reference`),
falling back to the literature for components without one
(:func:`palsyflow.speech.reference.combined_reference`), so a speaker is never
compared with itself.

If the voice module is present, the sustained vowels (PC-GITA 001 /a/, 098 /u/) are
degraded too and their voice measures and vowel-only index are reported.

Prints Spearman's rho (``scipy.stats.spearmanr``) of clarity and of the index against
severity per speaker, and saves ``benchmarks/results/speech_phantom-<date>.json``.

Usage::

    python benchmarks/speech_phantom.py [--clips N] [--no-save]

Timings are wall clock on a shared 2-core machine (noisy).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import sys
import time
from pathlib import Path

from _results import save_result  # benchmarks/_results.py (scripts run with benchmarks/ on sys.path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SHARED = Path(os.environ.get("PALSYFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))  # as tests/conftest.py
SR = 16000
GRID_DIR = "talking-faces/grid/audio_extracted"
VOWELS = ("speech/disvoice_pcgita/001_a1_PCGITA.wav", "speech/disvoice_pcgita/098_u1_PCGITA.wav")
SENTENCE_COMPONENTS = (
    "speech_articulation_rate_syl_s",
    "speech_pause_ratio",
    "speech_f0_sd_st",
    "speech_connected_cpps_db",
    "speech_clarity",
    "speech_fcr",
)
VOWEL_COMPONENTS = ("speech_jitter_local_pct", "speech_shimmer_local_pct", "speech_hnr_db", "speech_cpps_db")


def _rho(x: list[float], y: list[float | None]) -> float | None:
    """Spearman's rho of y against x over the pairs with a value; None when undefined (constant or < 3 pairs)."""
    from scipy.stats import spearmanr

    pairs = [(a, b) for a, b in zip(x, y) if b is not None]
    if len(pairs) < 3 or len({b for _, b in pairs}) < 2:
        return None
    rho = spearmanr([a for a, _ in pairs], [b for _, b in pairs]).statistic
    return None if math.isnan(rho) else float(rho)


def _voice(name: str):
    try:
        from palsyflow.speech import voice
    except ImportError:
        return None
    return getattr(voice, name, None)


def measure_sentence(y, sr: int, prompt: str) -> tuple[dict[str, float | None], str]:
    from palsyflow.speech import articulation, recognition, vowels

    m: dict[str, float | None] = dict(articulation.connected_speech_measures(y, sr))
    cpps = _voice("cpps_db")
    m["speech_connected_cpps_db"] = cpps(y, sr) if cpps else None
    clarity, words = recognition.clarity(y, sr, prompt)
    m.update(clarity)
    m.update(vowels.vowel_measures(y, sr, recognition.align(y, sr, prompt)))
    return m, words


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=11, help="GRID clips (1-11)")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)
    if not (SHARED / GRID_DIR).is_dir():
        print(f"skipped: the real recordings of {SHARED} are absent (see ../shared/data/README.md)")
        return {}

    from palsyflow.features.audio import load_audio
    from palsyflow.speech.index import dysarthria_index_detail
    from palsyflow.speech.phantom import SEVERITIES, component_strengths, degrade
    from palsyflow.speech.prompts import grid_sentence
    from palsyflow.speech.reference import combined_reference, measured_reference
    from palsyflow.speech.signal import preprocess

    clips = sorted((SHARED / GRID_DIR).glob("*.wav"))[: args.clips]
    rows: list[dict] = []
    for i, path in enumerate(clips):
        y = load_audio(path, sr=SR)
        prompt = grid_sentence(path)
        for s in SEVERITIES:
            t0 = time.perf_counter()
            pre = preprocess(degrade(y, SR, s, seed=1000 + i), SR)
            m, words = measure_sentence(pre, SR, prompt)
            rows.append({"clip": path.stem, "severity": s, "prompt": prompt, "words": words, "measures": m, "seconds": time.perf_counter() - t0})
            print(f"{path.stem:<16} s={s:.2f}  clarity {m.get('speech_clarity')!s:>6}  heard {words!r}", flush=True)

    # leave-one-speaker-out healthy reference, then the index
    healthy = {r["clip"]: r["measures"] for r in rows if r["severity"] == 0.0}
    references = {}
    for clip in healthy:
        others = [m for c, m in healthy.items() if c != clip]
        references[clip] = combined_reference(measured_reference(others, components=SENTENCE_COMPONENTS, label="other healthy GRID clips"))
    for r in rows:
        comps = {k: r["measures"].get(k) for k in SENTENCE_COMPONENTS}
        d = dysarthria_index_detail(comps, references[r["clip"]])
        r["index"] = d.value
        r["index_used"] = list(d.used)
        r["index_severity"] = d.severity
        r["index_reference_kind"] = d.reference_kind

    per_speaker = {}
    for clip in healthy:
        rs = sorted((r for r in rows if r["clip"] == clip), key=lambda r: r["severity"])
        sev = [r["severity"] for r in rs]
        per_speaker[clip] = {
            "clarity": [r["measures"].get("speech_clarity") for r in rs],
            "index": [r["index"] for r in rs],
            "rho_clarity": _rho(sev, [r["measures"].get("speech_clarity") for r in rs]),
            "rho_index": _rho(sev, [r["index"] for r in rs]),
            **{f"rho_{k}": _rho(sev, [r["measures"].get(k) for r in rs]) for k in SENTENCE_COMPONENTS if k != "speech_clarity"},
        }

    print(f"\n{'speaker':<16} {'clarity by severity':<34} {'rho':>6}   {'index by severity':<34} {'rho':>6}")
    for clip, p in per_speaker.items():
        cl = " ".join(f"{v:5.0f}" if v is not None else "    -" for v in p["clarity"])
        ix = " ".join(f"{v:5.1f}" if v is not None else "    -" for v in p["index"])
        print(f"{clip:<16} {cl:<34} {p['rho_clarity'] if p['rho_clarity'] is None else round(p['rho_clarity'], 2)!s:>6}   {ix:<34} {p['rho_index'] if p['rho_index'] is None else round(p['rho_index'], 2)!s:>6}")

    def _mean_by_sev(key):
        out = {}
        for s in SEVERITIES:
            vals = [(r["measures"].get(key) if key != "index" else r["index"]) for r in rows if r["severity"] == s]
            vals = [v for v in vals if v is not None]
            out[str(s)] = statistics.fmean(vals) if vals else None
        return out

    summary = {
        "rho_clarity": {c: p["rho_clarity"] for c, p in per_speaker.items()},
        "rho_index": {c: p["rho_index"] for c, p in per_speaker.items()},
        "rho_clarity_median": _median([p["rho_clarity"] for p in per_speaker.values()]),
        "rho_index_median": _median([p["rho_index"] for p in per_speaker.values()]),
        "mean_by_severity": {k: _mean_by_sev(k) for k in ("index", *SENTENCE_COMPONENTS)},
        "components_used": sorted({c for r in rows for c in r["index_used"]}),
        "seconds_per_recording": statistics.fmean(r["seconds"] for r in rows),
    }
    print("\nmean by severity:")
    for k, v in summary["mean_by_severity"].items():
        print(f"  {k:<32} " + "  ".join(f"{s}: {'-' if x is None else f'{x:.2f}'}" for s, x in v.items()))
    print(f"median rho: clarity {summary['rho_clarity_median']}, index {summary['rho_index_median']}; components used {summary['components_used']}")

    vowel_rows = vowel_phantom(load_audio, preprocess, SEVERITIES)
    result = {
        "benchmark": "speech_phantom",
        "severities": list(SEVERITIES),
        "strengths": {str(s): component_strengths(s) for s in SEVERITIES},
        "reference": "leave-one-speaker-out measured on the healthy GRID clips, literature otherwise",
        "reference_example": {k: dataclasses.asdict(v) for k, v in next(iter(references.values())).items()} if references else {},
        "summary": summary,
        "per_speaker": per_speaker,
        "vowels": vowel_rows,
        "rows": rows,
    }
    if not args.no_save:
        save_result("speech_phantom", result)
    return result


def vowel_phantom(load_audio, preprocess, severities) -> dict:
    """Voice measures and a vowel-only index of the degraded sustained vowels (needs the voice module)."""
    from palsyflow.speech.index import dysarthria_index_detail
    from palsyflow.speech.phantom import degrade

    vm = _voice("voice_measures")
    if vm is None:
        print("vowel phantom skipped: palsyflow.speech.voice.voice_measures is not available")
        return {}
    out = {}
    for i, rel in enumerate(VOWELS):
        path = SHARED / rel
        if not path.is_file():
            continue
        y = load_audio(path, sr=SR)
        series = []
        for s in severities:
            m = vm(preprocess(degrade(y, SR, s, seed=2000 + i), SR), SR)
            d = dysarthria_index_detail({k: m.get(k) for k in VOWEL_COMPONENTS})  # literature reference (one vowel each)
            series.append({"severity": s, "measures": m, "index": d.value, "used": list(d.used)})
        sev = [r["severity"] for r in series]
        rhos = {k: _rho(sev, [r["measures"].get(k) for r in series]) for k in VOWEL_COMPONENTS}
        rhos["index"] = _rho(sev, [r["index"] for r in series])
        out[path.stem] = {"series": series, "rho": rhos}
        print(f"vowel {path.stem:<16} " + "  ".join(f"{k.replace('speech_', '')}: " + " ".join("-" if r['measures'].get(k) is None else f"{r['measures'][k]:.2f}" for r in series) for k in VOWEL_COMPONENTS))
        print(f"      index: " + " ".join("-" if r["index"] is None else f"{r['index']:.1f}" for r in series) + f"   rho {rhos}")
    return out


def _median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


if __name__ == "__main__":
    main()
