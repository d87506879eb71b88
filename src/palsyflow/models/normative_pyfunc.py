"""The normative model as an MLflow pyfunc, logged as code (MLflow "models from code").

:func:`palsyflow.tracking.register_normative` logs this very file as the model: MLflow
copies it into the model folder and, at ``mlflow.pyfunc.load_model``, executes it under
a module name of its own (``code_model_<hex>``); the block at the bottom then hands MLflow
the model object. Nothing is pickled: the fitted parameters are the ``normative``
artifact, the JSON of :meth:`palsyflow.models.normative.NormativeModel.to_dict`, and the
code is this file plus the pinned ``palsyflow`` requirement. Imported as
``palsyflow.models.normative_pyfunc`` (tests, the domain) the module needs no MLflow.

``predict(DataFrame)`` input: one row per session, one float column per measure of the
model (``NormativeModel.feature_names_in_``; missing values as NaN/None, extra columns
ignored) and an optional string column :data:`SUBJECT_COLUMN`: a row whose subject is in
the healthy reference is scored against the reference without that subject
(leave-one-subject-out). Output: per measure ``<measure>_z`` (robust z-score, unitless)
and ``<measure>_percentile`` (0-100 among healthy sessions, Crawford & Howell 1998,
doi:10.1076/clin.12.4.482.7241), in the model's measure order, then ``reference_n``
(healthy sessions each row was scored against).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from palsyflow.models.normative import NormativeModel

#: Optional input column naming each row's subject (``"site/subject"``), for leave-one-subject-out.
SUBJECT_COLUMN = "subject"
#: Artifact key of the model's JSON parameters.
ARTIFACT = "normative"


def output_columns(model: NormativeModel) -> list[str]:
    """The output columns of :func:`predict_frame`, in order."""
    names = [str(c) for c in model.feature_names_in_]
    return [f"{m}_z" for m in names] + [f"{m}_percentile" for m in names] + ["reference_n"]


def predict_frame(model: NormativeModel, frame: Any) -> Any:
    """z-scores and healthy percentiles of every measure, one row per input row.

    Parameters
    ----------
    model : NormativeModel
        Fitted.
    frame : pandas.DataFrame, shape (n_rows, ...)
        The model's measure columns (matched by name) and optionally :data:`SUBJECT_COLUMN`.

    Returns
    -------
    pandas.DataFrame, shape (n_rows, 2 * n_features + 1)
        :func:`output_columns`; float64, NaN where a value is missing.

    Raises
    ------
    ValueError
        If a measure column of the model is missing.
    """
    import pandas as pd

    groups = None
    if SUBJECT_COLUMN in frame.columns:
        groups = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in frame[SUBJECT_COLUMN]]
    X = frame[[str(c) for c in model.feature_names_in_]].astype("float64")
    z = model.transform(X, groups=groups)
    pct = model.percentile(X, groups=groups)
    size = model.reference_size(groups) if groups is not None else np.full(len(frame), model.n_samples_)
    data = np.column_stack([z, pct, np.asarray(size, dtype=np.float64)])
    return pd.DataFrame(data, columns=output_columns(model), index=frame.index)


class NormativePredictor:
    """The pyfunc's behaviour (``load_context`` + ``predict``), free of MLflow."""

    model: NormativeModel | None = None

    def load_context(self, context: Any) -> None:
        """Read the ``normative`` artifact (JSON) into a :class:`NormativeModel`."""
        self.model = NormativeModel.from_dict(json.loads(Path(context.artifacts[ARTIFACT]).read_text()))

    def predict(self, context, model_input, params=None):  # noqa: ANN001 - MLflow reads hints as a signature
        """:func:`predict_frame` of the loaded model (module docstring: columns)."""
        if self.model is None:
            self.load_context(context)
        return predict_frame(self.model, model_input)


if __name__.startswith("code_model_"):  # executed by mlflow.pyfunc.load_model / log_model
    import mlflow
    from mlflow.pyfunc import PythonModel

    class _NormativePyfunc(NormativePredictor, PythonModel):
        pass

    mlflow.models.set_model(_NormativePyfunc())
