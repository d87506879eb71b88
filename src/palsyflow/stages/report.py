"""Stage ``report``: the score table -> per session a clinician PDF and a patient PDF, recorded in the store.

Reads ``scores_table`` (and, when present, ``validated_sessions``, the session table that was scored, for
the millimetre measures); writes each session's clinician PDF at :meth:`Catalog.session_report`
through :func:`palsyflow.reports.pdf.render_session_report` and its one-page patient PDF at
:meth:`Catalog.patient_report` (month only in the name) through
:func:`palsyflow.reports.patient_pdf.render_patient_report`, the patient page read off the same
:class:`~palsyflow.reports.model.SessionReport`; each PDF has a JSON stamp beside it
(:meth:`Catalog.report_stamp`) and a ``reports`` row of its kind.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from palsyflow.atomic import sha256_file
from palsyflow.progress import report as report_progress
from palsyflow.project import Project
from palsyflow.reports.model import build_session_report
from palsyflow.reports.patient import build_patient_report
from palsyflow.reports.patient_pdf import render_patient_report
from palsyflow.reports.pdf import render_session_report
from palsyflow.stages.catalog import Catalog
from palsyflow.stages.fingerprint import (
    STAGE_STAMP_PREFIX,
    StageGate,
    digest,
    files_digest,
    read_json,
    stage_code_digest,
    tree_listing,
    unchanged,
    write_stamp,
)
from palsyflow.stages.ingest import site_drops
from palsyflow.stages.models import ProductionDetector, production_detector, registry_state
from palsyflow.stages.report_frames import FrameSource  # key frames of the clinician PDF
from palsyflow.stages.runs import Progress, Run, StageResult, checkpoint, record_walk, skip_if_unchanged
from palsyflow.store import audit, repo
from palsyflow.store.db import session_scope


def report(project: Project, progress: Progress = report_progress) -> StageResult:
    """Two PDFs per session (clinician, patient); a subject's PDFs are redrawn only when their scores change.

    Per PDF the order of writes is PDF, then the store's ``reports`` row of its kind, then the
    stamp, so a stamp never certifies a row the store does not hold (a store outage
    after the PDF leaves no stamp and the rerun redoes the session). A session whose
    stamp is current but whose store row is missing or names another sha256 (a store
    restored from backup, or stamps written by an older palsyflow before its row) gets
    its row written again without redrawing the PDF.
    """
    cat = Catalog.of(project)
    result = StageResult("report")
    src, sessions_src = cat.path("scores_table"), cat.path("validated_sessions")
    with Run(project, "report", project.params.report.digest(), {"scores_table": str(src), "validated_sessions": str(sessions_src)}) as run:
        if not src.exists():
            result.notes.append("no scores")
        else:
            gate = stage_gate(project)
            if not skip_if_unchanged(gate, result):
                gate.open()
                sessions = pl.read_parquet(sessions_src) if sessions_src.exists() else None
                _report(project, pl.read_parquet(src), result, progress, sessions)
                record_walk(gate, result)
        run.finish(result)
    return result


def stage_gate(project: Project) -> StageGate:
    """The report stage's whole-stage fingerprint (:class:`~palsyflow.stages.fingerprint.StageGate`).

    Inputs: what each PDF's fingerprint is made of, as a whole: the content hashes of the
    score table, the scored session table and the registry, the listing of the landmarks
    tree (the key frames' stamps), the drops' manifests and the store's quarantine rows
    (what the key frames and "Not measured" list), the ``report`` and ``ingest``
    parameters, the stage's code, the experiment and the model registry's state
    (:func:`palsyflow.stages.models.registry_state`: the detector's section). Outputs: the listing of the reports
    tree and the store's report rows (a row lost or changed is written again, as today).

    Returns
    -------
    StageGate
        Its stamp is ``.stage-report.json`` in :meth:`Catalog.reports_root`.
    """
    cat = Catalog.of(project)
    try:
        manifests = tree_listing(*(d / "manifest.csv" for d in site_drops(project).values()))
    except OSError as exc:  # an unreadable drops root: the walk will say so
        manifests = [f"unreadable: {type(exc).__name__}"]
    with session_scope(project.engine) as db:
        quarantine = repo.content_state(db)["quarantine"]
    inputs = digest(
        files_digest([cat.path("scores_table"), cat.path("validated_sessions"), cat.registry]),
        tree_listing(cat.landmarks), manifests, quarantine, project.params.report.digest(),
        project.params.ingest.digest(), stage_code_digest("report"), project.experiment,
        registry_state(project),  # the palsy detector holding ``production`` (its section in the PDF)
    )
    root = cat.reports_root(project.experiment)

    def outputs() -> str:
        if project.experiment:  # an experiment's PDFs never enter the store
            return digest(tree_listing(root))
        with session_scope(project.engine) as db:
            return digest(tree_listing(root), repo.content_state(db)["reports"])

    return StageGate(root / f"{STAGE_STAMP_PREFIX}report.json", inputs, outputs)


def _session_row(table: pl.DataFrame | None, site: str, subject: str, session: str) -> dict | None:
    """The session table's row of one session, JSON-safe (dates as ISO text), or None."""
    if table is None or not {"site", "subject", "session"} <= set(table.columns):
        return None
    hit = table.filter((pl.col("site") == site) & (pl.col("subject") == subject) & (pl.col("session") == session))
    if hit.height == 0:
        return None
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in hit.row(0, named=True).items()}


def _report(project: Project, scores: pl.DataFrame, result: StageResult, progress: Progress, session_table: pl.DataFrame | None = None) -> None:
    cat = Catalog.of(project)
    params = project.params.report
    code = stage_code_digest("report")
    sessions = scores.select("site", "subject", "session").unique().sort("site", "subject", "session").rows()
    by_subject: dict[tuple[str, str], list[str]] = {}
    for site, subject, session in sessions:
        by_subject.setdefault((site, subject), []).append(session)
    repaired = 0
    frame_source = FrameSource.of(project)  # key frames: registry and quarantine, read once
    detector = production_detector(project)  # the palsy detector's section, when one is registered
    wanted_patient: set[Path] = set()
    for i, (site, subject, session) in enumerate(sessions, 1):
        progress("reports", i, len(sessions))
        subject_rows = scores.filter((pl.col("site") == site) & (pl.col("subject") == subject)).sort("session", "measure")
        session_row = _session_row(session_table, site, subject, session)
        frame_inputs = frame_source.inputs(site, subject, session)  # key frames: their inputs' fingerprint
        scored = digest(subject_rows.to_dicts(), params.digest(), session, code, session_row)
        fp = digest(scored, frame_inputs.fingerprint)  # the clinician PDF also draws the key frames
        if detector is not None:  # ... and the detector's estimate: redrawn when production moves
            fp = digest(fp, detector.version)
        built: list = []

        def content():
            if not built:
                built.append(build_session_report(scores, site, subject, session, params, session_row))
            return built[0]

        pdf = cat.session_report(site, subject, session, experiment=project.experiment)
        patient_pdf = cat.patient_report(site, subject, session, by_subject[(site, subject)], experiment=project.experiment)
        wanted_patient.add(patient_pdf)
        drawn = 0
        for kind, out, key, draw in (
            ("clinician", pdf, fp, lambda out: render_session_report(
                content(), out, params, frames=frame_source.load(frame_inputs, session_row),
                detector=_detector_block(project, detector, frame_inputs, cat))),
            # the patient page is read off the same SessionReport, so it never contradicts the clinician's
            ("patient", patient_pdf, digest(scored, "patient", patient_pdf.name),  # no frames on the patient page
             lambda out: render_patient_report(build_patient_report(content()), out, params)),
        ):
            stamp = cat.report_stamp(out)
            if unchanged(stamp, key, [out]):
                sha = (read_json(stamp) or {}).get("sha256")
                if project.experiment:  # an experiment's PDFs never enter the store
                    continue
                with session_scope(project.engine) as db:
                    if sha and repo.report_sha256(db, site, subject, session, kind) != sha == sha256_file(out):
                        repo.add_report(db, site, subject, session, cat.data_relative(out), sha, kind=kind)
                        repaired += 1
                continue
            draw(out)
            sha = sha256_file(out)
            checkpoint("report", "rendered")  # test hook: the PDF written, its store row and stamp not
            if project.experiment:  # a DVC experiment's PDFs stay in its workspace, out of the store
                write_stamp(stamp, key, sha256=sha)
                result.outputs.append(str(out))
                drawn += 1
                continue
            with session_scope(project.engine) as db:
                repo.add_report(db, site, subject, session, cat.data_relative(out), sha, kind=kind)
                audit.record(db, site=site, action="report-generated", subject=subject, session=session,
                             entity=cat.data_relative(out), detail={"sha256": sha, "kind": kind})
            write_stamp(stamp, key, sha256=sha)  # last: after the PDF and its store row
            result.outputs.append(str(out))
            drawn += 1
        if drawn:
            result.processed += 1
        else:
            result.skipped += 1
    removed = _drop_stale_patient_reports(cat, wanted_patient)
    if repaired:
        result.notes.append(f"{repaired} report rows written again (their PDFs were current)")
    if removed:
        result.notes.append(f"{removed} patient PDFs renamed (a session of the same month arrived)")


def _detector_block(project: Project, detector: ProductionDetector | None, inputs, cat: Catalog) -> dict | None:
    """The session's palsy-detector block from its rest recording (None without a registered detector)."""
    if detector is None:
        return None
    files = {r["task"]: cat.in_data(r["raw_path"]) for r in inputs.recs}
    return detector.block(project, files, cat.face_model)


def _drop_stale_patient_reports(cat: Catalog, wanted: set[Path]) -> int:
    """Delete patient PDFs (and stamps) in the reported subjects' folders that no session names any more.

    A patient PDF's name carries its ordinal within the month
    (:meth:`Catalog.patient_report`); when an earlier session of the same month arrives
    late, the later session's PDF is written under its new name and the old file goes.
    """
    removed = 0
    for folder in sorted({p.parent for p in wanted}):
        for old in sorted(folder.glob("*_patient.pdf")):
            if old not in wanted and Catalog.is_patient_report(old):
                cat.report_stamp(old).unlink(missing_ok=True)
                old.unlink(missing_ok=True)
                removed += 1
    return removed
