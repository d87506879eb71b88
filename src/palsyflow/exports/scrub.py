"""Copies of recordings without the metadata that dates, locates or names them.

An export shifts every date by the subject's secret offset (:mod:`palsyflow.pseudonym`), but
a recording's own metadata would still carry the true visit date: a photo's EXIF
``DateTimeOriginal``, its GPS position and camera serial, XMP and IPTC blocks, a video's
``creation_time``, an audio file's ``ICRD``/``date`` tags and encoder strings. Exports copy
recordings through :func:`scrub_copy`, which removes them and keeps what decoding needs:

* **JPEG**: lossless segment surgery; APP1 (EXIF, XMP), APP3–APP13 and APP15 (IPTC and
  maker blocks) and comments are dropped; APP0 (JFIF), APP2 (ICC colour profile) and
  APP14 (Adobe colour transform) stay; the entropy-coded image is copied byte for byte. A
  non-default EXIF orientation is written back as a minimal EXIF block holding only it, so
  the picture still displays upright (:mod:`palsyflow.conventions`).
* **PNG**: lossless chunk surgery; ``tEXt``, ``zTXt``, ``iTXt``, ``tIME`` and ``eXIf`` are
  dropped (an ``eXIf`` orientation is written back alone); image and colour chunks stay.
* **PPM**: holds no metadata; copied.
* **Other photo formats** (TIFF, HEIF, ...): re-saved by Pillow in the same format without
  EXIF or XMP (lossless for TIFF; HEIF is re-encoded).
* **Video and audio**: remuxed by FFmpeg (PyAV) with stream copy (packets unchanged) into
  the same container with no container or stream metadata and FFmpeg's ``bitexact`` flag
  (no encoder string; MP4/MOV ``creation_time`` written as zero).

Everything here is pure (no store, no network).
"""

from __future__ import annotations

import io
import shutil
import struct
from pathlib import Path

import av
from PIL import Image

__all__ = ["ScrubError", "scrub_copy", "DATING_EXIF_TAGS"]

#: EXIF tags that date a picture (DateTime, DateTimeOriginal, DateTimeDigitized) or
#: locate it (GPSInfo); the tests check that none survives.
DATING_EXIF_TAGS = (0x0132, 0x9003, 0x9004, 0x8825)

_EXIF_ORIENTATION = 0x0112
_JPEG_KEEP_APP = {0xE0, 0xE2, 0xEE}  # JFIF, ICC profile, Adobe colour transform
_PNG_DROP = {b"tEXt", b"zTXt", b"iTXt", b"tIME", b"eXIf"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ScrubError(ValueError):
    """A recording could not be copied without its metadata; the message names the file."""


def _orientation(data: bytes) -> int:
    """The EXIF orientation (1-8) of a photo's bytes; 1 when absent or unreadable."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return int(im.getexif().get(_EXIF_ORIENTATION) or 1)
    except Exception:  # noqa: BLE001 - a damaged EXIF block reads as upright
        return 1


def _orientation_exif(orientation: int) -> bytes:
    """A TIFF-structured EXIF block (with its ``Exif\\0\\0`` header) holding only the orientation."""
    exif = Image.Exif()
    exif[_EXIF_ORIENTATION] = orientation
    return exif.tobytes()


def _scrub_jpeg(data: bytes, name: str) -> bytes:
    orientation = _orientation(data)
    out = bytearray(data[:2])
    i = 2
    wrote_exif = orientation == 1
    while i < len(data):
        if data[i] != 0xFF:
            raise ScrubError(f"{name}: JPEG marker expected at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            out += data[i : i + 2]
            i += 2
            continue
        if i + 4 > len(data):
            raise ScrubError(f"{name}: JPEG segment header cut off at byte {i}")
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        segment = data[i : i + 2 + length]
        if marker == 0xDA:  # start of scan: the rest is image data, copied unchanged
            if not wrote_exif:
                out += _app1(_orientation_exif(orientation))
                wrote_exif = True
            out += data[i:]
            return bytes(out)
        keep = not (0xE0 <= marker <= 0xEF or marker == 0xFE) or marker in _JPEG_KEEP_APP
        if keep:
            out += segment
        if marker == 0xE0 and not wrote_exif:  # the orientation block goes right after JFIF
            out += _app1(_orientation_exif(orientation))
            wrote_exif = True
        i += 2 + length
    raise ScrubError(f"{name}: JPEG has no image data (no start-of-scan marker)")


def _app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    import zlib

    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def _scrub_png(data: bytes, name: str) -> bytes:
    orientation = _orientation(data)
    out = bytearray(_PNG_SIGNATURE)
    i = len(_PNG_SIGNATURE)
    while i < len(data):
        if i + 8 > len(data):
            raise ScrubError(f"{name}: PNG chunk header cut off at byte {i}")
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind = data[i + 4 : i + 8]
        chunk = data[i : i + 12 + length]
        if kind == b"IDAT" and orientation != 1:
            out += _png_chunk(b"eXIf", _orientation_exif(orientation)[6:])  # eXIf holds no Exif\0\0 header
            orientation = 1
        if kind not in _PNG_DROP:
            out += chunk
        i += 12 + length
        if kind == b"IEND":
            return bytes(out)
    raise ScrubError(f"{name}: PNG has no IEND chunk")


def _scrub_pillow(src: Path, dst: Path) -> None:
    with Image.open(src) as im:
        fmt = im.format
        kwargs = {}
        if fmt == "TIFF":
            kwargs["compression"] = im.info.get("compression", "raw")
        orientation = int(im.getexif().get(_EXIF_ORIENTATION) or 1)
        if orientation != 1:
            exif = Image.Exif()
            exif[_EXIF_ORIENTATION] = orientation
            kwargs["exif"] = exif
        im.load()
        im.save(dst, format=fmt, **kwargs)


def _remux(src: Path, dst: Path) -> None:
    with av.open(str(src), mode="r") as inp:
        fmt = inp.format.name.split(",")[0]
        if fmt in ("mov", "mp4"):
            fmt = "mp4" if src.suffix.lower() in (".mp4", ".m4v", ".m4a") else "mov"
        elif fmt == "matroska" and src.suffix.lower() == ".webm":
            fmt = "webm"
        with av.open(str(dst), mode="w", format=fmt, options={"fflags": "+bitexact"}) as out:
            out.metadata.clear()
            mapping = {}
            for stream in inp.streams:
                if stream.type not in ("video", "audio"):
                    continue
                ostream = out.add_stream_from_template(stream)
                ostream.metadata.clear()
                mapping[stream.index] = ostream
            if not mapping:
                raise ScrubError(f"{src.name}: no video or audio stream to copy")
            for packet in inp.demux(*[inp.streams[i] for i in mapping]):
                if packet.dts is None:  # the demuxer's flush packet
                    continue
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)


def scrub_copy(src: Path | str, dst: Path | str) -> str:
    """Copy a recording to ``dst`` without the metadata that dates, locates or names it.

    Parameters
    ----------
    src : path-like
        An ingested recording (photo, video or audio file, as :func:`palsyflow.ingest.probe.probe_media`
        accepted it).
    dst : path-like
        Where the copy goes (overwritten). Callers write to a temporary path and rename
        (:func:`palsyflow.atomic.atomic_path`).

    Returns
    -------
    str
        How it was copied: ``"jpeg-segments"``, ``"png-chunks"``, ``"copied"``,
        ``"pillow-resave"`` or ``"remuxed"``.

    Raises
    ------
    ScrubError
        When the file's structure cannot be walked or remuxed (the message names the file).
    """
    src, dst = Path(src), Path(dst)
    head = src.read_bytes()[:8]
    if head[:2] == b"\xff\xd8":
        dst.write_bytes(_scrub_jpeg(src.read_bytes(), src.name))
        return "jpeg-segments"
    if head == _PNG_SIGNATURE:
        dst.write_bytes(_scrub_png(src.read_bytes(), src.name))
        return "png-chunks"
    if head[:2] in (b"P5", b"P6"):
        shutil.copyfile(src, dst)
        return "copied"
    try:
        with Image.open(src) as im:
            is_photo = im.format not in (None, "MPEG")
    except Exception:  # noqa: BLE001 - not a picture Pillow knows: video or audio
        is_photo = False
    if is_photo:
        _scrub_pillow(src, dst)
        return "pillow-resave"
    try:
        _remux(src, dst)
    except ScrubError:
        raise
    except Exception as exc:  # noqa: BLE001 - FFmpeg's own message, with the file named
        raise ScrubError(f"{src.name}: could not be remuxed without its metadata: {exc}") from exc
    return "remuxed"
