"""DVC stage `register`: `python -m pipelines.register` calls :func:`palsyflow.stages.register`."""

from palsyflow import stages
from pipelines import run

if __name__ == "__main__":
    run(stages.register)
