"""Prediction Depth (Baldock et al. 2021): the layer from which k-NN probes agree with the model.

A trained model embeds every training sample at L chosen layers (forward hooks, eval mode;
outputs globally average-pooled over spatial/time axes and capped at ``max_dim`` features by a
seeded Gaussian random projection). At each layer a k-NN probe (k = 30 by default, Euclidean,
majority vote of the neighbours' *true* labels) predicts every sample from the *other* training
samples. A sample's depth is the earliest layer l (0-based) such that the probes of l and of
every later layer all predict the model's final prediction; if the last probe disagrees, the
depth is L. Lower = easier.

Differences from aucurriculum's implementation, on purpose: a sample is never its own
neighbour here (aucurriculum keeps it among its k neighbours, which biases shallow probes
towards the sample's own label); vote ties go to the tied class whose nearest member is
closest (rather than to the lowest class id).

The model is, in this order: ``model`` (``easyfirst score`` hands over the per-seed run's
model), ``checkpoint`` (a local easyfirst checkpoint or state dict, trained on this split), or
a fresh model trained with the run configuration and ``seed`` (one training); ``meta`` records
which (``model_source``), with that model's name and epochs. Fewer than two probed layers
warn: the depth is then only 0 or 1.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from easyfirst.data.base import DatasetBundle
from easyfirst.errors import InputError
from easyfirst.estimators.base import ScorerOutput, register_estimator
from easyfirst.estimators.features import (
    check_layers,
    default_layers,
    layer_embeddings,
    load_model_file,
)
from easyfirst.models.registry import MODELS, build_model
from easyfirst.scoring.base import Param, str_list
from easyfirst.training.config import RunConfig
from easyfirst.training.distributed import resolve_device
from easyfirst.training.loop import train


def knn_predict(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    k: int = 30,
    num_classes: int | None = None,
    exclude_self: bool = True,
    chunk_size: int = 512,
) -> torch.Tensor:
    """Leave-one-out k-NN majority vote over the N rows of ``embeddings``.

    Args:
        embeddings: (N, D) features (any device; float32/float64).
        labels: (N,) class ids of the rows (the neighbours' votes).
        k: neighbours per sample, 1 <= k <= N - 1 (N with ``exclude_self=False``).
        num_classes: C; default ``labels.max() + 1``.
        exclude_self: leave each sample out of its own neighbours.
        chunk_size: query rows per distance block (memory: chunk_size x N).

    Returns:
        (N,) int64 predicted classes. Vote ties go to the tied class with the nearest member.

    Example:
        >>> x = torch.tensor([[0.0], [0.1], [0.25], [5.0], [5.1]])
        >>> knn_predict(x, torch.tensor([0, 0, 1, 1, 1]), k=2).tolist()
        [0, 0, 0, 1, 1]
    """
    n = embeddings.shape[0]
    limit = n - 1 if exclude_self else n
    if not 1 <= int(k) <= limit:
        raise InputError(
            f"Expected 1 <= k <= {limit} neighbours for {n} samples; got k={k}. Lower --knn-k."
        )
    c = int(num_classes) if num_classes is not None else int(labels.max()) + 1
    x = embeddings
    y = labels.to(x.device)
    out = torch.empty(n, dtype=torch.long, device=x.device)
    # Tie rule: votes weigh k + 1, and the nearest neighbour of a class adds k - rank (< k + 1).
    rank_bonus = torch.arange(k, 0, -1, device=x.device, dtype=torch.float64) - 1
    for s in range(0, n, chunk_size):
        q = x[s : s + chunk_size]
        d = torch.cdist(q, x)
        if exclude_self:
            rows = torch.arange(q.shape[0], device=x.device)
            d[rows, rows + s] = float("inf")
        nn_idx = d.topk(k, dim=1, largest=False).indices  # sorted nearest first
        votes = torch.zeros(q.shape[0], c, dtype=torch.float64, device=x.device)
        nb = y[nn_idx]
        votes.scatter_add_(
            1, nb, torch.full(nb.shape, k + 1.0, dtype=torch.float64, device=x.device)
        )
        first = torch.full((q.shape[0], c), -1.0, dtype=torch.float64, device=x.device)
        # scatter_reduce amax keeps, per class, the bonus of its nearest member.
        first.scatter_reduce_(1, nb, rank_bonus.expand_as(nb), reduce="amax")
        out[s : s + chunk_size] = (votes + first.clamp(min=0)).argmax(1)
    return out


def depth_from_agreement(agree: torch.Tensor) -> torch.Tensor:
    """Prediction depth from per-layer agreement.

    Args:
        agree: (L, N) bool, probe of layer l agrees with the model's final prediction.

    Returns:
        (N,) int64: the smallest l such that ``agree[l:]`` is all True; L if ``agree[-1]`` is
        False.

    Example:
        >>> depth_from_agreement(torch.tensor([[1, 0, 1, 0], [1, 1, 0, 0], [1, 1, 1, 0]]).bool())
        tensor([0, 1, 2, 3])
    """
    if agree.ndim != 2:
        raise InputError(f"Expected agreement of shape (L, N); got {tuple(agree.shape)}.")
    num_layers = agree.shape[0]
    # suffix[l] = all(agree[l:]); the depth is L minus the number of True suffixes.
    suffix = agree.flip(0).long().cumprod(0).flip(0)
    return num_layers - suffix.sum(0)


def prediction_depth_from_embeddings(
    embeddings: Sequence[torch.Tensor],
    final_pred: torch.Tensor,
    labels: torch.Tensor,
    *,
    k: int = 30,
    num_classes: int | None = None,
) -> torch.Tensor:
    """Depth (N,) int64 from L layer embeddings (N, D_l), final predictions and true labels."""
    if not embeddings:
        raise InputError("Expected at least one layer embedding; got none.")
    n = final_pred.shape[0]
    for i, e in enumerate(embeddings):
        if e.ndim != 2 or e.shape[0] != n:
            raise InputError(
                f"Expected layer {i} embeddings of shape (N={n}, D); got {tuple(e.shape)}."
            )
    preds = torch.stack(
        [knn_predict(e, labels, k=k, num_classes=num_classes).cpu() for e in embeddings]
    )
    return depth_from_agreement(preds == final_pred.cpu()[None, :])


def check_prediction_depth(
    bundle: DatasetBundle,
    cfg: RunConfig,
    *,
    model: Any = None,
    checkpoint: str | None,
    layers: Sequence[str] | None,
    knn_k: int,
    max_dim: int | None,
) -> None:
    """Raise before any training on bad k, cap, checkpoint or layer names."""
    n = len(bundle.train)
    if not 1 <= int(knn_k) <= n - 1:
        raise InputError(f"Expected 1 <= knn_k <= N - 1 = {n - 1}; got {knn_k}. Lower --knn-k.")
    if max_dim is not None and int(max_dim) < 1:
        raise InputError(f"Expected max_dim >= 1 (or None for no cap); got {max_dim}.")
    if model is not None:
        pass
    elif checkpoint:
        model, _ = _checkpoint_model(bundle, cfg, checkpoint)
    else:

        with torch.random.fork_rng(devices=[]):  # a throw-away model: keep the global RNG
            model = build_model(
                cfg.model,
                input_shape=bundle.input_shape,
                num_classes=bundle.num_classes,
                **cfg.model_options,
            )
    if layers:
        check_layers(model, layers)
    else:
        default_layers(model)


@register_estimator(
    "prediction_depth", higher_is_easier=False,
    description="first layer from which k-NN probes agree with the model (Baldock et al. 2021)",
    params=[
        Param("checkpoint", str, "transfer_teacher: teacher model file; prediction_depth: "
              "model trained on this split (an easyfirst checkpoint.pt or a state dict of "
              "--model); local files only"),
        Param("layers", str_list, "prediction_depth: comma-separated layer names, shallow "
              "first (default: the model's embedding layers)"),
        Param("knn_k", int, "prediction_depth: k of the k-NN probes (30)"),
        Param("max_dim", int, "prediction_depth: features per layer after random projection "
              "(512)"),
    ],
    check=check_prediction_depth,
    reuses_run_model=True, summary_keys=("layers", "model_source"), test_params={"knn_k": 3},
)
def prediction_depth(
    bundle: DatasetBundle,
    cfg: RunConfig,
    *,
    seed: int,
    progress: bool = False,
    model: Any = None,
    checkpoint: str | None = None,
    layers: Sequence[str] | None = None,
    knn_k: int = 30,
    max_dim: int | None = 512,
) -> ScorerOutput:
    """Prediction depth of every training sample for one seed (see the module docstring).

    Args:
        bundle: the dataset; ``train`` is embedded and probed.
        cfg: run configuration (device, dtype; the fresh model's run).
        seed: seeds the fresh model and the random projections.
        progress: show training progress bars.
        model: an already trained model of this seed (takes precedence over training).
        checkpoint: a local model file trained on this split.
        layers: probed layer names, shallow first; default ``features.default_layers``.
        knn_k: k of the k-NN probes.
        max_dim: feature cap per layer (None: no cap).

    Returns:
        ``(N,)`` depths in 0 .. L (lower = easier); ``info`` names the layers.
    """

    device = resolve_device(cfg.device)
    dtype = getattr(torch, cfg.dtype)
    model, info, trainings = _probed_model(bundle, cfg, seed, progress, model, checkpoint)
    model = model.to(device, dtype)
    names = check_layers(model, layers) if layers else default_layers(model)
    if len(names) < 2:
        warnings.warn(
            f"Prediction Depth probes {len(names)} layer, {names}, of "
            f"{type(model).__name__}, so every depth is 0 or 1; expected at least 2. Name two or "
            "more hidden layers with layers=[...] (--layers), give the model an "
            "embedding_layers() method, or use a deeper model.", stacklevel=2)
    embs, logits = layer_embeddings(
        model,
        bundle.train,
        names,
        device=device,
        dtype=dtype,
        max_dim=None if max_dim is None else int(max_dim),
        seed=seed,
    )
    depth = prediction_depth_from_embeddings(
        [e.to(device) for e in embs],
        logits.argmax(1),
        bundle.train.targets,
        k=int(knn_k),
        num_classes=bundle.num_classes,
    )
    info.update(layers=names, num_layers=len(names), layer_dims=[int(e.shape[1]) for e in embs])
    return ScorerOutput(depth.double().numpy(), trainings=trainings, info=info)


def _probed_model(
    bundle: DatasetBundle, cfg: RunConfig, seed: int, progress: bool, model: Any,
    checkpoint: str | None,
) -> tuple[torch.nn.Module, dict[str, Any], int]:
    """The model to probe, the facts of where it came from for ``meta``, and trainings spent.

    ``model``, ``epochs`` and ``model_source`` in the facts override the run configuration's,
    which only describe a model trained here (``TrainingScorer.score`` overrides them again
    with the per-seed run's, which it knows)."""
    if model is not None:
        return model, {"model_source": "a trained model passed as model=",
                       "model": type(model).__name__, "epochs": None}, 0
    if checkpoint:
        model, info = _checkpoint_model(bundle, cfg, checkpoint)
        return model, {**info, "model_source": f"checkpoint {checkpoint}",
                       "model": info["checkpoint_model"],
                       "epochs": info.get("checkpoint_epochs")}, 0
    model = train(bundle, replace(cfg, seed=seed), record=False, progress=progress).model
    factory = MODELS.meta(cfg.model).get("factory") if cfg.model in MODELS else None
    source = f" from the user's factory {factory}" if factory else ""
    return model, {"model_source": f"trained{source} with the run configuration "
                                   f"({cfg.epochs} epochs)"}, 1


def _checkpoint_model(
    bundle: DatasetBundle, cfg: RunConfig, checkpoint: str
) -> tuple[torch.nn.Module, dict[str, Any]]:

    model, info = load_model_file(checkpoint, bundle, cfg)
    fp = info.get("checkpoint_fingerprint")
    if fp is not None and fp != bundle.fingerprint:
        raise InputError(
            f"Checkpoint {checkpoint!r} was trained on dataset fingerprint {fp}, not on this "
            f"training split ({bundle.fingerprint}); expected a model of this split. Omit the "
            "checkpoint to train one."
        )
    return model, info
