"""Scores say why a weaker side was named.

* ``scores.side_basis``: ``healthy-range``, ``noise-floor``, ``movement-tasks`` or
  ``earlier-session:<YYYYMMDD>`` (:data:`palsyflow.measures.symmetry.SIDE_BASES`), null
  when no side is named. ``NULL`` for scores written before this revision; the next
  score stage run fills it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``scores.side_basis`` (nullable text)."""
    op.add_column("scores", sa.Column("side_basis", sa.String(64), nullable=True))


def downgrade() -> None:
    """Drop ``scores.side_basis`` (plain ``ALTER TABLE ... DROP COLUMN``, as in 0007)."""
    op.drop_column("scores", "side_basis")
