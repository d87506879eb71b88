"""Stage ``validate``: the feature table -> passing rows, failing rows with reasons, the session table.

Reads ``features_table``; writes ``validated_features``, ``validated_failed``,
``validated_sessions`` (rebuilt from the passing rows), the DVC metric
``validated_summary`` and the stamp ``validated_stamp``; failing rows are quarantined
in the store under their recording key.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from palsyflow.atomic import atomic_write_parquet, atomic_write_text
from palsyflow.features.table import MEASURE_COLUMNS, session_table
from palsyflow.project import Project
from palsyflow.stages.catalog import Catalog
from palsyflow.stages.fingerprint import digest, files_digest, stage_code_digest, unchanged, write_stamp
from palsyflow.stages.runs import Run, StageResult, checkpoint, quarantine_in_store
from palsyflow.store import repo
from palsyflow.store.db import session_scope
from palsyflow.validation.suite import validate_features


def validate(project: Project) -> StageResult:
    """Great Expectations suite over the feature table; failing rows are quarantined, listed.

    The session table of the passing rows is built with the ``features`` parameters
    (the same rule the features stage applies), so they are part of the fingerprint.
    """
    cat = Catalog.of(project)
    result = StageResult("validate")
    src = cat.path("features_table")
    valid, failed, sessions, summary = (
        cat.path(n) for n in ("validated_features", "validated_failed", "validated_sessions", "validated_summary")
    )
    outputs = [valid, failed, sessions, summary]
    stamp = cat.path("validated_stamp")
    fp = digest(
        files_digest([src]),
        project.params.validate_.digest(),
        project.params.features.digest(),
        stage_code_digest("validate"),
    )
    with Run(project, "validate", project.params.validate_.digest(), {"features_table": fp}) as run:
        if unchanged(stamp, fp, outputs):
            result.skipped = 1
        else:
            _validate(project, src, outputs, result)
            write_stamp(stamp, fp)  # last: after the tables and the store's quarantine rows it certifies
            result.outputs += [str(p) for p in outputs]
        run.finish(result)
    return result


def _validate(project: Project, src: Path, outputs: list[Path], result: StageResult) -> None:
    valid, failed, sessions, summary = outputs
    res = validate_features(pl.read_parquet(src), project.params.validate_, list(MEASURE_COLUMNS))
    atomic_write_parquet(res.valid, valid)
    atomic_write_parquet(res.failed, failed)
    atomic_write_parquet(session_table(res.valid, project.params.features), sessions)
    atomic_write_text(summary, json.dumps(res.summary, indent=2, default=str))
    checkpoint("validate", "written")  # test hook: tables written, quarantine rows and stamp not
    for row in res.failed.iter_rows(named=True):
        reason = f"validation: {row['reasons']}"
        quarantine_in_store(project, row["site"], row["recording_key"], row["sha256"], reason, recording_key=row["recording_key"])
        result.failures.append({"site": row["site"], "file": row["recording_key"], "reason": reason})
    with session_scope(project.engine) as db:  # rows that pass now: their earlier validation refusals no longer stand
        for site, key in res.valid.select("site", "recording_key").rows():
            repo.resolve_quarantine(db, site, recording_key=key, reason_prefix="validation:")
    result.processed, result.failed = res.valid.height, res.failed.height
