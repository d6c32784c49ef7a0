"""``DevSelection``: each member's metrics row per epoch, its dev evaluation and the choice of
its best epoch (the highest dev metric: accuracy, or macro mAP for multi-label data)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from easyfirst.data.base import DatasetBundle
from easyfirst.targets import per_sample_loss, selection_metric
from easyfirst.training.members import Members, State


class DevSelection:
    """Per member: ``metrics`` (one row per epoch), ``best`` (``epoch``, ``dev_metric``: the
    dev accuracy, or mAP for multi-label data) and the stack's ``best_state`` (member
    snapshots).

    Args:
        bundle: ``dev`` is evaluated after every epoch; ``test`` too with ``track_test``.
        k: the number of members; ``metric``: ``accuracy`` or ``map``.
    """

    def __init__(self, bundle: DatasetBundle, k: int, metric: str, *,
                 device: torch.device, dtype: torch.dtype, track_test: bool) -> None:
        self.bundle, self.metric, self.track_test = bundle, metric, track_test
        self.device, self.dtype = device, dtype
        self.metrics: list[list[dict[str, Any]]] = [[] for _ in range(k)]
        self.best: list[dict[str, Any]] = [{"epoch": -1, "dev_metric": -1.0}
                                           for _ in range(k)]
        self.best_state: State | None = None

    def row(self, members: Members, m: int, epoch: int, train: Sequence[float], steps: int,
            pool_size: int) -> dict[str, Any]:
        """Member m's metrics row for ``epoch`` (0-based) from its ``train`` statistics
        (loss sum, correct, count); a better dev metric makes it the member's best epoch."""
        loss_sum, correct, count = train[:3]
        row: dict[str, Any] = {
            "epoch": epoch + 1, "train_loss": loss_sum / max(count, 1),
            "train_accuracy": correct / max(count, 1), "steps": steps, "pool_size": pool_size,
        }
        dev, test, name = self.bundle.dev, self.bundle.test, self.metric
        if dev is not None and len(dev):
            logits = members.predict(m, dev, device=self.device, dtype=self.dtype)
            row[f"dev_{name}"] = selection_metric(logits, dev.targets)
            row["dev_loss"] = float(per_sample_loss(logits, dev.targets).mean())
            if row[f"dev_{name}"] > self.best[m]["dev_metric"]:
                self.best[m] = {"epoch": epoch, "dev_metric": row[f"dev_{name}"]}
                self.best_state = members.snapshot(m, self.best_state)
        if self.track_test and test is not None and len(test):
            row[f"test_{name}"] = selection_metric(
                members.predict(m, test, device=self.device, dtype=self.dtype), test.targets)
        self.metrics[m].append(row)
        return row

    def chosen(self, m: int, eval_checkpoint: str, last_epoch: int) -> tuple[int, bool]:
        """Member m's evaluated epoch and whether it is the best one's snapshot."""
        use_best = (eval_checkpoint == "best" and self.best_state is not None
                    and self.best[m]["epoch"] >= 0)
        return (self.best[m]["epoch"] if use_best else last_epoch), use_best

    def state_dict(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "best": self.best, "best_state": self.best_state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint (one of an earlier version names ``dev_metric``
        ``dev_accuracy``)."""
        self.metrics = state["metrics"]
        self.best = [{"epoch": b["epoch"], "dev_metric": b.get("dev_metric", b.get("dev_accuracy"))}
                     for b in state["best"]]
        self.best_state = state["best_state"]
