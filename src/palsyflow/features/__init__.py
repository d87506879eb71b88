"""Features: face alignment, regional left/right measures, task movements, audio decoding.

Column names, units and sources are registered in :mod:`palsyflow.measures.registry`;
the asymmetry and weaker-side rule and the session aggregate are :mod:`palsyflow.measures`.

Modules
-------
regions     named MediaPipe index sets per region and patient side
geometry    :func:`~palsyflow.features.geometry.align_face` (image pixels -> face frame)
regional    :func:`~palsyflow.features.regional.recording_measures` (rest and movement L/R pairs)
tasks       :func:`~palsyflow.features.tasks.recording_task_measure` (task movement geometry)
parra       Parra-Dominguez f0-f28 on iBUG-68 points
audio       :func:`~palsyflow.features.audio.load_audio` (PyAV, mono float32; speech in :mod:`palsyflow.speech`)
emotrics    Emotrics-equivalent millimetre measures, ocular synkinesis, lagophthalmos
table       feature rows (:func:`~palsyflow.features.table.recording_row`) and the session table
session     ``palsyflow measure``: :func:`~palsyflow.features.session.measure_results` JSON
"""
