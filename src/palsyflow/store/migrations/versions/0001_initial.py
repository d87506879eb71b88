"""Initial schema: sites, subjects, sessions, recordings, quarantine, runs, scores, reports.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table of the store."""
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sites"),
        sa.UniqueConstraint("label", name="uq_sites_label"),
    )
    op.create_table(
        "processing_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("status", sa.String(16), server_default="running", nullable=False),
        sa.Column("code_version", sa.String(64), nullable=False),
        sa.Column("params_hash", sa.String(64), nullable=False),
        sa.Column("input_hashes", sa.JSON(), nullable=False),
        sa.Column("n_processed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("n_skipped", sa.Integer(), server_default="0", nullable=False),
        sa.Column("n_failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("site", sa.String(64), nullable=True),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="ck_processing_runs_status"),
        sa.PrimaryKeyConstraint("id", name="pk_processing_runs"),
    )
    op.create_index("ix_processing_runs_stage_started_at", "processing_runs", ["stage", "started_at"])
    op.create_table(
        "subjects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("healthy", sa.Boolean(), nullable=True),
        sa.Column("simulated", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_subjects_site_id_sites"),
        sa.PrimaryKeyConstraint("id", name="pk_subjects"),
        sa.UniqueConstraint("site_id", "label", name="uq_subjects_site_id_label"),
    )
    op.create_index("ix_subjects_site_id", "subjects", ["site_id"])
    op.create_table(
        "quarantine_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("original_name", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("quarantined_path", sa.String(1024), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_quarantine_items_site_id_sites"),
        sa.PrimaryKeyConstraint("id", name="pk_quarantine_items"),
        sa.UniqueConstraint(
            "site_id", "original_name", "reason", name="uq_quarantine_items_site_id_original_name_reason"
        ),
    )
    op.create_index("ix_quarantine_items_site_id", "quarantine_items", ["site_id"])
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(8), nullable=False),
        sa.Column("session_date", sa.Date(), nullable=False),
        sa.Column("hb_grade", sa.SmallInteger(), nullable=True),
        sa.CheckConstraint(
            "hb_grade IS NULL OR (hb_grade >= 1 AND hb_grade <= 6)", name="ck_sessions_hb_grade_range"
        ),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], name="fk_sessions_subject_id_subjects"),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.UniqueConstraint("subject_id", "label", name="uq_sessions_subject_id_label"),
    )
    op.create_index("ix_sessions_subject_id", "sessions", ["subject_id"])
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("raw_path", sa.String(1024), nullable=False),
        sa.Column("original_name", sa.String(1024), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("codec", sa.String(64), nullable=True),
        sa.Column("has_audio", sa.Boolean(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint("kind IN ('video', 'photo', 'audio')", name="ck_recordings_kind"),
        sa.CheckConstraint("length(sha256) = 64", name="ck_recordings_sha256_len"),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], name="fk_recordings_session_id_sessions"),
        sa.PrimaryKeyConstraint("id", name="pk_recordings"),
        sa.UniqueConstraint("session_id", "task", name="uq_recordings_session_id_task"),
    )
    op.create_index("ix_recordings_session_id", "recordings", ["session_id"])
    op.create_index("ix_recordings_sha256", "recordings", ["sha256"])
    op.create_table(
        "scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("measure", sa.String(64), nullable=False),
        sa.Column("region", sa.String(32), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(32), nullable=True),
        sa.Column("z", sa.Float(), nullable=True),
        sa.Column("percentile", sa.Float(), nullable=True),
        sa.Column("weaker_side", sa.String(8), nullable=True),
        sa.Column("change_since_first", sa.Float(), nullable=True),
        sa.Column("simulated", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "weaker_side IS NULL OR weaker_side IN ('left', 'right')", name="ck_scores_weaker_side"
        ),
        sa.ForeignKeyConstraint(["run_id"], ["processing_runs.id"], name="fk_scores_run_id_processing_runs"),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], name="fk_scores_session_id_sessions"),
        sa.PrimaryKeyConstraint("id", name="pk_scores"),
        sa.UniqueConstraint("session_id", "measure", name="uq_scores_session_id_measure"),
    )
    op.create_index("ix_scores_run_id", "scores", ["run_id"])
    op.create_index("ix_scores_session_id", "scores", ["session_id"])
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["processing_runs.id"], name="fk_reports_run_id_processing_runs"),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], name="fk_reports_session_id_sessions"),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
        sa.UniqueConstraint("session_id", name="uq_reports_session_id"),
    )
    op.create_index("ix_reports_run_id", "reports", ["run_id"])


def downgrade() -> None:
    """Drop every table of the store."""
    op.drop_index("ix_reports_run_id", table_name="reports")
    op.drop_table("reports")
    op.drop_index("ix_scores_session_id", table_name="scores")
    op.drop_index("ix_scores_run_id", table_name="scores")
    op.drop_table("scores")
    op.drop_index("ix_recordings_sha256", table_name="recordings")
    op.drop_index("ix_recordings_session_id", table_name="recordings")
    op.drop_table("recordings")
    op.drop_index("ix_sessions_subject_id", table_name="sessions")
    op.drop_table("sessions")
    op.drop_index("ix_quarantine_items_site_id", table_name="quarantine_items")
    op.drop_table("quarantine_items")
    op.drop_index("ix_subjects_site_id", table_name="subjects")
    op.drop_table("subjects")
    op.drop_index("ix_processing_runs_stage_started_at", table_name="processing_runs")
    op.drop_table("processing_runs")
    op.drop_table("sites")
