"""The nightly deployment: ``palsyflow serve`` runs it on a cron schedule.

``serve`` keeps a long-lived process that polls the Prefect API for scheduled runs;
point ``PREFECT_API_URL`` at the site's Prefect server (see ``infra/README.md``). The
cron and its time zone come from ``params.yaml`` (``schedule.cron``,
``schedule.timezone``, UTC unless set) or the CLI options that override them.
"""

from __future__ import annotations

from flows.nightly import nightly

DEPLOYMENT_NAME = "nightly-cohort"
DEFAULT_CRON = "0 2 * * *"  # 02:00 every night
DEFAULT_TIMEZONE = "UTC"


def deployment(root: str, cron: str = DEFAULT_CRON, site: str | None = None, timezone: str = DEFAULT_TIMEZONE):
    """The Prefect deployment object for the nightly flow (not yet registered).

    Parameters
    ----------
    root : str
        Project folder passed to every run.
    cron : str
        Five-field cron expression, evaluated in ``timezone`` (so "0 2 * * *" in
        Europe/Berlin is 02:00 local time, summer and winter).
    site : str, optional
        Only this site's drop.
    timezone : str
        IANA time zone name.
    """
    from prefect.schedules import Cron

    return nightly.to_deployment(
        name=DEPLOYMENT_NAME,
        schedule=Cron(cron, timezone=timezone),
        parameters={"root": root, "site": site},
        description="Nightly palsyflow cohort run: ingest -> landmarks -> features -> validate -> train -> score -> report",
        tags=["palsyflow", "nightly"],
    )


def serve(root: str, cron: str = DEFAULT_CRON, site: str | None = None, timezone: str = DEFAULT_TIMEZONE) -> None:
    """Register the deployment and serve scheduled runs until interrupted.

    At most one run at a time (``limit=1``): a night that overruns delays the next one
    rather than colliding with it on the data root's run lock.
    """
    from prefect import serve as prefect_serve

    prefect_serve(deployment(root, cron, site, timezone), limit=1)
