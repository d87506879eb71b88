"""``palsyflow export bids|fhir``: one site's store rows and files -> a BIDS dataset or FHIR bundles.

Gathers what :mod:`palsyflow.exports.bids` and :mod:`palsyflow.exports.fhir` write
(the store's rows, the raw files and derivatives the catalog names) and hands it over;
the date offset of each subject comes from :func:`palsyflow.pseudonym.date_shift_days`
keyed by the installation secret (:attr:`palsyflow.project.Project.secret`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from palsyflow import __version__
from palsyflow.atomic import atomic_write_bytes, atomic_write_text
from palsyflow.exports.bids import BidsRecording, BidsSession, BidsSubject, BidsSummary, write_bids
from palsyflow.exports.fhir import session_bundle
from palsyflow.measures.registry import SCORE_MEASURES
from palsyflow.paths import RecordingPath, check_label, session_key
from palsyflow.project import Project
from palsyflow.measures.symmetry import relabel_basis
from palsyflow.pseudonym import date_shift_days, shift_date, shift_label
from palsyflow.stages.catalog import Catalog
from palsyflow.store import audit, repo
from palsyflow.store.db import session_scope


def _generated_by(project: Project) -> dict:
    return {"Name": "palsyflow", "Version": __version__, "CodeURL": "https://github.com/palsyflow/palsyflow"}


def export_bids(project: Project, site: str, out: Path) -> BidsSummary:
    """Write site ``site`` as a BIDS dataset under ``out`` (:func:`palsyflow.exports.bids.write_bids`).

    Raises
    ------
    palsyflow.store.repo.NotFound
        If the store holds no recording of ``site``.
    """
    check_label("site", site)
    cat = Catalog.of(project)
    secret = project.secret
    with session_scope(project.engine) as db:
        recordings = repo.list_recordings(db, site)
        if not recordings:
            raise repo.NotFound(f"the store holds no recording of site {site!r}")
        media = repo.recording_media(db, site)
        scores = repo.site_scores(db, site)
        audit.record(db, site=site, action="export", detail={"format": "bids"})
    by_session: dict[tuple[str, str], list] = {}
    for r in recordings:
        by_session.setdefault((r.subject, r.session), []).append(r)
    score_rows: dict[tuple[str, str], list[dict]] = {}
    for s in scores:
        score_rows.setdefault((s["subject"], s["session"]), []).append(s)
    subjects: dict[str, dict] = {}
    for (sub, ses), recs in sorted(by_session.items()):
        first = recs[0]
        bids_recs = []
        for r in recs:
            ext = PurePosixPath(r.raw_path).suffix.lower()
            rp = RecordingPath.from_task(site, sub, ses, r.task, kind=r.kind, extension=ext)
            lm = cat.landmark_files(rp)
            m = {k: v for k, v in media.get((sub, ses, r.task), {}).items() if v is not None and k != "size_bytes"}
            bids_recs.append(
                BidsRecording(rp.task, r.kind, cat.in_data(r.raw_path), ext, r.task, m, {"landmarks": lm.points, "quality": lm.quality})
            )
        entry = subjects.setdefault(sub, {"healthy": first.healthy, "simulated": first.simulated, "sessions": []})
        entry["sessions"].append(BidsSession(first.session_date, first.hb_grade, bids_recs, score_rows.get((sub, ses), [])))
    cohort = [
        BidsSubject(sub, e["healthy"], e["simulated"], date_shift_days(secret, site, sub), e["sessions"])
        for sub, e in sorted(subjects.items())
    ]
    return write_bids(Path(out), site, cohort, generated_by=_generated_by(project))


@dataclass(frozen=True)
class SessionBundle:
    """One session's FHIR bundle and the report version it carries."""

    site: str
    subject: str
    session: str  # the store's label (the real date)
    label: str  # the label written (shifted when params.export.fhir_shift_dates)
    sha256: str
    bundle: dict

    @property
    def file_name(self) -> str:
        """``<session key>_<sha12>.fhir.json`` with the written label: pseudonymous, no real date when shifted."""
        return f"{session_key(self.site, self.subject, self.label)}_{self.sha256[:12]}.fhir.json"


def fhir_bundles(project: Project, site: str, only: set[tuple[str, str]] | None = None) -> list[SessionBundle]:
    """Build one transaction bundle per reported session of ``site`` (:func:`palsyflow.exports.fhir.session_bundle`).

    With ``export.fhir_shift_dates`` the dates are shifted per subject (as the BIDS
    export's), a kept side's earlier session is named by its shifted label, and the
    clinician PDF is withheld (it prints the real session date).

    Parameters
    ----------
    only : set of (subject, session), optional
        Only these sessions.

    Raises
    ------
    FileNotFoundError
        If a report's PDF is missing.
    """
    check_label("site", site)
    cat = Catalog.of(project)
    shift = project.params.export.fhir_shift_dates
    secret = project.secret if shift else b""
    descriptions = {m.name: m.description for m in SCORE_MEASURES}
    with session_scope(project.engine) as db:
        reports = repo.site_reports(db, site)
        scores = repo.site_scores(db, site)
    rows: dict[tuple[str, str], list[dict]] = {}
    for s in scores:
        rows.setdefault((s["subject"], s["session"]), []).append(s)
    out = []
    for rep in reports:
        if only is not None and (rep.subject, rep.session) not in only:
            continue
        day = rep.session_date
        label = rep.session
        if shift:
            day = shift_date(day, date_shift_days(secret, site, rep.subject))
            label = day.strftime("%Y%m%d")
        pdf = cat.in_data(rep.path).read_bytes()  # read even when withheld: a missing PDF is an error
        session_scores = rows.get((rep.subject, rep.session), [])
        if shift:  # an earlier session named in side_basis by its shifted label, as the session itself
            offset = date_shift_days(secret, site, rep.subject)
            session_scores = [{**r, "side_basis": relabel_basis(r.get("side_basis"), lambda ref, o=offset: shift_label(ref, o))}
                              for r in session_scores]
        bundle = session_bundle(
            site=site,
            subject=rep.subject,
            session=label,
            effective=day,
            scores=session_scores,
            pdf=None if shift else pdf,  # the PDF prints the real session date
            pdf_sha256=rep.sha256,
            healthy_range_percentile=project.params.report.healthy_range_percentile,
            descriptions=descriptions,
            title=project.params.report.title,
        )
        out.append(SessionBundle(site, rep.subject, rep.session, label, rep.sha256, bundle))
    return out


def export_fhir(project: Project, site: str, out: Path) -> list[Path]:
    """Write one FHIR bundle per reported session of ``site`` under ``out``; the files written."""
    out = Path(out)
    written = []
    for sb in fhir_bundles(project, site):
        written.append(atomic_write_text(out / sb.file_name, json.dumps(sb.bundle, indent=1) + "\n"))
    with session_scope(project.engine) as db:
        audit.record(db, site=site, action="export", detail={"format": "fhir", "bundles": len(written)})
    return written
