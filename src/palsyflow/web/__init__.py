"""The clinic portal (``palsyflow web``): clinician review, data-manager uploads, patient self-recording.

Server-rendered pages (FastAPI, Jinja2) over the same store and stage functions as the
command line; see :mod:`palsyflow.web.app`. Importing this package does not import the
application (FastAPI is imported by :mod:`palsyflow.web.app`).
"""
