"""Key frames, the asymmetry heat map and the "Not measured" list of the clinician PDF (issue 10, 5a).

Synthetic 478-point faces: every point of a region sits at that region's height, the
patient's left points at larger image x (an unmirrored frame), so where each label and
patch must land is known.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from palsyflow.features.regions import EYE_INNER, EYE_OUTER, IRIS_CENTER, IRIS_RING, REGION_POINTS
from palsyflow.landmarks import write_landmarks
from palsyflow.landmarks.result import LandmarkResult, build_tables
from palsyflow.measures.registry import REST_SYMMETRY
from palsyflow.project import Project
from palsyflow.reports.frames import (
    HEATMAP_CMAP,
    HEATMAP_RANGE,
    asymmetry_heatmap,
    face_box,
    heat_colour,
    image_side,
    keyframe_image,
    prepare_face,
)
from palsyflow.reports.missing import not_measured
from palsyflow.schemas import SCORE_SCHEMA
from tests.support.tables import with_named_basis
from palsyflow.stages.ingest import REGISTRY_SCHEMA

#: Height (px) of each region's points on the synthetic face.
ROW = {"brow": 110.0, "eye": 140.0, "cheek": 195.0, "mouth": 240.0}
CX, HALF = 200.0, 55.0


def synthetic_face(rng_seed: int = 0) -> np.ndarray:
    """(478, 3) pixels in a 400 x 320 frame; the patient's left on the image right."""
    rng = np.random.default_rng(rng_seed)
    pts = np.zeros((478, 3))
    pts[:, 0] = rng.uniform(CX - 90, CX + 90, 478)
    pts[:, 1] = rng.uniform(90, 270, 478)
    for region, sides in REGION_POINTS.items():
        for side, idx in sides.items():
            sign = 1.0 if side == "left" else -1.0
            for k, i in enumerate(idx):
                pts[i, 0] = CX + sign * (HALF + 4.0 * (k - len(idx) / 2))
                pts[i, 1] = ROW[region] + 3.0 * (k % 3 - 1)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        pts[EYE_OUTER[side], :2] = (CX + sign * (HALF + 18), ROW["eye"])
        pts[EYE_INNER[side], :2] = (CX + sign * (HALF - 18), ROW["eye"])
        for i in (IRIS_CENTER[side], *IRIS_RING[side]):
            pts[i, :2] = (CX + sign * HALF, ROW["eye"])
    return pts


def grey_frame(h: int = 320, w: int = 400, value: int = 128) -> np.ndarray:
    return np.full((h, w, 3), value, dtype=np.uint8)


def mirrored(rgb: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The frame flipped left-right with its landmarks (indices kept: a selfie view)."""
    out = pts.copy()
    out[:, 0] = rgb.shape[1] - 1 - out[:, 0]
    return rgb[:, ::-1].copy(), out


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.int64)


# --------------------------------------------------------------------------- sides and crop


def test_the_patients_left_label_is_on_the_side_of_the_left_eye_landmarks():
    rgb, pts = grey_frame(), synthetic_face()
    img = keyframe_image(prepare_face(rgb, pts, max_width=400))
    left_eye_x = img.points[[EYE_OUTER["left"], EYE_INNER["left"]], 0].mean()
    assert left_eye_x > img.width / 2  # unmirrored: the patient's left is on the image right
    assert img.labels["left"][0] > img.width / 2 > img.labels["right"][0]
    assert image_side(pts) == {"left": "image_right", "right": "image_left"}


def test_a_mirrored_frame_gets_its_labels_swapped():
    rgb, pts = mirrored(grey_frame(), synthetic_face())
    img = keyframe_image(prepare_face(rgb, pts, max_width=400))
    left_eye_x = img.points[[EYE_OUTER["left"], EYE_INNER["left"]], 0].mean()
    assert left_eye_x < img.width / 2
    assert img.labels["left"][0] < img.width / 2 < img.labels["right"][0]
    assert image_side(pts) == {"left": "image_left", "right": "image_right"}


def test_the_side_labels_are_drawn_where_they_are_reported():
    rgb, pts = grey_frame(), synthetic_face()
    plain = keyframe_image(prepare_face(rgb, pts, max_width=400), fmt="png")
    px = decode(plain.data)
    x, y = plain.labels["left"]
    # the label box (#1f3a5f) right-aligned at x, top-aligned at y
    box = px[int(y): int(y) + 12, int(x) - 30: int(x) - 5]
    assert (np.abs(box - [0x1F, 0x3A, 0x5F]).sum(-1) < 60).mean() > 0.3


@pytest.mark.parametrize("shift", [(0.0, 0.0), (-150.0, 0.0), (0.0, 40.0)])
def test_the_crop_contains_every_landmark(shift):
    rgb, pts = grey_frame(), synthetic_face()
    pts[:, 0] += shift[0]  # some points now beyond the left border
    pts[:, 1] += shift[1]
    x0, y0, x1, y1 = face_box(pts, rgb.shape)
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < rgb.shape[1]) & (pts[:, 1] >= 0) & (pts[:, 1] < rgb.shape[0])
    p = pts[inside]
    assert (p[:, 0] >= x0).all() and (p[:, 0] < x1).all() and (p[:, 1] >= y0).all() and (p[:, 1] < y1).all()
    assert (x1 - x0) < rgb.shape[1] or shift[0] != 0.0  # a cut, not the whole frame
    face = prepare_face(rgb, pts, max_width=120)
    assert face.rgb.shape[1] <= 120
    q = face.points[inside]
    assert (q >= -0.5).all() and (q[:, 0] < face.rgb.shape[1] + 0.5).all() and (q[:, 1] < face.rgb.shape[0] + 0.5).all()


def test_a_small_face_is_scaled_up_to_the_minimum_width():
    rgb, pts = grey_frame(), synthetic_face()
    face = prepare_face(rgb, pts, max_width=600, min_width=500)
    assert face.rgb.shape[1] == 500
    assert np.allclose(face.points[:, :2], (pts[:, :2] - face.box[:2]) * face.scale)


# --------------------------------------------------------------------------- heat map


def _centre(img, region: str, side: str) -> tuple[int, int]:
    xy = img.points[list(REGION_POINTS[region][side])]
    return int(round(xy[:, 0].mean())), int(round(xy[:, 1].mean()))


def test_the_heat_map_colour_of_a_region_deepens_with_its_asymmetry():
    face = prepare_face(grey_frame(value=200), synthetic_face(), max_width=400)
    asym = {"brow": 1.0, "eye": 7.0, "cheek": 15.0, "mouth": None}
    img = asymmetry_heatmap(face, asym, REGION_POINTS, fmt="png")
    px = decode(img.data)
    green = {}
    for region in ("brow", "eye", "cheek"):
        x, y = _centre(img, region, "left")
        green[region] = px[y - 1: y + 2, x - 1: x + 2, 1].mean()
        xr, yr = _centre(img, region, "right")
        assert abs(px[yr, xr, 1] - green[region]) < 25  # both sides alike
    # YlOrRd: green falls from light yellow to dark red
    assert green["brow"] > green["eye"] > green["cheek"]
    assert img.colours["mouth"] is None
    x, y = _centre(img, "mouth", "left")
    r, g, b = px[y, x]
    assert max(r, g, b) - min(r, g, b) < 40  # not measured: grey
    assert HEATMAP_CMAP == "YlOrRd" and HEATMAP_RANGE[0] == 0.0


def test_heat_colour_is_monotone_and_clipped():
    lo, hi = HEATMAP_RANGE
    g = [heat_colour(v)[1] for v in np.linspace(lo, hi, 6)]
    assert all(a > b for a, b in zip(g, g[1:]))
    assert heat_colour(hi * 3) == heat_colour(hi) and heat_colour(None) is None


# --------------------------------------------------------------------------- not measured


def test_not_measured_names_the_quarantine_reason_and_the_speech_gate():
    reason = "manifest.csv line 4: smile.jpg: landmarks: no face found"
    row = {"speech_status": "low_snr", "speech_reason": "vowel: SNR 9.1 dB is below 15 dB; ddk_pa: no speech"}
    items = not_measured(["rest", "smile", "vowel", "ddk_pa"], [("smile.jpg", reason)], row)
    text = [f"{w} | {r}" for w, r in items]
    assert any("smile.jpg" in t and reason in t and "quarantined" in t for t in text)
    assert any("vowel" in t and "low_snr" in t and "SNR 9.1 dB is below 15 dB" in t for t in text)
    assert any("ddk_pa" in t and "no speech" in t for t in text)
    absent = [t for t in text if "not recorded" in t]
    assert len(absent) == 1 and "brow raise" in absent[0] and "smile" not in absent[0].split("|")[0]


def test_not_measured_is_silent_about_a_passed_gate():
    items = not_measured(["rest"], (), {"speech_status": "ok", "speech_reason": None}, protocol=("rest",))
    assert items == ()


# --------------------------------------------------------------------------- the report stage


def _write_tables(files, pts: np.ndarray) -> None:
    """One photo frame's landmark and quality tables, its key frame ``neutral``."""
    p_df, q_df = build_tables(pts[None].astype(np.float32), np.full((1, 478), np.nan, np.float32),
                              np.ones(1, np.int16), np.zeros(1, np.int16), np.zeros(1), ["neutral"])
    write_landmarks(LandmarkResult(p_df, q_df, {"kind": "photo", "keyframes": {"neutral": 0}}), files.points, files.quality)


INGEST_REASON = "manifest.csv line 2: eee.png: the file is neither a decodable photo nor a video"
OTHER_SESSION_REASON = "manifest.csv line 3: pucker.png: the file is neither a decodable photo nor a video"


def _session_project(tmp_path: Path) -> tuple[Project, str]:
    from palsyflow.stages.landmarks import landmark_files
    from palsyflow.store import repo
    from palsyflow.store.db import session_scope

    (tmp_path / "params.yaml").write_text(
        "paths:\n  data: data\n  drops: drops\nreport:\n  deterministic: true\n  page_compression: false\n"
    )
    project = Project.load(tmp_path)
    site, subject, session = "north", "P1", "20260105"
    rows = []
    for task, kind in (("rest", "photo"), ("smile", "photo"), ("brow_raise", "photo")):
        key = f"site-{site}_sub-{subject}_ses-{session}_task-{task.replace('_', '')}"
        raw = f"raw/site-{site}/sub-{subject}/ses-{session}/{key}_photo.png"
        rows.append({"key": key, "site": site, "subject": subject, "session": session,
                     "session_date": dt.date(2026, 1, 5), "task": task, "kind": kind, "sha256": f"{len(rows):064x}",
                     "raw_path": raw, "healthy": False, "hb_grade": None, "simulated": False,
                     "original_name": f"{task}.png", "manifest_line": len(rows) + 2, "prompt": None})
    data = tmp_path / "data"
    pts = synthetic_face()
    for rec in rows[:2]:  # brow_raise: quarantined by the landmarks stage, no landmark files
        target = data / rec["raw_path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        rgb = np.random.default_rng(1).integers(60, 200, (320, 400, 3), dtype=np.uint8)
        Image.fromarray(rgb).save(target)
        files = landmark_files(project, rec)
        _write_tables(files, pts)
        files.stamp.write_text(json.dumps({"sha256": rec["sha256"], "fingerprint": "f1"}))
    reg = data / "raw" / "recordings.parquet"
    reg.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows, schema=REGISTRY_SCHEMA).write_parquet(reg)
    reason = "manifest.csv line 4: brow_raise.png: landmarks: no face found in the photo"
    # a file refused at ingest (never in the registry): its manifest line ties it to the session
    drop = tmp_path / "drops" / site
    drop.mkdir(parents=True)
    (drop / "eee.png").write_bytes(b"not an image")
    (drop / "pucker.png").write_bytes(b"not an image")
    (drop / "manifest.csv").write_text(
        "subject,session_date,task,file\nP1,2026-01-05,eee,eee.png\nP2,2026-01-05,pucker,pucker.png\n"
    )
    with session_scope(project.engine) as db:
        repo.add_quarantine(db, site, Path(rows[2]["raw_path"]).name, rows[2]["sha256"], reason, None,
                            recording_key=rows[2]["key"])
        repo.add_quarantine(db, site, "eee.png", None, INGEST_REASON, None)
        repo.add_quarantine(db, site, "pucker.png", None, OTHER_SESSION_REASON, None)
    scores = []
    for region, measure in REST_SYMMETRY.items():
        scores.append({"site": site, "subject": subject, "session": session, "session_date": dt.date(2026, 1, 5),
                       "measure": measure, "region": region, "value": 90.0, "unit": "0-100", "z": None,
                       "percentile": 40.0, "weaker_side": None, "change_since_first": 0.0, "simulated": False,
                       "model_version": None})
    table = pl.DataFrame(scores).pipe(with_named_basis).select([pl.col(c).cast(t) for c, t in SCORE_SCHEMA.items()])
    out = data / "scores" / "scores.parquet"
    out.parent.mkdir(parents=True)
    table.write_parquet(out)
    with session_scope(project.engine) as db:
        repo.upsert_scores(db, table.to_dicts())
    sessions = pl.DataFrame([{"site": site, "subject": subject, "session": session, "speech_status": "low_snr",
                              "speech_reason": "vowel: the SNR is 9 dB, below the 15 dB floor"}])
    sessions_path = data / "validated" / "sessions.parquet"
    sessions_path.parent.mkdir(parents=True)
    sessions.write_parquet(sessions_path)
    return project, reason


def test_the_report_stage_puts_key_frames_heat_map_and_reasons_in_the_pdf(tmp_path):
    from palsyflow import stages

    project, reason = _session_project(tmp_path)
    res = stages.report(project)
    assert res.processed == 1, res
    pdf = next((tmp_path / "data" / "reports").rglob("*.pdf")).read_bytes()
    images = len(re.findall(rb"/Subtype\s*/Image", pdf))
    assert images >= 3  # rest neutral, smile peak, the heat map
    text = _pdf_text(pdf)
    assert "Key frames" in text and "Asymmetry by region" in text and "Not measured" in text
    assert reason.split(": ", 1)[1] in text  # the quarantine entry's reason
    assert "low_snr" in text and "the SNR is 9 dB, below the 15 dB floor" in text  # the speech gate's status and reason
    assert "quarantined (see Not measured)" in text  # its key frames name why they are missing
    assert INGEST_REASON.split(": ", 2)[2] in text  # refused at ingest, tied to the session by its manifest line
    assert "line 3: pucker.png" not in text  # another subject's refusal is not this session's
    absent = text.split("not recorded in this session")[0].rsplit("Tasks ", 1)[1]
    assert "pucker" in absent and "eee" not in absent  # a refused task is quarantined, not "not recorded"
    assert len(pdf) < 1_500_000


def _pdf_text(pdf: bytes) -> str:
    """The text of an uncompressed ReportLab PDF: its string operands joined by spaces."""
    parts = re.findall(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj", pdf)
    text = " ".join(p.decode("latin-1").replace("\\(", "(").replace("\\)", ")") for p in parts)
    return re.sub(r"\s+", " ", text)


def test_the_report_is_redrawn_when_a_sessions_landmarks_change(tmp_path):
    from palsyflow import stages
    from palsyflow.stages.landmarks import landmark_files

    project, _ = _session_project(tmp_path)
    assert stages.report(project).processed == 1
    assert stages.report(project).skipped == 1
    rec = pl.read_parquet(tmp_path / "data" / "raw" / "recordings.parquet").row(0, named=True)
    landmark_files(project, rec).stamp.write_text(json.dumps({"sha256": rec["sha256"], "fingerprint": "f2"}))
    assert stages.report(project).processed == 1
