"""The nightly on a Dask cluster: throughput with 1 and 2 workers, memory per worker, growth with cohort size.

A synthetic cohort is made in a temporary folder (never kept, never committed) from the
GRID clips in ``../shared/data/talking-faces/grid``: each recording is one clip decoded
and re-encoded with PyAV (MPEG-1 video and MP2 audio in an MPEG-PS ``.mpg``, with a crop
of 0-15 px per side and a video bit rate that vary with the recording's index), so that every file's
sha256 differs and ingest sees a new recording. One ``rest`` recording per subject and
session, every subject healthy, spread over two sites.

For each cohort size in ``--sizes`` and each worker count in ``--workers`` a fresh
project (its own SQLite store and data tree) runs the stages in the nightly flow's order
(ingest, landmarks, features, validate, train, register, score, report, deliver: the same
:mod:`palsyflow.stages` functions the flow's tasks call) with ``executor.dask_scheduler``
set to a ``dask.distributed.LocalCluster`` (one thread per worker process). Reported:
seconds per stage, recordings per minute, each worker's peak RSS (``ru_maxrss`` read on
the worker after the run). Then, on the largest project, the Prefect nightly flow runs
against a running Prefect API server (:func:`flows.server.temporary_server`) with
nothing new in the drops, ``--nights`` times (default 2): the first night's wall time is
the "night with nothing new" (``noop_night_s``; every night's in ``noop_nights_s``, each
stage's seconds and items in ``noop_stage_seconds`` / ``noop_night_items``). The
server's start-up is not part of it. Before 2026-12-03 the stage runs left out register
and deliver, so that "night with nothing new" was the first to register the model: it
rescored every session (the 6,800 "processed" items were score rows), redrew every
report and delivered them (146 s).

``--noop-only DIR`` skips the cohort and the stage runs and times the nights with nothing
new on an existing project folder ``DIR`` (one a previous run kept with ``--keep DIR``,
already run once with the current code: a code change makes the stages whose code
changed redo their items) and saves ``results/scale_out-noop-<date>.json``. ``--keep DIR``
builds the largest project in ``DIR`` and keeps it.

The machine's load average (``os.getloadavg``) is recorded before and after: on a
shared machine other processes take CPU from the workers, so 1- vs 2-worker speed-ups
are only meaningful at a low load.

Usage::

    python benchmarks/scale_out.py [--sizes 50,100,200] [--workers 1,2] [--seconds 3] [--keep DIR] 2>/dev/null
    python benchmarks/scale_out.py --noop-only DIR [--workers 2] [--nights 3] 2>/dev/null
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from benchmarks._results import save_result  # noqa: E402

SHARED = Path(os.environ.get("PALSYFLOW_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
FACE_MODEL = Path(__file__).resolve().parents[1] / "models" / "face_landmarker.task"
STAGE_ORDER = ("ingest", "landmarks", "features", "validate", "train", "register", "score", "report", "deliver")


def reencode(src: Path, dest: Path, index: int, seconds: float) -> None:
    """Decode ``src`` and write it to ``dest`` with a crop and quality that depend on ``index``."""
    import av

    crop = index % 16
    with av.open(str(src)) as inp, av.open(str(dest), "w", format="mpeg") as out:
        vin = inp.streams.video[0]
        ain = inp.streams.audio[0] if inp.streams.audio else None
        rate = vin.average_rate or 25
        w, h = vin.codec_context.width - 2 * crop, vin.codec_context.height - 2 * crop
        vout = out.add_stream("mpeg1video", rate=rate)
        vout.width, vout.height, vout.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        vout.bit_rate = 800_000 + 10_000 * (index % 50)
        aout = out.add_stream("mp2", rate=ain.codec_context.sample_rate) if ain is not None else None
        limit = seconds
        for frame in inp.decode(*(s for s in (vin, ain) if s is not None)):
            if frame.time is not None and frame.time > limit:
                continue
            if isinstance(frame, av.VideoFrame):
                img = frame.to_ndarray(format="rgb24")[crop : crop + vout.height, crop : crop + vout.width]
                new = av.VideoFrame.from_ndarray(img.copy(), format="rgb24")
                for pkt in vout.encode(new):
                    out.mux(pkt)
            elif aout is not None:
                frame.pts = None
                for pkt in aout.encode(frame):
                    out.mux(pkt)
        for stream in (vout, aout):
            if stream is not None:
                for pkt in stream.encode():
                    out.mux(pkt)


def make_cohort(pool: Path, n: int, seconds: float) -> list[Path]:
    """``n`` distinct recordings in ``pool`` (re-used across cohort sizes)."""
    clips = sorted((SHARED / "talking-faces" / "grid").glob("*.mpg"))
    pool.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        dest = pool / f"r{i:04d}.mpg"
        if not dest.exists():
            reencode(clips[i % len(clips)], dest, i, seconds)
        files.append(dest)
    return files


def make_project(root: Path, files: list[Path], scheduler: str) -> None:
    for i, f in enumerate(files):
        site = ("north", "south")[i % 2]
        drop = root / "drops" / site
        drop.mkdir(parents=True, exist_ok=True)
        manifest = drop / "manifest.csv"
        if not manifest.exists():
            manifest.write_text("subject,session_date,task,file,hb_grade,healthy\n")
        name = f"S{i:04d}.mpg"
        os.link(f, drop / name) if f.stat().st_dev == drop.stat().st_dev else shutil.copyfile(f, drop / name)
        with manifest.open("a") as fh:
            fh.write(f"S{i:04d},2026-01-{1 + i % 28:02d},rest,{name},,yes\n")
    params = {
        "paths": {"drops": "drops", "data": "data", "face_model": str(FACE_MODEL)},
        "executor": {"kind": "dask", "dask_scheduler": scheduler},
        "landmarks": {"tta_copies": 1},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_stages(root: Path) -> dict:
    from palsyflow import stages
    from palsyflow.project import Project
    from palsyflow.stages.deliver import deliver

    project = Project.load(root)
    times = {}
    for name in STAGE_ORDER:
        t0 = time.perf_counter()
        if name == "ingest":
            res = [stages.ingest(project, [s]) for s in stages.site_drops(project)]
        elif name == "deliver":
            res = deliver(project)
        else:
            res = getattr(stages, name)(project)
        times[name] = round(time.perf_counter() - t0, 2)
        for r in res if isinstance(res, list) else [res]:
            d = r.as_dict()
            if d.get("error"):
                raise RuntimeError(f"{name}: {d['error']}")
    return times


def noop_nights(root: Path, workers: int, nights: int) -> dict:
    """The Prefect nightly flow on ``root`` with nothing new, ``nights`` times, on a running API server."""
    from dask.distributed import LocalCluster

    from flows.server import temporary_server

    with temporary_server():
        from flows.nightly import nightly

        with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster:
            params = yaml.safe_load((root / "params.yaml").read_text())
            params["executor"] = {"kind": "dask", "dask_scheduler": cluster.scheduler_address}
            (root / "params.yaml").write_text(yaml.safe_dump(params))
            seconds, items = [], []
            for _ in range(nights):
                t = time.perf_counter()
                summary = nightly(root=str(root), dvc_commit=False)
                seconds.append(round(time.perf_counter() - t, 2))
                items.append({
                    name: {k: sum(r[k] for r in (res if isinstance(res, list) else [res])) for k in ("processed", "skipped")}
                    for name, res in summary.items() if isinstance(res, (dict, list))
                })
    processed = sum(v["processed"] for v in items[0].values())
    print(f"nights with nothing new ({root.name}, Prefect API server running): {seconds} s, "
          f"{processed} items processed on the first")
    return {"noop_night_s": seconds[0], "noop_nights_s": seconds, "noop_night_processed": processed,
            "noop_night_items": items[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="50,100,200")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--seconds", type=float, default=3.0, help="keep this much of each clip")
    ap.add_argument("--nights", type=int, default=2, help="nights with nothing new to time")
    ap.add_argument("--keep", type=Path, help="build the largest project in this folder and keep it")
    ap.add_argument("--noop-only", type=Path, metavar="DIR", help="only the nights with nothing new, on this project")
    args = ap.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    workers = [int(w) for w in args.workers.split(",")]
    load_before = os.getloadavg()
    if args.noop_only:
        root = args.noop_only.resolve()
        noop = noop_nights(root, max(workers), args.nights)
        save_result("scale_out-noop", {
            "date": time.strftime("%Y-%m-%d"),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "load_before": load_before, "load_after": os.getloadavg(), "workers": max(workers),
            "recordings": len(read_registry_keys(root)), **noop,
        })
        return
    from dask.distributed import Client, LocalCluster

    sizes = [int(s) for s in args.sizes.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="palsyflow-scale-"))
    runs = []
    try:
        t0 = time.perf_counter()
        files = make_cohort(tmp / "pool", max(sizes), args.seconds)
        make_s = time.perf_counter() - t0
        print(f"made {len(files)} re-encoded recordings in {make_s:.0f} s")
        last_root = None
        for n in sizes:
            for w in workers:
                root = tmp / f"n{n}-w{w}"
                if args.keep and n == max(sizes) and w == workers[-1]:
                    root = args.keep.resolve()
                with LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
                    make_project(root, files[:n], cluster.scheduler_address)
                    t = time.perf_counter()
                    stage_s = run_stages(root)
                    total = time.perf_counter() - t
                    peaks = sorted(client.run(_peak_rss_mb).values())
                row = {
                    "recordings": n, "workers": w, "seconds": round(total, 1),
                    "recordings_per_min": round(60 * n / total, 2), "stage_seconds": stage_s,
                    "worker_peak_rss_mb": [round(p) for p in peaks], "load_after": os.getloadavg()[0],
                }
                runs.append(row)
                print(f"{n:4d} recordings, {w} worker(s): {total:7.1f} s, {row['recordings_per_min']:6.1f} rec/min, "
                      f"peak RSS per worker {row['worker_peak_rss_mb']} MB, stages {stage_s}")
                last_root = root
        # nights with nothing new, through the Prefect flow on a running API server
        noop = noop_nights(last_root, max(workers), args.nights)
        growth = {f"{n}": [r["seconds"] for r in runs if r["recordings"] == n] for n in sizes}
        result = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "load_before": load_before,
            "load_after": os.getloadavg(),
            "clip_seconds": args.seconds,
            "make_cohort_s": round(make_s, 1),
            "runs": runs,
            "seconds_by_size_per_worker_count": growth,
            **noop,
        }
        save_result("scale_out", result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_registry_keys(root: Path) -> list[str]:
    """The recording keys registered in the project at ``root``."""
    from palsyflow.project import Project
    from palsyflow.stages.ingest import read_registry

    reg = read_registry(Project.load(root))
    return reg["key"].to_list() if reg.height else []


if __name__ == "__main__":
    main()
