"""Measures: what palsyflow reports, defined once.

Modules (each imports only ``config``, ``conventions`` and modules listed before it)
-------
asymmetry   the asymmetry convention and the weaker-side rule (scalar and polars forms)
registry    every measure (name, unit from one vocabulary, region, side, direction,
            description, source), the regions, families, tasks, speech and Parra names
tasks       scores from a task's two side movements (gate, asymmetry, eFACE item),
            House-Brackmann measurement, eFACE-style subscores
session     the one session aggregator (several recordings -> one session's measures)
symmetry    the score-table measures of a session (symmetries, composites, weaker sides)
longitudinal  a subject's series against measurement noise (MDC95, change labels, plateau and
            regression events)
docs        ``docs/features.md``'s generated tables

Features, models, scoring and reports import from here; this package imports none of them.
"""
