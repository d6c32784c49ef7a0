"""What one training run is: its model, its metadata, its result and what resuming needs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import torch
from torch import nn

from easyfirst._version import __version__
from easyfirst.data.base import DatasetBundle
from easyfirst.errors import InputError
from easyfirst.models.input_norm import fit_input_norms, silence_level
from easyfirst.models.registry import build_model, check_buildable
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.training.config import RunConfig, identity
from easyfirst.training.distributed import DistInfo

CHECKPOINT = "checkpoint.pt"


class RunInfo(TypedDict, total=False):
    """How a run went (``RunResult.info``): its members' seeds, this member, whether it was
    stacked, its precision settings, whether a CUDA graph replayed its step, and the seconds
    of this call's training steps (the loop without evaluation)."""

    seeds: list[int]
    member: int
    stacked: bool
    precision: dict[str, Any]
    cuda_graph_captured: bool
    train_seconds: float


class RunMeta(TypedDict, total=False):
    """What a run's ``TrainingDynamics.meta`` starts from (``run_meta``); the engine adds
    ``stacked_seeds`` to a stacked member's, the recorder ``nonfinite_logits`` and
    ``outcomes``, the workflows their own facts (``test_accuracy``, ``wall_s``, ...)."""

    seed: int
    epochs: int
    model: str
    model_options: dict[str, Any]
    optimizer: str
    lr: float
    schedule: str
    batch_size: int
    dataset: str
    dataset_fingerprint: str
    num_samples: int
    world_size: int
    library_version: str
    eval_checkpoint: str
    eval_epoch: int
    config: dict[str, Any]
    stacked_seeds: list[int]


@dataclass
class RunResult:
    """What a training run produced. Logits are eval-mode, of the ``eval_checkpoint`` model."""

    model: nn.Module
    metrics: list[dict[str, Any]]
    best_epoch: int
    dynamics: TrainingDynamics | None = None
    dev_logits: torch.Tensor | None = None
    test_logits: torch.Tensor | None = None
    test_accuracy: float | None = None  # the test ``metric``
    info: RunInfo = field(default_factory=lambda: RunInfo())
    metric: str = "accuracy"  # ``map`` (macro mAP) for multi-label data

    def metrics_json(self) -> str:
        """The ``metrics.json`` text: per-epoch metrics, the test metric, selected epoch."""
        return json.dumps({"metrics": self.metrics, f"test_{self.metric}": self.test_accuracy,
                           "best_epoch": self.best_epoch}, indent=1)


def build_run_model(
    cfg: RunConfig, bundle: DatasetBundle, device: torch.device, dtype: torch.dtype
) -> nn.Module:
    """``cfg.model`` for ``bundle`` on ``device``, its input normalisation fitted on train.

    Draws its initialisation from the global RNG (callers seed it inside ``fork_rng``).
    """
    model = build_model(cfg.model, input_shape=bundle.input_shape,
                        num_classes=bundle.num_classes, **cfg.model_options).to(device, dtype)
    fit_input_norms(model, bundle.train.inputs, silence=silence_level(bundle.info.get("features")))
    return model


def check_model(cfg: RunConfig, bundle: DatasetBundle) -> None:
    """Build ``cfg.model`` on the meta device (no memory): a bad model name or option fails
    here, before a workflow writes anything. ``cfg`` is resolved (``resolve_auto``)."""
    assert cfg.model != "auto", "check_model takes a resolved config (resolve_auto)"
    check_buildable(cfg.model, input_shape=bundle.input_shape, num_classes=bundle.num_classes,
                    **cfg.model_options)


def run_meta(
    cfg: RunConfig, bundle: DatasetBundle, dinfo: DistInfo, *, eval_epoch: int
) -> RunMeta:
    """The metadata a run's ``TrainingDynamics`` carries."""
    return {
        "seed": cfg.seed, "epochs": cfg.epochs, "model": cfg.model,
        "model_options": cfg.model_options, "optimizer": cfg.optimizer, "lr": cfg.lr,
        "schedule": cfg.schedule, "batch_size": cfg.batch_size, "dataset": bundle.name,
        "dataset_fingerprint": bundle.fingerprint, "num_samples": len(bundle.train),
        "world_size": dinfo.world_size, "library_version": __version__,
        "eval_checkpoint": cfg.eval_checkpoint, "eval_epoch": eval_epoch,
        "config": json.loads(json.dumps(cfg.to_dict())),
    }


def check_resumable(state: dict[str, Any], cfg: RunConfig, seeds: list[int], fingerprint: str,
                    path: Path) -> None:
    """Refuse a checkpoint written with other settings, seeds or data (one line)."""
    saved = identity(state["config"])
    diff = [k for k, v in cfg.identity().items() if saved.get(k) != v]
    if state.get("seeds") != seeds:
        diff.append("seeds")
    if diff or state["fingerprint"] != fingerprint:
        what = ", ".join(diff) or "dataset fingerprint"
        raise InputError(
            f"Cannot resume from {str(path)!r}: it was written with a different {what}. Use the "
            "same settings and seeds, or another --out folder."
        )


def dropout_seed(seeds: list[int], *, stacked: bool) -> int:
    """Seed of the global stream after initialisation (dropout): distinct from every init.

    A plain run of seed s uses s + 1; stacked members share one stream, a function of the
    ordered seed list (their masks cannot match plain runs', see ``training/members.py``).
    """
    if not stacked:
        return seeds[0] + 1
    h = 1
    for s in seeds:
        h = (h * 1_000_003 + s + 1) % (1 << 62)
    return h
