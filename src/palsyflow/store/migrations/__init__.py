"""Alembic environment of the session store (applied by :func:`palsyflow.store.db.init_db`)."""
