"""One reader for the media a face is measured in: videos and photos, as upright RGB frames.

:func:`open_media` returns a :class:`VideoReader` or a :class:`PhotoReader`; both yield
:class:`Frame` objects (RGB uint8, frame index, time) and can decode a chosen set of
frames again (:meth:`VideoReader.read_frames`).

- Videos: OpenCV's ``cv2.VideoCapture`` (FFmpeg), streamed in a background thread a few
  frames ahead; OpenCV applies the container's rotation metadata
  (``CAP_PROP_ORIENTATION_AUTO``). The frame rate is the container's, or
  :data:`DEFAULT_FPS` when it is missing or implausible; frame ``i`` is at ``i / fps``
  seconds.
- Photos: Pillow, with the EXIF orientation applied (``ImageOps.exif_transpose``); one
  frame at time 0.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

__all__ = ["DEFAULT_FPS", "Frame", "LandmarkError", "PhotoReader", "VideoReader", "open_media", "read_photo"]

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
def read_photo(path: Path) -> np.ndarray:
    """Read a photo upright: EXIF orientation applied, RGB uint8.

    Parameters
    ----------
    path : Path

    Returns
    -------
    ndarray, shape (H, W, 3), uint8, RGB, C-contiguous

    Raises
    ------
    LandmarkError
        If the file is missing or not a decodable image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise LandmarkError(f"{path}: file not found")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise LandmarkError(f"{path}: cannot be decoded as an image ({exc})") from exc
    if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise LandmarkError(f"{path}: empty image")
    return np.ascontiguousarray(rgb)


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
