"""The project context a stage runs in: root folder, parameters, layout, store, code version."""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from palsyflow.config import Params, load_params
from palsyflow.paths import Layout


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
    def layout(self) -> Layout:
        return Layout(self.path(self.params.paths.data))

    @property
    def drops(self) -> Path:
        return self.path(self.params.paths.drops)

    @property
    def face_model(self) -> Path:
        return self.path(self.params.paths.face_model)

    @property
    def models_dir(self) -> Path:
        return self.layout.root / "models"

    @property
    def registry(self) -> Path:
        """Index of the raw tree: one row per registered recording."""
        return self.layout.raw / "recordings.parquet"

    @property
    def mlflow_uri(self) -> str:
        uri = self.params.paths.mlflow_uri
        prefix = "sqlite:///"
        if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
            db = self.path(uri[len(prefix):])
            db.parent.mkdir(parents=True, exist_ok=True)
            return prefix + str(db)
        return uri

    @property
    def db_url(self) -> str:
        from palsyflow.store.db import resolve_url

        return resolve_url(self.params.store.url, self.root)

    @property
    def engine(self):
        """The store's engine, migrated to the newest schema on first use."""
        if self._engine is None:
            from palsyflow.store.db import init_db

            self._engine = init_db(self.db_url)
        return self._engine

    @functools.cached_property
    def code_version(self) -> str:
        """Package version plus the git commit (``+dirty`` when the tree has changes)."""
        from palsyflow import __version__

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
