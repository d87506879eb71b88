"""The speech engine: voice, articulation, machine intelligibility and a dysarthria index."""
