"""The speech engine: voice, articulation, machine intelligibility and a dysarthria index.

Pure domain code over mono signals (numpy arrays, full scale 1, with their rate in Hz);
Praat through parselmouth, pocketsphinx for recognition. No file names are read here:
the features stage and ``palsyflow measure`` decode the audio and pass the signals.

==================  ==========================================================
``quality``         the gate: bad audio gets a status and a reason, never numbers
``signal``          high-pass, mains-hum notch, SNR from room tone or pauses
``voice``           sustained vowel: f0, jitter, shimmer, HNR, CPPS; AVQI
``articulation``    syllable nuclei, speech and articulation rate, pauses, DDK
``prompts``         sentence sets (GRID grammar, a session's prompts), passages
``recognition``     closed-grammar recognition, clarity (machine intelligibility), alignment
``vowels``          formant centralisation ratio from aligned corner vowels
``reference``       healthy reference values and their sources
``index``           the dysarthria screening index
``analysis``        one recording: gate, then the measures of its task kind
``session``         one session: trials combined, AVQI, the index, the JSON block
``phantom``         real healthy speech degraded in known steps (validation)
==================  ==========================================================

Licence: parselmouth bundles Praat (GPL-3); an installation with it is, as a whole,
under GPL-3 (see the README).
"""
