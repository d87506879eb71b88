"""Probe one uploaded media file: what it is (by content, never by name), and proof that it decodes.

Kind by content (:func:`media_kind`): a file Pillow decodes is a photo (every format
Pillow reads, HEIC through ``pillow-heif``, see :func:`palsyflow.landmarks.media.pillow`);
otherwise a file FFmpeg (PyAV) opens is a video when it has a video stream that is not
just cover art, else audio when it has an audio stream. The file's extension plays no
part.

Decoded to the end (:func:`probe_media`): a video's or audio file's every packet is
decoded. A file is refused when a packet is cut short (a truncated upload), when a
packet does not decode, when what decodes falls short of the duration or frame count
the container states, when frame timestamps do not increase, when the mean decoded
frame interval disagrees with the stream's stated frame rate, or when the decoded
frame rate is implausibly low. The audio's peak level and its share of samples at
full scale are measured on the way (the speech-task rules of
:mod:`palsyflow.ingest.plan` use them). Photos are decoded fully with Pillow and
converted to 8-bit RGB exactly as the landmark reader converts them
(:func:`palsyflow.landmarks.media.to_rgb8`), so a colour mode the landmark stage
cannot render is refused here. Photo width and height are reported *after* applying
the EXIF orientation, i.e. in the image frame of :mod:`palsyflow.conventions`.

Containers that state no duration (MPEG program and transport streams, raw elementary
streams) are checked instead for their streams ending together: the muxer flushes
every stream at the end of a complete file, so its audio and video end within about a
frame of each other, while a cut leaves the stream that is interleaved later short by
its interleaving lead (``stream_end_tolerance_s``). Limitation: such a file cut at a
packet boundary where both streams happen to end together, or with one stream only, is
indistinguishable from a shorter recording.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from palsyflow.config import IngestParams
from palsyflow.landmarks.media import pillow, to_rgb8

MediaKind = Literal["video", "photo", "audio"]

_EXIF_ORIENTATION = 0x0112
#: EXIF orientations whose display swaps the stored width and height.
_TRANSPOSING_ORIENTATIONS = frozenset({5, 6, 7, 8})
#: Pillow formats it only identifies and cannot decode as a picture.
_PILLOW_NOT_PHOTOS = frozenset({"MPEG"})
#: FFmpeg demuxers that render text as pictures (ANSI art, binary text): not recordings.
_TEXT_DEMUXERS = frozenset({"tty", "bin", "xbin", "adf", "idf"})
#: Preferred extension of a Pillow format when the uploaded one does not name it.
_PHOTO_EXTENSION = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "HEIF": ".heic", "PPM": ".ppm"}
#: Demuxers whose containers state no duration in a header (it is estimated from timestamps).
_NO_DURATION_HEADER = frozenset({"mpeg", "mpegts", "mpegvideo", "mpeg1video", "mpeg2video", "h264", "hevc", "m4v"})
#: Full-scale divisor per integer sample format of FFmpeg (``u8`` is offset binary).
_INT_FULL_SCALE = {"s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0, "u8": 128.0}


class MediaError(ValueError):
    """A file cannot be used as a recording; the message starts with the file name."""


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe_media` found out about one file.

    Attributes
    ----------
    kind : {"video", "photo", "audio"}
        Decided from the content (:func:`media_kind`).
    container : str
        Demuxer / image format name (``"mpeg"``, ``"mov,mp4,m4a,3gp,3g2,mj2"``, ``"jpeg"``).
    codec : str or None
        Video codec (videos), image format (photos), audio codec (audio files).
    duration_s : float
        Duration in seconds (the container's statement, else the decoded length);
        ``0.0`` for photos.
    fps : float or None
        Average video frame rate, frames per second; ``None`` for photos and audio.
    width, height : int or None
        Display size in pixels after applying the orientation; ``None`` for audio.
    n_frames : int
        Number of video frames decoded; 1 for photos, 0 for audio.
    has_audio : bool
        Whether an audio stream is present and decodes.
    audio_codec : str or None
        Audio codec name.
    audio_sr : int or None
        Audio sample rate, Hz.
    orientation : int
        EXIF orientation tag (1-8) for photos; for videos the display-matrix rotation
        expressed as the equivalent EXIF tag (1, 3, 6 or 8); 1 when none.
    size_bytes : int
        File size in bytes.
    extension : str
        Extension the raw copy gets, lower-case with the dot: the uploaded one when it
        is an extension of the detected format, else the format's canonical one (a PNG
        uploaded as ``.mp4`` becomes ``.png``).
    audio_peak : float or None
        Largest absolute decoded audio sample, full scale = 1 (lossy codecs can exceed
        1 slightly); ``None`` without audio.
    audio_clipped_fraction : float or None
        Share of decoded audio samples (all channels) at or above
        ``IngestParams.clip_level`` of full scale, 0-1; ``None`` without audio.
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
    extension: str = ""
    audio_peak: float | None = None
    audio_clipped_fraction: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain ``dict`` (JSON-serialisable)."""
        return asdict(self)

    @property
    def audio_peak_dbfs(self) -> float | None:
        """``audio_peak`` in dB relative to full scale (``-inf`` for digital silence)."""
        if self.audio_peak is None:
            return None
        return 20.0 * math.log10(self.audio_peak) if self.audio_peak > 0 else -math.inf


# kind by content -----------------------------------------------------------------


def _pillow_format(path: Path) -> str | None:
    """Pillow's format name when Pillow identifies the file as a picture it decodes, else None."""
    Image = pillow()
    from PIL import UnidentifiedImageError

    try:
        with Image.open(path) as im:
            fmt = im.format
    except Image.DecompressionBombError:
        return "?"  # a picture, too large: probe_media refuses it with the reason
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    if not fmt or fmt in _PILLOW_NOT_PHOTOS:
        return None
    return fmt


def _is_image_demuxer(name: str) -> bool:
    """FFmpeg's still-image demuxers (``png_pipe``, ``image2`` ...): pictures, not videos."""
    return name.endswith("_pipe") or name.startswith("image2")


def _picture_streams(container) -> list:
    """Video streams that are not cover art (``attached_pic``)."""
    import av

    flag = av.stream.Disposition.attached_pic
    return [s for s in container.streams.video if not (s.disposition & flag)]


def media_kind(path: Path | str) -> MediaKind:
    """Kind of recording a file is, from its content (the name plays no part).

    Reads headers only (no full decode; :func:`probe_media` proves decodability).
    Symlinks are followed: the ingest plan refuses them before this is called.

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    {"video", "photo", "audio"}
        ``photo`` when Pillow identifies a picture format it decodes; else ``video``
        when FFmpeg finds a video stream other than cover art; else ``audio`` when it
        finds an audio stream.

    Raises
    ------
    MediaError
        ``"<file name>: <reason>"`` when the file is missing or neither Pillow nor
        FFmpeg recognises it as a photo, video or audio recording.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path.name}: file does not exist")
    if _pillow_format(path) is not None:
        return "photo"
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise MediaError(
            f"{path.name}: not a photo, video or audio recording (neither Pillow nor FFmpeg recognises it: "
            f"{_ffmpeg_reason(exc)})"
        ) from None
    try:
        name = container.format.name
        if name in _TEXT_DEMUXERS:
            raise MediaError(f"{path.name}: a text file, not a photo, video or audio recording")
        if _is_image_demuxer(name):
            raise MediaError(f"{path.name}: not a readable photo (Pillow does not decode it; FFmpeg guesses {name})")
        if _picture_streams(container):
            return "video"
        if container.streams.audio:
            return "audio"
        raise MediaError(f"{path.name}: no video or audio stream ({name} container)")
    finally:
        container.close()


def probe_media(path: Path | str, params: IngestParams) -> MediaInfo:
    """Identify a media file by content and prove that it decodes to the end.

    Parameters
    ----------
    path : path-like
        Video, photo or audio file; symlinks are followed (the ingest plan refuses them
        before probing).
    params : IngestParams
        ``min_duration_s`` (seconds), ``min_width`` / ``min_height`` (pixels, compared
        after applying the orientation), ``truncation_tolerance_s`` (seconds),
        ``stream_end_tolerance_s`` (seconds), ``fps_tolerance`` (fraction),
        ``min_fps`` (frames/s) and ``clip_level``
        (fraction of full scale, for ``audio_clipped_fraction``).

    Returns
    -------
    MediaInfo

    Raises
    ------
    MediaError
        With a message ``"<file name>: <reason>"`` when the file is missing, empty,
        not recognised, cannot be decoded to the end (a packet cut short or failing,
        less decoded than the container states), has inconsistent frame timing, a
        colour mode without an 8-bit RGB rendering, a duration below
        ``min_duration_s`` or a picture smaller than ``min_width`` x ``min_height``.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path.name}: file does not exist")
    size = path.stat().st_size
    if size == 0:
        raise MediaError(f"{path.name}: file is empty (0 bytes)")
    kind = media_kind(path)
    if kind == "photo":
        info = _probe_photo(path, size)
    else:
        info = _probe_av(path, kind, size, params)
    _check_limits(path, info, params)
    return info


# photos ------------------------------------------------------------------------


def _photo_extension(fmt: str, uploaded: str) -> str:
    Image = pillow()
    exts = sorted(e for e, f in Image.registered_extensions().items() if f == fmt)
    if uploaded in exts:
        return uploaded
    return _PHOTO_EXTENSION.get(fmt) or (exts[0] if exts else "." + fmt.lower())


def _probe_photo(path: Path, size: int) -> MediaInfo:
    Image = pillow()
    from PIL import UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            fmt_name = im.format or ""
            stored_w, stored_h = im.size
            try:
                orientation = int(im.getexif().get(_EXIF_ORIENTATION) or 1)
            except Exception:  # a damaged EXIF block does not make the pixels unusable
                orientation = 1
            try:
                to_rgb8(im)
            except ValueError as exc:
                raise MediaError(f"{path.name}: {exc}") from None
    except UnidentifiedImageError:
        raise MediaError(f"{path.name}: not a readable image (format not recognised)") from None
    except Image.DecompressionBombError as exc:
        raise MediaError(f"{path.name}: image too large to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, MediaError):
            raise
        raise MediaError(f"{path.name}: image does not decode ({exc})") from None
    if orientation not in range(1, 9):
        orientation = 1
    w, h = (stored_h, stored_w) if orientation in _TRANSPOSING_ORIENTATIONS else (stored_w, stored_h)
    fmt = fmt_name.lower()
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
        extension=_photo_extension(fmt_name, path.suffix.lower()),
    )


# video and audio ---------------------------------------------------------------


def _av_extension(demuxer: str, uploaded: str) -> str:
    """The uploaded extension when FFmpeg's muxer of the same name lists it, else that muxer's first."""
    import av

    candidates: list[str] = []
    for name in demuxer.split(","):
        try:
            exts = av.format.ContainerFormat(name, "w").extensions
        except (ValueError, av.FFmpegError):
            continue
        candidates += sorted(exts, key=lambda e: (e != name, e))
    dotted = ["." + e.lower() for e in candidates]
    if uploaded in dotted or not dotted:
        return uploaded
    return dotted[0]


def _rotation_to_exif(rotation: float | None) -> int:
    """Display-matrix rotation (degrees counter-clockwise, FFmpeg convention) as an EXIF tag."""
    if not rotation:
        return 1
    r = int(round(rotation / 90.0)) * 90 % 360
    return {0: 1, 90: 8, 180: 3, 270: 6}[r]


def _ffmpeg_reason(exc: BaseException) -> str:
    msg = getattr(exc, "strerror", None) or str(exc)
    return str(msg).strip() or type(exc).__name__


class _AudioLevels:
    """Running peak and clipped-sample count over decoded audio frames."""

    def __init__(self, clip_level: float):
        self.clip_level = clip_level
        self.peak = 0.0
        self.clipped = 0
        self.total = 0
        self.nonfinite = 0

    def add(self, frame) -> None:
        a = frame.to_ndarray()
        base = frame.format.name.rstrip("p")
        if base in _INT_FULL_SCALE:
            x = a.astype(np.float64)
            if base == "u8":
                x -= 128.0
            x = np.abs(x) / _INT_FULL_SCALE[base]
        else:
            x = np.abs(a.astype(np.float64))
        if x.size == 0:
            return
        finite = np.isfinite(x)
        if not finite.all():
            self.nonfinite += int(x.size - np.count_nonzero(finite))
            x = x[finite]
            if x.size == 0:
                return
        self.peak = max(self.peak, float(x.max()))
        self.clipped += int(np.count_nonzero(x >= self.clip_level))
        self.total += int(x.size)


def _probe_av(path: Path, kind: MediaKind, size: int, params: IngestParams) -> MediaInfo:
    import av

    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"{path.name}: cannot open as media ({_ffmpeg_reason(exc)})") from None
    try:
        pictures = _picture_streams(container)
        video = pictures[0] if kind == "video" and pictures else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if kind == "video" and video is None:
            raise MediaError(f"{path.name}: no video stream")
        if kind == "audio" and audio is None:
            raise MediaError(f"{path.name}: no audio stream")
        if video is not None:
            video.thread_type = "AUTO"
        wanted = [s for s in (video, audio) if s is not None]
        dec = _decode_all(path, container, video, audio, wanted, params)

        if video is not None and dec["n_video"] == 0:
            raise MediaError(f"{path.name}: video stream has no decodable frame")
        if audio is not None and dec["n_audio"] == 0:
            raise MediaError(f"{path.name}: audio stream has no decodable frame")

        if dec["levels"] is not None and dec["levels"].nonfinite:
            raise MediaError(f"{path.name}: {dec['levels'].nonfinite} audio samples are not finite numbers (NaN or infinity)")
        decoded_end = max(dec["video_end"] or 0.0, dec["audio_end"] or 0.0) - dec["start"]
        if dec["corrupt"]:
            raise MediaError(
                f"{path.name}: file is truncated or damaged: a packet is cut short; decoded "
                f"{decoded_end:.2f} s ({dec['n_video']} frames) before it"
            )
        if container.format.name in _NO_DURATION_HEADER and dec["video_end"] is not None and dec["audio_end"] is not None:
            gap = dec["video_end"] - dec["audio_end"]
            if abs(gap) > params.stream_end_tolerance_s:
                longer, shorter = ("video", "audio") if gap > 0 else ("audio", "video")
                raise MediaError(
                    f"{path.name}: file is truncated: its {longer} stream runs to "
                    f"{max(dec['video_end'], dec['audio_end']) - dec['start']:.2f} s but its {shorter} stream stops "
                    f"{abs(gap):.2f} s earlier (the streams of a complete {container.format.name} file end together)"
                )
        stated = container.duration / av.time_base if container.duration and container.duration > 0 else None
        if stated is None:
            main = video if video is not None else audio
            if main.duration and main.time_base:
                stated = float(main.duration * main.time_base)
        if stated is not None and stated - decoded_end > params.truncation_tolerance_s:
            raise MediaError(
                f"{path.name}: file is truncated: only {decoded_end:.2f} s decode of the {stated:.2f} s "
                f"its container states"
            )

        fps = width = height = None
        n_frames = 0
        orientation = 1
        codec: str | None
        if video is not None:
            # only the container's average rate is a stated one: without it (WebM from a
            # browser's MediaRecorder states none) FFmpeg's guessed/base rate is a guess
            # from the time base, so the decoded frames' own mean rate is reported instead
            fps = float(video.average_rate) if video.average_rate else None
            n_frames = dec["n_video"]
            _check_timing(path, dec["times"], fps, params)
            if fps is None:
                fps = _mean_rate(dec["times"]) or (float(video.guessed_rate) if video.guessed_rate else None)
            claimed = int(video.frames or 0)
            slack = params.truncation_tolerance_s * (fps or 0.0)
            if claimed > 0 and claimed - n_frames > max(slack, 1.0):
                raise MediaError(
                    f"{path.name}: file is truncated: only {n_frames} of the {claimed} frames its container states decode"
                )
            first = dec["first_video"]
            orientation = _rotation_to_exif(getattr(first, "rotation", 0))
            w, h = first.width, first.height
            width, height = (h, w) if orientation in _TRANSPOSING_ORIENTATIONS else (w, h)
            codec = video.codec_context.name
        else:
            codec = audio.codec_context.name if audio is not None else None
        duration = stated if stated is not None else decoded_end
        levels: _AudioLevels | None = dec["levels"]
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
        audio_codec=audio.codec_context.name if audio is not None else None,
        audio_sr=int(audio.codec_context.sample_rate) if audio is not None else None,
        orientation=orientation,
        size_bytes=size,
        extension=_av_extension(fmt, path.suffix.lower()),
        audio_peak=levels.peak if levels is not None else None,
        audio_clipped_fraction=(levels.clipped / levels.total if levels.total else 0.0) if levels is not None else None,
    )


def _decode_all(path: Path, container, video, audio, wanted: list, params: IngestParams) -> dict[str, Any]:
    """Decode every packet of ``wanted``: frame count and times, stream ends, audio levels, corrupt packets."""
    import av

    out: dict[str, Any] = {
        "n_video": 0,
        "n_audio": 0,
        "times": [],
        "first_video": None,
        "video_end": None,
        "audio_end": None,
        "corrupt": 0,
        "levels": _AudioLevels(params.clip_level) if audio is not None else None,
        "start": 0.0,
    }
    if container.start_time is not None:
        out["start"] = container.start_time / av.time_base

    def fail(stream, exc: BaseException) -> MediaError:
        done = out["n_video"] if stream.type == "video" else out["n_audio"]
        if done == 0:
            return MediaError(f"{path.name}: {stream.type} stream does not decode ({_ffmpeg_reason(exc)})")
        end = out["video_end"] if stream.type == "video" else out["audio_end"]
        return MediaError(
            f"{path.name}: does not decode to the end: the {stream.type} stream fails after "
            f"{(end or 0.0) - out['start']:.2f} s ({_ffmpeg_reason(exc)})"
        )

    stream = wanted[0]
    try:
        for packet in container.demux(wanted):
            stream = packet.stream
            if packet.is_corrupt:
                out["corrupt"] += 1
            try:
                frames = packet.decode()  # the flush packet at the end drains the decoder
            except av.FFmpegError as exc:
                raise fail(stream, exc) from None
            for frame in frames:
                t = frame.time
                if video is not None and stream.index == video.index:
                    out["n_video"] += 1
                    if out["first_video"] is None:
                        out["first_video"] = frame
                    if t is not None:
                        out["times"].append(float(t))
                        step = float(1 / video.average_rate) if video.average_rate else 0.0
                        out["video_end"] = max(out["video_end"] or 0.0, float(t) + step)
                else:
                    out["n_audio"] += 1
                    out["levels"].add(frame)
                    if t is not None and frame.sample_rate:
                        out["audio_end"] = max(out["audio_end"] or 0.0, float(t) + frame.samples / frame.sample_rate)
    except av.FFmpegError as exc:
        raise fail(stream, exc) from None
    return out


def _mean_rate(times: list[float]) -> float | None:
    """Frames per second of decoded frame times (s), or None for fewer than 2 frames."""
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    return (len(times) - 1) / float(times[-1] - times[0])


def _check_timing(path: Path, times: list[float], fps: float | None, params: IngestParams) -> None:
    """Frame timestamps strictly increasing, mean interval consistent with ``fps``, rate >= ``min_fps``."""
    if len(times) < 2:
        return
    t = np.asarray(times)
    steps = np.diff(t)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise MediaError(
            f"{path.name}: frame timestamps are not increasing (frame {i} at {t[i]:.3f} s after frame {i - 1} "
            f"at {t[i - 1]:.3f} s)"
        )
    span = float(t[-1] - t[0])
    measured = (len(t) - 1) / span
    if fps and abs(measured / fps - 1.0) > params.fps_tolerance:
        raise MediaError(
            f"{path.name}: frame timing disagrees with the stated frame rate: {len(t)} frames over "
            f"{span:.2f} s ({measured:.3g} frames/s) but the stream states {fps:.3g} frames/s"
        )
    if measured < params.min_fps:
        raise MediaError(
            f"{path.name}: frame rate {measured:.3g} frames/s ({len(t)} frames over {span:.2f} s) is below "
            f"the minimum {params.min_fps:g} frames/s"
        )


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
