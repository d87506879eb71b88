"""Every file name palsyflow writes, built from BIDS-like entities.

Nobody concatenates path strings elsewhere: the raw tree, the derivatives and the
reports are all addressed through :class:`RecordingPath` and :class:`Layout`.

Raw tree (immutable once written)::

    raw/site-<s>/sub-<id>/ses-<date>/beh/sub-<id>_ses-<date>_task-<task>_<kind>.<ext>

Derivatives mirror it::

    derivatives/landmarks/site-<s>/sub-<id>/ses-<date>/sub-<id>_ses-<date>_task-<task>_landmarks.parquet
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

_LABEL = re.compile(r"^[A-Za-z0-9]+$")


class InvalidLabelError(ValueError):
    """An entity label is not alphanumeric."""


def to_label(value: str) -> str:
    """Make an alphanumeric BIDS label from free text (``"P-01"`` -> ``"P01"``).

    Raises
    ------
    InvalidLabelError
        If nothing alphanumeric remains.
    """
    label = re.sub(r"[^A-Za-z0-9]", "", str(value))
    if not label:
        raise InvalidLabelError(f"{value!r} has no alphanumeric characters to make a label from")
    return label


def check_label(entity: str, value: str) -> str:
    """Return ``value`` if it is a valid label for ``entity``, else raise InvalidLabelError."""
    if not _LABEL.match(value or ""):
        raise InvalidLabelError(f"{entity} label {value!r} must be alphanumeric (A-Z, a-z, 0-9)")
    return value


@dataclass(frozen=True)
class RecordingPath:
    """Entities that name one recording, and every file derived from it.

    Parameters
    ----------
    site, subject, session, task : str
        Alphanumeric labels (session is the date, ``YYYYMMDD``).
    kind : str
        BIDS-like suffix of the raw file: ``video``, ``audio`` or ``photo``.
    extension : str
        Raw file extension including the dot, lower case (``.mpg``).
    """

    site: str
    subject: str
    session: str
    task: str
    kind: str = "video"
    extension: str = ".mp4"

    def __post_init__(self) -> None:
        for entity in ("site", "subject", "session", "task"):
            check_label(entity, getattr(self, entity))
        check_label("kind", self.kind)

    # names ---------------------------------------------------------------
    @property
    def stem(self) -> str:
        """``sub-<id>_ses-<date>_task-<task>``."""
        return f"sub-{self.subject}_ses-{self.session}_task-{self.task}"

    @property
    def key(self) -> str:
        """Unique, stable key across sites: ``site-<s>_sub-<id>_ses-<date>_task-<task>``."""
        return f"site-{self.site}_{self.stem}"

    @property
    def session_dir(self) -> Path:
        """Relative ``site-<s>/sub-<id>/ses-<date>``."""
        return Path(f"site-{self.site}", f"sub-{self.subject}", f"ses-{self.session}")

    def raw(self, root: Path) -> Path:
        """Raw file path under the raw root."""
        return root / self.session_dir / "beh" / f"{self.stem}_{self.kind}{self.extension}"

    def derivative(self, root: Path, suffix: str, extension: str = ".parquet") -> Path:
        """A derived file, e.g. ``derivative(lm_root, "landmarks")``."""
        return root / self.session_dir / f"{self.stem}_{suffix}{extension}"

    def with_(self, **changes) -> RecordingPath:
        """A copy with some entities changed."""
        return replace(self, **changes)

    @classmethod
    def from_key(cls, key: str, kind: str = "video", extension: str = ".mp4") -> RecordingPath:
        """Parse :attr:`key` back into entities.

        Raises
        ------
        ValueError
            If ``key`` is not of the form ``site-X_sub-Y_ses-Z_task-T``.
        """
        m = re.fullmatch(r"site-([A-Za-z0-9]+)_sub-([A-Za-z0-9]+)_ses-([A-Za-z0-9]+)_task-([A-Za-z0-9]+)", key)
        if not m:
            raise ValueError(f"not a recording key: {key!r}")
        return cls(*m.groups(), kind=kind, extension=extension)


@dataclass(frozen=True)
class Layout:
    """Where each kind of data lives, relative to a data root (``params.paths``)."""

    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def landmarks(self) -> Path:
        return self.root / "derivatives" / "landmarks"

    @property
    def features(self) -> Path:
        return self.root / "features"

    @property
    def validated(self) -> Path:
        return self.root / "validated"

    @property
    def scores(self) -> Path:
        return self.root / "scores"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def session_report(self, site: str, subject: str, session: str) -> Path:
        """PDF path for one session: pseudonymous IDs only."""
        return self.reports / f"site-{site}" / f"sub-{subject}" / f"site-{site}_sub-{subject}_ses-{session}_report.pdf"
