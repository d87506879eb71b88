"""Simulated recovering patients for the sample cohort: the ``data/sample/sim`` drop.

Three simulated patients, three sessions each, made from GRID corpus clips (Cooke et
al. 2006, doi:10.1121/1.2229005; CC BY 4.0, redistributable) with
:func:`palsyflow.phantom.simulate_weakness`: a unilateral weakness whose fraction ``w``
falls from session to session (a recovering Bell's palsy; SIM01, SIM02) or falls and
then rises again (a patient who worsens after improving; SIM03), so the demo's
longitudinal plots show real change, and a regression, measured on real pixels. Each session is one video used for
both the ``rest`` and the ``speech`` task (like the ``north``/``south`` drops); the
video keeps the clip's real audio track.

Run ``python -m palsyflow.phantom.cohort [--grid DIR] [--out DIR] [--model FILE] [--subject ID ...]``
(``--subject`` re-renders only those subjects' videos; the manifest and README always
list the whole cohort).
The output is deterministic (same bytes for the same inputs and library versions).
"""

from __future__ import annotations

import argparse
import csv
import io
from dataclasses import dataclass
from pathlib import Path

from palsyflow.atomic import atomic_write_text
from palsyflow.config import LandmarkParams
from palsyflow.conventions import Side
from palsyflow.phantom.simulate import simulate_weakness, track_video
from palsyflow.speech.prompts import grid_sentence

__all__ = ["SimSession", "SESSIONS", "build_cohort", "main"]


@dataclass(frozen=True)
class SimSession:
    """One simulated session.

    Attributes
    ----------
    subject : str
        Pseudonym (alphanumeric).
    date : str
        Session date, ISO ``YYYY-MM-DD``.
    clip : str
        GRID clip name (file stem under ``talking-faces/grid``).
    side : {"left", "right"}
        Weakened side, the patient's.
    fraction : float
        Simulated weakness ``w`` (0 = healthy, 1 = no movement on that side).
    hb_estimate : str
        A rough House-Brackmann grade a clinician might expect for this weakness; only
        written to ``notes`` (labelled as an estimate), never to ``hb_grade``.
    """
    subject: str
    date: str
    clip: str
    side: Side
    fraction: float
    hb_estimate: str

    @property
    def file(self) -> str:
        """File name in the drop."""
        return f"{self.subject}_{self.date}.mp4"


#: The simulated cohort. Speakers: lbbc2a (also north N04), swiz3n (also south S04) and
#: lwbsza (also south S01), each used once by the healthy drops; the pseudonyms differ.
#: SIM03 improves (60 % -> 20 %) and then worsens again (70 %; not 60 %, whose video would repeat the first one byte for byte): the demo's regression.
SESSIONS: tuple[SimSession, ...] = (
    SimSession("SIM01", "2026-01-20", "lbbc2a", "left", 0.8, "IV"),
    SimSession("SIM01", "2026-02-24", "lbbc2a", "left", 0.5, "III"),
    SimSession("SIM01", "2026-04-07", "lbbc2a", "left", 0.2, "II"),
    SimSession("SIM02", "2026-01-27", "swiz3n", "right", 0.6, "III"),
    SimSession("SIM02", "2026-03-03", "swiz3n", "right", 0.4, "III"),
    SimSession("SIM02", "2026-04-14", "swiz3n", "right", 0.1, "II"),
    SimSession("SIM03", "2026-02-03", "lwbsza", "left", 0.6, "III"),
    SimSession("SIM03", "2026-03-10", "lwbsza", "left", 0.2, "II"),
    SimSession("SIM03", "2026-04-21", "lwbsza", "left", 0.7, "III"),
)

MANIFEST_COLUMNS = ("subject", "session_date", "task", "file", "hb_grade", "healthy", "simulated", "notes", "prompt", "onset")

#: Simulated onset date of each subject's palsy (the manifest's ``onset``): two to three
#: weeks before the first session, as for a Bell's palsy referred to a facial-nerve clinic.
ONSETS: dict[str, str] = {"SIM01": "2026-01-06", "SIM02": "2026-01-08", "SIM03": "2026-01-16"}


def _notes(s: SimSession) -> str:
    return (
        f"simulated from GRID {s.clip}: patient's {s.side} side movement reduced by "
        f"{round(100 * s.fraction)}% (palsyflow.phantom); HB estimate {s.hb_estimate}, not a clinical grade"
    )


def manifest_text(sessions: tuple[SimSession, ...] = SESSIONS) -> str:
    """The drop's ``manifest.csv`` (rest and speech rows per session, same file; the speech
    row's ``prompt`` is the GRID sentence the clip's speaker reads; ``onset`` from
    :data:`ONSETS`, empty for a subject not in it)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(MANIFEST_COLUMNS)
    for s in sessions:
        for task in ("rest", "speech"):
            prompt = grid_sentence(s.clip) if task == "speech" else ""
            w.writerow((s.subject, s.date, task, s.file, "", "no", "yes", _notes(s), prompt, ONSETS.get(s.subject, "")))
    return buf.getvalue()


def readme_text(sessions: tuple[SimSession, ...] = SESSIONS, sizes: dict[str, int] | None = None) -> str:
    """``README.md`` of the drop: what is simulated, from which clip, with which ``w``; attribution."""
    rows = "\n".join(
        f"| {s.subject} | {s.date} | {s.file} | GRID `{s.clip}` | {s.side} | {s.fraction:.1f} | {s.hb_estimate} (estimate) |"
        for s in sessions
    )
    return f"""# Sample drop `sim`: simulated recovering patients (NOT real patients)

Every video here is a **palsy phantom**: a real GRID corpus clip of a healthy
speaker in which palsyflow (`palsyflow.phantom`, generator
`python -m palsyflow.phantom.cohort`) made one side of the face move less. The
weakened side's movement from the neutral frame is multiplied by `1 - w` (smooth
falloff across the midline; piecewise-affine warp of the real pixels on the MediaPipe
landmark mesh, cross-dissolved with the warped neutral frame on the weakened side; no
static droop). The audio is the clip's original audio track, unchanged. `w` falls
from session to session, as in a recovering Bell's palsy, so the longitudinal plots
of the demo have real change to show; for SIM03 it falls and then rises again (a
patient who worsens after improving, so the demo shows a regression event).
**No one in these videos has a facial palsy.**

The manifest marks every row `healthy=no, simulated=yes`. `hb_grade` is empty: the
House-Brackmann grades in the table and the `notes` column are rough estimates for the
simulated weakness, not clinical grades, and must not be used as training labels.
The `onset` column gives each simulated patient an invented onset date
(SIM01 {ONSETS["SIM01"]}, SIM02 {ONSETS["SIM02"]}, SIM03 {ONSETS["SIM03"]}), so the reports show the
time since onset.

| subject | session | file | source clip | weakened side (patient's) | w | HB |
|---|---|---|---|---|---|---|
{rows}

## Attribution and licence

Derived from the **GRID audiovisual sentence corpus**:

> Cooke, M., Barker, J., Cunningham, S. and Shao, X. (2006). An audio-visual corpus for
> speech perception and automatic speech recognition. *The Journal of the Acoustical
> Society of America* 120(5), 2421-2424. doi:10.1121/1.2229005

licensed under Creative Commons Attribution 4.0 International (CC BY 4.0,
https://creativecommons.org/licenses/by/4.0/); clips from the sample files of the
LipNet repository (rizkiarm/LipNet, MIT). Changes: the face was warped to simulate a
unilateral facial weakness and the video re-encoded (MPEG-4 Part 2 in MP4; audio
stream copied). The speakers of `lbbc2a`, `swiz3n` and `lwbsza` also appear, unmodified and
under other pseudonyms, in the `north` (N04) and `south` (S04, S01) drops.
"""


def build_cohort(
    grid_dir: Path,
    out_dir: Path,
    model_path: Path,
    sessions: tuple[SimSession, ...] = SESSIONS,
    video_bitrate: int = 700_000,
    subjects: tuple[str, ...] | None = None,
) -> list[Path]:
    """Write the simulated drop: one phantom video per session, ``manifest.csv``, ``README.md``.

    Parameters
    ----------
    grid_dir : Path
        Folder with the GRID clips (``<clip>.mpg``).
    out_dir : Path
        The drop folder (created); existing files of the same names are replaced.
    model_path : Path
        ``face_landmarker.task``.
    sessions : tuple of SimSession
    video_bitrate : int
        Video bit rate, bit/s (files of ~3 s stay near 300 kB).
    subjects : tuple of str, optional
        Render only these subjects' videos (the others are left as they are); the
        manifest and README always list all ``sessions``.

    Returns
    -------
    list of Path
        Written files (videos, manifest, README).

    Raises
    ------
    FileNotFoundError
        A clip or the model is missing.
    """
    grid_dir, out_dir, model_path = Path(grid_dir), Path(out_dir), Path(model_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = LandmarkParams(tta_copies=1)
    written: list[Path] = []
    tracks: dict[str, tuple] = {}
    for s in sessions:
        if subjects is not None and s.subject not in subjects:
            continue
        src = grid_dir / f"{s.clip}.mpg"
        if not src.is_file():
            raise FileNotFoundError(src)
        if s.clip not in tracks:
            tracks[s.clip] = track_video(src, model_path, params)
        out = out_dir / s.file
        simulate_weakness(
            src, out, s.side, s.fraction, model_path, params=params, sidecar=False,
            tracks=tracks[s.clip], video_bitrate=video_bitrate,
        )
        written.append(out)
    written.append(atomic_write_text(out_dir / "manifest.csv", manifest_text(sessions)))
    written.append(atomic_write_text(out_dir / "README.md", readme_text(sessions)))
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    root = Path(__file__).resolve().parents[3]
    ap = argparse.ArgumentParser(description="Write the simulated recovering patients (data/sample/sim).")
    ap.add_argument("--grid", type=Path, default=root.parent / "shared" / "data" / "talking-faces" / "grid")
    ap.add_argument("--out", type=Path, default=root / "data" / "sample" / "sim")
    ap.add_argument("--model", type=Path, default=root / "models" / "face_landmarker.task")
    ap.add_argument("--subject", action="append", default=None, help="render only this subject's videos (repeatable)")
    args = ap.parse_args(argv)
    files = build_cohort(args.grid, args.out, args.model, subjects=tuple(args.subject) if args.subject else None)
    total = sum(f.stat().st_size for f in files)
    for f in files:
        print(f"{f.stat().st_size:>9} {f}")
    print(f"{total:>9} bytes in {len(files)} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
