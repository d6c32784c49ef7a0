"""Experiment loggers: per-epoch metrics and score histograms to TensorBoard or MLflow.

A logger receives, from the job (``easyfirst.monitor.job``), each training run's per-epoch
metrics row under the run's name (its folder below ``--out``, e.g. ``seeds/seed_0``) and each
scorer's score histogram. Both back ends are optional packages, imported when a logger is
built; a missing one fails then, in one line with the install command.

Layouts under the log folder (``OUT/logs`` by default)::

    tensorboard: <run name>/events.out.tfevents.*   one event file per training run
    mlflow:      mlruns/ (unless MLFLOW_TRACKING_URI is set), experiment "easyfirst":
                 one MLflow run per training run, plus one named "scores" holding each
                 scorer's histogram as scores/<scorer>.json (bin edges and counts)
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from easyfirst.registry import Registry

HIST_BINS = 20


class MetricLogger(Protocol):
    """What the job calls; ``run`` is a training run's name, ``step`` its epoch (from 1)."""

    def scalars(self, run: str, step: int, values: Mapping[str, float]) -> None: ...

    def histogram(self, tag: str, values: np.ndarray) -> None: ...

    def close(self) -> None: ...


LOGGERS: Registry[type] = Registry("logger")


def require(module: str, *, package: str, what: str) -> ModuleType:
    """Import ``module`` or raise one line naming the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{what} expected the '{package}' package; got none importable ({exc}). Install it "
            f"with: pip install 'easyfirst[log]' (or pip install {package}), or drop --log."
        ) from None


def histogram_counts(values: np.ndarray, bins: int = HIST_BINS) -> dict[str, list[float]]:
    """Finite ``values`` in ``bins`` equal bins: ``{"edges": [...], "counts": [...]}``."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    counts, edges = np.histogram(v, bins=bins) if v.size else (np.zeros(0), np.zeros(0))
    return {"edges": edges.tolist(), "counts": counts.astype(int).tolist()}


@LOGGERS.register("tensorboard", package="tensorboard")
class TensorBoardLogger:
    """One ``SummaryWriter`` per training run, under ``log_dir/<run>``; histograms under
    ``log_dir/scores``."""

    def __init__(self, log_dir: str | Path) -> None:
        require("tensorboard", package="tensorboard", what="--log tensorboard")
        self._writer_cls = importlib.import_module("torch.utils.tensorboard").SummaryWriter
        self.log_dir = Path(log_dir)
        self._writers: dict[str, Any] = {}

    def _writer(self, run: str) -> Any:
        if run not in self._writers:
            self._writers[run] = self._writer_cls(log_dir=str(self.log_dir / run))
        return self._writers[run]

    def scalars(self, run: str, step: int, values: Mapping[str, float]) -> None:
        w = self._writer(run)
        for key, value in values.items():
            w.add_scalar(key, value, step)
        w.flush()

    def histogram(self, tag: str, values: np.ndarray) -> None:
        v = np.asarray(values, dtype=np.float64)
        w = self._writer("scores")
        w.add_histogram(tag, v[np.isfinite(v)], 0, bins=HIST_BINS)
        w.flush()

    def close(self) -> None:
        for w in self._writers.values():
            w.close()


@LOGGERS.register("mlflow", package="mlflow-skinny")
class MlflowLogger:
    """One MLflow run per training run in experiment ``easyfirst``, through ``MlflowClient``
    (the process's active run, if any, is left alone)."""

    EXPERIMENT = "easyfirst"

    def __init__(self, log_dir: str | Path) -> None:
        mlflow = require("mlflow", package="mlflow-skinny", what="--log mlflow")
        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:  # a local file store beside the run (no server, no database)
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            uri = (Path(log_dir).resolve() / "mlruns").as_uri()
        self._mlflow, self.uri = mlflow, uri
        self.client: Any = None  # connected at the first value (after the run's folder checks)
        self._runs: dict[str, str] = {}

    def _run(self, run: str) -> str:
        if self.client is None:
            self.client = self._mlflow.tracking.MlflowClient(tracking_uri=self.uri)
            found = self.client.get_experiment_by_name(self.EXPERIMENT)
            self.experiment = (found.experiment_id if found is not None
                               else self.client.create_experiment(self.EXPERIMENT))
        if run not in self._runs:
            self._runs[run] = self.client.create_run(self.experiment, run_name=run).info.run_id
        return self._runs[run]

    def scalars(self, run: str, step: int, values: Mapping[str, float]) -> None:
        now, run_id = int(time.time() * 1000), self._run(run)
        metric = self._mlflow.entities.Metric
        self.client.log_batch(run_id, metrics=[
            metric(key, float(value), now, step) for key, value in values.items()])

    def histogram(self, tag: str, values: np.ndarray) -> None:
        run_id = self._run("scores")
        self.client.log_dict(run_id, histogram_counts(values), f"{tag}.json")

    def close(self) -> None:
        for run_id in self._runs.values():
            self.client.set_terminated(run_id)


def build_loggers(names: list[str], log_dir: str | Path) -> list[MetricLogger]:
    """The loggers named (``easyfirst.monitor.LOGGERS``), each writing under ``log_dir``."""
    return [LOGGERS.get(name)(log_dir) for name in names]
