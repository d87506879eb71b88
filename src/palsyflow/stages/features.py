"""Stage ``features``: landmarks and audio -> the per-recording feature table and the session table.

Reads the registry, each recording's landmark files (and, for a task photo, those of its
session's rest photo) and the raw audio; writes one cached row per recording under
``feature_cache`` and the tables ``features_table`` and ``sessions_table``. Which
inputs a recording is measured from is decided by :mod:`palsyflow.features.inputs`.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

import polars as pl

from palsyflow.atomic import atomic_write_parquet, atomic_write_text
from palsyflow.config import FeatureParams
from palsyflow.executors import run_jobs
from palsyflow.features.audio import AudioError, load_audio, load_audio_with_rate
from palsyflow.features.inputs import SpeechContext, has_face, rest_photo_pairs, speech_contexts
from palsyflow.features.table import build_feature_table, recording_row, session_table
from palsyflow.progress import report as report_progress
from palsyflow.project import Project
from palsyflow.speech.analysis import analyse_recording, gate_thresholds, recording_prompt, session_sentence_set
from palsyflow.speech.quality import NO_AUDIO
from palsyflow.stages.catalog import Catalog
from palsyflow.stages.fingerprint import (
    STAGE_STAMP_PREFIX,
    StageGate,
    digest,
    files_digest,
    read_json,
    stage_code_digest,
    tree_listing,
)
from palsyflow.stages.ingest import read_registry
from palsyflow.stages.landmarks import landmark_files, recording_path
from palsyflow.stages.runs import Progress, Run, StageResult, checkpoint, record_walk, skip_if_unchanged

#: Registry columns copied into each feature row (after ``recording_key``).
ID_COLUMNS = ("site", "subject", "session", "session_date", "task", "kind", "sha256", "healthy", "hb_grade", "simulated", "onset")


def _speech_columns(path: str, task: str, ctx: SpeechContext, params: FeatureParams) -> dict:
    """Decode a speech recording (and its session's room tone / connected speech) and measure it.

    The recording is decoded at its own rate (at most ``max_sr``); the room tone and
    the connected speech at the same rate.
    """
    try:
        max_sr = params.speech_max_sr
        y, native_sr = load_audio_with_rate(Path(path), None, max_sr)
    except AudioError as exc:
        return {"speech_status": NO_AUDIO, "speech_reason": str(exc).split(": ", 1)[-1]}
    sr = min(native_sr, max_sr) if native_sr > 0 else max_sr

    def other(p: str | None):
        if not p:
            return None
        try:
            return load_audio(Path(p), sr)
        except AudioError:
            return None

    sentence_set = session_sentence_set(ctx.sentence_set) if ctx.sentence_set else None
    return analyse_recording(
        y, sr, task, native_sr=native_sr, prompt=ctx.prompt, sentence_set=sentence_set,
        silence=other(ctx.silence_path), connected=other(ctx.connected_path),
        thresholds=gate_thresholds(params.speech_min_snr_db, params.speech_min_duration_s),
    )


def _feature_job(
    ids: dict,
    points: str | None,
    quality: str | None,
    speech: tuple[str, SpeechContext] | None,
    params: FeatureParams,
    rest: tuple[str, str] | None = None,
) -> dict:
    pts = pl.read_parquet(points) if points else None
    qual = pl.read_parquet(quality) if quality else None
    rest_pts, rest_qual = (pl.read_parquet(rest[0]), pl.read_parquet(rest[1])) if rest else (None, None)
    cols = _speech_columns(speech[0], ids["task"], speech[1], params) if speech else None
    return recording_row(ids, pts, qual, cols, params, rest_points=rest_pts, rest_quality=rest_qual)


def features(project: Project, progress: Progress = report_progress) -> StageResult:
    """Per-recording asymmetry and speech features, then the cohort and session tables.

    Writes ``features/features.parquet`` (one row per recording, schema in
    ``docs/features.md``) and ``features/sessions.parquet`` (one row per session).
    Each recording's row is cached under ``derivatives/features`` and recomputed only
    when the landmarks (its own, or its rest photo's), the audio, the feature
    parameters or the stage's code change.
    """
    cat = Catalog.of(project)
    params = project.params.features
    result = StageResult("features")
    gate = stage_gate(project)
    with Run(project, "features", params.digest(), {"registry": str(cat.registry)}) as run:
        if skip_if_unchanged(gate, result):
            result.outputs += [str(cat.path("features_table")), str(cat.path("sessions_table"))]
            run.finish(result)
            return result
        gate.open()
        reg = read_registry(project)
        records = list(reg.iter_rows(named=True)) if not reg.is_empty() else []
        rest_of = rest_photo_pairs(records)
        contexts = speech_contexts(records)
        code = stage_code_digest("features")
        rows: list[dict] = []
        jobs = []
        stamps: dict[str, tuple[Path, str]] = {}
        for rec in records:
            ids = {"recording_key": rec["key"], **{k: rec.get(k) for k in ID_COLUMNS}}  # a registry before onset lacks it
            points = quality = None
            lm_state = None
            if has_face(rec):
                files = landmark_files(project, rec)
                lm_state = read_json(files.stamp)
                if lm_state is None or not files.points.exists():
                    result.failed += 1
                    result.failures.append({"site": rec["site"], "file": rec["key"], "reason": "features: no landmarks"})
                    continue
                points, quality = str(files.points), str(files.quality)
            rest = rest_state = None
            if rec["key"] in rest_of:
                rest_files = landmark_files(project, rest_of[rec["key"]])
                rest_state = read_json(rest_files.stamp)
                if rest_state is not None and rest_files.points.exists():
                    rest = (str(rest_files.points), str(rest_files.quality))
            speech = None
            if rec["key"] in contexts:
                ctx = contexts[rec["key"]]
                ctx = dataclasses.replace(
                    ctx,
                    prompt=recording_prompt(rec["task"], ctx.prompt),  # a GRID sentence's text was read at ingest
                    silence_path=str(cat.in_data(ctx.silence_path)) if ctx.silence_path else None,
                    connected_path=str(cat.in_data(ctx.connected_path)) if ctx.connected_path else None,
                )
                speech = (str(cat.in_data(rec["raw_path"])), ctx)
            cache = cat.feature_cache(recording_path(rec))
            fp = digest(ids, lm_state, rest_state, params.digest(), code, dataclasses.asdict(speech[1]) if speech else None)
            old = read_json(cache)
            if old and old.get("fingerprint") == fp:
                rows.append(old["row"])
                result.skipped += 1
                continue
            stamps[rec["key"]] = (cache, fp)
            jobs.append((rec["key"], (ids, points, quality, speech, params, rest)))

        for i, out in enumerate(run_jobs(_feature_job, jobs, project.params.executor), 1):
            progress("features", i, len(jobs))
            if not out.ok:
                result.failed += 1
                result.failures.append({"file": out.key, "reason": f"features: {out.error}"})
                continue
            cache, fp = stamps[out.key]
            atomic_write_text(cache, json.dumps({"fingerprint": fp, "row": out.value}, default=str))
            rows.append(json.loads(json.dumps(out.value, default=str)))
            result.processed += 1

        for row in rows:  # JSON round trip turns dates into strings
            if isinstance(row.get("session_date"), str):
                row["session_date"] = date.fromisoformat(row["session_date"])
        table = build_feature_table(sorted(rows, key=lambda r: r["recording_key"]))
        features_path, sessions_path = cat.path("features_table"), cat.path("sessions_table")
        atomic_write_parquet(table, features_path)
        checkpoint("features", "written")  # test hook: the feature table written, the session table not
        atomic_write_parquet(session_table(table, params), sessions_path)
        result.outputs += [str(features_path), str(sessions_path)]
        record_walk(gate, result)
        run.finish(result)
    return result


def stage_gate(project: Project) -> StageGate:
    """The features stage's whole-stage fingerprint (:class:`~palsyflow.stages.fingerprint.StageGate`).

    Inputs: what each recording's row fingerprint is made of, as a whole: the registry's
    content hash (the identity columns, content hashes, raw paths and speech contexts come
    from it), the listing of the landmarks tree (its stamps), the ``features`` parameters
    and the stage's code. Outputs: the listing of the row cache and of the tables.

    Returns
    -------
    StageGate
        Its stamp is ``derivatives/features/.stage-features.json``.
    """
    cat = Catalog.of(project)
    inputs = digest(
        files_digest([cat.registry]), tree_listing(cat.landmarks), project.params.features.digest(),
        stage_code_digest("features"),
    )
    cache = cat.path("feature_cache")
    return StageGate(
        cache / f"{STAGE_STAMP_PREFIX}features.json", inputs, lambda: digest(tree_listing(cache, cat.features))
    )
