"""Property-based tests (hypothesis) of the label rule and the manifest parser.

* any string that is not already a label is refused, never rewritten into one;
* a valid label comes back unchanged;
* any valid manifest row, written by a CSV writer, reads back to the same values;
* arbitrary bytes as ``manifest.csv`` never crash the parser: it returns rows and
  problems or raises :class:`ManifestError`, nothing else.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from palsyflow.config import IngestParams
from palsyflow.conventions import TASKS
from palsyflow.ingest.identity import content_conflict, session_order_problem, subject_fact_conflicts
from palsyflow.ingest.manifest import ManifestError, parse_subject, read_manifest
from palsyflow.paths import InvalidLabelError, check_label

PARAMS = IngestParams()
TODAY = date(2026, 12, 2)
LABEL = re.compile(r"[A-Za-z0-9]+")
labels = st.from_regex(r"\A[A-Za-z0-9]{1,12}\Z")
not_labels = st.text(max_size=20).filter(lambda s: not LABEL.fullmatch(s))


@given(not_labels)
def test_a_non_label_is_refused_never_rewritten(value):
    with pytest.raises(InvalidLabelError, match="BIDS label rule"):
        check_label("subject", value)


@given(st.text(max_size=20).filter(lambda s: not LABEL.fullmatch(s.strip())))
def test_a_non_label_subject_cell_is_refused(value):
    with pytest.raises(ValueError, match="empty subject|is not a valid label"):
        parse_subject(value)


@given(labels, st.sampled_from(["", " ", "  "]), st.sampled_from(["", " ", "\t"]))
def test_a_label_comes_back_unchanged(label, before, after):
    assert check_label("subject", label) == label
    assert parse_subject(before + label + after) == label  # a cell's surrounding spaces are not part of it


flags = st.sampled_from([None, True, False])
rows = st.fixed_dictionaries(
    {
        "subject": labels,
        "session_date": st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
        "task": st.sampled_from(TASKS),
        "file": st.sampled_from(["a.mp4", "sub dir/b c.jpg", "x,y.wav"]),
        "hb_grade": st.sampled_from([None, 1, 2, 3, 4, 5, 6]),
        "healthy": flags,
        "simulated": flags,
        "notes": st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=30),
    }
)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _one_flag_per_subject(rs: list[dict]) -> bool:
    seen: dict[tuple[str, str], bool] = {}
    for r in rs:
        for flag in ("healthy", "simulated"):
            if r[flag] is not None and seen.setdefault((r["subject"], flag), r[flag]) != r[flag]:
                return False
    return True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rows, min_size=1, max_size=6).filter(_one_flag_per_subject))
def test_valid_rows_round_trip(rs):
    with tempfile.TemporaryDirectory() as tmp:
        drop = Path(tmp)
        for name in ("a.mp4", "sub dir/b c.jpg", "x,y.wav"):
            (drop / name).parent.mkdir(parents=True, exist_ok=True)
            (drop / name).write_bytes(b"x")
        buf = io.StringIO(newline="")
        w = csv.writer(buf, lineterminator="\n")
        columns = ["subject", "session_date", "task", "file", "hb_grade", "healthy", "simulated", "notes"]
        w.writerow(columns)
        for r in rs:
            w.writerow([_cell(r[k]) if k != "session_date" else r[k].isoformat() for k in columns])
        (drop / "manifest.csv").write_text(buf.getvalue(), encoding="utf-8")
        got, problems = read_manifest(drop, PARAMS, today=TODAY)
    assert problems == []
    assert len(got) == len(rs)
    for r, g in zip(rs, got):
        assert (g.subject, g.session_date, g.task, g.hb_grade, g.healthy, g.simulated) == (
            r["subject"], r["session_date"], r["task"], r["hb_grade"], r["healthy"], r["simulated"]
        )
        assert g.file == drop / r["file"] and g.session == r["session_date"].strftime("%Y%m%d")
        assert g.notes == (r["notes"].strip() or None)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=400), st.text(max_size=300).map(lambda t: ("subject,session_date,task,file\n" + t).encode())))
def test_arbitrary_bytes_never_crash_the_parser(data):
    with tempfile.TemporaryDirectory() as tmp:
        drop = Path(tmp)
        (drop / "manifest.csv").write_bytes(data)
        try:
            got, problems = read_manifest(drop, PARAMS, today=TODAY)
        except ManifestError as exc:
            assert str(exc).startswith(str(drop / "manifest.csv") + ": ") and "\n" not in str(exc)
            return
    for p in problems:
        assert p.reason.startswith(f"manifest.csv line {p.line}: ")
    for r in got:  # whatever is accepted has valid labels and plausible dates
        assert LABEL.fullmatch(r.subject) and date(1900, 1, 1) <= r.session_date <= TODAY


@given(labels, flags, flags, flags, st.booleans())
def test_a_flag_conflict_names_both_values(subject, healthy, simulated, stored_healthy, stored_simulated):
    got = subject_fact_conflicts(
        subject, {"healthy": healthy, "simulated": simulated}, {"healthy": stored_healthy, "simulated": stored_simulated}
    )
    expect = int(healthy is not None and stored_healthy is not None and healthy != stored_healthy) + int(
        simulated is not None and simulated != stored_simulated
    )
    assert len(got) == expect
    for reason in got:
        assert re.search(r"(healthy|simulated)=(yes|no) here but the store already holds it as \1=(yes|no)", reason)


@given(labels, labels, labels, st.lists(st.tuples(labels, labels, labels, st.sampled_from(TASKS)), max_size=4))
def test_content_conflicts_never_reveal_another_sites_labels(site, subject, session, uses):
    reasons = content_conflict(site, subject, session, "ab" * 32, uses)
    others = [u for u in uses if (u[0], u[1], u[2]) != (site, subject, session)]
    assert bool(reasons) == bool(others)
    if reasons and not any(u[0] == site for u in others):
        assert reasons[0].endswith(
            "already registered under another site; one recording belongs to one subject and session: "
            "check the row's subject and date"
        ) or "another site" in reasons[0]
        assert not any(f"subject {u[1]}," in reasons[0] for u in others)


@given(st.dates(), st.lists(st.dates(), min_size=1, max_size=4), st.booleans())
def test_only_a_new_earlier_session_is_refused(day, stored_days, allow):
    stored = [(d.strftime("%Y%m%d"), d) for d in stored_days]
    label = day.strftime("%Y%m%d")
    got = session_order_problem("N01", label, day, stored, allow)
    refused = not allow and label not in {s for s, _ in stored} and day < max(stored_days)
    assert bool(got) == refused


@given(labels, st.lists(labels, max_size=5))
def test_case_variants_are_refused_exact_labels_not(subject, known):
    from palsyflow.ingest.identity import case_variant_problem

    got = case_variant_problem(subject, known)
    assert bool(got) == (subject not in known and any(k.lower() == subject.lower() for k in known))
