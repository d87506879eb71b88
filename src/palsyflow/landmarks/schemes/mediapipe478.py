"""The MediaPipe 478-point scheme (face mesh + irises): mirror pairs, named points.

:data:`SCHEME` carries the facts the scheme-independent code uses (point count,
:data:`MP_FLIP`, the eye corners of :func:`interocular_distance`, depth).

How :data:`MP_FLIP` was derived
-------------------------------
Points 0-467 are the vertices of MediaPipe's canonical face mesh, which ships inside
``face_landmarker.task`` (``geometry_pipeline_metadata_landmarks.binarypb``, the
``canonical_mesh`` vertex buffer, 468 vertices × (x, y, z, u, v), centred on the
face's sagittal plane). Mirroring every vertex (x -> -x) and solving a minimum-cost
assignment between the vertices and their mirror images (Hungarian method,
``scipy.optimize.linear_sum_assignment``) gives a permutation with zero residual: the
canonical mesh is exactly symmetric. :func:`derive_mesh_flip` repeats this derivation
from the model file, and a test checks that it reproduces the constant below.

The permutation has a simple closed form, used to build the constant: the 28 points of
:data:`MIDLINE` map to themselves, and the remaining 220 indices below 248, taken in
ascending order, pair one-to-one with 248..467 in ascending order.

Points 468-477 are the two irises appended by the attention-mesh model (not in the
canonical mesh): 468 is the centre of the iris on the image left (the patient's right
eye) and 469-472 its contour; 473 is the other iris centre and 474-477 its contour.
Measured on real frontal detections (GRID clips), both contours run in the same image
order: +1 towards image right (+x), +2 up, +3 towards image left, +4 down
(:data:`IRIS_RING_DIRECTIONS`). Mirroring swaps image right and left, so
469 <-> 476, 470 <-> 475, 471 <-> 474, 472 <-> 477, and 468 <-> 473. The tests check the
whole permutation empirically: detecting on a mirrored image and mapping the points
back with :func:`flip_points` reproduces the detection on the original image.

Pixel convention: :mod:`palsyflow.landmarks.schemes.base`.

MediaPipe Face Mesh / attention mesh: Kartynnik et al. 2019, "Real-time Facial Surface
Geometry from Monocular Video on Mobile GPUs", arXiv:1907.06724; iris points: Ablavatski
et al. 2020, arXiv:2006.11341.
"""

from __future__ import annotations

import numpy as np

from palsyflow.landmarks.schemes.base import Scheme, mirror_points

__all__ = [
    "IRIS_RING_DIRECTIONS",
    "LEFT_EYE_CORNERS",
    "LEFT_IRIS",
    "MIDLINE",
    "MP_FLIP",
    "NAMED",
    "N_MESH",
    "N_POINTS",
    "RIGHT_EYE_CORNERS",
    "RIGHT_IRIS",
    "SCHEME",
    "derive_mesh_flip",
    "eye_centres",
    "flip_points",
    "interocular_distance",
]

N_POINTS = 478
N_MESH = 468

#: Indices on the face's midline (their own mirror image).
MIDLINE: tuple[int, ...] = (
    0, 1, 2, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
    94, 151, 152, 164, 168, 175, 195, 197, 199, 200,
)  # fmt: skip

#: Image-space direction of the iris contour points relative to their centre, in the
#: order MediaPipe emits them (469-472 and 474-477), measured on real detections.
IRIS_RING_DIRECTIONS: tuple[str, ...] = ("image_right", "up", "image_left", "down")


def _build_flip() -> np.ndarray:
    flip = np.arange(N_POINTS, dtype=np.int64)
    mid = set(MIDLINE)
    low = [i for i in range(248) if i not in mid]
    high = list(range(248, N_MESH))
    assert len(low) == len(high) == 220
    flip[low] = high
    flip[high] = low
    # irises: centre <-> centre, contour matched by mirrored direction
    mirrored = {"image_right": "image_left", "image_left": "image_right", "up": "up", "down": "down"}
    for a, b in ((468, 473), (473, 468)):
        flip[a] = b
        for k, d in enumerate(IRIS_RING_DIRECTIONS):
            flip[a + 1 + k] = b + 1 + IRIS_RING_DIRECTIONS.index(mirrored[d])
    flip.setflags(write=False)
    return flip


#: ``MP_FLIP[i]`` is the index of the point that is the mirror image of point ``i``;
#: shape (478,), int64. An involution: ``MP_FLIP[MP_FLIP] == arange(478)``.
MP_FLIP: np.ndarray = _build_flip()

#: Key points, sides are the PATIENT's (patient's right = image left in an unmirrored
#: frontal image; checked on real images in the tests).
NAMED: dict[str, int] = {
    "right_eye_outer": 33,
    "right_eye_inner": 133,
    "left_eye_inner": 362,
    "left_eye_outer": 263,
    "right_eye_upper_lid": 159,
    "right_eye_lower_lid": 145,
    "left_eye_upper_lid": 386,
    "left_eye_lower_lid": 374,
    "right_iris_center": 468,
    "left_iris_center": 473,
    "right_brow_inner": 107,
    "right_brow_outer": 70,
    "left_brow_inner": 336,
    "left_brow_outer": 300,
    "right_mouth_corner": 61,
    "left_mouth_corner": 291,
    "upper_lip_center": 13,
    "lower_lip_center": 14,
    "upper_lip_top": 0,
    "lower_lip_bottom": 17,
    "nose_tip": 1,
    "nasion": 168,
    "chin": 152,
    "forehead": 10,
    "right_alar": 129,
    "left_alar": 358,
}

#: Iris contour indices (4 points each), patient's sides.
RIGHT_IRIS: tuple[int, ...] = (469, 470, 471, 472)
LEFT_IRIS: tuple[int, ...] = (474, 475, 476, 477)

#: Eye corners used for eye centres (robust to closed eyes, unlike the iris).
RIGHT_EYE_CORNERS: tuple[int, int] = (33, 133)
LEFT_EYE_CORNERS: tuple[int, int] = (263, 362)


#: The scheme object (:class:`~palsyflow.landmarks.schemes.base.Scheme`).
SCHEME = Scheme(
    name="mediapipe478",
    n_points=N_POINTS,
    flip=MP_FLIP,
    right_eye_corners=RIGHT_EYE_CORNERS,
    left_eye_corners=LEFT_EYE_CORNERS,
    has_depth=True,
)


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eye centres as the midpoints of each eye's two corners (:meth:`Scheme.eye_centres`).

    Parameters
    ----------
    points : ndarray, shape (..., 478, D), pixels, x right y down (D >= 2)

    Returns
    -------
    right, left : ndarray, shape (..., 2)
        The patient's right and left eye centres (x, y), pixels.
    """
    return SCHEME.eye_centres(points)


def interocular_distance(points: np.ndarray) -> np.ndarray:
    """Inter-ocular distance (between the eye-corner midpoints), pixels.

    Parameters
    ----------
    points : ndarray, shape (..., 478, D), pixels

    Returns
    -------
    ndarray, shape (...)
        NaN where the points are NaN.
    """
    return SCHEME.interocular_distance(points)


def flip_points(points: np.ndarray, width: int) -> np.ndarray:
    """Mirror landmarks horizontally and re-index them so they stay a valid face.

    ``flip_points(detect(img), W)`` approximates ``detect(cv2.flip(img, 1))``: x is
    mirrored about the image's vertical centre line, ``x' = width - 1 - x`` (pixel
    centres at integer coordinates, as ``cv2.flip``), y and z are unchanged, and point
    ``i`` of the result is the mirror of point ``MP_FLIP[i]`` of the input (so index 33
    remains the outer corner of the eye on the image left). Applying it twice returns
    the input.

    Parameters
    ----------
    points : ndarray, shape (..., 478, D), pixels, x right y down; D >= 1 with x first
    width : int
        Image width in pixels.

    Returns
    -------
    ndarray, same shape and dtype as ``points`` (a new array)

    Raises
    ------
    ValueError
        If the point axis is not 478 long.
    """
    return mirror_points(points, width, MP_FLIP)


def derive_mesh_flip(model_path) -> tuple[np.ndarray, float]:
    """Re-derive the mirror permutation of points 0-467 from the model's canonical mesh.

    Reads the canonical mesh from ``geometry_pipeline_metadata_landmarks.binarypb``
    inside the ``.task`` bundle (a protobuf ``GeometryPipelineMetadata``; field 1 is
    ``canonical_mesh``, whose field 3 is the float vertex buffer of (x, y, z, u, v)
    per vertex), mirrors x and solves the assignment.

    Parameters
    ----------
    model_path : path-like
        ``face_landmarker.task``.

    Returns
    -------
    flip : ndarray, shape (468,), int
    residual : float
        Largest distance between a mirrored vertex and its partner (canonical units, cm).

    Raises
    ------
    ValueError
        If the bundle does not contain a 468-vertex canonical mesh.
    """
    import struct
    import zipfile

    from scipy.optimize import linear_sum_assignment

    with zipfile.ZipFile(model_path) as zf:
        blob = zf.read("geometry_pipeline_metadata_landmarks.binarypb")

    def varint(b: bytes, i: int) -> tuple[int, int]:
        out = shift = 0
        while True:
            c = b[i]
            i += 1
            out |= (c & 0x7F) << shift
            shift += 7
            if c < 0x80:
                return out, i

    def fields(b: bytes):
        i = 0
        while i < len(b):
            key, i = varint(b, i)
            num, wire = key >> 3, key & 7
            if wire == 0:
                val, i = varint(b, i)
            elif wire == 1:
                val, i = b[i : i + 8], i + 8
            elif wire == 5:
                val, i = b[i : i + 4], i + 4
            elif wire == 2:
                n, i = varint(b, i)
                val, i = b[i : i + n], i + n
            else:
                raise ValueError(f"unsupported protobuf wire type {wire}")
            yield num, wire, val

    mesh = next((v for f, w, v in fields(blob) if f == 1 and w == 2), None)
    if mesh is None:
        raise ValueError(f"{model_path}: no canonical mesh in geometry metadata")
    floats: list[float] = []
    for f, w, v in fields(mesh):
        if f == 3:
            floats.extend(struct.unpack(f"<{len(v) // 4}f", v))
    arr = np.asarray(floats, dtype=np.float64)
    if arr.size != N_MESH * 5:
        raise ValueError(f"{model_path}: canonical mesh has {arr.size / 5:g} vertices, expected {N_MESH}")
    verts = arr.reshape(N_MESH, 5)[:, :3]
    mirrored = verts * np.array([-1.0, 1.0, 1.0])
    cost = np.linalg.norm(verts[:, None, :] - mirrored[None, :, :], axis=-1)
    rows, cols = linear_sum_assignment(cost)
    return cols[np.argsort(rows)], float(cost[rows, cols].max())
