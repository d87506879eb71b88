"""DVC stage `score`: `python -m pipelines.score` calls :func:`palsyflow.stages.score`."""

from palsyflow import stages
from pipelines import run

if __name__ == "__main__":
    run(stages.score)
