"""The bad-input corpus: kinds of upload a clinic really sends, each built from real files.

Each area of ingest contributes a module ``tests/corpus/kinds_<area>.py`` with a list
``KINDS`` of :class:`Kind`. ``tests/e2e/test_bad_input_corpus.py`` builds one drop from
all of them (one site; kinds whose manifest must be unreadable get a drop of their own),
runs the pipeline like ``make demo`` and checks, per kind, that every bad item is refused
with a reason naming its file, its manifest line and the rule, that every good item is
measured, and that ``palsyflow status --json`` lists each refusal once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Sources:
    """Real files to build corpus items from (all under ``../shared/data``).

    Attributes
    ----------
    shared : Path
        ``../shared/data``.
    video : Path
        A GRID talking-face clip (MPEG-1, 360x288, 25 fps, 3 s, with audio).
    other_videos : tuple of Path
        The other GRID clips (distinct content, for distinct good items).
    wav : Path
        The same clip's audio as WAV (16-bit PCM).
    photo : Path
        A frontal 640x480 webcam PNG of a healthy volunteer at rest.
    photo_exif : Path
        A phone JPEG of the same protocol stored sideways with an EXIF orientation tag.
    multi_face : Path
        A photo with several people.
    noise_wav : Path
        A recording of noise only.
    """

    shared: Path
    video: Path
    other_videos: tuple[Path, ...]
    wav: Path
    photo: Path
    photo_exif: Path
    multi_face: Path
    noise_wav: Path

    @classmethod
    def from_shared(cls, shared: Path) -> Sources:
        grid = shared / "talking-faces" / "grid"
        clips = sorted(grid.glob("*.mpg"))
        app = shared / "healthy-tasks" / "app_uploads"
        subject = sorted(p for p in app.iterdir() if p.is_dir())[0]
        return cls(
            shared=shared,
            video=clips[0],
            other_videos=tuple(clips[1:]),
            wav=grid / "audio_extracted" / f"{clips[0].stem}.wav",
            photo=next(p for p in sorted(subject.iterdir()) if p.name.startswith("at-rest-0")),
            photo_exif=next(p for p in sorted(subject.iterdir()) if p.name.startswith("at-rest-1")),
            multi_face=shared / "misc-faces" / "multi_face.jpg",
            noise_wav=shared / "speech" / "alsa_utils" / "Noise.wav",
        )


#: A manifest row as the corpus writes it (keys of ``manifest.csv``; ``file`` relative to the drop).
Row = dict[str, str]


@dataclass(frozen=True)
class Kind:
    """One kind of upload and what palsyflow must do with it.

    Attributes
    ----------
    name : str
        Short, unique (``subject-label-with-hyphen``).
    build : callable
        ``build(drop, sources) -> list[Row]``: writes the item's file(s) into ``drop`` (a
        folder the kind may use freely, shared with the other kinds of the same drop, so
        prefix file names with the kind's name) and returns its manifest rows.
    expect : {"refused", "measured"}
        ``refused``: every row of the kind is refused; ``measured``: every row reaches
        the feature table.
    rule : str
        For ``refused``: a case-insensitive substring the refusal's reason must contain
        (the rule it broke, e.g. ``"subject label"``).
    own_drop : bool
        The kind breaks the manifest itself (encoding, delimiter ...): it gets a drop, and
        a site, of its own; ``build`` then also writes ``manifest.csv`` and returns [].
    """

    name: str
    build: Callable[[Path, Sources], list[Row]]
    expect: Literal["refused", "measured"]
    rule: str = ""
    own_drop: bool = False
    notes: str = field(default="", compare=False)
