"""Every dataset the pipeline reads or writes, named once, and what each stage reads and writes.

Kedro's data catalog and DVC's ``dvc.yaml`` in one module: a stage never builds a path,
it asks the :class:`Catalog` of its project. :data:`STAGE_SPECS` lists, per stage, the
datasets it reads (``inputs``) and writes (``outputs``, ``metrics``), the
``params.yaml`` sections it is tuned by and the palsyflow source it runs (``code``);
``tests/unit/test_catalog.py`` checks that ``dvc.yaml`` declares exactly these ``deps``,
``outs``, ``metrics`` and ``params``, and :func:`palsyflow.stages.fingerprint.stage_code_digest`
hashes the same ``code`` into every stage's fingerprint, so code dependencies are
declared once, here. A stage's fingerprint hashes the parameter sections that change
its outputs; ``params`` may list more (``executor`` for landmarks: DVC reruns the stage
when the parallelism changes, the stage itself sees nothing new to compute).

Datasets live under one of the roots of ``params.paths`` (all relative to the project
root unless absolute)::

    paths.drops        clinics' upload folders, one per site (read by ingest)
    paths.face_model   the MediaPipe face model (read by landmarks)
    paths.data         the data tree: raw/, derivatives/, features/, validated/, scores/,
                       reports/, quarantine/, metrics/
    paths.models       the fitted models (written by train, read by score)
    paths.mlflow_artifacts  MLflow's artifact store (written by train through MLflow)

Per-recording files are named by :class:`palsyflow.paths.RecordingPath` under the tree
the catalog gives (:meth:`Catalog.landmark_files`, :meth:`Catalog.feature_cache`); per
session reports by :meth:`Catalog.session_report` (clinician) and
:meth:`Catalog.patient_report` (patient, month only in the name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from palsyflow.config import PathParams
from palsyflow.paths import RecordingPath, check_label, session_key

#: The palsyflow source tree, relative to the project root (code dependencies in dvc.yaml).
SOURCE_DIR = "src/palsyflow"

#: Root of each dataset: the ``params.paths`` key it lives under.
ROOTS = ("drops", "face_model", "data", "models", "mlflow_artifacts")


@dataclass(frozen=True)
class Dataset:
    """One named dataset: a file or folder under one of the :data:`ROOTS`.

    Attributes
    ----------
    root : str
        The ``params.paths`` key it lives under (one of :data:`ROOTS`).
    relative : str
        Path below that root (``""``: the root itself), ``/``-separated.
    doc : str
        What it holds and who writes it.
    persist : bool
        A DVC output that ``dvc repro`` must not delete before its stage runs
        (it is updated incrementally).
    """

    root: str
    relative: str
    doc: str
    persist: bool = False


#: Every dataset of the pipeline, by name.
DATASETS: dict[str, Dataset] = {
    "drops": Dataset("drops", "", "clinics' drop folders, <site>/manifest.csv + media (input of ingest)"),
    "face_model": Dataset("face_model", "", "MediaPipe FaceLandmarker model, sha256-verified (input of landmarks)"),
    "raw": Dataset("data", "raw", "immutable raw tree + the registry (ingest)", persist=True),
    "registry": Dataset("data", "raw/recordings.parquet", "one row per registered recording, exported from the store (ingest)"),
    "quarantine": Dataset("data", "quarantine", "refused uploads with their reason sidecars (ingest)"),
    "landmarks": Dataset("data", "derivatives/landmarks", "per-recording landmarks, quality and JSON stamp (landmarks)", persist=True),
    "feature_cache": Dataset("data", "derivatives/features", "per-recording feature row cache with its fingerprint (features)", persist=True),
    "features": Dataset("data", "features", "the cohort feature and session tables (features)"),
    "features_table": Dataset("data", "features/features.parquet", "one row per recording (features)"),
    "sessions_table": Dataset("data", "features/sessions.parquet", "one row per session (features)"),
    "validated_features": Dataset("data", "validated/features.parquet", "feature rows passing the suite (validate)"),
    "validated_failed": Dataset("data", "validated/failed.parquet", "feature rows failing it, with reasons (validate)"),
    "validated_sessions": Dataset("data", "validated/sessions.parquet", "session table of the passing rows (validate)"),
    "validated_summary": Dataset("data", "validated/summary.json", "suite summary, a DVC metric (validate)"),
    "validated_stamp": Dataset("data", "validated/.inputs.json", "fingerprint of validate's inputs (validate)"),
    "models": Dataset("models", "", "fitted normative model and grader, their metrics and the train stamp (train)"),
    "normative_model": Dataset("models", "normative.json", "the normative model the score stage reads (train)"),
    "models_summary": Dataset("models", "train_metrics.json", "summary of the fitted models (train)"),
    "train_stamp": Dataset("models", ".inputs.json", "fingerprint of train's inputs and the MLflow run (train)"),
    "train_metrics": Dataset("data", "metrics/train.json", "training metrics, a DVC metric tracked in git (train)"),
    "registration": Dataset("data", "registration.json", "the MLflow run and registry versions of the committed models (register)"),
    "scores": Dataset("data", "scores", "the score table and its stamp (score)"),
    "scores_table": Dataset("data", "scores/scores.parquet", "one row per session and measure (score)"),
    "scores_stamp": Dataset("data", "scores/.inputs.json", "fingerprint of score's inputs (score)"),
    "reports": Dataset("data", "reports", "per session a clinician PDF and a one-page patient PDF, each with a JSON stamp beside it (report)", persist=True),
    "mlflow_artifacts": Dataset("mlflow_artifacts", "", "MLflow artifact store (train, through MLflow)"),
    # exports and delivery (side effects, not DVC outputs) ----------------------------
    "web": Dataset("data", "web", "the portal's own files: drawn key frames (cache/) and the output of runs it started (runs/) (palsyflow web)"),
    "outbox": Dataset("data", "outbox", "per-site copies of delivered reports, site-<s>/<session key>_<sha12>.pdf + .fhir.json (deliver, after report)"),
}


@dataclass(frozen=True)
class StageSpec:
    """What one stage reads, writes, is tuned by and runs.

    Attributes
    ----------
    name : str
        Stage name (``dvc.yaml`` stage, :data:`palsyflow.stages.STAGES` entry).
    inputs : tuple of str
        Datasets read (``deps`` in dvc.yaml).
    outputs : tuple of str
        Datasets written and tracked by DVC (``outs``).
    metrics : tuple of str
        Metric files written (``metrics``, not cached).
    params : tuple of str
        ``params.yaml`` sections or ``section.key`` entries (``params``).
    code : tuple of str
        palsyflow source the outputs depend on, relative to ``src/palsyflow``
        (a package folder or a file); ``deps`` in dvc.yaml and part of the stage's
        fingerprint.
    untracked : tuple of str
        Datasets also written but not tracked by DVC (local state).
    """

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: tuple[str, ...]
    code: tuple[str, ...]
    metrics: tuple[str, ...] = ()
    untracked: tuple[str, ...] = field(default=())

    @property
    def entry_point(self) -> str:
        """The DVC command's module file, ``pipelines/<name>.py`` (a code dependency too)."""
        return f"pipelines/{self.name}.py"

    @property
    def code_paths(self) -> tuple[str, ...]:
        """``code`` as paths relative to the project root, then the entry point."""
        return tuple(f"{SOURCE_DIR}/{c}" for c in self.code) + (self.entry_point,)


#: Every stage, in pipeline order.
STAGE_SPECS: dict[str, StageSpec] = {
    s.name: s
    for s in (
        StageSpec(
            "ingest",
            inputs=("drops",),
            outputs=("raw",),
            params=("ingest", "paths.drops"),
            code=("ingest", "stages/ingest.py"),
            untracked=("quarantine",),
        ),
        StageSpec(
            "landmarks",
            inputs=("raw", "face_model"),
            outputs=("landmarks",),
            params=("landmarks", "executor"),
            code=("landmarks", "stages/landmarks.py"),
        ),
        StageSpec(
            "features",
            inputs=("registry", "landmarks"),
            outputs=("feature_cache", "features"),
            params=("features",),
            code=("features", "measures", "landmarks/schemes", "stages/features.py"),
        ),
        StageSpec(
            "validate",
            inputs=("features_table",),
            outputs=("validated_features", "validated_failed", "validated_sessions", "validated_stamp"),
            metrics=("validated_summary",),
            params=("validate", "features"),
            code=("validation", "features/table.py", "measures", "stages/validate.py"),
        ),
        StageSpec(
            "train",
            inputs=("validated_sessions",),
            outputs=("models",),
            metrics=("train_metrics",),
            params=("train",),
            code=("models", "measures", "stages/train.py"),
        ),
        StageSpec(
            "register",
            inputs=("models", "train_metrics"),
            outputs=("registration",),
            params=("train.experiment", "train.registered_model", "train.registered_grader"),
            code=("tracking.py", "stages/register.py"),
            untracked=("mlflow_artifacts",),
        ),
        StageSpec(
            "score",
            inputs=("validated_sessions", "models", "registration"),
            outputs=("scores",),
            params=("train.registered_model",),
            code=("scoring", "models", "measures", "stages/score.py"),
        ),
        StageSpec(
            "report",
            inputs=("scores", "validated_sessions", "registry", "landmarks", "drops", "face_model"),
            outputs=("reports",),
            params=("report", "ingest.task_aliases", "detector", "landmarks"),
            code=("reports", "measures", "stages/report.py",
                  # key frames (stages/report_frames.py): postures, landmark tables, media, schemes,
                  # and the drops' manifest lines that tie an ingest refusal to its session
                  "stages/report_frames.py", "features", "landmarks", "ingest/manifest.py", "ingest/tasks.py",
                  # the palsy detector's section (the production alias's version is in the PDFs' stamps)
                  "stages/models.py", "models/detector.py", "models/registry_detector.py"),
            untracked=("outbox", "web"),  # written by the deliver side effect after report and by the portal (not DVC stages)
        ),
    )
}


@dataclass(frozen=True)
class LandmarkFiles:
    """The three files the landmarks stage writes per recording.

    Attributes
    ----------
    points : pathlib.Path
        ``..._landmarks.parquet`` (schema :data:`palsyflow.schemas.LANDMARK_SCHEMA`).
    quality : pathlib.Path
        ``..._quality.parquet``, one row per frame.
    stamp : pathlib.Path
        ``..._landmarks.json``: content hash and fingerprint the points were computed with.
    """

    points: Path
    quality: Path
    stamp: Path


@dataclass(frozen=True)
class Catalog:
    """The paths of every dataset of one project.

    Parameters
    ----------
    root : pathlib.Path
        Project root (holds ``params.yaml``); relative ``params.paths`` resolve against it.
    paths : PathParams
        The ``paths`` section of ``params.yaml``.
    """

    root: Path
    paths: PathParams

    @classmethod
    def of(cls, project) -> Catalog:
        """The catalog of a :class:`palsyflow.project.Project` (its ``root`` and ``params.paths``)."""
        return cls(Path(project.root), project.params.paths)

    def root_of(self, name: str) -> Path:
        """Absolute folder (or file) of the ``params.paths`` root ``name`` (one of :data:`ROOTS`).

        Raises
        ------
        KeyError
            If ``name`` is not one of :data:`ROOTS`.
        """
        roots = {
            "drops": self.paths.drops,
            "face_model": self.paths.face_model,
            "data": self.paths.data,
            "models": self.paths.models,
            "mlflow_artifacts": self.paths.mlflow_artifacts,
        }
        if name not in roots:
            raise KeyError(f"{name!r} is not a dataset root (one of {ROOTS})")
        p = Path(roots[name])
        return p if p.is_absolute() else self.root / p

    def path(self, name: str) -> Path:
        """Absolute path of dataset ``name`` (a key of :data:`DATASETS`).

        Raises
        ------
        KeyError
            If no dataset has that name.
        """
        ds = DATASETS[name]
        base = self.root_of(ds.root)
        return base / ds.relative if ds.relative else base

    def relative(self, name: str) -> str:
        """Dataset ``name`` relative to the project root, ``/``-separated (as ``dvc.yaml`` writes it)."""
        return self.path(name).relative_to(self.root).as_posix()

    def in_data(self, stored: str | Path) -> Path:
        """Absolute path of a path the store keeps relative to the data root (``raw_path``, a report's path)."""
        return self.root_of("data") / stored

    def data_relative(self, path: Path) -> str:
        """``path`` relative to the data root, as the store keeps it (``/``-separated).

        Raises
        ------
        ValueError
            If ``path`` is not under the data root.
        """
        return path.relative_to(self.root_of("data")).as_posix()

    # the datasets stages use most, by attribute ------------------------------------
    drops = property(lambda self: self.path("drops"), doc="Drop folders root.")
    face_model = property(lambda self: self.path("face_model"), doc="The MediaPipe model file.")
    raw = property(lambda self: self.path("raw"), doc="Root of the raw tree.")
    registry = property(lambda self: self.path("registry"), doc="The raw tree's index (parquet).")
    quarantine = property(lambda self: self.path("quarantine"), doc="Root of the quarantine.")
    landmarks = property(lambda self: self.path("landmarks"), doc="Root of the landmark derivatives.")
    features = property(lambda self: self.path("features"), doc="Folder of the cohort feature tables.")
    models = property(lambda self: self.path("models"), doc="Folder of the fitted models.")
    scores = property(lambda self: self.path("scores"), doc="Folder of the score table.")
    reports = property(lambda self: self.path("reports"), doc="Root of the session reports.")

    # per-recording and per-session files ---------------------------------------------
    def landmark_files(self, rp: RecordingPath) -> LandmarkFiles:
        """Points, quality and stamp files of one recording under :attr:`landmarks`."""
        root = self.landmarks
        return LandmarkFiles(
            rp.derivative(root, "landmarks"), rp.derivative(root, "quality"), rp.derivative(root, "landmarks", ".json")
        )

    def feature_cache(self, rp: RecordingPath) -> Path:
        """Cached feature row (JSON) of one recording under ``feature_cache``."""
        return rp.derivative(self.path("feature_cache"), "features", ".json")

    def reports_root(self, experiment: str | None = None) -> Path:
        """Root of the session reports; a DVC experiment's (``experiment``,
        :attr:`palsyflow.project.Project.experiment`) are under ``reports/exp-<experiment>/``,
        beside the production PDFs, never over them."""
        return self.reports / ("exp-" + re.sub(r"[^A-Za-z0-9_-]", "_", experiment)) if experiment else self.reports

    def session_report(self, site: str, subject: str, session: str, experiment: str | None = None) -> Path:
        """PDF of one session: ``reports/site-<s>/sub-<id>/<session key>_report.pdf`` (pseudonymous IDs only).

        Under :meth:`reports_root` of ``experiment`` (None: production).

        Raises
        ------
        palsyflow.paths.InvalidLabelError
            If a label is not alphanumeric.
        """
        return self.reports_root(experiment) / f"site-{site}" / f"sub-{subject}" / f"{session_key(site, subject, session)}_report.pdf"

    def patient_report(
        self, site: str, subject: str, session: str, sessions: Iterable[str] = (), experiment: str | None = None
    ) -> Path:
        """One-page patient PDF of one session, named by the month only.

        ``reports/site-<s>/sub-<id>/sub-<id>_<YYYY-MM>_patient.pdf`` for the subject's
        first session of that month, ``..._<YYYY-MM>_visit<k>_patient.pdf`` for its
        ``k``-th (k >= 2) in date order: a patient-facing name never carries the day.

        Parameters
        ----------
        site, subject : str
            Pseudonymous labels.
        session : str
            The session label, ``YYYYMMDD``.
        sessions : iterable of str
            The subject's session labels at this site (``session`` is counted whether
            listed or not); they decide the ordinal within the month.
        experiment : str, optional
            A DVC experiment: under its :meth:`reports_root`.

        Raises
        ------
        palsyflow.paths.InvalidLabelError
            If a label is not alphanumeric.
        ValueError
            If ``session`` is not a ``YYYYMMDD`` date.
        """
        session_key(site, subject, session)  # checks the labels
        if not (len(session) == 8 and session.isdigit()):
            raise ValueError(f"session label {session!r} is not a YYYYMMDD date")
        month = session[:6]
        same = sorted({s for s in sessions if s[:6] == month} | {session})
        k = same.index(session) + 1
        ordinal = "" if k == 1 else f"_visit{k}"
        name = f"sub-{subject}_{session[:4]}-{session[4:6]}{ordinal}_patient.pdf"
        return self.reports_root(experiment) / f"site-{site}" / f"sub-{subject}" / name

    @staticmethod
    def is_patient_report(path: Path) -> bool:
        """True for a file named like :meth:`patient_report`'s PDFs."""
        return path.name.endswith("_patient.pdf")

    def web_keyframe(self, site: str, subject: str, session: str, name: str) -> Path:
        """A key frame the portal drew: ``web/cache/site-<s>/sub-<p>/ses-<d>/<name>``.

        Raises
        ------
        palsyflow.paths.InvalidLabelError
            If a label is not alphanumeric.
        """
        for entity, label in (("site", site), ("subject", subject), ("session", session)):
            check_label(entity, label)
        return self.path("web") / "cache" / f"site-{site}" / f"sub-{subject}" / f"ses-{session}" / name

    def web_run_log(self, site: str) -> Path:
        """The output of the runs the portal started for ``site``: ``web/runs/site-<s>.log`` (``.pid`` beside it)."""
        check_label("site", site)
        return self.path("web") / "runs" / f"site-{site}.log"

    def site_outbox(self, site: str) -> Path:
        """Delivery copies of one site's reports: ``outbox/site-<s>/`` (pseudonymous names only).

        Raises
        ------
        palsyflow.paths.InvalidLabelError
            If ``site`` is not alphanumeric.
        """
        check_label("site", site)
        return self.path("outbox") / f"site-{site}"

    @property
    def dvc_lock(self) -> Path:
        """DVC's lock file at the project root (its committed hashes tag the MLflow training run)."""
        return self.root / "dvc.lock"

    @staticmethod
    def report_stamp(pdf: Path) -> Path:
        """The JSON stamp beside a session report (its fingerprint and sha256)."""
        return pdf.with_suffix(".json")
