"""The report stage's key frames: landmark outputs and raw media -> the clinician PDF's images.

For one session, :class:`FrameSource` finds each face task's neutral and peak posture with
the features' own rule (:func:`palsyflow.features.tasks.task_postures`, the key frames of
:mod:`palsyflow.landmarks.keyframes`), decodes those frames from the raw tree
(:func:`palsyflow.landmarks.media.open_media`) and draws them
(:mod:`palsyflow.reports.frames`). :meth:`FrameSource.inputs` is cheap (the registry rows,
the landmark stamps and the quarantine entries, tied to the session by recording or by the
drop manifest's line) and gives the fingerprint the report's
stamp must include, so the PDF is redrawn when a session's landmarks or media change;
:meth:`FrameSource.load` decodes and draws, only for a PDF that is redrawn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from palsyflow.conventions import FACE_TASKS
from palsyflow.features.inputs import REST_TASK, has_face, rest_photo_pairs
from palsyflow.features.table import keyframe_rows, landmarks_to_array
from palsyflow.features.tasks import TASK_SPECS, neutral_index, task_postures
from palsyflow.landmarks.media import open_media
from palsyflow.project import Project
from palsyflow.features.regions import REGION_POINTS
from palsyflow.reports.frames import KeyFrame, SessionFrames, keyframe_image, prepare_face
from palsyflow.reports.missing import not_measured
from palsyflow.stages.catalog import Catalog
from palsyflow.stages.fingerprint import digest, read_json
from palsyflow.ingest.manifest import MANIFEST_NAME, ManifestError, read_manifest
from palsyflow.stages.ingest import read_registry, site_drops
from palsyflow.stages.landmarks import landmark_files
from palsyflow.store import repo
from palsyflow.store.db import session_scope

__all__ = ["FrameInputs", "FrameSource"]

#: Width range of a key-frame image, pixels (the PDF shows four in a row, about 4.4 cm wide).
KEYFRAME_WIDTH = (320, 420)
#: Width range of the heat map's face, pixels.
HEATMAP_WIDTH = (480, 600)


@dataclass(frozen=True)
class FrameInputs:
    """What one session's images are drawn from.

    Attributes
    ----------
    records : tuple of dict
        The session's registry rows, protocol task order.
    rest_of : dict
        Recording key -> the rest photo's registry row (photo tasks).
    quarantined : tuple of (str, str)
        The session's standing quarantine entries ``(file, reason)``.
    fingerprint : str
        Digest of the rows (with their sha256), the landmark stamps and the quarantine
        entries.
    quarantined_keys : frozenset of str
        The session's recordings those entries name.
    refused_tasks : frozenset of str
        Tasks of the session's files refused at ingest (not in the registry, not "not recorded").
    """

    records: tuple[dict, ...]
    rest_of: dict[str, dict]
    quarantined: tuple[tuple[str, str], ...]
    fingerprint: str
    quarantined_keys: frozenset[str] = frozenset()
    refused_tasks: frozenset[str] = frozenset()


_AT_LINE = re.compile(rf"^{re.escape(MANIFEST_NAME)} line (\d+): ")


def _manifest_rows(project: Project) -> dict[tuple[str, int], Any]:
    """(site, manifest line) -> the usable :class:`~palsyflow.ingest.manifest.ManifestRow` of each drop."""
    out: dict[tuple[str, int], Any] = {}
    for site, drop in site_drops(project).items():
        try:
            rows, _ = read_manifest(drop, project.params.ingest)
        except ManifestError:
            continue
        out.update({(site, r.line): r for r in rows})
    return out


@dataclass
class FrameSource:
    """The registry, the store's quarantine and the drops' manifest rows, read once per report run.

    A quarantine entry belongs to a session when it names one of the session's
    recordings (a refusal after ingest: its key or raw file name), or when its reason
    starts with ``manifest.csv line <n>:`` (:func:`palsyflow.ingest.manifest.at_line`) and
    that line of the site's drop manifest is a row of the session naming the same file (a
    refusal at ingest, of a file that never entered the raw tree).
    """

    project: Project
    registry: list[dict] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    manifest_rows: dict[tuple[str, int], Any] = field(default_factory=dict)

    @classmethod
    def of(cls, project: Project) -> FrameSource:
        """Read the registry, the standing quarantine entries (:func:`repo.status_summary`) and the drops' manifests."""
        reg = read_registry(project)
        records = list(reg.iter_rows(named=True)) if reg.height else []
        with session_scope(project.engine) as db:
            failures = repo.status_summary(db)["failures"]
        return cls(project, records, [f for f in failures if f.get("kind") == "quarantine"], _manifest_rows(project))

    def _refused_at_ingest(self, q: dict, subject: str, session: str) -> str | None:
        """The task of an ingest refusal of this session (by its manifest line and file), else None."""
        m = _AT_LINE.match(q["reason"])
        row = self.manifest_rows.get((q["site"], int(m.group(1)))) if m else None
        if row is None or (row.subject, row.session) != (subject, session) or Path(row.file).name != q["file"]:
            return None
        return row.task

    def inputs(self, site: str, subject: str, session: str) -> FrameInputs:
        """The session's rows, rest pairs, quarantine entries and their fingerprint (no decoding)."""
        order = {t: i for i, t in enumerate(FACE_TASKS)}
        recs = sorted(
            (r for r in self.registry if (r["site"], r["subject"], r["session"]) == (site, subject, session)),
            key=lambda r: (order.get(r["task"], len(order)), r["task"], r["key"]),
        )
        rest_of = rest_photo_pairs(recs)
        names = {r["key"] for r in recs} | {Path(r["raw_path"]).name for r in recs}
        hits = [q for q in self.quarantine if q["site"] == site and q["file"] in names]
        files = {q["file"] for q in hits}
        keys = frozenset(r["key"] for r in recs if r["key"] in files or Path(r["raw_path"]).name in files)
        refused: set[str] = set()
        for q in self.quarantine:
            task = self._refused_at_ingest(q, subject, session) if q["site"] == site and q not in hits else None
            if task is not None:
                hits.append(q)
                refused.add(task)
        quarantined = tuple(sorted((q["file"], q["reason"]) for q in hits))
        stamps = [read_json(landmark_files(self.project, r).stamp) if has_face(r) else None for r in recs]
        rows = [{k: r.get(k) for k in ("key", "task", "kind", "sha256", "raw_path")} for r in recs]
        return FrameInputs(tuple(recs), rest_of, quarantined, digest(rows, stamps, quarantined), keys, frozenset(refused))

    def load(self, inputs: FrameInputs, session_row: dict[str, Any] | None = None) -> SessionFrames:
        """Decode and draw the session's key frames; list what is missing and why.

        Parameters
        ----------
        inputs : FrameInputs
        session_row : dict, optional
            The session-table row (the speech gate's status and reason).

        Returns
        -------
        SessionFrames
            A key frame that cannot be drawn carries its reason (no landmarks, no face,
            a media file that no longer decodes); the heat map's face is the rest
            recording's neutral frame, else the first neutral frame drawn.
        """
        cat = Catalog.of(self.project)
        frames: list[KeyFrame] = []
        problems: list[tuple[str, str]] = []
        heat = None
        arrays: dict[str, tuple] = {}
        for rec in inputs.records:
            if not has_face(rec):
                continue
            task = rec["task"]
            got = self._arrays(rec, arrays)
            if isinstance(got, str):
                if rec["key"] in inputs.quarantined_keys:  # its quarantine reason is listed already
                    got = "the recording is quarantined (see Not measured)"
                else:
                    problems.append((f"Key frames, task {task.replace('_', ' ')}", got))
                for which in ("neutral", "peak"):
                    frames.append(KeyFrame(task, which, None, missing=got))
                continue
            frames_no, xyz, found, key, times = got
            wanted: dict[str, int | None] = {}  # posture -> row of the landmark arrays
            note: dict[str, str] = {}
            if task in TASK_SPECS:
                rest = None
                pair = inputs.rest_of.get(rec["key"])
                if pair is not None:
                    r = self._arrays(pair, arrays)
                    if not isinstance(r, str):
                        rest = (r[1], r[2], None, r[3])
                p = task_postures(task, xyz, found, key, rest)
                if p.reason is not None:
                    problems.append((f"Movement, task {task.replace('_', ' ')}", p.reason))
                if p.neutral_from_rest:
                    note["neutral"] = (p.reason if p.neutral is None and p.reason else
                                       "photo task: its neutral posture is the rest photo (shown under rest)")
                else:
                    wanted["neutral"] = p.neutral
                wanted["peak"] = p.peak
            else:
                ni = neutral_index(found, key)
                wanted["neutral"] = ni
                pk = key.get("peak")
                if xyz.shape[0] > 1:  # a photo has one posture
                    wanted["peak"] = pk if pk is not None and pk != ni and found[pk] else None
            rows = sorted({i for i in wanted.values() if i is not None})
            images: dict[int, np.ndarray] = {}
            error = None
            if rows:
                try:
                    with open_media(cat.in_data(rec["raw_path"]), rec["kind"]) as media:
                        images = media.read_frames([int(frames_no[i]) for i in rows])
                except Exception as exc:  # noqa: BLE001 - a media file that no longer decodes is named, the report goes on
                    error = f"the raw {rec['kind']} could not be decoded ({type(exc).__name__})"
            for which in ("neutral", "peak"):
                if which in note:
                    frames.append(KeyFrame(task, which, None, missing=note[which]))
                    continue
                if which not in wanted:
                    continue
                i = wanted[which]
                if i is None:
                    why = "no frame with a face for this posture"
                    frames.append(KeyFrame(task, which, None, missing=why))
                    continue
                t = float(times[i]) if rec["kind"] == "video" and times is not None else None
                rgb = images.get(int(frames_no[i]))
                if rgb is None:
                    why = error or f"frame {int(frames_no[i])} could not be read from the raw {rec['kind']}"
                    frames.append(KeyFrame(task, which, t, missing=why))
                    problems.append((f"Key frame, task {task.replace('_', ' ')} ({which})", why))
                    continue
                try:
                    face = prepare_face(rgb, xyz[i], min_width=KEYFRAME_WIDTH[0], max_width=KEYFRAME_WIDTH[1])
                    frames.append(KeyFrame(task, which, t, keyframe_image(face)))
                except ValueError as exc:
                    frames.append(KeyFrame(task, which, t, missing=str(exc)))
                    continue
                if which == "neutral" and (heat is None or (task == REST_TASK and heat[0] != REST_TASK)):
                    heat = (task, rgb, xyz[i])
        heat_face = None
        if heat is not None and heat[2].shape[0] >= 468:
            heat_face = prepare_face(heat[1], heat[2], min_width=HEATMAP_WIDTH[0], max_width=HEATMAP_WIDTH[1])
        missing = not_measured(
            [r["task"] for r in inputs.records], inputs.quarantined, session_row, problems, refused_tasks=inputs.refused_tasks
        )
        return SessionFrames(tuple(frames), heat_face, missing, heat[0] if heat_face is not None else None, REGION_POINTS)

    def _arrays(self, rec: dict, cache: dict[str, tuple]) -> tuple | str:
        """``(frame numbers, xyz, found, key rows, times)`` of a recording's landmarks, or why not."""
        if rec["key"] in cache:
            return cache[rec["key"]]
        files = landmark_files(self.project, rec)
        if read_json(files.stamp) is None or not files.points.exists() or not files.quality.exists():
            out: tuple | str = "no landmarks (the landmarks stage wrote none for this recording)"
        else:
            points, quality = pl.read_parquet(files.points), pl.read_parquet(files.quality)
            frames_no, xyz, found = landmarks_to_array(points)
            if not found.any():
                out = "no face found in the recording"
            else:
                times = None
                if "time_s" in quality.columns:
                    by_frame = dict(zip(quality["frame"].to_list(), quality["time_s"].to_list(), strict=True))
                    times = np.array([by_frame.get(int(f), np.nan) for f in frames_no], dtype=np.float64)
                out = (frames_no, xyz, found, keyframe_rows(quality, frames_no), times)
        cache[rec["key"]] = out
        return out
