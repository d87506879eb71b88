"""Ingest: check a clinic's drop (manifest, probe), copy accepted files into the
immutable raw tree and quarantine the rest. Pure planning and file operations; the
store is written by the caller."""

from palsyflow.ingest.manifest import (
    ManifestError,
    ManifestProblem,
    ManifestRow,
    read_manifest,
)
from palsyflow.ingest.plan import (
    ImmutableRawError,
    IngestItem,
    IngestPlan,
    Rejected,
    SourceChangedError,
    copy_in,
    modality_problem,
    not_regular,
    plan_ingest,
    quarantine,
    task_label,
)
from palsyflow.ingest.probe import MediaError, MediaInfo, media_kind, probe_media
from palsyflow.ingest.tasks import UnknownTaskError, canonical_task, task_from_filename

__all__ = [
    "ImmutableRawError",
    "IngestItem",
    "IngestPlan",
    "ManifestError",
    "ManifestProblem",
    "ManifestRow",
    "MediaError",
    "MediaInfo",
    "Rejected",
    "SourceChangedError",
    "UnknownTaskError",
    "canonical_task",
    "copy_in",
    "media_kind",
    "modality_problem",
    "not_regular",
    "plan_ingest",
    "probe_media",
    "quarantine",
    "read_manifest",
    "task_from_filename",
    "task_label",
]
