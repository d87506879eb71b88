"""Domain code is importable without the orchestration and tracking tools."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import palsyflow

EDGE_MODULES = {"palsyflow.tracking", "palsyflow.cli"}  # the only places allowed to reach for them


def _domain_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(palsyflow.__path__, "palsyflow."):
        if info.name in EDGE_MODULES or ".migrations" in info.name:
            continue
        names.append(info.name)
    return names


def test_domain_modules_do_not_import_prefect_dvc_or_mlflow():
    mods = _domain_modules()
    assert "palsyflow.stages" in mods and "palsyflow.features.table" in mods
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "bad = sorted({k.split('.')[0] for k in sys.modules} & {'prefect', 'dvc', 'mlflow'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"domain code imported {out}"
