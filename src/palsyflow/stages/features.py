"""Stage ``features``: landmarks and audio -> the per-recording feature table and the session table.

Reads the registry, each recording's landmark files (and, for a task photo, those of its
session's rest photo) and the raw audio; writes one cached row per recording under
``feature_cache`` and the tables ``features_table`` and ``sessions_table``. Which
inputs a recording is measured from is decided by :mod:`palsyflow.features.inputs`.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from palsyflow.atomic import atomic_write_parquet, atomic_write_text
from palsyflow.config import FeatureParams
from palsyflow.executors import run_jobs
from palsyflow.features.audio import AudioError, load_audio
from palsyflow.features.inputs import gets_speech_measures, has_face, rest_photo_pairs
from palsyflow.features.speech import speech_features
from palsyflow.features.table import build_feature_table, recording_row, session_table
from palsyflow.progress import report as report_progress
from palsyflow.project import Project
from palsyflow.stages.catalog import Catalog
from palsyflow.stages.fingerprint import digest, read_json, stage_code_digest
from palsyflow.stages.ingest import read_registry
from palsyflow.stages.landmarks import landmark_files, recording_path
from palsyflow.stages.runs import Progress, Run, StageResult, checkpoint

#: Registry columns copied into each feature row (after ``recording_key``).
ID_COLUMNS = ("site", "subject", "session", "session_date", "task", "kind", "sha256", "healthy", "hb_grade", "simulated")


def _feature_job(
    ids: dict,
    points: str | None,
    quality: str | None,
    audio_src: str | None,
    params: FeatureParams,
    rest: tuple[str, str] | None = None,
) -> dict:
    pts = pl.read_parquet(points) if points else None
    qual = pl.read_parquet(quality) if quality else None
    rest_pts, rest_qual = (pl.read_parquet(rest[0]), pl.read_parquet(rest[1])) if rest else (None, None)
    audio = None
    if audio_src:
        try:
            audio = load_audio(Path(audio_src), params.speech_sr)
        except AudioError:
            audio = None
    return recording_row(ids, pts, qual, audio, params.speech_sr, params, rest_points=rest_pts, rest_quality=rest_qual)


def _warm_speech_jit(params: FeatureParams) -> None:
    """Compile (or load) librosa's numba-cached pYIN kernels once, in this process.

    Worker processes then only read the on-disk numba cache (``NUMBA_CACHE_DIR``):
    two workers compiling and writing it at the same time can leave a corrupt cache
    that crashes every later run with a segmentation fault.
    """
    t = np.arange(params.speech_sr // 2) / params.speech_sr
    speech_features((0.1 * np.sin(2 * np.pi * 150.0 * t)).astype(np.float32), params.speech_sr, params)


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
    with Run(project, "features", params.digest(), {"registry": str(cat.registry)}) as run:
        reg = read_registry(project)
        records = list(reg.iter_rows(named=True)) if not reg.is_empty() else []
        rest_of = rest_photo_pairs(records)
        code = stage_code_digest("features")
        rows: list[dict] = []
        jobs = []
        stamps: dict[str, tuple[Path, str]] = {}
        for rec in records:
            ids = {"recording_key": rec["key"], **{k: rec[k] for k in ID_COLUMNS}}
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
            audio = str(cat.in_data(rec["raw_path"])) if gets_speech_measures(rec, params) else None
            cache = cat.feature_cache(recording_path(rec))
            fp = digest(ids, lm_state, rest_state, params.digest(), code)
            old = read_json(cache)
            if old and old.get("fingerprint") == fp:
                rows.append(old["row"])
                result.skipped += 1
                continue
            stamps[rec["key"]] = (cache, fp)
            jobs.append((rec["key"], (ids, points, quality, audio, params, rest)))

        if any(args[3] for _, args in jobs):
            _warm_speech_jit(params)
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
        run.finish(result)
    return result
