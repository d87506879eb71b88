"""Palsy phantom: unilateral weakness of known side and severity on real pixels.

Public API: :func:`simulate_weakness` (a photo or video in, its phantom out, with a
JSON sidecar), :func:`~palsyflow.phantom.warp.weakened_targets` and
:func:`~palsyflow.phantom.warp.warp_frame` (one frame), and
:mod:`palsyflow.phantom.cohort` (the simulated recovering patients of the sample
cohort, ``data/sample/sim``).
"""

from palsyflow.phantom.simulate import PhantomError, PhantomInfo, sidecar_path, simulate_weakness
from palsyflow.phantom.warp import piecewise_affine_map, side_weights, warp_frame, weakened_targets

__all__ = [
    "PhantomError",
    "PhantomInfo",
    "piecewise_affine_map",
    "side_weights",
    "sidecar_path",
    "simulate_weakness",
    "warp_frame",
    "weakened_targets",
]
