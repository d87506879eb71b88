"""One session's report and scores as a FHIR R4 transaction Bundle (JSON).

Per session the bundle holds (HL7 FHIR R4, https://hl7.org/fhir/R4/):

* a ``Patient`` known only by its pseudonym (``identifier`` = system
  ``urn:palsyflow:site:<site>:subject`` + the subject label; no name, birth date or
  other demographics), created conditionally (``ifNoneExist``) so repeated deliveries
  do not duplicate it;
* one ``Observation`` per score-table row: ``valueQuantity`` in the measure's unit,
  expressed in UCUM (https://ucum.org/ucum) where the unit has one (:data:`UCUM`);
  ``interpretation`` from the percentile against healthy sessions (:func:`interpretation`,
  codes of ``v3-ObservationInterpretation``); the patient's weaker side as ``bodySite``
  (SNOMED CT laterality qualifiers :data:`LATERALITY`);
* a ``DiagnosticReport`` whose ``presentedForm`` is the clinician PDF (base64,
  ``application/pdf``, ``size`` in bytes and ``hash`` = base64 of its SHA-1, as
  FHIR's ``Attachment.hash`` defines it) and whose ``result`` lists the observations.
  A bundle with shifted dates carries no PDF (the PDF prints the real session date);
  its ``conclusion`` says so (:data:`PDF_WITHHELD`).

Identifiers are ``urn:uuid`` values derived (UUID version 5) from the site, subject,
session, measure and the PDF's sha256: the same report version always gives the same
bundle. The pure builders take everything they need as arguments.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import math
import uuid
from collections.abc import Mapping, Sequence

#: ``DiagnosticReport.conclusion`` of a bundle whose PDF is withheld (shifted dates).
PDF_WITHHELD = (
    "The clinician PDF is not attached: it prints the real session date, and this bundle's dates are "
    "shifted (export.fhir_shift_dates). The site's report delivery carries the PDF."
)
#: UUID namespace of palsyflow's FHIR resource ids (uuid5 of a DNS-style name).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://palsyflow.invalid/fhir")
#: Code system of palsyflow's measure names (Observation.code).
MEASURE_SYSTEM = "urn:palsyflow:measure"
UCUM_SYSTEM = "http://unitsofmeasure.org"
SNOMED_SYSTEM = "http://snomed.info/sct"
INTERPRETATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
OBSERVATION_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"

#: palsyflow unit (keys of ``measures.registry.UNITS``) -> UCUM code. Scores and grades
#: are the UCUM annotation ``{score}`` (a dimensionless unit with a label); units with no
#: UCUM form (inter-ocular distances, semitones, text, sides) are absent and keep only
#: their palsyflow name in ``valueQuantity.unit``.
UCUM: dict[str, str] = {
    "mm": "mm",
    "cm": "cm",
    "deg": "deg",
    "Hz": "Hz",
    "dB": "dB",
    "s": "s",
    "pct": "%",
    "0-100": "{score}",
    "points": "{score}",
    "grade": "{score}",
    "sb_points": "{score}",
    "fraction": "1",
    "ratio": "1",
    "cosine": "1",
    "count": "{count}",
    "syl/s": "{syllables}/s",
}

#: The patient's side -> SNOMED CT laterality qualifier (code, display):
#: 7771000 |Left (qualifier value)|, 24028007 |Right (qualifier value)|.
LATERALITY: dict[str, tuple[str, str]] = {"left": ("7771000", "Left"), "right": ("24028007", "Right")}

#: v3-ObservationInterpretation codes used (code -> display).
INTERPRETATIONS: dict[str, str] = {"L": "Low", "N": "Normal", "H": "High"}


def _id(*parts: str) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, '/'.join(parts))}"


def interpretation(percentile: float | None, healthy_range_percentile: float) -> str | None:
    """The v3-ObservationInterpretation code of a percentile against healthy sessions.

    ``L`` (below the healthy range) when ``percentile < p``, ``H`` (above it) when
    ``percentile > 100 - p``, ``N`` otherwise, where ``p`` is the report's
    ``healthy_range_percentile`` (the same rule the clinician PDF's summary uses to
    call a value outside the healthy range).

    Parameters
    ----------
    percentile : float or None
        0-100; ``None`` or NaN when the measure has no normative model.
    healthy_range_percentile : float
        ``params.report.healthy_range_percentile``.

    Returns
    -------
    str or None
        ``"L"``, ``"N"``, ``"H"``, or None without a percentile.
    """
    if percentile is None or (isinstance(percentile, float) and math.isnan(percentile)):
        return None
    if percentile < healthy_range_percentile:
        return "L"
    if percentile > 100.0 - healthy_range_percentile:
        return "H"
    return "N"


def _quantity(value: float, unit: str | None) -> dict:
    q: dict = {"value": float(value)}
    if unit:
        q["unit"] = unit
        if unit in UCUM:
            q["system"], q["code"] = UCUM_SYSTEM, UCUM[unit]
    return q


def patient_identifier(site: str, subject: str) -> dict:
    """The pseudonymous identifier of a subject (``system`` per site, ``value`` the label)."""
    return {"system": f"urn:palsyflow:site:{site}:subject", "value": subject}


def session_bundle(
    *,
    site: str,
    subject: str,
    session: str,
    effective: dt.date,
    scores: Sequence[Mapping],
    pdf: bytes | None,
    pdf_sha256: str,
    healthy_range_percentile: float,
    descriptions: Mapping[str, str] | None = None,
    title: str = "palsyflow facial function report",
) -> dict:
    """A transaction Bundle (JSON-ready dict) of one session's report and scores.

    Parameters
    ----------
    site, subject, session : str
        Labels (``session`` as exported: the caller decides whether it is shifted).
    effective : datetime.date
        The session date written as ``effectiveDateTime`` (shifted or not, by the caller).
    scores : sequence of mappings
        Score-table rows of the session (:data:`palsyflow.schemas.SCORE_SCHEMA`); rows
        without a finite ``value`` are skipped.
    pdf : bytes or None
        The clinician PDF; None withholds it (no ``presentedForm``; ``conclusion`` =
        :data:`PDF_WITHHELD`), as a bundle with shifted dates must, since the PDF prints
        the real session date.
    pdf_sha256 : str
        Its sha256 (the store's ``reports.sha256``), part of every resource id.
    healthy_range_percentile : float
        Percentile rule of :func:`interpretation`.
    descriptions : mapping, optional
        Measure name -> display text (the measure registry's description).
    title : str
        ``DiagnosticReport.presentedForm.title`` and ``code.text``.

    Returns
    -------
    dict
        ``resourceType: Bundle``, ``type: transaction``.
    """
    descriptions = descriptions or {}
    when = effective.isoformat()
    patient_url = _id(site, subject)
    ident = patient_identifier(site, subject)
    entries: list[dict] = [
        {
            "fullUrl": patient_url,
            "resource": {"resourceType": "Patient", "identifier": [ident]},
            "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={ident['system']}|{subject}"},
        }
    ]
    results = []
    for row in sorted(scores, key=lambda r: str(r["measure"])):
        value = row.get("value")
        if value is None or not math.isfinite(float(value)):
            continue
        measure = str(row["measure"])
        url = _id(site, subject, session, measure, pdf_sha256)
        obs: dict = {
            "resourceType": "Observation",
            "status": "final",
            "category": [{"coding": [{"system": OBSERVATION_CATEGORY_SYSTEM, "code": "exam", "display": "Exam"}]}],
            "code": {
                "coding": [{"system": MEASURE_SYSTEM, "code": measure, **({"display": descriptions[measure][:250]} if measure in descriptions else {})}],
                "text": measure,
            },
            "subject": {"reference": patient_url},
            "effectiveDateTime": when,
            "valueQuantity": _quantity(value, row.get("unit")),
        }
        code = interpretation(row.get("percentile"), healthy_range_percentile)
        if code is not None:
            obs["interpretation"] = [{"coding": [{"system": INTERPRETATION_SYSTEM, "code": code, "display": INTERPRETATIONS[code]}]}]
        side = row.get("weaker_side")
        if side in LATERALITY:
            sct, display = LATERALITY[side]
            basis = row.get("side_basis")
            why = f" ({basis})" if basis else ""
            obs["bodySite"] = {"coding": [{"system": SNOMED_SYSTEM, "code": sct, "display": display}],
                               "text": f"patient's weaker side: {side}{why}"}
        if row.get("percentile") is not None and math.isfinite(float(row["percentile"])):
            obs["note"] = [{"text": f"percentile {float(row['percentile']):.1f} against healthy sessions"}]
        entries.append({"fullUrl": url, "resource": obs, "request": {"method": "POST", "url": "Observation"}})
        results.append({"reference": url})
    report_url = _id(site, subject, session, "report", pdf_sha256)
    report = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "code": {"coding": [{"system": MEASURE_SYSTEM, "code": "facial-function-report"}], "text": title},
        "subject": {"reference": patient_url},
        "effectiveDateTime": when,
        "result": results,
    }
    if pdf is None:
        report["conclusion"] = PDF_WITHHELD
    else:
        report["presentedForm"] = [
            {
                "contentType": "application/pdf",
                "data": base64.b64encode(pdf).decode("ascii"),
                "size": len(pdf),
                "hash": base64.b64encode(hashlib.sha1(pdf).digest()).decode("ascii"),
                "title": f"{title} sub-{subject} ses-{session}",
            }
        ]
    entries.append({"fullUrl": report_url, "resource": report, "request": {"method": "POST", "url": "DiagnosticReport"}})
    return {
        "resourceType": "Bundle",
        "identifier": {"system": "urn:palsyflow:bundle", "value": report_url.removeprefix("urn:uuid:")},
        "type": "transaction",
        "entry": entries,
    }
