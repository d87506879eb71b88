"""A small reported cohort in a temporary project (store rows + files), for the export and delivery tests.

Two subjects of site ``A`` (one with two sessions), a video, a photo and an audio file per
session, landmark parquet files, score rows and a PDF per session, registered through
the repository like the pipeline does. The media bytes are not decoded by the exports,
so they are small stand-ins; the original names look like a clinic's identifying ones
so that tests can check they never leave the store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import polars as pl

from palsyflow.paths import RecordingPath
from palsyflow.project import Project
from palsyflow.stages.catalog import Catalog
from palsyflow.store import repo
from palsyflow.store.db import session_scope

ROOT = Path(__file__).resolve().parents[2]
ORIGINAL_NAMES = ("Smith_John_DOB1970-01-01_MRN4711", "Doe_Jane_MRN0815")
SESSIONS = {"p01": ("20260105", "20260302"), "c01": ("20260110",)}
TASKS = (("rest", "photo", ".jpg"), ("smile", "video", ".mp4"), ("vowel", "audio", ".wav"))


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF naming ``text`` (ReportLab)."""
    import io

    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1)
    c.drawString(72, 720, text)
    c.save()
    return buf.getvalue()


def make_project(tmp: Path, extra_params: str = "") -> Project:
    """A project under ``tmp`` with ``params.yaml`` of the repository plus ``extra_params`` (YAML appended)."""
    tmp.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "params.yaml").read_text()
    text = text.replace("url: sqlite:///data/store/palsyflow.db", f"url: sqlite:///{tmp}/data/store/palsyflow.db")
    (tmp / "params.yaml").write_text(text + extra_params)
    return Project.load(tmp)


def write_report(project: Project, site: str, subject: str, session: str, text: str) -> str:
    """Write (or rewrite) a session's PDF and record it; its sha256."""
    cat = Catalog.of(project)
    pdf = cat.session_report(site, subject, session)
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.write_bytes(minimal_pdf(text))
    sha = hashlib.sha256(pdf.read_bytes()).hexdigest()
    with session_scope(project.engine) as db:
        repo.add_report(db, site, subject, session, cat.data_relative(pdf), sha)
    return sha


def write_media(path: Path, kind: str, seed: int, visit: str) -> None:
    """A tiny real recording (JPEG, MP4 or WAV) whose own metadata carries the visit date,
    as a phone's would (EXIF DateTimeOriginal, MP4 creation_time, WAV ICRD)."""
    import av
    import numpy as np
    import soundfile as sf
    from PIL import Image

    day = dt.datetime.strptime(visit, "%Y%m%d")
    rng = np.random.default_rng(seed)
    if kind == "photo":
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x9003] = day.strftime("%Y:%m:%d 10:00:00")
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path, exif=exif)
    elif kind == "video":
        with av.open(str(path), "w") as out:
            out.metadata["creation_time"] = day.strftime("%Y-%m-%dT10:00:00Z")
            st = out.add_stream("mpeg4", rate=25)
            st.width, st.height, st.pix_fmt = 64, 48, "yuv420p"
            for i in range(10):
                frame = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
                for pkt in st.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    out.mux(pkt)
            for pkt in st.encode():
                out.mux(pkt)
    else:
        sf.write(path, (rng.standard_normal(4000) * 0.1).astype(np.float32), 16000, subtype="PCM_16")
        with sf.SoundFile(path, "r+") as f:
            f.date = day.strftime("%Y-%m-%d")


def build_cohort(project: Project, site: str = "A") -> None:
    """Register the cohort of this module in ``project``'s store and data tree."""
    cat = Catalog.of(project)
    n = 0
    for subject, sessions in SESSIONS.items():
        healthy = subject.startswith("c")
        with session_scope(project.engine) as db:
            sub = repo.get_or_create_subject(db, site, subject, healthy=healthy)
            for ses_label in sessions:
                ses = repo.get_or_create_session(db, sub, ses_label, hb_grade=None if healthy else 3)
                for task, kind, ext in TASKS:
                    rp = RecordingPath.from_task(site, subject, ses_label, task, kind=kind, extension=ext)
                    raw = rp.raw(cat.raw)
                    raw.parent.mkdir(parents=True, exist_ok=True)
                    write_media(raw, kind, seed=n, visit=ses_label)
                    sha = hashlib.sha256(raw.read_bytes()).hexdigest()
                    name = f"{ORIGINAL_NAMES[n % 2]}_{ses_label}_{task}{ext}"
                    n += 1
                    media = {"duration_s": 2.0 if kind != "photo" else None, "fps": 30.0 if kind == "video" else None,
                             "width": 640 if kind != "audio" else None, "height": 480 if kind != "audio" else None}
                    repo.register_recording(db, ses, task, kind, sha, cat.data_relative(raw), name, media)
                    if kind != "audio":
                        lm = cat.landmark_files(rp)
                        lm.points.parent.mkdir(parents=True, exist_ok=True)
                        pl.DataFrame({"frame": [0], "x": [0.5]}).write_parquet(lm.points)
                        pl.DataFrame({"frame": [0], "face_found": [True]}).write_parquet(lm.quality)
        rows = []
        for ses_label in sessions:
            for measure, unit, value, pct, side in (
                ("symmetry_index", "0-100", 62.5 if not healthy else 97.0, 1.0 if not healthy else 60.0, None if healthy else "left"),
                ("rest_emotrics_brow_height_weaker", "mm", 1.5, 99.0, "left"),
            ):
                rows.append({"site": site, "subject": subject, "session": ses_label,
                             "session_date": dt.datetime.strptime(ses_label, "%Y%m%d").date(), "measure": measure,
                             "region": "overall", "value": value, "unit": unit, "z": -2.0, "percentile": pct,
                             "weaker_side": side, "change_since_first": 0.0,
                             # p01's second session keeps the first one's side (measures.symmetry.carry_sides)
                             "side_basis": None if side is None else (
                                 f"earlier-session:{sessions[0]}" if ses_label != sessions[0] and measure == "symmetry_index"
                                 else "healthy-range")})
        with session_scope(project.engine) as db:
            repo.upsert_scores(db, rows)
        for ses_label in sessions:
            write_report(project, site, subject, ses_label, f"report sub-{subject} ses-{ses_label} v1")

