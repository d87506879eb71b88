"""Speech engine: pure domain package (issue 9)."""
