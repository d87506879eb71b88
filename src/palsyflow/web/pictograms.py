"""Example pictures of the protocol's tasks: schematic faces drawn as inline SVG.

Drawn here (line art, no photograph of anyone), one per task of
:data:`palsyflow.web.patient.CAPTURE_TASKS`, so a patient sees the posture asked for.
"""

from __future__ import annotations

from html import escape

_INK = 'fill="none" stroke="#222222" stroke-width="3" stroke-linecap="round"'

#: Task -> (brows, eyes, mouth, extra) path data in a 120 x 140 box.
_PARTS: dict[str, tuple[str, str, str, str]] = {
    "rest": ("M34 48 Q44 44 54 48 M66 48 Q76 44 86 48", "M38 60 Q44 56 50 60 Q44 64 38 60 M70 60 Q76 56 82 60 Q76 64 70 60",
             "M46 102 Q60 104 74 102", ""),
    "brow_raise": ("M32 36 Q44 28 56 36 M64 36 Q76 28 88 36", "M38 60 Q44 54 50 60 Q44 66 38 60 M70 60 Q76 54 82 60 Q76 66 70 60",
                   "M46 102 Q60 104 74 102", "M40 24 L40 18 M60 22 L60 16 M80 24 L80 18"),
    "eye_closure_gentle": ("M34 48 Q44 44 54 48 M66 48 Q76 44 86 48", "M38 61 Q44 64 50 61 M70 61 Q76 64 82 61",
                           "M46 102 Q60 104 74 102", ""),
    "eye_closure_full": ("M34 52 Q44 50 54 54 M66 54 Q76 50 86 52", "M37 61 L51 61 M38 57 L50 64 M69 61 L83 61 M70 64 L82 57",
                         "M46 104 Q60 100 74 104", ""),
    "smile": ("M34 48 Q44 44 54 48 M66 48 Q76 44 86 48", "M38 60 Q44 56 50 60 Q44 64 38 60 M70 60 Q76 56 82 60 Q76 64 70 60",
              "M40 96 Q60 118 80 96 Q60 104 40 96", ""),
    "snarl": ("M34 50 Q44 48 54 52 M66 52 Q76 48 86 50", "M38 61 Q44 58 50 61 M70 61 Q76 58 82 61",
              "M46 98 Q53 92 60 96 Q67 92 74 98 Q60 104 46 98", "M52 78 L56 82 M68 78 L64 82"),
    "pucker": ("M34 48 Q44 44 54 48 M66 48 Q76 44 86 48", "M38 60 Q44 56 50 60 Q44 64 38 60 M70 60 Q76 56 82 60 Q76 64 70 60",
               "M52 102 Q60 94 68 102 Q60 110 52 102", ""),
    "eee": ("M34 48 Q44 44 54 48 M66 48 Q76 44 86 48", "M38 60 Q44 56 50 60 Q44 64 38 60 M70 60 Q76 56 82 60 Q76 64 70 60",
            "M38 100 L82 100 M40 100 Q60 108 80 100 M46 103 L74 103", ""),
    "speech": ("M34 48 Q44 44 54 48 M66 48 Q76 44 86 48", "M38 60 Q44 56 50 60 Q44 64 38 60 M70 60 Q76 56 82 60 Q76 64 70 60",
               "M48 98 Q60 92 72 98 Q60 112 48 98", "M96 86 Q104 94 96 102 M102 80 Q114 94 102 108"),
}


def pictogram(task: str, title: str = "") -> str:
    """An ``<svg>`` example picture of ``task`` (an empty string for a task without one)."""
    parts = _PARTS.get(task)
    if parts is None:
        return ""
    brows, eyes, mouth, extra = parts
    label = escape(title or f"example: {task.replace('_', ' ')}")
    return (
        f'<svg class="pictogram" width="120" height="140" viewBox="0 0 120 140" role="img" aria-label="{label}">'
        f'<ellipse cx="60" cy="72" rx="44" ry="58" {_INK}/>'
        f'<path d="M60 66 L56 84 Q60 87 64 84" {_INK}/>'
        f'<path d="{brows}" {_INK}/><path d="{eyes}" {_INK}/><path d="{mouth}" {_INK}/>'
        + (f'<path d="{extra}" {_INK}/>' if extra else "")
        + "</svg>"
    )
