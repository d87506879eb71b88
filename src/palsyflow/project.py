"""The project context a stage runs in: root folder, parameters, store, MLflow URI, code version.

Where each dataset lives is not decided here but in :mod:`palsyflow.stages.catalog`
(``Catalog.of(project)``), from ``params.paths``.
"""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from palsyflow import __version__
from palsyflow.config import Params, load_params
from palsyflow.pseudonym import load_or_create_secret
from palsyflow.store.db import init_db, resolve_url, secret_file


@dataclass
class Project:
    """Root folder plus the parameters read once from ``params.yaml``.

    Relative paths in ``params.yaml`` are resolved against ``root``.
    """

    root: Path
    params: Params
    _engine: object | None = field(default=None, repr=False)

    @classmethod
    def load(cls, root: Path | str | None = None, params_file: str = "params.yaml") -> Project:
        """Read ``<root>/<params_file>`` (root defaults to ``PALSYFLOW_ROOT`` or the cwd)."""
        root = Path(root or os.environ.get("PALSYFLOW_ROOT") or Path.cwd()).resolve()
        return cls(root=root, params=load_params(root / params_file))

    def path(self, p: Path | str) -> Path:
        """``p`` resolved against the project root."""
        p = Path(p)
        return p if p.is_absolute() else self.root / p

    @property
    def mlflow_uri(self) -> str:
        """``paths.mlflow_uri``; a relative SQLite file resolves against the root (its folder is created)."""
        uri = self.params.paths.mlflow_uri
        prefix = "sqlite:///"
        if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
            db = self.path(uri[len(prefix):])
            db.parent.mkdir(parents=True, exist_ok=True)
            return prefix + str(db)
        return uri

    @property
    def experiment(self) -> str | None:
        """The DVC experiment this process runs in, or None for the production line.

        ``dvc exp run`` (DVC 3.x, ``dvc/repo/experiments/queue/base.py``) sets
        ``DVC_EXP_NAME`` in every stage command's environment, in the workspace and in
        temporary/queued runs alike; plain ``dvc repro`` and the nightly flow do not.
        An experiment writes only its workspace: it registers models without aliases
        and writes neither scores nor report rows to the store, and its PDFs go under
        ``reports/exp-<name>/`` (:meth:`palsyflow.stages.catalog.Catalog.session_report`).
        """
        return os.environ.get("DVC_EXP_NAME") or None

    @property
    def db_url(self) -> str:
        """``store.url`` (or ``PALSYFLOW_DB_URL``), a relative SQLite file resolved against the root."""
        return resolve_url(self.params.store.url, self.root)

    @property
    def engine(self):
        """The store's engine, migrated to the newest schema on first use."""
        if self._engine is None:
            self._engine = init_db(self.db_url, secret_path=self.secret_path)
        return self._engine

    @property
    def secret_path(self) -> Path:
        """The installation secret's key file (:func:`palsyflow.store.db.secret_file`)."""
        return secret_file(self.db_url, self.path(self.params.paths.data))

    @functools.cached_property
    def secret(self) -> str:
        """The installation secret: ``PALSYFLOW_SECRET``, else the key file, created 0600 at first use."""
        return load_or_create_secret(self.secret_path)

    @functools.cached_property
    def code_version(self) -> str:
        """Package version plus the git commit (``+dirty`` when the tree has changes)."""
        try:
            sha = subprocess.run(
                ["git", "rev-parse", "--short=12", "HEAD"], cwd=self.root, capture_output=True, text=True, check=True
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"], cwd=self.root, capture_output=True, text=True
            ).stdout.strip()
            return f"{__version__}+g{sha}{'.dirty' if dirty else ''}"
        except (OSError, subprocess.CalledProcessError):
            return __version__
