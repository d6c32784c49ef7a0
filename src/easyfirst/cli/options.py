"""Shared command-line options and their parsing."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from easyfirst.audio.augment import AUGMENTATIONS
from easyfirst.data import DATASETS, load_dataset
from easyfirst.data.base import DatasetBundle
from easyfirst.data.batches import PLACEMENTS
from easyfirst.data.label_noise import NOISE_KINDS
from easyfirst.errors import InputError
from easyfirst.limits import MAX_SEED, RANGES
from easyfirst.models import MODELS
from easyfirst.models.registry import check_model_options
from easyfirst.monitor.loggers import LOGGERS
from easyfirst.targets import DEFAULT_CORRECTNESS, MULTILABEL_CORRECTNESS
from easyfirst.training.config import (
    DTYPES,
    EVAL_CHECKPOINTS,
    STACK_MODES,
    RunConfig,
    configure,
)
from easyfirst.training.optim import OPTIMIZERS
from easyfirst.training.precision import PRECISIONS
from easyfirst.training.schedule import SCHEDULES


def parse_kv(items: list[str] | None, flag: str) -> dict[str, Any]:
    """``["k=v", ...]`` -> dict; values parsed as JSON when possible (``3``, ``[1,2]``)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"Expected {flag} KEY=VALUE; got {item!r}.")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def bounded(name: str) -> Callable[[str], Any]:
    """An argparse ``type=`` for the number ``name`` of ``limits.RANGES``: a value outside
    its range is a one-line usage error naming the option, what it expects and what it got,
    before anything runs or is written."""
    expected = RANGES[name]

    def parse(text: str) -> Any:
        try:
            value: Any = int(text) if expected.integer else float(text)
        except ValueError:
            value = None
        if not expected.holds(value):
            raise argparse.ArgumentTypeError(f"expected {expected.text()}; got {text!r}")
        return value

    parse.__name__ = expected.text()
    return parse


def positive_int(text: str) -> int:
    """An argparse ``type=`` for a whole number >= 1 (one-line usage error otherwise)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1; got {text!r}")
    return value


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, as ``taskset`` sets it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity call here (macOS, Windows)
        return os.cpu_count() or 1


def default_threads() -> int:
    """``--threads`` unset: ``$OMP_NUM_THREADS`` when it is a number >= 1 (torchrun sets it
    to 1 per process), else :func:`usable_cores`."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(env) if env.isdigit() and int(env) > 0 else usable_cores()


def busy_note(threads: int) -> str | None:
    """One line when ``threads`` oversubscribe this machine (more threads than usable cores,
    or the cores already busy: load average at or above them), else None."""
    cores = usable_cores()
    if threads > cores:
        return (f"note: --threads {threads} is more than the {cores} cores this process may "
                f"use; --threads {cores} may train faster")
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average here
        return None
    if threads > 1 and load >= cores:
        return (f"note: this machine looks busy (load average {load:.1f} on {cores} cores); "
                f"training with {threads} threads may be slow, --threads 1 may be faster")
    return None


@contextmanager
def torch_threads(requested: int | None) -> Iterator[int]:
    """Compute with ``requested`` threads (:func:`default_threads` when None) inside the
    block, saying (:func:`easyfirst.monitor.note`) when the machine looks oversubscribed;
    torch's earlier setting is restored after it."""
    import torch

    from easyfirst.monitor import note

    threads = requested or default_threads()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    line = busy_note(threads)
    if line is not None and os.environ.get("RANK", "0") == "0":
        note(line)
    try:
        yield threads
    finally:
        torch.set_num_threads(before)


def parse_int_list(text: str, flag: str, high: int = MAX_SEED) -> list[int]:
    """``"0,1,2"`` or ``"0-4"`` -> list of distinct ints (at least one)."""
    try:
        if "-" in text and "," not in text:
            lo, hi = (int(x) for x in text.split("-"))
            values = list(range(lo, hi + 1))
        else:
            values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"Expected {flag} like 0,1,2 or 0-4; got {text!r}.") from None
    if not values:
        raise InputError(
            f"Expected {flag} like 0,1,2 or 0-4 (a range from low to high); got {text!r}, which "
            "names none."
        )
    big = [v for v in values if not 0 <= v <= high]
    if big:
        raise InputError(f"Expected {flag} from 0 to {high}; got {big[0]} in {text!r}. Pass "
                         "smaller numbers, e.g. 0,1,2.")
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise InputError(
            f"Expected distinct {flag}; got {text!r}, which repeats {', '.join(map(str, repeated))}"
            ". Name each once."
        )
    return values


def check_device(name: str) -> None:
    """Refuse (one line) a ``--device`` that is not auto, cpu, cuda or cuda:N of this machine."""
    import torch

    from easyfirst.training.distributed import resolve_device

    if name == "auto":
        return
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"Expected --device auto, cpu, cuda or cuda:N; got {name!r}.")
    resolve_device(name)  # CUDA asked for but absent: one line from there
    count = torch.cuda.device_count() if dev.type == "cuda" else 0
    if dev.type == "cuda" and dev.index is not None and dev.index >= count:
        raise InputError(
            f"Expected --device cuda:0 to cuda:{count - 1} (this machine has {count} GPU"
            f"{'s' if count > 1 else ''}); got {name!r}."
        )


def check_out_dir(out: str | None, flag: str = "--out") -> None:
    """Refuse an output path that is, or lies under, an existing file (nothing is written)."""
    if out is None:
        return
    path = Path(out)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                where = "is" if p == path else f"lies under {str(p)!r}, which is"
                raise InputError(
                    f"Expected {flag} to be a folder; got {out!r}, which {where} an existing "
                    f"file. Choose another {flag} path (nothing was changed)."
                )
            return


def log_names(text: str) -> list[str]:
    """``--log tensorboard,mlflow`` -> the logger names, each checked against the registry."""
    names = [n for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in LOGGERS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown logger {unknown[0]!r}; expected one of {', '.join(LOGGERS.names())} "
            "(comma-separated)")
    return names


def one_of(names: list[str] | tuple[str, ...]) -> str:
    """``"one of: a, b, c"`` for a help text (an option taking names its choices= cannot
    list, e.g. comma-separated ones)."""
    return f"one of: {', '.join(names)}"


def scorer_names(text: str, flag: str = "--scorers") -> list[str]:
    """``"cumacc,fit"`` -> the scorer names, each checked against the registry (one line)."""
    from easyfirst.scoring import get_scorer

    names = [s for s in text.split(",") if s]
    if not names:
        raise InputError(f"Expected {flag} like cumacc,fit,celoss; got {text!r}. Name at least "
                         "one scorer (easyfirst scorers).")
    for name in names:
        get_scorer(name)  # unknown: one line listing the valid ones
    return names


def check_augment(names: list[str] | None) -> None:
    for name in names or []:
        AUGMENTATIONS.get(name)  # unknown: one line listing the valid ones


class DeprecatedAlias(argparse.Action):
    """Stores like the option it stands for, and warns once on stderr."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        flag = "--" + self.dest.replace("_", "-")
        print(f"easyfirst: warning: {option_string} is deprecated; use {flag} (same values).",
              file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="synthkws", metavar="NAME",
                   help=f"dataset, {one_of(DATASETS.names())} (easyfirst datasets NAME shows "
                   "its layout and options)")
    p.add_argument("--root", default=None,
                   help="local data folder for datasets that need one (what it must hold: "
                   "easyfirst datasets NAME)")
    p.add_argument(
        "--dataset-opt",
        action="append",
        metavar="KEY=VALUE",
        help="extra dataset loader option (repeatable); the keys and their defaults of a "
        "dataset: easyfirst datasets NAME",
    )
    p.add_argument("--label-noise", type=float, default=0.0,
                   metavar="RATE",
                   help="flip this share of the TRAINING labels, in [0, 1) (any single-label "
                   "dataset; dev and test stay clean; the flipped mask goes to samples.npz; "
                   "part of the dataset fingerprint; 0: none)")
    p.add_argument("--noise-kind", default="uniform", metavar="KIND",
                   help=f"with --label-noise, {one_of(NOISE_KINDS)}: uniform gives another class "
                   "at random, pairs the class's partner in a seeded pairing of the classes")
    p.add_argument("--noise-seed", type=bounded("seed"), default=0, metavar="N",
                   help="with --label-noise, the seed of which labels flip and to what")


def add_recipe_args(p: argparse.ArgumentParser) -> None:
    """Model and optimiser options; unset ones come from the model's recipe."""
    p.add_argument("--model", default="auto",
                   help=f"model, {one_of(MODELS.names())} (easyfirst models), or auto: picked "
                   "from the inputs (log-Mel -> tcresnet8, images -> image_cnn, flat -> mlp; "
                   "default: auto)")
    p.add_argument("--model-opt", action="append", metavar="KEY=VALUE",
                   help="extra model option (repeatable; easyfirst models lists each model's)")
    recipe = " (default: the model's recipe)"
    p.add_argument("--optimizer", default=None, choices=OPTIMIZERS.names(), help="optimizer"
                   + recipe)
    p.add_argument("--lr", type=bounded("lr"), default=None,
                   help="peak learning rate" + recipe)
    p.add_argument("--schedule", default=None, choices=SCHEDULES.names(),
                   help="learning-rate schedule over training" + recipe)
    p.add_argument("--momentum", type=bounded("momentum"), default=0.9, help="SGD momentum")
    p.add_argument("--weight-decay", type=bounded("weight_decay"), default=None,
                   help="weight decay" + recipe)
    p.add_argument("--augment", default=None, metavar="NAME[,NAME]",
                   help=f"comma-separated batch augmentations, {one_of(AUGMENTATIONS.names())}"
                   ", or none" + recipe)


def add_train_args(p: argparse.ArgumentParser, *, epochs: int | None,
                   out_required: bool = True, resumable: bool = True) -> None:
    """Everything a training run takes (``score``, ``train`` and ``reproduce`` share these).

    ``epochs=None`` leaves the default to the command; ``resumable=False`` drops ``--resume``
    (``reproduce`` always continues).
    """
    add_recipe_args(p)
    p.add_argument("--epochs", type=bounded("epochs"), default=epochs,
                   help="training epochs" + (" (default: the budget's)" if epochs is None else ""))
    p.add_argument("--batch-size", type=bounded("batch_size"), default=None,
                   help="global batch size (default: the model's recipe)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ... (auto: "
                   "cuda when available)")
    p.add_argument("--dtype", default="float32", choices=DTYPES,
                   help="parameter dtype (float64 for exact comparisons)")
    p.add_argument("--correctness", default=DEFAULT_CORRECTNESS, choices=MULTILABEL_CORRECTNESS,
                   help="multi-label data: when a sample counts as correct (exact: all labels "
                   "right; label-mean: fraction of the C decisions; recall; f1)")
    p.add_argument("--outcomes", default="all", choices=("all", "core"),
                   help="what the recorder keeps per sample: all (every dynamics scorer, the "
                   "data map) or core (CumAcc, FIT, forgetting, CELoss: 16-22 bytes per sample)")
    p.add_argument("--eval-checkpoint", default="best", choices=EVAL_CHECKPOINTS,
                   help="checkpoint evaluated on test (and for the CELoss eval pass)")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="auto: bf16 autocast + channels_last on CUDA, fp32 on CPU")
    p.add_argument("--compile", action="store_true", help="torch.compile the forward")
    p.add_argument("--data-placement", default="auto", choices=PLACEMENTS,
                   help="training inputs: auto (on the device when they fit in 2 GiB, else "
                   "streamed from the feature cache file), resident, or stream (read in "
                   "contiguous chunks, chunk-shuffled order)")
    p.add_argument("--no-cuda-graphs", dest="cuda_graphs", action="store_false",
                   help="run every CUDA training step eagerly (default: replay full steps as a "
                   "CUDA graph)")
    p.add_argument("--stack", default="auto", choices=STACK_MODES,
                   help="train the seeds as one stacked (vmapped) ensemble (auto: on CUDA for "
                   "small per-seed batches)")
    p.add_argument("--fuse", dest="stack", choices=STACK_MODES, action=DeprecatedAlias,
                   help=argparse.SUPPRESS)  # deprecated alias of --stack (next release: gone)
    p.add_argument("--out", required=out_required, default=None, help="output folder")
    if resumable:
        again = p.add_mutually_exclusive_group()
        again.add_argument("--resume", action="store_true",
                           help="continue an interrupted run, or reuse and extend a finished one")
        again.add_argument("--overwrite", action="store_true",
                           help="delete the outputs already in --out and start afresh")
    p.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="CPU threads torch computes with (default: $OMP_NUM_THREADS when set, "
                   "else the cores this process may use); a note says when the machine looks "
                   "busy, where fewer threads train faster")
    p.add_argument("--no-progress", action="store_true",
                   help="hide progress (bars on a terminal, one line per tenth of the work "
                   "in a log or pipe)")
    p.add_argument("--log", type=log_names, default=[], metavar="NAME[,NAME]",
                   help=f"also log per-epoch metrics, pool sizes and score histograms to: "
                   f"{', '.join(LOGGERS.names())} (optional packages: pip install "
                   "'easyfirst[log]')")
    p.add_argument("--log-dir", default=None, help="where --log writes (default: OUT/logs)")


def noise_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--label-noise``, ``--noise-kind`` and ``--noise-seed`` as ``load_dataset`` keywords."""
    return {"label_noise": getattr(args, "label_noise", 0.0),
            "noise_kind": getattr(args, "noise_kind", "uniform"),
            "noise_seed": getattr(args, "noise_seed", 0)}


def dataset_options(args: argparse.Namespace) -> dict[str, Any]:
    """``load_dataset``'s keywords as a run records them: ``--dataset-opt``, ``--root`` and,
    with a label-noise rate above 0, the noise settings (so a report loads the same data)."""
    opts = parse_kv(args.dataset_opt, "--dataset-opt")
    if args.root is not None:
        opts["root"] = args.root
    noise = noise_options(args)
    noise.update((k, opts[k]) for k in list(noise) if k in opts)  # --dataset-opt label_noise=
    if noise["label_noise"]:
        opts.update(noise)
    return opts


def load_data(args: argparse.Namespace) -> DatasetBundle:
    """The dataset of ``--dataset``, ``--root``, ``--dataset-opt`` and ``--label-noise``;
    ``--no-progress`` also hides the loader's bars (feature caching)."""
    opts = {**noise_options(args), **dataset_options(args)}
    progress = bool(opts.pop("progress", not args.no_progress))
    return load_dataset(args.dataset, progress=progress, **opts)


def run_config(
    args: argparse.Namespace, bundle: DatasetBundle, **extra: Any
) -> tuple[RunConfig, str]:
    """The run's config (``auto`` and unset recipe options resolved) and a line saying so."""
    check_out_dir(args.out)
    check_device(args.device)
    augment = None if args.augment is None else [
        a for a in args.augment.split(",") if a and a != "none"]
    check_augment(augment)
    cfg, note = configure(
        bundle,
        model=args.model,
        dataset=args.dataset,
        optimizer=args.optimizer,
        lr=args.lr,
        schedule=args.schedule,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        augment=augment,
        epochs=args.epochs,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        eval_checkpoint=args.eval_checkpoint,
        correctness=args.correctness,
        outcomes=args.outcomes,
        precision=args.precision,
        compile=args.compile,
        data_placement=args.data_placement,
        cuda_graphs=args.cuda_graphs,
        stack=args.stack,
        dataset_options=dataset_options(args),
        model_options=parse_kv(args.model_opt, "--model-opt"),
        **extra,
    )
    check_model_options(cfg.model, cfg.model_options)
    return cfg, note
