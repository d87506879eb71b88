"""Test-time augmentation (TTA) of one image for landmark detection.

Each copy of the image is warped by a small random similarity transform (rotation,
scale, shift about the image centre), optionally mirrored, and photometrically
perturbed (brightness, contrast, gamma, Gaussian noise, Gaussian blur). The detector
runs on every copy; the points are mapped back into the original frame with the
inverse affine (and un-mirrored with :func:`~palsyflow.landmarks.topology.flip_points`)
and combined by a per-point median. The per-point spread (median absolute deviation
of the 2-D positions) measures how stable the landmark is under nuisance changes that
should not move it.

TTA for landmark localisation follows the common practice of averaging predictions
over transformed inputs (e.g. Wang et al. 2019, "Aleatoric uncertainty estimation
with test-time augmentation for medical image segmentation with convolutional neural
networks", Neurocomputing 338:34-45, doi:10.1016/j.neucom.2019.01.103); the median
and MAD are robust location/scale estimates (Hampel 1974, JASA 69(346):383-393,
doi:10.1080/01621459.1974.10482962).

Where the copies are rendered (``tta_crop_side``): by default copies ``k >= 1`` are
drawn from a square crop around the face of copy 0, resized to ``tta_crop_side``
pixels, so a copy costs the same on a 640 px webcam frame and a 3264 px phone photo
(measured by ``benchmarks/landmark_speed.py``: TTA N = 16 on a 1600 px photo went from
~1.4 s to ~0.34 s on one loaded core, with the same spread); the whole-frame mode
(``tta_crop_side = 0``) remains. Points from a crop are mapped back with
:class:`~palsyflow.landmarks.mediapipe_backend.CropMap`.

Affine convention: matrices are 2x3 and map ORIGINAL pixel coordinates to AUGMENTED
pixel coordinates (pixel centres at integers, as ``cv2.warpAffine``); when ``flip`` is
set the image is mirrored with ``cv2.flip(img, 1)`` first and the matrix applies to
the mirrored image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from palsyflow.config import LandmarkParams
from palsyflow.landmarks.mediapipe_backend import Detection
from palsyflow.landmarks.topology import N_POINTS, flip_points, interocular_distance

__all__ = [
    "Augmentation",
    "TTAResult",
    "apply_augmentation",
    "make_augmentations",
    "points_to_original",
    "run_tta",
]


class _Detector(Protocol):
    def detect(self, rgb: np.ndarray, timestamp_ms: int | None = None): ...


@dataclass(frozen=True)
class Augmentation:
    """One TTA copy.

    Attributes
    ----------
    matrix : ndarray, shape (2, 3)
        Affine map from (possibly mirrored) original pixels to augmented pixels.
    scale : float
        Isotropic scale of ``matrix`` (used to rescale z).
    flip : bool
        Mirror the image horizontally before warping.
    brightness : float
        Additive offset in grey levels (0-255 scale).
    contrast : float
        Multiplicative contrast about mid-grey (1 = unchanged).
    gamma : float
        Gamma applied to [0, 1] intensities (1 = unchanged).
    noise_sigma : float
        Standard deviation of additive Gaussian noise, grey levels.
    blur_ksize : int
        Gaussian blur kernel size (0 = no blur).
    noise_seed : int
        Seed of the noise generator.
    """

    matrix: np.ndarray = field(default_factory=lambda: np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    scale: float = 1.0
    flip: bool = False
    brightness: float = 0.0
    contrast: float = 1.0
    gamma: float = 1.0
    noise_sigma: float = 0.0
    blur_ksize: int = 0
    noise_seed: int = 0

    @property
    def is_geometric_identity(self) -> bool:
        return not self.flip and np.allclose(self.matrix, [[1, 0, 0], [0, 1, 0]])

    @property
    def is_photometric_identity(self) -> bool:
        return (
            self.brightness == 0.0
            and self.contrast == 1.0
            and self.gamma == 1.0
            and self.noise_sigma == 0.0
            and self.blur_ksize == 0
        )


@dataclass(frozen=True)
class TTAResult:
    """Combined TTA landmarks of one image.

    Attributes
    ----------
    points : ndarray, shape (478, 3), float64
        Per-point median over copies with a face, original-frame pixels (x right,
        y down, z relative depth); all NaN when no copy found a face.
    spread : ndarray, shape (478,), float64
        Per-point median absolute deviation of the 2-D position,
        ``median_k ||p_k - median(p)||``, pixels; NaN when fewer than two copies
        found the face.
    n_found : int
        Number of copies in which a face was found.
    n_copies : int
        Number of copies run (copy 0 is the unaugmented image).
    n_faces : int
        Faces found in copy 0 (the unaugmented image).
    """

    points: np.ndarray
    spread: np.ndarray
    n_found: int
    n_copies: int
    n_faces: int

    @property
    def face_found(self) -> bool:
        return self.n_found > 0


def make_augmentations(params: LandmarkParams, width: int, height: int, seed: int | None = None) -> list[Augmentation]:
    """The ``params.tta_copies`` augmentations of an image, deterministically seeded.

    Copy 0 is the identity. Copy ``k >= 1`` draws from ``numpy.random.default_rng([seed,
    k])``: rotation ~ U(±tta_rotation_deg) degrees, scale ~ 1 + U(±tta_scale), shift ~
    U(±tta_shift_frac) × (width, height) pixels, brightness ~ U(±tta_photometric) × 64
    grey levels, contrast ~ 1 + U(±tta_photometric), gamma ~ exp(U(±tta_photometric)),
    noise sigma ~ U(0, tta_noise_sigma) grey levels, a 3x3 or 5x5 Gaussian blur with
    probability ``tta_blur_prob``. With ``tta_flip`` the odd-numbered copies are
    mirrored (half the augmented copies, so left/right biases of the detector cancel).

    Parameters
    ----------
    params : LandmarkParams
    width, height : int
        Image size, pixels.
    seed : int, optional
        Defaults to ``params.tta_seed``; pass e.g. ``hash((tta_seed, frame))`` to vary
        augmentations between frames while staying deterministic.

    Returns
    -------
    list of Augmentation, length ``max(params.tta_copies, 1)``
    """
    seed = params.tta_seed if seed is None else int(seed)
    centre = ((width - 1) / 2.0, (height - 1) / 2.0)
    augs = [Augmentation()]
    for k in range(1, max(int(params.tta_copies), 1)):
        rng = np.random.default_rng([abs(seed), k])
        angle = rng.uniform(-1.0, 1.0) * params.tta_rotation_deg
        scale = 1.0 + rng.uniform(-1.0, 1.0) * params.tta_scale
        shift = rng.uniform(-1.0, 1.0, size=2) * params.tta_shift_frac * np.array([width, height])
        m = cv2.getRotationMatrix2D(centre, float(angle), float(scale))
        m[:, 2] += shift
        p = params.tta_photometric
        brightness = rng.uniform(-1.0, 1.0) * p * 64.0
        contrast = 1.0 + rng.uniform(-1.0, 1.0) * p
        gamma = float(np.exp(rng.uniform(-1.0, 1.0) * p))
        noise = rng.uniform(0.0, params.tta_noise_sigma)
        blur = int(rng.choice([3, 5])) if rng.uniform() < params.tta_blur_prob else 0
        noise_seed = int(rng.integers(0, 2**31 - 1))
        augs.append(
            Augmentation(
                matrix=m,
                scale=float(scale),
                flip=bool(params.tta_flip and k % 2 == 1),
                brightness=float(brightness),
                contrast=float(contrast),
                gamma=gamma,
                noise_sigma=float(noise),
                blur_ksize=blur,
                noise_seed=noise_seed,
            )
        )
    return augs


def apply_augmentation(rgb: np.ndarray, aug: Augmentation) -> np.ndarray:
    """Render one augmented copy.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8
    aug : Augmentation

    Returns
    -------
    ndarray, shape (H, W, 3), uint8, C-contiguous (a new array unless ``aug`` is the
    identity)
    """
    out = rgb
    if aug.flip:
        out = cv2.flip(out, 1)
    if not np.allclose(aug.matrix, [[1, 0, 0], [0, 1, 0]]):
        h, w = rgb.shape[:2]
        out = cv2.warpAffine(out, aug.matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if aug.brightness != 0.0 or aug.contrast != 1.0 or aug.gamma != 1.0:
        levels = np.arange(256, dtype=np.float64) / 255.0
        lut = 255.0 * levels**aug.gamma
        lut = (lut - 127.5) * aug.contrast + 127.5 + aug.brightness
        out = cv2.LUT(out, np.clip(np.rint(lut), 0, 255).astype(np.uint8))
    if aug.blur_ksize:
        out = cv2.GaussianBlur(out, (aug.blur_ksize, aug.blur_ksize), 0)
    if aug.noise_sigma > 0.0:
        # cv2's RNG is thread-local; seeding it here makes the noise reproducible
        cv2.setRNGSeed(aug.noise_seed)
        noise = np.empty(out.shape, dtype=np.int16)
        s = float(aug.noise_sigma)
        cv2.randn(noise, (0.0, 0.0, 0.0), (s, s, s))  # per-channel mean and sigma
        out = cv2.add(out, noise, dtype=cv2.CV_8U)  # saturating add
    return np.ascontiguousarray(out)


def points_to_original(points: np.ndarray, aug: Augmentation, width: int) -> np.ndarray:
    """Map landmarks detected on an augmented copy back into the original frame.

    Parameters
    ----------
    points : ndarray, shape (..., 478, 3), augmented-copy pixels
    aug : Augmentation
    width : int
        Original image width, pixels (for un-mirroring).

    Returns
    -------
    ndarray, shape (..., 478, 3), original-frame pixels, indices of the original face
    (z divided by the augmentation scale).
    """
    inv = cv2.invertAffineTransform(np.asarray(aug.matrix, dtype=np.float64))
    out = np.array(points, dtype=np.float64, copy=True)
    xy = out[..., :2].copy()
    out[..., 0] = inv[0, 0] * xy[..., 0] + inv[0, 1] * xy[..., 1] + inv[0, 2]
    out[..., 1] = inv[1, 0] * xy[..., 0] + inv[1, 1] * xy[..., 1] + inv[1, 2]
    out[..., 2] = out[..., 2] / aug.scale
    if aug.flip:
        out = flip_points(out, width)
    return out


def run_tta(
    rgb: np.ndarray,
    detector: _Detector,
    params: LandmarkParams,
    seed: int | None = None,
    augmentations: list[Augmentation] | None = None,
    copy0: Detection | None = None,
) -> TTAResult:
    """Detect landmarks on augmented copies of ``rgb`` and combine them.

    Copy 0 is the unaugmented frame (``copy0`` when given, else ``detector.detect(rgb)``).
    With ``params.tta_crop_side > 0`` (default) and a face in copy 0, copies
    ``k >= 1`` are rendered from a square face crop (:func:`~palsyflow.landmarks.
    mediapipe_backend.face_square` with ``params.tta_crop_margin``) resized to
    ``tta_crop_side`` pixels: rotations and flips then act about the face, and the
    per-copy image work no longer grows with the frame size (the detector's networks
    see a 128x128 frame and a 256x256 face crop whatever the input size). Otherwise
    (``tta_crop_side == 0``, no face in copy 0, or explicit ``augmentations``) the
    copies are rendered from the whole frame, first downscaled to
    ``params.detect_max_side`` when larger. All copies are mapped back to
    full-resolution pixels.

    In every copy, the face kept is the one nearest (mean point distance, after
    mapping back) to the face chosen in copy 0 (or, when copy 0 has none, in the first
    copy with a face), so multi-face images stay on one person; a copy whose nearest
    face is more than half an inter-ocular distance away (mean over points) counts as
    not found.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8, RGB
    detector : MediaPipeLandmarker
        In IMAGE mode (entered ``with`` block).
    params : LandmarkParams
        ``tta_*`` knobs (see :func:`make_augmentations`).
    seed : int, optional
        Augmentation seed, default ``params.tta_seed``.
    augmentations : list of Augmentation, optional
        Explicit whole-frame copies (overrides ``params``/``seed``); the first should
        be the identity.
    copy0 : Detection, optional
        An existing detection of the unaugmented image in full-resolution pixels (e.g.
        the VIDEO-mode pass over a key frame), used as copy 0 instead of detecting
        again when copy 0 is the identity.

    Returns
    -------
    TTAResult
        ``points`` and ``spread`` in full-resolution pixels.
    """
    from palsyflow.landmarks.mediapipe_backend import face_square, square_crop

    full_h, full_w = rgb.shape[:2]
    per_copy: list[np.ndarray] = []  # each (n_faces, 478, 3), full-resolution pixels
    chosen: list[int | None] = []
    use_crop = augmentations is None and params.tta_crop_side > 0
    if use_crop:
        det0 = copy0 if copy0 is not None else detector.detect(rgb)
        ref0 = det0.points
        if ref0 is None or not np.isfinite(ref0[:, :2]).all():
            use_crop = False
    if use_crop:
        side = int(params.tta_crop_side)
        cx, cy, crop_side = face_square(ref0, params.tta_crop_margin)
        canvas, crop = square_crop(rgb, cx, cy, crop_side, side, border="replicate")
        augs = make_augmentations(params, side, side, seed)
        n_faces0 = det0.n_faces
        per_copy.append(np.asarray(det0.faces, dtype=np.float64))
        chosen.append(det0.chosen)
        for aug in augs[1:]:
            det = detector.detect(apply_augmentation(canvas, aug))
            faces = crop.to_frame(points_to_original(det.faces, aug, side)) if det.n_faces else det.faces
            per_copy.append(faces)
            chosen.append(det.chosen)
    else:
        small = rgb
        if max(full_h, full_w) > params.detect_max_side:
            # augment at detection resolution (the detector would downscale anyway)
            s = params.detect_max_side / max(full_h, full_w)
            small = cv2.resize(rgb, (max(1, round(full_w * s)), max(1, round(full_h * s))), interpolation=cv2.INTER_AREA)
        height, width = small.shape[:2]
        sx, sy = full_w / width, full_h / height
        augs = augmentations if augmentations is not None else make_augmentations(params, width, height, seed)
        n_faces0 = 0
        for k, aug in enumerate(augs):
            identity = aug.is_geometric_identity and aug.is_photometric_identity
            if identity:
                # the detector maps a full-resolution frame to full-resolution pixels
                det = copy0 if (k == 0 and copy0 is not None) else detector.detect(rgb)
                faces = np.asarray(det.faces, dtype=np.float64)
            else:
                det = detector.detect(apply_augmentation(small, aug))
                faces = points_to_original(det.faces, aug, width) if det.n_faces else det.faces
                if det.n_faces and (sx, sy) != (1.0, 1.0):
                    faces[..., 0] = (faces[..., 0] + 0.5) * sx - 0.5
                    faces[..., 1] = (faces[..., 1] + 0.5) * sy - 0.5
                    faces[..., 2] *= sx
            if k == 0:
                n_faces0 = det.n_faces
            per_copy.append(faces)
            chosen.append(det.chosen)

    ref = None
    for faces, c in zip(per_copy, chosen, strict=True):
        if c is not None:
            ref = faces[c]
            break
    if ref is None:
        nan = np.full((N_POINTS, 3), np.nan)
        return TTAResult(nan, np.full(N_POINTS, np.nan), 0, len(augs), n_faces0)

    # a copy whose nearest face is far from the reference saw someone else: drop it
    gate = 0.5 * float(interocular_distance(ref))
    picked = []
    for faces in per_copy:
        if faces.shape[0] == 0:
            continue
        d = np.linalg.norm(faces[..., :2] - ref[None, :, :2], axis=-1).mean(axis=1)
        j = int(np.argmin(d))
        if d[j] <= gate:
            picked.append(faces[j])
    stack = np.stack(picked)  # (n_found, 478, 3)
    med = np.median(stack, axis=0)
    if len(picked) >= 2:
        spread = np.median(np.linalg.norm(stack[..., :2] - med[None, :, :2], axis=-1), axis=0)
    else:  # a spread needs two copies
        spread = np.full(N_POINTS, np.nan)
    return TTAResult(med, spread, len(picked), len(augs), n_faces0)
