"""DVC stage `report`: `python -m pipelines.report` calls :func:`palsyflow.stages.report`."""

from palsyflow import stages
from pipelines import run

if __name__ == "__main__":
    run(stages.report)
