"""FHIR export: every session bundle validates as FHIR R4 (``fhir.resources.R4B``) and says what the scores say.

``fhir.resources`` 8 defaults to R5; its ``R4B`` package is FHIR 4.3, which leaves Patient,
Observation, DiagnosticReport and Bundle as they are in R4 (4.0.1), so it is the R4 check.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os

import pytest
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from tests.support.export_cohort import SESSIONS, build_cohort, make_project

from palsyflow.exports.fhir import LATERALITY, PDF_WITHHELD, UCUM, interpretation, session_bundle
from palsyflow.project import Project
from palsyflow.measures.registry import UNITS
from palsyflow.stages.export import export_fhir, fhir_bundles


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    os.environ["PALSYFLOW_SECRET"] = (b"s" * 32).hex()
    try:
        p = make_project(tmp_path_factory.mktemp("fhir") / "proj")
        build_cohort(p)
        yield p
    finally:
        os.environ.pop("PALSYFLOW_SECRET", None)


def _by_type(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


@pytest.fixture(scope="module")
def unshifted(tmp_path_factory):
    """The same cohort with ``export.fhir_shift_dates: false`` (real dates, the PDF attached)."""
    os.environ["PALSYFLOW_SECRET"] = (b"s" * 32).hex()
    try:
        p = make_project(tmp_path_factory.mktemp("fhir-real") / "proj")
        params = p.root / "params.yaml"
        params.write_text(params.read_text().replace("fhir_shift_dates: true", "fhir_shift_dates: false"))
        p = Project.load(p.root)
        assert p.params.export.fhir_shift_dates is False
        build_cohort(p)
        yield p
    finally:
        os.environ.pop("PALSYFLOW_SECRET", None)


def test_a_bundle_with_real_dates_carries_the_pdf(unshifted, tmp_path):
    files = export_fhir(unshifted, "A", tmp_path / "fhir")
    assert len(files) == sum(len(v) for v in SESSIONS.values())
    for f in files:
        data = json.loads(f.read_text())
        Bundle.model_validate(data)
        (report,) = _by_type(data, "DiagnosticReport")
        form = report["presentedForm"][0]
        pdf = base64.b64decode(form["data"])
        assert pdf.startswith(b"%PDF") and form["size"] == len(pdf) and form["contentType"] == "application/pdf"
        assert form["hash"] == base64.b64encode(hashlib.sha1(pdf).digest()).decode()
        assert "conclusion" not in report


def test_every_bundle_validates_and_a_shifted_one_withholds_the_pdf(project, tmp_path):
    """Was: a bundle with shifted dates carried the clinician PDF, which prints the real session date."""
    files = export_fhir(project, "A", tmp_path / "fhir")
    assert len(files) == sum(len(v) for v in SESSIONS.values())
    for f in files:
        data = json.loads(f.read_text())
        parsed = Bundle.model_validate(data)
        assert parsed.type == "transaction"
        (report,) = _by_type(data, "DiagnosticReport")
        assert "presentedForm" not in report and report["conclusion"] == PDF_WITHHELD
        (patient,) = _by_type(data, "Patient")
        assert set(patient) == {"resourceType", "identifier"}  # the pseudonym only
        assert len(report["result"]) == len(_by_type(data, "Observation")) == 2
        for s in SESSIONS["p01"] + SESSIONS["c01"]:  # dates shifted: no real date anywhere
            assert s not in f.name and s[:4] + "-" + s[4:6] + "-" + s[6:] not in f.read_text()
            assert f"earlier-session:{s}" not in f.read_text()  # a kept side names its session shifted


def test_a_side_kept_from_an_earlier_session_names_it_by_its_shifted_label(project):
    from palsyflow.pseudonym import date_shift_days, shift_label

    first, second = SESSIONS["p01"]
    (sb,) = [b for b in fhir_bundles(project, "A") if b.subject == "p01" and b.session == second]
    sym = {o["code"]["coding"][0]["code"]: o for o in _by_type(sb.bundle, "Observation")}["symmetry_index"]
    shifted = shift_label(first, date_shift_days(os.environ["PALSYFLOW_SECRET"], "A", "p01"))
    assert shifted != first
    assert sym["bodySite"]["text"] == f"patient's weaker side: left (earlier-session:{shifted})"


def test_observation_units_interpretation_and_side(project):
    (sb,) = [b for b in fhir_bundles(project, "A") if b.subject == "p01" and b.session == SESSIONS["p01"][0]]
    obs = {o["code"]["coding"][0]["code"]: o for o in _by_type(sb.bundle, "Observation")}
    sym = obs["symmetry_index"]
    assert sym["valueQuantity"] == {"value": 62.5, "unit": "0-100", "system": "http://unitsofmeasure.org", "code": "{score}"}
    assert sym["interpretation"][0]["coding"][0]["code"] == "L"  # percentile 1 < 5
    assert sym["bodySite"]["coding"][0] == {"system": "http://snomed.info/sct", "code": "7771000", "display": "Left"}
    brow = obs["rest_emotrics_brow_height_weaker"]
    assert brow["valueQuantity"]["code"] == "mm" and brow["interpretation"][0]["coding"][0]["code"] == "H"


def test_interpretation_rule_and_unit_map():
    assert [interpretation(p, 5.0) for p in (None, float("nan"), 4.9, 5.0, 50.0, 95.0, 95.1)] == [None, None, "L", "N", "N", "N", "H"]
    assert set(UCUM) <= set(UNITS)
    assert LATERALITY["right"][0] == "24028007"


def test_validation_rejects_a_broken_bundle():
    b = session_bundle(site="A", subject="p01", session="20190101", effective=__import__("datetime").date(2019, 1, 1),
                       scores=[{"measure": "symmetry_index", "value": 50.0, "unit": "0-100", "percentile": 3.0, "weaker_side": "right"}],
                       pdf=b"%PDF-1.4 x", pdf_sha256="0" * 64, healthy_range_percentile=5.0)
    Bundle.model_validate(b)
    for path, value in ((("effectiveDateTime",), "2019-13-45"), (("valueQuantity", "value"), "lots"), (("colour",), "red")):
        bad = copy.deepcopy(b)
        target = bad["entry"][1]["resource"]
        for k in path[:-1]:
            target = target[k]
        target[path[-1]] = value
        with pytest.raises(ValidationError):
            Bundle.model_validate(bad)
    assert _by_type(b, "Observation")[0]["bodySite"]["coding"][0]["code"] == "24028007"
