"""The identity kinds of the bad-input corpus through ``ingest_drop``, as the corpus runner will push them.

One drop holds every kind that writes rows, in ``KINDS`` order; each ``own_drop`` kind
gets a drop and a site of its own. Every refused kind's file is refused with a reason
naming the manifest line and the kind's rule; the measured kind is registered.
"""

from __future__ import annotations

import csv
import re

import pytest

from corpus.base import Sources
from corpus.kinds_identity import KINDS
from palsyflow.project import Project
from palsyflow.stages.ingest import ingest_drop
from palsyflow.store import repo
from palsyflow.store.db import session_scope

COLUMNS = ["subject", "session_date", "task", "file", "hb_grade", "healthy", "simulated", "notes"]


@pytest.fixture()
def sources(shared_data) -> Sources:
    return Sources.from_shared(shared_data)


def test_identity_kinds_are_refused_with_their_rule(tmp_path, sources):
    assert len({k.name for k in KINDS}) == len(KINDS) >= 14
    (tmp_path / "params.yaml").write_text("paths:\n  data: data\n  drops: drops\n")
    project = Project.load(tmp_path)
    drop = tmp_path / "drops" / "corpus"
    drop.mkdir(parents=True)
    rows, owner = [], {}
    for kind in (k for k in KINDS if not k.own_drop):
        for row in kind.build(drop, sources):
            rows.append(row)
            owner[row["file"]] = kind
    with open(drop / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)

    result = ingest_drop(project, "corpus", drop)
    from palsyflow.pseudonym import keyed_name

    # failures name a file by its keyed hash (issue 13); map them back through the same secret
    shown = {keyed_name(project.secret, n): n for n in owner}
    refused = {shown.get(f["file"], f["file"]): f["reason"] for f in result.failures}
    with session_scope(project.engine) as db:
        registered = {(r.subject, r.task) for r in repo.list_recordings(db)}
    for kind in {id(k): k for k in owner.values()}.values():
        files = [name for name, k in owner.items() if k is kind]
        for name in files:
            if kind.expect == "refused":
                assert name in refused, (kind.name, result.failures)
                assert kind.rule.lower() in refused[name].lower(), (kind.name, refused[name])
                assert re.match(r"manifest\.csv line \d+: ", refused[name]), refused[name]
            else:
                assert name not in refused, (kind.name, refused.get(name))
    assert registered == {("IDBASE1", "rest"), ("IDBASE1", "speech")}
    assert result.failed == sum(1 for k in owner.values() if k.expect == "refused")

    for i, kind in enumerate(k for k in KINDS if k.own_drop):
        site = f"own{i}"
        own = tmp_path / "drops" / site
        own.mkdir()
        assert kind.build(own, sources) == []
        r = ingest_drop(project, site, own)
        assert r.processed == 0 and r.failed == 1, (kind.name, r)
        assert kind.rule.lower() in r.failures[0]["reason"].lower(), (kind.name, r.failures)
