"""DVC stage `validate`: `python -m pipelines.validate` calls :func:`palsyflow.stages.validate`."""

from palsyflow import stages
from pipelines import run

if __name__ == "__main__":
    run(stages.validate)
