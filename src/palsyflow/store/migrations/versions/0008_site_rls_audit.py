"""Site isolation (PostgreSQL row-level security), the audit trail, keyed file names.

* ``audit_events``: the append-only audit trail (:mod:`palsyflow.store.audit`). On
  PostgreSQL a trigger refuses every UPDATE, DELETE and TRUNCATE of it, whoever asks.
* ``recordings.original_name`` and ``quarantine_items.original_name`` become
  ``original_name_hmac``: the keyed hash of the uploaded name plus its extension
  (:func:`palsyflow.pseudonym.keyed_name`). Existing names are hashed here with the
  installation secret, and quarantine reasons and run errors naming them are rewritten
  with the hash. The secret comes from ``PALSYFLOW_SECRET``, else the key file
  :func:`palsyflow.store.db.init_db` was given, else ``secret.key`` beside a SQLite
  database; a store holding names with no secret to hand stops the upgrade with the
  reason (nothing is changed).
* PostgreSQL only: row-level security, enabled and forced, on every table holding a
  site's data (``sites``, ``subjects``, ``sessions``, ``recordings``,
  ``quarantine_items``, ``processing_runs``, ``scores``, ``reports``,
  ``audit_events``). A row is visible and writable to a role that is a member of the
  site's group role ``palsyflow_site_<site>`` or of ``palsyflow_service`` (the
  pipeline); superusers and roles with BYPASSRLS see everything. Tables without a site
  column reach it through their parent (a session through its subject, a recording,
  score or report through its session), whose own policy then applies. The group role
  ``palsyflow_service`` is created when the migrating role may create roles.

The downgrade drops the policies, functions, trigger and audit table and renames the
columns back; the names stay hashed (a keyed hash cannot be undone).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from palsyflow.pseudonym import SECRET_ENV, is_keyed_name, keyed_name, load_or_create_secret

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Tables with row-level security and the predicate selecting a role's rows.
POLICIES: dict[str, str] = {
    "sites": "palsyflow_site_ok(label)",
    "subjects": "palsyflow_site_id_ok(site_id)",
    "quarantine_items": "palsyflow_site_id_ok(site_id)",
    "sessions": "EXISTS (SELECT 1 FROM subjects s WHERE s.id = sessions.subject_id)",
    "recordings": "EXISTS (SELECT 1 FROM sessions s WHERE s.id = recordings.session_id)",
    "scores": "EXISTS (SELECT 1 FROM sessions s WHERE s.id = scores.session_id)",
    "reports": "EXISTS (SELECT 1 FROM sessions s WHERE s.id = reports.session_id)",
    "processing_runs": "palsyflow_all_sites() OR (site IS NOT NULL AND palsyflow_site_ok(site))",
    "audit_events": "palsyflow_site_ok(site)",
}

_FUNCTIONS = """
CREATE OR REPLACE FUNCTION palsyflow_all_sites() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT COALESCE((SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user), false)
      OR COALESCE((SELECT pg_has_role(current_user, r.oid, 'member') FROM pg_roles r
                   WHERE r.rolname = 'palsyflow_service'), false)
$$;
CREATE OR REPLACE FUNCTION palsyflow_site_ok(site_label text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT palsyflow_all_sites()
      OR COALESCE((SELECT pg_has_role(current_user, r.oid, 'member') FROM pg_roles r
                   WHERE r.rolname = 'palsyflow_site_' || site_label), false)
$$;
CREATE OR REPLACE FUNCTION palsyflow_site_id_ok(sid integer) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT COALESCE((SELECT palsyflow_site_ok(label) FROM sites WHERE id = sid), false)
$$;
CREATE OR REPLACE FUNCTION palsyflow_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
"""

_SERVICE_ROLE = """
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'palsyflow_service') THEN
    BEGIN
      CREATE ROLE palsyflow_service NOLOGIN;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE 'palsyflow_service not created (no CREATEROLE); a DBA creates it';
    END;
  END IF;
END
$$;
"""


def _secret() -> str | None:
    """The installation secret for hashing stored names, or None when none is to hand."""
    if os.environ.get(SECRET_ENV, "").strip():
        return load_or_create_secret("/nonexistent", os.environ)
    path = op.get_context().config.attributes.get("palsyflow_secret_path")
    bind = op.get_bind()
    if path is None and bind.dialect.name == "sqlite":
        db = bind.engine.url.database
        if db and db != ":memory:" and not db.startswith("file:"):
            path = Path(db).parent / "secret.key"
    return load_or_create_secret(path) if path is not None else None


def _is_plain_name(value: str) -> bool:
    return not (value == "manifest.csv" or is_keyed_name(value) or (value.startswith("site-") and "_sub-" in value))


def _hash_names() -> None:
    """Replace stored original names (and their mentions in reasons and run errors) by keyed hashes."""
    bind = op.get_bind()
    recs = bind.execute(sa.text("SELECT id, original_name FROM recordings")).all()
    quar = bind.execute(sa.text("SELECT id, original_name, reason FROM quarantine_items")).all()
    names = {n for _, n in recs if _is_plain_name(n)} | {n for _, n, _ in quar if _is_plain_name(n)}
    if not names:
        return
    secret = _secret()
    if secret is None:
        raise RuntimeError(
            "migration 0006 must hash the original file names this store holds but has no installation "
            "secret: set PALSYFLOW_SECRET (the same value every machine of this installation uses) and upgrade again"
        )
    token = {n: keyed_name(secret, n) for n in names}
    longest_first = sorted(names, key=len, reverse=True)

    def scrub(text: str | None) -> str | None:
        if text is None:
            return None
        for n in longest_first:
            text = text.replace(n, token[n])
        return text

    for rid, name in recs:
        if name in token:
            bind.execute(sa.text("UPDATE recordings SET original_name = :v WHERE id = :i"), {"v": token[name], "i": rid})
    for qid, name, reason in quar:
        bind.execute(
            sa.text("UPDATE quarantine_items SET original_name = :v, reason = :r WHERE id = :i"),
            {"v": token.get(name, name), "r": scrub(reason), "i": qid},
        )
    for rid, error in bind.execute(sa.text("SELECT id, error FROM processing_runs WHERE error IS NOT NULL")).all():
        new = scrub(error)
        if new != error:
            bind.execute(sa.text("UPDATE processing_runs SET error = :e WHERE id = :i"), {"e": new, "i": rid})


def upgrade() -> None:
    """Create the audit table, hash and rename the name columns, and (PostgreSQL) the site policies."""
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(64), nullable=True),
        sa.Column("session", sa.String(64), nullable=True),
        sa.Column("entity", sa.String(1024), nullable=True),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_site_recorded_at", "audit_events", ["site", "recorded_at"])

    _hash_names()
    with op.batch_alter_table("recordings") as batch:
        batch.alter_column("original_name", new_column_name="original_name_hmac", existing_type=sa.String(1024), existing_nullable=False)
    with op.batch_alter_table("quarantine_items") as batch:
        batch.drop_constraint("uq_quarantine_items_site_id_original_name_reason", type_="unique")
        batch.alter_column("original_name", new_column_name="original_name_hmac", existing_type=sa.String(1024), existing_nullable=False)
    with op.batch_alter_table("quarantine_items") as batch:  # a second pass: the column has its new name
        batch.create_unique_constraint(
            "uq_quarantine_items_site_id_original_name_hmac_reason", ["site_id", "original_name_hmac", "reason"]
        )

    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_SERVICE_ROLE)
    op.execute(_FUNCTIONS)
    for table, predicate in POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY palsyflow_site ON {table} FOR ALL USING ({predicate}) WITH CHECK ({predicate})")
    op.execute(
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION palsyflow_audit_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION palsyflow_audit_append_only()"
    )
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC")


def downgrade() -> None:
    """Drop the policies, functions, trigger and audit table; rename the columns back (names stay hashed)."""
    if op.get_bind().dialect.name == "postgresql":
        for table in POLICIES:
            op.execute(f"DROP POLICY IF EXISTS palsyflow_site ON {table}")
            op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        for fn in ("palsyflow_site_id_ok(integer)", "palsyflow_site_ok(text)", "palsyflow_all_sites()", "palsyflow_audit_append_only()"):
            op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    with op.batch_alter_table("quarantine_items") as batch:
        batch.drop_constraint("uq_quarantine_items_site_id_original_name_hmac_reason", type_="unique")
        batch.alter_column("original_name_hmac", new_column_name="original_name", existing_type=sa.String(1024), existing_nullable=False)
    with op.batch_alter_table("quarantine_items") as batch:
        batch.create_unique_constraint("uq_quarantine_items_site_id_original_name_reason", ["site_id", "original_name", "reason"])
    with op.batch_alter_table("recordings") as batch:
        batch.alter_column("original_name_hmac", new_column_name="original_name", existing_type=sa.String(1024), existing_nullable=False)
    op.drop_index("ix_audit_events_site_recorded_at", table_name="audit_events")
    op.drop_table("audit_events")
