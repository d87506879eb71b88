"""dlib backend: HOG face detector + 68-point shape predictor (the Emotrics approach).

:class:`DlibLandmarker` is the :class:`~palsyflow.landmarks.base.Landmarker` of the
``"dlib"`` backend: scheme ``ibug68`` (z NaN), TTA layout ``"downscaled_frame"``, no
tracking (every video frame is detected independently).

Emotrics (Guarin et al. 2018, "Toward an Automatic System for Computer-Aided
Assessment in Facial Palsy", JAMA Facial Plast Surg 20(4):335,
doi:10.1001/jamafacial.2018.0030 and doi:10.1089/fpsam.2019.29000.gua) measures
facial palsy on dlib's 68-point landmarks. Here:

- Detection: dlib's frontal face detector, HOG features + a linear SVM with an image
  pyramid (Dalal & Triggs 2005, doi:10.1109/CVPR.2005.177); it finds faces of roughly
  80 px and larger, so when it finds nothing the image is upsampled 2x (dlib's
  ``upsample_num_times``) up to ``params.dlib_upsample`` times.
- Fallback: when HOG still finds nothing (rotated or tightly cropped faces, profile
  views) and ``params.dlib_fallback`` is set, MediaPipe's FaceLandmarker finds the face
  and its landmarks give a box in dlib's box convention (:func:`mediapipe_box`, with a
  relation learned on annotated data, :data:`DEFAULT_BOX`). If MediaPipe's eye line
  is tilted by more than :data:`DEROTATE_DEG`, the predictor runs on an upright copy of
  the image (rotated about the box centre) and the points are rotated back, since the
  predictor was trained on upright detector boxes. The same is done for faces HOG
  finds but whose first landmark estimate is tilted (HOG tolerates roughly ±40 degrees
  of roll, the predictor much less).
- Landmarks: the ensemble-of-regression-trees shape predictor (Kazemi & Sullivan 2014,
  "One millisecond face alignment with an ensemble of regression trees", CVPR,
  doi:10.1109/CVPR.2014.241), ``shape_predictor_68_face_landmarks.dat`` from the
  ``face_recognition_models`` package, 68 points in the iBUG scheme
  (:mod:`palsyflow.landmarks.schemes.ibug68`).

Licence: the 68-point model was trained on the iBUG 300-W data set, whose licence
excludes commercial use: **research use only**.

Pixel convention: dlib's ``point(x, y)`` has pixel centres at integer coordinates, the
same as palsyflow's (:mod:`palsyflow.landmarks.schemes.base`); z is NaN (2-D model).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import cv2
import numpy as np

from palsyflow.config import LandmarkParams
from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker
from palsyflow.landmarks.base import Detection, Mode, TTALayout, choose_face
from palsyflow.landmarks.schemes.base import Scheme
from palsyflow.landmarks.schemes.ibug68 import DEFAULT_OFFSETS_PATH, MP_TO_IBUG68, N_IBUG, SCHEME, eye_frame

__all__ = [
    "DEFAULT_BOX",
    "DEROTATE_DEG",
    "DLIB_MODEL",
    "LICENCE",
    "TILT_REFINE_DEG",
    "DlibLandmarker",
    "mediapipe_box",
    "predictor_path",
]

#: Box relation used by the fallback, in the eye-line frame of MediaPipe's outer eye
#: corners (mapped iBUG 36 and 45; unit = their distance d): the dlib box centre is at
#: ``origin + d * (cx * ex + cy * ey)`` and its side is ``d * side``. Overridden by the
#: ``"dlib_box"`` entry of ``palsyflow/landmarks/schemes/ibug68_offsets.json`` when present (learned by
#: ``benchmarks/landmark_accuracy.py --learn`` on the training split of faces-68pt:
#: mean of the HOG boxes in that frame).
DEFAULT_BOX: dict[str, float] = {"cx": 0.0, "cy": 0.55, "side": 1.9}

#: Tilt of MediaPipe's eye line (degrees) above which the fallback predicts on an
#: upright copy of the image.
DEROTATE_DEG = 10.0

#: Re-predictions on an upright copy for a tilted face found by HOG, and the tilt of
#: the first estimate's eye line (degrees) that triggers them. A trade-off measured on
#: faces-68pt by ``benchmarks/landmark_accuracy.py``: re-predicting mildly tilted faces
#: costs a little accuracy, while faces rolled by 40-60 degrees that HOG still finds
#: improve from failures to typical errors (a 20-degree trigger missed some of them,
#: whose first estimate is too poor to show the tilt).
TILT_ITERATIONS = 2
TILT_REFINE_DEG = 15.0

#: The 68-point model file, as recorded in ``LandmarkResult.meta["dlib_model"]``.
DLIB_MODEL = "face_recognition_models/shape_predictor_68_face_landmarks.dat"

#: Licence note recorded in ``LandmarkResult.meta["licence"]``.
LICENCE = "dlib 68-point model trained on iBUG 300-W: research use only"


def predictor_path() -> Path:
    """Path of ``shape_predictor_68_face_landmarks.dat`` (``face_recognition_models``).

    Raises
    ------
    FileNotFoundError
        If the package or its model file is missing.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pkg_resources deprecation inside the package
            import face_recognition_models
    except ImportError as exc:  # pragma: no cover - dependency missing
        raise FileNotFoundError("face_recognition_models is not installed (dlib 68-point model)") from exc
    p = Path(face_recognition_models.pose_predictor_model_location())
    if not p.is_file():  # pragma: no cover
        raise FileNotFoundError(f"dlib 68-point model not found: {p}")
    return p


def _load_box() -> dict[str, float]:
    try:
        doc = json.loads(DEFAULT_OFFSETS_PATH.read_text())
        box = doc.get("dlib_box") or {}
        return {k: float(box.get(k, v)) for k, v in DEFAULT_BOX.items()}
    except (OSError, ValueError):
        return dict(DEFAULT_BOX)


def mediapipe_box(points478: np.ndarray, box: dict[str, float] | None = None) -> tuple[float, float, float, float]:
    """A dlib-convention face box from MediaPipe's landmarks.

    Parameters
    ----------
    points478 : ndarray, shape (478, D>=2), pixels
    box : dict, optional
        ``cx``, ``cy``, ``side`` in the eye-line frame (see :data:`DEFAULT_BOX`); default
        the learned relation.

    Returns
    -------
    (left, top, right, bottom) : float, pixels (an axis-aligned square; rotate the
    image by the eye-line angle first for a tilted face)
    """
    box = _load_box() if box is None else box
    p = np.asarray(points478, dtype=np.float64)[MP_TO_IBUG68, :2]
    origin, basis, d = eye_frame(p[36], p[45])
    c = origin + d * (box["cx"] * basis[0] + box["cy"] * basis[1])
    half = 0.5 * d * box["side"]
    return float(c[0] - half), float(c[1] - half), float(c[0] + half), float(c[1] + half)


class DlibLandmarker:
    """dlib HOG detector + 68-point predictor with a MediaPipe-box fallback.

    Use as a context manager, like
    :class:`~palsyflow.landmarks.backends.mediapipe.MediaPipeLandmarker`::

        with DlibLandmarker(model_path, "image", params) as lm:
            det = lm.detect(rgb)          # Detection, faces (n, 68, 3), z NaN

    Parameters
    ----------
    model_path : Path or None
        MediaPipe ``face_landmarker.task`` for the fallback; None or a missing file
        disables the fallback (HOG alone).
    mode : {"image", "video"}
        Accepted for the :class:`~palsyflow.landmarks.base.Landmarker` constructor;
        dlib detects every frame independently in both modes.
    params : LandmarkParams
        ``dlib_upsample``, ``dlib_fallback``, ``detect_max_side`` (larger images are
        downscaled for HOG; the predictor runs at full resolution) and, for the
        fallback detector, ``max_faces`` and ``min_detection_confidence``.

    Attributes
    ----------
    n_fallback : int
        Calls of :meth:`detect` whose faces came from the MediaPipe fallback.
    """

    scheme: Scheme = SCHEME
    tta_layout: TTALayout = "downscaled_frame"
    tracks: bool = False

    def __init__(self, model_path: Path | None, mode: Mode, params: LandmarkParams):
        if mode not in ("image", "video"):
            raise ValueError(f"mode must be 'image' or 'video', got {mode!r}")
        self.params = params
        self.mode = mode
        self.model_path = None if model_path is None or not Path(model_path).is_file() else Path(model_path)
        self._detector = None
        self._predictor = None
        self._mp: MediaPipeLandmarker | None = None
        self._box = _load_box()
        self.n_fallback = 0

    def __enter__(self) -> DlibLandmarker:
        import dlib

        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(predictor_path()))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def close(self) -> None:
        """Release the dlib models and the fallback MediaPipe landmarker."""
        if self._mp is not None:
            self._mp.close()
            self._mp = None
        self._detector = self._predictor = None

    def describe(self) -> dict:
        """``scheme``, ``dlib_version``, ``dlib_model``, ``dlib_fallback_frames``, ``licence``.

        ``dlib_fallback_frames`` is :attr:`n_fallback` so far.
        """
        import dlib

        return {
            "scheme": SCHEME.name,
            "dlib_version": dlib.__version__,
            "dlib_model": DLIB_MODEL,
            "dlib_fallback_frames": int(self.n_fallback),
            "licence": LICENCE,
        }

    # detection -------------------------------------------------------------
    def hog_boxes(self, rgb: np.ndarray) -> list[tuple[float, float, float, float]]:
        """HOG face boxes, (left, top, right, bottom) in full-resolution pixels.

        Tries upsampling 0, 1, ... ``params.dlib_upsample`` times, stopping at the first
        level that finds a face; images longer than ``params.detect_max_side`` are first
        downscaled (never upsampled beyond that size).
        """
        if self._detector is None:
            raise RuntimeError("DlibLandmarker must be used inside a `with` block")
        h, w = rgb.shape[:2]
        s = min(1.0, self.params.detect_max_side / max(h, w))
        img = rgb if s == 1.0 else cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        for up in range(0, max(0, int(self.params.dlib_upsample)) + 1):
            if up > 0 and max(img.shape[:2]) * 2**up > 2 * self.params.detect_max_side:
                break
            rects = self._detector(gray, up)
            if len(rects):
                return [
                    ((r.left() + 0.5) / s - 0.5, (r.top() + 0.5) / s - 0.5, (r.right() + 0.5) / s - 0.5, (r.bottom() + 0.5) / s - 0.5)
                    for r in rects
                ]
        return []

    def _predict(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        import dlib

        rect = dlib.rectangle(*(int(round(v)) for v in box))
        shape = self._predictor(rgb, rect)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)

    def _predict_upright(self, rgb: np.ndarray, box: tuple[float, float, float, float], angle: float) -> np.ndarray:
        """Predict on a copy of ``rgb`` rotated by ``angle`` degrees about the box centre.

        ``box`` is the face box in the upright copy; the points are rotated back.
        """
        c = ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)
        m = cv2.getRotationMatrix2D(c, angle, 1.0)
        h, w = rgb.shape[:2]
        upright = cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        pts = self._predict(upright, box)
        inv = cv2.invertAffineTransform(m)
        return pts @ inv[:, :2].T + inv[:, 2]

    def _refine_tilt(self, rgb: np.ndarray, pts: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """Re-predict a tilted face on an upright copy (up to :data:`TILT_ITERATIONS` times).

        HOG also fires on faces tilted by 30-50 degrees but returns an upright box, on
        which the predictor (trained on upright boxes) places the points poorly; the eye
        line of that first estimate (iBUG 36-45) gives the angle to undo. The box keeps
        its size and centre.
        """
        side = box[2] - box[0]
        for _ in range(TILT_ITERATIONS):
            angle = math.degrees(math.atan2(pts[45, 1] - pts[36, 1], pts[45, 0] - pts[36, 0]))
            if abs(angle) <= TILT_REFINE_DEG:
                break
            c = np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0])
            pts = self._predict_upright(rgb, (c[0] - side / 2, c[1] - side / 2, c[0] + side / 2, c[1] + side / 2), angle)
        return pts

    def _fallback_faces(self, rgb: np.ndarray) -> list[np.ndarray]:
        if self.model_path is None or not self.params.dlib_fallback:
            return []
        if self._mp is None:
            self._mp = MediaPipeLandmarker(self.model_path, "image", self.params).__enter__()
        det = self._mp.detect(rgb)
        faces = []
        for mp_pts in det.faces:
            p = mp_pts[MP_TO_IBUG68, :2]
            angle = math.degrees(math.atan2(p[45, 1] - p[36, 1], p[45, 0] - p[36, 0]))
            box = mediapipe_box(mp_pts, self._box)
            if abs(angle) <= DEROTATE_DEG:
                faces.append(self._predict(rgb, box))
            else:  # the box is axis-aligned in the upright copy
                faces.append(self._predict_upright(rgb, box, angle))
        return faces

    def detect(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> Detection:
        """Detect all faces in one frame and their 68 landmarks.

        Parameters
        ----------
        rgb : ndarray, shape (H, W, 3), uint8, RGB
        timestamp_ms : int, optional
            Ignored (dlib does not track); accepted for interface compatibility.

        Returns
        -------
        Detection
            ``faces`` shape (n_faces, 68, 3), float64, pixels of the full frame, z NaN;
            ``chosen`` by :func:`~palsyflow.landmarks.base.choose_face`.

        Raises
        ------
        RuntimeError
            If used outside the ``with`` block.
        ValueError
            If the frame is not (H, W, 3) uint8.
        """
        if self._predictor is None:
            raise RuntimeError("DlibLandmarker must be used inside a `with` block")
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {rgb.shape} {rgb.dtype}")
        rgb = np.ascontiguousarray(rgb)
        faces = [self._refine_tilt(rgb, self._predict(rgb, b), b) for b in self.hog_boxes(rgb)]
        if not faces:
            faces = self._fallback_faces(rgb)
            if faces:
                self.n_fallback += 1
        out = np.full((len(faces), N_IBUG, 3), np.nan, dtype=np.float64)
        for k, f in enumerate(faces):
            out[k, :, :2] = f
        h, w = rgb.shape[:2]
        return Detection(faces=out, chosen=choose_face(out, w, h))
