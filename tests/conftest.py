"""Shared fixtures. Real recordings come from ../shared/data, which a user's fresh
clone does not have: tests that need them skip with a clear message."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Library settings, fixed before anything imports prefect, great_expectations or dvc.
# Tests get their own PREFECT_HOME so they never touch a user's Prefect state.
_TEST_HOME = Path(tempfile.mkdtemp(prefix="palsyflow-tests-"))
for _key, _value in {
    "PREFECT_HOME": str(_TEST_HOME / "prefect"),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "GX_ANALYTICS_ENABLED": "false",
    "DVC_NO_ANALYTICS": "1",
    "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba"),
    "MPLCONFIGDIR": str(_TEST_HOME / "matplotlib"),
    "GLOG_minloglevel": "2",
}.items():
    os.environ[_key] = _value
SHARED_DATA = Path(os.environ.get("PALSYFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
FACE_MODEL = ROOT / "models" / "face_landmarker.task"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real recordings); skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real recordings not available: {SHARED_DATA} is absent (see ../shared/data/README.md)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def face_model() -> Path:
    """The MediaPipe face model fetched by ``make install``; skips when absent."""
    if not FACE_MODEL.is_file():
        pytest.skip(f"{FACE_MODEL} is absent: run `make install` to fetch it")
    return FACE_MODEL
