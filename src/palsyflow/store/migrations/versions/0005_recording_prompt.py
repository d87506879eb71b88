"""Recordings of a speech task remember the text spoken.

* ``recordings.prompt``: the manifest's optional ``prompt`` column, the text the speaker
  read in a speech task (``sentences``, ``passage``, ``speech``). The recogniser scores
  the recording against it (machine intelligibility). ``NULL`` when not given and for
  recordings registered before this revision.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``recordings.prompt`` (nullable text)."""
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("prompt", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop ``recordings.prompt``."""
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("prompt")
