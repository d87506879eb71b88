"""palsyflow's Emotrics-equivalent measures against Emotrics' own code, on identical landmarks.

A one-off check of :mod:`palsyflow.features.emotrics` against the measurement module of
Emotrics (Guarin et al. 2018, doi:10.1001/jamafacial.2018.0030; github.com/dguari1/Emotrics,
MIT licence). Emotrics' ``measurements.py`` is imported from a checkout OUTSIDE this
project (``--emotrics``: the checkout, or a bare git dir from which the file is written
to a temporary directory); nothing of it is copied here. It needs only numpy and scipy.

Inputs (``../shared/data``, internal use only, nothing copied):

* ``faces-68pt``: the hand-annotated iBUG-68 points; the iris circles (not annotated)
  come from MediaPipe run on a 384-px crop around each face (centres 468/473, radius =
  half the mean ring diameter); faces MediaPipe misses are skipped.
* ``healthy-tasks``: every photo, MediaPipe landmarks (TTA off); the 68 points are
  palsyflow's MediaPipe -> iBUG-68 map with offsets, the iris MediaPipe's.

Both implementations get the same 68 points and iris circles. Column "fixed" runs
Emotrics with one fix applied in memory (the right-side half-distance of
``find_mid_point_lips`` uses the centre's x for y); column "explained" compares that
with ours as Emotrics reports (its 1-px grid for the dental-show point, magnitudes of
MRD1 / MRD2 / brow height, crossed lids left out), to show that the deliberate
differences of :mod:`palsyflow.features.emotrics` explain all that remains. The script also prints the ocular synkinesis (smile, pucker) and the
lagophthalmos gap (eye_closure_full) of every healthy session.

Saves ``benchmarks/results/emotrics_compare-<date>.json``; skips (exit 0) when
``--emotrics`` is not given or does not exist.

Usage::

    python benchmarks/emotrics_compare.py --emotrics /work/.mirror/dguari1+Emotrics/repo 2>/dev/null
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _results import save_result  # noqa: E402

SIDED = {
    "brow_height": "BrowHeight",
    "mrd1": "MarginalReflexDistance1",
    "mrd2": "MarginalReflexDistance2",
    "palpebral_fissure_height": "PalpebralFissureHeight",
    "commissure_excursion": "CommissureExcursion",
    "smile_angle": "SmileAngle",
    "dental_show": "DentalShow",
}
BILATERAL = {
    "commissure_height_deviation": "CommisureHeightDeviation",
    "lower_lip_height_deviation": "LowerLipHeightDeviation",
    "upper_lip_height_deviation": "UpperLipHeightDeviation",
}


def load_emotrics(path: Path, tmp: Path):
    """Emotrics' measurements module, from a checkout or a bare git dir."""
    src = path / "measurements.py"
    if not src.is_file():
        src = tmp / "measurements.py"
        src.write_bytes(subprocess.run(["git", f"--git-dir={path}", "show", "HEAD:measurements.py"], check=True, capture_output=True).stdout)
    spec = importlib.util.spec_from_file_location("emotrics_measurements", src)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fixed_mid_point(corner_left, corner_right, center, rot_angle):
    """Half the commissures' distances from the midline, both with the centre's own y."""
    c, s = np.cos(rot_angle), np.sin(rot_angle)
    xl = c * (corner_left[0] - center[0]) + s * (corner_left[1] - center[1])
    xr = c * (corner_right[0] - center[0]) + s * (corner_right[1] - center[1])
    return abs(xl / 2), abs(xr / 2)


def theirs(mod, p68: np.ndarray, iris: np.ndarray, fixed: bool = False) -> dict[str, float] | None:
    """Emotrics' measures as palsyflow names (iris rows: patient's right, left)."""
    original = mod.find_mid_point_lips
    if fixed:
        mod.find_mid_point_lips = fixed_mid_point
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            left, right, dev, _ = mod.get_measurements_from_data(p68.copy(), list(iris[1]), list(iris[0]), "Iris", 11.77)
    except Exception:  # noqa: BLE001 - their code on an odd face
        return None
    finally:
        mod.find_mid_point_lips = original
    out = {}
    for ours, attr in SIDED.items():
        out[f"emotrics_{ours}_left"] = float(getattr(left, attr))
        out[f"emotrics_{ours}_right"] = float(getattr(right, attr))
    for ours, attr in BILATERAL.items():
        out[f"emotrics_{ours}"] = float(getattr(dev, attr))
    return out


@contextlib.contextmanager
def grid_lip_point():
    """Ours with Emotrics' 1-px grid for the dental-show point (explains what is left)."""
    from palsyflow.features import emotrics as E

    exact = E._lip_point

    def on_grid(q, side):
        c = q[E._COMMISSURE[side]]
        up = q[list(E._UPPER_LIP)] - c
        xs = np.arange(int(round(up[:, 0].min())), int(round(up[:, 0].max())) + 1)
        spline = E._spline(up)
        return float(xs[np.argmin(abs(np.hypot(xs, spline(xs)) - 0.5 * abs(c[0])))] + c[0])

    E._lip_point = on_grid
    try:
        yield
    finally:
        E._lip_point = exact


def as_emotrics_reports(ours: dict) -> dict:
    """Ours as Emotrics reports it: magnitudes of the signed lengths; crossed lids left out."""
    out = dict(ours)
    for k, v in ours.items():
        if v is not None and any(m in k for m in ("mrd1", "mrd2", "brow_height")):
            out[k] = abs(v)
        if "palpebral_fissure" in k and v == 0.0:
            out[k] = None
    return out


def mp_iris(points478: np.ndarray) -> np.ndarray:
    """Iris circles (right, left) x (x, y, r) from MediaPipe points."""
    from palsyflow.features.geometry import iris_diameter_px
    from palsyflow.features.regions import IRIS_CENTER

    r = float(iris_diameter_px(points478[None])[0]) / 2
    return np.array([[*points478[IRIS_CENTER[s], :2], r] for s in ("right", "left")])


def faces68(data: Path, model: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(face id, annotated 68 points, MediaPipe iris) for every face MediaPipe finds."""
    import cv2

    from palsyflow.config import LandmarkParams
    from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker

    rows = list(csv.DictReader(open(data / "faces-68pt" / "dlib_faces_68pt_landmarks.csv", encoding="utf-8")))
    out = []
    with MediaPipeLandmarker(model, "image", LandmarkParams(tta_copies=1)) as lm:
        for r in rows:
            img = cv2.cvtColor(cv2.imread(str(data / "faces-68pt" / r["image"])), cv2.COLOR_BGR2RGB)
            pts = np.array([[float(r[f"x{i}"]), float(r[f"y{i}"])] for i in range(68)])
            side = 2.2 * float((pts.max(0) - pts.min(0)).max())
            x0, y0 = pts.mean(0) - side / 2
            k = 384 / side
            crop = cv2.warpAffine(img, np.array([[k, 0, -k * x0], [0, k, -k * y0]]), (384, 384), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
            det = lm.detect(crop)
            if det.chosen is None:
                continue
            f = det.faces[det.chosen][:, :2]
            p478 = np.column_stack([f[:, 0] / k + x0, f[:, 1] / k + y0])
            out.append((f"{r['image']}#{r['face_idx']}", pts, mp_iris(p478)))
    return out


def healthy(data: Path, model: Path) -> dict[str, dict[str, np.ndarray]]:
    """Session -> task -> MediaPipe points (478, 3) of the photo."""
    from healthy_asymmetry import sessions

    from palsyflow.config import LandmarkParams
    from palsyflow.landmarks import extract_landmarks

    params = LandmarkParams(tta_copies=1)
    out: dict[str, dict[str, np.ndarray]] = {}
    for label, files in sessions(data / "healthy-tasks").items():
        for task, f in files.items():
            pts = extract_landmarks(f, "photo", params, model).points_array()[0].astype(np.float64)
            if np.isfinite(pts).all():
                out.setdefault(label, {})[task] = pts
    return out


def table(pairs: list[tuple[dict, dict]]) -> list[dict]:
    """Per measure: n, mean and max |ours - theirs|, means of each."""
    from palsyflow.features.emotrics import EMOTRICS_MEASURES

    rows = []
    for name in EMOTRICS_MEASURES:
        a = np.array([(o[name], t[name]) for o, t in pairs if o.get(name) is not None and t is not None and np.isfinite(t[name])])
        if len(a) == 0:
            rows.append({"measure": name, "n": 0})
            continue
        d = np.abs(a[:, 0] - a[:, 1])
        rows.append({"measure": name, "n": len(a), "mean_abs_diff": float(d.mean()), "max_abs_diff": float(d.max()),
                     "mean_ours": float(a[:, 0].mean()), "mean_theirs": float(a[:, 1].mean())})
    return rows


def print_table(title: str, rows: list[dict], fixed: list[dict], explained: list[dict]) -> None:
    print(f"\n{title}")
    print(f"{'measure':44s} {'n':>3s} {'mean|d|':>8s} {'max|d|':>8s} {'ours':>8s} {'theirs':>8s} {'max|d| fixed':>12s} {'explained':>9s}")
    for r, f, e in zip(rows, fixed, explained):
        if r["n"] == 0:
            print(f"{r['measure']:44s}   0")
            continue
        print(f"{r['measure']:44s} {r['n']:3d} {r['mean_abs_diff']:8.4f} {r['max_abs_diff']:8.4f} {r['mean_ours']:8.2f} "
              f"{r['mean_theirs']:8.2f} {f.get('max_abs_diff', float('nan')):12.4f} {e.get('max_abs_diff', float('nan')):9.4f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emotrics", type=Path, help="Emotrics checkout or git dir (outside the project)")
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("PALSYFLOW_SHARED_DATA", ROOT.parent / "shared" / "data")))
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "face_landmarker.task")
    ap.add_argument("--date", default=None)
    args = ap.parse_args(argv)
    if args.emotrics is None or not args.emotrics.exists():
        print("skipped: give --emotrics <Emotrics checkout or git dir> (fetched outside the project)")
        return 0
    from palsyflow.features.emotrics import emotrics_measures, lagophthalmos, ocular_synkinesis
    from palsyflow.landmarks.schemes.ibug68 import mediapipe_to_ibug68

    with tempfile.TemporaryDirectory() as tmp:
        mod = load_emotrics(args.emotrics, Path(tmp))
        result: dict = {"emotrics_commit": None, "sets": {}}
        if (args.emotrics / "HEAD").is_file():
            result["emotrics_commit"] = subprocess.run(["git", f"--git-dir={args.emotrics}", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        # faces-68pt: annotated points + MediaPipe iris
        pairs, pairs_fixed, pairs_expl = [], [], []
        for _, p68, iris in faces68(args.data, args.model):
            ours = emotrics_measures(p68, "ibug68", iris=iris)
            with grid_lip_point():
                grid = as_emotrics_reports(emotrics_measures(p68, "ibug68", iris=iris))
            pairs.append((ours, theirs(mod, p68, iris)))
            pairs_fixed.append((ours, theirs(mod, p68, iris, fixed=True)))
            pairs_expl.append((grid, pairs_fixed[-1][1]))
        sets = {"faces-68pt (annotated 68 + MediaPipe iris)": (pairs, pairs_fixed, pairs_expl)}
        # healthy-tasks: detected MediaPipe points
        hp = healthy(args.data, args.model)
        pairs, pairs_fixed, pairs_expl = [], [], []
        for tasks in hp.values():
            for pts in tasks.values():
                p68, iris = mediapipe_to_ibug68(pts)[:, :2], mp_iris(pts)
                ours = emotrics_measures(pts, "mediapipe478")
                with grid_lip_point():
                    grid = as_emotrics_reports(emotrics_measures(pts, "mediapipe478"))
                pairs.append((ours, theirs(mod, p68, iris)))
                pairs_fixed.append((ours, theirs(mod, p68, iris, fixed=True)))
                pairs_expl.append((grid, pairs_fixed[-1][1]))
        sets["healthy-tasks (MediaPipe -> iBUG-68 + iris)"] = (pairs, pairs_fixed, pairs_expl)
        for title, (pr, prf, pre) in sets.items():
            rows, rows_fixed, rows_expl = table(pr), table(prf), table(pre)
            print_table(title, rows, rows_fixed, rows_expl)
            result["sets"][title] = {"n_faces": len(pr), "n_emotrics_failed": sum(t is None for _, t in pr),
                                     "vs_emotrics": rows, "vs_emotrics_midpoint_fixed": rows_fixed,
                                     "explained_vs_emotrics_midpoint_fixed": rows_expl}
    # ocular synkinesis and lagophthalmos of the healthy sessions
    print(f"\nhealthy sessions: ocular synkinesis (mm, fraction of rest) and lagophthalmos gap (mm), right / left")
    synk = {}
    for label, tasks in hp.items():
        row: dict = {}
        for t in ("smile", "pucker"):
            if t in tasks:
                row.update(ocular_synkinesis(tasks["rest"], tasks[t], "mediapipe478", t))
        if "eye_closure_full" in tasks:
            row.update(lagophthalmos(tasks["rest"], tasks["eye_closure_full"], "mediapipe478"))
        rest = emotrics_measures(tasks["rest"], "mediapipe478")
        row["rest_fissure_mm_right"] = rest["emotrics_palpebral_fissure_height_right"]
        row["rest_fissure_mm_left"] = rest["emotrics_palpebral_fissure_height_left"]
        synk[label] = row

        def f(k):
            v = row.get(k)
            return "   -  " if v is None else f"{v:6.2f}"

        print(f"{label:12s} rest {f('rest_fissure_mm_right')}/{f('rest_fissure_mm_left')}  "
              f"smile {f('synkinesis_ocular_smile_mm_right')}/{f('synkinesis_ocular_smile_mm_left')} "
              f"({f('synkinesis_ocular_smile_fraction_right')}/{f('synkinesis_ocular_smile_fraction_left')})  "
              f"pucker {f('synkinesis_ocular_pucker_mm_right')}/{f('synkinesis_ocular_pucker_mm_left')} "
              f"({f('synkinesis_ocular_pucker_fraction_right')}/{f('synkinesis_ocular_pucker_fraction_left')})  "
              f"gap {f('lagophthalmos_gap_mm_right')}/{f('lagophthalmos_gap_mm_left')}")
    result["healthy_synkinesis"] = synk
    save_result("emotrics_compare", result, args.date)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
