"""MLflow with a real tracking server: the training's artifacts land in the server's artifact store.

Starts ``mlflow server`` on a free loopback port with ``--artifacts-destination`` (proxied
artifact serving), logs a training through :func:`palsyflow.tracking.log_training` with
tracking URI ``http://127.0.0.1:<port>``, and checks that the experiment's artifact root
is the server's ``mlflow-artifacts:`` store, that the model files are in the server's
artifact folder, that nothing was written to the client's local artifact folder, and that
the registered model loads back through the server.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.model.test_tracking import sessions
from tests.support.servers import free_port, process_group, wait_for

from palsyflow.config import TrainParams
from palsyflow.models.training import save_models, train_models
from palsyflow.scoring.scores import session_measures

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def test_artifacts_go_to_the_servers_store_not_a_local_path(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from palsyflow.tracking import load_registered, log_training

    server_dir, client_dir = tmp_path / "server", tmp_path / "client"
    server_dir.mkdir()
    client_dir.mkdir()
    store = server_dir / "artifacts"
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log = tmp_path / "mlflow-server.log"
    cmd = [
        str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{server_dir / 'mlflow.db'}",
        "--artifacts-destination", str(store), "--serve-artifacts",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    monkeypatch.chdir(client_dir)  # a stray relative ./mlruns would show up here
    monkeypatch.delenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", raising=False)  # nothing pickled to load
    with process_group(cmd, env, log, cwd=server_dir) as server:
        wait_for(f"{uri}/health", server, log, timeout_s=300)
        params = TrainParams(cv_folds=3, experiment="palsyflow-server-test")
        table = sessions()
        result = train_models(table, params)
        local = client_dir / "artifacts"
        models = server_dir / "models"  # the trained models on disk (outside the client folder checked below)
        save_models(result, models)
        out = log_training(result, params, uri, local, models, {"train.seed": params.seed},
                           {"dvc.train.data/models": "c" * 32 + ".dir"}, "server-test")

        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        run = client.get_run(out["run_id"])
        exp = client.get_experiment(run.info.experiment_id)
        assert exp.artifact_location.startswith("mlflow-artifacts:"), exp.artifact_location
        assert run.info.artifact_uri.startswith("mlflow-artifacts:"), run.info.artifact_uri
        landed = {p.name for p in store.rglob("*") if p.is_file()}
        assert "train_metrics.json" in landed and "MLmodel" in landed, landed
        assert not local.exists(), "artifacts were written to the client's local folder"
        assert not any(client_dir.rglob("*")), sorted(client_dir.rglob("*"))

        loaded = load_registered(params.registered_model, "production", uri)
        x = session_measures(table).select(result.normative_features).to_pandas()
        y = loaded.predict(x)
        m0 = result.normative_features[0]
        np.testing.assert_allclose(y[f"{m0}_z"].to_numpy(), result.normative.transform(x)[:, 0], equal_nan=True)
