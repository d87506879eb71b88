"""Recording and session keys and per-recording file names, built from BIDS-like entities.

:class:`RecordingPath` is the only builder of recording keys (the registry's ``key``
column, the store's messages) and of the file names derived from one recording; nobody
concatenates these strings elsewhere. Where each tree lives (raw, landmarks, feature
caches, reports ...) is named once, in :mod:`palsyflow.stages.catalog`.

Raw tree (immutable once written)::

    raw/site-<s>/sub-<id>/ses-<date>/beh/sub-<id>_ses-<date>_task-<task>_<kind>.<ext>

Derivatives mirror it::

    derivatives/landmarks/site-<s>/sub-<id>/ses-<date>/sub-<id>_ses-<date>_task-<task>_landmarks.parquet

``<task>`` is the alphanumeric label of the protocol task (``brow_raise`` ->
``browraise``, :func:`task_label`), in file names and keys alike. Site, subject and
session labels are validated, never rewritten (:func:`check_label`): a label that is
not already alphanumeric is refused, so ``N-01`` can never become ``N01``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from palsyflow.conventions import TASKS

_LABEL = re.compile(r"^[A-Za-z0-9]+$")

#: The label rule, as refusals state it (BIDS: a label is alphanumeric, case-sensitive).
LABEL_RULE = "only letters A-Z, a-z and digits 0-9 (BIDS label rule)"

#: Protocol task -> its label in file names and keys (``brow_raise`` -> ``browraise``).
#: The one rewriting of a name into a label, and it is fixed: the protocol's own names.
TASK_LABELS: dict[str, str] = {t: t.replace("_", "") for t in TASKS}


class InvalidLabelError(ValueError):
    """An entity label is not alphanumeric (:data:`LABEL_RULE`).

    The message is one sentence naming the entity, the value and the rule, fit to show
    a user as it is (no traceback needed).
    """


def is_label(value: object) -> bool:
    """True when ``value`` is a string that is already a valid label (:data:`LABEL_RULE`)."""
    return isinstance(value, str) and _LABEL.fullmatch(value) is not None


def check_label(entity: str, value: str) -> str:
    """Return ``value`` unchanged if it is a valid label for ``entity``; never rewrite it.

    Parameters
    ----------
    entity : str
        What the label names (``site``, ``subject``, ``session``, ``task``), for the message.
    value : str
        The label.

    Returns
    -------
    str
        ``value`` itself.

    Raises
    ------
    InvalidLabelError
        If ``value`` is not a non-empty string of ASCII letters and digits, e.g.
        ``"subject 'N-01' is not a valid label: only letters A-Z, a-z and digits 0-9
        (BIDS label rule)"``.
    """
    if not is_label(value):
        raise InvalidLabelError(f"{entity} {value!r} is not a valid label: {LABEL_RULE}")
    return value


def task_label(task: str) -> str:
    """Label of a protocol task in file names and keys (``"brow_raise"`` -> ``"browraise"``).

    Parameters
    ----------
    task : str
        A protocol task (:data:`palsyflow.conventions.TASKS`); clinic aliases are
        resolved before, by :func:`palsyflow.ingest.tasks.canonical_task`.

    Returns
    -------
    str
        :data:`TASK_LABELS` ``[task]``.

    Raises
    ------
    InvalidLabelError
        If ``task`` is not a protocol task.
    """
    try:
        return TASK_LABELS[task]
    except (KeyError, TypeError):
        raise InvalidLabelError(f"task {task!r} is not a protocol task ({', '.join(TASKS)})") from None


def session_key(site: str, subject: str, session: str) -> str:
    """Unique, stable key of one session across sites: ``site-<s>_sub-<id>_ses-<date>``.

    Raises
    ------
    InvalidLabelError
        If a label is not alphanumeric.
    """
    for entity, value in (("site", site), ("subject", subject), ("session", session)):
        check_label(entity, value)
    return f"site-{site}_sub-{subject}_ses-{session}"


_KEY = re.compile(r"site-([A-Za-z0-9]+)_sub-([A-Za-z0-9]+)_ses-([A-Za-z0-9]+)_task-([A-Za-z0-9]+)")


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
    def session_key(self) -> str:
        """Key of the recording's session, :func:`session_key`."""
        return session_key(self.site, self.subject, self.session)

    @property
    def key(self) -> str:
        """Unique, stable key across sites: ``site-<s>_sub-<id>_ses-<date>_task-<task>``."""
        return f"{self.session_key}_task-{self.task}"

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
    def from_task(
        cls, site: str, subject: str, session: str, task: str, kind: str = "video", extension: str = ".mp4"
    ) -> RecordingPath:
        """Entities of one recording of protocol task ``task`` (``brow_raise`` becomes ``browraise``).

        Parameters
        ----------
        site, subject, session : str
            Alphanumeric labels.
        task : str
            Protocol task name (:data:`palsyflow.conventions.TASKS`), turned into its
            label by :func:`task_label`.
        kind, extension : str
            As for :class:`RecordingPath`.

        Raises
        ------
        InvalidLabelError
            If a label is not alphanumeric or ``task`` is not a protocol task.
        """
        return cls(site, subject, session, task_label(task), kind=kind, extension=extension)

    @classmethod
    def from_key(cls, key: str, kind: str = "video", extension: str = ".mp4") -> RecordingPath:
        """Parse :attr:`key` back into entities (the task comes back as its label, ``browraise``).

        Every key the registry holds parses: the store builds them through
        :meth:`from_task` (``RecordingPath.from_key(rp.key) == rp`` for the default
        ``kind`` and ``extension``).

        Raises
        ------
        ValueError
            If ``key`` is not of the form ``site-X_sub-Y_ses-Z_task-T`` with
            alphanumeric labels.
        """
        m = _KEY.fullmatch(key)
        if not m:
            raise ValueError(f"not a recording key: {key!r}")
        return cls(*m.groups(), kind=kind, extension=extension)
