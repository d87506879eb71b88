"""One function per pipeline stage: paths in, paths out. The only place stages touch disk.

Each stage is called from two places and implemented once, here:

* the Prefect flow ``flows/nightly.py`` (a task per stage, retries on transient failures);
* the DVC entry points ``pipelines/<stage>.py`` (``dvc repro``).

Data flows one way: raw -> landmarks -> features -> validated -> model -> scores -> reports.
Every stage is incremental: it skips work whose inputs (content hashes) and parameters
have not changed since it last ran, so a second nightly run over the same cohort does
almost nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from palsyflow.atomic import atomic_write_parquet, atomic_write_text, sha256_file
from palsyflow.executors import run_jobs
from palsyflow.paths import RecordingPath, to_label
from palsyflow.progress import report as report_progress
from palsyflow.project import Project

log = logging.getLogger("palsyflow.stages")

Progress = Callable[[str, int, int], None]  # (what, done, total); default: the process-wide hook the CLI sets


@dataclass
class StageResult:
    """What a stage did: counts, outputs, and the failures it quarantined."""

    stage: str
    site: str | None = None
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    outputs: list[str] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- helpers
def _digest(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()


@functools.lru_cache(maxsize=32)
def code_digest(*parts: str) -> str:
    """sha256 over the source of palsyflow sub-packages or modules (``"scoring"``, ``"landmarks/ibug68.py"``).

    Part of every stage's fingerprint, like the code deps of the stage in ``dvc.yaml``:
    changed code reruns the stage.
    """
    pkg = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for part in parts:
        target = pkg / part
        files = sorted(target.rglob("*")) if target.is_dir() else [target]
        for f in files:
            if f.suffix in (".py", ".json") and f.is_file():
                h.update(str(f.relative_to(pkg)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()


def _files_digest(paths: Iterable[Path]) -> dict[str, str]:
    return {str(p): sha256_file(p) for p in sorted(paths) if p.is_file()}


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _unchanged(stamp: Path, fingerprint: str, outputs: Iterable[Path]) -> bool:
    old = _read_json(stamp)
    return bool(old and old.get("fingerprint") == fingerprint and all(p.exists() for p in outputs))


def _write_stamp(stamp: Path, fingerprint: str, **extra) -> None:
    atomic_write_text(stamp, json.dumps({"fingerprint": fingerprint, **extra}, indent=2, default=str))


class _Run:
    """A processing run recorded in the store for the duration of a stage."""

    def __init__(self, project: Project, stage: str, params_hash: str, inputs: dict, site: str | None = None):
        from palsyflow.store import repo
        from palsyflow.store.db import session_scope

        self.project, self.repo, self.scope = project, repo, session_scope
        with session_scope(project.engine) as db:
            run = repo.start_run(db, stage, project.code_version, params_hash, inputs, site=site)
            db.flush()
            self.run_id = run.id

    def finish(self, result: StageResult, error: str | None = None) -> None:
        from palsyflow.store.models import ProcessingRun

        with self.scope(self.project.engine) as db:
            run = db.get(ProcessingRun, self.run_id)
            self.repo.finish_run(
                db,
                run,
                "failed" if error else "succeeded",
                n_processed=result.processed,
                n_skipped=result.skipped,
                n_failed=result.failed,
                error=error,
            )


def _quarantine_in_store(project: Project, site: str, name: str, sha: str | None, reason: str, path: Path | None = None):
    from palsyflow.store import repo
    from palsyflow.store.db import session_scope

    with session_scope(project.engine) as db:
        repo.add_quarantine(db, site, name, sha, reason, str(path) if path else None)


def read_registry(project: Project, sites: Iterable[str] | None = None) -> pl.DataFrame:
    """The raw tree's index (``data/raw/recordings.parquet``), optionally for some sites."""
    if not project.registry.exists():
        return pl.DataFrame()
    df = pl.read_parquet(project.registry)
    if sites:
        df = df.filter(pl.col("site").is_in(list(sites)))
    return df


# --------------------------------------------------------------------------- ingest
def site_drops(project: Project, sites: Iterable[str] | None = None) -> dict[str, Path]:
    """Site label -> drop folder, for every folder under ``paths.drops`` with a manifest."""
    root = project.drops
    found = {d.name: d for d in sorted(root.iterdir()) if (d / "manifest.csv").is_file()} if root.is_dir() else {}
    if sites:
        missing = set(sites) - set(found)
        if missing:
            raise FileNotFoundError(f"no drop folder with a manifest.csv for site(s) {sorted(missing)} under {root}")
        found = {s: found[s] for s in sites}
    return found


def ingest(project: Project, sites: Iterable[str] | None = None, progress: Progress = report_progress) -> StageResult:
    """Ingest every site's drop under ``paths.drops`` (or only ``sites``)."""
    drops = site_drops(project, sites)
    total = StageResult("ingest", site=next(iter(drops)) if len(drops) == 1 else None)
    for site, drop in drops.items():
        r = ingest_drop(project, site, drop, progress=progress)
        total.processed += r.processed
        total.skipped += r.skipped
        total.failed += r.failed
        total.failures += r.failures
    export_registry(project)
    total.outputs.append(str(project.registry))
    return total


def ingest_drop(project: Project, site: str, drop: Path, progress: Progress = report_progress) -> StageResult:
    """Check, hash, copy into the raw tree and register one site's drop.

    Bad files go to quarantine (``data/quarantine/site-<s>/``) with their reason, in the
    store too; the rest of the drop goes on. Ingesting the same drop again changes nothing.
    """
    from palsyflow.ingest.manifest import ManifestError
    from palsyflow.ingest.plan import ImmutableRawError, SourceChangedError, copy_in, plan_ingest, quarantine
    from palsyflow.paths import check_label
    from palsyflow.store import repo
    from palsyflow.store.db import session_scope
    from palsyflow.store.repo import RecordingConflict

    check_label("site", site)
    layout = project.layout
    result = StageResult("ingest", site=site)
    run = _Run(project, "ingest", project.params.ingest.digest(), {"drop": str(drop)}, site=site)

    def reject(source: Path | None, sha: str | None, reason: str) -> None:
        qpath = quarantine(source, reason, layout.quarantine, site, sha256=sha) if source and source.exists() else None
        _quarantine_in_store(project, site, source.name if source else "manifest.csv", sha, reason, qpath)
        result.failed += 1
        result.failures.append({"site": site, "file": source.name if source else None, "reason": reason})
        log.warning("quarantined %s: %s", source, reason)

    try:
        plan = plan_ingest(drop, site, project.params.ingest)
    except ManifestError as exc:
        reject(None, None, str(exc))
        run.finish(result, error=str(exc))
        return result

    for rej in plan.rejected:
        reject(rej.source, rej.sha256, rej.reason)

    for i, item in enumerate(plan.items, 1):
        progress(f"ingest {site}", i, len(plan.items))
        try:
            raw, copied = copy_in(item, layout.raw)
            with session_scope(project.engine) as db:
                s = repo.get_or_create_site(db, site)
                subj = repo.get_or_create_subject(db, s, item.row.subject, healthy=item.row.healthy, simulated=item.row.simulated)
                ses = repo.get_or_create_session(db, subj, item.row.session, item.row.session_date, item.row.hb_grade)
                _, created = repo.register_recording(
                    db,
                    ses,
                    item.row.task,
                    item.media.kind,
                    item.sha256,
                    str(raw.relative_to(layout.root)),
                    item.source.name,
                    item.media.as_dict(),
                )
            if created or copied:
                result.processed += 1
            else:
                result.skipped += 1
        except (ImmutableRawError, SourceChangedError, RecordingConflict) as exc:
            reject(item.source, item.sha256, str(exc))
    run.finish(result)
    return result


def export_registry(project: Project) -> Path:
    """Write ``data/raw/recordings.parquet`` from the store: the input of every later stage."""
    from palsyflow.store import repo
    from palsyflow.store.db import session_scope

    with session_scope(project.engine) as db:
        recs = repo.list_recordings(db)
        rows = [asdict(r) for r in recs]
    schema = {
        "key": pl.Utf8,
        "site": pl.Utf8,
        "subject": pl.Utf8,
        "session": pl.Utf8,
        "session_date": pl.Date,
        "task": pl.Utf8,
        "kind": pl.Utf8,
        "sha256": pl.Utf8,
        "raw_path": pl.Utf8,
        "healthy": pl.Boolean,
        "hb_grade": pl.Int8,
        "simulated": pl.Boolean,
    }
    df = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    df = df.sort("key")
    return atomic_write_parquet(df, project.registry)


# --------------------------------------------------------------------------- landmarks
def _recording_path(rec: dict) -> RecordingPath:
    """Entities of a registry row (protocol task names like ``brow_raise`` become ``browraise``)."""
    return RecordingPath(rec["site"], rec["subject"], rec["session"], to_label(rec["task"]))


def _landmark_paths(project: Project, rec: dict) -> tuple[Path, Path, Path]:
    rp = _recording_path(rec)
    root = project.layout.landmarks
    return rp.derivative(root, "landmarks"), rp.derivative(root, "quality"), rp.derivative(root, "landmarks", ".json")


def _extract_job(raw: str, kind: str, params, model: str):
    from palsyflow.landmarks import extract_landmarks

    return extract_landmarks(Path(raw), kind, params, Path(model))


def landmarks(project: Project, sites: Iterable[str] | None = None, progress: Progress = report_progress) -> StageResult:
    """MediaPipe landmarks with TTA for every face recording not yet done with these parameters.

    A recording is recomputed only when its content hash, the landmark parameters or the
    model change (recorded in a JSON sidecar next to its parquet). Recordings sharing
    the same file (one video serving ``rest`` and ``speech``) are computed once.
    """
    from palsyflow.landmarks import write_landmarks
    from palsyflow.landmarks.model import MODEL_SHA256, verify_model

    params = project.params.landmarks
    result = StageResult("landmarks")
    reg = read_registry(project, sites)
    if reg.is_empty():
        result.notes.append("no recordings registered")
        return result
    reg = reg.filter(pl.col("kind").is_in(["video", "photo"]))
    model = verify_model(project.face_model)
    fingerprint = {"params": params.digest(), "model": MODEL_SHA256, "code": code_digest("landmarks")}

    todo: dict[str, list[dict]] = defaultdict(list)
    for rec in reg.iter_rows(named=True):
        _, _, sidecar = _landmark_paths(project, rec)
        old = _read_json(sidecar)
        if old and old.get("sha256") == rec["sha256"] and old.get("fingerprint") == fingerprint:
            result.skipped += 1
        else:
            todo[rec["sha256"]].append(rec)

    if todo:
        run = _Run(project, "landmarks", params.digest(), {sha: [r["key"] for r in recs] for sha, recs in todo.items()})
        jobs = [
            (sha, (str(project.layout.root / recs[0]["raw_path"]), recs[0]["kind"], params, str(model)))
            for sha, recs in todo.items()
        ]
        for i, out in enumerate(run_jobs(_extract_job, jobs, project.params.executor), 1):
            progress("landmarks", i, len(jobs))
            for rec in todo[out.key]:
                if not out.ok:
                    result.failed += 1
                    reason = f"landmarks: {out.error}"
                    result.failures.append({"site": rec["site"], "file": rec["key"], "reason": reason})
                    _quarantine_in_store(project, rec["site"], Path(rec["raw_path"]).name, rec["sha256"], reason)
                    continue
                points, quality, sidecar = _landmark_paths(project, rec)
                write_landmarks(out.value, points, quality)
                meta = {"sha256": rec["sha256"], "fingerprint": fingerprint, "code_version": project.code_version}
                meta["frames"] = int(out.value.meta.get("n_frames", 0))
                meta["face_found_fraction"] = float(out.value.quality["face_found"].mean() or 0.0)
                atomic_write_text(sidecar, json.dumps(meta, indent=2))
                result.processed += 1
        run.finish(result)
        result.notes.append(f"computed {len(jobs)} distinct files")
    result.outputs.append(str(project.layout.landmarks))
    return result


# --------------------------------------------------------------------------- features
def _feature_job(
    ids: dict,
    points: str | None,
    quality: str | None,
    audio_src: str | None,
    params,
    rest: tuple[str, str] | None = None,
) -> dict:
    from palsyflow.features.table import recording_row

    pts = pl.read_parquet(points) if points else None
    qual = pl.read_parquet(quality) if quality else None
    rest_pts, rest_qual = (pl.read_parquet(rest[0]), pl.read_parquet(rest[1])) if rest else (None, None)
    audio = None
    if audio_src:
        from palsyflow.features.audio import AudioError, load_audio

        try:
            audio = load_audio(Path(audio_src), params.speech_sr)
        except AudioError:
            audio = None
    return recording_row(ids, pts, qual, audio, params.speech_sr, params, rest_points=rest_pts, rest_quality=rest_qual)


def _warm_speech_jit(params) -> None:
    """Compile (or load) librosa's numba-cached pYIN kernels once, in this process.

    Worker processes then only read the on-disk numba cache (``NUMBA_CACHE_DIR``):
    two workers compiling and writing it at the same time can leave a corrupt cache
    that crashes every later run with a segmentation fault.
    """
    import numpy as np

    from palsyflow.features.speech import speech_features

    t = np.arange(params.speech_sr // 2) / params.speech_sr
    speech_features((0.1 * np.sin(2 * np.pi * 150.0 * t)).astype(np.float32), params.speech_sr, params)


def features(project: Project, progress: Progress = report_progress) -> StageResult:
    """Per-recording asymmetry and speech features, then the cohort and session tables.

    Writes ``features/features.parquet`` (one row per recording, schema in
    ``docs/features.md``) and ``features/sessions.parquet`` (one row per session).
    Each recording's row is cached next to its landmarks and recomputed only when the
    landmarks, the audio or the feature parameters change.
    """
    from palsyflow.features.table import build_feature_table, session_table
    from palsyflow.features.tasks import DYNAMIC_TASKS

    params = project.params.features
    result = StageResult("features")
    reg = read_registry(project)
    cache_root = project.layout.root / "derivatives" / "features"
    rows: list[dict] = []
    jobs = []
    stamps: dict[str, tuple[Path, str]] = {}
    records = list(reg.iter_rows(named=True)) if not reg.is_empty() else []
    # a task photo is measured against its session's rest photo (videos use their own neutral frame)
    rest_of = {(r["site"], r["subject"], r["session"]): r for r in records if r["task"] == "rest"}
    for rec in records:
        ids = {
            "recording_key": rec["key"],
            **{k: rec[k] for k in ("site", "subject", "session", "session_date", "task", "kind", "sha256", "healthy", "hb_grade", "simulated")},
        }
        points = quality = None
        lm_state = None
        if rec["kind"] in ("video", "photo"):
            p, q, sidecar = _landmark_paths(project, rec)
            lm_state = _read_json(sidecar)
            if lm_state is None or not p.exists():
                result.failed += 1
                result.failures.append({"site": rec["site"], "file": rec["key"], "reason": "features: no landmarks"})
                continue
            points, quality = str(p), str(q)
        rest = rest_state = None
        rest_rec = rest_of.get((rec["site"], rec["subject"], rec["session"]))
        if rec["kind"] == "photo" and rec["task"] in DYNAMIC_TASKS and rest_rec and rest_rec["kind"] == "photo":
            rp, rq, rsidecar = _landmark_paths(project, rest_rec)
            rest_state = _read_json(rsidecar)
            if rest_state is not None and rp.exists():
                rest = (str(rp), str(rq))
        raw = project.layout.root / rec["raw_path"]
        audio = str(raw) if (rec["task"] in params.speech_tasks or rec["kind"] == "audio") else None
        cache = _recording_path(rec).derivative(cache_root, "features", ".json")
        fp = _digest(ids, lm_state, rest_state, params.digest(), code_digest("features", "landmarks/ibug68.py", "landmarks/ibug68_offsets.json"))
        old = _read_json(cache)
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
    out_dir = project.layout.features
    atomic_write_parquet(table, out_dir / "features.parquet")
    atomic_write_parquet(session_table(table, params), out_dir / "sessions.parquet")
    result.outputs += [str(out_dir / "features.parquet"), str(out_dir / "sessions.parquet")]
    return result


# --------------------------------------------------------------------------- validate
def validate(project: Project) -> StageResult:
    """Great Expectations suite over the feature table; failing rows are quarantined, listed.

    Writes ``validated/features.parquet`` (passing rows), ``validated/failed.parquet``
    (failing rows with their reasons), ``validated/sessions.parquet`` (the session table
    rebuilt from passing rows) and the DVC metric ``validated/summary.json``.
    """
    from palsyflow.features.table import MEASURE_COLUMNS, session_table
    from palsyflow.validation.suite import validate_features

    result = StageResult("validate")
    src = project.layout.features / "features.parquet"
    out = project.layout.validated
    outputs = [out / "features.parquet", out / "failed.parquet", out / "sessions.parquet", out / "summary.json"]
    fp = _digest(_files_digest([src]), project.params.validate_.digest(), code_digest("validation", "features/table.py"))
    if _unchanged(out / ".inputs.json", fp, outputs):
        result.skipped = 1
        return result
    table = pl.read_parquet(src)
    res = validate_features(table, project.params.validate_, list(MEASURE_COLUMNS))
    atomic_write_parquet(res.valid, outputs[0])
    atomic_write_parquet(res.failed, outputs[1])
    atomic_write_parquet(session_table(res.valid, project.params.features), outputs[2])
    atomic_write_text(outputs[3], json.dumps(res.summary, indent=2, default=str))
    for row in res.failed.iter_rows(named=True):
        reason = f"validation: {row['reasons']}"
        _quarantine_in_store(project, row["site"], row["recording_key"], row["sha256"], reason)
        result.failures.append({"site": row["site"], "file": row["recording_key"], "reason": reason})
    result.processed, result.failed = res.valid.height, res.failed.height
    _write_stamp(out / ".inputs.json", fp)
    result.outputs += [str(p) for p in outputs]
    return result


# --------------------------------------------------------------------------- train
def train(project: Project) -> StageResult:
    """Fit the normative model (and the grader when grades allow), save, log to MLflow.

    Local copies (``models/normative.joblib`` ...) are the DVC outputs the score stage
    reads; the same models are logged and registered in MLflow with the ``dvc.lock``
    hashes as tags.
    """
    from palsyflow.models.training import save_models, train_models

    result = StageResult("train")
    src = project.layout.validated / "sessions.parquet"
    out = project.models_dir
    fp = _digest(_files_digest([src]), project.params.train.digest(), code_digest("models", "scoring"))
    if _unchanged(out / ".inputs.json", fp, [out / "train_metrics.json"]):
        result.skipped = 1
        return result
    sessions = pl.read_parquet(src)
    trained = train_models(sessions, project.params.train)
    paths = save_models(trained, out)
    metrics_file = project.layout.root / "metrics" / "train.json"
    atomic_write_text(metrics_file, json.dumps(trained.metrics, indent=2, sort_keys=True, default=str))
    result.outputs += [str(p) for p in paths.values()] + [str(metrics_file)]
    result.notes += [f"{k} skipped: {v}" for k, v in (trained.skipped or {}).items()]
    mlflow_info = {}
    try:
        from palsyflow.tracking import log_training

        lock = project.root / "dvc.lock"
        mlflow_info = log_training(
            trained,
            project.params.train,
            project.mlflow_uri,
            project.path(project.params.paths.mlflow_artifacts),
            lock if lock.exists() else None,
            project.code_version,
        )
        result.notes.append(f"mlflow run {mlflow_info.get('run_id')}")
    except Exception as exc:  # noqa: BLE001 - tracking must not lose the fitted model
        log.exception("MLflow logging failed")
        result.notes.append(f"MLflow logging failed: {exc}")
    _write_stamp(out / ".inputs.json", fp, mlflow=mlflow_info)
    result.processed = 1
    return result


# --------------------------------------------------------------------------- score
def score(project: Project) -> StageResult:
    """Per-session scores against the normative model, with change since the first session."""
    from palsyflow.models.training import load_normative
    from palsyflow.scoring.scores import score_sessions, session_measures
    from palsyflow.store import repo
    from palsyflow.store.db import session_scope

    result = StageResult("score")
    src = project.layout.validated / "sessions.parquet"
    model_path = project.models_dir / "normative.joblib"
    out = project.layout.scores / "scores.parquet"
    fp = _digest(_files_digest([src, model_path]), project.params.score.digest(), code_digest("scoring", "models"))
    if _unchanged(project.layout.scores / ".inputs.json", fp, [out]):
        result.skipped = 1
        return result
    stamp = _read_json(project.models_dir / ".inputs.json") or {}
    version = (stamp.get("mlflow") or {}).get("normative_version")
    normative = load_normative(model_path) if model_path.exists() else None
    model_version = f"{project.params.train.registered_model}/{version}" if version else (
        f"local:{sha256_file(model_path)[:12]}" if normative is not None else None
    )
    scores = score_sessions(session_measures(pl.read_parquet(src)), normative, model_version=model_version)
    atomic_write_parquet(scores, out)
    with session_scope(project.engine) as db:
        result.processed = repo.upsert_scores(db, scores.to_dicts())
    _write_stamp(project.layout.scores / ".inputs.json", fp)
    result.outputs.append(str(out))
    return result


# --------------------------------------------------------------------------- report
def report(project: Project, progress: Progress = report_progress) -> StageResult:
    """One PDF per session; a subject's PDFs are redrawn only when their scores change."""
    from palsyflow.reports.model import build_session_report
    from palsyflow.reports.pdf import render_session_report
    from palsyflow.store import repo
    from palsyflow.store.db import session_scope

    result = StageResult("report")
    src = project.layout.scores / "scores.parquet"
    if not src.exists():
        result.notes.append("no scores")
        return result
    scores = pl.read_parquet(src)
    params = project.params.report
    sessions = scores.select("site", "subject", "session").unique().sort("site", "subject", "session").rows()
    for i, (site, subject, session) in enumerate(sessions, 1):
        progress("reports", i, len(sessions))
        pdf = project.layout.session_report(site, subject, session)
        subject_rows = scores.filter((pl.col("site") == site) & (pl.col("subject") == subject)).sort("session", "measure")
        fp = _digest(subject_rows.to_dicts(), params.digest(), session, code_digest("reports"))
        stamp = pdf.with_suffix(".json")
        if _unchanged(stamp, fp, [pdf]):
            result.skipped += 1
            continue
        rep = build_session_report(scores, site, subject, session, params)
        render_session_report(rep, pdf, params)
        digest = sha256_file(pdf)
        _write_stamp(stamp, fp, sha256=digest)
        with session_scope(project.engine) as db:
            repo.add_report(db, site, subject, session, str(pdf.relative_to(project.layout.root)), digest)
        result.processed += 1
        result.outputs.append(str(pdf))
    return result


def status(project: Project) -> dict:
    """Per-site counts of subjects, sessions, recordings, quarantined files and reports, plus failures."""
    from palsyflow.store import repo
    from palsyflow.store.db import session_scope

    with session_scope(project.engine) as db:
        return repo.status_summary(db)


STAGES = ("ingest", "landmarks", "features", "validate", "train", "score", "report")
