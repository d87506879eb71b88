"""DVC stage `ingest`: `python -m pipelines.ingest` calls :func:`palsyflow.stages.ingest`."""

from palsyflow import stages
from pipelines import run

if __name__ == "__main__":
    run(stages.ingest)
