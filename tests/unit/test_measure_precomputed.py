"""``palsyflow measure`` on landmarks computed elsewhere (iBUG-68 annotations, MediaPipe-478 tables)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from palsyflow.cli import app
from palsyflow.features.session import IBUG68_UNAVAILABLE, measure_results
from palsyflow.landmarks.io import PrecomputedLandmarkError, read_precomputed
from palsyflow.landmarks.schemes import get_scheme
from palsyflow.measures.registry import PARRA_FEATURES

runner = CliRunner()


def _long(points: np.ndarray, **extra) -> pl.DataFrame:
    """A one-frame long table (point, x, y, z) from (P, 3) pixel points."""
    n = points.shape[0]
    return pl.DataFrame({"point": np.arange(n), "x": points[:, 0], "y": points[:, 1], "z": points[:, 2], **extra})


def _synthetic478(seed: int = 0) -> np.ndarray:
    """478 points scattered over a face-sized box (pixels); only the layout matters here."""
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(200, 400, 478), rng.uniform(150, 450, 478), rng.normal(0, 5, 478)])


@pytest.fixture(scope="module")
def faces68(shared_data) -> pl.DataFrame:
    return pl.read_csv(shared_data / "faces-68pt" / "dlib_faces_68pt_landmarks.csv")


def _measure(tmp_path, *tasks: str):
    out = tmp_path / "m.json"
    args = ["measure", *[a for t in tasks for a in ("--task", t)], "--out", str(out), "--root", str(tmp_path)]
    return runner.invoke(app, args), out


@pytest.mark.shared_data
def test_measure_reads_a_hand_annotated_ibug68_face(tmp_path, faces68):
    row = faces68.head(1)
    row.write_csv(tmp_path / "face.csv")  # wide layout, id columns ignored
    res, out = _measure(tmp_path, f"rest={tmp_path / 'face.csv'}")
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["landmarks"] == {"schemes": ["ibug68"], "unavailable": IBUG68_UNAVAILABLE}
    for block in ("eface", "sunnybrook", "house_brackmann", "synkinesis", "emotrics"):
        assert block in doc
    assert doc["house_brackmann"]["grade"] is None and "iBUG-68" in doc["house_brackmann"]["basis"]
    assert doc["eface"]["total"] is None and doc["eface"]["reason"]
    assert all(v is None for v in doc["emotrics"].values())
    # Parra's ratios are computed from the annotation, and mirror as the paper defines (f23 -> 180 - f23)
    pts = np.array([[row[f"x{i}"][0], row[f"y{i}"][0], 0.0] for i in range(68)])
    mirrored = get_scheme("ibug68").mirror(pts, 1000)
    _long(mirrored).write_parquet(tmp_path / "mirrored.parquet")
    res, out2 = _measure(tmp_path, f"rest={tmp_path / 'mirrored.parquet'}")
    assert res.exit_code == 0, res.output
    flip = json.loads(out2.read_text())["parra"]
    assert set(doc["parra"]) == set(PARRA_FEATURES) and doc["parra"]["parra_f23"] is not None
    assert flip["parra_f23"] == pytest.approx(180.0 - doc["parra"]["parra_f23"], abs=1e-6)
    assert flip["parra_f11"] == pytest.approx(doc["parra"]["parra_f11"], abs=1e-6)


@pytest.mark.shared_data
def test_every_annotated_face_reads_as_ibug68(tmp_path, faces68):
    faces68.write_csv(tmp_path / "all.csv")  # 43 rows: read as 43 frames of one recording
    r = read_precomputed(tmp_path / "all.csv")
    assert r.meta["scheme"] == "ibug68" and r.meta["n_frames"] == faces68.height
    assert r.points_array().shape == (faces68.height, 68, 3)
    assert r.points_array()[3, 30, 0] == pytest.approx(faces68["x30"][3])


def test_synthetic_478_parquet_is_measured_as_mediapipe(tmp_path):
    pts = _synthetic478()
    _long(pts, frame=np.zeros(478, dtype=int)).write_parquet(tmp_path / "rest.parquet")
    r = read_precomputed(tmp_path / "rest.parquet")
    assert r.meta["scheme"] == "mediapipe478" and r.meta["kind"] == "photo"
    assert np.allclose(r.points_array()[0], pts, atol=1e-3)
    doc = measure_results({"rest": r})
    assert doc["landmarks"] == {"schemes": ["mediapipe478"], "unavailable": {}}
    assert doc["eface"]["reason"] is None and doc["static"]["rest_brow_height_left"] is not None
    # the same points straight from memory give the same measures: the file adds nothing and loses nothing
    assert doc["static"] == measure_results({"rest": (r.points, None)})["static"]


def test_a_video_table_gets_key_frames(tmp_path):
    frames = np.stack([_synthetic478(0) + i for i in range(5)])
    df = pl.concat([_long(f, frame=np.full(478, i)) for i, f in enumerate(frames)])
    df.write_csv(tmp_path / "v.csv")
    r = read_precomputed(tmp_path / "v.csv")
    assert r.meta["kind"] == "video" and set(r.meta["keyframes"]) == {"neutral", "peak"}
    assert r.quality.filter(pl.col("keyframe").is_not_null()).height == 2


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: _long(p[:70]), "has 70 points per frame, expected 68 (iBUG-68) or 478 (MediaPipe)"),
        (lambda p: _long(p[:68], scheme=["mediapipe478"] * 68), "has 68 points per frame, but scheme mediapipe478 has 478"),
        (lambda p: _long(p).with_columns(pl.when(pl.col("point") == 7).then(None).otherwise(pl.col("x")).alias("x")),
         "frame 0 has NaN or infinite coordinates"),
        (lambda p: _long(p).drop("y"), "missing columns: expected point, x, y"),
        (lambda p: pl.concat([_long(p), _long(p).head(1)]), "point 0 appears 2 times in frame 0"),
        (lambda p: _long(p[:69]).filter(pl.col("point") != 5), "point numbers must run 0..67"),
        (lambda p: _long(p, scheme=["ibug68"] * 239 + ["mediapipe478"] * 239), "column scheme holds several values"),
    ],
)
def test_bad_landmark_files_are_refused_in_one_sentence(tmp_path, make, reason):
    path = tmp_path / "bad.csv"
    make(_synthetic478()).write_csv(path)
    with pytest.raises(PrecomputedLandmarkError) as err:
        read_precomputed(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and reason in msg and msg.count("\n") == 0


def test_cli_names_the_bad_file(tmp_path):
    path = tmp_path / "rest.parquet"
    _long(_synthetic478()[:100]).write_parquet(path)
    res, out = _measure(tmp_path, f"rest={path}")
    assert res.exit_code != 0 and not out.exists()
    assert "rest.parquet" in res.output and "100 points" in res.output


def test_unreadable_and_unknown_suffix(tmp_path):
    (tmp_path / "x.parquet").write_text("not parquet")
    with pytest.raises(PrecomputedLandmarkError, match="cannot be read as parquet"):
        read_precomputed(tmp_path / "x.parquet")
    with pytest.raises(PrecomputedLandmarkError, match="must be a .parquet or .csv file"):
        read_precomputed(tmp_path / "x.json")
