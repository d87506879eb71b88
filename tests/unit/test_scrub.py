"""Exported recordings carry no date, place or encoder metadata of their own (issue 13)."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image

from palsyflow.exports.scrub import DATING_EXIF_TAGS, ScrubError, scrub_copy

VISIT = "2026:04:21 10:15:00"


def _jpeg_with_exif(path, orientation=6):
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x0132] = VISIT
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(0x8769)[0x9003] = VISIT  # DateTimeOriginal
    exif.get_ifd(0x8825)[2] = (52.0, 5.0, 1.0)  # GPSLatitude
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(path, exif=exif, comment=b"visit 2026-04-21")
    return path


def test_jpeg_loses_dates_and_place_keeps_pixels_and_orientation(tmp_path):
    src = _jpeg_with_exif(tmp_path / "in.jpg")
    assert b"2026:04:21" in src.read_bytes()
    how = scrub_copy(src, tmp_path / "out.jpg")
    out = (tmp_path / "out.jpg").read_bytes()
    assert how == "jpeg-segments"
    assert b"2026" not in out and b"PhoneMaker" not in out
    with Image.open(tmp_path / "out.jpg") as im, Image.open(src) as orig:
        exif = im.getexif()
        assert exif.get(0x0112) == 6  # still displays upright
        assert not any(tag in exif for tag in DATING_EXIF_TAGS)
        assert not exif.get_ifd(0x8825) and not exif.get_ifd(0x8769)
        assert np.array_equal(np.asarray(im), np.asarray(orig))  # entropy-coded data untouched


def test_upright_jpeg_gets_no_exif_at_all(tmp_path):
    src = _jpeg_with_exif(tmp_path / "in.jpg", orientation=1)
    scrub_copy(src, tmp_path / "out.jpg")
    assert b"Exif\x00\x00" not in (tmp_path / "out.jpg").read_bytes()


def test_png_text_and_time_chunks_are_dropped(tmp_path):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Creation Time", "2026-04-21T10:15:00")
    info.add_itxt("Comment", "visit of 2026-04-21")
    Image.new("RGB", (8, 8), (10, 20, 30)).save(tmp_path / "in.png", pnginfo=info)
    assert scrub_copy(tmp_path / "in.png", tmp_path / "out.png") == "png-chunks"
    out = (tmp_path / "out.png").read_bytes()
    assert b"2026" not in out and b"tEXt" not in out and b"iTXt" not in out
    with Image.open(tmp_path / "out.png") as im:
        assert im.getpixel((3, 3)) == (10, 20, 30)


def test_video_loses_creation_time_and_location_keeps_every_frame(tmp_path):
    src = tmp_path / "in.mp4"
    with av.open(str(src), "w") as out:
        out.metadata["creation_time"] = "2026-04-21T10:15:00Z"
        out.metadata["location"] = "+52.0000+005.0000/"
        s = out.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(20):
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 10, np.uint8), format="rgb24")):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    assert scrub_copy(src, tmp_path / "out.mp4") == "remuxed"
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert "creation_time" not in c.metadata and "location" not in c.metadata
        assert "creation_time" not in c.streams.video[0].metadata
        assert sum(1 for _ in c.decode(video=0)) == 20
    raw = (tmp_path / "out.mp4").read_bytes()
    assert b"+52.0000" not in raw and b"Lavf" not in raw


def test_wav_info_chunk_is_dropped_samples_kept(tmp_path):
    import soundfile as sf

    x = (np.sin(np.arange(8000) / 5) * 0.3).astype(np.float32)
    sf.write(tmp_path / "in.wav", x, 16000, subtype="PCM_16")
    f = sf.SoundFile(tmp_path / "in.wav", "r+")
    f.date = "2026-04-21"
    f.close()
    assert b"2026-04-21" in (tmp_path / "in.wav").read_bytes()
    assert scrub_copy(tmp_path / "in.wav", tmp_path / "out.wav") == "remuxed"
    assert b"2026-04-21" not in (tmp_path / "out.wav").read_bytes()
    y, sr = sf.read(tmp_path / "out.wav", dtype="float32")
    assert sr == 16000 and np.array_equal(y, sf.read(tmp_path / "in.wav", dtype="float32")[0])


def test_a_cut_jpeg_is_refused_with_its_name(tmp_path):
    src = _jpeg_with_exif(tmp_path / "in.jpg")
    (tmp_path / "cut.jpg").write_bytes(src.read_bytes()[:300])
    with pytest.raises(ScrubError, match="cut.jpg"):
        scrub_copy(tmp_path / "cut.jpg", tmp_path / "out.jpg")
