"""Keyed pseudonyms of identifying values: uploaded file names and visit dates.

An uploaded file's name may carry a patient's name, birth date or record number
(``Smith_John_DOB1970-01-01_MRN4711.mpg``). palsyflow keeps it only as a keyed hash
(:func:`keyed_name`): HMAC-SHA256 (RFC 2104, doi:10.17487/RFC2104; SHA-256 per FIPS 180-4)
under a per-installation secret, plus the file's extension. Without the secret the hash
cannot be reversed by trying likely names; with it, the same name always gives the same
pseudonym, so a re-upload of the same file is recognised.

Exports shift each subject's dates by a secret number of days (:func:`date_shift_days`,
the BIDS recommendation for de-identified dates): every date of one subject moves by
the same offset, so intervals between visits are kept.

The secret comes from the environment variable :data:`SECRET_ENV` when set, else from a
key file created once at first use with mode 0600 (:func:`load_or_create_secret`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePath

#: Environment variable holding the installation secret (overrides the key file).
SECRET_ENV = "PALSYFLOW_SECRET"

#: Prefix of a keyed file-name pseudonym (``f-<24 hex>.<ext>``).
NAME_PREFIX = "f-"

#: Hex digits of the HMAC kept in a name pseudonym (96 bits).
NAME_HEX = 24

#: Largest date shift in days, either way.
MAX_SHIFT_DAYS = 365


def _key(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(key) < 16:
        raise ValueError("the installation secret is shorter than 16 bytes; set a longer PALSYFLOW_SECRET")
    return key


def keyed_name(secret: str | bytes, name: str | PurePath) -> str:
    """The pseudonym of an uploaded file's name: ``f-<HMAC-SHA256 hex prefix>`` plus the extension.

    Parameters
    ----------
    secret : str or bytes
        The installation secret (at least 16 bytes).
    name : str or path-like
        The name as uploaded, or its path relative to the drop; only the final
        component is hashed, so the same file keeps its pseudonym when a drop is
        reorganised into folders.

    Returns
    -------
    str
        ``f-`` + :data:`NAME_HEX` lower-case hex digits + the lower-cased extension
        (``f-3a9c...e1.mpg``); a name that already is a pseudonym is returned as is.

    Raises
    ------
    ValueError
        If ``secret`` is too short.
    """
    base = PurePath(str(name)).name
    if is_keyed_name(base):
        return base
    digest = hmac.new(_key(secret), b"name\x00" + base.encode("utf-8"), hashlib.sha256).hexdigest()
    suffix = PurePath(base).suffix.lower()
    if not suffix[1:].isalnum() or len(suffix) > 9:
        suffix = ""
    return f"{NAME_PREFIX}{digest[:NAME_HEX]}{suffix}"


def is_keyed_name(name: str) -> bool:
    """Whether ``name`` has the form :func:`keyed_name` returns."""
    stem = PurePath(name).stem if "." in name else name
    hexpart = stem[len(NAME_PREFIX) :]
    return stem.startswith(NAME_PREFIX) and len(hexpart) == NAME_HEX and all(c in "0123456789abcdef" for c in hexpart)


def date_shift_days(secret: str | bytes, site: str, subject: str) -> int:
    """A subject's secret date offset for exports, in days, never zero.

    Every date of one subject is shifted by the same offset, so intervals between its
    sessions are kept; different subjects get independent offsets. The offset is
    HMAC-SHA256 of ``site`` and ``subject`` under the secret, mapped to
    ``[-MAX_SHIFT_DAYS, -1] U [1, MAX_SHIFT_DAYS]``.

    Parameters
    ----------
    secret : str or bytes
        The installation secret.
    site, subject : str
        Site and subject labels.

    Returns
    -------
    int
        Days to add to each of the subject's dates.
    """
    digest = hmac.new(_key(secret), f"shift\x00{site}\x00{subject}".encode(), hashlib.sha256).digest()
    n = int.from_bytes(digest[:8], "big") % (2 * MAX_SHIFT_DAYS)
    return n - MAX_SHIFT_DAYS if n < MAX_SHIFT_DAYS else n - MAX_SHIFT_DAYS + 1


def shift_date(day: dt.date, days: int) -> dt.date:
    """``day`` moved by ``days`` (a :func:`date_shift_days` offset)."""
    return day + dt.timedelta(days=days)


def shift_label(label: str, days: int) -> str | None:
    """A ``YYYYMMDD`` session label moved by ``days`` (:func:`shift_date`).

    Parameters
    ----------
    label : str
        A stored session label.
    days : int
        A :func:`date_shift_days` offset.

    Returns
    -------
    str or None
        The shifted ``YYYYMMDD`` label; None when ``label`` is not such a date.
    """
    try:
        day = dt.datetime.strptime(label, "%Y%m%d").date()
    except ValueError:
        return None
    return shift_date(day, days).strftime("%Y%m%d")


def load_or_create_secret(path: Path | str, env: Mapping[str, str] = os.environ) -> str:
    """The installation secret: ``PALSYFLOW_SECRET`` if set, else the key file, created once.

    The key file holds 64 random hex characters (:func:`secrets.token_hex`) and is created
    exclusively (``O_EXCL``) with mode 0600, so two processes starting at once agree on
    one key. An existing key file readable by others is refused.

    Parameters
    ----------
    path : path-like
        The key file (its folder is created).
    env : mapping, optional
        Environment.

    Returns
    -------
    str

    Raises
    ------
    PermissionError
        If the key file is readable or writable by group or others.
    ValueError
        If the secret is shorter than 16 bytes.
    """
    given = (env.get(SECRET_ENV) or "").strip()
    if given:
        _key(given)
        return given
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise PermissionError(f"{path}: the installation secret must be readable by its owner only (chmod 600 {path})")
    text = path.read_text().strip()
    if not text:  # a racing creator has not written yet
        import time

        for _ in range(50):
            time.sleep(0.02)
            text = path.read_text().strip()
            if text:
                break
    _key(text)
    return text


def scrub_names(text: str, names: Iterable[str], secret: str | bytes) -> str:
    """``text`` with every mention of one of ``names`` replaced by its :func:`keyed_name`.

    Refusal sentences name the file they refuse (``manifest.csv line 4: Smith_J.mpg:
    ...``); before such a sentence is stored, logged or shown, the uploaded names in it
    become their pseudonyms (``manifest.csv line 4: f-9c1e....mpg: ...``). Longer names
    are replaced first, so a name containing another is replaced whole, and all in one
    pass: a pseudonym just written is never searched again (``f-...b.mpg`` holds
    ``b.mpg``). A name counts only where it is not the tail of a longer word
    (``N01.mpg`` inside ``visit1_N01.mpg`` is another file's name).

    Parameters
    ----------
    text : str
    names : iterable of str
        File names (final components) that may occur in ``text``; empty names and
        names without an extension are ignored (too likely to match ordinary words).
    secret : str or bytes

    Returns
    -------
    str
    """
    wanted = sorted({n for n in names if n and "." in n.strip(".")}, key=len, reverse=True)
    wanted = [n for n in wanted if n in text]
    if not wanted:
        return text
    pattern = re.compile(r"(?<![\w.\-])(?:" + "|".join(re.escape(n) for n in wanted) + r")(?![\w\-])")
    return pattern.sub(lambda m: keyed_name(secret, m.group(0)), text)
