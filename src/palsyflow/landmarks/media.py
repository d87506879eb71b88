"""One reader for the media a face is measured in: videos and photos, as upright RGB frames.

:func:`open_media` returns a :class:`VideoReader` or a :class:`PhotoReader`; both yield
:class:`Frame` objects (RGB uint8, frame index, time) and can decode a chosen set of
frames again (:meth:`VideoReader.read_frames`).

- Videos: OpenCV's ``cv2.VideoCapture`` (FFmpeg), streamed in a background thread a few
  frames ahead; OpenCV applies the container's rotation metadata
  (``CAP_PROP_ORIENTATION_AUTO``). The frame rate is the container's, or
  :data:`DEFAULT_FPS` when it is missing or implausible; frame ``i`` is at ``i / fps``
  seconds.
- Photos: Pillow (every format it decodes, HEIC through the ``pillow-heif`` plugin, see
  :func:`pillow`), with the EXIF orientation applied (``ImageOps.exif_transpose``) and the
  pixels converted to 8-bit RGB by :func:`to_rgb8` (16-bit images scaled, not clipped);
  one frame at time 0.
"""

from __future__ import annotations

import functools
import math
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

__all__ = [
    "DEFAULT_FPS",
    "Frame",
    "LandmarkError",
    "PhotoReader",
    "VideoReader",
    "open_media",
    "pillow",
    "read_photo",
    "to_rgb8",
]

#: Frame rate assumed when a video's container gives none, or one outside (0, 1000] frames/s.
DEFAULT_FPS = 25.0


class LandmarkError(RuntimeError):
    """A recording could not be decoded (message: ``"<path>: <reason>"``)."""


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    Attributes
    ----------
    index : int
        0-based frame number.
    timestamp_ms : int
        Frame time in milliseconds, ``round(index * 1000 / fps)`` raised where needed to
        be strictly increasing (MediaPipe's VIDEO mode requires it); 0 for a photo.
    rgb : ndarray, shape (H, W, 3), uint8, RGB, upright
    """

    index: int
    timestamp_ms: int
    rgb: np.ndarray


def open_media(path: Path, kind: Literal["video", "photo"]) -> VideoReader | PhotoReader:
    """Open a recording for reading frames.

    Parameters
    ----------
    path : Path
    kind : {"video", "photo"}

    Returns
    -------
    VideoReader or PhotoReader
        A context manager (closing releases the video file).

    Raises
    ------
    ValueError
        If ``kind`` is unknown.
    LandmarkError
        If the file is missing or cannot be opened (video) or decoded (photo).
    """
    if kind == "video":
        return VideoReader(Path(path))
    if kind == "photo":
        return PhotoReader(Path(path))
    raise ValueError(f"kind must be 'video' or 'photo', got {kind!r}")


# video ---------------------------------------------------------------------------------
def _open_capture(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise LandmarkError(f"{path}: file not found")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise LandmarkError(f"{path}: cannot be opened as a video")
    return cap


class _FrameStream:
    """Decode a video in a background thread, a few frames ahead (bounded queue).

    Iterating yields RGB uint8 frames in order; at most ``ahead`` decoded frames are
    held at once. ``cv2`` releases the GIL while decoding, so decoding overlaps with
    detection. Errors in the reader thread are re-raised in the consumer.
    """

    _END = object()

    def __init__(self, cap: cv2.VideoCapture, ahead: int = 4):
        self._cap = cap
        self._queue: queue.Queue = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="palsyflow-decode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                ok, bgr = self._cap.read()
                if not ok or bgr is None:
                    break
                self._put(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        except BaseException as exc:  # pragma: no cover - decoder crash
            self._put(exc)
        finally:
            self._put(self._END)

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class VideoReader:
    """Frames of one video file, streamed in order (see the module docstring).

    Parameters
    ----------
    path : Path

    Attributes
    ----------
    path : Path
    kind : str
        ``"video"``.
    fps : float
        Frames per second (the container's, or :data:`DEFAULT_FPS`).

    Raises
    ------
    LandmarkError
        If the file is missing or cannot be opened as a video.
    """

    kind = "video"

    def __init__(self, path: Path):
        self.path = Path(path)
        self._cap: cv2.VideoCapture | None = _open_capture(self.path)
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not math.isfinite(fps) or fps <= 0.0 or fps > 1000.0:
            fps = DEFAULT_FPS
        self.fps = fps

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def close(self) -> None:
        """Release the video file."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def frames(self) -> Iterator[Frame]:
        """Every frame in order, decoded in a background thread (once per reader).

        Yields
        ------
        Frame

        Raises
        ------
        RuntimeError
            If the reader was closed or already streamed.
        """
        if self._cap is None:
            raise RuntimeError(f"{self.path}: video reader is closed or already streamed")
        cap, self._cap = self._cap, None
        stream = _FrameStream(cap)
        last_ts = -1
        try:
            for i, rgb in enumerate(stream):
                ts = max(int(round(i * 1000.0 / self.fps)), last_ts + 1)
                last_ts = ts
                yield Frame(i, ts, rgb)
        finally:
            stream.close()
            cap.release()

    def read_frames(self, indices: list[int]) -> dict[int, np.ndarray]:
        """Decode only ``indices`` again, in one sequential pass over a new capture.

        Parameters
        ----------
        indices : list of int
            Sorted 0-based frame numbers.

        Returns
        -------
        dict[int, ndarray]
            Index -> RGB uint8 frame; frames the decoder could not deliver are missing.

        Raises
        ------
        LandmarkError
            If the file can no longer be opened.
        """
        out: dict[int, np.ndarray] = {}
        if not indices:
            return out
        cap = _open_capture(self.path)
        try:
            todo = set(indices)
            last = max(indices)
            i = 0
            while i <= last:
                if not cap.grab():
                    break
                if i in todo:
                    ok, bgr = cap.retrieve()
                    if ok and bgr is not None:
                        out[i] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                i += 1
        finally:
            cap.release()
        return out


# photo ---------------------------------------------------------------------------------
@functools.cache
def pillow():
    """Pillow's ``Image`` module with the HEIF/HEIC opener of ``pillow-heif`` registered.

    Every photo palsyflow reads is opened through this module, so a format is either
    readable everywhere (probe, landmarks, ``palsyflow measure``) or nowhere. AVIF is
    read by Pillow itself. Registering is done once per process, on first use (not at
    import).

    Returns
    -------
    module
        ``PIL.Image``.
    """
    from PIL import Image

    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - optional plugin missing: HEIC is then unreadable
        return Image
    pillow_heif.register_heif_opener()
    return Image


#: Pillow modes ``to_rgb8`` converts with ``Image.convert("RGB")`` (8 bits per channel or fewer).
_DIRECT_MODES = frozenset({"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr"})


def to_rgb8(im) -> np.ndarray:
    """Pixels of a decoded Pillow image as 8-bit RGB, scaling deeper samples instead of clipping them.

    Pillow's ``convert("RGB")`` clips 16-bit greyscale (modes ``I;16*`` and ``I``) at
    255, so a normally exposed 16-bit photo turns white. Here a 16-bit sample ``v`` is
    mapped to ``round(v / 257)`` (65535 -> 255, the inverse of ``v8 * 257``); ``I``
    (32-bit integer) images with samples in 0..65535 are taken as 16-bit; ``F`` images
    with samples in [0, 1] are scaled by 255. 16-bit RGB PNG/TIFF already arrive in mode
    ``RGB`` (Pillow keeps the high byte).

    Parameters
    ----------
    im : PIL.Image.Image
        A decoded image (orientation already applied by the caller if wanted).

    Returns
    -------
    ndarray, shape (H, W, 3), uint8, RGB, C-contiguous

    Raises
    ------
    ValueError
        If the mode has no meaningful 8-bit RGB rendering (e.g. ``I`` or ``F`` samples
        outside 0..65535 or [0, 1], ``LAB``, ``HSV``); the message names the mode.
    """
    mode = im.mode
    if mode in _DIRECT_MODES:
        rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
        return np.ascontiguousarray(rgb)
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(im)
        if a.dtype.kind not in "iu":  # pragma: no cover - Pillow's array interface
            raise ValueError(f"colour mode {mode}: unexpected sample type {a.dtype}")
        if a.size and (int(a.min()) < 0 or int(a.max()) > 65535):
            raise ValueError(f"colour mode {mode}: samples outside 0..65535 have no defined display range")
        grey = np.round(a.astype(np.float64) / 257.0).astype(np.uint8)
    elif mode == "F":
        a = np.asarray(im, dtype=np.float64)
        if a.size and (not np.isfinite(a).all() or a.min() < 0.0 or a.max() > 1.0):
            raise ValueError(f"colour mode {mode}: floating-point samples outside [0, 1] have no defined display range")
        grey = np.round(a * 255.0).astype(np.uint8)
    else:
        raise ValueError(f"colour mode {mode} cannot be converted to 8-bit RGB meaningfully")
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))


def read_photo(path: Path) -> np.ndarray:
    """Read a photo upright: EXIF orientation applied, 8-bit RGB.

    Parameters
    ----------
    path : Path
        Any format Pillow decodes (recognised by content, not by name), HEIC included.

    Returns
    -------
    ndarray, shape (H, W, 3), uint8, RGB, C-contiguous
        Converted by :func:`to_rgb8` (16-bit samples scaled to 8 bits).

    Raises
    ------
    LandmarkError
        If the file is missing, not a decodable image, or in a colour mode with no
        8-bit RGB rendering.
    """
    Image = pillow()
    from PIL import ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise LandmarkError(f"{path}: file not found")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            rgb = to_rgb8(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise LandmarkError(f"{path}: cannot be decoded as an image ({exc})") from exc
    if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise LandmarkError(f"{path}: empty image")
    return rgb


class PhotoReader:
    """A photo as a one-frame recording (decoded on opening).

    Parameters
    ----------
    path : Path

    Attributes
    ----------
    path : Path
    kind : str
        ``"photo"``.
    fps : None
    rgb : ndarray, shape (H, W, 3), uint8, RGB, upright (:func:`read_photo`)

    Raises
    ------
    LandmarkError
        If the file is missing or not a decodable image.
    """

    kind = "photo"
    fps = None

    def __init__(self, path: Path):
        self.path = Path(path)
        self.rgb = read_photo(self.path)

    def __enter__(self) -> PhotoReader:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release (the image was decoded on opening)."""

    def frames(self) -> Iterator[Frame]:
        """The photo as frame 0 at time 0.

        Yields
        ------
        Frame
        """
        yield Frame(0, 0, self.rgb)

    def read_frames(self, indices: list[int]) -> dict[int, np.ndarray]:
        """``{0: rgb}`` when 0 is among ``indices``, else empty."""
        return {0: self.rgb} if 0 in indices else {}
