"""Speech engine (issue 9): pure domain package."""
