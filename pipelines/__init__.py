"""DVC stage entry points (``dvc.yaml``): each file is ``python -m pipelines.<stage>``.

They parse nothing and decide nothing: they load the project from the working
directory and call the stage function in :mod:`palsyflow.stages`, the same one the
Prefect flow calls.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable

from palsyflow.project import Project


def run(stage: Callable) -> None:
    """Run ``stage(Project.load())`` and print its summary as JSON."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    result = stage(Project.load())
    json.dump(result.as_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")
