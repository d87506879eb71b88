"""Stage ``ingest``: clinics' drops -> the immutable raw tree, the store and the registry.

Reads the drop folders (catalog ``drops``); writes the raw tree (``raw``), the
quarantine (``quarantine``), the store's sites/subjects/sessions/recordings and the
registry parquet (``registry``) that every later stage reads.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

import polars as pl
from sqlalchemy.orm import Session as DBSession

from palsyflow.atomic import atomic_write_parquet
from palsyflow.ingest.identity import (
    case_variant_problem,
    content_conflict,
    onset_conflict,
    session_order_problem,
    subject_fact_conflicts,
)
from palsyflow.ingest.manifest import ManifestError, at_line, read_manifest
from palsyflow.ingest.plan import ImmutableRawError, IngestItem, SourceChangedError, copy_in, plan_ingest, quarantine
from palsyflow.paths import InvalidLabelError, check_label
from palsyflow.progress import report as report_progress
from palsyflow.pseudonym import keyed_name, scrub_names
from palsyflow.project import Project
from palsyflow.stages.catalog import Catalog
from palsyflow.ingest.dropbox import add_to_drop
from palsyflow.stages.lock import run_lock
from palsyflow.stages.fingerprint import STAGE_STAMP_PREFIX, StageGate, digest, stage_code_digest, tree_listing
from palsyflow.stages.runs import (
    Progress,
    Run,
    StageResult,
    checkpoint,
    quarantine_in_store,
    record_walk,
    resolve_in_store,
    skip_if_unchanged,
)
from palsyflow.speech.analysis import recording_prompt
from palsyflow.store import audit, repo
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
    "original_name_hmac": pl.Utf8,
    "manifest_line": pl.Int32,
    "prompt": pl.Utf8,
    "onset": pl.Date,
}


def site_drops(project: Project, sites: Iterable[str] | None = None) -> dict[str, Path]:
    """Site label -> drop folder, for every folder under ``paths.drops`` with a manifest.

    Raises
    ------
    palsyflow.paths.InvalidLabelError
        If one of ``sites`` is not a valid site label (a ``ValueError`` whose message
        is one sentence naming the label and the rule).
    FileNotFoundError
        If one of ``sites`` has no drop folder with a ``manifest.csv``.
    """
    for label in sites or ():
        check_site_label(label)
    root = Catalog.of(project).drops
    found = {d.name: d for d in sorted(root.iterdir()) if (d / "manifest.csv").is_file()} if root.is_dir() else {}
    if sites:
        missing = set(sites) - set(found)
        if missing:
            raise FileNotFoundError(f"no drop folder with a manifest.csv for site(s) {sorted(missing)} under {root}")
        found = {s: found[s] for s in sites}
    return found


def check_site_label(site: str) -> str:
    """``site`` if it is a valid site label (the name of its drop folder).

    Raises
    ------
    palsyflow.paths.InvalidLabelError
        ``"site 'no-where' is not a valid label: only letters A-Z, a-z and digits 0-9
        (BIDS label rule); rename its drop folder"``.
    """
    try:
        return check_label("site", site)
    except InvalidLabelError as exc:
        raise InvalidLabelError(f"{exc}; rename its drop folder") from None


def shown_path(project: Project, path: Path) -> str:
    """How a refusal names a drop's file or folder: never by its absolute path.

    Relative to the folder that holds the drops root (``drops/north/manifest.csv`` with
    ``paths.drops: drops``), so a data manager finds it and the message shows nothing of
    the machine's layout; a path outside the drops root (``palsyflow ingest SITE
    /elsewhere/drop``) is named from its drop folder on (``drop/manifest.csv``).

    Parameters
    ----------
    project : Project
    path : pathlib.Path
        A drop folder or a file in one (absolute, or relative to the working directory).

    Returns
    -------
    str
        POSIX-style relative path.
    """
    path = Path(os.path.abspath(path))
    drops = Path(os.path.abspath(Catalog.of(project).drops))
    if path.is_relative_to(drops):
        return path.relative_to(drops.parent).as_posix()
    tail = path.parts[-2:] if path.name == "manifest.csv" else path.parts[-1:]
    return Path(*tail).as_posix()


def nothing_readable(errors: Sequence[str | None]) -> str | None:
    """The stage's error when no drop could be read at all, else ``None``.

    One site's unreadable manifest is that site's refusal (quarantined, listed in
    ``status``); the ingest stage fails only when every drop was unreadable.

    Parameters
    ----------
    errors : sequence of str or None
        Each drop's :attr:`StageResult.error` (``None`` for a drop that was read).

    Returns
    -------
    str or None
        The drops' errors joined with ``"; "``, or ``None``.
    """
    if errors and all(errors):
        return "; ".join(e for e in errors if e)
    return None


def ingest(project: Project, sites: Iterable[str] | None = None, progress: Progress = report_progress) -> StageResult:
    """Ingest every site's drop under ``paths.drops`` (or only ``sites``), then export the registry.

    A drop folder whose name is not a valid site label is not read: it is counted as
    failed in the result, with the reason (the store cannot hold an invalid site).
    """
    drops = site_drops(project, sites)
    total = StageResult("ingest", site=next(iter(drops)) if len(drops) == 1 else None)
    errors: list[str | None] = []
    walked = not drops
    for site, drop in drops.items():
        try:
            check_site_label(site)
        except InvalidLabelError as exc:
            total.failed += 1
            shown = shown_path(project, drop)
            total.failures.append({"site": None, "file": shown, "reason": f"drop folder {shown}: {exc}"})
            log.warning("not ingesting %s: %s", drop, exc)
            errors.append(None)  # refused with its reason above, not a stage error
            walked = True
            continue
        r = ingest_drop(project, site, drop, progress=progress)
        total.processed += r.processed
        total.skipped += r.skipped
        total.failed += r.failed
        total.failures += r.failures
        walked = walked or not r.unchanged
        total.notes += [n for n in r.notes if n not in total.notes]
        errors.append(f"site {site}: {r.error}" if r.error else None)
        if r.error:
            total.notes.append(errors[-1])
    total.error = nothing_readable(errors)
    total.unchanged = not walked  # every drop unchanged as a whole
    total.outputs.append(str(export_registry(project)))
    return total


def ingest_drop(project: Project, site: str, drop: Path, progress: Progress = report_progress) -> StageResult:
    """Check, hash, copy into the raw tree and register one site's drop.

    Bad files go to quarantine (``quarantine/site-<s>/``) with their reason, in the
    store too; the rest of the drop goes on. Before a file is copied in, its row is
    checked against what the store knows (:func:`identity_problems`): a subject label
    differing from a stored one only in case, conflicting subject flags, the same
    content under another session or site, a new session dated before the subject's
    latest one. Each item is checked and registered in one transaction holding the
    store-wide ingest lock (:func:`palsyflow.store.repo.lock_ingest`), so an ingest of
    another data root or site on the same store cannot register the same content in
    between. Ingesting the same drop again changes nothing. The copy-in (:func:`palsyflow.ingest.plan.copy_in`) is the raw tree's
    writer: it names each file with :meth:`palsyflow.paths.RecordingPath.raw` under the
    catalog's ``raw`` root.

    Uploaded file names are never stored, logged or shown: a file is named by its keyed
    hash (:func:`palsyflow.pseudonym.keyed_name`) and its manifest line, also inside the
    refusal sentences (:func:`palsyflow.pseudonym.scrub_names`); every recording ingested
    and every refusal is an audit entry (:func:`palsyflow.store.audit.record`).

    Raises
    ------
    palsyflow.paths.InvalidLabelError
        If ``site`` is not a valid label (:func:`check_site_label`).
    palsyflow.store.repo.SiteAccessError
        If the store's database role may not write ``site`` (PostgreSQL row-level
        security: neither a member of the site's group role nor the service role).
    """
    check_site_label(site)
    with session_scope(project.engine) as db:
        repo.check_may_write_site(db, site)
    cat = Catalog.of(project)
    result = StageResult("ingest", site=site)
    gate = stage_gate(project, site, drop)
    with Run(project, "ingest", project.params.ingest.digest(), {"drop": str(drop)}, site=site) as run:
        if not skip_if_unchanged(gate, result):
            gate.open()
            _ingest_into(project, site, drop, cat, result, progress)
            record_walk(gate, result)
        run.finish(result)
    return result


def stage_gate(project: Project, site: str, drop: Path) -> StageGate:
    """The ingest stage's whole-drop fingerprint (:class:`~palsyflow.stages.fingerprint.StageGate`).

    Inputs: the drop folder's listing (names, sizes, modification times, inodes; no
    file is read or hashed), the ``ingest`` parameters, the stage's code
    and the pseudonym key (as a keyed hash). Outputs: the site's recordings and
    quarantine rows in the store and the listing of the site's raw tree. A new, removed,
    renamed or rewritten file, a changed manifest, a store restored from a backup or a
    raw file gone all make the stage walk the drop as before.

    Parameters
    ----------
    project : Project
    site : str
        Site label.
    drop : pathlib.Path
        The site's drop folder.

    Returns
    -------
    StageGate
        Its stamp is ``raw/.stage-ingest-site-<site>.json``.
    """
    cat = Catalog.of(project)
    drop = Path(os.path.abspath(drop))
    inputs = digest(
        str(drop), tree_listing(drop), project.params.ingest.digest(), stage_code_digest("ingest"),
        keyed_name(project.secret, STAGE_STAMP_PREFIX),
    )

    def outputs() -> str:
        with session_scope(project.engine) as db:
            state = repo.content_state(db, site)
        return digest(state["recordings"], state["quarantine"], tree_listing(cat.raw / f"site-{site}"))

    return StageGate(cat.raw / f"{STAGE_STAMP_PREFIX}ingest-site-{site}.json", inputs, outputs)


def _ingest_into(project: Project, site: str, drop: Path, cat: Catalog, result: StageResult, progress: Progress) -> None:
    """The body of :func:`ingest_drop`, inside its recorded run; fills ``result``."""
    secret = project.secret
    names = drop_names(drop, project.params.ingest)

    def reject(source: Path | None, sha: str | None, reason: str) -> None:
        reason = scrub_names(reason, names, secret)
        name = keyed_name(secret, source.name) if source else "manifest.csv"
        # a refusal without a hash is a link or special file: recorded, never read (read=False)
        qpath = (
            quarantine(source, reason, cat.quarantine, site, sha256=sha, read=sha is not None, name=name)
            if source and os.path.lexists(source)
            else None
        )
        if quarantine_in_store(project, site, name, sha, reason, qpath):
            with session_scope(project.engine) as db:
                audit.record(db, site=site, action="quarantine", entity=name, detail={"reason": reason, "sha256": sha})
        result.failed += 1
        result.failures.append({"site": site, "file": name, "reason": reason})
        log.warning("quarantined %s: %s", name, reason)

    try:
        plan = plan_ingest(drop, site, project.params.ingest)
    except ManifestError as exc:
        manifest = Path(os.path.abspath(drop)) / "manifest.csv"
        reason = str(exc).replace(str(manifest), shown_path(project, manifest))
        reject(None, None, reason)
        result.error = reason  # names the manifest file
        return
    resolve_in_store(project, site, original_name="manifest.csv")  # the manifest reads again

    for rej in plan.rejected:
        reject(rej.source, rej.sha256, rej.reason)

    accepted = []
    for i, item in enumerate(plan.items, 1):
        progress(f"ingest {site}", i, len(plan.items))
        try:
            # check and register in one transaction under the store-wide ingest lock: another
            # ingest on the same store (another data root or site) cannot slip in between
            with session_scope(project.engine) as db:
                repo.lock_ingest(db)
                problems = identity_problems(project, site, item, db=db)
                if problems:
                    raise _Refused(at_line(item.row.line, "; ".join(problems), os.path.relpath(item.source, os.path.abspath(drop))))
                stored_name = keyed_name(secret, item.source.name)
                raw, copied = copy_in(item, cat.raw)
                checkpoint("ingest", "copied")  # test hook: the raw file is in, its store rows are not
                s = repo.get_or_create_site(db, site)
                subj = repo.get_or_create_subject(
                    db, s, item.row.subject, healthy=item.row.healthy, simulated=item.row.simulated, onset=item.row.onset
                )
                ses = repo.get_or_create_session(db, subj, item.row.session, item.row.session_date, item.row.hb_grade)
                _, created = repo.register_recording(
                    db,
                    ses,
                    item.row.task,
                    item.media.kind,
                    item.sha256,
                    cat.data_relative(raw),
                    stored_name,
                    item.media.as_dict(),
                    manifest_line=item.row.line,
                    # a GRID sentence's text is read from its file name here, before the name is hashed
                    prompt=item.row.prompt or recording_prompt(item.row.task, None, item.source.name),
                )
                if created:
                    audit.record(
                        db,
                        site=site,
                        action="ingest",
                        subject=item.row.subject,
                        session=item.row.session,
                        entity=item.target.key,
                        detail={"task": item.row.task, "sha256": item.sha256, "manifest_line": item.row.line, "file": stored_name},
                    )
            accepted.append(item)
            if created or copied:
                result.processed += 1
            else:
                result.skipped += 1
        except (_Refused, ImmutableRawError, SourceChangedError, RecordingConflict) as exc:
            reject(item.source, item.sha256, str(exc))
    # earlier refusals of content or file names accepted now no longer stand (unless refused again now)
    refused_now = {(f["file"], f["reason"]) for f in result.failures}
    with session_scope(project.engine) as db:
        for item in accepted:
            repo.resolve_quarantine(db, site, sha256=item.sha256, original_name=keyed_name(secret, item.source.name), keep=refused_now)


def drop_names(drop: Path, params) -> set[str]:
    """Every file name a refusal sentence of ``drop`` may mention (to be replaced by its keyed hash).

    The final components of every path under the drop folder and of every file the
    manifest names (existing or not), except ``manifest.csv`` itself.
    """
    names = {n for _, dirs, files in os.walk(drop) for n in (*dirs, *files)}
    try:
        rows, problems = read_manifest(drop, params)
    except ManifestError:
        rows, problems = [], []
    names |= {r.file.name for r in rows} | {p.file.name for p in problems if getattr(p, "file", None) is not None}
    names |= _manifest_file_cells(drop)  # also cells refused before they became paths (outside the drop, absolute)
    names.discard("manifest.csv")
    return names


def _manifest_file_cells(drop: Path) -> set[str]:
    """Final components of the manifest's raw ``file`` cells (empty when it cannot be read as CSV)."""
    import csv
    import io
    from pathlib import PureWindowsPath

    try:
        text = (drop / "manifest.csv").read_bytes().decode("utf-8-sig", errors="replace")
        cells = [(r.get("file") or "").strip() for r in csv.DictReader(io.StringIO(text))]
    except (OSError, csv.Error):
        return set()
    return {PureWindowsPath(c).name for c in cells if c}


class _Refused(Exception):
    """An item refused by the identity checks (its reason); rolls back the item's transaction."""


def identity_problems(project: Project, site: str, item: IngestItem, db: DBSession | None = None) -> list[str]:
    """Why an accepted item may not join the store's subjects and recordings (empty if it may).

    Parameters
    ----------
    project : Project
        Its store, and ``ingest.allow_earlier_sessions``.
    site : str
        Site label of the drop.
    item : IngestItem
        A planned item (manifest row, sha256).
    db : sqlalchemy.orm.Session, optional
        The unit of work to read in (the one that will register the item, holding
        :func:`palsyflow.store.repo.lock_ingest`); a new one when omitted.

    Returns
    -------
    list of str
        Sentences from :func:`palsyflow.ingest.identity.case_variant_problem`,
        :func:`~palsyflow.ingest.identity.subject_fact_conflicts`,
        :func:`~palsyflow.ingest.identity.onset_conflict`,
        :func:`~palsyflow.ingest.identity.session_order_problem` and
        :func:`~palsyflow.ingest.identity.content_conflict`, without the line prefix.
    """
    row = item.row
    with contextlib.nullcontext(db) if db is not None else session_scope(project.engine) as db:
        facts = repo.subject_facts(db, site, row.subject)
        uses = [(u.site, u.subject, u.session, u.task) for u in repo.content_uses(db, item.sha256)]
        known = repo.subject_labels(db, site) if facts is None else [row.subject]
    given = {"healthy": row.healthy, "simulated": row.simulated}
    stored = {"healthy": facts.healthy, "simulated": facts.simulated} if facts else None
    allow_earlier = project.params.ingest.allow_earlier_sessions
    return [
        *case_variant_problem(row.subject, known),
        *subject_fact_conflicts(row.subject, given, stored),
        *onset_conflict(row.subject, row.onset, facts.onset if facts else None, facts.sessions if facts else ()),
        *session_order_problem(
            row.subject, row.session, row.session_date, facts.sessions if facts else (), allow_earlier
        ),
        *content_conflict(site, row.subject, row.session, item.sha256, uses),
    ]


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


def ingest_upload(project: Project, site: str, files: dict[str, Path], manifest: str | None, who: str, source: str) -> dict:
    """Add an upload to ``site``'s drop and ingest the drop (the portal's and the patient page's path).

    Parameters
    ----------
    project : Project
    site : str
    files : dict
        Name in the drop -> temporary file.
    manifest : str or None
        The upload's manifest text.
    who, source : str
        The audit entry's actor and source.

    Returns
    -------
    dict
        ``processed``, ``skipped``, ``failed`` and ``failures`` (``file`` = keyed name, ``reason``),
        or ``error`` (one sentence) when nothing was ingested.

    Raises
    ------
    palsyflow.stages.lock.RunLocked
        If a run holds the data root (nothing was added).
    palsyflow.ingest.dropbox.DropError
        If the upload cannot be added (no manifest anywhere, a bad file name).
    """
    drop = Catalog.of(project).drops / site
    with run_lock(project, command=f"palsyflow web upload {site}"):
        names = add_to_drop(drop, files, manifest)
        res = ingest_drop(project, site, drop)
        export_registry(project)
    with session_scope(project.engine) as db:
        audit.record(db, site=site, action="upload", actor=who, source=source,
                     detail={"files": len(names), "manifest": manifest is not None, "processed": res.processed,
                             "failed": res.failed})
    return {"processed": res.processed, "skipped": res.skipped, "failed": res.failed, "failures": res.failures,
            "error": res.error}
