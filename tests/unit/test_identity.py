"""Identity defects of issue 12, each through ``ingest_drop`` on real clips: every test fails on the old code.

Old behaviour, per test: ``N-01`` merged into ``N01`` (and ``B 29``, ``Ñ30-José``,
``B28/../../x`` rewritten); a conflicting ``healthy`` / ``simulated`` flag ignored; the
same content accepted under two subjects and two sites; a session dated 2099 or before
the subject's stored sessions accepted; an unreadable manifest refused with polars'
words or not at all; a bad site label a traceback.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from palsyflow import stages
from palsyflow.paths import InvalidLabelError
from palsyflow.project import Project
from palsyflow.pseudonym import keyed_name
from palsyflow.stages.ingest import export_registry, ingest, ingest_drop, read_registry
from palsyflow.store import repo
from palsyflow.store.db import session_scope

HEADER = "subject,session_date,task,file,hb_grade,healthy,simulated,notes"


@pytest.fixture()
def clips(shared_data: Path) -> list[Path]:
    found = sorted((shared_data / "talking-faces" / "grid").glob("*.mpg"))
    if len(found) < 3:
        pytest.skip("need three GRID clips")
    return found[:3]


def _project(tmp_path: Path, extra: str = "") -> Project:
    (tmp_path / "params.yaml").write_text("paths:\n  data: data\n  drops: drops\n" + extra)
    return Project.load(tmp_path)


#: keyed hash -> uploaded name of every file the tests' drops name (refusals show only the hash)
_KEYED: dict[str, str] = {}


def _drop(project: Project, site: str, name: str, rows: list[str], files: dict[str, Path]) -> Path:
    import csv

    for fname in [*files, *(r[3] for r in csv.reader(rows) if len(r) > 3)]:
        _KEYED[keyed_name(project.secret, Path(fname).name)] = Path(fname).name
    drop = project.root / name / site
    drop.mkdir(parents=True)
    for fname, src in files.items():
        shutil.copyfile(src, drop / fname)
    (drop / "manifest.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return drop


def _reasons(result) -> list[str]:
    """The refusal sentences, with each keyed hash read back as the name it stands for.

    Fails when a sentence names an uploaded file itself (only its keyed hash may appear).
    """
    out = []
    for f in result.failures:
        reason = f["reason"]
        for token, plain in _KEYED.items():
            assert not re.search(rf"(?<![\w.-]){re.escape(plain)}(?![\w.-])", reason), f"{plain} named in {reason!r}"
            reason = reason.replace(token, plain)
        out.append(reason)
    return out


def _subjects(project: Project) -> dict[tuple[str, str], tuple[bool | None, bool, tuple[str, ...]]]:
    with session_scope(project.engine) as db:
        out = {}
        for s in repo.list_sessions(db):
            h, sim, sessions = out.get((s.site, s.subject), (s.healthy, s.simulated, ()))
            out[(s.site, s.subject)] = (h, sim, sessions + (s.session,))
        return out


@pytest.mark.parametrize("bad", ["N-01", "B 29", "\u00d130-Jos\u00e9", "B28/../../x", "N01?"])
def test_invalid_subject_label_is_refused_not_merged(tmp_path, clips, bad):
    project = _project(tmp_path)
    drop = _drop(
        project,
        "north",
        "d1",
        ["N01,2026-01-14,rest,a.mpg,,yes,no,", f'"{bad}",2026-02-14,rest,b.mpg,4,no,no,HB4 patient'],
        {"a.mpg": clips[0], "b.mpg": clips[1]},
    )
    result = ingest_drop(project, "north", drop)
    assert result.processed == 1 and result.failed == 1
    assert _reasons(result) == [
        f"manifest.csv line 3: b.mpg: subject {bad!r} is not a valid label: only letters A-Z, a-z and digits 0-9 "
        "(BIDS label rule); rename it in the manifest"
    ]
    assert _subjects(project) == {("north", "N01"): (True, False, ("20260114",))}  # N01 alone, one session
    status = stages.status(project)
    assert [f["file"] for f in status["failures"] if f["kind"] == "quarantine"] == [keyed_name(project.secret, "b.mpg")]


def test_conflicting_healthy_flag_in_one_manifest_and_against_the_store(tmp_path, clips):
    project = _project(tmp_path)
    d1 = _drop(
        project,
        "north",
        "d1",
        ["N01,2026-01-14,rest,a.mpg,,yes,,", "N01,2026-01-20,rest,b.mpg,,no,,"],
        {"a.mpg": clips[0], "b.mpg": clips[1]},
    )
    r1 = ingest_drop(project, "north", d1)
    assert r1.processed == 1
    (reason,) = _reasons(r1)
    assert reason.startswith("manifest.csv line 3: ") and "healthy=no here but healthy=yes on line 2" in reason
    d2 = _drop(project, "north", "d2", ["N01,2026-02-01,rest,c.mpg,3,no,,"], {"c.mpg": clips[2]})
    r2 = ingest_drop(project, "north", d2)
    assert r2.processed == 0
    (reason,) = _reasons(r2)
    assert reason.startswith("manifest.csv line 2: ")
    assert "healthy=no here but the store already holds it as healthy=yes" in reason
    assert _subjects(project) == {("north", "N01"): (True, False, ("20260114",))}


def test_conflicting_simulated_flag_is_refused(tmp_path, clips):
    project = _project(tmp_path)
    d1 = _drop(project, "sim", "d1", ["SIM01,2026-01-14,rest,a.mpg,,no,yes,"], {"a.mpg": clips[0]})
    assert ingest_drop(project, "sim", d1).processed == 1
    d2 = _drop(
        project,
        "sim",
        "d2",
        ["SIM01,2026-02-01,rest,b.mpg,,no,no,", "SIM01,2026-02-02,rest,c.mpg,,no,,"],  # says no / says nothing
        {"b.mpg": clips[1], "c.mpg": clips[2]},
    )
    r2 = ingest_drop(project, "sim", d2)
    assert r2.processed == 1  # line 3 says nothing about simulated: fine
    (reason,) = _reasons(r2)
    assert "simulated=no here but the store already holds it as simulated=yes" in reason
    assert _subjects(project)[("sim", "SIM01")] == (False, True, ("20260114", "20260202"))


def test_same_content_under_two_subjects_or_sites_is_refused(tmp_path, clips):
    project = _project(tmp_path)
    north = _drop(
        project,
        "north",
        "d1",
        [
            "N01,2026-01-14,rest,a.mpg,,yes,,",
            "N01,2026-01-14,speech,a.mpg,,yes,,",  # one file, two tasks of one session: legal
            "N02,2026-01-15,rest,a copy.mpg,,yes,,",  # same bytes, another subject
            "N01,2026-01-16,rest,a again.mpg,,yes,,",  # same bytes, another session of the same subject
        ],
        {"a.mpg": clips[0], "a copy.mpg": clips[0], "a again.mpg": clips[0]},
    )
    r = ingest_drop(project, "north", north)
    assert r.processed == 2
    reasons = _reasons(r)
    assert len(reasons) == 2
    assert reasons[0].startswith("manifest.csv line 4: a copy.mpg: the same recording (sha256 ")
    assert "already registered under subject N01, session 20260114 (task rest) of this site" in reasons[0]
    assert reasons[1].startswith("manifest.csv line 5: ") and "subject N01, session 20260114" in reasons[1]

    south = _drop(project, "south", "d2", ["S01,2026-01-20,rest,s.mpg,,yes,,"], {"s.mpg": clips[0]})
    rs = ingest_drop(project, "south", south)
    assert rs.processed == 0
    (reason,) = _reasons(rs)
    assert "already registered under another site" in reason
    assert "N01" not in reason and "north" not in reason  # another site's labels stay hidden
    with session_scope(project.engine) as db:
        assert [(r.subject, r.task) for r in repo.list_recordings(db)] == [("N01", "rest"), ("N01", "speech")]


def test_future_and_implausibly_old_dates_are_refused(tmp_path, clips):
    project = _project(tmp_path)
    drop = _drop(
        project,
        "north",
        "d1",
        ["N01,2099-01-01,rest,a.mpg,,yes,,", "N02,1899-12-31,rest,b.mpg,,yes,,"],
        {"a.mpg": clips[0], "b.mpg": clips[1]},
    )
    r = ingest_drop(project, "north", drop)
    assert r.processed == 0
    future, old = _reasons(r)
    assert future.startswith("manifest.csv line 2: a.mpg: session_date 2099-01-01 is in the future (today is ")
    assert old.startswith("manifest.csv line 3: b.mpg: session_date 1899-12-31 is implausibly old")


@pytest.mark.parametrize("allow", [False, True])
def test_session_before_the_latest_stored_one(tmp_path, clips, allow):
    project = _project(tmp_path, f"ingest:\n  allow_earlier_sessions: {str(allow).lower()}\n")
    d1 = _drop(project, "north", "d1", ["N01,2026-03-01,rest,a.mpg,,yes,,"], {"a.mpg": clips[0]})
    assert ingest_drop(project, "north", d1).processed == 1
    d2 = _drop(
        project,
        "north",
        "d2",
        ["N01,2026-03-01,speech,a.mpg,,yes,,", "N01,2026-01-10,rest,b.mpg,,yes,,"],  # existing session: fine
        {"a.mpg": clips[0], "b.mpg": clips[1]},
    )
    r = ingest_drop(project, "north", d2)
    if allow:
        assert r.failed == 0 and r.processed == 2
        assert _subjects(project)[("north", "N01")][2] == ("20260110", "20260301")
    else:
        assert r.processed == 1
        (reason,) = _reasons(r)
        assert reason == (
            "manifest.csv line 3: b.mpg: session 20260110 of subject N01 is dated before its latest stored session "
            "20260301 (2026-03-01); a date typo? correct the date, or set ingest.allow_earlier_sessions: true "
            "in params.yaml to add an earlier visit"
        )
        again = ingest_drop(project, "north", d2)  # a rerun changes nothing
        assert again.processed == 0 and again.skipped == 1 and _reasons(again) == [reason]


BAD_MANIFESTS = {
    "latin1": (
        (HEADER + "\nN01,2026-01-14,rest,a.mpg,,yes,,Jos\u00e9 \u00d1\n").encode("latin-1"),
        "not UTF-8 text (byte 0xE9 on line 2); it looks like Latin-1 / Windows-1252: save it as UTF-8",
    ),
    "semicolon": (
        (HEADER.replace(",", ";") + "\nN01;2026-01-14;rest;a.mpg;;yes;;\n").encode(),
        "uses ';' (semicolon) as the delimiter; a manifest is comma-separated",
    ),
    "tab": (
        (HEADER.replace(",", "\t") + "\nN01\t2026-01-14\trest\ta.mpg\t\tyes\t\t\n").encode(),
        "uses a tab as the delimiter",
    ),
    "missing-column": (
        b"subject,date,task,file\nN01,2026-01-14,rest,a.mpg\n",
        "missing required column(s) session_date (the header has: subject, date, task, file;",
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_MANIFESTS))
def test_unreadable_manifest_is_refused_recorded_and_listed(tmp_path, clips, kind):
    content, message = BAD_MANIFESTS[kind]
    project = _project(tmp_path)
    drop = project.root / "drops" / "north"
    drop.mkdir(parents=True)
    shutil.copyfile(clips[0], drop / "a.mpg")
    (drop / "manifest.csv").write_bytes(content)
    r = ingest_drop(project, "north", drop)
    assert r.failed == 1 and r.processed == 0
    (reason,) = _reasons(r)
    assert reason.startswith("drops/north/manifest.csv: ") and message in reason  # relative, never absolute
    assert "\n" not in reason
    (failure,) = [f for f in stages.status(project)["failures"] if f["kind"] == "quarantine"]
    assert failure["reason"] == reason and failure["site"] == "north"


def test_unquoted_comma_refuses_the_row_and_names_the_line(tmp_path, clips):
    project = _project(tmp_path)
    drop = _drop(
        project,
        "north",
        "d1",
        ["N01,2026-01-14,rest,a.mpg,,yes,,seen by Dr Smith, ENT", "N02,2026-01-14,rest,b.mpg,,yes,,", "N03,2026-01-14,rest,c.mpg,,yes,,,,"],
        {"a.mpg": clips[0], "b.mpg": clips[1], "c.mpg": clips[2]},
    )
    r = ingest_drop(project, "north", drop)
    assert r.processed == 2  # N02, and N03 whose extra cells are empty
    (failure,) = r.failures
    assert failure["file"] == keyed_name(project.secret, "a.mpg")
    assert _reasons(r)[0].startswith("manifest.csv line 2: a.mpg: 9 cells but the header has 8 columns (an unquoted comma?")


def test_bad_site_label_is_one_sentence_not_a_traceback(tmp_path, clips):
    project = _project(tmp_path)
    good = _drop(project, "north", "drops", ["N01,2026-01-14,rest,a.mpg,,yes,,"], {"a.mpg": clips[0]})
    bad = _drop(project, "no-where", "drops_", ["X1,2026-01-14,rest,b.mpg,,yes,,"], {"b.mpg": clips[1]})
    shutil.move(bad, good.parent / "no-where")
    with pytest.raises(InvalidLabelError) as exc:
        ingest_drop(project, "no-where", good.parent / "no-where")
    assert str(exc.value) == (
        "site 'no-where' is not a valid label: only letters A-Z, a-z and digits 0-9 (BIDS label rule); "
        "rename its drop folder"
    )
    assert isinstance(exc.value, ValueError)
    with pytest.raises(InvalidLabelError, match="site 'no-where' is not a valid label"):
        ingest(project, ["no-where"])
    total = ingest(project)  # the other sites go on
    assert total.processed == 1 and total.failed == 1
    assert "site 'no-where' is not a valid label" in total.failures[0]["reason"]
    assert set(read_registry(project)["subject"]) == {"N01"}
    export_registry(project)


def test_a_label_differing_only_in_case_is_refused(tmp_path, clips):
    """``n01`` beside ``N01`` would be a second person (and collide on a case-insensitive file system)."""
    project = _project(tmp_path)
    drop = _drop(
        project,
        "north",
        "d1",
        ["N01,2026-01-14,rest,a.mpg,,yes,,", "n01,2026-02-14,rest,b.mpg,,yes,,", "N01,2026-02-15,rest,c.mpg,,,,"],
        {"a.mpg": clips[0], "b.mpg": clips[1], "c.mpg": clips[2]},
    )
    r = ingest_drop(project, "north", drop)
    assert r.processed == 2
    (reason,) = _reasons(r)
    assert reason.startswith("manifest.csv line 3: b.mpg: subject n01 differs from subject N01 of this site only in letter case")
    assert set(_subjects(project)) == {("north", "N01")}


def test_scrub_names_never_rewrites_a_pseudonym_it_just_wrote():
    """Found as a flaky ``test_unquoted_comma...``: replacing names one after another, a
    pseudonym of ``a.mpg`` ending in ``...b.mpg`` was rewritten again for ``b.mpg``."""
    from palsyflow.pseudonym import scrub_names

    secret = "%064x" % 39  # keyed_name(secret, "a.mpg") ends in "b.mpg"
    ka, kb = keyed_name(secret, "a.mpg"), keyed_name(secret, "b.mpg")
    assert ka.endswith("b.mpg")
    text = "manifest.csv line 2: a.mpg: 9 cells; line 3: b.mpg: too short"
    assert scrub_names(text, ["a.mpg", "b.mpg"], secret) == f"manifest.csv line 2: {ka}: 9 cells; line 3: {kb}: too short"
    # a name inside another file's longer name is that other file, not this one
    assert scrub_names("visit1_N01.mpg and N01.mpg.", ["N01.mpg"], secret) == f"visit1_N01.mpg and {keyed_name(secret, 'N01.mpg')}."
    assert scrub_names("no names here", ["a.mpg"], secret) == "no names here"
