"""DVC stage entry points (``dvc.yaml``): each file is ``python -m pipelines.<stage>``.

They parse nothing and decide nothing: they load the project from the working
directory and call the stage function in :mod:`palsyflow.stages`, the same one the
Prefect flow calls, holding the data root's run lock (a second run refuses to start).
A failure prints one sentence, ``palsyflow: error: ...``, and exits with status 1 (the
traceback too when ``PALSYFLOW_DEBUG`` is set).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Callable

from palsyflow import stages
from palsyflow.project import Project


def run(stage: Callable) -> None:
    """Run ``stage(Project.load())`` under the run lock and print its summary as JSON.

    Raises
    ------
    SystemExit
        Status 1 when the stage raised or returned a result with ``error`` (after one
        ``palsyflow: error: ...`` line on stderr).
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    name = getattr(stage, "__name__", "stage")
    project = Project.load()
    try:
        with stages.run_lock(project, command=f"dvc stage {name}"):
            result = stage(project)
    except Exception as exc:  # noqa: BLE001 - one sentence, not a traceback, unless debugging
        if os.environ.get("PALSYFLOW_DEBUG"):
            traceback.print_exc()
        sys.stderr.write(f"palsyflow: error: {stages.describe_error(exc, name, project.db_url)}\n")
        raise SystemExit(1) from None
    json.dump(result.as_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    if result.error:
        sys.stderr.write(f"palsyflow: error: the {name} stage failed: {result.error}\n")
        raise SystemExit(1)
