"""The speech engine: voice, articulation, recognition and the dysarthria index."""
