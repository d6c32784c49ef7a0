"""``TrainingDynamics``: the saved per-sample record of one training run."""

from __future__ import annotations

import json
import os
import pickle
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from easyfirst.atomic import atomic_torch_save, atomic_write
from easyfirst.errors import InputError, MissingFileError
from easyfirst.file_errors import looks_like

FORMAT = "easyfirst.dynamics"
VERSION = 2  # 1: ``num_epochs`` for ``epochs``, no ``extra``


@dataclass
class TrainingDynamics:
    """Per-sample outcomes of one run, all ``(N,)`` CPU tensors (``history``: (N, ceil(E/8))).

    Attributes:
        epochs: E, epochs recorded (``num_epochs``: its deprecated name).
        epochs_seen: epochs in which the sample was visited.
        correct_sum: epochs correct (at least half of that epoch's visits; graded multi-label
            correctness: the sum of the epochs' mean correctness).
        correct_now: correct in the last epoch it was seen.
        first_learned: first epoch (0-based) it was correct, -1 if never (records of easyfirst
            before the 16-byte recorder; forgetting needs only ``learned_since``).
        learned_since: first epoch of the final unbroken run of correct epochs; -1 if it ended
            incorrect or was never learned.
        forgetting: correct-to-incorrect transitions between consecutive visits (Toneva 2019).
        last_loss: per-sample cross-entropy in the last epoch it was seen (training mode).
        prob_sum, prob_sqsum: sums over epochs of the true-class probability and its square.
        margin_sum: sum over epochs of the true logit minus the largest other logit (AUM).
        el2n: ||softmax - onehot||_2 at epoch ``el2n_epoch``.
            These four are None where the recorder did not keep them (``meta["outcomes"]``:
            ``probs``, ``margins``, ``el2n``; ``OutcomeRecorder(outcomes="all")``).
        eval_loss, eval_correct: optional eval-mode pass over the training set with a chosen
            checkpoint (``meta["eval_checkpoint"]`` says which).
        eval_predicted, eval_confidence: that pass's predicted class and its softmax
            probability (single-label runs; ``easyfirst report``'s likely label issues).
        targets: optional class ids (N,).
        history: optional bit-packed per-epoch correctness, bit ``e % 8`` of byte ``e // 8``.
        extra: the fields of outcome groups this class does not name (``outcome(name)``).
        meta: run metadata (seed, epochs, model, optimizer, dataset fingerprint, version...);
            a recorded run adds ``nonfinite_logits``, the number of sample visits whose logits
            held a NaN or inf (each counted as incorrect; more than 0 means training diverged).
    """

    epochs: int
    epochs_seen: torch.Tensor
    correct_sum: torch.Tensor
    correct_now: torch.Tensor
    learned_since: torch.Tensor
    forgetting: torch.Tensor
    last_loss: torch.Tensor
    el2n_epoch: int = 0
    first_learned: torch.Tensor | None = None
    prob_sum: torch.Tensor | None = None
    prob_sqsum: torch.Tensor | None = None
    margin_sum: torch.Tensor | None = None
    el2n: torch.Tensor | None = None
    eval_loss: torch.Tensor | None = None
    eval_correct: torch.Tensor | None = None
    eval_predicted: torch.Tensor | None = None
    eval_confidence: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    history: torch.Tensor | None = None
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_epochs(self) -> int:
        """Deprecated name of :attr:`epochs`."""
        warnings.warn("TrainingDynamics.num_epochs is renamed epochs; num_epochs will be "
                      "removed in easyfirst 0.3.", DeprecationWarning, stacklevel=2)
        return self.epochs

    def outcome(self, name: str) -> torch.Tensor:
        """A recorded field by name: a named attribute, or an outcome group's ``extra``."""
        value = self.extra.get(name, getattr(self, name, None) if name != "extra" else None)
        if not isinstance(value, torch.Tensor):
            held = ", ".join(self.meta.get("outcomes", [])) or "core"
            raise KeyError(f"Expected a recorded field; got {name!r}, which this record does "
                           f"not hold (outcomes: {held}). Record it with "
                           "OutcomeRecorder(outcomes=...).")
        return value

    @property
    def num_samples(self) -> int:
        return int(self.correct_sum.numel())

    @property
    def fingerprint(self) -> str | None:
        return self.meta.get("dataset_fingerprint")

    def cumacc(self) -> torch.Tensor:
        """Epochs correct / epochs seen (the paper's CumAcc when every epoch visits all)."""
        return self.correct_sum / self.epochs_seen.clamp(min=1).double()

    def history_matrix(self) -> torch.Tensor:
        """Unpacked per-epoch correctness, (N, E) bool. Needs ``keep_history=True``."""
        if self.history is None:
            raise InputError(
                "This record has no per-epoch history; rerun with keep_history=True "
                "(CLI: --keep-history)."
            )
        bits = torch.arange(8, dtype=torch.uint8)
        unpacked = (self.history[:, :, None] >> bits) & 1
        return unpacked.reshape(self.num_samples, -1)[:, : self.epochs].bool()

    # -- files ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain dict of tensors, ints and a JSON string (``torch.load(weights_only=True)``)."""
        out: dict[str, Any] = {"format": FORMAT, "version": VERSION}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "meta":
                out["meta_json"] = json.dumps(v, sort_keys=True)
            elif f.name == "extra":
                out.update({f"extra.{k}": t for k, t in v.items()})
            elif v is not None:
                out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "<dict>") -> TrainingDynamics:
        if d.get("format") != FORMAT:
            raise InputError(
                f"{source}: expected an easyfirst dynamics file (format {FORMAT!r}); got "
                f"format {d.get('format')!r}. Pass a file written by TrainingDynamics.save."
            )
        if int(d.get("version", -1)) > VERSION:
            raise InputError(
                f"{source}: dynamics version {d['version']} is newer than this easyfirst "
                f"supports ({VERSION}). Upgrade easyfirst."
            )
        def value(v: Any) -> Any:
            return torch.as_tensor(v) if isinstance(v, np.ndarray) else v

        d = {("epochs" if k == "num_epochs" else k): v for k, v in d.items()}  # version 1
        kw: dict[str, Any] = {"extra": {k.removeprefix("extra."): value(v) for k, v in d.items()
                                        if k.startswith("extra.")}}
        for f in fields(cls):
            if f.name == "meta":
                kw["meta"] = json.loads(str(d.get("meta_json", "{}")))
            elif f.name in d:
                kw[f.name] = value(d[f.name])
        for name in ("epochs", "el2n_epoch"):
            if name in kw:
                kw[name] = int(kw[name])
        return cls(**kw)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically; ``.npz`` suffix writes numpy, anything else ``torch.save``."""
        path = Path(path)

        if path.suffix != ".npz":
            return atomic_torch_save(self.to_dict(), path)

        def write(tmp: Path) -> None:
            arrays = {
                k: (v.numpy() if isinstance(v, torch.Tensor) else np.asarray(v))
                for k, v in self.to_dict().items()
            }
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]

        return atomic_write(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainingDynamics:
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"Dynamics file {str(path)!r} does not exist; check the path.")
        try:
            if path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as z:
                    d: dict[str, Any] = {k: z[k] for k in z.files}
                d = {k: (v.item() if v.ndim == 0 else v) for k, v in d.items()}
            else:
                d = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            raise InputError(
                f"{str(path)!r} is not a readable dynamics file: expected one written by "
                f"easyfirst; got {looks_like(path)}. Delete that seed's folder and rerun with "
                "--resume (the other seeds are kept)."
            ) from exc
        return cls.from_dict(d, source=str(path))
