"""DVC stage `train`: `python -m pipelines.train` calls :func:`palsyflow.stages.train`."""

from palsyflow import stages
from pipelines import run

if __name__ == "__main__":
    run(stages.train)
