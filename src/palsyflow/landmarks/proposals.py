"""Second search for faces the plain pass missed: face-box proposals, landmarks on each crop.

MediaPipe's face detector (BlazeFace short range, Bazarevsky et al. 2019,
arXiv:1907.05047) sees the whole frame at 128x128 pixels: a face of about 85 px in an
817x1024 portrait shrinks to about 11 px there and is not found, and a face that fills
the frame (a tight crop) lacks the context the detector was trained with. The plain
pass (:meth:`Landmarker.detect <palsyflow.landmarks.base.Landmarker.detect>`) stays as
it is; only when it finds no face does :func:`find_faces` propose square boxes and run
the same landmarker on each box's crop, resized to ``params.proposal_side`` pixels so
the face has the size the detector finds faces at:

1. the whole frame, centred in a grey border of ``proposal_pad_frac`` times its longer
   side on every side (a tight crop then looks like a portrait). The backend's own
   padded retry (``pad_retry_frac``, part of the plain pass and kept as it is) pads
   with black (``pad_retry_mode: constant``): on crops cut inside the face's landmark
   box (eyebrows and chin cut off) the detector misses many faces with a black border
   and finds them with a mid-grey one, whatever the resolution (replicated edges are
   worse still);
2. up to ``proposal_max_boxes`` boxes of dlib's HOG face detector (Dalal & Triggs 2005,
   "Histograms of oriented gradients for human detection", CVPR,
   doi:10.1109/CVPR.2005.177; dlib's ``get_frontal_face_detector``, King 2009, JMLR
   10:1755-1758), run on the frame downscaled to ``proposal_hog_max_side`` with
   ``proposal_hog_upsample`` pyramid upsamplings, each box enlarged by
   ``proposal_crop_margin`` of its side per side.

Faces found in several crops are merged (mean point distance below half an
inter-ocular distance: the first crop's face is kept). Points are mapped back to
full-frame pixels with :class:`~palsyflow.landmarks.crop.CropMap`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from palsyflow.config import LandmarkParams
from palsyflow.landmarks.base import Detection, Landmarker, choose_face, unclear_subject
from palsyflow.landmarks.crop import CropMap, square_crop

__all__ = ["FoundFaces", "find_faces", "hog_boxes", "lone_face_problem"]


@dataclass(frozen=True)
class FoundFaces:
    """Faces found by :func:`find_faces`, and the crop each was found in.

    Attributes
    ----------
    detection : Detection
        All faces, full-frame pixels; ``chosen`` by
        :func:`~palsyflow.landmarks.base.choose_face`.
    crops : tuple of (ndarray, CropMap)
        Per face (same order as ``detection.faces``): the canvas, shape
        (proposal_side, proposal_side, 3) uint8, the face was found in and its map to
        the frame (for test-time augmentation on that canvas).
    """

    detection: Detection
    crops: tuple[tuple[np.ndarray, CropMap], ...]

    @property
    def chosen_crop(self) -> tuple[np.ndarray, CropMap] | None:
        """The canvas and map of the chosen face; None when no face was found."""
        c = self.detection.chosen
        return None if c is None else self.crops[c]


def hog_boxes(rgb: np.ndarray, max_side: int, upsample: int, max_boxes: int) -> list[tuple[float, float, float]]:
    """Face boxes of dlib's HOG frontal face detector, best score first.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8
    max_side : int
        The frame is downscaled (``cv2.INTER_AREA``) to this longer side first, px.
    upsample : int
        dlib's ``upsample_num_times`` (each finds faces half as small, at 4x the cost).
    max_boxes : int
        At most this many boxes are returned.

    Returns
    -------
    list of (cx, cy, side)
        Box centres and sides, full-frame pixels (pixel centres at integers).
    """
    import dlib

    h, w = rgb.shape[:2]
    s = min(1.0, float(max_side) / max(h, w))
    img = rgb if s == 1.0 else cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    gray = np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
    rects, scores, _ = _hog_detector().run(gray, int(upsample), 0.0)
    order = np.argsort(-np.asarray(scores, dtype=np.float64)) if len(scores) else []
    out = []
    for i in list(order)[: int(max_boxes)]:
        r: dlib.rectangle = rects[int(i)]
        cx = (r.left() + r.right()) / 2.0
        cy = (r.top() + r.bottom()) / 2.0
        side = float(max(r.width(), r.height()))
        out.append(((cx + 0.5) / s - 0.5, (cy + 0.5) / s - 0.5, side / s))
    return out


def lone_face_problem(rgb: np.ndarray, face: np.ndarray, params: LandmarkParams) -> str | None:
    """Why a photo in which the landmarker found one face may show others, none clearly the subject.

    MediaPipe misses some faces of a group photo. dlib's HOG detector (see the module
    docstring) is run on the photo (downscaled to ``proposal_hog_max_side``, with
    ``subject_hog_upsample`` pyramid upsamplings); its boxes whose centre lies outside
    ``face``'s landmark box are other faces. The subject rule
    (:func:`palsyflow.landmarks.base.unclear_subject`, ``subject_min_size_ratio``,
    ``subject_max_centre_offset``) is then applied to the face and those boxes, box
    against box: the face is represented by the HOG box that contains its centre when
    there is one (HOG boxes and landmark boxes differ in scale), else by its landmark box.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8, RGB
        The photo.
    face : ndarray, shape (n_points, >=2), pixels
        The one face found, full-frame pixels (x right, y down).
    params : LandmarkParams
        ``subject_hog_upsample`` (negative: no check), ``proposal_hog_max_side``,
        ``subject_min_size_ratio``, ``subject_max_centre_offset``.

    Returns
    -------
    str or None
        :func:`~palsyflow.landmarks.base.unclear_subject`'s sentence, or None when no
        other face is seen or the face is clearly the subject.
    """
    if params.subject_hog_upsample < 0:
        return None
    boxes = hog_boxes(rgb, params.proposal_hog_max_side, params.subject_hog_upsample, max_boxes=64)
    lo, hi = np.nanmin(face[:, :2], axis=0), np.nanmax(face[:, :2], axis=0)
    inside = [lo[0] <= cx <= hi[0] and lo[1] <= cy <= hi[1] for cx, cy, _ in boxes]
    others = [b for b, i in zip(boxes, inside) if not i]
    if not others:
        return None

    def corners(cx: float, cy: float, side: float) -> np.ndarray:
        return np.array([[cx - side / 2, cy - side / 2], [cx + side / 2, cy + side / 2]])

    own = next((corners(*b) for b, i in zip(boxes, inside) if i), np.array([lo, hi]))
    faces = np.stack([own, *(corners(*b) for b in others)])
    h, w = rgb.shape[:2]
    return unclear_subject(faces, w, h, params.subject_min_size_ratio, params.subject_max_centre_offset)


_HOG = []


def _hog_detector():
    """dlib's frontal face detector, loaded once per process."""
    if not _HOG:
        import dlib

        _HOG.append(dlib.get_frontal_face_detector())
    return _HOG[0]


def _proposals(rgb: np.ndarray, params: LandmarkParams):
    """Yield (cx, cy, side, border) squares to try, cheapest first (HOG boxes lazily)."""
    h, w = rgb.shape[:2]
    side = max(h, w) * (1.0 + 2.0 * float(params.proposal_pad_frac))
    yield (w - 1) / 2.0, (h - 1) / 2.0, side
    for cx, cy, s in hog_boxes(rgb, params.proposal_hog_max_side, params.proposal_hog_upsample, params.proposal_max_boxes):
        yield cx, cy, s * (1.0 + 2.0 * float(params.proposal_crop_margin))


def find_faces(rgb: np.ndarray, detector: Landmarker, params: LandmarkParams) -> FoundFaces:
    """Search a frame the plain pass found no face in, crop by crop (see the module docstring).

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8, RGB
    detector : Landmarker
        Any backend, in IMAGE mode (inside its ``with`` block).
    params : LandmarkParams
        ``proposal_*`` knobs.

    Returns
    -------
    FoundFaces
        ``detection.faces`` shape (n_faces, n_points, 3), full-frame pixels (points may
        lie outside the frame for a face cut by its border); no face: ``n_faces == 0``
        and ``chosen`` None.
    """
    h, w = rgb.shape[:2]
    scheme = detector.scheme
    faces: list[np.ndarray] = []
    crops: list[tuple[np.ndarray, CropMap]] = []
    out_side = int(params.proposal_side)
    for cx, cy, side in _proposals(rgb, params):
        canvas, crop = square_crop(rgb, cx, cy, side, out_side, border="constant", fill=int(params.proposal_pad_grey))
        det = detector.detect(canvas)
        for face in det.faces:
            back = crop.to_frame(face)
            if not any(_same_face(back, f, scheme) for f in faces):
                faces.append(back)
                crops.append((canvas, crop))
    n_points = scheme.n_points
    stack = np.stack(faces) if faces else np.empty((0, n_points, 3))
    return FoundFaces(Detection(faces=stack, chosen=choose_face(stack, w, h), padded=True), tuple(crops))


def _same_face(a: np.ndarray, b: np.ndarray, scheme) -> bool:
    iod = max(float(scheme.interocular_distance(a)), float(scheme.interocular_distance(b)))
    return bool(np.linalg.norm(a[:, :2] - b[:, :2], axis=-1).mean() < 0.5 * iod)
