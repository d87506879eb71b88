"""Browser fixtures: Debian's Chromium driven by Playwright, a served portal, axe-core, screenshots.

Chromium is ``/usr/bin/chromium`` (``make browser``; CI installs it). Without it the
tests skip, except under ``PALSYFLOW_REQUIRE_BROWSER=1`` (CI), where they fail. Each
page a test looks at is checked with axe-core (vendored, ``vendor/README.md``): no
``serious`` or ``critical`` violation; and saved as a screenshot under
``artifacts/browser/`` (CI keeps that folder as the tests' artifacts).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.support.portal_cohort import PASSWORD, build_portal_project
from tests.support.servers import serve_app

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("PALSYFLOW_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(__file__).resolve().parent / "vendor" / "axe-4.14.1.min.js"
ARTIFACTS = ROOT / "artifacts" / "browser"


def _need_browser() -> None:
    if not CHROMIUM.exists():
        msg = f"Chromium not found at {CHROMIUM} (make browser)"
        if os.environ.get("PALSYFLOW_REQUIRE_BROWSER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def playwright_instance():
    # module scope: Playwright's sync API keeps an asyncio loop running in the main thread
    # while it lives, and libraries with sync/async dual APIs (Prefect) then return coroutines
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def launch(playwright_instance, *args: str):
    """Chromium with the given extra command-line switches (headless, no sandbox as root)."""
    return playwright_instance.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", *args])


@pytest.fixture(scope="module")
def browser(playwright_instance):
    b = launch(playwright_instance)
    yield b
    b.close()


@pytest.fixture
def portal(tmp_path):
    """(project, base URL) of the two-site portal of :mod:`tests.support.portal_cohort`."""
    from palsyflow.web.app import create_app

    project = build_portal_project(tmp_path / "proj")
    with serve_app(create_app(project)) as url:
        yield project, url


@pytest.fixture
def page(browser):
    # bypass_csp: axe-core is injected as an inline script, which the portal's CSP forbids
    ctx = browser.new_context(bypass_csp=True, viewport={"width": 1200, "height": 900})
    pg = ctx.new_page()
    yield pg
    ctx.close()


def look(page, name: str) -> list[dict]:
    """Screenshot the page as ``artifacts/browser/<name>.png`` and return axe-core's serious/critical violations."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_-]', '_', name)}.png"), full_page=True)
    page.add_script_tag(content=AXE.read_text())
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def sign_in(page, url: str, user: str, password: str = PASSWORD) -> None:
    """Sign in through the login form."""
    page.goto(f"{url}/login")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
