"""``palsyflow export bids`` on a small cohort: the official BIDS validator reports zero errors.

The validator is the PyPI ``bids-validator-deno`` (it runs offline, on its bundled schema);
its JSON output is parsed and every issue of severity ``error`` fails the test, in the raw
dataset and in ``derivatives/palsyflow`` validated as its own dataset.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.export_cohort import ORIGINAL_NAMES, SESSIONS, build_cohort, make_project

from palsyflow.pseudonym import date_shift_days
from palsyflow.stages.export import export_bids

VALIDATOR = shutil.which("bids-validator-deno", path=str(Path(sys.executable).parent)) or shutil.which("bids-validator-deno")
SECRET = bytes(range(32))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import os

    os.environ["PALSYFLOW_SECRET"] = SECRET.hex()
    try:
        tmp = tmp_path_factory.mktemp("bids")
        project = make_project(tmp / "proj")
        build_cohort(project)
        out = tmp / "bids"
        summary = export_bids(project, "A", out)
    finally:
        os.environ.pop("PALSYFLOW_SECRET", None)
    return out, summary


def _validate(root: Path) -> dict:
    proc = subprocess.run([VALIDATOR, str(root), "--format", "json"], capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip(), f"no validator output: {proc.stderr[-2000:]}"
    return json.loads(proc.stdout)


@pytest.mark.skipif(VALIDATOR is None, reason="bids-validator-deno is not installed")
def test_validator_reports_zero_errors(exported):
    out, summary = exported
    assert (summary.subjects, summary.sessions, summary.recordings) == (2, 3, 9)
    # the raw dataset, then the derivative as the dataset it is (bids-validator 3.0.2 does not
    # apply a derivative's own .bidsignore under -r)
    for root in (out, out / "derivatives" / "palsyflow"):
        report = _validate(root)
        errors = [(i["code"], i.get("location")) for i in report["issues"]["issues"] if i["severity"] == "error"]
        assert errors == [], root


@pytest.mark.skipif(VALIDATOR is None, reason="bids-validator-deno is not installed")
def test_validator_catches_a_broken_export(exported, tmp_path):
    """The check can fail: without dataset_description.json the validator reports an error."""
    out, _ = exported
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    (broken / "dataset_description.json").unlink()
    codes = {i["code"] for i in _validate(broken)["issues"]["issues"] if i["severity"] == "error"}
    assert "MISSING_DATASET_DESCRIPTION" in codes


def test_dates_are_shifted_keeping_intervals_and_no_original_name_leaves(exported):
    out, _ = exported
    with (out / "sub-p01" / "sub-p01_sessions.tsv").open() as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    shift = date_shift_days(SECRET.hex(), "A", "p01")
    real = [dt.datetime.strptime(s, "%Y%m%d").date() for s in SESSIONS["p01"]]
    got = [dt.date.fromisoformat(r["acq_time"][:10]) for r in rows]
    assert got == [d + dt.timedelta(days=shift) for d in real]
    assert (got[1] - got[0]) == (real[1] - real[0])
    assert [r["session_id"] for r in rows] == [f"ses-{d:%Y%m%d}" for d in got]
    # the second session's side, kept from the first, names the first by its exported label
    second = out / "derivatives" / "palsyflow" / "sub-p01" / f"ses-{got[1]:%Y%m%d}" / f"sub-p01_ses-{got[1]:%Y%m%d}_scores.tsv"
    with second.open() as f:
        basis = {r["measure"]: r["side_basis"] for r in csv.DictReader(f, delimiter="\t")}
    assert basis["symmetry_index"] == f"earlier-session:{got[0]:%Y%m%d}"
    for p in out.rglob("*"):
        assert not any(s in p.name for s in SESSIONS["p01"] + SESSIONS["c01"]), p
        assert not any(n.split("_")[0] in p.name for n in ORIGINAL_NAMES), p
        if p.is_file() and p.suffix in {".tsv", ".json", ".md", ""}:
            text = p.read_text()
            assert not any(n in text for n in ORIGINAL_NAMES), p
            assert not any(s in text for s in SESSIONS["p01"] + SESSIONS["c01"]), p


def test_exported_recordings_carry_no_visit_date_of_their_own(exported):
    """The raw copies in the data tree hold the visit date in EXIF, creation_time and ICRD;
    the exported recordings hold none of it, in any spelling (issue 13)."""
    out, _ = exported
    spellings = []
    for ses in SESSIONS["p01"] + SESSIONS["c01"]:
        d = dt.datetime.strptime(ses, "%Y%m%d")
        spellings += [d.strftime("%Y:%m:%d").encode(), d.strftime("%Y-%m-%d").encode()]
    media = [p for p in out.rglob("*") if p.suffix in {".jpg", ".mp4", ".wav"}]
    assert len(media) == 9
    for p in media:
        data = p.read_bytes()
        assert not any(s in data for s in spellings), p
