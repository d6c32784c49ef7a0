"""Feature extraction for the embedding-based scorers (Transfer Teacher, Prediction Depth).

Models come from local files only: an easyfirst training checkpoint (``checkpoint.pt`` of
``easyfirst score``/``train``) or a plain state dict of a registered model. Embeddings of any
named submodule are taken with forward hooks in eval mode, pooled over spatial/time axes
(global average over every axis after the feature axis) and optionally capped to ``max_dim``
features by a seeded Gaussian random projection.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.errors import InputError, MissingFileError
from easyfirst.file_errors import load_npy
from easyfirst.models.registry import build_model
from easyfirst.training.checkpoint import load_checkpoint
from easyfirst.training.config import RunConfig

_ACTIVATIONS = (nn.ReLU, nn.GELU, nn.SiLU, nn.ELU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Mish)


def load_embeddings_file(path: str | os.PathLike[str], num_samples: int) -> np.ndarray:
    """Read precomputed embeddings ``.npy`` of shape (N, D), rows in training-split order.

    Raises:
        ValueError: the file is missing, not 2-D, or has a row count other than N.
    """
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"Embeddings file {str(p)!r} does not exist; check the path.")
    if p.suffix != ".npy":
        raise InputError(
            f"Expected an embeddings file .npy of shape (N, D); got {p.name!r}. Save it with "
            "numpy.save."
        )
    arr = load_npy(p, what="an embeddings file")
    if arr.ndim != 2:
        raise InputError(
            f"Expected embeddings of shape (N, D) in {str(p)!r}; got shape {arr.shape}. Flatten "
            "each sample's features into one row."
        )
    if arr.shape[0] != num_samples:
        raise InputError(
            f"Embeddings file {str(p)!r} has {arr.shape[0]} rows but the training split has "
            f"{num_samples} samples; expected one row per training sample in dataset order."
        )
    if not np.isfinite(arr).all():
        raise InputError(f"Embeddings file {str(p)!r} contains NaN or inf; expected finite values.")
    return arr.astype(np.float64, copy=False)


def head_name(model: nn.Module) -> str:
    """Name of the module that produces the logits: the last ``nn.Linear`` registered."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise InputError(
            f"Expected a model with a final nn.Linear head; {type(model).__name__} has none. "
            "Pass an embeddings file instead."
        )
    return names[-1]


def default_layers(model: nn.Module) -> list[str]:
    """Layers probed by default: ``model.embedding_layers()`` when the model defines it.

    Otherwise, for an ``nn.Sequential``, every top-level activation or block (a nested
    container) except the head; e.g. ``["2", "4"]`` for the ``mlp`` (the two ReLUs) and
    ``["0", "1", "2"]`` for ``small_cnn`` (its conv blocks).
    """
    fn = getattr(model, "embedding_layers", None)
    if callable(fn):
        return list(fn())
    if isinstance(model, nn.Sequential):
        children = list(model.named_children())[:-1]
        names = [
            n for n, m in children if isinstance(m, (*_ACTIVATIONS, nn.Sequential, nn.ModuleList))
        ]
        if names:
            return names
    raise InputError(
        f"Cannot choose probe layers for {type(model).__name__}: it has no embedding_layers(). "
        f"Pass layer names; valid: {', '.join(layer_names(model))}."
    )


def layer_names(model: nn.Module) -> list[str]:
    """Every hookable submodule name of ``model`` (depth-first, registration order)."""
    return [n for n, _ in model.named_modules() if n]


def check_layers(model: nn.Module, layers: Sequence[str]) -> list[str]:
    """Return ``layers`` as a list, or raise listing the valid names."""
    valid = layer_names(model)
    layers = list(layers)
    if not layers:
        raise InputError(f"Expected at least one layer name; got none. Valid: {', '.join(valid)}.")
    missing = [name for name in layers if name not in set(valid)]
    if missing:
        raise InputError(
            f"Unknown layer {missing[0]!r} in {type(model).__name__}. Valid: {', '.join(valid)}."
        )
    if len(set(layers)) != len(layers):
        raise InputError(f"Expected distinct layer names; got {layers}. Drop the repeats.")
    return layers


def _pool(out: Any, name: str) -> torch.Tensor:
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise InputError(
            f"Layer {name!r} returns {type(out).__name__}; expected a tensor. Choose another layer."
        )
    if out.ndim == 1:
        return out[:, None]
    if out.ndim > 2:
        return out.mean(dim=tuple(range(2, out.ndim)))  # global average pool over H, W, T...
    return out


def projection(dim: int, max_dim: int, *, seed: int, dtype: torch.dtype) -> torch.Tensor:
    """A seeded Gaussian random projection ``(dim, max_dim)``, entries N(0, 1 / max_dim).

    Distances are preserved in expectation (Johnson-Lindenstrauss), so k-NN structure survives.
    """
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(dim, max_dim, generator=g, dtype=torch.float64).to(dtype) / math.sqrt(
        max_dim
    )


@torch.no_grad()
def layer_embeddings(
    model: nn.Module,
    split: ArraySplit,
    layers: Sequence[str],
    *,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    batch_size: int = 256,
    max_dim: int | None = None,
    seed: int = 0,
    pre_hook: bool = False,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Eval-mode embeddings of ``layers`` for every sample of ``split``, plus the logits.

    Args:
        model: the network (moved to ``device``/``dtype`` by the caller).
        split: the N samples.
        layers: submodule names (see ``layer_names``); outputs are hooked.
        device, dtype: where and in which precision the forward passes run.
        batch_size: samples per forward pass.
        max_dim: cap on features per layer; a layer with D > max_dim is projected by
            ``projection(D, max_dim, seed=seed + l)`` (l = its position in ``layers``).
        seed: seed of the projections.
        pre_hook: hook the *inputs* of the layers instead of their outputs (the head's input
            is the penultimate representation).

    A module called more than once per forward pass (a shared activation) yields the output
    of its last call.

    Returns:
        A list of L tensors (N, D_l) on CPU, and the logits (N, C) on CPU.
    """
    modules = dict(model.named_modules())
    layers = check_layers(model, layers)
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for name in layers:
        if pre_hook:

            def hook_in(_m: nn.Module, args: tuple[Any, ...], name: str = name) -> None:
                captured[name] = _pool(args[0], name)

            handles.append(modules[name].register_forward_pre_hook(hook_in))
        else:

            def hook_out(_m: nn.Module, _a: Any, out: Any, name: str = name) -> None:
                captured[name] = _pool(out, name)

            handles.append(modules[name].register_forward_hook(hook_out))
    was_training = model.training
    model.eval()
    chunks: list[list[torch.Tensor]] = [[] for _ in layers]
    logits = []
    proj: dict[int, torch.Tensor] = {}
    try:
        for start in range(0, len(split), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(split)))
            x, _ = split.batch(idx)
            logits.append(model(x.to(device, dtype)).float().cpu())
            for li, name in enumerate(layers):
                if name not in captured:
                    raise InputError(
                        f"Layer {name!r} of {type(model).__name__} is not called in its forward "
                        "pass; expected a layer that computes part of the output. Choose another."
                    )
                z = captured.pop(name).reshape(len(idx), -1)
                if max_dim is not None and z.shape[1] > max_dim:
                    if li not in proj:
                        proj[li] = projection(
                            z.shape[1], max_dim, seed=seed + li, dtype=z.dtype
                        ).to(z.device)
                    z = z @ proj[li]
                chunks[li].append(z.cpu())
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return [torch.cat(c) for c in chunks], torch.cat(logits)


def _state_dict_in(obj: Any) -> Mapping[str, torch.Tensor] | None:
    if (
        isinstance(obj, Mapping)
        and obj
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        return obj
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model", "model_state_dict"):
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                return _state_dict_in(inner)
    return None


def load_model_file(
    path: str | os.PathLike[str],
    bundle: DatasetBundle,
    cfg: RunConfig,
    *,
    allow_new_head: bool = False,
) -> tuple[nn.Module, dict[str, Any]]:
    """Build a model from a local file: an easyfirst checkpoint or a registered model's state dict.

    An easyfirst checkpoint (a dict with ``config`` and ``model``) rebuilds its own model
    (``config["model"]``, ``config["model_options"]``) and takes the best-dev weights when the
    run chose ``eval_checkpoint="best"``; a state dict is loaded into ``cfg.model``.

    Args:
        path: the file (``torch.save`` output). Never downloaded.
        bundle: the dataset whose inputs the model must accept.
        cfg: the run configuration (model name/options for a bare state dict).
        allow_new_head: keep the fresh head when the file's head has another number of classes
            (a teacher trained on another task); every other weight must match.

    Returns:
        The model (CPU, eval mode) and facts about the file for ``Scores.meta``.
    """

    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"Checkpoint {str(p)!r} does not exist; check the path.")
    obj = load_checkpoint(p, fix="pass a file saved with torch.save(model.state_dict())")
    info: dict[str, Any] = {"checkpoint": str(p)}
    model_name, options = cfg.model, dict(cfg.model_options)
    if isinstance(obj, Mapping) and "config" in obj and "model" in obj:
        saved = obj["config"]
        model_name, options = saved["model"], dict(saved.get("model_options", {}))
        state = obj["model"]
        best = (obj.get("best") or [{}])[0]  # a plain run's checkpoint: one member
        if saved.get("eval_checkpoint") == "best" and obj.get("best_state") is not None:
            state = obj["best_state"]
            info["checkpoint_epoch"] = int(best["epoch"])
        info["checkpoint_fingerprint"] = obj.get("fingerprint")
        info["checkpoint_epochs"] = saved.get("epochs")
    else:
        state = _state_dict_in(obj)
        if state is None:
            raise InputError(
                f"{str(p)!r} is neither an easyfirst checkpoint nor a state dict; expected "
                "torch.save(model.state_dict()) or a checkpoint.pt of easyfirst."
            )
    info["checkpoint_model"] = model_name
    gen = torch.random.fork_rng(devices=[])
    with gen:
        torch.manual_seed(cfg.seed)  # fresh head weights (if any) are reproducible
        model = build_model(
            model_name,
            input_shape=bundle.input_shape,
            num_classes=bundle.num_classes,
            **options,
        )
    model = model.to(getattr(torch, cfg.dtype))  # load without rounding float64 weights
    own = model.state_dict()
    head = head_name(model) + "."
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if allow_new_head:
        mismatched = [k for k in mismatched if not k.startswith(head)]
        missing = [k for k in missing if not k.startswith(head)]
    if mismatched or missing or unexpected:
        what, keys = next(
            (w, ks)
            for w, ks in (
                ("shape-mismatched", mismatched),
                ("missing", missing),
                ("unexpected", unexpected),
            )
            if ks
        )
        raise InputError(
            f"{str(p)!r} does not fit model {model_name!r} on inputs {bundle.input_shape} with "
            f"{bundle.num_classes} classes: {len(keys)} {what} weights (e.g. {keys[0]!r}); "
            "expected weights of that model. Pick the matching --model/--model-opt."
        )
    load = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    new_head = [k for k in own if k not in load]
    model.load_state_dict({**own, **load})
    if new_head:
        info["new_head"] = True
    return model.eval(), info
