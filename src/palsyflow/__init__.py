"""palsyflow: objective, side-specific measures of facial motor function from face and voice recordings.

Left and right always mean the patient's sides (see :mod:`palsyflow.conventions`).
"""

__version__ = "0.1.0"
