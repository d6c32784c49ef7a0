"""Run configuration for training (scoring runs and curriculum runs)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from easyfirst.data.base import DatasetBundle
from easyfirst.data.batches import PLACEMENTS
from easyfirst.errors import InputError
from easyfirst.limits import check_range
from easyfirst.models.factory import model_name
from easyfirst.models.recipes import DEFAULT_RECIPE, auto_model, model_recipe
from easyfirst.recording.outcomes import OPTIONAL_BUILTIN, resolve_outcomes
from easyfirst.targets import DEFAULT_CORRECTNESS, MULTILABEL_CORRECTNESS
from easyfirst.training.optim import OPTIMIZERS
from easyfirst.training.precision import PRECISIONS
from easyfirst.training.schedule import SCHEDULES

STACK_MODES = ("auto", "always", "never", "measure")
EVAL_CHECKPOINTS = ("best", "last")
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a training run (with the dataset); frozen (``replace``).

    Attributes:
        dataset: dataset registry name; ``dataset_options`` are its loader keywords.
        model: model registry name, ``auto`` (resolved once before any run, resolve_auto;
            :func:`configure` also applies the model's recipe), or a factory returning
            an ``nn.Module`` (``easyfirst.models.factory``); ``model_options``: builder keywords.
        optimizer: an ``OPTIMIZERS`` name (``adam``, ``sgd``; SGD uses ``momentum``).
        lr, momentum, weight_decay: optimizer settings (``lr`` is the peak of ``schedule``).
        schedule: learning-rate schedule over training (``constant``, ``onecycle``,
            ``cosine``; see ``training/schedule.py``), applied per optimizer step.
        epochs: E, training epochs.
        batch_size: global batch size (split evenly across DDP ranks).
        seed: drives initialisation, data order and augmentation.
        device: ``auto`` (CUDA if available), ``cpu``, ``cuda``, ``cuda:1``...
        dtype: parameter dtype, ``float32`` or ``float64`` (tests).
        el2n_epoch: 0-based epoch at which EL2N is recorded; the score workflow sets it from
            the ``el2n`` scorer's ``epoch`` parameter (``merge_record_needs``).
        keep_history: keep bit-packed per-epoch correctness.
        correctness: multi-label data: when a sample counts as correct (``easyfirst.targets``).
        outcomes: what the recorder keeps: ``all`` (every built-in group), ``core`` (CumAcc,
            FIT, forgetting, last loss: 16-22 B per sample; ``OutcomeRecorder``'s layout), or
            outcome group names (``"margins,probs"``); the score workflow adds what its
            scorers need (``merge_record_needs``).
        eval_checkpoint: ``best`` (dev accuracy) or ``last``: the checkpoint whose eval pass
            over the training set gives CELoss, and that is evaluated on test.
        augment: names of batch augmentations applied on the device during training.
        preload_max_bytes: keep the training inputs on the device when they fit in this.
        data_placement: ``auto`` (resident when they fit, else streamed from a feature cache
            file), ``resident`` or ``stream`` (chunk-shuffled order; ``data/batches.py``).
        precision: ``auto`` (bf16 autocast + channels_last on CUDA, fp32 on CPU), ``fp32``
            or ``bf16``.
        compile: wrap the forward in ``torch.compile``.
        cuda_graphs: replay each full training step as a CUDA graph where it applies (CUDA,
            no ``compile``, no batch augmentation, one process, data resident on the device).
        stack: train several seeds as one stacked (vmapped) ensemble (``easyfirst score``):
            ``auto`` (on CUDA when one member's batch is small; never elsewhere), ``always``,
            ``never``, or ``measure`` (a short timed warm-up decides).
    """

    dataset: str = "digits"
    model: str = "mlp"
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"
    epochs: int = 10
    batch_size: int = 32
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"
    el2n_epoch: int = 0
    keep_history: bool = False
    correctness: str = DEFAULT_CORRECTNESS
    outcomes: str = "all"
    eval_checkpoint: str = "best"
    augment: list[str] = field(default_factory=list)
    dataset_options: dict[str, Any] = field(default_factory=dict)
    model_options: dict[str, Any] = field(default_factory=dict)
    preload_max_bytes: int = 2 << 30
    data_placement: str = "auto"
    precision: str = "auto"
    compile: bool = False
    cuda_graphs: bool = True
    stack: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", model_name(self.model))  # a factory -> "custom:..."
        for name in ("lr", "momentum", "weight_decay", "epochs", "batch_size", "seed"):
            check_range(name, getattr(self, name))
        if self.optimizer not in OPTIMIZERS:
            raise InputError(
                f"Unknown optimizer {self.optimizer!r}. Available: {', '.join(OPTIMIZERS.names())}."
            )
        if self.schedule not in SCHEDULES:
            raise InputError(
                f"Unknown schedule {self.schedule!r}. Available: {', '.join(SCHEDULES.names())}."
            )
        for what, value, valid in (("eval_checkpoint", self.eval_checkpoint, EVAL_CHECKPOINTS),
                                   ("precision", self.precision, PRECISIONS),
                                   ("stack mode", self.stack, STACK_MODES),
                                   ("dtype", self.dtype, DTYPES),
                                   ("data placement", self.data_placement, PLACEMENTS),
                                   ("correctness", self.correctness, MULTILABEL_CORRECTNESS)):
            if value not in valid:
                raise InputError(f"Unknown {what} {value!r}. Available: {', '.join(valid)}.")
        object.__setattr__(self, "outcomes", outcomes_text(resolve_outcomes(self.outcomes)))
        if not 0 <= self.el2n_epoch < self.epochs:
            raise InputError(
                f"Expected 0 <= el2n_epoch < epochs ({self.epochs}); got {self.el2n_epoch}."
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def identity(self) -> dict[str, Any]:
        """The settings that decide what a run computes: what must match to resume a run or
        to add runs to an output folder (seeds are compared on their own)."""
        return identity(self.to_dict())


# How and where runs go, not what they compute: stacked members equal plain runs (within
# float rounding), resident and streamed data give the same batches, graphs and compile
# replay the same steps.
HOW_FIELDS = ("seed", "device", "compile", "cuda_graphs", "stack", "preload_max_bytes",
              "outcomes", "data_placement")


def identity(config: dict[str, Any]) -> dict[str, Any]:
    """:meth:`RunConfig.identity` of a saved config dict (fields missing there default)."""
    defaults = RunConfig().to_dict()
    return {k: config.get(k, v) for k, v in defaults.items() if k not in HOW_FIELDS}


RECIPE_FIELDS = ("optimizer", "lr", "schedule", "weight_decay", "augment", "batch_size")


def configure(
    bundle: DatasetBundle, *, model: str = "auto", **fields: Any
) -> tuple[RunConfig, str]:
    """A ``RunConfig`` for ``bundle``: ``auto`` resolved, unset optimiser fields from the recipe.

    Args:
        bundle: the dataset (its input shape and ``info`` decide ``auto``).
        model: a model name, or ``auto`` (see :func:`easyfirst.models.recipes.auto_model`).
        fields: other ``RunConfig`` fields; ``optimizer``, ``lr``, ``schedule``,
            ``weight_decay``, ``augment`` and ``batch_size`` given as None (or left out) come
            from the model's recipe.

    Returns:
        The config and one line saying what was picked, e.g. ``"model auto -> tcresnet8
        (log-Mel inputs (1, 64, 101)); adam lr 0.005, onecycle schedule, batch 64, augment
        time_shift (recipe of tcresnet8)"``.

    Example:
        >>> from easyfirst.data import load_dataset
        >>> cfg, note = configure(load_dataset("digits"), lr=0.01)
        >>> cfg.model, cfg.lr, cfg.schedule
        ('image_cnn', 0.01, 'onecycle')
    """
    why = ""
    if model == "auto":
        model, reason = auto_model(bundle.input_shape, bundle.info)
        why = f"model auto -> {model} ({reason})"
    recipe = model_recipe(model)
    from_recipe = [f for f in RECIPE_FIELDS if fields.get(f) is None]
    for name in from_recipe:
        value = getattr(recipe, name)
        fields[name] = list(value) if isinstance(value, tuple) else value
    cfg = RunConfig(model=model, **fields)
    source = f"recipe of {model}" if recipe != DEFAULT_RECIPE else "defaults"
    given = [f for f in RECIPE_FIELDS if f not in from_recipe]
    wd = f", weight decay {cfg.weight_decay:g}" if cfg.weight_decay else ""
    parts = [
        why or f"model {model}",
        f"{cfg.optimizer} lr {cfg.lr:g}, {cfg.schedule} schedule{wd}, batch {cfg.batch_size}, "
        f"augment {','.join(cfg.augment) or 'none'} ({source}"
        + (f"; set: {', '.join(given)})" if given else ")"),
    ]
    return cfg, "; ".join(parts)


def resolve_auto(cfg: RunConfig, bundle: DatasetBundle) -> RunConfig:
    """``cfg`` with ``model="auto"`` replaced by its model for ``bundle``; else ``cfg`` itself."""
    if cfg.model != "auto":
        return cfg
    return replace(cfg, model=auto_model(bundle.input_shape, bundle.info)[0])


def outcomes_text(outcomes: Iterable[str]) -> str:
    """``RunConfig.outcomes`` for a set of outcome groups: ``all`` (the built-in ones),
    ``core`` (none) or the names, comma-separated and sorted."""
    chosen = sorted(set(outcomes))
    if chosen == sorted(OPTIONAL_BUILTIN):
        return "all"
    return ",".join(chosen) or "core"


def merge_record_needs(cfg: RunConfig, needs: Iterable[Mapping[str, Any]]) -> RunConfig:
    """``cfg`` recording what every need asks for: the union of their ``outcomes`` with
    ``cfg.outcomes``, and their recorder settings (``el2n_epoch``, ...), the one recorder spec
    of a score run. Two needs that ask one setting of different values are refused."""
    outcomes = set(resolve_outcomes(cfg.outcomes))
    settings: dict[str, Any] = {}
    for need in needs:
        outcomes |= set(need.get("outcomes", ()))
        for key, value in need.items():
            if key != "outcomes" and settings.setdefault(key, value) != value:
                raise InputError(f"Expected the scorers to need one {key}; got {settings[key]!r} "
                                 f"and {value!r}. Score them in separate runs.")
    return replace(cfg, outcomes=outcomes_text(outcomes), **settings)
