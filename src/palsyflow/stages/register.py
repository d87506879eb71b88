"""Stage ``register``: the committed models -> an MLflow run and registry versions with true provenance.

Runs after ``train`` **and after DVC committed train's outputs** (``dvc repro`` and
``dvc exp run`` write a stage's ``dvc.lock`` entry as soon as it finishes; the nightly
flow runs ``dvc commit train`` before this stage). It reads the models the train stage
saved and the committed ``dvc.lock``, checks that the lock describes exactly these files,
and logs one MLflow run (:func:`palsyflow.tracking.log_training`) with:

* tags: ``dvc.train.<path>`` = every dependency and output hash of train's ``dvc.lock``
  entry (equal to the lock, by construction and by test), ``palsyflow.version``,
  ``mlflow.source.git.commit`` (``git rev-parse HEAD``), ``palsyflow.code_version`` and
  :data:`palsyflow.tracking.FINGERPRINT_TAG`;
* params: every ``params.yaml`` key of every stage upstream of the models (ingest through
  train), as ``section.key``;
* a run name that says what changed: the parameters that differ from the previous run, else
  the training data's hash.

Writes ``registration`` (run id and versions), which the score stage reads to name its model
version. Inside a DVC experiment (:attr:`palsyflow.project.Project.experiment`) versions get the
experiment tag and no alias. Outside a DVC repository (no ``dvc.lock``) the tags are the
sha256 of the files instead (``sha256.train.<path>``).
"""

from __future__ import annotations

import configparser
import hashlib
import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import yaml

from palsyflow import __version__, tracking
from palsyflow.atomic import atomic_write_text, sha256_file
from palsyflow.models.grader import GraderResult
from palsyflow.models.training import GRADER_FILE, NORMATIVE_FILE, TrainResult, load_grader, load_normative
from palsyflow.project import Project
from palsyflow.stages.catalog import STAGE_SPECS, Catalog
from palsyflow.stages.fingerprint import digest, read_json, stage_code_digest
from palsyflow.stages.runs import Run, StageResult, checkpoint

log = logging.getLogger("palsyflow.stages")


class StaleLock(RuntimeError):
    """``dvc.lock`` does not describe the models on disk (they were not committed)."""


def upstream_stages(stage: str, cat: Catalog) -> list[str]:
    """``stage`` and every stage whose outputs it reads, directly or not, in pipeline order.

    A dataset is read from a stage when its path is one of the stage's outputs or lies
    inside one (``features/features.parquet`` inside ``features``).
    """
    producers: dict[str, str] = {}
    for spec in STAGE_SPECS.values():
        for out in spec.outputs + spec.metrics:
            producers[out] = spec.name

    def produced_by(dataset: str) -> str | None:
        p = cat.path(dataset)
        for out, st in producers.items():
            q = cat.path(out)
            if p == q or q in p.parents:
                return st
        return None

    seen: set[str] = set()
    todo = [stage]
    while todo:
        s = todo.pop()
        if s in seen:
            continue
        seen.add(s)
        todo += [st for d in STAGE_SPECS[s].inputs if (st := produced_by(d)) is not None]
    return [s for s in STAGE_SPECS if s in seen]


def upstream_params(project: Project, stage: str = "train") -> dict[str, Any]:
    """Every ``params.yaml`` value the outputs of ``stage`` depend on, flattened to ``section.key``.

    The union of the ``params`` entries (whole sections or ``section.key``) of
    :func:`upstream_stages`; nested values flatten with dots (``features.speech_min_snr_db.vowel``).
    """
    data = project.params.model_dump(mode="json")
    out: dict[str, Any] = {}

    def flat(prefix: str, v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                flat(f"{prefix}.{k}", x)
        else:
            out[prefix] = json.dumps(v) if isinstance(v, (list, type(None))) else v

    for s in upstream_stages(stage, Catalog.of(project)):
        for entry in STAGE_SPECS[s].params:
            section, _, key = entry.partition(".")
            value = data.get(section, {})
            if key:
                value = value.get(key) if isinstance(value, dict) else None
            flat(entry, value)
    return dict(sorted(out.items()))


def lock_entry(dvc_lock: Path, stage: str = "train") -> dict[str, str]:
    """``{path: hash}`` of the deps and outs of ``stage`` in ``dvc_lock`` (empty when absent)."""
    if not dvc_lock.is_file():
        return {}
    spec = ((yaml.safe_load(dvc_lock.read_text()) or {}).get("stages") or {}).get(stage) or {}
    out = {}
    for kind in ("deps", "outs"):
        for e in spec.get(kind) or []:
            if isinstance(e, dict) and "path" in e:
                out[e["path"]] = str(e.get("md5") or e.get("etag") or e.get("checksum") or "")
    return out


def _md5(path: Path) -> str:
    h = hashlib.md5()  # noqa: S324 - DVC's content hash, not a security use
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _dvc_cache(root: Path) -> Path:
    """DVC's local cache folder: ``cache.dir`` of ``.dvc/config.local`` or ``.dvc/config``, else ``.dvc/cache``."""
    for name in ("config.local", "config"):
        cfg = configparser.ConfigParser()
        try:
            cfg.read(root / ".dvc" / name)
        except configparser.Error:
            continue
        d = cfg.get("cache", "dir", fallback=None) if cfg.has_section("cache") else None
        if d:
            p = Path(d)
            return p if p.is_absolute() else (root / ".dvc" / p).resolve()
    return root / ".dvc" / "cache"


def check_lock(cat: Catalog, entry: dict[str, str]) -> None:
    """Raise :class:`StaleLock` unless train's ``dvc.lock`` entry describes the files on disk.

    Files are compared by md5 (DVC 3's hash); a directory (``.dir`` hash) by the listing DVC
    cached for it (``<cache>/files/md5/<ab>/<cdef...>.dir``, cache ``.dvc/cache`` unless configured, JSON ``[{md5, relpath}]``):
    every file listed must have that md5 and no other file may exist (folder dependencies,
which DVC does not cache, are not re-hashed here).
    """
    if not entry:
        raise StaleLock(f"{cat.dvc_lock} has no train entry: run `dvc commit train` before registering")
    spec = STAGE_SPECS["train"]
    outputs = {cat.relative(o) for o in spec.outputs + spec.metrics}
    for rel, h in entry.items():
        p = cat.root / rel
        if not h.endswith(".dir"):
            if not p.is_file() or _md5(p) != h:
                raise StaleLock(f"{cat.dvc_lock}: {rel} is not the committed file (run `dvc commit train`)")
            continue
        listing = _dvc_cache(cat.root) / "files" / "md5" / h[:2] / h[2:]
        if not listing.is_file() and rel not in outputs:
            continue  # a folder dependency (code): DVC hashes it but caches only outputs
        if not listing.is_file():
            raise StaleLock(f"{cat.dvc_lock}: {rel} ({h}) is not in the DVC cache (run `dvc commit train`)")
        want = {e["relpath"]: e["md5"] for e in json.loads(listing.read_text())}
        have = {q.relative_to(p).as_posix() for q in p.rglob("*") if q.is_file()} if p.is_dir() else set()
        if have != set(want) or any(_md5(p / r) != m for r, m in want.items()):
            raise StaleLock(f"{cat.dvc_lock}: {rel} differs from the committed folder (run `dvc commit train`)")


def provenance_tags(project: Project) -> dict[str, str]:
    """Tags of the exact inputs and outputs of train (committed ``dvc.lock``, else sha256) and the code.

    Raises
    ------
    StaleLock
        If a ``dvc.lock`` exists but does not describe the models on disk.
    """
    cat = Catalog.of(project)
    tags = {"palsyflow.version": __version__, "palsyflow.code_version": project.code_version}
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project.root, capture_output=True, text=True, check=True)
        tags["mlflow.source.git.commit"] = sha.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    if cat.dvc_lock.is_file():
        entry = lock_entry(cat.dvc_lock)
        check_lock(cat, entry)
        tags.update({f"dvc.train.{path}": h for path, h in entry.items()})
    else:
        spec = STAGE_SPECS["train"]
        for name in spec.inputs + spec.outputs + spec.metrics:
            p = cat.path(name)
            files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
            for q in files:
                if q.is_file():
                    tags[f"sha256.train.{q.relative_to(cat.root).as_posix()}"] = sha256_file(q)
    return tags


def run_name(params: dict[str, Any], previous: dict[str, str] | None, data_hash: str, experiment: str | None) -> str:
    """What changed since the previous run: ``a.b=1 (was 2), ...``, else ``data <hash>``; ``exp <name>:`` first."""
    if previous is None:
        what = f"first training, data {data_hash[:12]}"
    else:
        changed = [
            f"{k}={v} (was {previous[k]})" if k in previous else f"{k}={v} (new)"
            for k, v in params.items()
            if previous.get(k) != str(v)[:6000]
        ]
        what = ", ".join(changed) if changed else f"same parameters, data {data_hash[:12]}"
    return f"exp {experiment}: {what}" if experiment else what


def _train_result(cat: Catalog) -> TrainResult:
    """The saved models and their summary, as :func:`palsyflow.models.training.train_models` returned them."""
    summary = read_json(cat.path("models_summary")) or {}
    grader = None
    est = load_grader(cat.models / GRADER_FILE)
    if est is not None:
        grader = GraderResult(
            estimator=est,
            metrics={},
            classes=list(summary.get("grader_classes") or []),
            feature_names=list(summary.get("grader_features") or []),
        )
    metrics = {k: v for k, v in (summary.get("metrics") or {}).items() if isinstance(v, (int, float))}
    return TrainResult(
        normative=load_normative(cat.models / NORMATIVE_FILE),
        grader=grader,
        metrics=metrics,
        params=summary.get("params") or {},
        normative_features=list(summary.get("normative_features") or []),
        grader_features=list(summary.get("grader_features") or []),
        skipped=dict(summary.get("skipped") or {}),
    )


def register(project: Project) -> StageResult:
    """Log the committed models to MLflow and register them (module docstring); write ``registration``.

    A failure of MLflow (or a stale ``dvc.lock``) is noted in the result and in
    ``registration`` (``error``), never fails the pipeline: the score stage then names
    the model by its content hash.
    """
    cat = Catalog.of(project)
    result = StageResult("register")
    out = cat.path("registration")
    tp = project.params.train
    experiment = project.experiment
    entry = lock_entry(cat.dvc_lock)
    models_id = entry or {k: v for k, v in sorted(
        (str(p), sha256_file(p)) for p in cat.models.rglob("*") if p.is_file()
    )}
    fp = digest(models_id, experiment, tp.experiment, tp.registered_model, tp.registered_grader, stage_code_digest("register"))
    with Run(project, "register", digest(tp.registered_model, experiment), {"models": fp}) as run:
        old = read_json(out)
        if old and old.get("fingerprint") == fp and not old.get("error"):
            result.skipped = 1
            run.finish(result)
            return result
        info: dict[str, Any] = {"fingerprint": fp, "experiment": experiment, "registered_model": tp.registered_model,
                                "registered_grader": tp.registered_grader, "run_id": None,
                                "normative_version": None, "grader_version": None, "error": None}
        try:
            tags = provenance_tags(project)
            tags[tracking.FINGERPRINT_TAG] = fp
            found = tracking.find_training(tp, project.mlflow_uri, fp)
            if found:  # a run killed after logging, before writing registration: reuse it
                info.update(found)
                result.notes.append(f"mlflow run {found['run_id']} (logged before with this fingerprint)")
            else:
                params = upstream_params(project)
                data_hash = entry.get(cat.relative("validated_sessions")) or sha256_file(cat.path("validated_sessions"))
                name = run_name(params, tracking.previous_run_params(project.mlflow_uri, tp.experiment), data_hash, experiment)
                info.update(tracking.log_training(
                    _train_result(cat), tp, project.mlflow_uri, cat.path("mlflow_artifacts"), cat.models,
                    params, tags, name, experiment=experiment,
                ))
                info["run_name"] = name
                result.notes.append(f"mlflow run {info['run_id']}: {name}")
            result.processed = 1
        except Exception as exc:  # noqa: BLE001 - tracking must not stop the scores and reports
            log.warning("MLflow registration failed: %s", exc)
            log.debug("MLflow registration failed", exc_info=True)
            info["error"] = str(exc)
            result.notes.append(f"MLflow registration failed: {exc}")
        checkpoint("register", "logged")  # test hook: the run logged and registered, registration not written
        atomic_write_text(out, json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")
        result.outputs.append(str(out))
        run.finish(result)
    return result


def registered_version(cat: Catalog) -> str | None:
    """The normative model's registry version named by ``registration`` (None without one)."""
    return (read_json(cat.path("registration")) or {}).get("normative_version")
