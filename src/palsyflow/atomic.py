"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

_CHUNK = 1 << 20


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The process umask (read once, on the first write; reading it means setting it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    The temporary file lives in the same directory so the final ``os.replace`` is
    atomic on POSIX file systems. On an exception the temporary file is removed and
    ``target`` is untouched.

    Parameters
    ----------
    target : path-like
        Final location. Parent directories are created.

    Yields
    ------
    pathlib.Path
        Where to write.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_open(target: Path | str, mode: str = "wb") -> Iterator[IO]:
    """Open a file for writing that appears at ``target`` only once closed successfully."""
    with atomic_path(target) as tmp, open(tmp, mode) as fh:
        yield fh


def atomic_write_bytes(target: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically and return ``target``."""
    with atomic_open(target, "wb") as fh:
        fh.write(data)
    return Path(target)


def atomic_write_text(target: Path | str, text: str) -> Path:
    """Write UTF-8 ``text`` to ``target`` atomically and return ``target``."""
    return atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_parquet(df, target: Path | str, **kwargs) -> Path:
    """Write a polars DataFrame to parquet atomically (zstd by default)."""
    kwargs.setdefault("compression", "zstd")
    with atomic_path(target) as tmp:
        df.write_parquet(tmp, **kwargs)
    return Path(target)


def atomic_copy(src: Path | str, target: Path | str) -> Path:
    """Copy ``src`` to ``target`` atomically, preserving the modification time."""
    with atomic_path(target) as tmp:
        shutil.copy2(src, tmp)
    return Path(target)


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()
