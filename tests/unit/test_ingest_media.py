"""Issue 12, files and media: each defect found by the hostile drop, built from real files.

Links and special files are refused unread; media are recognised by content; a file
must suit its task (frames for face tasks, usable audio for speech tasks) and decode to
the end with consistent frame timing; 16-bit photos are scaled, not clipped.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import palsyflow.ingest.plan as plan_mod
from palsyflow.config import IngestParams
from palsyflow.ingest import plan_ingest, quarantine
from palsyflow.ingest.probe import MediaError, _check_timing, media_kind, probe_media
from palsyflow.landmarks.media import read_photo, to_rgb8
from tests.corpus.kinds_files import (
    heif_writable,
    make_clipped_wav,
    make_photo,
    make_png16,
    make_silent_wav,
    make_sparse_frames,
    make_tiff16,
    make_truncated,
    make_without_audio,
)

PARAMS = IngestParams()
RULE = "palsyflow reads only regular files inside the drop"


@pytest.fixture(scope="module")
def grid(shared_data: Path) -> list[Path]:
    clips = sorted((shared_data / "talking-faces" / "grid").glob("*.mpg"))
    if len(clips) < 2:
        pytest.skip("need the GRID clips under talking-faces/grid")
    return clips


@pytest.fixture(scope="module")
def grid_wav(grid: list[Path]) -> Path:
    wav = grid[0].parent / "audio_extracted" / f"{grid[0].stem}.wav"
    if not wav.is_file():
        pytest.skip(f"{wav} absent")
    return wav


@pytest.fixture(scope="module")
def webcam_png(shared_data: Path) -> Path:
    pngs = sorted((shared_data / "healthy-tasks" / "app_uploads").glob("*/at-rest-0.png"))
    if not pngs:
        pytest.skip("no webcam PNGs under healthy-tasks/app_uploads")
    return pngs[0]


def _drop(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    """A drop folder with a manifest naming ``rows`` = [(task, file)], one subject per row."""
    d = tmp_path / "drop"
    d.mkdir(exist_ok=True)
    lines = ["subject,session_date,task,file"] + [f"S{i},2024-05-02,{task},{f}" for i, (task, f) in enumerate(rows)]
    (d / "manifest.csv").write_text("\n".join(lines) + "\n")
    return d


def _only_rejection(plan) -> str:
    assert plan.items == []
    assert len(plan.rejected) == 1, [r.reason for r in plan.rejected]
    return plan.rejected[0].reason


# links and special files ----------------------------------------------------------------


def test_symlink_to_etc_passwd_is_refused_without_reading_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = _drop(tmp_path, [("rest", "x.mp4")])
    os.symlink("/etc/passwd", d / "x.mp4")
    read: list[Path] = []
    real = plan_mod.sha256_file
    monkeypatch.setattr(plan_mod, "sha256_file", lambda p: read.append(Path(p)) or real(p))
    plan = plan_ingest(d, "A", PARAMS)
    reason = _only_rejection(plan)
    assert reason == f"manifest.csv line 2: x.mp4: is a symbolic link; {RULE}"
    assert plan.rejected[0].sha256 is None and plan.rejected[0].line == 2
    assert read == []  # never hashed, so never opened
    # quarantine records the refusal and copies nothing
    dest = quarantine(d / "x.mp4", reason, tmp_path / "q", "A", read=False)
    assert not dest.exists()
    sidecar = dest.with_name(dest.name + ".reason.json")
    assert sidecar.is_file() and "symbolic link" in sidecar.read_text()
    copied = [p for p in (tmp_path / "q").rglob("*") if p.is_file() and p != sidecar]
    assert copied == []


def test_quarantine_never_copies_through_a_link(tmp_path: Path) -> None:
    link = tmp_path / "y.mp4"
    os.symlink("/etc/passwd", link)
    dest = quarantine(link, "refused", tmp_path / "q", "A")  # even when the caller forgets read=False
    assert not dest.exists()
    assert not any(b"root:" in p.read_bytes() for p in (tmp_path / "q").rglob("*") if p.is_file())


def test_symlink_to_a_video_outside_the_drop_is_not_ingested(tmp_path: Path, grid: list[Path]) -> None:
    d = _drop(tmp_path, [("rest", "clip.mpg")])
    os.symlink(grid[0], d / "clip.mpg")
    reason = _only_rejection(plan_ingest(d, "A", PARAMS))
    assert reason == f"manifest.csv line 2: clip.mpg: is a symbolic link; {RULE}"


def test_file_inside_a_symlinked_folder_is_refused(tmp_path: Path, grid: list[Path]) -> None:
    d = _drop(tmp_path, [("rest", f"videos/{grid[0].name}")])
    os.symlink(grid[0].parent, d / "videos")
    reason = _only_rejection(plan_ingest(d, "A", PARAMS))
    assert reason == f"manifest.csv line 2: videos/{grid[0].name}: folder videos is a symbolic link; {RULE}"


def test_unlisted_links_are_refused_unread(tmp_path: Path, grid: list[Path]) -> None:
    d = _drop(tmp_path, [])
    os.symlink("/etc/passwd", d / "stray.mp4")
    os.symlink(grid[0].parent, d / "linked")
    plan = plan_ingest(d, "A", PARAMS)
    got = sorted((r.source.name, r.sha256, r.reason) for r in plan.rejected)
    assert got == [
        ("linked", None, f"linked: is a symbolic link; {RULE} (and not listed in manifest.csv)"),
        ("stray.mp4", None, f"stray.mp4: is a symbolic link; {RULE} (and not listed in manifest.csv)"),
    ]


@pytest.mark.timeout(60)
def test_fifo_is_refused_without_being_opened(tmp_path: Path) -> None:
    d = _drop(tmp_path, [("rest", "pipe.mp4")])
    os.mkfifo(d / "pipe.mp4")
    os.mkfifo(d / "stray.mov")  # named by no row
    out: dict = {}
    worker = threading.Thread(target=lambda: out.update(plan=plan_ingest(d, "A", PARAMS)), daemon=True)
    worker.start()
    worker.join(20)
    if worker.is_alive():  # it opened a FIFO and blocks: give it end-of-file, then fail
        for name in ("pipe.mp4", "stray.mov"):
            try:
                os.close(os.open(d / name, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass  # nobody reading this one
        pytest.fail("plan_ingest blocked on a FIFO")
    reasons = sorted(r.reason for r in out["plan"].rejected)
    assert reasons == [
        f"manifest.csv line 2: pipe.mp4: is a named pipe (FIFO), not a regular file; {RULE}",
        f"stray.mov: is a named pipe (FIFO), not a regular file; {RULE} (and not listed in manifest.csv)",
    ]
    assert all(r.sha256 is None for r in out["plan"].rejected)


# modality vs task -----------------------------------------------------------------------


def test_video_without_audio_is_refused_for_speech_but_kept_for_rest(tmp_path: Path, grid: list[Path]) -> None:
    d = _drop(tmp_path, [("speech", "silent_film.mkv"), ("rest", "silent_film.mkv")])
    make_without_audio(grid[0], d / "silent_film.mkv")
    plan = plan_ingest(d, "A", PARAMS)
    assert [i.row.task for i in plan.items] == ["rest"]
    assert [r.reason for r in plan.rejected] == [
        "manifest.csv line 2: silent_film.mkv: task speech needs audio: this video has no audio stream"
    ]


def test_wav_is_refused_for_rest_but_kept_for_speech(tmp_path: Path, grid_wav: Path) -> None:
    d = _drop(tmp_path, [("rest", "voice.wav"), ("reading", "voice.wav")])
    (d / "voice.wav").write_bytes(grid_wav.read_bytes())
    plan = plan_ingest(d, "A", PARAMS)
    assert [i.row.task for i in plan.items] == ["speech"]
    assert [r.reason for r in plan.rejected] == [
        "manifest.csv line 2: voice.wav: task rest needs frames (a photo or a video): this audio file has no picture"
    ]


def test_photo_is_refused_for_speech(tmp_path: Path, webcam_png: Path) -> None:
    d = _drop(tmp_path, [("speech", "face.png")])
    (d / "face.png").write_bytes(webcam_png.read_bytes())
    assert "task speech needs audio: this photo has no audio stream" in _only_rejection(plan_ingest(d, "A", PARAMS))


def test_speech_tasks_come_from_the_protocol(tmp_path: Path, grid_wav: Path) -> None:
    d = _drop(tmp_path, [("smile", "voice.wav")])
    (d / "voice.wav").write_bytes(grid_wav.read_bytes())
    assert "needs frames" in _only_rejection(plan_ingest(d, "A", PARAMS))
    assert plan_ingest(d, "A", PARAMS, speech_tasks=("speech", "smile")).items  # smile declared a speech task
    for task in ("vowel", "ddk_pa", "sentences", "passage", "silence"):  # the protocol's audio tasks
        (tmp_path / task).mkdir()
        d = _drop(tmp_path / task, [(task, "voice.wav")])
        (d / "voice.wav").write_bytes(grid_wav.read_bytes())
        assert plan_ingest(d, "A", PARAMS).items, task


def test_silent_and_clipped_wavs_are_refused_for_speech(tmp_path: Path, grid_wav: Path) -> None:
    d = _drop(tmp_path, [("speech", "silent.wav"), ("speech", "clipped.wav"), ("speech", "good.wav")])
    make_silent_wav(grid_wav, d / "silent.wav")
    make_clipped_wav(grid_wav, d / "clipped.wav")
    (d / "good.wav").write_bytes(grid_wav.read_bytes())
    plan = plan_ingest(d, "A", PARAMS)
    assert [i.source.name for i in plan.items] == ["good.wav"]
    silent, clipped = (r.reason for r in plan.rejected)
    assert silent == (
        "manifest.csv line 2: silent.wav: task speech needs audible audio: the audio is digitally silent "
        "(peak -inf dBFS, below -60 dBFS)"
    )
    assert clipped.startswith("manifest.csv line 3: clipped.wav: task speech needs unclipped audio: ")
    assert clipped.endswith("% of the samples are at full scale (limit 1 %)")
    # the thresholds are the params'
    lenient = IngestParams(max_clipped_fraction=0.9, silence_peak_dbfs=-400.0)
    assert {i.source.name for i in plan_ingest(d, "A", lenient).items} == {"good.wav", "clipped.wav"}


def test_every_real_speech_clip_passes_the_audio_rules(shared_data: Path, grid: list[Path]) -> None:
    files = list(grid) + sorted((shared_data / "speech").rglob("*.wav"))
    for f in files:
        info = probe_media(f, PARAMS)
        assert info.has_audio and info.audio_peak_dbfs > PARAMS.silence_peak_dbfs, f
        assert info.audio_clipped_fraction <= PARAMS.max_clipped_fraction, f


# decoded to the end, frame timing -------------------------------------------------------


def test_grid_clips_cut_short_are_refused(tmp_path: Path, grid: list[Path]) -> None:
    for clip in grid[:2]:  # bbaf2n (cut mid-packet) and brbk7n (cut at a pack boundary: streams end apart)
        bad = make_truncated(clip, tmp_path / f"cut_{clip.name}", 0.6)
        with pytest.raises(MediaError) as err:
            probe_media(bad, PARAMS)
        assert str(err.value).startswith(f"{bad.name}: file is truncated")
    # over many cuts of every clip: nearly all refused (the rest: cut where both streams end together)
    lenient = IngestParams(min_duration_s=0.0)
    refused = total = 0
    for clip in grid:
        data = clip.read_bytes()
        for pct in range(10, 100, 15):
            bad = tmp_path / "cut.mpg"
            bad.write_bytes(data[: len(data) * pct // 100])
            total += 1
            try:
                probe_media(bad, lenient)
            except MediaError as exc:
                refused += "truncated" in str(exc)
    assert refused >= 0.9 * total, f"{refused} of {total} cuts refused"


def test_truncated_mp4_with_its_index_in_front_is_refused(shared_data: Path, tmp_path: Path) -> None:
    import av

    src = shared_data / "expression-videos" / "single_face.mp4"
    if not src.is_file():
        pytest.skip(f"{src} absent")
    full = tmp_path / "faststart.mp4"
    with av.open(str(src)) as inp, av.open(str(full), "w", options={"movflags": "faststart"}) as out:
        vin = inp.streams.video[0]
        vout = out.add_stream_from_template(vin)
        for packet in inp.demux(vin):
            if packet.dts is not None:
                packet.stream = vout
                out.mux(packet)
    assert probe_media(full, PARAMS).n_frames >= 60
    cut = make_truncated(full, tmp_path / "cut.mp4", 0.6)
    with pytest.raises(MediaError, match=r"cut.mp4: file is truncated"):
        probe_media(cut, PARAMS)


def test_ten_frames_over_9000_s_are_refused(tmp_path: Path, grid: list[Path]) -> None:
    bad = make_sparse_frames(grid[1], tmp_path / "sparse.mkv", n_frames=10, span_s=9000.0)
    with pytest.raises(MediaError, match="frame rate") as err:
        probe_media(bad, PARAMS)
    assert "10 frames over 9000.00 s" in str(err.value)
    ok = make_sparse_frames(grid[1], tmp_path / "dense.mkv", n_frames=30, span_s=29 / 25)  # 25 fps as stated
    info = probe_media(ok, IngestParams(min_duration_s=0.0))
    assert info.n_frames == 30 and info.fps == pytest.approx(25.0)


def test_frame_timing_rules() -> None:
    path = Path("v.mkv")
    _check_timing(path, [i / 25 for i in range(50)], 25.0, PARAMS)
    with pytest.raises(MediaError, match=r"not increasing \(frame 2 at 0.040 s after frame 1 at 0.080 s\)"):
        _check_timing(path, [0.0, 0.08, 0.04, 0.12], 25.0, PARAMS)
    with pytest.raises(MediaError, match="disagrees with the stated frame rate"):
        _check_timing(path, [i / 10 for i in range(20)], 25.0, PARAMS)  # 10 frames/s stated as 25
    with pytest.raises(MediaError, match="below the minimum 5 frames/s"):
        _check_timing(path, [float(i) for i in range(5)], None, PARAMS)


def test_probe_decodes_a_grid_clip_well_under_a_second(grid: list[Path]) -> None:
    probe_media(grid[0], PARAMS)  # warm-up (imports, codec tables)
    times = []
    for clip in grid:
        t0 = time.perf_counter()
        info = probe_media(clip, PARAMS)
        times.append(time.perf_counter() - t0)
        assert info.n_frames == 75  # every frame decoded
    print(f"probe per GRID clip: median {np.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms")
    assert max(times) < 0.5


# photos: by content, every format Pillow decodes, 16-bit ----------------------------------


FORMATS = [("PPM", ".ppm"), ("TIFF", ".tiff"), ("WEBP", ".webp"), ("BMP", ".bmp"), ("AVIF", ".avif")]


@pytest.mark.parametrize(("fmt", "ext"), FORMATS + ([("HEIF", ".heic")] if heif_writable() else []))
def test_photo_formats_are_accepted(tmp_path: Path, webcam_png: Path, fmt: str, ext: str) -> None:
    d = _drop(tmp_path, [("rest", f"face{ext}")])
    make_photo(webcam_png, d / f"face{ext}", fmt)
    plan = plan_ingest(d, "A", PARAMS)
    assert plan.rejected == []
    (item,) = plan.items
    assert (item.media.kind, item.media.width, item.media.height) == ("photo", 640, 480)
    assert item.target.extension == ext and item.target.kind == "photo"
    rgb = read_photo(d / f"face{ext}")
    original = read_photo(webcam_png)
    tol = 1.0 if fmt in ("PPM", "TIFF", "BMP") else 12.0  # lossless vs lossy defaults
    assert np.abs(rgb.astype(float) - original).mean() <= tol


def test_png_named_mp4_is_a_photo_stored_as_png(tmp_path: Path, webcam_png: Path) -> None:
    d = _drop(tmp_path, [("rest", "face.mp4")])
    make_photo(webcam_png, d / "face.mp4", "PNG")
    assert media_kind(d / "face.mp4") == "photo"
    (item,) = plan_ingest(d, "A", PARAMS).items
    assert item.media.kind == "photo" and item.target.extension == ".png"
    assert item.target.raw(Path("/r")).name.endswith("_photo.png")


@pytest.mark.parametrize("maker", [make_png16, make_tiff16], ids=["png16", "tiff16"])
def test_16_bit_greyscale_photo_is_scaled_not_clipped(tmp_path: Path, webcam_png: Path, maker) -> None:
    from PIL import Image, ImageOps

    out = maker(webcam_png, tmp_path / ("g16.png" if maker is make_png16 else "g16.tif"))
    with Image.open(out) as im:
        assert im.mode.startswith("I")  # really 16-bit
    rgb = read_photo(out)
    with Image.open(webcam_png) as im:
        grey8 = np.asarray(ImageOps.exif_transpose(im).convert("L"), dtype=float)
    assert rgb.dtype == np.uint8 and rgb.shape == (480, 640, 3)
    assert np.abs(rgb[..., 0] - grey8).max() <= 1.0  # not white
    assert probe_media(out, PARAMS).kind == "photo"


def test_16_bit_rgb_png_reads_like_the_8_bit_original(tmp_path: Path, webcam_png: Path) -> None:
    import cv2

    original = read_photo(webcam_png)
    out = tmp_path / "rgb16.png"
    cv2.imwrite(str(out), original[:, :, ::-1].astype(np.uint16) * 257)
    assert np.abs(read_photo(out).astype(int) - original).max() <= 1


def test_colour_modes_without_an_rgb_rendering_are_refused(tmp_path: Path) -> None:
    from PIL import Image

    with pytest.raises(ValueError, match="colour mode F"):
        to_rgb8(Image.fromarray(np.full((8, 8), 7.5, dtype=np.float32)))
    assert to_rgb8(Image.fromarray(np.full((8, 8), 0.5, dtype=np.float32)))[0, 0].tolist() == [128, 128, 128]
    lab = tmp_path / "lab.tif"
    Image.new("LAB", (80, 80), (50, 0, 0)).save(lab)
    with pytest.raises(MediaError, match="lab.tif: colour mode LAB cannot be converted"):
        probe_media(lab, PARAMS)


def test_audio_with_nan_samples_is_refused(tmp_path: Path, grid_wav: Path) -> None:
    import soundfile as sf

    x, sr = sf.read(str(grid_wav), dtype="float32")
    x[1000:1010] = np.nan
    bad = tmp_path / "nan.wav"
    sf.write(str(bad), x, sr, subtype="FLOAT")
    with pytest.raises(MediaError, match="nan.wav: 10 audio samples are not finite"):
        probe_media(bad, PARAMS)


def test_a_link_repeating_an_earlier_row_is_not_read_either(tmp_path: Path, grid: list[Path]) -> None:
    d = tmp_path / "drop"
    d.mkdir()
    (d / "good.mpg").write_bytes(grid[0].read_bytes())
    os.symlink("/etc/passwd", d / "again.mp4")
    (d / "manifest.csv").write_text(
        "subject,session_date,task,file\nS1,2024-05-02,rest,good.mpg\nS1,2024-05-02,rest,again.mp4\n"
    )
    plan = plan_ingest(d, "A", PARAMS)
    assert [i.source.name for i in plan.items] == ["good.mpg"]
    (rej,) = plan.rejected
    assert rej.sha256 is None and rej.reason == f"manifest.csv line 3: again.mp4: is a symbolic link; {RULE}"
