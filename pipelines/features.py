"""DVC stage `features`: `python -m pipelines.features` calls :func:`palsyflow.stages.features`."""

from palsyflow import stages
from pipelines import run

if __name__ == "__main__":
    run(stages.features)
