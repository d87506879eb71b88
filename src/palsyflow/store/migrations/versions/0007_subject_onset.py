"""Subjects remember the date of onset of their palsy.

* ``subjects.onset``: the manifest's optional ``onset`` column (``YYYY-MM-DD``), one date
  per subject; the session table's ``days_since_onset`` is the session date minus it.
  ``NULL`` when not given and for subjects registered before this revision.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``subjects.onset`` (nullable date)."""
    op.add_column("subjects", sa.Column("onset", sa.Date(), nullable=True))


def downgrade() -> None:
    """Drop ``subjects.onset``.

    A plain ``ALTER TABLE ... DROP COLUMN`` (SQLite >= 3.35, PostgreSQL), not a batch
    table copy: SQLite cannot drop and recreate ``subjects`` while ``sessions`` refers
    to it with foreign keys enforced.
    """
    op.drop_column("subjects", "onset")
