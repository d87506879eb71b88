"""Corpus kinds of the files area: links and special files, modality, decodability, formats.

Each kind writes its file(s) into the drop, built from the real files of
:class:`tests.corpus.base.Sources`, and returns its manifest rows. The builders are plain
functions (``make_*``) so that unit tests can build the same bad files.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from tests.corpus.base import Kind, Row, Sources

SESSION = "2024-05-02"


def _row(subject: str, task: str, file: str) -> Row:
    return {"subject": subject, "session_date": SESSION, "task": task, "file": file}


# file makers (also used by tests/unit/test_ingest_media.py) -----------------------------


def make_truncated(src: Path, out: Path, fraction: float = 0.6) -> Path:
    """The first ``fraction`` of ``src``'s bytes (an upload cut short)."""
    data = src.read_bytes()
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def make_without_audio(src: Path, out: Path) -> Path:
    """``src``'s video stream remuxed alone (packets copied, no re-encoding) into Matroska."""
    import av

    with av.open(str(src)) as inp, av.open(str(out), "w", format="matroska") as dst:
        vin = inp.streams.video[0]
        vout = dst.add_stream_from_template(vin)
        for packet in inp.demux(vin):
            if packet.dts is None:
                continue
            packet.stream = vout
            dst.mux(packet)
    return out


def make_sparse_frames(src: Path, out: Path, n_frames: int = 10, span_s: float = 9000.0) -> Path:
    """``n_frames`` of ``src`` re-encoded with timestamps spread over ``span_s`` seconds, the stream stating 25 fps."""
    import av

    with av.open(str(src)) as inp:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(n_frames), inp.decode(video=0))]
    h, w = frames[0].shape[:2]
    with av.open(str(out), "w", format="matroska") as dst:
        stream = dst.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        step_ms = span_s * 1000.0 / (n_frames - 1)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = int(round(i * step_ms)), stream.time_base
            for packet in stream.encode(frame):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return out


def make_silent_wav(src: Path, out: Path) -> Path:
    """A WAV as long as ``src`` (same rate), every sample zero (digital silence)."""
    import soundfile as sf

    info = sf.info(str(src))
    sf.write(str(out), np.zeros((info.frames, info.channels), dtype=np.int16), info.samplerate, subtype="PCM_16")
    return out


def make_clipped_wav(src: Path, out: Path, gain: float = 30.0) -> Path:
    """``src`` amplified ``gain`` times and clipped at full scale (16-bit PCM)."""
    import soundfile as sf

    x, sr = sf.read(str(src), dtype="float64")
    sf.write(str(out), np.clip(x * gain, -1.0, 1.0), sr, subtype="PCM_16")
    return out


def make_photo(src: Path, out: Path, fmt: str, note: str = "") -> Path:
    """``src`` re-saved by Pillow as ``fmt`` (RGB; a PNG gets ``note`` as a text chunk, so bytes differ per kind)."""
    from PIL import Image, ImageOps, PngImagePlugin

    from palsyflow.landmarks.media import pillow

    pillow()  # HEIF writer of pillow-heif
    with Image.open(src) as im:
        rgb = ImageOps.exif_transpose(im).convert("RGB")
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", note or out.name)
        rgb.save(out, format="PNG", pnginfo=info)
    else:
        rgb.save(out, format=fmt)
    return out


def make_png16(src: Path, out: Path) -> Path:
    """``src`` as a 16-bit greyscale PNG (mode ``I;16``, samples ``v8 * 257``), which Pillow's RGB conversion clips to white."""
    from PIL import Image, ImageOps

    with Image.open(src) as im:
        grey = np.asarray(ImageOps.exif_transpose(im).convert("L"), dtype=np.uint16) * 257
    Image.fromarray(grey).save(out, format="PNG")
    return out


def make_tiff16(src: Path, out: Path) -> Path:
    """``src`` as a 16-bit greyscale TIFF."""
    from PIL import Image, ImageOps

    with Image.open(src) as im:
        grey = np.asarray(ImageOps.exif_transpose(im).convert("L"), dtype=np.uint16) * 257
    Image.fromarray(grey).save(out, format="TIFF")
    return out


def heif_writable() -> bool:
    """Whether pillow-heif can write HEIC here."""
    try:
        import pillow_heif  # noqa: F401
    except ImportError:
        return False
    from palsyflow.landmarks.media import pillow

    return "HEIF" in pillow().SAVE


def avif_writable() -> bool:
    """Whether this Pillow was built with AVIF support."""
    from PIL import features

    return bool(features.check("avif"))


# kinds -------------------------------------------------------------------------------


def _symlink_passwd(drop: Path, s: Sources) -> list[Row]:
    os.symlink("/etc/passwd", drop / "files-symlink-passwd.mp4")
    return [_row("FLINK1", "rest", "files-symlink-passwd.mp4")]


def _symlink_video(drop: Path, s: Sources) -> list[Row]:
    os.symlink(s.video, drop / "files-symlink-video.mpg")
    return [_row("FLINK2", "rest", "files-symlink-video.mpg")]


def _symlink_folder(drop: Path, s: Sources) -> list[Row]:
    os.symlink(s.video.parent, drop / "files-linked-folder")
    return [_row("FLINK3", "rest", f"files-linked-folder/{s.video.name}")]


def _fifo(drop: Path, s: Sources) -> list[Row]:
    os.mkfifo(drop / "files-fifo.mp4")
    return [_row("FFIFO", "rest", "files-fifo.mp4")]


def _no_audio_speech(drop: Path, s: Sources) -> list[Row]:
    make_without_audio(s.video, drop / "files-noaudio.mkv")
    return [_row("FNOAUD", "speech", "files-noaudio.mkv")]


def _wav_rest(drop: Path, s: Sources) -> list[Row]:
    import soundfile as sf

    x, sr = sf.read(str(s.wav), dtype="float64")
    sf.write(str(drop / "files-wav-rest.wav"), x, sr, subtype="PCM_24")  # bytes of its own
    return [_row("FWAVR", "rest", "files-wav-rest.wav")]


def _silent_wav(drop: Path, s: Sources) -> list[Row]:
    make_silent_wav(s.wav, drop / "files-silent.wav")
    return [_row("FSILENT", "speech", "files-silent.wav")]


def _clipped_wav(drop: Path, s: Sources) -> list[Row]:
    make_clipped_wav(s.wav, drop / "files-clipped.wav")
    return [_row("FCLIP", "speech", "files-clipped.wav")]


def _truncated_mpg(drop: Path, s: Sources) -> list[Row]:
    make_truncated(s.other_videos[0], drop / "files-truncated.mpg", 0.6)
    return [_row("FTRUNC", "rest", "files-truncated.mpg")]


def _sparse_frames(drop: Path, s: Sources) -> list[Row]:
    make_sparse_frames(s.other_videos[1], drop / "files-sparse.mkv")
    return [_row("FSPARSE", "rest", "files-sparse.mkv")]


def _png16(drop: Path, s: Sources) -> list[Row]:
    make_png16(s.photo, drop / "files-16bit.png")
    return [_row("FPNG16", "rest", "files-16bit.png")]


def _photo_format(fmt: str, ext: str, subject: str):
    def build(drop: Path, s: Sources) -> list[Row]:
        make_photo(s.photo, drop / f"files-photo{ext}", fmt)
        return [_row(subject, "rest", f"files-photo{ext}")]

    return build


def _png_named_mp4(drop: Path, s: Sources) -> list[Row]:
    make_photo(s.photo, drop / "files-png-named.mp4", "PNG", note="files-png-named-mp4")
    return [_row("FPNGMP4", "rest", "files-png-named.mp4")]


KINDS: list[Kind] = [
    Kind("files-symlink-to-etc-passwd", _symlink_passwd, "refused", "is a symbolic link"),
    Kind("files-symlink-to-video-outside-drop", _symlink_video, "refused", "is a symbolic link"),
    Kind("files-symlinked-folder", _symlink_folder, "refused", "is a symbolic link"),
    Kind("files-fifo", _fifo, "refused", "not a regular file"),
    Kind("files-video-without-audio-for-speech", _no_audio_speech, "refused", "needs audio"),
    Kind("files-wav-for-rest", _wav_rest, "refused", "needs frames"),
    Kind("files-silent-wav-for-speech", _silent_wav, "refused", "digitally silent"),
    Kind("files-clipped-wav-for-speech", _clipped_wav, "refused", "at full scale"),
    Kind("files-truncated-mpg", _truncated_mpg, "refused", "truncated"),
    Kind("files-10-frames-over-9000-s", _sparse_frames, "refused", "frame rate"),
    Kind("files-16-bit-png", _png16, "measured"),
    Kind("files-ppm", _photo_format("PPM", ".ppm", "FPPM"), "measured"),
    Kind("files-tiff", _photo_format("TIFF", ".tiff", "FTIFF"), "measured"),
    Kind("files-webp", _photo_format("WEBP", ".webp", "FWEBP"), "measured", notes="lossy WebP at Pillow's default quality"),
    Kind("files-bmp", _photo_format("BMP", ".bmp", "FBMP"), "measured"),
    Kind("files-png-named-mp4", _png_named_mp4, "measured", notes="recognised by content: stored as .png"),
]
if heif_writable():
    KINDS.append(Kind("files-heic", _photo_format("HEIF", ".heic", "FHEIC"), "measured"))
if avif_writable():
    KINDS.append(Kind("files-avif", _photo_format("AVIF", ".avif", "FAVIF"), "measured"))
