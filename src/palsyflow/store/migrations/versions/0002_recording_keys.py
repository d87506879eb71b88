"""Recording keys name the task by its label: ``..._task-brow_raise`` becomes ``..._task-browraise``.

Until this revision the store built recording keys with the protocol task name
(``site-A_sub-P1_ses-20260101_task-brow_raise``) while every file derived from the
recording used the alphanumeric label (``task-browraise``), so
:meth:`palsyflow.paths.RecordingPath.from_key` could not parse a registry key. Keys are
now built only by :class:`~palsyflow.paths.RecordingPath`. The store has no key column:
keys were written into it in two places, rewritten here in place:

* ``quarantine_items.original_name`` of rows the validate stage wrote (reason
  ``validation: ...``), which name the recording by its key;
* ``processing_runs.input_hashes``, where the landmarks stage listed the keys of each
  file it computed (``{sha256: [key, ...]}``); every string in the JSON document that
  is a whole recording key is rewritten.

The downgrade maps labels back to the task names the ``recordings`` table holds.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# a recording key whose task part may hold underscores (the old form)
_KEY = re.compile(r"(site-[A-Za-z0-9]+_sub-[A-Za-z0-9]+_ses-[A-Za-z0-9]+_task-)([A-Za-z0-9_]+)")

_quarantine = sa.table(
    "quarantine_items", sa.column("id", sa.Integer), sa.column("original_name", sa.String), sa.column("reason", sa.String)
)
_runs = sa.table("processing_runs", sa.column("id", sa.Integer), sa.column("input_hashes", sa.JSON))


def _new_key(text: str) -> str:
    m = _KEY.fullmatch(text)
    return m.group(1) + re.sub(r"[^A-Za-z0-9]", "", m.group(2)) if m else text


def _walk(doc: Any, rename: Callable[[str], str]) -> Any:
    if isinstance(doc, str):
        return rename(doc)
    if isinstance(doc, list):
        return [_walk(v, rename) for v in doc]
    if isinstance(doc, dict):
        return {rename(k): _walk(v, rename) for k, v in doc.items()}
    return doc


def _rewrite(rename: Callable[[str], str]) -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_quarantine.c.id, _quarantine.c.original_name).where(_quarantine.c.reason.like("validation:%"))
    ).all()
    for row_id, name in rows:
        new = rename(name)
        if new != name:
            conn.execute(_quarantine.update().where(_quarantine.c.id == row_id).values(original_name=new))
    for row_id, doc in conn.execute(sa.select(_runs.c.id, _runs.c.input_hashes)).all():
        new = _walk(doc, rename)
        if new != doc:
            conn.execute(_runs.update().where(_runs.c.id == row_id).values(input_hashes=new))


def upgrade() -> None:
    """Rewrite stored recording keys to the ``task-<label>`` form."""
    _rewrite(_new_key)


def downgrade() -> None:
    """Rewrite stored recording keys back to the ``task-<protocol task name>`` form."""
    tasks = op.get_bind().execute(sa.text("SELECT DISTINCT task FROM recordings")).scalars().all()
    task_of = {re.sub(r"[^A-Za-z0-9]", "", t): t for t in tasks if not re.fullmatch(r"[A-Za-z0-9]+", t)}

    def old_key(text: str) -> str:
        m = _KEY.fullmatch(text)
        return m.group(1) + task_of[m.group(2)] if m and m.group(2) in task_of else text

    _rewrite(old_key)
