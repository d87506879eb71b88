"""Conventions every palsyflow module follows, stated once.

Sides
    ``"left"`` and ``"right"`` always mean the **patient's** left and right. In an
    unmirrored camera image of a patient facing the camera, the patient's right side
    appears on the image's left (smaller x).

Image frame
    Pixels of the decoded, orientation-corrected frame (EXIF orientation applied):
    origin at the top-left corner, x to the right, y down. ``z`` from MediaPipe is
    relative depth in the same scale as x (pixels), smaller is closer to the camera.

Face frame (after alignment, :mod:`palsyflow.features.geometry`)
    Origin at the midpoint between the eye centres, x along the eye line towards the
    image right (the patient's left), y perpendicular to it, pointing down (towards
    the chin). Lengths are in inter-ocular distances, and the unit names the frame:
    ``iod_iris`` (eye centres = iris centres; rest measures) or ``iod_canthal`` (eye
    centres = eye-corner midpoints; movement, which must not follow gaze). Every unit is
    a key of :data:`palsyflow.measures.registry.UNITS`.

Asymmetry
    A ratio ``|m_L - m_R| / max(|m_L|, |m_R|)`` in ``[0, 1]``; ``0`` is perfect
    symmetry (also when both values are 0). Symmetry scores are
    ``100 * (1 - asymmetry)`` on a 0-100 scale. Defined once, with the weaker-side
    rule, in :mod:`palsyflow.measures.asymmetry`.

Names
    BIDS-like entities: ``site-<label>``, ``sub-<label>``, ``ses-<label>``,
    ``task-<label>``; labels are alphanumeric only. Session labels are the session
    date as ``YYYYMMDD``.
"""

from __future__ import annotations

from typing import Literal

Side = Literal["left", "right"]
SIDES: tuple[Side, Side] = ("left", "right")

#: Face tasks of the session protocol (issue "Facial asymmetry measures"); ``speech``
#: (a read sentence on video) is a face task and a speech task.
FACE_TASKS: tuple[str, ...] = (
    "rest",
    "brow_raise",
    "eye_closure_gentle",
    "eye_closure_full",
    "smile",
    "snarl",
    "pucker",
    "eee",
    "speech",
)

#: Speech tasks of the session protocol and the kind of speech each records:
#: ``silence`` (room tone, for the noise floor), ``vowel`` (sustained /a/, up to three
#: trials), ``ddk`` (diadochokinesis: repeated ``pa``, ``ta``, ``ka``, ``pataka``),
#: ``connected`` (a closed sentence set, a standard passage, or the GRID sentence of the
#: ``speech`` video, which counts as ``sentences``). The audio may come from an audio
#: file or from a video's audio track.
SPEECH_TASK_KINDS: dict[str, str] = {
    "speech": "connected",
    "sentences": "connected",
    "passage": "connected",
    "vowel": "vowel",
    "ddk_pa": "ddk",
    "ddk_ta": "ddk",
    "ddk_ka": "ddk",
    "ddk_pataka": "ddk",
    "silence": "silence",
}

#: Tasks whose audio is speech (measured by :mod:`palsyflow.speech`).
SPEECH_TASKS: tuple[str, ...] = tuple(SPEECH_TASK_KINDS)

#: Every task of the session protocol.
TASKS: tuple[str, ...] = FACE_TASKS + tuple(t for t in SPEECH_TASKS if t not in FACE_TASKS)

#: Iris diameter used for millimetre calibration (Emotrics; Guarin et al. 2018,
#: JAMA Facial Plast Surg 20(4):335, doi:10.1001/jamafacial.2018.0030).
IRIS_DIAMETER_MM = 11.77
