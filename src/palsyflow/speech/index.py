"""The dysarthria index (0-100): a screening composite of speech measures' deviations from healthy speakers.

Each valid component ``x`` (a registry measure, e.g. ``speech_articulation_rate_syl_s``)
is expressed as its deviation from the healthy reference
(:mod:`palsyflow.speech.reference`) **in the direction of impairment only**::

    z = (x - mean) / sd            if the reference says higher_is_worse
    z = (mean - x) / sd            if lower_is_worse
    s = clip((z - z_free) / (z_max - z_free), 0, 1)      per-component severity
    index = 100 * mean(s over the valid components)

so a value on the healthy side of the mean (or within ``z_free`` SD of it) adds
nothing, and a deviation of ``z_max`` SD or more counts fully. The combination is an
unweighted mean: a choice of this project, not an established weighting (no
validated weighting of these acoustic components against perceptual dysarthria
severity is known to us); the standard score is the usual normative comparison.
A component is *valid* when it is not None,
finite and has a reference with ``sd > 0``; the index is None when fewer than
``min_valid`` components are valid, and :class:`IndexResult` names the components
used and those missing.

The index is a screening summary of how far a speaker's measures lie from healthy
speakers'; it is **not a diagnosis** and does not tell the kind of dysarthria.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from palsyflow.speech.reference import HEALTHY_REFERENCE, Ref

__all__ = ["INDEX_KEYS", "Z_MAX", "Z_FREE", "MIN_VALID", "IndexResult", "component_severity", "dysarthria_index", "dysarthria_index_detail"]

#: The measure this module returns (registry name).
INDEX_KEYS: tuple[str, ...] = ("speech_dysarthria_index",)

#: Deviation (SD, impairment direction) at which a component counts fully.
Z_MAX = 4.0
#: Deviation (SD) up to which a component counts as healthy.
Z_FREE = 0.0
#: Fewest valid components for an index.
MIN_VALID = 3


@dataclass(frozen=True)
class IndexResult:
    """The index and what it rests on.

    Attributes
    ----------
    value : float or None
        Dysarthria index, 0 (as healthy) to 100; None when too few components are valid.
    used : tuple of str
        Components that entered the index.
    missing : tuple of str
        Components given but not valid (None, NaN, or no usable reference).
    severity : dict
        Per used component: ``s`` in [0, 1].
    z : dict
        Per used component: the signed deviation (positive = toward impairment), SD.
    reference_kind : dict
        Per used component: ``"literature"`` or ``"measured"``.
    """

    value: float | None
    used: tuple[str, ...]
    missing: tuple[str, ...]
    severity: dict[str, float] = field(default_factory=dict)
    z: dict[str, float] = field(default_factory=dict)
    reference_kind: dict[str, str] = field(default_factory=dict)


def component_severity(x: float, ref: Ref, *, z_max: float = Z_MAX, z_free: float = Z_FREE) -> tuple[float, float]:
    """Signed deviation and severity of one component.

    Parameters
    ----------
    x : float
        The measured value, in the reference's unit.
    ref : Ref
        Its healthy reference (``sd > 0``).
    z_max, z_free : float
        See the module docstring (``z_max > z_free >= 0``).

    Returns
    -------
    (z, s) : tuple of float
        ``z`` in SD, positive toward impairment; ``s`` in [0, 1].

    Raises
    ------
    ValueError
        If ``ref.sd <= 0`` or ``z_max <= z_free`` or ``z_free < 0``.
    """
    if not ref.sd > 0:
        raise ValueError(f"reference sd must be positive, got {ref.sd}")
    if z_free < 0 or z_max <= z_free:
        raise ValueError(f"need z_max > z_free >= 0, got z_max={z_max}, z_free={z_free}")
    sign = 1.0 if ref.direction == "higher_is_worse" else -1.0
    z = sign * (float(x) - ref.mean) / ref.sd
    s = min(max((z - z_free) / (z_max - z_free), 0.0), 1.0)
    return z, s


def dysarthria_index_detail(
    components: Mapping[str, float | None],
    reference: Mapping[str, Ref] = HEALTHY_REFERENCE,
    *,
    min_valid: int = MIN_VALID,
    z_max: float = Z_MAX,
    z_free: float = Z_FREE,
) -> IndexResult:
    """The dysarthria index with the components it used (see the module docstring).

    Parameters
    ----------
    components : mapping
        Measure name -> value or None (e.g. a session's speech measures). Names
        without a reference are ignored; names with one but no valid value are
        listed in ``missing``.
    reference : mapping
        Healthy reference per component (default :data:`palsyflow.speech.reference.HEALTHY_REFERENCE`).
    min_valid : int
        Fewest valid components for a value (>= 1).
    z_max, z_free : float
        Severity scale, SD.

    Returns
    -------
    IndexResult

    Raises
    ------
    ValueError
        If ``min_valid < 1`` or the severity scale is invalid.
    """
    if min_valid < 1:
        raise ValueError(f"min_valid must be >= 1, got {min_valid}")
    if z_free < 0 or z_max <= z_free:
        raise ValueError(f"need z_max > z_free >= 0, got z_max={z_max}, z_free={z_free}")
    used: list[str] = []
    missing: list[str] = []
    sev: dict[str, float] = {}
    zs: dict[str, float] = {}
    kinds: dict[str, str] = {}
    for name, x in components.items():
        ref = reference.get(name)
        if ref is None:
            continue
        if x is None or not math.isfinite(float(x)) or not ref.sd > 0:
            missing.append(name)
            continue
        z, s = component_severity(float(x), ref, z_max=z_max, z_free=z_free)
        used.append(name)
        sev[name], zs[name], kinds[name] = s, z, ref.kind
    value = 100.0 * sum(sev.values()) / len(sev) if len(used) >= min_valid else None
    return IndexResult(value, tuple(used), tuple(missing), sev, zs, kinds)


def dysarthria_index(
    components: Mapping[str, float | None],
    reference: Mapping[str, Ref] = HEALTHY_REFERENCE,
    *,
    min_valid: int = MIN_VALID,
    z_max: float = Z_MAX,
    z_free: float = Z_FREE,
) -> float | None:
    """Dysarthria index 0-100 (``speech_dysarthria_index``), None when fewer than ``min_valid`` components are valid.

    Same parameters as :func:`dysarthria_index_detail`, which also returns the
    components used; this is its ``value``. Not a diagnosis.
    """
    return dysarthria_index_detail(components, reference, min_valid=min_valid, z_max=z_max, z_free=z_free).value
