"""Test-time augmentation (TTA) of one image for landmark detection.

Each copy of the image is warped by a small random similarity transform (rotation,
scale, shift about the image centre), optionally mirrored, and photometrically
perturbed (brightness, contrast, gamma, Gaussian noise, Gaussian blur). The detector
runs on every copy; the points are mapped back into the original frame with the
inverse affine (and un-mirrored with the scheme's mirror pairs,
:meth:`~palsyflow.landmarks.schemes.base.Scheme.mirror`) and combined by a per-point
median. One routine, :func:`run_tta`, serves every backend and landmark scheme: the
scheme comes from the landmarker (:attr:`~palsyflow.landmarks.base.Landmarker.scheme`),
and so does the layout of the copies
(:data:`~palsyflow.landmarks.base.TTALayout`, below). The per-point spread (median absolute deviation
of the 2-D positions) measures how stable the landmark is under nuisance changes that
should not move it.

TTA for landmark localisation follows the common practice of averaging predictions
over transformed inputs (e.g. Wang et al. 2019, "Aleatoric uncertainty estimation
with test-time augmentation for medical image segmentation with convolutional neural
networks", Neurocomputing 338:34-45, doi:10.1016/j.neucom.2019.01.103); the median
and MAD are robust location/scale estimates (Hampel 1974, JASA 69(346):383-393,
doi:10.1080/01621459.1974.10482962).

Where the copies are rendered (the landmarker's ``tta_layout``). ``"face_crop"``
(MediaPipe): copy 0 (identity) and, with ``tta_flip``, copy 1 (pure mirror) are
detected on the full frame; by default (``tta_crop_side > 0``) copies ``k >= 2`` are
drawn from a square crop around that face, resized to ``tta_crop_side`` pixels, so a
copy costs the same on a webcam frame and a phone photo (timings:
``benchmarks/landmark_speed.py``); the whole-frame mode (``tta_crop_side = 0``)
remains. Points from a crop are mapped back with
:class:`~palsyflow.landmarks.crop.CropMap`. ``"downscaled_frame"`` (dlib): every
copy, copies 0 and 1 included, is rendered from the frame downscaled to
``detect_max_side`` (:func:`resize_mirror_symmetric`), and ``tta_crop_side`` is not
used.

Mirror equivariance (issue 3): the set of copies is CLOSED UNDER MIRRORING. Write F for
the left-right mirror of an image and ``A`` for one augmentation (warp, photometric
change, blur, noise field). With ``tta_flip`` the copies come in groups
``{A, F A F, A F, F A}`` (``F A F``: rotation angle and x-shift negated, noise field
mirrored; ``A F``: ``A`` applied to the mirrored image), plus the identity and the pure
mirror ``F``. The set ``S`` then satisfies ``S F = S``: the copies of a mirrored input
``F(I)`` are, pixel for pixel, the copies of ``I`` (copy ``s`` of ``F(I)`` is copy
``s F`` of ``I``), the detector sees the same images, and after mapping back the
per-point median of ``F(I)`` is exactly ``flip_points`` of the median of ``I``, whatever
the detector's own left/right bias (the detector is not assumed mirror-equivariant).
This needs everything the copies are rendered from to be mirror-equivariant too: the
face crop is centred on the mean of copy 0 and the un-mirrored pure-flip copy (both
detected on the full frame), its corner is rounded symmetrically, and resizing uses
:func:`resize_mirror_symmetric`. It does NOT hold when ``copy0`` is a different
detection (a VIDEO-mode pass) or without ``tta_flip`` (then ``S`` is only closed under
``A -> F A F``, which makes the nuisance distribution symmetric but leaves the
detector's own bias in place).

Affine convention: matrices are 2x3 and map ORIGINAL pixel coordinates to AUGMENTED
pixel coordinates (pixel centres at integers, as ``cv2.warpAffine``); when ``flip`` is
set the image is mirrored with ``cv2.flip(img, 1)`` first and the matrix applies to
the mirrored image.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from palsyflow.config import LandmarkParams
from palsyflow.landmarks.base import Detection, Landmarker
from palsyflow.landmarks.crop import CropMap, face_square
from palsyflow.landmarks.schemes import Scheme, scheme_for_points

__all__ = [
    "Augmentation",
    "TTAResult",
    "apply_augmentation",
    "make_augmentations",
    "closed_copy_count",
    "points_to_original",
    "resize_mirror_symmetric",
    "pick_reference_faces",
    "run_tta",
    "tta_enabled",
]


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
    noise_mirror : bool
        Mirror the noise field left-right before adding it (the mirror conjugate of an
        augmentation adds the mirrored field).
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
    noise_mirror: bool = False

    def mirror_conjugate(self, width: int) -> Augmentation:
        """``F A F``: the same augmentation seen in a mirrored image.

        For a rotation by ``a`` about the centre with shift ``(tx, ty)`` this is the
        rotation by ``-a`` with shift ``(-tx, ty)``; in general the matrix becomes
        ``Fm M Fm`` with ``Fm: x -> width - 1 - x``. Photometric change and blur are
        unchanged, the noise field is mirrored, the flip flag is kept.

        Parameters
        ----------
        width : int
            Width of the image the augmentation is applied to, pixels.

        Returns
        -------
        Augmentation
        """
        fm = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        m3 = np.vstack([np.asarray(self.matrix, dtype=np.float64), [0.0, 0.0, 1.0]])
        return dataclasses.replace(self, matrix=(fm @ m3 @ fm)[:2], noise_mirror=not self.noise_mirror)

    def input_flipped(self) -> Augmentation:
        """``A F``: mirror the input first, then apply ``A`` (the flip flag toggled)."""
        return dataclasses.replace(self, flip=not self.flip)

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
    points : ndarray, shape (n_points, 3), float64
        Per-point median over copies with a face, original-frame pixels (x right,
        y down, z the backend's depth or NaN); all NaN when no copy found a face.
    spread : ndarray, shape (n_points,), float64
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


def closed_copy_count(n: int, flip: bool) -> int:
    """Number of copies :func:`make_augmentations` returns for ``tta_copies = n``.

    The largest mirror-closed set size not above ``n``: with ``flip``, ``n`` rounded
    down to an even number (identity and pure mirror, groups of 4, and when 2 remain a
    pair ``{B, B F}`` with a mirror-symmetric ``B``); without ``flip`` any ``n``. At
    least 1 (``n <= 1``: no TTA). The stage's cost is therefore never above the
    requested ``tta_copies`` detections per key frame.

    Parameters
    ----------
    n : int
        Requested copies (``params.tta_copies``).
    flip : bool
        ``params.tta_flip``.

    Returns
    -------
    int
    """
    n = int(n)
    if n <= 1:
        return 1
    return n - (n % 2) if flip else n


def tta_enabled(params: LandmarkParams) -> bool:
    """Whether test-time augmentation runs: more than one copy per image.

    The one switch of TTA in the pipeline: true exactly when ``params.tta_copies > 1``
    (:func:`closed_copy_count` is then at least 2).

    Parameters
    ----------
    params : LandmarkParams

    Returns
    -------
    bool
    """
    return closed_copy_count(params.tta_copies, params.tta_flip) > 1


def _draw(params: LandmarkParams, width: int, height: int, rng: np.random.Generator, symmetric: bool) -> Augmentation:
    """One random augmentation; ``symmetric``: no rotation, x-shift or noise (``F B F == B``)."""
    centre = ((width - 1) / 2.0, (height - 1) / 2.0)
    angle = rng.uniform(-1.0, 1.0) * params.tta_rotation_deg
    scale = 1.0 + rng.uniform(-1.0, 1.0) * params.tta_scale
    shift = rng.uniform(-1.0, 1.0, size=2) * params.tta_shift_frac * np.array([width, height])
    p = params.tta_photometric
    brightness = rng.uniform(-1.0, 1.0) * p * 64.0
    contrast = 1.0 + rng.uniform(-1.0, 1.0) * p
    gamma = float(np.exp(rng.uniform(-1.0, 1.0) * p))
    noise = rng.uniform(0.0, params.tta_noise_sigma)
    blur = int(rng.choice([3, 5])) if rng.uniform() < params.tta_blur_prob else 0
    noise_seed = int(rng.integers(0, 2**31 - 1))
    if symmetric:
        angle, shift[0], noise = 0.0, 0.0, 0.0
    m = cv2.getRotationMatrix2D(centre, float(angle), float(scale))
    m[:, 2] += shift
    return Augmentation(
        matrix=m,
        scale=float(scale),
        brightness=float(brightness),
        contrast=float(contrast),
        gamma=gamma,
        noise_sigma=float(noise),
        blur_ksize=blur,
        noise_seed=noise_seed,
    )


def make_augmentations(params: LandmarkParams, width: int, height: int, seed: int | None = None) -> list[Augmentation]:
    """A mirror-closed set of ``closed_copy_count(tta_copies, tta_flip)`` augmentations.

    Copy 0 is the identity. Group ``g = 1, 2, ...`` draws one augmentation ``A`` from
    ``numpy.random.default_rng([seed, g])``: rotation ~ U(±tta_rotation_deg) degrees
    about the image centre, scale ~ 1 + U(±tta_scale), shift ~ U(±tta_shift_frac) ×
    (width, height) pixels, brightness ~ U(±tta_photometric) × 64 grey levels, contrast
    ~ 1 + U(±tta_photometric), gamma ~ exp(U(±tta_photometric)), noise sigma ~ U(0,
    tta_noise_sigma) grey levels (a seeded field), a 3x3 or 5x5 Gaussian blur with
    probability ``tta_blur_prob``.

    With ``tta_flip``: ``[I, F]`` then groups ``[A, F A F, A F, F A]``
    (:meth:`Augmentation.mirror_conjugate`, :meth:`Augmentation.input_flipped`); when
    two copies remain, a pair ``[B, B F]`` whose ``B`` has no rotation, x-shift or
    noise (so ``F B F = B``). Without ``tta_flip``: ``[I]`` then pairs
    ``[A, F A F]``; when one copy remains, a single such ``B``. Either way the set is
    closed under ``s -> F s F``, and with ``tta_flip`` also under ``s -> s F`` (which
    makes :func:`run_tta` exactly mirror-equivariant).

    Parameters
    ----------
    params : LandmarkParams
    width, height : int
        Image size, pixels (the frame or face crop the copies are rendered from).
    seed : int, optional
        Defaults to ``params.tta_seed``; pass e.g. ``hash((tta_seed, frame))`` to vary
        augmentations between frames while staying deterministic.

    Returns
    -------
    list of Augmentation, length ``closed_copy_count(params.tta_copies, params.tta_flip)``
    """
    seed = params.tta_seed if seed is None else int(seed)
    n = closed_copy_count(params.tta_copies, params.tta_flip)
    flip = bool(params.tta_flip)
    augs = [Augmentation()]
    if n >= 2 and flip:
        augs.append(Augmentation(flip=True))
    g = 0
    while len(augs) < n:
        g += 1
        rng = np.random.default_rng([abs(seed), g])
        room = n - len(augs)
        full = 4 if flip else 2
        a = _draw(params, width, height, rng, symmetric=room < full)
        if room < full:
            group = [a, a.input_flipped()] if flip else [a]
        else:
            c = a.mirror_conjugate(width)
            group = [a, c, a.input_flipped(), c.input_flipped()] if flip else [a, c]
        augs.extend(group)
    return augs


def resize_mirror_symmetric(img: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    """``cv2.resize`` made exactly mirror-equivariant.

    ``cv2.resize`` of a mirrored image differs from the mirrored resize by one grey
    level at a few pixels (fixed-point weights, ~1e-5 of the pixels measured on a
    3264 px photo); the average (rounded half up) of ``resize(img)`` and
    ``flip(resize(flip(img)))`` is symmetric in the two, so
    ``resize_mirror_symmetric(flip(img)) == flip(resize_mirror_symmetric(img))``
    bit for bit.

    Parameters
    ----------
    img : ndarray, shape (H, W, C), uint8
    size : (width, height)
        Output size, pixels (``cv2.resize`` order).
    interpolation : int
        ``cv2.INTER_*`` flag.

    Returns
    -------
    ndarray, shape (height, width, C), uint8, C-contiguous
    """
    a = cv2.resize(img, size, interpolation=interpolation)
    b = cv2.flip(cv2.resize(cv2.flip(img, 1), size, interpolation=interpolation), 1)
    if np.array_equal(a, b):
        return np.ascontiguousarray(a)
    out = (a.astype(np.uint16) + b.astype(np.uint16) + 1) >> 1
    return np.ascontiguousarray(out.astype(np.uint8))


def _symmetric_face_crop(rgb: np.ndarray, ref: np.ndarray, margin: float, out_side: int):
    """Face crop (canvas, CropMap) whose square for the mirrored frame is the mirrored square.

    As :func:`~palsyflow.landmarks.crop.square_crop` with
    :func:`~palsyflow.landmarks.crop.face_square`, but the crop's left
    pixel column is rounded to nearest (``rint`` is odd-symmetric) so that ``x0`` maps
    to ``W - side - x0`` under mirroring, and the resize is
    :func:`resize_mirror_symmetric`. Border: replicate.
    """
    h, w = rgb.shape[:2]
    cx, cy, side = face_square(ref, margin)
    side_i = max(1, int(round(side)))
    x0 = int(np.rint(cx - (side_i - 1) / 2.0))
    y0 = int(np.floor(cy - side_i / 2.0 + 0.5))
    x1, y1 = x0 + side_i, y0 + side_i
    pad = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))
    patch = rgb[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
    if any(pad):
        if patch.size == 0:
            patch = np.zeros((side_i, side_i, 3), np.uint8)
        else:
            patch = cv2.copyMakeBorder(patch, *pad, cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if out_side < side_i else cv2.INTER_CUBIC
    canvas = resize_mirror_symmetric(patch, (int(out_side), int(out_side)), interp)
    return canvas, CropMap(x0, y0, side_i, out_side / side_i)


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
        if aug.noise_mirror:
            noise = cv2.flip(noise, 1)
        out = cv2.add(out, noise, dtype=cv2.CV_8U)  # saturating add
    return np.ascontiguousarray(out)


def points_to_original(points: np.ndarray, aug: Augmentation, width: int, scheme: Scheme | None = None) -> np.ndarray:
    """Map landmarks detected on an augmented copy back into the original frame.

    The inverse affine of ``aug`` first, then, for a mirrored copy, the scheme's mirror
    (x mirrored about the image centre and left/right indices swapped).

    Parameters
    ----------
    points : ndarray, shape (..., n_points, 3), augmented-copy pixels
    aug : Augmentation
    width : int
        Original image width, pixels (for un-mirroring).
    scheme : Scheme, optional
        The landmark scheme; default: the one with ``n_points`` points
        (:func:`~palsyflow.landmarks.schemes.scheme_for_points`).

    Returns
    -------
    ndarray, shape (..., n_points, 3), original-frame pixels, indices of the original
    face (z divided by the augmentation scale).

    Raises
    ------
    ValueError
        If ``aug`` mirrors and no scheme has ``n_points`` points.
    """
    inv = cv2.invertAffineTransform(np.asarray(aug.matrix, dtype=np.float64))
    out = np.array(points, dtype=np.float64, copy=True)
    xy = out[..., :2].copy()
    out[..., 0] = inv[0, 0] * xy[..., 0] + inv[0, 1] * xy[..., 1] + inv[0, 2]
    out[..., 1] = inv[1, 0] * xy[..., 0] + inv[1, 1] * xy[..., 1] + inv[1, 2]
    out[..., 2] = out[..., 2] / aug.scale
    if aug.flip:
        out = (scheme or scheme_for_points(out)).mirror(out, width)
    return out


@dataclass(frozen=True)
class _Canvas:
    """An image the copies are rendered from, and the map of its pixels to the frame's."""

    image: np.ndarray
    to_frame: Callable[[np.ndarray], np.ndarray] | None = None  # None: the frame itself

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    def back(self, faces: np.ndarray) -> np.ndarray:
        """Canvas pixels -> frame pixels, shape (n_faces, n_points, 3)."""
        return faces if self.to_frame is None else self.to_frame(faces)


def _downscaled(rgb: np.ndarray, max_side: int) -> _Canvas:
    """The frame downscaled to ``max_side`` (mirror-symmetric resize), or the frame itself."""
    full_h, full_w = rgb.shape[:2]
    if max(full_h, full_w) <= max_side:
        return _Canvas(rgb)
    # augment at detection resolution (the detector would downscale anyway)
    s = max_side / max(full_h, full_w)
    small = resize_mirror_symmetric(rgb, (max(1, round(full_w * s)), max(1, round(full_h * s))), cv2.INTER_AREA)
    sx, sy = full_w / small.shape[1], full_h / small.shape[0]
    if (sx, sy) == (1.0, 1.0):
        return _Canvas(small)

    def to_frame(faces: np.ndarray) -> np.ndarray:
        out = np.array(faces, dtype=np.float64, copy=True)
        out[..., 0] = (out[..., 0] + 0.5) * sx - 0.5
        out[..., 1] = (out[..., 1] + 0.5) * sy - 0.5
        out[..., 2] *= sx
        return out

    return _Canvas(small, to_frame)


def _crop_canvas(canvas: np.ndarray, crop: CropMap) -> _Canvas:
    return _Canvas(canvas, crop.to_frame)


def run_tta(
    rgb: np.ndarray,
    detector: Landmarker,
    params: LandmarkParams,
    seed: int | None = None,
    augmentations: list[Augmentation] | None = None,
    copy0: Detection | None = None,
) -> TTAResult:
    """Detect landmarks on a mirror-closed set of augmented copies of ``rgb`` and combine them.

    Any backend and scheme: the scheme (point count, mirror pairs, inter-ocular
    distance) is ``detector.scheme``, the layout of the copies ``detector.tta_layout``.

    Copy 0 is the unaugmented frame (``copy0`` when given, else ``detector.detect``) and,
    with ``params.tta_flip``, copy 1 is the mirrored frame; both are detected on the
    "anchor" image: the full-resolution frame in the ``"face_crop"`` layout, the frame
    downscaled to ``params.detect_max_side`` in the ``"downscaled_frame"`` layout. The
    remaining copies (:func:`make_augmentations`) are rendered:

    * in the ``"face_crop"`` layout with ``params.tta_crop_side > 0`` (default) and a
      face in copy 0 or 1, from a square face crop resized to ``tta_crop_side`` pixels
      (rotations and flips then act about the face, and the per-copy image work no
      longer grows with the frame size). The crop is centred on the mean of copy 0's
      face and copy 1's face mapped back (a mirror-equivariant reference), with
      ``params.tta_crop_margin``;
    * otherwise, from the whole frame, first downscaled to ``params.detect_max_side``
      when larger (:func:`resize_mirror_symmetric`).

    All copies are mapped back to full-resolution pixels. With ``tta_flip``,
    ``run_tta(np.fliplr(rgb))`` equals ``scheme.mirror(run_tta(rgb).points, W)`` up to
    floating-point rounding (~1e-12 px): the detector sees the same images for both
    inputs (see the module docstring). Not exactly when ``copy0`` is given (e.g. a
    VIDEO-mode detection, which differs from the IMAGE-mode detection copy 1 is paired
    with).

    In every copy, the face kept is the one nearest (mean point distance, after mapping
    back) to the reference face (the mean of copies 0 and 1 when both found the same
    face, else the first chosen face), so multi-face images stay on one person; a copy
    whose nearest face is more than half an inter-ocular distance away (mean over
    points) counts as not found.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8, RGB
    detector : Landmarker
        In IMAGE mode (entered ``with`` block).
    params : LandmarkParams
        ``tta_*`` knobs (see :func:`make_augmentations`), ``detect_max_side``.
    seed : int, optional
        Augmentation seed, default ``params.tta_seed``.
    augmentations : list of Augmentation, optional
        Explicit whole-frame copies (overrides ``params``/``seed``); the first should
        be the identity. Geometric-identity copies (with or without flip) without
        photometric change are detected on the anchor image, the others on the
        downscaled frame.
    copy0 : Detection, optional
        An existing detection of the unaugmented image in full-resolution pixels (e.g.
        the VIDEO-mode pass over a key frame), used as copy 0 instead of detecting
        again when the anchor image is the full-resolution frame (ignored otherwise).

    Returns
    -------
    TTAResult
        ``points`` (n_points, 3) and ``spread`` (n_points,) in full-resolution pixels.
    """
    scheme = detector.scheme
    per_copy: list[np.ndarray] = []  # each (n_faces, n_points, 3), full-resolution pixels
    chosen: list[int | None] = []
    small: list[_Canvas] = []  # the downscaled frame, made on first use

    def downscaled() -> _Canvas:
        if not small:
            small.append(_downscaled(rgb, params.detect_max_side))
        return small[0]

    anchor = _Canvas(rgb) if detector.tta_layout == "face_crop" else downscaled()

    def detect_anchor(mirrored: bool, k: int) -> None:
        # identity or pure mirror of the anchor image
        if not mirrored:
            reuse = k == 0 and copy0 is not None and anchor.image is rgb
            det = copy0 if reuse else detector.detect(anchor.image)
            faces = np.asarray(det.faces, dtype=np.float64)
        else:
            det = detector.detect(np.ascontiguousarray(cv2.flip(anchor.image, 1)))
            faces = scheme.mirror(np.asarray(det.faces, dtype=np.float64), anchor.width)
        if det.n_faces:
            faces = anchor.back(faces)
        per_copy.append(faces)
        chosen.append(det.chosen)

    def detect_augmented(canvas: _Canvas, aug: Augmentation) -> None:
        det = detector.detect(apply_augmentation(canvas.image, aug))
        faces = np.asarray(det.faces, dtype=np.float64)
        if det.n_faces:
            faces = canvas.back(points_to_original(faces, aug, canvas.width, scheme))
        per_copy.append(faces)
        chosen.append(det.chosen)

    ref = None
    if augmentations is not None:
        augs = list(augmentations)
        for k, aug in enumerate(augs):
            if np.allclose(aug.matrix, [[1, 0, 0], [0, 1, 0]]) and aug.is_photometric_identity:
                detect_anchor(aug.flip, k)
            else:
                detect_augmented(downscaled(), aug)
    else:
        n_total = closed_copy_count(params.tta_copies, params.tta_flip)
        detect_anchor(False, 0)
        n_full = 1
        if params.tta_flip and n_total >= 2:
            detect_anchor(True, 1)
            n_full = 2
        ref = _mirror_reference(per_copy, chosen, scheme)
        if detector.tta_layout == "face_crop" and params.tta_crop_side > 0 and ref is not None:
            side = int(params.tta_crop_side)
            image, crop = _symmetric_face_crop(rgb, ref, params.tta_crop_margin, side)
            canvas = _crop_canvas(image, crop)
        else:
            canvas = downscaled()
        augs = make_augmentations(params, canvas.image.shape[1], canvas.image.shape[0], seed)
        for aug in augs[n_full:]:
            detect_augmented(canvas, aug)
    n_faces0 = int(per_copy[0].shape[0]) if per_copy else 0

    if ref is None:
        for faces, c in zip(per_copy, chosen, strict=True):
            if c is not None:
                ref = faces[c]
                break
    n_points = scheme.n_points
    if ref is None:
        nan = np.full((n_points, 3), np.nan)
        return TTAResult(nan, np.full(n_points, np.nan), 0, len(augs), n_faces0)

    picked = pick_reference_faces(per_copy, ref, 0.5 * float(scheme.interocular_distance(ref)))
    stack = np.stack(picked)  # (n_found, n_points, 3)
    med = np.median(stack, axis=0)
    if len(picked) >= 2:
        spread = np.median(np.linalg.norm(stack[..., :2] - med[None, :, :2], axis=-1), axis=0)
    else:  # a spread needs two copies
        spread = np.full(n_points, np.nan)
    return TTAResult(med, spread, len(picked), len(augs), n_faces0)


def _mirror_reference(per_copy: list[np.ndarray], chosen: list[int | None], scheme: Scheme) -> np.ndarray | None:
    """Reference face from the full-frame copies: copy 0's chosen face, averaged with the
    pure-mirror copy's (mapped back) when that is the same face (mean point distance
    within half an inter-ocular distance). Swapping the two copies gives the same mean,
    so the reference of a mirrored frame is the mirrored reference. (n_points, 3) or None.
    """
    found = [faces[c] for faces, c in zip(per_copy[:2], chosen[:2], strict=True) if c is not None]
    if not found:
        return None
    if len(found) == 2:
        a, b = found
        iod = 0.5 * (float(scheme.interocular_distance(a)) + float(scheme.interocular_distance(b)))
        if np.linalg.norm(a[:, :2] - b[:, :2], axis=-1).mean() <= 0.5 * iod:
            return 0.5 * (a + b)
    return found[0]


def pick_reference_faces(per_copy: list[np.ndarray], ref: np.ndarray, gate: float) -> list[np.ndarray]:
    """From each TTA copy's faces, the one nearest the reference face, if within ``gate``.

    A copy whose nearest face is far from the reference saw someone else: it is dropped.

    Parameters
    ----------
    per_copy : list of ndarray, each shape (n_faces, n_points, D)
        Faces found in each copy, mapped back to the original frame (pixels).
    ref : ndarray, shape (n_points, D)
        The reference face (copy 0's, or the first copy with a face).
    gate : float
        Largest accepted mean point distance to ``ref``, pixels (half the IOD).

    Returns
    -------
    list of ndarray, each shape (n_points, D)
    """
    picked = []
    for faces in per_copy:
        if faces.shape[0] == 0:
            continue
        d = np.linalg.norm(faces[..., :2] - ref[None, :, :2], axis=-1).mean(axis=1)
        j = int(np.argmin(d))
        if d[j] <= gate:
            picked.append(faces[j])
    return picked
