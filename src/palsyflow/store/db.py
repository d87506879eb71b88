"""Engines, sessions and schema migrations of the session store.

The store is SQLite by default (one file under the data root) and PostgreSQL when
several sites share it. The URL comes from ``params.store.url`` and is overridden by
the environment variable ``PALSYFLOW_DB_URL`` (:func:`resolve_url`).

The schema is owned by the alembic migrations shipped inside the package
(``palsyflow/store/migrations``); :func:`init_db` applies them programmatically, so no
``alembic.ini`` is needed at run time.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

#: Environment variable that overrides ``params.store.url``.
ENV_VAR = "PALSYFLOW_DB_URL"

#: Folder of the alembic environment (env.py, script.py.mako, versions/).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Key of the PostgreSQL advisory lock held while migrating (serialises concurrent
#: :func:`init_db` calls from several workers).
_PG_MIGRATION_LOCK = 0x70616C7379  # "palsy"


def _is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _is_file_uri(url: URL) -> bool:
    return (url.database or "").startswith("file:")


def resolve_url(params_url: str, base_dir: Path | str, env: Mapping[str, str] = os.environ) -> str:
    """The store URL to use.

    Parameters
    ----------
    params_url : str
        ``params.store.url`` (SQLAlchemy URL).
    base_dir : path-like
        Folder that relative SQLite paths are resolved against (the project root).
    env : mapping, optional
        Environment; a non-empty ``PALSYFLOW_DB_URL`` replaces ``params_url``.

    Returns
    -------
    str
        A SQLAlchemy URL; for a file-based SQLite database the path is absolute.

    Raises
    ------
    sqlalchemy.exc.ArgumentError
        If the URL cannot be parsed.
    """
    raw = (env.get(ENV_VAR) or "").strip() or params_url
    url = sa.make_url(raw)
    if url.get_backend_name() == "sqlite" and not _is_memory_sqlite(url) and not _is_file_uri(url):
        path = Path(url.database).expanduser()
        if not path.is_absolute():
            path = Path(base_dir).expanduser().resolve() / path
        url = url.set(database=str(path))
    return url.render_as_string(hide_password=False)


def _enable_wal(cur, timeout_s: float) -> None:
    """Switch a SQLite database to WAL journaling, waiting out concurrent switchers.

    The mode is persistent, so this is a read once the first connection has set it.
    Changing it needs an exclusive lock and SQLite does not always apply the busy
    handler to it, hence the explicit retry.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            mode = cur.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def make_engine(url: str | URL, *, busy_timeout_s: float = 30.0, echo: bool = False) -> Engine:
    """Create an engine configured for the store.

    SQLite connections get foreign keys enforced, WAL journaling (readers never block
    the writer) and a busy timeout; transactions start with ``BEGIN IMMEDIATE`` so
    that concurrent writers (several stage workers) queue on the busy timeout
    instead of failing with "database is locked" when a read lock cannot be upgraded.
    An in-memory SQLite URL (``sqlite://``) gets a single shared connection, so the
    database survives between sessions of the same engine (tests only).
    PostgreSQL engines use ``pool_pre_ping``.

    Parameters
    ----------
    url : str or sqlalchemy.engine.URL
        Database URL, e.g. ``sqlite:////abs/palsyflow.db`` or
        ``postgresql+psycopg://user@host:5432/db``.
    busy_timeout_s : float, optional
        How long a SQLite writer waits for the lock before giving up.
    echo : bool, optional
        Log every SQL statement.

    Returns
    -------
    sqlalchemy.engine.Engine
    """
    url = sa.make_url(url)
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True, echo=echo)

    memory = _is_memory_sqlite(url)
    kwargs: dict = {"echo": echo, "connect_args": {"timeout": busy_timeout_s}}
    if memory:
        kwargs["poolclass"] = StaticPool
        kwargs["connect_args"]["check_same_thread"] = False
    engine = sa.create_engine(url, **kwargs)
    timeout_ms = int(busy_timeout_s * 1000)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # pragma: no cover - exercised via engine use
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={timeout_ms}")
            if not memory:
                _enable_wal(cur, busy_timeout_s)
                cur.execute("PRAGMA synchronous=NORMAL")
        finally:
            cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # pragma: no cover - exercised via engine use
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def alembic_config(connection: sa.Connection | None = None, secret_path: Path | str | None = None) -> Config:
    """An alembic configuration built in code (no ``alembic.ini`` needed).

    Parameters
    ----------
    connection : sqlalchemy.Connection, optional
        Connection that ``env.py`` migrates; without it ``env.py`` falls back to
        ``-x url=...`` / ``PALSYFLOW_DB_URL`` (command-line use).
    secret_path : path-like, optional
        The installation secret's key file, for migrations that hash stored
        identifiers (0006); ``PALSYFLOW_SECRET`` takes precedence.

    Returns
    -------
    alembic.config.Config
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    if secret_path is not None:
        cfg.attributes["palsyflow_secret_path"] = str(secret_path)
    return cfg


def head_revision() -> str:
    """The newest migration revision shipped with this package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None`` before the first migration)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def init_db(url: str | URL | Engine, *, busy_timeout_s: float = 30.0, secret_path: Path | str | None = None) -> Engine:
    """Create or upgrade the store schema to the newest migration.

    Idempotent: on an up-to-date database nothing changes. For a SQLite file the
    parent folder is created. Concurrent calls are serialised (SQLite write lock,
    PostgreSQL advisory lock), so several workers may call it at start-up.

    Parameters
    ----------
    url : str, sqlalchemy.engine.URL or sqlalchemy.engine.Engine
        Database URL (see :func:`resolve_url`) or an engine made by
        :func:`make_engine`.
    busy_timeout_s : float, optional
        Passed to :func:`make_engine` when ``url`` is not an engine.
    secret_path : path-like, optional
        The installation secret's key file (:func:`secret_file`), read by a migration
        that must hash identifiers already stored.

    Returns
    -------
    sqlalchemy.engine.Engine
        The engine, ready for :func:`session_scope`.

    Raises
    ------
    sqlalchemy.exc.OperationalError
        If the database cannot be reached or created.
    """
    if isinstance(url, Engine):
        engine = url
    else:
        parsed = sa.make_url(url)
        if parsed.get_backend_name() == "sqlite" and not _is_memory_sqlite(parsed) and not _is_file_uri(parsed):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(parsed, busy_timeout_s=busy_timeout_s)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        command.upgrade(alembic_config(conn, secret_path=secret_path), "head")
    return engine


def secret_file(url: str | URL, data_root: Path | str) -> Path:
    """Where the installation secret's key file lives (:func:`palsyflow.pseudonym.load_or_create_secret`).

    Beside the database file for a SQLite store (the store folder), else
    ``<data root>/store/secret.key``. ``PALSYFLOW_SECRET`` overrides the file; several
    machines sharing one PostgreSQL store must use the same secret.

    Parameters
    ----------
    url : str or sqlalchemy.engine.URL
        The store URL (:func:`resolve_url`).
    data_root : path-like
        The data root (``paths.data``).

    Returns
    -------
    pathlib.Path
    """
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and not _is_memory_sqlite(parsed) and not _is_file_uri(parsed):
        return Path(parsed.database).expanduser().parent / "secret.key"
    return Path(data_root) / "store" / "secret.key"


@contextlib.contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any exception.

    Objects stay usable after the block (``expire_on_commit=False``).

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine

    Yields
    ------
    sqlalchemy.orm.Session

    Raises
    ------
    Exception
        Whatever the block raised, after rolling back.
    """
    db = sessionmaker(bind=engine, expire_on_commit=False)()
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()
