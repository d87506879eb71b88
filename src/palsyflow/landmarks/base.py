"""The backend contract: one :class:`Landmarker` protocol and the :class:`Detection` it returns.

A backend (:mod:`palsyflow.landmarks.backends`) wraps one face-landmark detector. The
pipeline (:mod:`palsyflow.landmarks.pipeline`), the test-time augmentation
(:mod:`palsyflow.landmarks.tta`) and the key-frame picker only talk to this protocol,
and learn everything scheme-specific (point count, mirror pairs, eye corners) from the
landmarker's :attr:`Landmarker.scheme`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from palsyflow.landmarks.schemes.base import Scheme

__all__ = ["Detection", "Landmarker", "Mode", "TTALayout", "choose_face", "unclear_subject"]

#: Running mode a landmarker is opened in: ``"video"`` for the frames of one video in
#: order (a tracking backend follows the face between frames), ``"image"`` for
#: independent images.
Mode = Literal["image", "video"]

#: Where :func:`palsyflow.landmarks.tta.run_tta` renders the augmented copies for a
#: backend. ``"face_crop"``: the identity and pure-mirror copies are detected on the
#: full-resolution frame, the other copies on a square face crop
#: (``LandmarkParams.tta_crop_side``; on the frame downscaled to ``detect_max_side``
#: when that is 0 or no face was found). ``"downscaled_frame"``: every copy, the
#: identity included, is rendered from the frame downscaled to ``detect_max_side``.
TTALayout = Literal["face_crop", "downscaled_frame"]


@dataclass(frozen=True)
class Detection:
    """Faces found in one frame.

    Attributes
    ----------
    faces : ndarray, shape (n_faces, n_points, 3), float64
        All faces, pixels of the full-resolution frame (pixel centres at integer
        coordinates, x right, y down); z is the backend's depth (MediaPipe: relative
        depth times the frame width, pixels, smaller is closer; NaN for 2-D backends).
    chosen : int or None
        Index into ``faces`` of the subject's face (:func:`choose_face`), None if no face.
    padded : bool
        The faces come from the border-padded retry (the plain frame had none).
    refined : bool
        The chosen face was re-detected on an upscaled crop (small face).
    """

    faces: np.ndarray
    chosen: int | None
    padded: bool = False
    refined: bool = False

    @property
    def n_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def points(self) -> np.ndarray | None:
        """The chosen face, shape (n_points, 3), pixels; None when no face was found."""
        return None if self.chosen is None else self.faces[self.chosen]


def choose_face(faces: np.ndarray, width: int, height: int) -> int | None:
    """Pick the subject's face: the largest and most central one.

    Score = bounding-box area × (1 - d / d_max), where d is the distance from the
    box centre to the image centre and d_max is the half-diagonal of the image, so
    a large face wins unless it sits at the border and a similar-sized face is central.

    Parameters
    ----------
    faces : ndarray, shape (n_faces, n_points, >=2), pixels
    width, height : int
        Frame size in pixels.

    Returns
    -------
    int or None
        Index of the chosen face; None when ``n_faces == 0``.
    """
    if faces.shape[0] == 0:
        return None
    if faces.shape[0] == 1:
        return 0
    xy = faces[..., :2]
    lo, hi = xy.min(axis=1), xy.max(axis=1)
    area = np.prod(hi - lo, axis=1)
    centre = (lo + hi) / 2.0
    d = np.linalg.norm(centre - np.array([(width - 1) / 2.0, (height - 1) / 2.0]), axis=1)
    d_max = 0.5 * float(np.hypot(width, height))
    score = area * np.clip(1.0 - d / d_max, 0.0, 1.0)
    return int(np.argmax(score))


def unclear_subject(
    faces: np.ndarray,
    width: int,
    height: int,
    min_size_ratio: float,
    max_centre_offset: float,
    n_seen: int | None = None,
) -> str | None:
    """Why no face of several is clearly the subject, or None when one is (or there is one face).

    The subject must be the largest face by a margin and central: its size (the
    square root of its landmark bounding-box area) at least ``min_size_ratio`` times
    the next largest face's, and its box centre within ``max_centre_offset`` times the
    image's half-diagonal of the image centre.

    Parameters
    ----------
    faces : ndarray, shape (n_faces, n_points, >=2), pixels
    width, height : int
        Frame size in pixels.
    min_size_ratio : float
        ``LandmarkParams.subject_min_size_ratio``.
    max_centre_offset : float
        ``LandmarkParams.subject_max_centre_offset`` (fraction of the half-diagonal).
    n_seen : int, optional
        The number of faces to report (e.g. with faces another detector saw added);
        default ``n_faces``.

    Returns
    -------
    str or None
        ``"<n> faces and none is clearly the subject (largest 1.1x the next, needs
        1.5x; ...)"``, or None.
    """
    n = int(faces.shape[0])
    if n <= 1:
        return None
    xy = faces[..., :2]
    lo, hi = np.nanmin(xy, axis=1), np.nanmax(xy, axis=1)
    size = np.sqrt(np.prod(np.maximum(hi - lo, 0.0), axis=1))
    order = np.argsort(-size)
    big, nxt = int(order[0]), int(order[1])
    ratio = float(size[big] / max(size[nxt], 1e-9))
    centre = (lo[big] + hi[big]) / 2.0
    d_max = 0.5 * float(np.hypot(width, height))
    offset = float(np.linalg.norm(centre - np.array([(width - 1) / 2.0, (height - 1) / 2.0]))) / d_max
    problems = []
    if ratio < min_size_ratio:
        problems.append(f"largest {ratio:.1f}x the next, needs {min_size_ratio:g}x")
    if offset > max_centre_offset:
        problems.append(f"largest {offset:.2f} of the half-diagonal off centre, at most {max_centre_offset:g}")
    if not problems:
        return None
    return f"{n if n_seen is None else int(n_seen)} faces and none is clearly the subject ({'; '.join(problems)})"


@runtime_checkable
class Landmarker(Protocol):
    """A face-landmark detector returning full-frame pixels.

    Implementations are constructed as ``Backend(model_path, mode, params)``
    (``model_path``: the backend's model file or None where it needs none; ``mode``:
    :data:`Mode`; ``params``: :class:`~palsyflow.config.LandmarkParams`), are used as
    context managers (``__enter__`` loads the model, ``__exit__`` calls :meth:`close`)
    and are registered in :data:`palsyflow.landmarks.backends.LANDMARKERS`.

    Attributes
    ----------
    scheme : Scheme
        The landmark scheme of the detections.
    tta_layout : TTALayout
        Where the TTA copies are rendered for this backend.
    tracks : bool
        Detections depend on the previous frames (a tracker in video mode). The
        pipeline then keeps the video pass's detection of a key frame as TTA copy 0.
    """

    scheme: Scheme
    tta_layout: TTALayout
    tracks: bool

    def detect(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> Detection:
        """Detect all faces in one RGB frame.

        Parameters
        ----------
        rgb : ndarray, shape (H, W, 3), uint8, RGB
        timestamp_ms : int, optional
            Frame time in video mode (strictly increasing); ignored by backends that do
            not track.

        Returns
        -------
        Detection
            Faces in full-resolution pixels of ``rgb`` (pixel centres at integer
            coordinates, x right, y down), ``scheme.n_points`` points each.
        """
        ...

    def describe(self) -> dict:
        """Backend provenance added to ``LandmarkResult.meta`` (JSON-serialisable)."""
        ...

    def close(self) -> None:
        """Release the model; the landmarker cannot detect afterwards."""
        ...

    def __enter__(self) -> Landmarker: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

