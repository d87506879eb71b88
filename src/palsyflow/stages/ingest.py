"""Stage ``ingest``: clinics' drops -> the immutable raw tree, the store and the registry.

Reads the drop folders (catalog ``drops``); writes the raw tree (``raw``), the
quarantine (``quarantine``), the store's sites/subjects/sessions/recordings and the
registry parquet (``registry``) that every later stage reads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import polars as pl

from palsyflow.atomic import atomic_write_parquet
from palsyflow.ingest.manifest import ManifestError
from palsyflow.ingest.plan import ImmutableRawError, SourceChangedError, copy_in, plan_ingest, quarantine
from palsyflow.paths import check_label
from palsyflow.progress import report as report_progress
from palsyflow.project import Project
from palsyflow.stages.catalog import Catalog
from palsyflow.stages.runs import Progress, Run, StageResult, quarantine_in_store, resolve_in_store
from palsyflow.store import repo
from palsyflow.store.db import session_scope
from palsyflow.store.repo import RecordingConflict

log = logging.getLogger("palsyflow.stages")

#: Columns and types of the registry (``raw/recordings.parquet``), one row per recording.
REGISTRY_SCHEMA: dict[str, pl.DataType] = {
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


def site_drops(project: Project, sites: Iterable[str] | None = None) -> dict[str, Path]:
    """Site label -> drop folder, for every folder under ``paths.drops`` with a manifest.

    Raises
    ------
    FileNotFoundError
        If one of ``sites`` has no drop folder with a ``manifest.csv``.
    """
    root = Catalog.of(project).drops
    found = {d.name: d for d in sorted(root.iterdir()) if (d / "manifest.csv").is_file()} if root.is_dir() else {}
    if sites:
        missing = set(sites) - set(found)
        if missing:
            raise FileNotFoundError(f"no drop folder with a manifest.csv for site(s) {sorted(missing)} under {root}")
        found = {s: found[s] for s in sites}
    return found


def ingest(project: Project, sites: Iterable[str] | None = None, progress: Progress = report_progress) -> StageResult:
    """Ingest every site's drop under ``paths.drops`` (or only ``sites``), then export the registry."""
    drops = site_drops(project, sites)
    total = StageResult("ingest", site=next(iter(drops)) if len(drops) == 1 else None)
    for site, drop in drops.items():
        r = ingest_drop(project, site, drop, progress=progress)
        total.processed += r.processed
        total.skipped += r.skipped
        total.failed += r.failed
        total.failures += r.failures
        if r.error:
            total.notes.append(f"site {site}: {r.error}")
    errors = [n for n in total.notes if n.startswith("site ")]
    if drops and len(errors) == len(drops):  # nothing of any drop could be read
        total.error = "; ".join(errors)
    total.outputs.append(str(export_registry(project)))
    return total


def ingest_drop(project: Project, site: str, drop: Path, progress: Progress = report_progress) -> StageResult:
    """Check, hash, copy into the raw tree and register one site's drop.

    Bad files go to quarantine (``quarantine/site-<s>/``) with their reason, in the
    store too; the rest of the drop goes on. Ingesting the same drop again changes
    nothing. The copy-in (:func:`palsyflow.ingest.plan.copy_in`) is the raw tree's
    writer: it names each file with :meth:`palsyflow.paths.RecordingPath.raw` under the
    catalog's ``raw`` root.

    Raises
    ------
    palsyflow.paths.InvalidLabelError
        If ``site`` is not alphanumeric.
    """
    check_label("site", site)
    cat = Catalog.of(project)
    result = StageResult("ingest", site=site)
    with Run(project, "ingest", project.params.ingest.digest(), {"drop": str(drop)}, site=site) as run:
        _ingest_into(project, site, drop, cat, result, progress)
        run.finish(result)
    return result


def _ingest_into(project: Project, site: str, drop: Path, cat: Catalog, result: StageResult, progress: Progress) -> None:
    """The body of :func:`ingest_drop`, inside its recorded run; fills ``result``."""

    def reject(source: Path | None, sha: str | None, reason: str) -> None:
        qpath = quarantine(source, reason, cat.quarantine, site, sha256=sha) if source and source.exists() else None
        name = source.name if source else "manifest.csv"
        quarantine_in_store(project, site, name, sha, reason, qpath)
        result.failed += 1
        result.failures.append({"site": site, "file": name, "reason": reason})
        log.warning("quarantined %s: %s", name, reason)

    try:
        plan = plan_ingest(drop, site, project.params.ingest)
    except ManifestError as exc:
        reject(None, None, str(exc))
        result.error = str(exc)  # names the manifest file
        return
    resolve_in_store(project, site, original_name="manifest.csv")  # the manifest reads again

    for rej in plan.rejected:
        reject(rej.source, rej.sha256, rej.reason)

    accepted = []
    for i, item in enumerate(plan.items, 1):
        progress(f"ingest {site}", i, len(plan.items))
        try:
            raw, copied = copy_in(item, cat.raw)
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
                    cat.data_relative(raw),
                    item.source.name,
                    item.media.as_dict(),
                )
            accepted.append(item)
            if created or copied:
                result.processed += 1
            else:
                result.skipped += 1
        except (ImmutableRawError, SourceChangedError, RecordingConflict) as exc:
            reject(item.source, item.sha256, str(exc))
    # earlier refusals of content or file names accepted now no longer stand (unless refused again now)
    refused_now = {(f["file"], f["reason"]) for f in result.failures}
    with session_scope(project.engine) as db:
        for item in accepted:
            repo.resolve_quarantine(db, site, sha256=item.sha256, original_name=item.source.name, keep=refused_now)


def export_registry(project: Project) -> Path:
    """Write the registry (catalog ``registry``) from the store: the input of every later stage.

    Returns
    -------
    pathlib.Path
        The parquet written, rows sorted by ``key`` (:data:`REGISTRY_SCHEMA`).
    """
    with session_scope(project.engine) as db:
        rows = [asdict(r) for r in repo.list_recordings(db)]
    df = pl.DataFrame(rows, schema=REGISTRY_SCHEMA) if rows else pl.DataFrame(schema=REGISTRY_SCHEMA)
    return atomic_write_parquet(df.sort("key"), Catalog.of(project).registry)


def read_registry(project: Project, sites: Iterable[str] | None = None) -> pl.DataFrame:
    """The registry, optionally for some sites only (empty when nothing was ingested)."""
    path = Catalog.of(project).registry
    if not path.exists():
        return pl.DataFrame()
    df = pl.read_parquet(path)
    if sites:
        df = df.filter(pl.col("site").is_in(list(sites)))
    return df
