"""Recordings remember the manifest line that delivered them.

* ``recordings.manifest_line``: the 1-based line of the drop's ``manifest.csv`` that
  registered the file, so that a stage after ingest (landmarks, features) names the
  uploaded file *and* its manifest line when it refuses the recording. ``NULL`` for
  recordings registered before this revision.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``recordings.manifest_line`` (nullable)."""
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("manifest_line", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Drop ``recordings.manifest_line``."""
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("manifest_line")
