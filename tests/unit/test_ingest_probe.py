"""probe_media on real recordings and on files broken on purpose."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from palsyflow.config import IngestParams
from palsyflow.ingest.probe import MediaError, MediaInfo, media_kind, probe_media

PARAMS = IngestParams()


@pytest.fixture(scope="module")
def grid_clip(shared_data: Path) -> Path:
    clips = sorted((shared_data / "talking-faces" / "grid").glob("*.mpg"))
    if not clips:
        pytest.skip("no GRID clips under talking-faces/grid")
    return clips[0]


@pytest.fixture(scope="module")
def phone_photo(shared_data: Path) -> Path:
    photos = sorted((shared_data / "healthy-tasks" / "app_uploads").glob("*/*-1.jpg"))
    if not photos:
        pytest.skip("no phone photos under healthy-tasks/app_uploads")
    return photos[0]


def test_grid_clip_values(grid_clip: Path) -> None:
    info = probe_media(grid_clip, PARAMS)
    assert isinstance(info, MediaInfo)
    assert info.kind == "video"
    assert info.codec == "mpeg1video"
    assert info.fps == pytest.approx(25.0)
    assert (info.width, info.height) == (360, 288)
    assert info.has_audio is True
    assert info.audio_codec is not None and info.audio_sr and info.audio_sr > 0
    assert info.duration_s == pytest.approx(3.0, abs=0.2)
    assert 70 <= info.n_frames <= 80
    assert info.orientation == 1
    assert info.size_bytes == grid_clip.stat().st_size
    d = info.as_dict()
    assert d["fps"] == info.fps and set(d) >= {"kind", "duration_s", "orientation", "size_bytes"}


def test_all_grid_clips_probe(shared_data: Path) -> None:
    clips = sorted((shared_data / "talking-faces" / "grid").glob("*.mpg"))
    assert len(clips) >= 2
    for clip in clips:
        info = probe_media(clip, PARAMS)
        assert (info.width, info.height, info.has_audio) == (360, 288, True)


def test_phone_photo_exif_orientation(phone_photo: Path) -> None:
    from PIL import Image

    with Image.open(phone_photo) as im:
        stored = im.size
    info = probe_media(phone_photo, PARAMS)
    assert info.kind == "photo"
    assert info.orientation in (5, 6, 7, 8)
    assert (info.width, info.height) == (stored[1], stored[0])  # swapped by the rotation
    assert info.height > info.width  # stored sideways, upright it is portrait
    assert info.duration_s == 0.0 and info.n_frames == 1 and info.fps is None


def test_webcam_png_has_no_rotation(shared_data: Path) -> None:
    pngs = sorted((shared_data / "healthy-tasks" / "app_uploads").glob("*/*-0.png"))
    if not pngs:
        pytest.skip("no webcam PNGs")
    info = probe_media(pngs[0], PARAMS)
    assert (info.kind, info.orientation, info.width, info.height) == ("photo", 1, 640, 480)


def test_audio_file(shared_data: Path) -> None:
    wavs = sorted((shared_data / "talking-faces" / "grid" / "audio_extracted").glob("*.wav"))
    if not wavs:
        pytest.skip("no extracted GRID audio")
    info = probe_media(wavs[0], PARAMS)
    assert info.kind == "audio" and info.width is None and info.fps is None
    assert info.audio_sr and info.duration_s == pytest.approx(3.0, abs=0.2)


def _expect(path: Path, fragment: str) -> MediaError:
    with pytest.raises(MediaError) as err:
        probe_media(path, PARAMS)
    msg = str(err.value)
    assert msg.startswith(f"{path.name}: "), msg
    assert fragment in msg, msg
    return err.value


def test_truncated_clip(grid_clip: Path, tmp_path: Path) -> None:
    bad = tmp_path / "truncated.mpg"
    bad.write_bytes(grid_clip.read_bytes()[:20_000])
    _expect(bad, "truncated")


def test_random_bytes_mp4(tmp_path: Path) -> None:
    bad = tmp_path / "noise.mp4"
    bad.write_bytes(os.urandom(8192))
    _expect(bad, "not a photo, video or audio recording")


def test_zero_byte(tmp_path: Path) -> None:
    bad = tmp_path / "empty.mov"
    bad.touch()
    _expect(bad, "empty")


def test_text_renamed_jpg(tmp_path: Path) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not a photograph\n" * 50)
    _expect(bad, "not a readable photo")


def test_truncated_jpeg(phone_photo: Path, tmp_path: Path) -> None:
    bad = tmp_path / "half.jpg"
    data = phone_photo.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    _expect(bad, "does not decode")


def test_kind_is_decided_by_content_not_by_name(grid_clip: Path, phone_photo: Path, tmp_path: Path) -> None:
    bad = tmp_path / "clip.gif"
    bad.write_bytes(b"GIF89a")  # a header and nothing else
    _expect(bad, "not a photo, video or audio recording")
    with pytest.raises(MediaError, match="does not exist"):
        media_kind(tmp_path / "noext")
    noext = tmp_path / "noext"
    noext.write_bytes(grid_clip.read_bytes())
    assert media_kind(noext) == "video"
    as_video = tmp_path / "photo.MPG"
    as_video.write_bytes(phone_photo.read_bytes())
    assert media_kind(as_video) == "photo"
    assert probe_media(as_video, PARAMS).extension == ".jpg"  # stored under the format's extension


def test_audio_only_file_named_as_video_is_audio(shared_data: Path, tmp_path: Path) -> None:
    wavs = sorted((shared_data / "talking-faces" / "grid" / "audio_extracted").glob("*.wav"))
    if not wavs:
        pytest.skip("no extracted GRID audio")
    fake = tmp_path / "voice.mkv"
    fake.write_bytes(wavs[0].read_bytes())
    info = probe_media(fake, PARAMS)
    assert (info.kind, info.extension, info.width) == ("audio", ".wav", None)


def test_limits_from_params(grid_clip: Path, phone_photo: Path) -> None:
    strict = IngestParams(min_duration_s=10.0)
    with pytest.raises(MediaError, match="below the minimum 10 s"):
        probe_media(grid_clip, strict)
    big = IngestParams(min_width=400, min_height=64)
    with pytest.raises(MediaError, match=r"resolution 360x288 px"):
        probe_media(grid_clip, big)
    # photos: limits apply to the upright size (portrait 1200x1600 passes a tall limit)
    tall = IngestParams(min_width=64, min_height=1500)
    assert probe_media(phone_photo, tall).height >= 1500


def test_missing_file(tmp_path: Path) -> None:
    _expect(tmp_path / "gone.mp4", "does not exist")


def test_header_ok_but_frames_do_not_decode(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "expression-videos" / "single_face.mp4"
    if not src.is_file():
        pytest.skip("expression-videos/single_face.mp4 absent")
    data = bytearray(src.read_bytes())
    start, end = data.find(b"mdat") + 4, data.find(b"moov") - 4
    assert 0 < start < end
    data[start:end] = bytes(end - start)  # keep the index, zero every sample
    bad = tmp_path / "zeroed.mp4"
    bad.write_bytes(bytes(data))
    _expect(bad, "does not decode")


def test_a_browser_webm_without_a_stated_frame_rate_is_accepted_at_its_decoded_rate() -> None:
    """Chromium's MediaRecorder writes WebM with no frame rate; FFmpeg's 50 frames/s is a guess, not a statement.

    The file is 2 s of the GRID clip bbaf2n (CC BY 4.0, data/sample/ATTRIBUTION.md) as
    Chromium 156 recorded it from its fake camera in the portal's patient capture.
    """
    import av

    path = Path(__file__).resolve().parents[1] / "data" / "mediarecorder_no_stated_rate.webm"
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        assert v.average_rate is None and v.guessed_rate == 50  # the file's own facts
    info = probe_media(path, IngestParams())
    assert info.kind == "video" and info.has_audio and info.container == "matroska,webm"
    assert abs(info.fps - 25.0) < 0.5 and info.n_frames == 49
