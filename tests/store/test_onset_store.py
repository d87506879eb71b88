"""The subject's onset date in the store (migration 0007): kept, filled in once, carried to the registry rows."""

from __future__ import annotations

import datetime as dt
import hashlib

from palsyflow.store import repo
from palsyflow.store.db import session_scope

MEDIA = {"size_bytes": 1, "duration_s": 3.0, "fps": 25.0, "width": 360, "height": 288, "codec": "mpeg1video", "has_audio": True}


def test_onset_is_stored_filled_in_once_and_listed(engine):
    onset = dt.date(2026, 1, 6)
    with session_scope(engine) as db:
        subj = repo.get_or_create_subject(db, "A", "P01", healthy=False)  # first drop: onset not said
        ses = repo.get_or_create_session(db, subj, "20260120", dt.date(2026, 1, 20))
        repo.register_recording(db, ses, "rest", "video", hashlib.sha256(b"v").hexdigest(), "raw/v.mp4", "v.mp4", MEDIA)
    with session_scope(engine) as db:
        assert repo.subject_facts(db, "A", "P01").onset is None
        repo.get_or_create_subject(db, "A", "P01", onset=onset)  # a later drop says it
    with session_scope(engine) as db:
        repo.get_or_create_subject(db, "A", "P01", onset=dt.date(2026, 1, 7))  # ingest refuses a conflict first; the store keeps its value
    with session_scope(engine) as db:
        assert repo.subject_facts(db, "A", "P01").onset == onset
        (rec,) = repo.list_recordings(db)
        assert rec.onset == onset and rec.subject == "P01"
