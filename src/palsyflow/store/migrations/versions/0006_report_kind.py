"""A session has two reports: the clinician PDF and the one-page patient PDF.

* ``reports.kind``: ``"clinician"`` or ``"patient"``
  (:data:`palsyflow.store.models.REPORT_KINDS`); rows written before this revision
  are clinician reports (the server default fills them).
* The unique key moves from ``session_id`` to ``(session_id, kind)``.

The downgrade deletes the patient rows (their PDFs stay on disk) and restores the
one-report-per-session key.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``reports.kind`` (not null, default ``clinician``); unique ``(session_id, kind)``."""
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="clinician"))
        batch.drop_constraint("uq_reports_session_id", type_="unique")
        batch.create_unique_constraint("uq_reports_session_id_kind", ["session_id", "kind"])


def downgrade() -> None:
    """Delete the patient rows, restore unique ``session_id`` and drop ``reports.kind``."""
    op.execute(sa.text("DELETE FROM reports WHERE kind <> 'clinician'"))
    with op.batch_alter_table("reports") as batch:
        batch.drop_constraint("uq_reports_session_id_kind", type_="unique")
        batch.create_unique_constraint("uq_reports_session_id", ["session_id"])
        batch.drop_column("kind")
