"""Stage ``landmarks``: raw videos and photos -> per-recording landmarks, quality and stamp.

Reads the registry and the raw files, the face model (catalog ``face_model``); writes
three files per recording under ``landmarks`` (:meth:`Catalog.landmark_files`) through
:func:`palsyflow.landmarks.write_landmarks`, whose paths the stage passes in.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from palsyflow.atomic import atomic_write_text
from palsyflow.config import LandmarkParams
from palsyflow.executors import run_jobs
from palsyflow.features.inputs import FACE_KINDS
from palsyflow.landmarks import LandmarkResult, extract_landmarks, write_landmarks
from palsyflow.landmarks.model import MODEL_SHA256, verify_model
from palsyflow.paths import RecordingPath
from palsyflow.progress import report as report_progress
from palsyflow.project import Project
from palsyflow.stages.catalog import Catalog, LandmarkFiles
from palsyflow.stages.fingerprint import STAGE_STAMP_PREFIX, StageGate, digest, read_json, stage_code_digest, tree_listing
from palsyflow.stages.ingest import read_registry
from palsyflow.stages.runs import (
    Progress,
    Run,
    StageResult,
    checkpoint,
    quarantine_in_store,
    recording_refusal,
    record_walk,
    resolve_in_store,
    skip_if_unchanged,
)


def recording_path(record: dict) -> RecordingPath:
    """Entities of a registry row (protocol task names like ``brow_raise`` become ``browraise``)."""
    return RecordingPath.from_task(record["site"], record["subject"], record["session"], record["task"])


def landmark_files(project: Project, record: dict) -> LandmarkFiles:
    """The landmark files of a registry row (:meth:`Catalog.landmark_files`)."""
    return Catalog.of(project).landmark_files(recording_path(record))


def _extract_job(raw: str, kind: str, params: LandmarkParams, model: str) -> LandmarkResult:
    return extract_landmarks(Path(raw), kind, params, Path(model))


def landmarks(project: Project, sites: Iterable[str] | None = None, progress: Progress = report_progress) -> StageResult:
    """MediaPipe landmarks with TTA for every face recording not yet done with these parameters.

    A recording is recomputed only when its content hash, the landmark parameters, the
    model or the stage's code change (recorded in a JSON stamp next to its parquet).
    Recordings sharing the same file (one video serving ``rest`` and ``speech``) are
    computed once.

    Raises
    ------
    palsyflow.landmarks.model.ModelChecksumError
        If the face model is missing or its sha256 is wrong.
    """
    cat = Catalog.of(project)
    params = project.params.landmarks
    result = StageResult("landmarks")
    sites = list(sites) if sites is not None else None
    reg = _face_rows(project, sites)
    fingerprint = item_fingerprint(project)
    gate = stage_gate(project, sites, reg)
    if skip_if_unchanged(gate, result):
        with Run(project, "landmarks", params.digest(), {"unchanged": gate.inputs}, site=_one(sites)) as run:
            run.finish(result)
        result.outputs.append(str(cat.landmarks))
        return result
    gate.open()

    todo: dict[str, list[dict]] = defaultdict(list)
    for rec in reg.iter_rows(named=True):
        old = read_json(landmark_files(project, rec).stamp)
        if old and old.get("sha256") == rec["sha256"] and old.get("fingerprint") == fingerprint:
            result.skipped += 1
        else:
            todo[rec["sha256"]].append(rec)

    inputs = {sha: [r["key"] for r in recs] for sha, recs in todo.items()}
    with Run(project, "landmarks", params.digest(), inputs, site=_one(sites)) as run:
        if reg.is_empty():
            result.notes.append("no recordings registered")
        if todo:
            _compute(project, todo, fingerprint, verify_model(cat.face_model), result, progress)
        record_walk(gate, result)
        run.finish(result)
    result.outputs.append(str(cat.landmarks))
    return result


def _face_rows(project: Project, sites: Iterable[str] | None) -> pl.DataFrame:
    """The registry's rows of face recordings (videos and photos), optionally of some sites."""
    reg = read_registry(project, sites)
    return reg.filter(pl.col("kind").is_in(list(FACE_KINDS))) if not reg.is_empty() else reg


def item_fingerprint(project: Project) -> dict:
    """What every recording's landmarks depend on besides its content hash: parameters, model, code.

    Stored in each recording's stamp; a stamp holding another one (or another sha256) is
    recomputed.
    """
    return {"params": project.params.landmarks.digest(), "model": MODEL_SHA256, "code": stage_code_digest("landmarks")}


def stage_gate(project: Project, sites: Iterable[str] | None = None, rows: pl.DataFrame | None = None) -> StageGate:
    """The landmarks stage's whole-stage fingerprint (:class:`~palsyflow.stages.fingerprint.StageGate`).

    Inputs: :func:`item_fingerprint` and each face recording's key, content hash and raw
    path (the registry rows of ``sites``). Outputs: the listing of the landmarks tree
    (names, sizes, modification times), so a deleted or rewritten stamp or parquet shows.

    Parameters
    ----------
    project : Project
    sites : iterable of str, optional
        The sites the run covers (every site when omitted); each selection has its own stamp.
    rows : polars.DataFrame, optional
        The face rows already read (:func:`_face_rows`).

    Returns
    -------
    StageGate
        Its stamp is ``derivatives/landmarks/.stage-landmarks-<sites or all>.json``.
    """
    cat = Catalog.of(project)
    rows = _face_rows(project, sites) if rows is None else rows
    ids = sorted(rows.select("key", "sha256", "raw_path", "kind").rows()) if not rows.is_empty() else []
    chosen = sorted(set(sites)) if sites else []
    inputs = digest(item_fingerprint(project), chosen, ids)
    name = f"{STAGE_STAMP_PREFIX}landmarks-{'-'.join(chosen) or 'all'}.json"
    return StageGate(cat.landmarks / name, inputs, lambda: digest(tree_listing(cat.landmarks)))


def _one(sites: Iterable[str] | None) -> str | None:
    sites = list(sites or [])
    return sites[0] if len(sites) == 1 else None


def _compute(
    project: Project, todo: dict[str, list[dict]], fingerprint: dict, model: Path, result: StageResult, progress: Progress
) -> None:
    """Extract the landmarks of every distinct file in ``todo``; the stamp last, after the parquet files."""
    cat = Catalog.of(project)
    params = project.params.landmarks
    jobs = [
        (sha, (str(cat.in_data(recs[0]["raw_path"])), recs[0]["kind"], params, str(model))) for sha, recs in todo.items()
    ]
    for i, out in enumerate(run_jobs(_extract_job, jobs, project.params.executor), 1):
        progress("landmarks", i, len(jobs))
        for rec in todo[out.key]:
            name = Path(rec["raw_path"]).name
            if not out.ok:
                result.failed += 1
                reason = recording_refusal(project, rec, "landmarks", out.error)
                result.failures.append({"site": rec["site"], "file": rec["key"], "reason": reason})
                quarantine_in_store(project, rec["site"], name, rec["sha256"], reason, recording_key=rec["key"])
                continue
            files = landmark_files(project, rec)
            write_landmarks(out.value, files.points, files.quality)
            checkpoint("landmarks", "written")  # test hook: parquet files written, stamp not
            meta = {"sha256": rec["sha256"], "fingerprint": fingerprint, "code_version": project.code_version}
            meta["frames"] = int(out.value.meta.get("n_frames", 0))
            meta["face_found_fraction"] = float(out.value.quality["face_found"].mean() or 0.0)
            resolve_in_store(project, rec["site"], recording_key=rec["key"], original_name=name, reason_prefix="landmarks:")
            atomic_write_text(files.stamp, json.dumps(meta, indent=2))
            result.processed += 1
    result.notes.append(f"computed {len(jobs)} distinct files")
