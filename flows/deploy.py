"""The nightly deployment: ``palsyflow serve`` runs it on a cron schedule.

``serve`` keeps a long-lived process that polls the Prefect API for scheduled runs;
point ``PREFECT_API_URL`` at the site's Prefect server (see ``infra/README.md``).
"""

from __future__ import annotations

from flows.nightly import nightly

DEPLOYMENT_NAME = "nightly-cohort"
DEFAULT_CRON = "0 2 * * *"  # 02:00 every night, server time zone


def deployment(root: str, cron: str = DEFAULT_CRON, site: str | None = None):
    """The Prefect deployment object for the nightly flow (not yet registered)."""
    return nightly.to_deployment(
        name=DEPLOYMENT_NAME,
        cron=cron,
        parameters={"root": root, "site": site},
        description="Nightly palsyflow cohort run: ingest -> landmarks -> features -> validate -> train -> score -> report",
        tags=["palsyflow", "nightly"],
    )


def serve(root: str, cron: str = DEFAULT_CRON, site: str | None = None) -> None:
    """Register the deployment and serve scheduled runs until interrupted."""
    from prefect import serve as prefect_serve

    prefect_serve(deployment(root, cron, site))
