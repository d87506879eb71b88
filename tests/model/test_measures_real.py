"""Task measures on real healthy volunteers (../shared/data/healthy-tasks, read only).

* mirror test: the pixels of every photo of a session are flipped left-right and the
  landmarks re-detected; the task scores must agree within 0.03 and the weaker side
  must swap;
* healthy faces lie in a plausible normal range (activated, small asymmetry);
* the JSON contract and the feature/session tables give the same numbers;
* (slow) the repeated-session pair mpeschel A / B gives close values.

The full tables are printed by ``benchmarks/healthy_asymmetry.py``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from palsyflow.config import LandmarkParams
from palsyflow.config import FeatureParams, IngestParams
from palsyflow.features.session import measure_results
from palsyflow.ingest.tasks import task_from_filename
from palsyflow.features.table import build_feature_table, recording_row, session_table
from palsyflow.landmarks import extract_landmarks
from palsyflow.landmarks.media import read_photo

SUBJECT = "K8bhUx2Hqv2LjfP4BsKy"
MAIN_TASKS = ("brow_raise", "eye_closure_full", "smile", "eee")


def _files(folder: Path, suffix: str | None = None) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for f in sorted(folder.iterdir()):
        if suffix and not f.stem.endswith(suffix):
            continue
        task = task_from_filename(f.name, IngestParams().task_aliases)
        if task and f.suffix.lower() in (".png", ".jpg", ".jpeg"):
            out.setdefault(task, f)
    return out


def _detect(files: dict[str, Path], model: Path, mirror_dir: Path | None = None) -> dict:
    lp = LandmarkParams()
    out = {}
    for task, f in files.items():
        path = f
        if mirror_dir is not None:
            rgb = np.ascontiguousarray(read_photo(f)[:, ::-1])
            path = mirror_dir / f"{f.stem}-mirrored.png"
            cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        out[task] = extract_landmarks(path, "photo", lp, model)
    return out


@pytest.fixture(scope="module")
def webcam_session(shared_data, face_model, tmp_path_factory):
    folder = shared_data / "healthy-tasks" / "app_uploads" / SUBJECT
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    files = _files(folder, "-0")
    assert "rest" in files and "smile" in files
    mirror_dir = tmp_path_factory.mktemp("mirrored")
    return files, _detect(files, face_model), _detect(files, face_model, mirror_dir)


def test_mirrored_photos_give_the_same_scores_with_sides_swapped(webcam_session):
    _, orig, mirr = webcam_session
    a, b = measure_results(orig), measure_results(mirr)
    assert set(a["tasks"]) == set(b["tasks"])
    diffs = {}
    for task in MAIN_TASKS:
        ma, mb = a["tasks"][task], b["tasks"][task]
        assert ma["activated"] and mb["activated"], task
        diffs[task] = abs(ma["asymmetry_score"] - mb["asymmetry_score"])
        assert abs(ma["cosine_score"] - mb["cosine_score"]) <= 0.03, task
        # the sides' movements swap
        assert mb["left"] == pytest.approx(ma["right"], abs=0.02 + 0.1 * ma["right"]), task
        if min(ma["asymmetry_score"], mb["asymmetry_score"]) > 0.03:
            assert {ma["weaker_side"], mb["weaker_side"]} == {"left", "right"}, task
    print("mirror |d asym|:", {k: round(v, 4) for k, v in diffs.items()})
    assert max(diffs.values()) <= 0.03, diffs
    for fam in ("rest_brow_height", "rest_palpebral_fissure_height", "rest_commissure_height"):
        assert abs(a["static"][f"{fam}_asym"] - b["static"][f"{fam}_asym"]) <= 0.03


def test_healthy_face_is_in_the_normal_range(webcam_session):
    _, orig, _ = webcam_session
    out = measure_results(orig)
    for task in MAIN_TASKS:
        m = out["tasks"][task]
        assert m["activated"], task
        assert m["asymmetry_score"] < 0.25, (task, m)
        assert m["cosine_score"] > 0.9, (task, m)
    assert out["tasks"]["smile"]["left"] > 0.15  # a real smile moves the commissure
    assert out["tasks"]["eye_closure_full"]["left"] > 0.7  # eyes (nearly) closed
    assert out["eface"]["static"] > 90 and out["eface"]["dynamic"] > 80
    hb = out["hb_measure"]
    assert hb is not None and hb["label"] == "estimate" and 0 <= hb["points"] <= 8
    assert 0.3 < hb["by_side"]["left"]["brow_cm"] < 2.0  # brow rise of a few mm to 2 cm


def test_json_and_tables_agree_on_real_photos(webcam_session):
    files, orig, _ = webcam_session
    out = measure_results(orig)
    rest = orig["rest"]
    ids = {"site": "H", "subject": "k8", "session": "20240101", "kind": "photo", "sha256": "0" * 64,
           "healthy": True, "hb_grade": None, "simulated": False}
    rows = [
        recording_row({**ids, "recording_key": t, "task": t}, r.points, r.quality, None,
                      rest_points=rest.points, rest_quality=rest.quality)
        for t, r in orig.items()
    ]
    s = session_table(build_feature_table(rows), FeatureParams()).row(0, named=True)
    for task, m in out["tasks"].items():
        assert s[f"task_{task}_activated"] == m["activated"]
        for col, key in (("left", "left"), ("right", "right"), ("asym", "asymmetry_score"), ("cosine", "cosine_score")):
            if m[key] is None:
                assert s[f"task_{task}_{col}"] is None
            else:
                assert s[f"task_{task}_{col}"] == pytest.approx(m[key], rel=1e-6, abs=1e-9)
    assert s["hb_measure_points"] == out["hb_measure"]["points"]


@pytest.mark.slow
def test_repeated_session_pair_gives_close_values(shared_data, face_model):
    """Test-retest: one person on two days (mpeschel A, B), beside other healthy people.

    The A/B differences are reported (here and by benchmarks/healthy_asymmetry.py).
    Measured on 2026-11-21: task asymmetry differs by 0.077-0.100 between the two days,
    about as much as it differs between different healthy people (0.054-0.119):
    healthy faces are all near-symmetric, so day-to-day variation (different photos,
    expression intensity) is of the same size as the spread between people, and a
    change in task asymmetry below ~0.1 should not be read as real. The bound below
    (0.15) guards against regressions; static rest asymmetries must agree within 0.05.
    """
    root = shared_data / "healthy-tasks"
    a_dir = next(root.glob("mpeschel_session_A*"), None)
    b_dir = next(root.glob("mpeschel_session_B*"), None)
    others = sorted(d for d in (root / "app_uploads").iterdir() if d.is_dir()) if (root / "app_uploads").is_dir() else []
    if a_dir is None or b_dir is None or not others:
        pytest.skip("mpeschel sessions or other volunteers absent")
    a = measure_results(_detect(_files(a_dir), face_model))
    b = measure_results(_detect(_files(b_dir), face_model))
    strangers = [measure_results(_detect(_files(d, suffix="-0"), face_model)) for d in others]

    def asym(m: dict, task: str) -> float | None:
        t = m["tasks"].get(task)
        return t["asymmetry_score"] if t and t["activated"] else None

    within, between = {}, {}
    for task in MAIN_TASKS:
        va, vb = asym(a, task), asym(b, task)
        assert va is not None and vb is not None, task
        within[task] = abs(va - vb)
        vs = [v for v in (asym(o, task) for o in strangers) if v is not None]
        between[task] = float(np.mean([abs(va - v) for v in vs] + [abs(vb - v) for v in vs])) if vs else None
    print("A vs B |d asym|:", {k: round(v, 4) for k, v in within.items()})
    print("A/B vs other people |d asym|:", {k: round(v, 4) if v is not None else None for k, v in between.items()})
    assert max(within.values()) <= 0.15, within
    # the weaker side of a clearly asymmetric task (asym > 0.1 on both days) is the same on both days
    for task in MAIN_TASKS:
        ta, tb = a["tasks"][task], b["tasks"][task]
        if ta["asymmetry_score"] > 0.1 and tb["asymmetry_score"] > 0.1:
            assert ta["weaker_side"] == tb["weaker_side"], task
    for fam in ("rest_brow_height", "rest_palpebral_fissure_height", "rest_nasolabial_height", "rest_commissure_height"):
        assert abs(a["static"][f"{fam}_asym"] - b["static"][f"{fam}_asym"]) <= 0.05
