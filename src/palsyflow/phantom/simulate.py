"""Palsy phantom of a real recording: a photo or a video whose one side is made weaker.

:func:`simulate_weakness` detects MediaPipe landmarks on a healthy recording,
computes the phantom's target landmarks (:func:`palsyflow.phantom.warp.weakened_targets`)
and warps the real pixels (:func:`palsyflow.phantom.warp.warp_frame`). It writes the
phantom and, by default, a JSON sidecar ``<out>.phantom.json`` describing it.

Photos (a rest/task pair): the rest photo gives the neutral posture, the task photo
is warped. Videos: the neutral frame is the ``neutral`` key frame of
:func:`palsyflow.landmarks.keyframes.select_keyframes` (within the first
``params.rest_window_s`` seconds, the protocol starts at rest); every frame with a
face is warped, frames without one are copied. Video is decoded and encoded with
PyAV, streaming (two decoding passes: landmarks, then warp + encode); the output is
MPEG-4 Part 2 video (``mpeg4``, the "mp4v" FourCC) in the container of ``out``'s
suffix, and the source's first audio stream is copied packet for packet (no
re-encoding), so a speech task keeps its real voice.

Determinism: one encoder thread, fixed bit rate, no wall-clock metadata; MediaPipe
on CPU is deterministic for the same input, so the same source and settings give
the same bytes (checked by ``tests/model/test_phantom.py``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import numpy as np

from palsyflow import __version__
from palsyflow.atomic import atomic_write_bytes, atomic_write_text
from palsyflow.config import LandmarkParams
from palsyflow.conventions import Side
from palsyflow.ingest.probe import media_kind
from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker
from palsyflow.landmarks.keyframes import select_keyframes
from palsyflow.landmarks.media import read_photo
from palsyflow.landmarks.schemes.mediapipe478 import N_POINTS
from palsyflow.landmarks.smoothing import smooth_points
from palsyflow.phantom.warp import Blend, warp_frame

__all__ = ["PhantomError", "PhantomInfo", "simulate_weakness", "sidecar_path", "detect_photo", "track_video"]

_DEFAULT_FPS = 25.0
METHOD = (
    "palsyflow.phantom: face-frame target landmarks with the weakened side's movement "
    "scaled by (1 - fraction * g), piecewise-affine warp on a Delaunay triangulation of "
    "the MediaPipe mesh, cross-dissolve with the warped neutral image on the weakened side"
)


class PhantomError(RuntimeError):
    """The phantom could not be made (no face in the neutral posture, unreadable file)."""


@dataclass(frozen=True)
class PhantomInfo:
    """What :func:`simulate_weakness` did (also the sidecar's content, see :meth:`as_dict`)."""
    source: str
    rest: str | None
    kind: Literal["photo", "video"]
    side: Side
    fraction: float
    blend: str
    falloff: float
    droop: float
    neutral_frame: int | None
    frames: int
    frames_warped: int
    audio: bool

    def as_dict(self) -> dict:
        """JSON-serialisable sidecar record (``simulated`` is always True)."""

        return {
            "simulated": True,
            "source": self.source,
            "rest": self.rest,
            "kind": self.kind,
            "side": self.side,
            "fraction": self.fraction,
            "blend": self.blend,
            "falloff_iod": self.falloff,
            "droop_iod": self.droop,
            "neutral_frame": self.neutral_frame,
            "frames": self.frames,
            "frames_warped": self.frames_warped,
            "audio_copied": self.audio,
            "method": METHOD,
            "palsyflow_version": __version__,
        }


def sidecar_path(out: Path) -> Path:
    """The sidecar of a phantom file: ``<out>.phantom.json`` (e.g. ``a.mp4.phantom.json``)."""
    out = Path(out)
    return out.with_name(out.name + ".phantom.json")


def _kind(path: Path) -> Literal["photo", "video"]:
    kind = media_kind(path)  # by content, as ingest decides it
    if kind == "audio":
        raise ValueError(f"{path}: an audio file has no face to weaken")
    return kind


def _params(params: LandmarkParams | None) -> LandmarkParams:
    p = params or LandmarkParams()
    return p.model_copy(update={"tta_copies": 1})


def detect_photo(path: Path, model_path: Path, params: LandmarkParams | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read a photo upright and detect its face.

    Parameters
    ----------
    path : Path
    model_path : Path
        ``face_landmarker.task``.
    params : LandmarkParams, optional
        Detection settings (TTA is not used).

    Returns
    -------
    rgb : ndarray, shape (H, W, 3), uint8, RGB, EXIF orientation applied
    points : ndarray, shape (478, 3), float64, pixels

    Raises
    ------
    PhantomError
        If no face is found.
    palsyflow.landmarks.LandmarkError
        If the photo cannot be read.
    """
    rgb = read_photo(Path(path))
    with MediaPipeLandmarker(Path(model_path), "image", _params(params)) as lm:
        pts = lm.detect(rgb).points
    if pts is None:
        raise PhantomError(f"{path}: no face found")
    return rgb, pts


def simulate_weakness(
    src: Path,
    out: Path,
    side: Side,
    fraction: float,
    model_path: Path,
    *,
    rest: Path | None = None,
    params: LandmarkParams | None = None,
    blend: Blend = "morph",
    falloff: float = 0.15,
    droop: float = 0.0,
    video_bitrate: int = 900_000,
    sidecar: bool = True,
    tracks: tuple[np.ndarray, float] | None = None,
) -> Path:
    """Make a palsy phantom: ``src`` with the patient's ``side`` weakened by ``fraction``.

    Parameters
    ----------
    src : Path
        A healthy recording: a task photo (.jpg/.jpeg/.png) or a video (.mpg, .mp4, ...).
    out : Path
        Output file; photos: any image suffix cv2 writes (.png lossless, .jpg at
        quality 95); videos: a container for MPEG-4 video (.mp4 recommended).
        Parent folders are created.
    side : {"left", "right"}
        The weakened side, the PATIENT's (image left = patient's right).
    fraction : float
        Weakness ``w`` in [0, 1]: the weakened side's movement from the neutral
        posture is multiplied by ``1 - w`` (0 = healthy, 1 = no movement).
    model_path : Path
        ``face_landmarker.task``.
    rest : Path, optional
        Photos only: the rest photo of the same person (the neutral posture). When
        omitted, ``src`` is taken to be at rest itself (then only ``droop`` changes
        it). Ignored for videos.
    params : LandmarkParams, optional
        Detection settings (``tta_copies`` is forced to 1; ``rest_window_s`` and
        ``smoothing`` apply to videos).
    blend : {"morph", "warp"}
        Cross-dissolve with the warped neutral image on the weakened side (default)
        or geometric warp only (:mod:`palsyflow.phantom.warp`).
    falloff : float
        Half-width of the midline transition band, IOD.
    droop : float
        Static commissure droop at ``w = 1``, IOD; 0 (default) = none.
    video_bitrate : int
        Target video bit rate, bit/s.
    sidecar : bool
        Write :func:`sidecar_path` (JSON, :meth:`PhantomInfo.as_dict`).
    tracks : (ndarray, float), optional
        Videos only: ``track_video(src, ...)``'s result, to skip the landmark pass when
        several phantoms are made from one source.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ValueError
        Bad ``side``/``fraction``/``blend``, or an unsupported suffix.
    PhantomError
        No face in the neutral posture (rest photo / neutral frame) or in a task photo,
        or a video without decodable frames.
    FileNotFoundError
        If ``model_path`` or ``src`` does not exist.
    """
    src, out, model_path = Path(src), Path(out), Path(model_path)
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    if not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    if blend not in ("morph", "warp"):
        raise ValueError(f"blend must be 'morph' or 'warp', got {blend!r}")
    if not src.is_file():
        raise FileNotFoundError(src)
    if not model_path.is_file():
        raise FileNotFoundError(f"face model not found: {model_path}")
    kind = _kind(src)
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "photo":
        info = _simulate_photo(src, out, side, float(fraction), model_path, rest, params, blend, falloff, droop)
    else:
        info = _simulate_video(
            src, out, side, float(fraction), model_path, params, blend, falloff, droop, video_bitrate, tracks
        )
    if sidecar:
        atomic_write_text(sidecar_path(out), json.dumps(info.as_dict(), indent=2) + "\n")
    return out


# ------------------------------------------------------------------------------ photos
def _simulate_photo(src, out, side, fraction, model_path, rest, params, blend, falloff, droop) -> PhantomInfo:
    import cv2

    rgb, pts = detect_photo(src, model_path, params)
    if rest is None:
        rgb0, pts0 = rgb, pts
    else:
        rgb0, pts0 = detect_photo(Path(rest), model_path, params)
    res = warp_frame(rgb, pts, pts0, side, fraction, neutral_image=rgb0, blend=blend, falloff=falloff, droop=droop)
    bgr = cv2.cvtColor(res.image, cv2.COLOR_RGB2BGR)
    flags = [cv2.IMWRITE_JPEG_QUALITY, 95] if out.suffix.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(out.suffix, bgr, flags)
    if not ok:
        raise ValueError(f"{out}: cv2 cannot encode {out.suffix!r}")
    atomic_write_bytes(out, buf.tobytes())
    return PhantomInfo(
        source=src.name, rest=None if rest is None else Path(rest).name, kind="photo", side=side,
        fraction=fraction, blend=blend, falloff=falloff, droop=droop, neutral_frame=None,
        frames=1, frames_warped=1, audio=False,
    )


# ------------------------------------------------------------------------------ videos
def _video_fps(stream) -> float:
    rate = stream.average_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    return fps if math.isfinite(fps) and 0 < fps <= 1000 else _DEFAULT_FPS


def track_video(src: Path, model_path: Path, params: LandmarkParams | None = None) -> tuple[np.ndarray, float]:
    """Landmarks of every frame of a video, decoded with PyAV (the phantom's frame order).

    Parameters
    ----------
    src : Path
    model_path : Path
        ``face_landmarker.task``.
    params : LandmarkParams, optional
        MediaPipe VIDEO-mode settings and ``smoothing`` (TTA not used).

    Returns
    -------
    points : ndarray, shape (n_frames, 478, 3), float64, pixels; NaN rows without a face
    fps : float
        Frames per second (25 when the container does not say).

    Raises
    ------
    PhantomError
        No video stream or no decodable frame.
    """
    import av


    params = _params(params)
    model_path = Path(model_path)
    frames: list[np.ndarray] = []
    with av.open(str(src)) as container:
        if not container.streams.video:
            raise PhantomError(f"{src}: no video stream")
        vs = container.streams.video[0]
        fps = _video_fps(vs)
        with MediaPipeLandmarker(model_path, "video", params) as lm:
            last = -1
            for frame in container.decode(vs):
                rgb = frame.to_ndarray(format="rgb24")
                ts = max(int(round(len(frames) * 1000.0 / fps)), last + 1)
                last = ts
                pts = lm.detect(rgb, timestamp_ms=ts).points
                frames.append(np.full((N_POINTS, 3), np.nan) if pts is None else pts)
    if not frames:
        raise PhantomError(f"{src}: no decodable video frames")
    raw = np.stack(frames).astype(np.float32)
    return smooth_points(raw, params, fps).astype(np.float64), fps


def _frame_at(src: Path, index: int) -> np.ndarray:
    import av

    with av.open(str(src)) as container:
        for i, frame in enumerate(container.decode(container.streams.video[0])):
            if i == index:
                return frame.to_ndarray(format="rgb24")
    raise PhantomError(f"{src}: frame {index} not decodable")


def _simulate_video(src, out, side, fraction, model_path, params, blend, falloff, droop, bitrate, tracks) -> PhantomInfo:

    p = _params(params)
    points, fps = tracks if tracks is not None else track_video(src, model_path, p)
    rest = max(1, int(round(p.rest_window_s * fps))) if p.rest_window_s > 0 else None
    keys = select_keyframes(points, 1, rest_frames=rest)
    if "neutral" not in keys:
        raise PhantomError(f"{src}: no frame with a face")
    neutral = keys["neutral"]
    pts0 = points[neutral]
    img0 = _frame_at(src, neutral)

    tmp = out.with_name(f".{out.name}.partial{out.suffix}")
    try:
        warped, copied_audio = _encode(src, tmp, out, points, pts0, img0, fps, side, fraction, blend, falloff, droop, bitrate)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return PhantomInfo(
        source=src.name, rest=None, kind="video", side=side, fraction=fraction, blend=blend,
        falloff=falloff, droop=droop, neutral_frame=int(neutral), frames=int(points.shape[0]),
        frames_warped=warped, audio=copied_audio,
    )


def _encode(src, tmp, out, points, pts0, img0, fps, side, fraction, blend, falloff, droop, bitrate) -> tuple[int, bool]:
    """Pass 2: decode, warp every face frame, encode MPEG-4 video, copy the audio packets."""
    import av

    warped = 0
    copied_audio = False
    with av.open(str(src)) as inp, av.open(str(tmp), "w", format=_container_format(out)) as outp:
        vin = inp.streams.video[0]
        ain = inp.streams.audio[0] if inp.streams.audio else None
        rate = Fraction(fps).limit_denominator(1001)
        vout = outp.add_stream("mpeg4", rate=rate)
        vout.width = vin.codec_context.width
        vout.height = vin.codec_context.height
        vout.pix_fmt = "yuv420p"
        vout.bit_rate = int(bitrate)
        vout.codec_context.time_base = 1 / rate
        vout.codec_context.thread_count = 1
        vout.codec_context.options = {"flags": "+bitexact"}
        aout = None
        if ain is not None:
            try:
                aout = outp.add_stream_from_template(ain)
            except (ValueError, av.error.FFmpegError):  # pragma: no cover - codec/container mismatch
                aout = None
        start = _start_time(inp)
        v_start = float(vin.start_time * vin.time_base) if vin.start_time is not None else start
        v_off = max(0, int(round((v_start - start) * float(rate))))
        index = 0
        streams = [vin] + ([ain] if aout is not None else [])
        for packet in inp.demux(*streams):
            if packet.stream is vin:
                for frame in packet.decode():
                    rgb = frame.to_ndarray(format="rgb24")
                    if index < points.shape[0] and np.isfinite(points[index]).all():
                        rgb = warp_frame(
                            rgb, points[index], pts0, side, fraction, neutral_image=img0,
                            blend=blend, falloff=falloff, droop=droop,
                        ).image
                        warped += 1
                    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                    vf.pts = v_off + index
                    vf.time_base = 1 / rate
                    index += 1
                    for pk in vout.encode(vf):
                        outp.mux(pk)
            elif aout is not None and packet.dts is not None and packet.size > 0:
                off = int(round(start / packet.time_base)) if start else 0
                packet.pts = None if packet.pts is None else packet.pts - off
                packet.dts = packet.dts - off
                if packet.dts < 0:
                    continue
                packet.stream = aout
                outp.mux(packet)
                copied_audio = True
        for pk in vout.encode(None):
            outp.mux(pk)
    return warped, copied_audio


def _start_time(container) -> float:
    """Earliest stream start (seconds) so output timestamps start near 0 with A/V sync kept."""
    starts = []
    for s in container.streams:
        if s.type in ("video", "audio") and s.start_time is not None and s.time_base:
            starts.append(float(s.start_time * s.time_base))
    return min(starts) if starts else 0.0


def _container_format(out: Path) -> str | None:
    return {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}.get(out.suffix.lower())
