"""The pipeline's stages: one short module per stage, each reading, calling pure domain code, writing.

Each stage is called from two places and implemented once, here:

* the Prefect flow ``flows/nightly.py`` (a task per stage, retries on transient failures);
* the DVC entry points ``pipelines/<stage>.py`` (``dvc repro``).

Data flows one way: raw -> landmarks -> features -> validated -> model -> scores -> reports.
Every stage is incremental: it skips work whose inputs (content hashes), parameters and
code have not changed since it last ran, so a second nightly run over the same cohort
does almost nothing. Ingest, landmarks, features and report first compare one cheap
fingerprint of all their inputs and outputs with the one their last clean run recorded
(:class:`~palsyflow.stages.fingerprint.StageGate`, each module's ``stage_gate``) and, when
equal, return without looking at any item (``StageResult.unchanged``); validate, train,
register and score have a single fingerprint each already.

Modules
-------
catalog
    Every dataset's path and each stage's inputs, outputs, params and code deps
    (checked against ``dvc.yaml`` by ``tests/unit/test_catalog.py``).
fingerprint
    Digests of inputs, parameters and code; the JSON stamps beside outputs; the
    whole-stage gate and the directory listings it compares.
runs
    :class:`StageResult`, the processing run and the quarantine entries in the store;
    which errors are transient (retried) and the one-sentence description of a failure.
lock
    One run at a time per data root (``flock``), and which recorded runs have died.
ingest, landmarks, features, validate, train, register, score, report
    One stage each; ``status`` reads the store's summary. The package re-exports each
    stage function under its module's name (``stages.features(project)``), so
    ``palsyflow.stages.features`` is the function; import a module's other names with
    ``from palsyflow.stages.features import ...``.

Disk I/O
--------
The pipeline's files are read and written only by these modules, at paths the
:class:`~palsyflow.stages.catalog.Catalog` names. Domain code opens no pipeline file of its
own choosing; four domain writers are called *with a path the stage passes in*, because
the format they write is theirs to define:

* :func:`palsyflow.ingest.plan.copy_in` (stage ingest) is the raw tree's writer: it
  copies a file to ``RecordingPath.raw(catalog.raw)`` read-only and checks its hash
  while copying; :func:`palsyflow.ingest.plan.quarantine` files a refused upload with its
  reason sidecar under ``catalog.quarantine``;
* :func:`palsyflow.landmarks.write_landmarks` (stage landmarks) writes the points and
  quality parquet files at :meth:`Catalog.landmark_files` (it embeds the metadata);
* :func:`palsyflow.models.training.save_models` (stage train) writes the fitted models
  into ``catalog.models`` (the file names inside, ``normative.json`` ..., are the
  training module's; the catalog's ``normative_model`` matches them, tested);
* :func:`palsyflow.reports.pdf.render_session_report` (stage report) writes the PDF at
  :meth:`Catalog.session_report`.

Everything else a stage writes (tables, stamps, caches) it writes itself, atomically
(:mod:`palsyflow.atomic`). The store is written through :mod:`palsyflow.store.repo`,
MLflow through :mod:`palsyflow.tracking`.
"""

from palsyflow.stages.catalog import STAGE_SPECS, Catalog
from palsyflow.stages.features import features
from palsyflow.stages.fingerprint import code_digest, stage_code_digest
from palsyflow.stages.ingest import export_registry, ingest, ingest_drop, ingest_upload, read_registry, site_drops
from palsyflow.stages.landmarks import landmarks
from palsyflow.stages.register import register
from palsyflow.stages.report import report
from palsyflow.stages.lock import RunLocked, run_lock
from palsyflow.stages.runs import Progress, StageFailed, StageResult, describe_error, is_transient
from palsyflow.stages.score import score
from palsyflow.stages.status import status
from palsyflow.stages.train import train
from palsyflow.stages.validate import validate

#: Stage names in pipeline order.
STAGES: tuple[str, ...] = tuple(STAGE_SPECS)

__all__ = [
    "STAGES",
    "STAGE_SPECS",
    "Catalog",
    "Progress",
    "RunLocked",
    "StageFailed",
    "StageResult",
    "code_digest",
    "describe_error",
    "export_registry",
    "features",
    "ingest",
    "ingest_drop",
    "ingest_upload",
    "is_transient",
    "landmarks",
    "read_registry",
    "register",
    "report",
    "run_lock",
    "score",
    "site_drops",
    "stage_code_digest",
    "status",
    "train",
    "validate",
]
