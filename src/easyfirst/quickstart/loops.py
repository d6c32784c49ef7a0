"""The paper quick start's training loops: CumAcc collection, seed ensembles, curriculum.

The step is the document's (cross-entropy, Adam, ``model.train()``, a shuffled
``DataLoader`` with 4 workers), so a seeded run gives the same model and the same CumAcc;
the recording under it is :class:`~easyfirst.quickstart.tracking.CumAccTracker` (no host
sync per batch) and the data order of curricula :class:`~easyfirst.quickstart.sampling.
CurriculumSampler`. For scoring with the other scorers, several GPUs or stacked seeds, use
``easyfirst score`` (the engine).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from easyfirst.errors import InputError
from easyfirst.monitor.progress import progress_bar
from easyfirst.quickstart.sampling import CurriculumSampler
from easyfirst.quickstart.tracking import CumAccTracker, IndexedDataset
from easyfirst.scoring import ensemble


def _device(device: str | torch.device) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"Expected a CUDA GPU for device={str(device)!r} (the document's "
                         "default); got none. Pass device='cpu'.")
    return dev


def _loader(dataset: Any, batch_size: int, device: torch.device, **how: Any) -> DataLoader:
    """The document's loader (4 workers unless told), memory pinned where it helps (CUDA)."""
    return DataLoader(dataset, batch_size=batch_size, pin_memory=device.type == "cuda", **how)


def _train_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                 device: torch.device, tracker: CumAccTracker | None = None
                 ) -> tuple[torch.Tensor, int]:
    """One epoch of the document's step; the loss sum stays on the device (no sync)."""
    model.train()
    criterion = nn.CrossEntropyLoss()
    total, batches = torch.zeros((), device=device), 0
    for batch in loader:
        *indices, inputs, targets = batch  # (idx, data, target) or (data, target)
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        outputs = model(inputs)
        loss = criterion(outputs, targets)
        if tracker is not None:
            tracker.update_batch(indices[0], outputs, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.detach()
        batches += 1
    return total, batches


def collect_cumacc_scores(model: nn.Module, train_dataset: Dataset, num_epochs: int = 50,
                          batch_size: int = 32, learning_rate: float = 0.001,
                          device: str = "cuda", *, num_workers: int = 4) -> CumAccTracker:
    """Train ``model`` and collect CumAcc scores (the document's Step 3).

    ``train_dataset`` yields ``(data, target)``; it is wrapped with ``IndexedDataset``. The
    order is ``DataLoader(shuffle=True)``'s, from torch's global RNG, as in the document;
    ``num_workers`` (not in the document, which uses 4) does not change it.

    Returns:
        The :class:`CumAccTracker` with the scores.
    """
    dev = _device(device)
    loader = _loader(IndexedDataset(train_dataset), batch_size, dev, shuffle=True,
                     num_workers=num_workers)
    model = model.to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    tracker = CumAccTracker(len(train_dataset), num_epochs, device=dev)  # type: ignore[arg-type]
    with progress_bar(total=num_epochs, desc="Collecting CumAcc scores") as bar:
        for _ in range(num_epochs):
            _train_epoch(model, loader, optimizer, dev, tracker)
            tracker.end_epoch()
            bar.update(1)
    return tracker


def collect_ensemble_cumacc_scores(model_class: Any, model_kwargs: dict, train_dataset: Dataset,
                                   num_seeds: int = 5, num_epochs: int = 50,
                                   **train_kwargs: Any) -> np.ndarray:
    """CumAcc scores of ``num_seeds`` seeded runs, averaged (the document's Step 4).

    Seed ``s`` (0, 1, ...) seeds torch (every device) and NumPy's global RNG, then trains a
    fresh ``model_class(**model_kwargs)`` with :func:`collect_cumacc_scores`
    (``train_kwargs``: its ``batch_size``, ``learning_rate``, ``device``, ``num_workers``).
    The mean is ``easyfirst.scoring.ensemble``'s; rank it with
    :func:`~easyfirst.quickstart.tracking.difficulty_ranking` (ties by dataset order).
    """
    members = []
    for seed in range(num_seeds):
        print(f"\n=== Seed {seed + 1}/{num_seeds} ===")
        torch.manual_seed(seed)
        np.random.seed(seed)
        tracker = collect_cumacc_scores(model_class(**model_kwargs), train_dataset,
                                        num_epochs=num_epochs, **train_kwargs)
        members.append(tracker.to_scores(seeds=[seed]))
    return ensemble(members).values


def train_with_curriculum(model: nn.Module, train_dataset: Dataset,
                          difficulty_ranking: np.ndarray, num_epochs: int = 50,
                          batch_size: int = 32, initial_fraction: float = 0.2,
                          saturation_fraction: float = 0.5,
                          pacing_function: str = "logarithmic", learning_rate: float = 0.001,
                          device: str = "cuda", *, num_workers: int = 4) -> nn.Module:
    """Train ``model`` with a curriculum (the document's full loop); returns the model.

    Epoch ``e`` trains on the pool at progress ``e / num_epochs`` of a
    :class:`CurriculumSampler` over ``difficulty_ranking`` (easy first) and prints the
    document's line: epoch, pool size, mean batch loss. The loss is summed on the device and
    read once per epoch (the document calls ``loss.item()``, a host sync, every batch).
    ``num_workers``: the loader's worker processes (not in the document, which uses 4).
    """
    dev = _device(device)
    model = model.to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    n = len(train_dataset)  # type: ignore[arg-type]
    sampler = CurriculumSampler(difficulty_ranking, n, initial_fraction, saturation_fraction,
                                pacing_function)
    loader = _loader(train_dataset, batch_size, dev, sampler=sampler, num_workers=num_workers)
    for epoch in range(num_epochs):
        sampler.set_progress(epoch / num_epochs)
        total, batches = _train_epoch(model, loader, optimizer, dev)
        print(f"Epoch {epoch + 1}/{num_epochs} | Samples: {len(sampler)}/{n} | "
              f"Loss: {total.item() / max(batches, 1):.4f}")
    return model
