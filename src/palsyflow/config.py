"""Typed parameters: ``params.yaml`` is read once into :class:`Params`.

Every tunable of every stage lives in ``params.yaml`` (so DVC can track which stage a
change affects) and is typed here, one pydantic model per stage section. Domain
functions take their own section (``LandmarkParams``, ``FeatureParams`` ...), never the
whole file.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def digest(self) -> str:
        """Stable sha256 of this section's values (used to decide recomputation)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


class PathParams(_Section):
    """Where data lives, relative to the project root unless absolute."""

    drops: Path = Path("data/sample")  # clinics' drop folders, one per site
    data: Path = Path("data")  # the data tree (raw, derivatives, tables, reports)
    models: Path = Path("data/models")  # fitted models: written by train, read by score
    face_model: Path = Path("models/face_landmarker.task")
    mlflow_uri: str = "sqlite:///data/mlflow/mlflow.db"
    mlflow_artifacts: Path = Path("data/mlflow/artifacts")


class StoreParams(_Section):
    """The session store. ``PALSYFLOW_DB_URL`` overrides ``url``."""

    url: str = "sqlite:///data/store/palsyflow.db"


class IngestParams(_Section):
    """Checks applied to each uploaded file before it enters the raw tree."""

    # media are recognised by content (Pillow, then PyAV/FFmpeg), never by extension
    min_duration_s: float = 0.5
    min_width: int = 64
    min_height: int = 64
    # decoded to the end: what is decoded may fall short of the container's stated
    # duration by at most this many seconds (and of its stated frame count by as many frames' worth)
    truncation_tolerance_s: float = 0.5
    # containers without a duration header (MPEG program/transport streams): audio and
    # video of a complete file end within this many seconds of each other
    stream_end_tolerance_s: float = 0.03
    # frame timing: the mean decoded frame interval may differ from 1/stated fps by this
    # fraction at most; the decoded frame rate must be at least min_fps (frames/s)
    fps_tolerance: float = 0.25
    min_fps: float = 5.0
    # audio of speech tasks: peak below this (dBFS) is digital silence; more than
    # max_clipped_fraction of samples at or above clip_level (fraction of full scale) is clipping
    silence_peak_dbfs: float = -60.0
    clip_level: float = 0.99
    max_clipped_fraction: float = 0.01
    #: drop files that need no manifest row (matched on the name before the first dot,
    #: case-insensitive, for text files only); manifest.csv and dotfiles are always ignored
    ignored_text_files: tuple[str, ...] = ("README", "ATTRIBUTION", "LICENSE")
    task_aliases: dict[str, str] = Field(
        default_factory=lambda: {
            "at-rest": "rest",
            "eyebrows-up": "brow_raise",
            "eyes-closed-gently": "eye_closure_gentle",
            "eyes-closed-tightly": "eye_closure_full",
            "eyes-closed": "eye_closure_full",
            "big-smile": "smile",
            "lips-puckered": "pucker",
            "lower-teeth-bared": "eee",
            "nose-wrinkle": "snarl",
            "reading": "speech",
        }
    )
    #: accept a new session dated before the subject's latest stored session (a
    #: back-filled visit); off, such a session is refused as a likely date typo
    allow_earlier_sessions: bool = False


class ExecutorParams(_Section):
    """How recordings run in parallel inside a stage."""

    kind: Literal["process", "dask", "serial"] = "process"
    workers: int = 2
    dask_scheduler: str | None = None  # e.g. "tcp://10.0.0.5:8786"; when set, kind becomes dask


class ScheduleParams(_Section):
    """When ``palsyflow serve`` runs the nightly deployment."""

    cron: str = "0 2 * * *"  # standard 5-field cron, read in ``timezone``
    timezone: str = "UTC"  # IANA name, e.g. "Europe/Berlin"; the cron fires at local wall-clock time

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"schedule.timezone: {value!r} is not an IANA time zone name (e.g. Europe/Berlin)") from exc
        return value


class LandmarkParams(_Section):
    """Landmark extraction (stage ``landmarks``)."""

    backend: Literal["mediapipe", "dlib"] = "mediapipe"
    dlib_upsample: int = 1  # dlib HOG: extra 2x upsamplings tried when no face is found
    dlib_fallback: bool = True  # dlib: HOG finds nothing -> box from MediaPipe's landmarks
    max_faces: int = 4
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    detect_max_side: int = 1280
    # detections per TTA image (cost); 6 x 2 key frames keeps the stage >= 80 % of bare detection speed on
    # 3 s clips. The copy set is mirror-closed: with tta_flip odd values are rounded DOWN to even (never more)
    tta_copies: int = 6
    tta_keyframes: int = 2
    tta_seed: int = 20260101
    tta_rotation_deg: float = 5.0
    tta_scale: float = 0.05
    tta_shift_frac: float = 0.03
    tta_photometric: float = 0.2
    tta_noise_sigma: float = 3.0
    tta_blur_prob: float = 0.3
    tta_flip: bool = True
    # TTA copies k >= 1 are rendered on a square face crop of this side (px; 0 = whole frame)
    tta_crop_side: int = 384
    tta_crop_margin: float = 0.5  # crop = landmark box enlarged by this fraction of its size per side
    # no face found: retry on a copy with this border (fraction of the longer side, per side; 0 = off)
    pad_retry_frac: float = 0.5
    pad_retry_mode: Literal["constant", "replicate"] = "constant"
    # small faces: IOD below this (px, in the image the detector saw) -> crop, upscale, detect again
    small_face_iod_px: float = 30.0  # 0 = off
    small_face_target_iod_px: float = 80.0  # IOD in the upscaled crop, px
    small_face_crop_margin: float = 0.5  # crop = landmark box enlarged by this fraction per side
    # no face in the plain pass: face-box proposals (whole frame padded, dlib HOG boxes), landmarks on each crop
    proposals: bool = True
    proposal_side: int = 256  # each proposal's crop is resized to this side, px
    proposal_pad_frac: float = 0.5  # whole-frame proposal: grey border, fraction of the longer side per side
    proposal_pad_grey: int = 128  # grey level of that border
    proposal_crop_margin: float = 0.5  # HOG box enlarged by this fraction of its side per side
    proposal_hog_max_side: int = 1280  # HOG runs on the frame downscaled to this longer side, px
    proposal_hog_upsample: int = 1  # HOG pyramid upsamplings (each finds faces half as small)
    proposal_max_boxes: int = 8  # HOG boxes tried, best-scoring first
    # several faces: the subject must be this many times wider than the next face ...
    subject_min_size_ratio: float = 1.5
    # ... and its centre within this fraction of the half-diagonal from the image centre
    subject_max_centre_offset: float = 0.6
    # a photo with one face found: dlib HOG looks for others with this many upsamplings (-1 = off)
    subject_hog_upsample: int = 0
    smoothing: Literal["none", "savgol", "one_euro"] = "none"
    savgol_window: int = 7  # frames, odd
    savgol_polyorder: int = 2
    one_euro_min_cutoff_hz: float = 1.0
    one_euro_beta: float = 0.05  # cutoff gain per px/s of speed
    one_euro_d_cutoff_hz: float = 1.0
    rest_window_s: float = 0.5  # leading seconds of a video assumed at rest (neutral key frame)


class FeatureParams(_Section):
    """Asymmetry and speech features (stage ``features``)."""

    min_face_found_fraction: float = 0.5
    speech_max_sr: int = 48000  # speech audio is decoded at its own rate, at most this (Hz)
    # speech quality gate (palsyflow.speech.quality): per task kind, the lowest SNR (dB)
    # and the shortest duration (s) a recording may have to be measured
    speech_min_snr_db: dict[str, float] = Field(default_factory=lambda: {"vowel": 30.0, "ddk": 15.0, "connected": 15.0})
    speech_min_duration_s: dict[str, float] = Field(
        default_factory=lambda: {"silence": 1.0, "vowel": 1.0, "ddk": 2.0, "connected": 1.0}
    )
    excursion_percentile: float = 95.0  # robust range of movement from the neutral frame
    neutral_fallback_frames: int = 5  # no neutral key frame: median of the first N face frames
    weaker_min_asym: float = 0.0  # *_weaker is null when the asymmetry is <= this
    weaker_min_diff_iod: float = 0.01  # rest_*_weaker is null when |L - R| <= this (rest positions, iod_iris)
    # mov_*_weaker is null when |L - R| <= this (iod_canthal); one SD of MediaPipe's
    # per-frame landmark noise without TTA (task_noise_default_iod)
    movement_weaker_min_diff_iod: float = 0.005
    # photo sessions' movement side (measures.tasks.movement_side): a task votes when its
    # side moved less by more than this asymmetry; a side needs this many votes and more
    # votes than the other side
    task_side_min_asym: float = 0.2
    task_side_min_tasks: int = 3
    task_activation_factor: float = 3.0  # task gate: max(m_L, m_R) >= factor x landmark noise
    task_noise_default_iod: float = 0.005  # landmark noise (IOD) of a posture without TTA spread


class ValidationParams(_Section):
    """Great Expectations suite bounds (stage ``validate``)."""

    max_asymmetry: float = 1.0
    min_face_found_fraction: float = 0.5
    max_tta_spread_iod_pct: float = 10.0
    f0_range_hz: tuple[float, float] = (50.0, 500.0)


class TrainParams(_Section):
    """Normative model and grader (stage ``train``)."""

    seed: int = 7
    normative_method: Literal["robust", "mcd"] = "robust"
    min_healthy_sessions: int = 5
    grader_estimator: Literal["logistic", "random_forest"] = "logistic"
    cv_folds: int = 5
    experiment: str = "palsyflow"
    registered_model: str = "palsyflow-normative"
    registered_grader: str = "palsyflow-grader"
    normative_min_scale: float = 1e-3  # scale floor, in each measure's own unit
    normative_include_simulated: bool = False  # phantoms never define "healthy"
    grader_include_simulated: bool = True
    grader_n_estimators: int = 200  # random_forest only
    grader_c: float = 1.0  # logistic only: inverse L2 strength


class ReportParams(_Section):
    """Clinician PDF reports (stage ``report``)."""

    title: str = "palsyflow facial function report"
    institution: str = ""
    page_size: Literal["A4", "letter"] = "A4"
    deterministic: bool = False  # ReportLab invariant mode; timestamp from SOURCE_DATE_EPOCH or omitted
    page_compression: bool = True  # False leaves content streams uncompressed (tests, text search)
    plot_width_in: float = 6.7
    plot_height_in: float = 2.9
    plot_dpi: int = 150
    min_change_points: float = 5.0  # symmetry-index changes below this are worded "about the same"
    healthy_range_percentile: float = 5.0  # at or above this percentile the summary names no weaker side


class ExportParams(_Section):
    """Standard exports (``palsyflow export bids|fhir``)."""

    fhir_shift_dates: bool = True  # FHIR bundles carry shifted session dates, like the BIDS export, and then no PDF (it prints the real date)


class SiteDelivery(BaseModel):
    """Where one site's new reports go."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recipients: list[str] = []  # clinicians' e-mail addresses
    attach: bool = False  # attach the PDF to the e-mail (off: the e-mail carries the pseudonym and a link only)


class DeliveryParams(_Section):
    """Delivery of new or changed reports (``palsyflow deliver``, the nightly's ``deliver`` task)."""

    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = "palsyflow@localhost"
    smtp_timeout_s: float = 10.0
    link_base_url: str = "https://palsyflow.invalid/reports"  # the e-mail's link: <base>/<session key>
    max_attempts: int = 5  # a delivery failing this many times is marked failed
    retry_delay_s: float = 300.0  # wait before the next attempt (doubled after each failure)
    sites: dict[str, SiteDelivery] = {}  # site label -> recipients, attach


class DetectorParams(_Section):
    """Healthy-vs-palsy photo detector (``palsyflow models train-detector``)."""

    seed: int = 7
    cv_folds: int = 5
    c: float = 0.3  # logistic regression inverse L2 strength
    reframe_margin: float = 0.25  # face box enlarged by this times its side on each side
    reframe_native_side: int = 112  # every face passes through this resolution (px), the lowest common one
    reframe_side: int = 256  # re-framed photo side (px) handed to the landmarker
    reframe_jpeg_quality: int = 85  # the same JPEG re-encoding for every photo
    hash_max_distance: int = 10  # dHash Hamming distance (of 64 bits) at or below which photos share a group
    n_bootstrap: int = 1000  # group bootstrap resamples for the confidence intervals
    specificity: float = 0.9  # operating point of the reported sensitivity
    top_features: int = 5  # SHAP contributions reported per prediction
    registered_model: str = "palsyflow-detector"


class WebParams(_Section):
    """The portal (``palsyflow web``): sessions, the login rate limit, patient links, uploads."""

    session_idle_s: int = 1800  # a session unused this long is over (sign in again)
    session_max_s: int = 43200  # and any session after this long
    login_max_failures: int = 5  # failed logins of one user name within login_window_s before 429
    login_window_s: int = 900
    patient_link_days: int = 14  # a patient self-recording link expires after this many days
    capture_seconds: float = 5.0  # length of each task the patient records at home
    capture_countdown_s: int = 3  # countdown before each recording starts
    upload_max_mb: int = 2000  # largest upload (all files of one drop together)
    base_url: str = "http://127.0.0.1:8080"  # how patients and clinicians reach the portal (links printed)


class Params(_Section):
    """All of ``params.yaml``."""

    paths: PathParams = PathParams()
    store: StoreParams = StoreParams()
    ingest: IngestParams = IngestParams()
    executor: ExecutorParams = ExecutorParams()
    schedule: ScheduleParams = ScheduleParams()
    landmarks: LandmarkParams = LandmarkParams()
    features: FeatureParams = FeatureParams()
    validate_: ValidationParams = Field(default_factory=ValidationParams, alias="validate")
    train: TrainParams = TrainParams()
    report: ReportParams = ReportParams()
    export: ExportParams = ExportParams()
    delivery: DeliveryParams = DeliveryParams()
    detector: DetectorParams = DetectorParams()
    web: WebParams = WebParams()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read and validate ``params.yaml``.

    Parameters
    ----------
    path : path-like
        YAML file; a missing file gives the defaults.

    Raises
    ------
    pydantic.ValidationError
        If a value has the wrong type or an unknown key is present.
    """
    path = Path(path)
    data = yaml.safe_load(path.read_text()) if path.exists() else {}
    return Params.model_validate(data or {})


@lru_cache(maxsize=4)
def cached_params(path: str = "params.yaml") -> Params:
    """:func:`load_params`, read once per process."""
    return load_params(path)


def dump_defaults() -> str:
    """The default parameters as YAML (to regenerate ``params.yaml``)."""
    return yaml.safe_dump(Params().model_dump(mode="json", by_alias=True), sort_keys=False)
