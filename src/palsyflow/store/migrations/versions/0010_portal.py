"""The portal: accounts, login attempts, report sign-offs, patient self-recording links.

* ``web_users``: a portal account of one site (``clinician``, ``data_manager``,
  ``admin``) with its Argon2id hash. Read at login, before the request has a site, so
  without row-level security.
* ``login_attempts``: user name, success, time (the login rate limit).
* ``report_signoffs`` (row-level security per site on PostgreSQL, as migration 0008):
  which report version (sha256) a clinician signed, with the comment.
* ``patient_links`` (row-level security per site): the sha256 of a one-time link's token,
  its subject, expiry and upload time.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

_TS = sa.DateTime(timezone=True)

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SITE_TABLES = ("report_signoffs", "patient_links")


def upgrade() -> None:
    """Create the portal's tables."""
    op.create_table(
        "web_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint("role IN ('clinician', 'data_manager', 'admin')", name="ck_web_users_role"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_web_users_site_id_sites"),
        sa.PrimaryKeyConstraint("id", name="pk_web_users"),
        sa.UniqueConstraint("username", name="uq_web_users_username"),
    )
    op.create_index("ix_web_users_site_id", "web_users", ["site_id"])
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_attempts"),
    )
    op.create_index("ix_login_attempts_username_at", "login_attempts", ["username", "at"])
    op.create_table(
        "report_signoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("signed_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], name="fk_report_signoffs_report_id_reports"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_report_signoffs_site_id_sites"),
        sa.PrimaryKeyConstraint("id", name="pk_report_signoffs"),
    )
    op.create_index("ix_report_signoffs_report_id", "report_signoffs", ["report_id"])
    op.create_index("ix_report_signoffs_site_id", "report_signoffs", ["site_id"])
    op.create_table(
        "patient_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("uploaded_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_patient_links_site_id_sites"),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], name="fk_patient_links_subject_id_subjects"),
        sa.PrimaryKeyConstraint("id", name="pk_patient_links"),
        sa.UniqueConstraint("token_sha256", name="uq_patient_links_token_sha256"),
    )
    op.create_index("ix_patient_links_site_id", "patient_links", ["site_id"])
    op.create_index("ix_patient_links_subject_id", "patient_links", ["subject_id"])
    if op.get_bind().dialect.name == "postgresql":  # site isolation as for every site table (migration 0008)
        for table in _SITE_TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY palsyflow_site ON {table} FOR ALL "
                "USING (palsyflow_site_id_ok(site_id)) WITH CHECK (palsyflow_site_id_ok(site_id))"
            )


def downgrade() -> None:
    """Drop the portal's tables."""
    for table in ("patient_links", "report_signoffs", "login_attempts", "web_users"):
        op.drop_table(table)
