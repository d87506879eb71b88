"""Stage ``report``: the score table -> one clinician PDF per session, recorded in the store.

Reads ``scores_table`` (and, when present, ``validated_sessions``, the session table that was scored, for
the millimetre measures); writes each session's PDF at :meth:`Catalog.session_report`
through :func:`palsyflow.reports.pdf.render_session_report` (the stage passes the path)
and a JSON stamp beside it (:meth:`Catalog.report_stamp`).
"""

from __future__ import annotations

import polars as pl

from palsyflow.atomic import sha256_file
from palsyflow.progress import report as report_progress
from palsyflow.project import Project
from palsyflow.reports.model import build_session_report
from palsyflow.reports.pdf import render_session_report
from palsyflow.stages.catalog import Catalog
from palsyflow.stages.fingerprint import digest, read_json, stage_code_digest, unchanged, write_stamp
from palsyflow.stages.runs import Progress, Run, StageResult, checkpoint
from palsyflow.store import repo
from palsyflow.store.db import session_scope


def report(project: Project, progress: Progress = report_progress) -> StageResult:
    """One PDF per session; a subject's PDFs are redrawn only when their scores change.

    Per session the order of writes is PDF, then the store's ``reports`` row, then the
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
            sessions = pl.read_parquet(sessions_src) if sessions_src.exists() else None
            _report(project, pl.read_parquet(src), result, progress, sessions)
        run.finish(result)
    return result


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
    repaired = 0
    for i, (site, subject, session) in enumerate(sessions, 1):
        progress("reports", i, len(sessions))
        pdf = cat.session_report(site, subject, session, experiment=project.experiment)
        subject_rows = scores.filter((pl.col("site") == site) & (pl.col("subject") == subject)).sort("session", "measure")
        session_row = _session_row(session_table, site, subject, session)
        fp = digest(subject_rows.to_dicts(), params.digest(), session, code, session_row)
        stamp = cat.report_stamp(pdf)
        if unchanged(stamp, fp, [pdf]):
            sha = (read_json(stamp) or {}).get("sha256")
            if project.experiment:  # an experiment's PDFs never enter the store
                result.skipped += 1
                continue
            with session_scope(project.engine) as db:
                if sha and repo.report_sha256(db, site, subject, session) != sha == sha256_file(pdf):
                    repo.add_report(db, site, subject, session, cat.data_relative(pdf), sha)
                    repaired += 1
            result.skipped += 1
            continue
        render_session_report(build_session_report(scores, site, subject, session, params, session_row), pdf, params)
        sha = sha256_file(pdf)
        checkpoint("report", "rendered")  # test hook: the PDF written, its store row and stamp not
        if not project.experiment:  # a DVC experiment's PDFs stay in its workspace, out of the store
            with session_scope(project.engine) as db:
                repo.add_report(db, site, subject, session, cat.data_relative(pdf), sha)
        write_stamp(stamp, fp, sha256=sha)  # last: after the PDF and its store row
        result.processed += 1
        result.outputs.append(str(pdf))
    if repaired:
        result.notes.append(f"{repaired} report rows written again (their PDFs were current)")
