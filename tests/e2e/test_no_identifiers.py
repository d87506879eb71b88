"""No uploaded file name reaches the store, the logs, ``status`` or a file name under data/.

A drop whose files carry a patient's name, birth date and record number is ingested
(one good GRID clip, one file that is no recording, one row naming a missing file);
then every table of the store is dumped, the captured logs and the command output are
read, and every path under the data root is listed: none may hold the identifiers.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from palsyflow.cli import app
from palsyflow.project import Project
from palsyflow.pseudonym import keyed_name
from palsyflow.store.models import TABLES

GOOD = "Smith_John_DOB1970-01-01_MRN4711.mpg"
BAD = "Smith_Jane_MRN4711_consent.mp4"
MISSING = "Smith_Joe_MRN4711.mpg"
MARKERS = ("Smith", "MRN4711", "1970-01-01", "DOB")


@pytest.mark.shared_data
def test_identifying_file_names_appear_nowhere(tmp_path, shared_data, caplog):
    clips = sorted((shared_data / "talking-faces" / "grid").glob("*.mpg"))
    if not clips:
        pytest.skip("needs a GRID clip")
    (tmp_path / "params.yaml").write_text("paths:\n  data: data\n  drops: drops\n")
    drop = tmp_path / "drops" / "north"
    drop.mkdir(parents=True)
    shutil.copyfile(clips[0], drop / GOOD)
    (drop / BAD).write_bytes(b"scanned consent form, not a video")
    (drop / "manifest.csv").write_text(
        "subject,session_date,task,file\n"
        f"P01,2026-01-14,rest,{GOOD}\n"
        f"P01,2026-01-14,smile,{BAD}\n"
        f"P01,2026-01-14,brow_raise,{MISSING}\n"
    )
    runner = CliRunner()
    with caplog.at_level(logging.DEBUG):
        ing = runner.invoke(app, ["ingest", "north", str(drop), "--root", str(tmp_path)])
        st = runner.invoke(app, ["status", "--root", str(tmp_path)])
        sj = runner.invoke(app, ["status", "--json", "--root", str(tmp_path)])
    assert ing.exit_code == 0, ing.output
    assert st.exit_code == 0 and sj.exit_code == 0
    summary = json.loads(sj.output)
    assert summary["sites"]["north"]["recordings"] == 1 and summary["sites"]["north"]["quarantined"] == 2

    project = Project.load(tmp_path)
    secret = project.secret
    assert (project.secret_path.stat().st_mode & 0o777) == 0o600
    # the refusals name the manifest line and the keyed hash instead
    said = " ".join(ing.output.split())  # the console wraps long lines
    assert f"line 3: {keyed_name(secret, BAD)}: not a photo, video or audio recording" in said
    assert f"line 4: {keyed_name(secret, MISSING)}: file '{keyed_name(secret, MISSING)}' not found" in said

    dumped = []
    with project.engine.connect() as conn:
        for table in TABLES:
            dumped += [repr(tuple(r)) for r in conn.execute(sa.text(f"SELECT * FROM {table}"))]
    assert any(keyed_name(secret, GOOD) in row for row in dumped)
    paths = [os.path.relpath(p, tmp_path) for p in (tmp_path / "data").rglob("*")]
    texts = {
        "store": "\n".join(dumped),
        "logs": caplog.text,
        "ingest output": ing.output,
        "status": st.output + sj.output,
        "file names under data/": "\n".join(paths),
        "quarantine sidecars": "\n".join(p.read_text() for p in (tmp_path / "data").rglob("*.reason.json")),
    }
    registry = tmp_path / "data" / "raw" / "recordings.parquet"
    if registry.exists():
        import polars as pl

        texts["registry"] = pl.read_parquet(registry).write_csv()
    leaks = {where: m for where, text in texts.items() for m in MARKERS if m in text}
    assert leaks == {}, f"identifiers leaked: {leaks}"
    assert texts["quarantine sidecars"] and len(paths) > 3  # there was something to search


def test_keyed_names_and_date_shifts_are_stable_and_keyed():
    from palsyflow.pseudonym import date_shift_days, is_keyed_name, scrub_names

    a, b = "a" * 32, "b" * 32
    assert keyed_name(a, GOOD) == keyed_name(a, f"sub/{GOOD}") != keyed_name(b, GOOD)
    assert keyed_name(a, GOOD).endswith(".mpg") and is_keyed_name(keyed_name(a, GOOD))
    assert "Smith" not in scrub_names(f"line 2: {GOOD}: bad; also {BAD}", [GOOD, BAD], a)
    shifts = {date_shift_days(a, "north", f"P{i:02d}") for i in range(40)}
    assert 0 not in shifts and len(shifts) > 30 and max(map(abs, shifts)) <= 365
    assert date_shift_days(a, "north", "P01") == date_shift_days(a, "north", "P01") != date_shift_days(b, "north", "P01")
    with pytest.raises(ValueError, match="shorter than 16"):
        keyed_name("short", GOOD)
