"""Alembic environment of the palsyflow session store.

Two ways in:

* programmatic (normal): :func:`palsyflow.store.db.init_db` passes an open connection
  in ``config.attributes["connection"]``;
* command line (developers writing a migration)::

      alembic -c src/palsyflow/store/migrations/alembic.ini -x url=sqlite:////tmp/dev.db upgrade head

  where the URL comes from ``-x url=...``, else ``PALSYFLOW_DB_URL``.

Logging is deliberately left alone (no ``fileConfig``): the host application owns it.
"""

from __future__ import annotations

import os

from alembic import context

from palsyflow.store.db import ENV_VAR, make_engine
from palsyflow.store.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def _render_item(type_, obj, autogen_context):
    """Render the UTC timestamp type as a plain ``sa.DateTime(timezone=True)``."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("import sqlalchemy as sa")
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        render_item=_render_item,
    )


def _url_from_cli() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(ENV_VAR, "")
    if not url:
        raise RuntimeError(f"no database URL: pass -x url=... or set {ENV_VAR}")
    return url


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (``alembic upgrade head --sql``)."""
    context.configure(
        url=_url_from_cli(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a live connection."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url_from_cli())
    try:
        with engine.begin() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
