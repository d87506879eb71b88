"""Runs know their process; a run that died is ``interrupted``; quarantine items can be resolved.

* ``processing_runs.pid`` and ``processing_runs.host``: the process running the stage, so
  that ``palsyflow status`` (or the next run) can tell a run still going from one whose
  process was killed; the status check constraint admits ``interrupted``.
* ``quarantine_items.recording_key``: the recording a stage after ingest refused
  (landmarks, validation), so the refusal can be resolved when it later passes.
* ``quarantine_items.resolved_at``: when the refusal stopped standing (see
  :func:`palsyflow.store.repo.resolve_quarantine`); ``NULL`` while it stands.

Old rows get ``NULL`` in every new column: their runs are judged by the run lock
alone, their quarantine items stand until resolved. The downgrade drops the columns and
turns ``interrupted`` runs back into ``failed`` ones (the old constraint has no
``interrupted``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "status IN ('running', 'succeeded', 'failed')"
_NEW = "status IN ('running', 'succeeded', 'failed', 'interrupted')"


def upgrade() -> None:
    """Add the run's pid and host, the ``interrupted`` status and the quarantine resolution columns."""
    with op.batch_alter_table("processing_runs") as batch:
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("host", sa.String(255), nullable=True))
        batch.drop_constraint("ck_processing_runs_status", type_="check")
        batch.create_check_constraint("ck_processing_runs_status", sa.text(_NEW))
    with op.batch_alter_table("quarantine_items") as batch:
        batch.add_column(sa.Column("recording_key", sa.String(1024), nullable=True))
        batch.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop the new columns; ``interrupted`` runs become ``failed``."""
    op.execute(
        "UPDATE processing_runs SET status = 'failed', error = COALESCE(error, 'interrupted') "
        "WHERE status = 'interrupted'"
    )
    with op.batch_alter_table("quarantine_items") as batch:
        batch.drop_column("resolved_at")
        batch.drop_column("recording_key")
    with op.batch_alter_table("processing_runs") as batch:
        batch.drop_constraint("ck_processing_runs_status", type_="check")
        batch.create_check_constraint("ck_processing_runs_status", sa.text(_OLD))
        batch.drop_column("host")
        batch.drop_column("pid")
