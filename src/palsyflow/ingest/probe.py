"""Probe one uploaded media file: what it is, and proof that it decodes.

Videos and audio are opened with PyAV (FFmpeg); the first video frame (and the first
audio frame, when there is an audio stream) is actually decoded, so a file that only
has a plausible header is refused here rather than three stages later. Photos are
decoded fully with Pillow. Photo width and height are reported *after* applying the
EXIF orientation, i.e. in the image frame of :mod:`palsyflow.conventions`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from palsyflow.config import IngestParams

MediaKind = Literal["video", "photo", "audio"]

_EXIF_ORIENTATION = 0x0112
#: EXIF orientations whose display swaps the stored width and height.
_TRANSPOSING_ORIENTATIONS = frozenset({5, 6, 7, 8})


class MediaError(ValueError):
    """A file cannot be used as a recording; the message starts with the file name."""


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe_media` found out about one file.

    Attributes
    ----------
    kind : {"video", "photo", "audio"}
        Decided from the file extension.
    container : str
        Demuxer / image format name (``"mpeg"``, ``"mov,mp4,m4a,3gp,3g2,mj2"``, ``"jpeg"``).
    codec : str or None
        Video codec (videos), image format (photos), audio codec (audio files).
    duration_s : float
        Duration in seconds; ``0.0`` for photos.
    fps : float or None
        Average video frame rate, frames per second; ``None`` for photos and audio.
    width, height : int or None
        Display size in pixels after applying the orientation; ``None`` for audio.
    n_frames : int
        Number of video frames (from the container when stated, else
        ``round(duration_s * fps)``); 1 for photos, 0 for audio.
    has_audio : bool
        Whether an audio stream is present (and its first frame decodes).
    audio_codec : str or None
        Audio codec name.
    audio_sr : int or None
        Audio sample rate, Hz.
    orientation : int
        EXIF orientation tag (1-8) for photos; for videos the display-matrix rotation
        expressed as the equivalent EXIF tag (1, 3, 6 or 8); 1 when none.
    size_bytes : int
        File size in bytes.
    """

    kind: MediaKind
    container: str
    codec: str | None
    duration_s: float
    fps: float | None
    width: int | None
    height: int | None
    n_frames: int
    has_audio: bool
    audio_codec: str | None
    audio_sr: int | None
    orientation: int
    size_bytes: int

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain ``dict`` (JSON-serialisable)."""
        return asdict(self)


def media_kind(path: Path | str, params: IngestParams) -> MediaKind:
    """Kind of recording a file is, from its (case-insensitive) extension.

    Parameters
    ----------
    path : path-like
        The file (need not exist).
    params : IngestParams
        ``video_extensions``, ``photo_extensions`` and ``audio_extensions``.

    Returns
    -------
    {"video", "photo", "audio"}

    Raises
    ------
    MediaError
        If the extension is in none of the lists.
    """
    path = Path(path)
    ext = path.suffix.lower()
    for kind, exts in (
        ("video", params.video_extensions),
        ("photo", params.photo_extensions),
        ("audio", params.audio_extensions),
    ):
        if ext in {e.lower() for e in exts}:
            return kind  # type: ignore[return-value]
    shown = ext or "(none)"
    raise MediaError(f"{path.name}: unknown file extension {shown}")


def probe_media(path: Path | str, params: IngestParams) -> MediaInfo:
    """Identify a media file and prove that it decodes.

    Parameters
    ----------
    path : path-like
        Video, photo or audio file; symlinks are followed.
    params : IngestParams
        Extension lists, ``min_duration_s`` (seconds), ``min_width`` / ``min_height``
        (pixels, compared after applying the orientation) and ``probe_max_packets``.

    Returns
    -------
    MediaInfo

    Raises
    ------
    MediaError
        With a message ``"<file name>: <reason>"`` when the extension is unknown, the
        file is missing or empty, it cannot be opened or decoded, a video has no video
        stream (or an audio file no audio stream), the duration is below
        ``min_duration_s`` or the picture is smaller than ``min_width`` x ``min_height``.
    """
    path = Path(path)
    kind = media_kind(path, params)
    if not path.is_file():
        raise MediaError(f"{path.name}: file does not exist")
    size = path.stat().st_size
    if size == 0:
        raise MediaError(f"{path.name}: file is empty (0 bytes)")
    if kind == "photo":
        info = _probe_photo(path, size)
    else:
        info = _probe_av(path, kind, size, params)
    _check_limits(path, info, params)
    return info


# photos ------------------------------------------------------------------------


def _probe_photo(path: Path, size: int) -> MediaInfo:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            fmt = (im.format or path.suffix.lstrip(".")).lower()
            stored_w, stored_h = im.size
            try:
                orientation = int(im.getexif().get(_EXIF_ORIENTATION) or 1)
            except Exception:  # a damaged EXIF block does not make the pixels unusable
                orientation = 1
    except UnidentifiedImageError:
        raise MediaError(f"{path.name}: not a readable image (format not recognised)") from None
    except Image.DecompressionBombError as exc:
        raise MediaError(f"{path.name}: image too large to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise MediaError(f"{path.name}: image does not decode ({exc})") from None
    if orientation not in range(1, 9):
        orientation = 1
    w, h = (stored_h, stored_w) if orientation in _TRANSPOSING_ORIENTATIONS else (stored_w, stored_h)
    return MediaInfo(
        kind="photo",
        container=fmt,
        codec=fmt,
        duration_s=0.0,
        fps=None,
        width=int(w),
        height=int(h),
        n_frames=1,
        has_audio=False,
        audio_codec=None,
        audio_sr=None,
        orientation=orientation,
        size_bytes=size,
    )


# video and audio ---------------------------------------------------------------


def _rotation_to_exif(rotation: float | None) -> int:
    """Display-matrix rotation (degrees counter-clockwise, FFmpeg convention) as an EXIF tag."""
    if not rotation:
        return 1
    r = int(round(rotation / 90.0)) * 90 % 360
    return {0: 1, 90: 8, 180: 3, 270: 6}[r]


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _probe_av(path: Path, kind: MediaKind, size: int, params: IngestParams) -> MediaInfo:
    import av

    try:
        container = av.open(str(path), mode="r")
    except av.FFmpegError as exc:
        raise MediaError(f"{path.name}: cannot open as media ({_ffmpeg_reason(exc)})") from None
    try:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if kind == "video" and video is None:
            raise MediaError(f"{path.name}: no video stream")
        if kind == "audio" and audio is None:
            raise MediaError(f"{path.name}: no audio stream")
        if kind == "audio":
            video = None  # cover art in an audio file is not a recording
        first_video, first_audio = _first_frames(path, container, video, audio, params.probe_max_packets)
        if video is not None and first_video is None:
            raise MediaError(f"{path.name}: video stream has no decodable frame")
        if audio is not None and first_audio is None:
            raise MediaError(f"{path.name}: audio stream has no decodable frame")

        duration = _duration(container, video if video is not None else audio)
        if duration is None:
            duration = _duration_from_packets(container, video if video is not None else audio)

        fps = width = height = None
        n_frames = 0
        orientation = 1
        codec: str | None
        if video is not None:
            rate = video.average_rate or video.guessed_rate or video.base_rate
            fps = float(rate) if rate else None
            orientation = _rotation_to_exif(getattr(first_video, "rotation", 0))
            w, h = first_video.width, first_video.height
            width, height = (h, w) if orientation in _TRANSPOSING_ORIENTATIONS else (w, h)
            n_frames = int(video.frames or 0)
            if n_frames <= 0 and fps and duration:
                n_frames = int(round(duration * fps))
            codec = video.codec_context.name
        else:
            codec = audio.codec_context.name if audio is not None else None
        audio_codec = audio.codec_context.name if audio is not None else None
        audio_sr = int(audio.codec_context.sample_rate) if audio is not None else None
        fmt = container.format.name
    finally:
        container.close()
    return MediaInfo(
        kind=kind,
        container=fmt,
        codec=codec,
        duration_s=float(duration or 0.0),
        fps=fps,
        width=width,
        height=height,
        n_frames=n_frames,
        has_audio=audio is not None,
        audio_codec=audio_codec,
        audio_sr=audio_sr,
        orientation=orientation,
        size_bytes=size,
    )


def _ffmpeg_reason(exc: BaseException) -> str:
    msg = getattr(exc, "strerror", None) or str(exc)
    return str(msg).strip() or type(exc).__name__


def _first_frames(path: Path, container, video, audio, max_packets: int):
    """Decode until the first frame of each wanted stream, reading at most ``max_packets`` per stream."""
    import av

    wanted = [s for s in (video, audio) if s is not None]
    got: dict[int, Any] = {}
    seen: dict[int, int] = {s.index: 0 for s in wanted}
    errors: list[str] = []
    try:
        for packet in container.demux(wanted):
            idx = packet.stream.index
            if idx in got or seen[idx] >= max_packets:
                if all(s.index in got or seen[s.index] >= max_packets for s in wanted):
                    break
                continue
            seen[idx] += 1
            try:
                frames = packet.decode()  # the flush packet at the end also drains the decoder
            except av.FFmpegError as exc:
                errors.append(_ffmpeg_reason(exc))
                continue
            if frames:
                got[idx] = frames[0]
                if all(s.index in got for s in wanted):
                    break
    except av.FFmpegError as exc:
        if not got:
            raise MediaError(f"{path.name}: cannot decode ({_ffmpeg_reason(exc)})") from None
    missing = [s for s in wanted if s.index not in got]
    if missing and errors:
        kinds = " and ".join(s.type for s in missing)
        verb = "streams do not" if len(missing) > 1 else "stream does not"
        raise MediaError(f"{path.name}: {kinds} {verb} decode ({errors[0]})")
    return (
        got.get(video.index) if video is not None else None,
        got.get(audio.index) if audio is not None else None,
    )


def _duration(container, stream) -> float | None:
    import av

    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    if stream is not None and stream.duration:
        return _seconds(stream.duration, stream.time_base)
    return None


def _duration_from_packets(container, stream) -> float | None:
    """Duration from packet timestamps (demux only, no decoding) when no header states it."""
    import av

    if stream is None:
        return None
    try:
        container.seek(0)
    except av.FFmpegError:
        return None
    start = end = None
    for packet in container.demux(stream):
        if packet.pts is None:
            continue
        start = packet.pts if start is None else min(start, packet.pts)
        stop = packet.pts + (packet.duration or 0)
        end = stop if end is None else max(end, stop)
    if start is None or end is None:
        return None
    return _seconds(end - start, stream.time_base)


def _check_limits(path: Path, info: MediaInfo, params: IngestParams) -> None:
    if info.kind != "photo" and info.duration_s < params.min_duration_s:
        raise MediaError(
            f"{path.name}: duration {info.duration_s:.2f} s is below the minimum {params.min_duration_s:g} s"
        )
    if info.width is not None and info.height is not None:
        if info.width < params.min_width or info.height < params.min_height:
            raise MediaError(
                f"{path.name}: resolution {info.width}x{info.height} px is below the minimum "
                f"{params.min_width}x{params.min_height} px"
            )
