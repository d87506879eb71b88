"""The ``palsyflow`` command line (typer + rich). Each verb parses options and calls the library.

Verbs import palsyflow inside their body on purpose, after :func:`_runtime_env`: the
libraries palsyflow drives (Prefect, Great Expectations, numba, matplotlib, MediaPipe)
read their settings from the environment when first imported, so the entry point sets
the environment first. Nothing imports this module, so these imports make no cycle.

Failures: every failure is one line on stderr, ``palsyflow: error: <sentence>``, and
the traceback only with ``palsyflow --debug <verb>``. Exit status 0 for a run that
did its work (refused uploads are listed, they do not fail the run), 1 when a stage
failed, another run holds the data root, or nothing of what was asked could be done
(e.g. a drop whose manifest cannot be read, or every file of it refused), 2 for bad
usage (a bad option or label).
"""

from __future__ import annotations

import json
import os
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

class _App(typer.Typer):
    """The typer app; as the console entry, a failure no verb described is one sentence too (exit 1)."""

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - one sentence per failure, traceback under --debug
            _fail(exc)
            raise SystemExit(1) from None


app = _App(
    name="palsyflow",
    help="Objective, side-specific measures of facial motor function from face and voice recordings.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)

_state = {"debug": False}


@app.callback()
def _main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback of a failure.", envvar="PALSYFLOW_DEBUG")
    ] = False,
) -> None:
    """Objective, side-specific measures of facial motor function from face and voice recordings."""
    _state["debug"] = debug


def _fail(exc: BaseException, stage: str | None = None, store_url: str | None = None) -> typer.Exit:
    """Print ``palsyflow: error: <one sentence>`` (and the traceback under ``--debug``); the exit to raise."""
    from palsyflow.stages.runs import describe_error

    if _state["debug"]:
        console.print("".join(traceback.format_exception(exc)), markup=False, highlight=False, soft_wrap=True)
    console.print(f"palsyflow: error: {describe_error(exc, stage, store_url)}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _check_site(site: str | None, hint: str) -> None:
    from palsyflow.paths import InvalidLabelError, check_label

    if site is None:
        return
    try:
        check_label("site", site)
    except InvalidLabelError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None


RootOpt = Annotated[Path, typer.Option("--root", help="Project folder holding params.yaml.", envvar="PALSYFLOW_ROOT")]


def _runtime_env(root: Path) -> None:
    """Settings for the libraries we drive, set before they are imported (entry point only)."""
    defaults = {
        "PREFECT_HOME": str(root / ".prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        # Prefect logs every failed task's traceback at ERROR; the CLI prints one sentence instead
        "PREFECT_LOGGING_LEVEL": "WARNING" if _state["debug"] else "CRITICAL",
        # ... but flow and task run logs (stage summaries, retry reasons) reach the Prefect API at INFO;
        # the console handler keeps the level above, so the terminal stays quiet
        "PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL": "INFO",
        "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "INFO",
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING" if _state["debug"] else "CRITICAL",
        "GX_ANALYTICS_ENABLED": "false",
        "MLFLOW_LOGGING_LEVEL": "WARNING",
        "DVC_NO_ANALYTICS": "1",
        "NUMBA_CACHE_DIR": str(root / ".cache" / "numba"),
        "MPLCONFIGDIR": str(root / ".cache" / "matplotlib"),
        "GLOG_minloglevel": "2",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)


@contextmanager
def _rich_progress():
    from palsyflow import progress as hook

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        tasks: dict[str, int] = {}

        def reporter(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done, total=total)

        hook.set_reporter(reporter)
        try:
            yield bar
        finally:
            hook.set_reporter(None)


def _run_flow(root: Path, site: str | None) -> dict:
    """The nightly flow under the run lock, on a temporary Prefect server that dies with this process."""
    _runtime_env(root)
    from palsyflow import stages
    from palsyflow.project import Project

    project = Project.load(root)
    try:
        with stages.run_lock(project, command=f"palsyflow run (site={site or 'all'})"):
            try:  # before starting a server: a site without a drop is a permanent error
                stages.site_drops(project, [site] if site else None)
            except FileNotFoundError as exc:
                raise stages.StageFailed("ingest", exc) from exc
            from flows.server import temporary_server

            with temporary_server():
                from flows.nightly import nightly

                with _rich_progress():
                    return nightly(root=str(root), site=site)
    except stages.StageFailed as exc:
        raise _fail(exc) from None
    except Exception as exc:  # noqa: BLE001 - one sentence per failure, traceback under --debug
        raise _fail(exc, None, project.db_url) from None


def _print_summary(summary: dict) -> None:
    table = Table(title="nightly run")
    for col in ("stage", "processed", "skipped", "failed"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for name, res in summary.items():
        for r in res if isinstance(res, list) else [res]:
            if isinstance(r, dict):
                label = f"{name} {r['site']}" if r.get("site") else name
                table.add_row(label, str(r["processed"]), str(r["skipped"]), str(r["failed"]))
    console.print(table)
    refused = 0
    for res in summary.values():
        for r in res if isinstance(res, list) else [res]:
            if isinstance(r, dict):
                for f in r.get("failures", []):
                    refused += 1
                    console.print(f"[yellow]refused[/] {f.get('file')}: {f.get('reason')}", highlight=False)
    tail = f" with {refused} refused item(s), listed above and by `palsyflow status`" if refused else ""
    console.print(f"run succeeded{tail}")


@app.command()
def demo(root: RootOpt = Path(".")) -> None:
    """Run the nightly job on the bundled sample cohort (data/sample) and print where the reports are."""
    root = root.resolve()
    summary = _run_flow(root, None)
    _print_summary(summary)
    from palsyflow.project import Project
    from palsyflow.stages.catalog import Catalog

    reports_dir = Catalog.of(Project.load(root)).reports
    reports = sorted(reports_dir.rglob("*.pdf"))
    patient = [p for p in reports if Catalog.is_patient_report(p)]
    console.print(f"\n[bold green]{len(reports) - len(patient)} session reports and {len(patient)} patient reports[/] in {reports_dir}")
    for pdf in reports:
        typer.echo(str(pdf))


@app.command()
def run(
    root: RootOpt = Path("."),
    site: Annotated[Optional[str], typer.Option("--site", help="Only ingest and landmark this site's drop.")] = None,
) -> None:
    """Run the nightly flow now, for every site or one."""
    _check_site(site, "--site")
    _print_summary(_run_flow(root.resolve(), site))


@app.command()
def ingest(
    site: Annotated[str, typer.Argument(help="Site label (alphanumeric), e.g. north.")],
    drop: Annotated[Path, typer.Argument(help="The site's drop folder with manifest.csv.", exists=True, file_okay=False)],
    root: RootOpt = Path("."),
) -> None:
    """Ingest one site's drop: check, hash, copy into the raw tree, register; quarantine bad files.

    Exits 1 when nothing of the drop could be ingested (its manifest unreadable, or
    every file refused) or the ingest failed; refused files alone do not fail it.
    """
    _check_site(site, "SITE")
    root = root.resolve()
    _runtime_env(root)
    from palsyflow import stages
    from palsyflow.project import Project

    project = Project.load(root)
    try:
        with stages.run_lock(project, command=f"palsyflow ingest {site}"):
            with _rich_progress():
                res = stages.ingest_drop(project, site, drop.resolve())
            stages.export_registry(project)
    except Exception as exc:  # noqa: BLE001 - one sentence per failure, traceback under --debug
        raise _fail(exc, "ingest", project.db_url) from None
    console.print(f"{site}: {res.processed} new, {res.skipped} already ingested, {res.failed} quarantined")
    for f in res.failures:
        console.print(f"[yellow]quarantined[/] {f['file']}: {f['reason']}", highlight=False)
    if res.error:
        console.print(f"palsyflow: error: nothing of the drop was ingested: {res.error}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    if res.failed and not (res.processed or res.skipped):
        console.print(
            f"palsyflow: error: nothing of the drop was ingested: all {res.failed} item(s) were refused",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


@app.command()
def serve(
    root: RootOpt = Path("."),
    cron: Annotated[
        Optional[str],
        typer.Option(help="Cron schedule, read in --timezone; default params.yaml schedule.cron."),
    ] = None,
    timezone: Annotated[
        Optional[str],
        typer.Option(help="IANA time zone of the cron (e.g. Europe/Berlin); default params.yaml schedule.timezone (UTC)."),
    ] = None,
    site: Annotated[Optional[str], typer.Option(help="Only this site.")] = None,
) -> None:
    """Serve the nightly deployment on its cron schedule (needs a Prefect API, see infra/README.md)."""
    root = root.resolve()
    _runtime_env(root)
    from palsyflow.project import Project

    schedule = Project.load(root).params.schedule
    from flows.deploy import serve as serve_deployment

    serve_deployment(str(root), cron or schedule.cron, site, timezone=timezone or schedule.timezone)


@app.command()
def status(
    root: RootOpt = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    site: Annotated[Optional[str], typer.Option("--site", help="Only this site.")] = None,
) -> None:
    """Per site: subjects, sessions, recordings, quarantined files, reports; and every failure with its reason.

    Files are named by their manifest line and the keyed hash of their uploaded name.
    """
    _check_site(site, "--site")
    root = root.resolve()
    _runtime_env(root)
    from palsyflow import stages
    from palsyflow.project import Project

    project = Project.load(root)
    try:
        summary = stages.status(project, site=site)
    except Exception as exc:  # noqa: BLE001 - one sentence per failure, traceback under --debug
        raise _fail(exc, "status", project.db_url) from None
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    table = Table(title="palsyflow status")
    cols = ("subjects", "sessions", "recordings", "quarantined", "reports")
    table.add_column("site")
    for c in cols:
        table.add_column(c, justify="right")
    for site, counts in summary["sites"].items():
        table.add_row(site, *(str(counts.get(c, 0)) for c in cols))
    Console().print(table)
    runs = Table(title="last runs")
    for c in ("stage", "site", "status", "started", "processed", "skipped", "failed"):
        runs.add_column(c)
    for r in summary.get("runs", []):
        runs.add_row(*(str(r.get(c) if r.get(c) is not None else "") for c in ("stage", "site", "status", "started", "processed", "skipped", "failed")))
    Console().print(runs)
    for f in summary.get("failures", []):
        Console().print(f"[yellow]{f.get('kind')}[/] {f.get('site')} {f.get('file')}: {f.get('reason')}", highlight=False)


@app.command()
def landmarks(
    input: Annotated[Path, typer.Argument(help="A video or photo.", exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Option("--out", help="Output parquet: frame, point, x, y, z, spread, face_found.")],
    tta: Annotated[Optional[int], typer.Option("--tta", help="Augmented copies per key frame (1 = off).")] = None,
    backend: Annotated[
        Optional[str], typer.Option("--backend", help="mediapipe (478 points) or dlib (68 points, research use only).")
    ] = None,
    scheme: Annotated[
        Optional[str],
        typer.Option("--scheme", help="mediapipe478 or ibug68 (MediaPipe mapped to iBUG-68, offsets corrected)."),
    ] = None,
    root: RootOpt = Path("."),
) -> None:
    """Facial landmarks of one file to parquet (pixels of the orientation-corrected input, x right, y down).

    Columns: frame, point, x, y, z (NaN for dlib), spread (TTA MAD, pixels), face_found.
    A photo is frame 0. The per-frame quality table is written beside it as
    ``<out stem>_quality.parquet``.
    """
    root = root.resolve()
    _runtime_env(root)
    from palsyflow.landmarks import extract_landmarks, write_landmarks
    from palsyflow.landmarks.model import verify_model
    from palsyflow.project import Project
    from palsyflow.stages.catalog import Catalog

    project = Project.load(root)
    params = project.params.landmarks
    if tta is not None:
        params = params.model_copy(update={"tta_copies": tta})
    if backend is not None:
        if backend not in ("mediapipe", "dlib"):
            raise typer.BadParameter(f"{backend!r}: expected mediapipe or dlib", param_hint="--backend")
        params = params.model_copy(update={"backend": backend})
    scheme = scheme or ("ibug68" if params.backend == "dlib" else "mediapipe478")
    if scheme not in ("mediapipe478", "ibug68"):
        raise typer.BadParameter(f"{scheme!r}: expected mediapipe478 or ibug68", param_hint="--scheme")
    if params.backend == "dlib" and scheme == "mediapipe478":
        raise typer.BadParameter("the dlib backend gives only the ibug68 scheme", param_hint="--scheme")
    from palsyflow.ingest.probe import MediaError, media_kind

    try:
        kind = media_kind(input)  # by content, as ingest decides it
    except MediaError as exc:
        raise typer.BadParameter(str(exc), param_hint="INPUT") from exc
    if kind == "audio":
        raise typer.BadParameter(f"{input.name}: an audio file has no face", param_hint="INPUT")
    result = extract_landmarks(input, kind, params, verify_model(Catalog.of(project).face_model))
    if scheme == "ibug68" and params.backend == "mediapipe":
        from palsyflow.landmarks.result import to_scheme

        result = to_scheme(result, "ibug68")
    quality = out.with_name(out.stem + "_quality.parquet")
    write_landmarks(result, out, quality)
    found = result.quality["face_found"].sum()
    console.print(f"{input.name}: {result.quality.height} frames, face found in {found}; wrote {out} and {quality}")


@app.command()
def measure(
    task: Annotated[
        list[str],
        typer.Option(
            "--task",
            help="TASK=FILE, repeated: rest=rest.jpg --task smile=smile.jpg (clinic aliases accepted); "
            "FILE may be precomputed landmarks (.parquet/.csv, iBUG-68 or MediaPipe-478).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output JSON: static, per-task, House-Brackmann and speech measures.")],
    backend: Annotated[str, typer.Option("--backend", help="Landmark backend: mediapipe or dlib.")] = "mediapipe",
    prompt: Annotated[
        Optional[list[str]],
        typer.Option("--prompt", help='TASK=TEXT, repeated: the text spoken in a speech task (--prompt sentences="bin blue at f two now").'),
    ] = None,
    root: RootOpt = Path("."),
) -> None:
    """Asymmetry and speech measures of one session's task recordings to JSON.

    Face tasks take photos or videos, or landmarks computed elsewhere: a .parquet or .csv
    file, long (point, x, y[, frame, z]) or wide (x0, y0, x1, y1, ...), whose point count
    (68: iBUG-68, 478: MediaPipe) or ``scheme`` column names the scheme; iBUG-68 has no
    iris, so its millimetre and scale blocks are null with the reason. Speech tasks
    (vowel, ddk_pa, ddk_ta, ddk_ka, ddk_pataka, sentences, passage, silence, speech)
    take audio files or videos.
    Left and right are the patient's sides. Tasks that were not recorded are absent;
    a task below its activation threshold has no score; bad audio gets a status and a
    reason instead of numbers.
    """
    root = root.resolve()
    _runtime_env(root)
    from palsyflow.atomic import atomic_write_text
    from palsyflow.features.session import measure_session
    from palsyflow.landmarks.io import PRECOMPUTED_SUFFIXES, PrecomputedLandmarkError
    from palsyflow.landmarks.model import verify_model
    from palsyflow.project import Project
    from palsyflow.stages.catalog import Catalog

    files: dict[str, Path] = {}
    for item in task:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            raise typer.BadParameter(f"{item!r}: expected TASK=FILE", param_hint="--task")
        path = Path(file)
        if not path.is_file():
            raise typer.BadParameter(f"{file}: no such file", param_hint="--task")
        files[name] = path
    prompts: dict[str, str] = {}
    for item in prompt or []:
        name, sep, text = item.partition("=")
        if not sep or not name or not text.strip():
            raise typer.BadParameter(f"{item!r}: expected TASK=TEXT", param_hint="--prompt")
        prompts[name] = text
    if backend not in ("mediapipe", "dlib"):
        raise typer.BadParameter(f"{backend!r}: expected mediapipe or dlib", param_hint="--backend")
    project = Project.load(root)
    p = project.params
    detect = any(f.suffix.lower() not in PRECOMPUTED_SUFFIXES for f in files.values())
    try:
        result = measure_session(
            files,
            backend=backend,
            landmark_params=p.landmarks.model_copy(update={"backend": backend}),
            feature_params=p.features,
            ingest_params=p.ingest,
            model_path=verify_model(Catalog.of(project).face_model) if detect else Path("models/face_landmarker.task"),
            prompts=prompts,
        )
    except PrecomputedLandmarkError as exc:
        raise typer.BadParameter(str(exc), param_hint="--task") from None
    block = _detector_block(project, files, Catalog.of(project).face_model)
    if block is not None:
        result["palsy_detector"] = block
    atomic_write_text(out, json.dumps(result, indent=2, default=str))
    activated = [t for t, m in result["tasks"].items() if m.get("activated")]
    line = f"{len(result['tasks'])} face tasks measured ({', '.join(activated) or 'none'} activated)"
    sp = result.get("speech")
    if sp:
        fmt = lambda v: "n/a" if v is None else f"{v:.0f}"  # noqa: E731
        line += f"; speech: clarity {fmt(sp['clarity'])}/100, dysarthria index {fmt(sp['dysarthria_index'])}/100, quality {sp['quality']['status']}"
    console.print(f"{line}; wrote {out}")


@app.command()
def phantom(
    src: Annotated[Path, typer.Argument(help="A real healthy recording: a task photo (with --rest) or a video.", exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Option("--out", help="Output photo or .mp4 (audio kept); a .phantom.json sidecar is written beside it.")],
    side: Annotated[str, typer.Option("--side", help="The patient's side to weaken: left or right.")],
    weakness: Annotated[float, typer.Option("--weakness", min=0.0, max=1.0, help="Fraction of that side's movement removed, 0-1.")],
    rest: Annotated[
        Optional[Path], typer.Option("--rest", help="The rest photo of the same session (photos only).", exists=True, dir_okay=False)
    ] = None,
    droop: Annotated[float, typer.Option("--droop", help="Extra commissure droop at full weakness, IOD units.")] = 0.0,
    root: RootOpt = Path("."),
) -> None:
    """Simulate unilateral facial weakness of known side and severity on real pixels (labelled simulated)."""
    root = root.resolve()
    _runtime_env(root)
    from palsyflow.landmarks.model import verify_model
    from palsyflow.phantom import simulate_weakness
    from palsyflow.project import Project
    from palsyflow.stages.catalog import Catalog

    if side not in ("left", "right"):
        raise typer.BadParameter(f"{side!r}: expected left or right (the patient's side)", param_hint="--side")
    project = Project.load(root)
    params = project.params.landmarks.model_copy(update={"tta_copies": 1})
    path = simulate_weakness(
        src, out, side, weakness, verify_model(Catalog.of(project).face_model), rest=rest, params=params, droop=droop
    )
    console.print(f"wrote {path} (patient's {side} side, {weakness:.0%} weaker, SIMULATED)")


# --------------------------------------------------------------------------- db sub-app, audit (site isolation)

db_app = typer.Typer(name="db", help="Store administration (PostgreSQL site roles).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("grant-site")
def db_grant_site(
    site: Annotated[str, typer.Argument(help="Site label, e.g. north.")],
    role: Annotated[str, typer.Argument(help="An existing PostgreSQL login role.")],
    root: RootOpt = Path("."),
) -> None:
    """Make ROLE a member of SITE's group role: connected as ROLE, every query sees and writes only SITE's rows."""
    _check_site(site, "SITE")
    root = root.resolve()
    _runtime_env(root)
    from palsyflow.project import Project
    from palsyflow.store import audit, repo
    from palsyflow.store.db import session_scope

    project = Project.load(root)
    try:
        with session_scope(project.engine) as db:
            group = repo.grant_site(db, site, role)
            audit.record(db, site=site, action="role-granted", entity=role, detail={"group": group})
    except Exception as exc:  # noqa: BLE001 - one sentence per failure, traceback under --debug
        raise _fail(exc, None, project.db_url) from None
    console.print(f"{role} is now a member of {group}: connected as {role}, only site {site}'s rows are visible")


@app.command("audit")
def audit_cmd(
    site: Annotated[Optional[str], typer.Option("--site", help="Only this site.")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Only entries on or after this date (YYYY-MM-DD, UTC) or ISO time.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    fhir: Annotated[bool, typer.Option("--fhir", help="With --json: FHIR R4 AuditEvent resources.")] = False,
    root: RootOpt = Path("."),
) -> None:
    """The audit trail: who did what to which subject/session, when and from where."""
    import datetime as dt

    _check_site(site, "--site")
    when = None
    if since:
        try:
            when = dt.datetime.fromisoformat(since)
        except ValueError:
            raise typer.BadParameter(f"{since!r} is not a date (YYYY-MM-DD) or ISO 8601 time", param_hint="--since") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
    root = root.resolve()
    _runtime_env(root)
    from palsyflow.project import Project
    from palsyflow.store import audit
    from palsyflow.store.db import session_scope

    project = Project.load(root)
    try:
        with session_scope(project.engine) as db:
            rows = audit.events(db, site=site, since=when)
            out = [audit.as_fhir(r) if fhir else audit.as_dict(r) for r in rows]
    except Exception as exc:  # noqa: BLE001 - one sentence per failure, traceback under --debug
        raise _fail(exc, None, project.db_url) from None
    if as_json:
        typer.echo(json.dumps(out, indent=2, default=str))
        return
    table = Table(title="palsyflow audit")
    cols = ("recorded_at", "site", "action", "subject", "session", "entity", "actor", "source")
    for c in cols:
        table.add_column(c)
    for r in rows:
        d = audit.as_dict(r)
        table.add_row(*(str(d[c]) if d[c] is not None else "" for c in cols))
    Console().print(table)


# --------------------------------------------------------------------------- exports and delivery

export_app = typer.Typer(name="export", help="Standard exports of one site: BIDS (research) and FHIR R4 (clinical systems).", no_args_is_help=True)
app.add_typer(export_app)

SiteOpt = Annotated[str, typer.Option("--site", help="Site label (alphanumeric).")]
OutOpt = Annotated[Path, typer.Option("--out", help="Output folder (created).", file_okay=False)]


@export_app.command("bids")
def export_bids_cmd(site: SiteOpt, out: OutOpt, root: RootOpt = Path(".")) -> None:
    """Write the site's recordings, landmarks and scores as a BIDS dataset (dates shifted per subject)."""
    _check_site(site, "--site")
    root = root.resolve()
    _runtime_env(root)
    from palsyflow.project import Project
    from palsyflow.stages.export import export_bids

    project = Project.load(root)
    try:
        res = export_bids(project, site, out.resolve())
    except Exception as exc:  # noqa: BLE001 - one sentence per failure, traceback under --debug
        raise _fail(exc, "export", project.db_url) from None
    console.print(
        f"{site}: {res.subjects} subjects, {res.sessions} sessions, {res.recordings} recordings, "
        f"{res.derivative_files} derivative files -> {out}"
    )


@export_app.command("fhir")
def export_fhir_cmd(site: SiteOpt, out: OutOpt, root: RootOpt = Path(".")) -> None:
    """Write one FHIR R4 transaction Bundle (JSON) per reported session of the site."""
    _check_site(site, "--site")
    root = root.resolve()
    _runtime_env(root)
    from palsyflow.project import Project
    from palsyflow.stages.export import export_fhir

    project = Project.load(root)
    try:
        files = export_fhir(project, site, out.resolve())
    except Exception as exc:  # noqa: BLE001 - one sentence per failure, traceback under --debug
        raise _fail(exc, "export", project.db_url) from None
    console.print(f"{site}: {len(files)} FHIR bundles -> {out}")


@app.command()
def deliver(
    root: RootOpt = Path("."),
    site: Annotated[Optional[str], typer.Option("--site", help="Only this site.")] = None,
) -> None:
    """Send new or changed reports: e-mail to the site's clinicians and a copy to its outbox folder (once per version)."""
    _check_site(site, "--site")
    root = root.resolve()
    _runtime_env(root)
    from palsyflow import stages
    from palsyflow.project import Project
    from palsyflow.stages.deliver import deliver as deliver_reports

    project = Project.load(root)
    try:
        with stages.run_lock(project, command="palsyflow deliver"):
            res = deliver_reports(project, site)
    except Exception as exc:  # noqa: BLE001 - one sentence per failure, traceback under --debug
        raise _fail(exc, "deliver", project.db_url) from None
    console.print(f"deliver: {res.processed} sent, {res.failed} failed (retried on the next run); " + "; ".join(res.notes))
    for f in res.failures:
        console.print(f"[yellow]not delivered[/] {f['file']}: {f['reason']}", highlight=False)


# ---- models: the MLflow registry (promote, list); `models train-detector` joins this sub-app
models_app = typer.Typer(
    name="models",
    help="The registered models: list versions and their aliases, promote a version to production.",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(
    name: Annotated[Optional[str], typer.Argument(help="Registered model (default: train.registered_model).")] = None,
    root: RootOpt = Path("."),
) -> None:
    """Every version of a registered model, newest first: aliases, DVC experiment, run, description."""
    root = root.resolve()
    _runtime_env(root)
    from palsyflow import tracking
    from palsyflow.project import Project

    project = Project.load(root)
    name = name or project.params.train.registered_model
    versions = tracking.list_versions(name, project.mlflow_uri)
    if not versions:
        console.print(f"no versions of {name} in {project.mlflow_uri}")
        return
    for v in versions:
        aliases = ",".join(v["aliases"]) or "-"
        exp = f" experiment={v['experiment']}" if v["experiment"] else ""
        typer.echo(f"{name}/{v['version']}\t{aliases}\trun={v['run_id']}{exp}\t{v['description'][:160]}")


@models_app.command("promote")
def models_promote(
    name: Annotated[str, typer.Argument(help="Registered model, e.g. palsyflow-normative.")],
    version: Annotated[int, typer.Argument(help="The version to serve as production.")],
    root: RootOpt = Path("."),
) -> None:
    """Move the `production` alias to VERSION (the only command that moves it after a model's first version)."""
    root = root.resolve()
    _runtime_env(root)
    from palsyflow import tracking
    from palsyflow.project import Project

    project = Project.load(root)
    before = tracking.promote(name, version, project.mlflow_uri)
    was = f" (was {name}/{before})" if before else ""
    console.print(f"{name}/{version} is production{was}")


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    app()


# --------------------------------------------------------------------------- models (detector, grader)


def _detector_block(project, files: dict, face_model: Path) -> dict | None:
    """The ``palsy_detector`` block (:func:`palsyflow.stages.models.detector_block`)."""
    from palsyflow.stages.models import detector_block

    return detector_block(project, files, face_model)


@models_app.command("train-detector")
def train_detector(
    labels: Annotated[Path, typer.Option("--labels", help="CSV with file,label (palsy/healthy)[,group]; paths relative to the CSV.", exists=True, dir_okay=False)],
    register: Annotated[bool, typer.Option("--register/--no-register", help="Log and register in MLflow.")] = True,
    root: RootOpt = Path("."),
) -> None:
    """Train the healthy-vs-palsy detector on re-framed photos, evaluate it grouped by near-duplicates, register it."""
    root = root.resolve()
    _runtime_env(root)
    from palsyflow.project import Project
    from palsyflow.stages.models import train_detector as train

    project = Project.load(root)
    p = project.params.detector
    try:
        out = train(project, labels, register=register)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--labels") from None
    for problem in out.problems:
        console.print(f"[yellow]skipped[/] {problem}")
    m = out.metrics
    console.print(
        f"detector: AUC {m['auc']:.3f} [{m['auc_ci'][0]:.3f}, {m['auc_ci'][1]:.3f}], sensitivity at {p.specificity:.0%} specificity "
        f"{m['sensitivity_at_spec']:.3f}, Brier {m['brier']:.3f}, ECE {m['ece']:.3f} ({m['n_palsy']} palsy / {m['n_healthy']} healthy, {m['n_groups']} groups)"
    )
    console.print("top SHAP features: " + ", ".join(f"{k} {v:.2f}" for k, v in list(out.shap_summary.items())[:5]))
    if out.registered:
        console.print(f"registered {p.registered_model} version {out.registered['version']} (run {out.registered['run_id']})")


@models_app.command("train-grader")
def train_grader(
    sessions: Annotated[Optional[Path], typer.Option("--sessions", help="Session table (parquet) with hb_grade and subject; default: the validated session table.")] = None,
    register: Annotated[bool, typer.Option("--register/--no-register", help="Log the evaluation to MLflow.")] = True,
    root: RootOpt = Path("."),
) -> None:
    """Evaluate the House-Brackmann grader on the clinic's graded sessions, grouped by subject (or say why not)."""
    root = root.resolve()
    _runtime_env(root)
    from palsyflow.project import Project
    from palsyflow.stages.models import evaluate_grader

    project = Project.load(root)
    try:
        out = evaluate_grader(project, sessions, register=register)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--sessions") from None
    if out.refused:
        console.print(f"[red]{out.refused}[/]")
        raise typer.Exit(1)
    res = out.result
    lo, hi = res["clinician_exact_agreement"]
    console.print(
        f"grader (subject-grouped, {res['cv_folds']} folds, {res['n_sessions']} sessions of {res['n_subjects']} subjects): "
        f"exact {res['exact_agreement']:.2f} [{res['exact_agreement_ci'][0]:.2f}, {res['exact_agreement_ci'][1]:.2f}] "
        f"(clinicians {lo:.0%}-{hi:.0%}), within one {res['within_one_agreement']:.2f}, quadratic kappa {res['kappa_quadratic']:.2f}"
    )
    if out.run_id:
        console.print(f"logged run {out.run_id}")



users_app = typer.Typer(name="users", help="Portal accounts and patient self-recording links.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name (letters and digits).")],
    site: Annotated[str, typer.Option("--site", help="The account's site.")],
    role: Annotated[str, typer.Option("--role", help="clinician, data_manager or admin.")],
    root: RootOpt = Path("."),
) -> None:
    """Add a portal account; the password is read from standard input (one line)."""
    _check_site(site, "--site")
    root = root.resolve()
    _runtime_env(root)
    import sys

    from palsyflow.project import Project
    from palsyflow.store import portal
    from palsyflow.store.db import session_scope

    password = sys.stdin.readline().rstrip("\r\n")
    project = Project.load(root)
    try:
        with session_scope(project.engine) as db:
            portal.add_user(db, name, site, role, password)
    except ValueError as exc:
        console.print(f"palsyflow: error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    except Exception as exc:  # noqa: BLE001 - one sentence per failure, traceback under --debug
        raise _fail(exc, None, project.db_url) from None
    console.print(f"user {name} added: {role.replace('_', ' ')} of site {site}")


@users_app.command("patient-link")
def users_patient_link(
    subject: Annotated[str, typer.Argument(help="The patient's pseudonym.")],
    site: Annotated[str, typer.Option("--site", help="The patient's site.")],
    root: RootOpt = Path("."),
) -> None:
    """Make a one-time self-recording link for a patient and print it (it is shown only once)."""
    _check_site(site, "--site")
    root = root.resolve()
    _runtime_env(root)
    from palsyflow.project import Project
    from palsyflow.store import audit, portal
    from palsyflow.store.db import session_scope

    project = Project.load(root)
    web = project.params.web
    try:
        with session_scope(project.engine) as db:
            token, expires = portal.create_patient_link(db, site, subject, "cli", web.patient_link_days)
            audit.record(db, site=site, action="patient-link", subject=subject, detail={"expires": expires.isoformat()})
    except Exception as exc:  # noqa: BLE001 - one sentence per failure, traceback under --debug
        raise _fail(exc, None, project.db_url) from None
    typer.echo(f"{web.base_url.rstrip('/')}/p/{token}")
    console.print(f"valid until {expires:%Y-%m-%d %H:%M} UTC, for one upload")


@app.command("web")
def web_cmd(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
    root: RootOpt = Path("."),
) -> None:
    """Serve the clinic portal (clinician review, data-manager uploads, patient self-recording)."""
    root = root.resolve()
    _runtime_env(root)
    import uvicorn

    from palsyflow.project import Project
    from palsyflow.web.app import create_app

    project = Project.load(root)
    console.print(f"palsyflow portal on http://{host}:{port}/ (data root {root})")
    uvicorn.run(create_app(project), host=host, port=port, log_level="warning", proxy_headers=False)
