"""Features: face alignment, regional left/right asymmetry measures, speech measures.

Modules
-------
regions     named MediaPipe index sets per region and patient side
geometry    :func:`~palsyflow.features.geometry.align_face` (image pixels -> face frame)
regional    :func:`~palsyflow.features.regional.recording_measures` (L/R, asymmetry, weaker side)
audio       :func:`~palsyflow.features.audio.load_audio` (PyAV, mono float32)
speech      :func:`~palsyflow.features.speech.speech_features` (librosa pYIN, energy, rate)
table       :data:`~palsyflow.features.table.MEASURES`, feature and session tables
"""
