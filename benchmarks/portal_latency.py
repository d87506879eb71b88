"""Request latency of the portal's patient list and patient page at 100 patients per site.

A synthetic store (temporary folder, never kept): ``--sites`` sites with ``--patients``
subjects each, ``--sessions`` sessions per subject, a symmetry index and ``--measures``
other score rows per session, and a clinician and a patient PDF per session. The portal
is served by uvicorn in a thread (:func:`tests.support.servers.serve_app`); a clinician
of the first site signs in and each page is fetched ``--repeat`` times with httpx.
Printed: median and 95th-percentile wall time per page, on SQLite and (when reachable)
PostgreSQL with the request running under the site's role.

Usage::

    python benchmarks/portal_latency.py [--patients 100] [--repeat 30] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from benchmarks._results import save_result  # noqa: E402


def build(root: Path, db_url: str | None, sites: int, patients: int, sessions: int, measures: int) -> object:
    """Fill a project's store with the synthetic cohort; the project."""
    import hashlib

    import numpy as np

    from tests.support.export_cohort import make_project, minimal_pdf

    from palsyflow.stages.catalog import Catalog
    from palsyflow.store import portal, repo
    from palsyflow.store.db import session_scope

    project = make_project(root)
    if db_url:
        text = (root / "params.yaml").read_text().replace(f"url: sqlite:///{root}/data/store/palsyflow.db", f"url: {db_url}")
        (root / "params.yaml").write_text(text)
        project = type(project).load(root)
    cat = Catalog.of(project)
    rng = np.random.default_rng(0)
    pdf = minimal_pdf("synthetic report")
    sha = hashlib.sha256(pdf).hexdigest()
    start = dt.date(2026, 1, 5)
    for s in range(sites):
        site = f"S{s}"
        rows = []
        for p in range(patients):
            subject = f"p{p:03d}"
            for k in range(sessions):
                day = start + dt.timedelta(days=28 * k + p % 7)
                label = day.strftime("%Y%m%d")
                rows.append({"site": site, "subject": subject, "session": label, "session_date": day,
                             "measure": "symmetry_index", "region": "overall", "value": float(60 + 8 * k + rng.normal(0, 3)),
                             "unit": "0-100", "percentile": 10.0})
                rows += [{"site": site, "subject": subject, "session": label, "session_date": day,
                          "measure": f"speech_synthetic_{m}", "region": "speech", "value": float(rng.normal()), "unit": "z"}
                         for m in range(measures)]
        with session_scope(project.engine) as db:
            repo.upsert_scores(db, rows)
        with session_scope(project.engine) as db:
            for p in range(patients):
                for k in range(sessions):
                    day = start + dt.timedelta(days=28 * k + p % 7)
                    for kind in ("clinician", "patient"):
                        path = cat.session_report(site, f"p{p:03d}", day.strftime("%Y%m%d"))
                        if kind == "patient":
                            path = path.with_name(path.stem + "_patient.pdf")
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_bytes(pdf)
                        repo.add_report(db, site, f"p{p:03d}", day.strftime("%Y%m%d"), cat.data_relative(path), sha, kind=kind)
        with session_scope(project.engine) as db:
            portal.add_user(db, f"clin{s}", site, "clinician", "benchmark password")
    return project


def measure(project, repeat: int) -> dict:
    """Median and p95 seconds of the patient list and one patient page."""
    import httpx

    from tests.support.servers import serve_app

    from palsyflow.web.app import create_app

    out = {}
    with serve_app(create_app(project)) as url:
        c = httpx.Client(base_url=url, timeout=120, follow_redirects=True)
        tok = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        assert c.post("/login", data={"username": "clin0", "password": "benchmark password", "csrf_token": tok}).status_code == 200
        for name, path in (("patient_list", "/patients"), ("patient_page", "/patients/p050")):
            r = c.get(path)
            assert r.status_code == 200, (path, r.status_code)
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                r = c.get(path)
                times.append(time.perf_counter() - t)
                assert r.status_code == 200
            times.sort()
            out[name] = {"median_ms": round(1000 * statistics.median(times), 1),
                         "p95_ms": round(1000 * times[int(0.95 * (len(times) - 1))], 1), "bytes": len(r.content)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=2)
    ap.add_argument("--patients", type=int, default=100)
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--measures", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--pg", default=os.environ.get("PALSYFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = ap.parse_args()
    import sqlalchemy as sa

    results = {}
    with tempfile.TemporaryDirectory(prefix="palsyflow-portal-") as tmp:
        t = time.perf_counter()
        project = build(Path(tmp) / "sqlite", None, args.sites, args.patients, args.sessions, args.measures)
        print(f"sqlite store built in {time.perf_counter() - t:.0f} s")
        results["sqlite"] = measure(project, args.repeat)
        print("sqlite:", results["sqlite"])
        schema = f"pfbench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        except Exception as exc:  # noqa: BLE001 - PostgreSQL is optional here
            print(f"PostgreSQL skipped: {exc}")
        else:
            try:
                url = sa.make_url(args.pg).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
                project = build(Path(tmp) / "pg", url, args.sites, args.patients, args.sessions, args.measures)
                results["postgresql"] = measure(project, args.repeat)
                print("postgresql (site role, row-level security):", results["postgresql"])
                project.engine.dispose()
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    save_result("portal_latency", {
        "date": time.strftime("%Y-%m-%d"), "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "load": os.getloadavg(), "sites": args.sites, "patients_per_site": args.patients, "sessions_per_patient": args.sessions,
        "score_rows_per_session": args.measures + 1, "repeat": args.repeat, "results": results,
    })


if __name__ == "__main__":
    main()
