"""DVC stage `landmarks`: `python -m pipelines.landmarks` calls :func:`palsyflow.stages.landmarks`."""

from palsyflow import stages
from pipelines import run

if __name__ == "__main__":
    run(stages.landmarks)
