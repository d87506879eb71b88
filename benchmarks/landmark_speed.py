"""Throughput of the landmarks stage against a bare decode + MediaPipe loop.

One run over the GRID talking-face clips (../shared/data/talking-faces/grid):

(a) bare loop: ``cv2.VideoCapture`` decode + BGR->RGB + MediaPipe FaceLandmarker
    ``detect_for_video`` on every frame (one landmarker per video, as the stage);
(b) stage: :func:`palsyflow.landmarks.extract_landmarks` with default params (or
    ``--tta N`` copies) + :func:`palsyflow.landmarks.write_landmarks` to a temp dir;
(c) the same stage without TTA (``tta_copies=1``), to show TTA's per-recording cost.

All are timed per video, alternating, after one warm-up video. Then, each in a fresh
subprocess:

(d) peak memory (max RSS) of the stage on a 60 s 1920x1080 clip made in a temp dir
    from the GRID clips (scaled to 1080 px high, centred on a black 1920x1080 frame,
    concatenated to 60 s at 25 fps with ``cv2.VideoWriter``; never kept);
(e) time per 1600 px phone photo (healthy-tasks, EXIF-rotated) with TTA N = 16, on one
    core (``os.sched_setaffinity`` to CPU 0 and OMP/OpenBLAS/MKL threads = 1), for the
    face-crop TTA (default) and the whole-frame TTA (``tta_crop_side=0``); the number
    of threads of the process is reported (MediaPipe's XNNPACK delegate starts its own).

Prints a table and saves ``benchmarks/results/landmark_speed-<date>.json``.

Usage::

    python benchmarks/landmark_speed.py [--videos DIR] [--tta N] [--model PATH]
        [--photo PATH] [--skip-memory] [--skip-photo] 2>/dev/null

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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _results import save_result  # benchmarks/_results.py (scripts run with benchmarks/ on sys.path)

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


def make_long_clip(videos: list[Path], dest: Path, seconds: float = 60.0, size=(1920, 1080), fps: float = 25.0) -> int:
    """Concatenate ``videos`` (looping) into a ``seconds`` long clip of ``size``; returns frames."""
    import cv2

    w, h = size
    writer = cv2.VideoWriter(str(dest), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {dest}")
    need, n = int(round(seconds * fps)), 0
    canvas = np.zeros((h, w, 3), np.uint8)
    try:
        while n < need:
            for v in videos:
                cap = cv2.VideoCapture(str(v))
                while n < need:
                    ok, bgr = cap.read()
                    if not ok:
                        break
                    s = h / bgr.shape[0]
                    fw = min(w, int(round(bgr.shape[1] * s)))
                    x0 = (w - fw) // 2
                    canvas[:, x0 : x0 + fw] = cv2.resize(bgr, (fw, h), interpolation=cv2.INTER_LINEAR)
                    writer.write(canvas)
                    n += 1
                cap.release()
                if n >= need:
                    break
    finally:
        writer.release()
    return n


def _child_memory(video: Path, model: Path) -> dict:
    """Run in a fresh process: peak RSS of the stage on ``video``."""
    from palsyflow.config import LandmarkParams
    from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker

    params = LandmarkParams()
    with MediaPipeLandmarker(model, "video", params):
        pass
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        n = stage(video, model, params, Path(tmp))
        dt_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"frames": n, "seconds": round(dt_s, 2), "fps": round(n / dt_s, 2),
            "baseline_rss_mb": round(base, 1), "peak_rss_mb": round(peak, 1)}


def _child_photo(photo: Path, model: Path, one_core: bool, repeats: int = 5) -> dict:
    """Run in a fresh process: seconds per photo (extract_landmarks, TTA N = 16)."""
    if one_core:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from palsyflow.config import LandmarkParams
    from palsyflow.landmarks import extract_landmarks

    out = {"cpus_allowed": len(os.sched_getaffinity(0))}
    for name, crop in (("crop", LandmarkParams().tta_crop_side), ("whole", 0)):
        params = LandmarkParams(tta_copies=16, tta_crop_side=crop)
        extract_landmarks(photo, "photo", params, model)  # warm-up
        walls, cpus = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            res = extract_landmarks(photo, "photo", params, model)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        q = res.quality.row(0, named=True)
        out[name] = {"median_s": round(statistics.median(walls), 3), "min_s": round(min(walls), 3),
                     "cpu_s": round(statistics.median(cpus), 3), "tta_found": q["tta_copies"],
                     "spread_iod_pct": round(q["tta_spread_iod_pct"], 3)}
    out["threads"] = len(os.listdir("/proc/self/task"))
    out["width_height"] = [res.meta["width"], res.meta["height"]]
    return out


def _in_child(flag: str, *args: str, env: dict | None = None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), flag, *args]
    full_env = dict(os.environ, **(env or {}))
    done = subprocess.run(cmd, capture_output=True, text=True, env=full_env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=Path, default=ROOT.parent / "shared" / "data" / "talking-faces" / "grid")
    ap.add_argument("--tta", type=int, default=None, help="tta_copies (default: LandmarkParams default)")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "face_landmarker.task")
    ap.add_argument("--photo", type=Path, default=None, help="a 1600 px photo (default: a healthy-tasks phone photo)")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-photo", action="store_true")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--_child-memory", dest="child_memory", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_child-photo", dest="child_photo", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_all-cores", dest="all_cores", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_memory:
        print(json.dumps(_child_memory(args.child_memory, args.model)))
        return {}
    if args.child_photo:
        print(json.dumps(_child_photo(args.child_photo, args.model, one_core=not args.all_cores)))
        return {}

    from palsyflow.config import LandmarkParams

    videos = sorted(p for p in args.videos.glob("*") if p.suffix.lower() in {".mpg", ".mpeg", ".mp4", ".avi", ".mov"})
    if not videos:
        sys.exit(f"no videos in {args.videos} (real data lives in ../shared/data)")
    params = LandmarkParams() if args.tta is None else LandmarkParams(tta_copies=args.tta)
    no_tta = params.model_copy(update={"tta_copies": 1})

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        bare_loop(videos[0], args.model)  # warm-up: libraries, model file cache
        stage(videos[0], args.model, params, out)
        t_bare = t_stage = t_plain = c_bare = c_stage = c_plain = 0.0
        n_bare = n_stage = n_plain = 0
        for v in videos:
            t0, c0 = time.perf_counter(), time.process_time()
            n_bare += bare_loop(v, args.model)
            t1, c1 = time.perf_counter(), time.process_time()
            n_stage += stage(v, args.model, params, out)
            t2, c2 = time.perf_counter(), time.process_time()
            n_plain += stage(v, args.model, no_tta, out)
            t3, c3 = time.perf_counter(), time.process_time()
            c_plain += c3 - c2
            t_bare += t1 - t0
            t_stage += t2 - t1
            t_plain += t3 - t2
            c_bare += c1 - c0
            c_stage += c2 - c1
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    fps_bare = n_bare / t_bare
    fps_stage = n_stage / t_stage
    fps_plain = n_plain / t_plain
    tta_ms = 1000.0 * (t_stage - t_plain) / len(videos)
    tta_cpu_ms = 1000.0 * (c_stage - c_plain) / len(videos)
    # shortest recording (s, at the clips' frame rate) whose stage keeps >= 80 % of the
    # bare loop's CPU throughput: n c_plain/n_plain + tta <= n c_bare/(0.8 n_bare)
    margin = c_bare / n_bare / 0.8 - c_plain / n_plain
    import cv2

    cap = cv2.VideoCapture(str(videos[0]))
    fps_clip = float(cap.get(cv2.CAP_PROP_FPS) or 25.0)
    cap.release()
    break_even_s = (tta_cpu_ms / 1000.0 / margin / fps_clip) if margin > 0 else float("inf")
    result = {
        "date": dt.date.today().isoformat(),
        "videos": len(videos),
        "video_dir": str(args.videos),
        "frames": n_bare,
        "tta_copies": params.tta_copies,
        "tta_keyframes": params.tta_keyframes,
        "tta_crop_side": params.tta_crop_side,
        "bare_fps": round(fps_bare, 2),
        "stage_fps": round(fps_stage, 2),
        "ratio": round(fps_stage / fps_bare, 3),
        "stage_no_tta_fps": round(fps_plain, 2),
        "ratio_no_tta": round(fps_plain / fps_bare, 3),
        "tta_ms_per_recording": round(tta_ms, 1),
        "tta_cpu_ms_per_recording": round(tta_cpu_ms, 1),
        "stage_no_tta_cpu_fps": round(n_plain / c_plain, 2),
        "cpu_ratio_no_tta": round((n_plain / c_plain) / (n_bare / c_bare), 3),
        "min_recording_s_for_cpu_ratio_0.8": round(break_even_s, 2),
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
    print(f"{'measure':<40}{'value':>14}")
    print("-" * 54)
    print(f"{'videos / frames':<40}{f'{len(videos)} / {n_bare}':>14}")
    print(f"{'tta copies x key frames (crop px)':<40}{f'{params.tta_copies} x {params.tta_keyframes} ({params.tta_crop_side})':>14}")
    print(f"{'(a) bare decode+detect  [fps]':<40}{fps_bare:>14.1f}")
    print(f"{'(b) extract+quality+write [fps]':<40}{fps_stage:>14.1f}")
    print(f"{'ratio (b)/(a)':<40}{fps_stage / fps_bare:>14.3f}")
    print(f"{'(c) stage without TTA [fps]':<40}{fps_plain:>14.1f}")
    print(f"{'ratio (c)/(a)':<40}{fps_plain / fps_bare:>14.3f}")
    print(f"{'TTA cost per recording [ms]':<40}{tta_ms:>14.0f}")
    print(f"{'(a) per CPU-second [frames/s]':<40}{result['bare_cpu_fps']:>14.1f}")
    print(f"{'(b) per CPU-second [frames/s]':<40}{result['stage_cpu_fps']:>14.1f}")
    print(f"{'CPU-time ratio (b)/(a)':<40}{result['cpu_ratio']:>14.3f}")
    print(f"{'CPU-time ratio (c)/(a)':<40}{result['cpu_ratio_no_tta']:>14.3f}")
    print(f"{'TTA CPU per recording [ms]':<40}{tta_cpu_ms:>14.0f}")
    print(f"{'recording length for CPU ratio 0.8 [s]':<40}{break_even_s:>14.1f}")
    print(f"{'peak RSS of this run [MB]':<40}{rss_mb:>14.1f}")
    print(f"{'load average (1 min) / CPUs':<40}{str(result['load_avg_1min']) + ' / ' + str(os.cpu_count()):>14}")

    if not args.skip_memory:
        with tempfile.TemporaryDirectory() as tmp:
            clip = Path(tmp) / "long_1080p.mp4"
            t0 = time.perf_counter()
            frames = make_long_clip(videos, clip)
            mem = _in_child("--_child-memory", str(clip), "--model", str(args.model))
            mem["clip_frames"] = frames
            mem["clip_mb"] = round(clip.stat().st_size / 2**20, 1)
            mem["make_s"] = round(time.perf_counter() - t0 - mem["seconds"], 1)
        result["memory_60s_1080p"] = mem
        print(f"{'60 s 1080p clip: frames / stage fps':<40}{str(mem['frames']) + ' / ' + format(mem['fps'], '.1f'):>14}")
        print(f"{'  stage peak RSS [MB] (target < 1024)':<40}{mem['peak_rss_mb']:>14.1f}")
        print(f"{'  RSS after loading the model [MB]':<40}{mem['baseline_rss_mb']:>14.1f}")

    if not args.skip_photo:
        photo = args.photo
        if photo is None:
            cands = sorted((ROOT.parent / "shared" / "data" / "healthy-tasks" / "app_uploads").glob("*/at-rest-1.jpg"))
            photo = cands[0] if cands else None
        if photo is None or not photo.is_file():
            print("no 1600 px photo found: skipping (e)")
        else:
            limits = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
            one = _in_child("--_child-photo", str(photo), "--model", str(args.model), env=limits)
            allc = _in_child("--_child-photo", str(photo), "--model", str(args.model), "--_all-cores")
            result["photo_tta16"] = {"photo": photo.name, "one_core": one, "all_cores": allc}
            wh = "x".join(map(str, one["width_height"]))
            print(f"{'photo ' + wh + ', TTA N=16, 1 core [s]':<40}{one['crop']['median_s']:>14.3f}")
            print(f"{'  same, whole-frame TTA [s]':<40}{one['whole']['median_s']:>14.3f}")
            print(f"{'  CPU s per photo (crop / whole)':<40}{str(one['crop']['cpu_s']) + ' / ' + str(one['whole']['cpu_s']):>14}")
            print(f"{'  all cores: wall s / CPU s (crop)':<40}{str(allc['crop']['median_s']) + ' / ' + str(allc['crop']['cpu_s']):>14}")
            print(f"{'  process threads (1 core / all)':<40}{str(one['threads']) + ' / ' + str(allc['threads']):>14}")
            print(f"{'  TTA spread [% IOD] (crop / whole)':<40}{str(one['crop']['spread_iod_pct']) + ' / ' + str(one['whole']['spread_iod_pct']):>14}")
    if not args.no_save:
        save_result("landmark_speed", result, result["date"])
    return result


if __name__ == "__main__":
    main()
