"""The delivery outbox: one row per (report, report sha256, channel).

* ``deliveries`` (row-level security per site on PostgreSQL, as migration 0008): a report version queued for the e-mail notification and the site's
  outbox folder, with its state (``queued``, ``sent``, ``failed``), attempts,
  ``next_attempt_at`` and ``last_error``. The unique constraint
  (``report_id``, ``sha256``, ``channel``) keeps a version from being delivered twice.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

_TS = sa.DateTime(timezone=True)

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``deliveries``."""
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), server_default="queued", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("last_error", sa.String(1000), nullable=True),
        sa.Column("target", sa.String(1024), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.CheckConstraint("state IN ('queued', 'sent', 'failed')", name="ck_deliveries_state"),
        sa.CheckConstraint("channel IN ('email', 'outbox')", name="ck_deliveries_channel"),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], name="fk_deliveries_report_id_reports"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_deliveries_site_id_sites"),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("report_id", "sha256", "channel", name="uq_deliveries_report_id_sha256_channel"),
    )
    op.create_index("ix_deliveries_report_id", "deliveries", ["report_id"])
    op.create_index("ix_deliveries_site_id", "deliveries", ["site_id"])
    op.create_index("ix_deliveries_state_next_attempt_at", "deliveries", ["state", "next_attempt_at"])
    if op.get_bind().dialect.name == "postgresql":  # site isolation as for every site table (migration 0008)
        op.execute("ALTER TABLE deliveries ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE deliveries FORCE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY palsyflow_site ON deliveries FOR ALL "
            "USING (palsyflow_site_id_ok(site_id)) WITH CHECK (palsyflow_site_id_ok(site_id))"
        )


def downgrade() -> None:
    """Drop ``deliveries``."""
    op.drop_table("deliveries")
