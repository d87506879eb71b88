"""A two-site reported store for the portal's tests: site A's cohort of :mod:`tests.support.export_cohort`,
a subject ``b07`` that only site B has (with a report), and one account per role.

Passwords are :data:`PASSWORD` for every account; user names ``aclin`` (clinician, A),
``adm`` (data manager, A), ``bclin`` (clinician, B).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.support.export_cohort import build_cohort, make_project, write_report

from palsyflow.project import Project
from palsyflow.store import portal, repo
from palsyflow.store.db import session_scope

PASSWORD = "correct horse battery"
USERS = {"aclin": ("A", "clinician"), "adm": ("A", "data_manager"), "bclin": ("B", "clinician")}


def build_portal_project(tmp: Path, extra_params: str = "", db_url: str | None = None) -> Project:
    """The project, its store filled (see the module docstring)."""
    extra = extra_params
    project = make_project(tmp, extra)
    if db_url:
        text = (tmp / "params.yaml").read_text()
        text = text.replace(f"url: sqlite:///{tmp}/data/store/palsyflow.db", f"url: {db_url}")
        (tmp / "params.yaml").write_text(text)
        project = Project.load(tmp)
    build_cohort(project, "A")
    with session_scope(project.engine) as db:
        sub = repo.get_or_create_subject(db, "B", "b07", healthy=False)
        repo.get_or_create_session(db, sub, "20260201", hb_grade=4)
        repo.upsert_scores(db, [{
            "site": "B", "subject": "b07", "session": "20260201", "session_date": dt.date(2026, 2, 1),
            "measure": "symmetry_index", "region": "overall", "value": 40.0, "unit": "0-100", "z": -4.0,
            "percentile": 1.0, "weaker_side": "right", "side_basis": "healthy-range", "change_since_first": 0.0}])
        # a later session whose right side is the first session's (measures.symmetry.carry_sides)
        repo.get_or_create_session(db, sub, "20260301", hb_grade=3)
        repo.upsert_scores(db, [{
            "site": "B", "subject": "b07", "session": "20260301", "session_date": dt.date(2026, 3, 1),
            "measure": "symmetry_index", "region": "overall", "value": 80.0, "unit": "0-100", "z": -1.5,
            "percentile": 8.0, "weaker_side": "right", "side_basis": "earlier-session:20260201",
            "change_since_first": 40.0}])
    write_report(project, "B", "b07", "20260201", "report sub-b07 of site B")
    with session_scope(project.engine) as db:
        for name, (site, role) in USERS.items():
            portal.add_user(db, name, site, role, PASSWORD)
    return project
