"""Store fixtures: every store test runs on SQLite and on PostgreSQL.

The PostgreSQL variant runs in a schema of its own (created here, dropped afterwards),
selected through the connection's ``search_path`` so that the store tables *and*
alembic's version table land in it; parallel or CI runs never collide. It is skipped
with a reason when PostgreSQL is unreachable.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("PALSYFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_pg_state: dict[str, str | None] = {}


def _pg_unreachable_reason() -> str | None:
    """``None`` if PostgreSQL answers at PG_URL, else why not (checked once)."""
    if "reason" not in _pg_state:
        url = sa.make_url(PG_URL).update_query_dict({"connect_timeout": "3"})
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            _pg_state["reason"] = None
        except Exception as exc:  # any driver / network failure means "skip"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            _pg_state["reason"] = f"PostgreSQL unreachable at {url.render_as_string()}: {first}"
        finally:
            engine.dispose()
    return _pg_state["reason"]


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def db_url(request, tmp_path) -> Iterator[str]:
    """A URL to an empty database on each backend (not yet migrated)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'palsyflow.db'}"
        return

    reason = _pg_unreachable_reason()
    if reason:
        pytest.skip(reason)
    schema = f"pftest_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    request.node.pg_schema = schema
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def engine(db_url) -> Iterator[sa.Engine]:
    """A migrated store engine on each backend."""
    from palsyflow.store.db import init_db

    eng = init_db(db_url)
    try:
        yield eng
    finally:
        eng.dispose()
