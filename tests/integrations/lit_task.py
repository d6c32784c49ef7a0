"""A small float64 task trained under Lightning with easyfirst's callbacks (tests' helper).

``python lit_task.py OUT`` trains it under Lightning's DDP strategy, 2 CPU processes (gloo),
with the global batch of one process: into ``OUT/sampler`` with the sampler in the
DataLoader, into ``OUT/batch_sampler`` with it in a ``batch_sampler`` and
``use_distributed_sampler=False``; then it writes ``OUT/replaced.txt``, the error of that
``batch_sampler`` under Lightning's default ``use_distributed_sampler=True``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, Dataset, TensorDataset

from easyfirst import CurriculumSampler, PacingFunction, WithIndex
from easyfirst.integrations.lightning import CurriculumSampling, RecordOutcomes

N, EPOCHS, GLOBAL_BATCH, SEED = 64, 5, 16, 0
SCORERS = ("cumacc", "fit", "forgetting", "celoss", "confidence", "variability", "aum", "el2n")


def data() -> tuple[torch.Tensor, torch.Tensor]:
    """N points in 8-d, 3 classes from a linear rule, 10 % of the labels flipped (hard ones)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 8, generator=g, dtype=torch.float64)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    flip = torch.randperm(N, generator=g)[: N // 10]
    y[flip] = (y[flip] + 1) % 3
    return x, y


def train_set() -> WithIndex:
    return WithIndex(TensorDataset(*data()))


def make_net() -> nn.Module:
    torch.manual_seed(SEED)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)).double()


def make_optimizer(net: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(net.parameters(), lr=0.2)


def make_sampler() -> CurriculumSampler:
    """A fixed curriculum: a seeded ordering, half of it at epoch 0, all of it from epoch 2."""
    ordering = np.random.default_rng(1).permutation(N)
    return CurriculumSampler(N, ordering, epochs=EPOCHS, seed=SEED,
                             pacing=PacingFunction("linear", start_fraction=0.5, full_at=0.4))


class Module(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = make_net()

    def training_step(self, batch, batch_idx):
        x, y = batch[1] if len(batch) == 2 else batch[:2]  # (idx, (x, y)) or (x, y, idx)
        logits = self.net(x)
        return {"loss": nn.functional.cross_entropy(logits, y), "logits": logits}

    def configure_optimizers(self):
        return make_optimizer(self.net)


def trainer(callbacks: list, devices: int = 1, **options) -> pl.Trainer:
    options = {"max_epochs": EPOCHS, "logger": False, "enable_checkpointing": False,
               "enable_progress_bar": False, "enable_model_summary": False, **options}
    return pl.Trainer(accelerator="cpu", devices=devices, callbacks=callbacks, **options)


def fit(out: Path | None, devices: int = 1, *, in_batch_sampler: bool = False,
        dataset: Dataset | None = None, batch_to_record=None, **options) -> RecordOutcomes:
    """Train the task with the curriculum; the global batch is the same for any ``devices``."""
    sampler, batch, dataset = make_sampler(), GLOBAL_BATCH // devices, dataset or train_set()
    loader = (DataLoader(dataset, batch_sampler=BatchSampler(sampler, batch, False))
              if in_batch_sampler else DataLoader(dataset, batch_size=batch, sampler=sampler))
    recorder = RecordOutcomes(out, scorers=SCORERS, batch_to_record=batch_to_record,
                              meta={"seed": SEED})
    trainer([recorder, CurriculumSampling(sampler)], devices, **options).fit(Module(), loader)
    return recorder


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = Path(sys.argv[1])
    fit(out / "sampler", devices=2, strategy="ddp")
    fit(out / "batch_sampler", devices=2, in_batch_sampler=True, strategy="ddp",
        use_distributed_sampler=False)
    try:
        fit(None, devices=2, in_batch_sampler=True, strategy="ddp")
    except ValueError as e:
        if os.environ.get("LOCAL_RANK", "0") == "0":
            (out / "replaced.txt").write_text(str(e))
