"""From sign-in to a signed report on the demo cohort, in Chromium: wall time and clicks.

Needs the demo's store (run ``make demo`` first). The store is copied into a temporary
project whose ``paths.data`` is the demo's data folder (reports, raw tree, landmarks are
read in place, nothing of the demo is changed); a clinician account of site ``north`` is
added to the copy. Chromium (``/usr/bin/chromium``) then: opens ``/login``, types the user
name and password, signs in, follows the first review-queue entry to the patient page,
types a comment and signs the session's report. Printed: seconds from opening the login
page to the signed page, the clicks and the key strokes it took, and the server's
``report-signed`` audit entry.

Usage::

    python benchmarks/portal_signoff.py [--root .]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from benchmarks._results import save_result  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from tests.support.servers import serve_app

    from palsyflow.project import Project
    from palsyflow.store import audit, portal
    from palsyflow.store.db import session_scope
    from palsyflow.web.app import create_app

    demo = Project.load(args.root)
    db_file = Path(demo.db_url.removeprefix("sqlite:///"))
    if not db_file.exists():
        raise SystemExit(f"no demo store at {db_file}: run `make demo` first")
    with tempfile.TemporaryDirectory(prefix="palsyflow-signoff-") as tmp:
        tmp = Path(tmp)
        import sqlite3

        with sqlite3.connect(db_file) as src, sqlite3.connect(tmp / "store.db") as dst:
            src.backup(dst)  # the WAL's pages too
        shutil.copy(demo.secret_path, tmp / "secret.key")
        params = yaml.safe_load((args.root / "params.yaml").read_text())
        params["store"]["url"] = f"sqlite:///{tmp / 'store.db'}"
        for key in ("data", "drops", "models", "face_model"):
            params["paths"][key] = str(demo.path(params["paths"][key]))
        (tmp / "params.yaml").write_text(yaml.safe_dump(params))
        os.environ["PALSYFLOW_SECRET"] = (tmp / "secret.key").read_text().strip()
        project = Project.load(tmp)
        with session_scope(project.engine) as db:
            portal.add_user(db, "drnorth", "north", "clinician", "demo passphrase")
        clicks = keys = 0
        with serve_app(create_app(project)) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page()
            t0 = time.perf_counter()
            page.goto(f"{url}/login")
            page.fill("#username", "drnorth"); keys += len("drnorth")  # noqa: E702
            page.fill("#password", "demo passphrase"); keys += len("demo passphrase")  # noqa: E702
            page.click("button[type=submit]"); clicks += 1  # noqa: E702
            page.wait_for_url(f"{url}/queue")
            first = page.locator("tbody tr td:first-child a").first
            target = first.get_attribute("href")
            first.click(); clicks += 1  # noqa: E702
            page.wait_for_load_state()
            session = target.split("#ses-")[1]
            page.fill(f"#comment-{session}", "reviewed"); keys += len("reviewed")  # noqa: E702
            page.click(f"#ses-{session} form.sign button"); clicks += 1  # noqa: E702
            page.wait_for_selector(f"#ses-{session} p.signed")
            seconds = time.perf_counter() - t0
            browser.close()
        with session_scope(project.engine) as db:
            signed = [e for e in audit.events(db, site="north", action="report-signed")]
        print(f"login to signed report: {seconds:.1f} s, {clicks} clicks, {keys} key strokes; "
              f"audit: {[(e.subject, e.session, e.actor) for e in signed]}")
        save_result("portal_signoff", {
            "date": time.strftime("%Y-%m-%d"), "load": os.getloadavg(), "seconds": round(seconds, 2), "clicks": clicks,
            "key_strokes": keys, "signed": [(e.subject, e.session) for e in signed], "queue_entry": target,
        })


if __name__ == "__main__":
    main()
