"""Run configuration for training (scoring runs and curriculum runs)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RunConfig:
    """Everything that determines a training run (together with the dataset).

    Attributes:
        dataset: dataset registry name; ``dataset_options`` are its loader keywords.
        model: model registry name; ``model_options`` its builder keywords.
        optimizer: ``adam`` or ``sgd`` (SGD uses ``momentum``).
        lr, momentum, weight_decay: optimizer settings.
        epochs: E, training epochs.
        batch_size: global batch size (split evenly across DDP ranks).
        seed: drives initialisation, data order and augmentation.
        device: ``auto`` (CUDA if available), ``cpu``, ``cuda``, ``cuda:1``...
        dtype: parameter dtype, ``float32`` or ``float64`` (tests).
        el2n_epoch: epoch at which EL2N is recorded.
        keep_history: keep bit-packed per-epoch correctness.
        eval_checkpoint: ``best`` (dev accuracy) or ``last``: the checkpoint whose eval pass
            over the training set gives CELoss, and that is evaluated on test.
        augment: names of batch augmentations applied on the device during training.
        preload_max_bytes: keep the training inputs on the device when they fit in this.
        precision: ``auto`` (bf16 autocast + channels_last on CUDA, fp32 on CPU), ``fp32``
            or ``bf16``.
        compile: wrap the forward in ``torch.compile``.
        cuda_graphs: replay each full training step as a CUDA graph where it applies (CUDA,
            no ``compile``, no batch augmentation, one process, data resident on the device).
        fuse: train several seeds as one fused ensemble (``easyfirst score``): ``auto`` (on
            CUDA when one member's batch is small; never elsewhere), ``always``, ``never``, or
            ``measure`` (a short timed warm-up decides; the choice then depends on timing).
    """

    dataset: str = "digits"
    model: str = "mlp"
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    epochs: int = 10
    batch_size: int = 32
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"
    el2n_epoch: int = 0
    keep_history: bool = False
    eval_checkpoint: str = "best"
    augment: list[str] = field(default_factory=list)
    dataset_options: dict[str, Any] = field(default_factory=dict)
    model_options: dict[str, Any] = field(default_factory=dict)
    preload_max_bytes: int = 2 << 30
    precision: str = "auto"
    compile: bool = False
    cuda_graphs: bool = True
    fuse: str = "auto"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"Expected {name} >= 1; got {getattr(self, name)}.")
        if self.lr <= 0:
            raise ValueError(f"Expected lr > 0; got {self.lr}.")
        if self.eval_checkpoint not in ("best", "last"):
            raise ValueError(
                f"Unknown eval_checkpoint {self.eval_checkpoint!r}. Available: best, last."
            )
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"Unknown precision {self.precision!r}. Available: auto, fp32, bf16.")
        if self.fuse not in ("auto", "always", "never", "measure"):
            raise ValueError(
                f"Unknown fuse {self.fuse!r}. Available: auto, always, never, measure."
            )
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"Unknown dtype {self.dtype!r}. Available: float32, float64.")
        if not 0 <= self.el2n_epoch < self.epochs:
            raise ValueError(
                f"Expected 0 <= el2n_epoch < epochs ({self.epochs}); got {self.el2n_epoch}."
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
