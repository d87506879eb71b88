"""Throughput of the landmarks stage against a bare decode + MediaPipe loop.

One run over the GRID talking-face clips (../shared/data/talking-faces/grid):

(a) bare loop: ``cv2.VideoCapture`` decode + BGR->RGB + MediaPipe FaceLandmarker
    ``detect_for_video`` on every frame (one landmarker per video, as the stage);
(b) stage: :func:`palsyflow.landmarks.extract_landmarks` with default params (or
    ``--tta N`` copies) + :func:`palsyflow.landmarks.write_landmarks` to a temp dir.

Both are timed per video, alternating, after one warm-up video. Prints a table and
saves ``benchmarks/results/landmark_speed-<date>.json``.

Usage::

    python benchmarks/landmark_speed.py [--videos DIR] [--tta N] [--model PATH] 2>/dev/null

(MediaPipe's C++ logging writes to stderr and ignores GLOG_* variables; the table is
on stdout.) The machine's load average is recorded: other processes competing for
the CPUs make both numbers, and their ratio, noisy (±3 % seen at load ≈ 2-3 on 2 CPUs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bare_loop(video: Path, model: Path) -> int:
    import cv2
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    opts = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(model)),
        running_mode=vision.RunningMode.VIDEO,
        num_faces=4,
    )
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    n = 0
    with vision.FaceLandmarker.create_from_options(opts) as lm:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            lm.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb), int(round(n * 1000 / fps)))
            n += 1
    cap.release()
    return n


def stage(video: Path, model: Path, params, out: Path) -> int:
    from palsyflow.landmarks import extract_landmarks, write_landmarks

    res = extract_landmarks(video, "video", params, model)
    write_landmarks(res, out / f"{video.stem}_landmarks.parquet", out / f"{video.stem}_quality.parquet")
    return int(res.meta["n_frames"])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=Path, default=ROOT.parent / "shared" / "data" / "talking-faces" / "grid")
    ap.add_argument("--tta", type=int, default=None, help="tta_copies (default: LandmarkParams default)")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "face_landmarker.task")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)

    from palsyflow.config import LandmarkParams

    videos = sorted(p for p in args.videos.glob("*") if p.suffix.lower() in {".mpg", ".mpeg", ".mp4", ".avi", ".mov"})
    if not videos:
        sys.exit(f"no videos in {args.videos} (real data lives in ../shared/data)")
    params = LandmarkParams() if args.tta is None else LandmarkParams(tta_copies=args.tta)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        bare_loop(videos[0], args.model)  # warm-up: libraries, model file cache
        stage(videos[0], args.model, params, out)
        t_bare = t_stage = c_bare = c_stage = 0.0
        n_bare = n_stage = 0
        for v in videos:
            t0, c0 = time.perf_counter(), time.process_time()
            n_bare += bare_loop(v, args.model)
            t1, c1 = time.perf_counter(), time.process_time()
            n_stage += stage(v, args.model, params, out)
            t2, c2 = time.perf_counter(), time.process_time()
            t_bare += t1 - t0
            t_stage += t2 - t1
            c_bare += c1 - c0
            c_stage += c2 - c1
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    fps_bare = n_bare / t_bare
    fps_stage = n_stage / t_stage
    result = {
        "date": dt.date.today().isoformat(),
        "videos": len(videos),
        "video_dir": str(args.videos),
        "frames": n_bare,
        "tta_copies": params.tta_copies,
        "tta_keyframes": params.tta_keyframes,
        "bare_fps": round(fps_bare, 2),
        "stage_fps": round(fps_stage, 2),
        "ratio": round(fps_stage / fps_bare, 3),
        "bare_s": round(t_bare, 3),
        "stage_s": round(t_stage, 3),
        "bare_cpu_fps": round(n_bare / c_bare, 2),
        "stage_cpu_fps": round(n_stage / c_stage, 2),
        "cpu_ratio": round((n_stage / c_stage) / (n_bare / c_bare), 3),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "peak_rss_mb": round(rss_mb, 1),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(f"{'measure':<34}{'value':>12}")
    print("-" * 46)
    print(f"{'videos / frames':<34}{f'{len(videos)} / {n_bare}':>12}")
    print(f"{'tta copies x key frames':<34}{f'{params.tta_copies} x {params.tta_keyframes}':>12}")
    print(f"{'(a) bare decode+detect  [fps]':<34}{fps_bare:>12.1f}")
    print(f"{'(b) extract+quality+write [fps]':<34}{fps_stage:>12.1f}")
    print(f"{'ratio (b)/(a)':<34}{fps_stage / fps_bare:>12.3f}")
    print(f"{'(a) per CPU-second [frames/s]':<34}{result['bare_cpu_fps']:>12.1f}")
    print(f"{'(b) per CPU-second [frames/s]':<34}{result['stage_cpu_fps']:>12.1f}")
    print(f"{'CPU-time ratio (b)/(a)':<34}{result['cpu_ratio']:>12.3f}")
    print(f"{'peak RSS [MB]':<34}{rss_mb:>12.1f}")
    print(f"{'load average (1 min) / CPUs':<34}{str(result['load_avg_1min']) + ' / ' + str(os.cpu_count()):>12}")
    if not args.no_save:
        dest = ROOT / "benchmarks" / "results" / f"landmark_speed-{result['date']}.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(json.dumps(result, indent=2) + "\n")
        print(f"saved {dest.relative_to(ROOT)}")
    return result


if __name__ == "__main__":
    main()
