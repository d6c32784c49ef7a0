"""A run folder's files: who owns it (``run.json``), predictions, and the samples' facts.

``run.json`` (score and train folders; a reproduce folder's ``reproduce.json`` likewise,
``run_record``): ``kind`` (``score``, ``train`` or ``reproduce``), ``version`` (of this
schema), ``easyfirst_version``, ``cwd`` (where it ran: a relative ``--root`` is under it),
``dataset`` (the bundle's name), ``dataset_fingerprint``, ``label_noise`` (only with
injected label noise: ``{"rate", "kind", "seed", "flipped"}``, ``data.label_noise``),
``config`` (the settings that make the run: ``RunConfig.identity()``, plus ``seed`` for a
train run), then the kind's own keys (train: ``curriculum``, ``scores``; reproduce:
``class_names``, ``plan``). Files of easyfirst before this schema (``settings`` for
``config``, no ``kind``) are read as the same (``upgrade_record``).

``predictions.npz`` (``write_predictions``): per split ``dev``/``test`` with data, the
``{split}_logits (N, C)``, ``{split}_probs`` (softmax; sigmoid for multi-label data),
``{split}_targets (N,)`` (or ``(N, C)`` multi-hot) and
``{split}_ids (N,)``; late fusion and the report read it.

``summary.json`` (a score folder's; ``ScoreSummary``, ``read_summary``): ``dataset``,
``class_names``, ``seeds``, ``cost`` (this call's ordinary runs: ``trainings``, ``wall_s``),
``scorers`` (per scorer its ``Scores.summary`` with ``cost``, ``seeds``, ``params``),
``test_accuracy`` or ``test_map`` (multi-label) and ``nonfinite_logits``, each per seed.

``samples.npz`` (``write_sample_meta``): per split, ``{split}.ids``, ``{split}.targets`` and
every numeric per-sample meta column as ``{split}.meta.{column}`` (synthkws: ``snr_db``), so
a report can relate scores and accuracies to known sample facts without loading the dataset.
With injected label noise (``--label-noise``) also ``train.label_flipped (N,)`` bool (the
flipped mask) and ``train.clean_targets (N,)`` (the labels before flipping;
``train.targets`` are the ones trained on).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypedDict, cast

import numpy as np
import torch

from easyfirst._version import __version__
from easyfirst.atomic import atomic_write, atomic_write_text
from easyfirst.data.base import DatasetBundle
from easyfirst.data.label_noise import NOISE_COLUMNS
from easyfirst.errors import InputError
from easyfirst.file_errors import looks_like, read_npz
from easyfirst.locks import MANIFEST, folder_lock, read_manifest, write_manifest
from easyfirst.targets import test_metrics
from easyfirst.training.runs import RunResult

SAMPLES = "samples.npz"
SUMMARY = "summary.json"  # a score folder's summary (ScoreSummary)


class Cost(TypedDict, total=False):
    """What scoring spent: wall seconds, trainings, what it shared with other scorers, and
    whether the seeds were stacked (and why)."""

    wall_s: float
    trainings: int
    shared: str
    stacking: dict[str, Any]


class ScoreSummary(TypedDict, total=False):
    """A score folder's ``summary.json`` (module notes); ``score_dataset`` returns it."""

    dataset: str
    class_names: list[str]
    seeds: list[int]
    cost: Cost
    scorers: dict[str, dict[str, Any]]
    test_accuracy: dict[str, float | None]
    test_map: dict[str, float | None]
    nonfinite_logits: dict[str, int]
PREDICTIONS = "predictions.npz"
METRICS = "metrics.json"  # a train run's, written last (``is_finished``)
RUN_VERSION = 2  # of the run.json schema (1: ``settings`` instead of ``config``, no ``kind``)
# Describe the file, not the run: not compared. ``cwd``: the folder a relative --root is in.
INFO_KEYS = ("version", "easyfirst_version", "cwd")
# The top-level names each kind of run writes in its folder (its manifest, ``locks.MANIFEST``,
# records those it created); ``REPORTS``: what ``report`` and ``export`` write there by default.
OUTPUTS = {
    "score": ("run.json", SAMPLES, "scores", "seeds", "stacked", SUMMARY),
    "train": ("run.json", "checkpoint.pt", "model.pt", PREDICTIONS, METRICS),
    "reproduce": ("reproduce.json", "score", "runs", "results.json", "tables.md",
                  "findings.json"),
}
REPORTS = {"report": ("report.html", "report.md", "report_files", "report_samples"),
           "export": ("per_sample.csv", "label_issues.csv")}


def is_finished(run_dir: str | os.PathLike[str]) -> bool:
    """A train run is finished when ``metrics.json`` and ``predictions.npz`` exist."""
    p = Path(run_dir)
    return (p / METRICS).is_file() and (p / PREDICTIONS).is_file()


def run_record(kind: str, bundle: DatasetBundle, config: Mapping[str, Any],
               **extra: Any) -> dict[str, Any]:
    """The ``run.json`` of a ``kind`` run (the schema in the module docstring)."""
    noise = {"label_noise": bundle.info["label_noise"]} if "label_noise" in bundle.info else {}
    return {"kind": kind, "version": RUN_VERSION, "easyfirst_version": __version__,
            "cwd": os.getcwd(), "dataset": bundle.name, "dataset_fingerprint": bundle.fingerprint,
            **noise, "config": dict(config), **extra}


def upgrade_record(data: Mapping[str, Any]) -> dict[str, Any]:
    """A ``run.json``/``reproduce.json`` of any easyfirst version in the current schema's
    keys: ``settings`` -> ``config``, ``kind`` inferred, ``format`` dropped, the ``cost`` of
    a train run's ``scores`` dropped (no setting)."""
    out = dict(data)
    if isinstance(out.get("scores"), dict) and "cost" in out["scores"]:
        out["scores"] = {k: v for k, v in out["scores"].items() if k != "cost"}
    if "settings" in out and "config" not in out:
        out["config"] = out.pop("settings")
    if "kind" not in out:
        out.pop("format", None)
        out["kind"] = "reproduce" if "plan" in out else "train" if "curriculum" in out \
            else "score"
    return out


def _write_npz(path: Path, arrays: dict[str, Any]) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    atomic_write(path, write)


def write_predictions(
    path: Path, bundle: DatasetBundle, dev_logits: torch.Tensor | None,
    test_logits: torch.Tensor | None,
) -> None:
    """Write ``predictions.npz`` at ``path`` (layout in the module docstring)."""
    arrays: dict[str, Any] = {}
    for name, split, logits in (("dev", bundle.dev, dev_logits), ("test", bundle.test,
                                                                  test_logits)):
        if split is None or logits is None:
            continue
        arrays[f"{name}_logits"] = logits.numpy()
        multi = split.targets.ndim == 2  # multi-label: sigmoids
        arrays[f"{name}_probs"] = (logits.sigmoid() if multi else logits.softmax(1)).numpy()
        arrays[f"{name}_targets"] = split.targets.numpy()
        arrays[f"{name}_ids"] = np.array(split.ids)
    _write_npz(path, arrays)


def write_metrics(path: Path, bundle: DatasetBundle, res: RunResult) -> None:
    """``metrics.json``: the run's per-epoch rows and test metric, plus ``test_metrics``
    (``easyfirst.targets.test_metrics``: accuracy; multi-label mAP, mean AUC, d-prime and
    per-class AP). Epochs are numbered from 1 (rows' ``epoch``, ``best_epoch``)."""
    data = json.loads(res.metrics_json())
    data["best_epoch"] = res.best_epoch + 1  # RunResult's is 0-based
    if res.test_logits is not None and bundle.test is not None:
        data["test_metrics"] = test_metrics(res.test_logits, bundle.test.targets)
    atomic_write_text(path, json.dumps(data, indent=1))


def write_sample_meta(path: Path, bundle: DatasetBundle) -> None:
    """Write ``samples.npz`` at ``path`` (layout in the module docstring)."""
    arrays: dict[str, Any] = {}
    for name in ("train", "dev", "test"):
        split = getattr(bundle, name)
        if split is None:
            continue
        arrays[f"{name}.ids"] = np.array(split.ids)
        arrays[f"{name}.targets"] = split.targets.numpy()
        for col, values in split.meta.items():
            v = np.asarray(values)
            if col in NOISE_COLUMNS:  # label noise: train.label_flipped, train.clean_targets
                arrays[f"{name}.{col}"] = v
            elif np.issubdtype(v.dtype, np.number) and v.ndim == 1:
                arrays[f"{name}.meta.{col}"] = v
    _write_npz(path, arrays)


def read_sample_meta(folder: Path) -> dict[str, np.ndarray]:
    """The arrays of ``folder/samples.npz`` by name (``train.ids``, ``train.label_flipped``
    with label noise, ...; the module docstring); {} without one."""
    path = folder / SAMPLES
    if not path.is_file():
        return {}
    return read_npz(path, what="the samples file of an easyfirst run",
                    fix="Restore it, or rerun the command that wrote the folder.")


def _differences(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> list[str]:
    """Names of what differs, settings field by field (``dataset`` for the fingerprint)."""
    out: list[str] = []
    for key in sorted(set(mine) | set(theirs)):
        a, b = mine.get(key), theirs.get(key)
        if a == b:
            continue
        if isinstance(a, Mapping) and isinstance(b, Mapping) and key == "config":
            out += _differences(a, b)
        else:
            out.append("dataset" if key == "dataset_fingerprint" else key)
    return out


def claim_out_dir(
    out: Path, record: Mapping[str, Any], *, what: str, resume: bool, overwrite: bool = False,
    file: str = "run.json", keys: Sequence[str] | None = None, orphan: str | None = None,
    finished: Sequence[str] = (), write: bool = True,
) -> None:
    """Make ``out`` this run's folder, or refuse (one line) before anything is changed.

    The one rule for ``score``, ``train`` and ``reproduce``, applied while the caller holds
    ``out``'s lock (``easyfirst.locks``): ``out/file`` describes what the folder holds; a
    folder holding another ``record`` (or, with ``keys``, other values of those keys) is
    refused, so runs of other settings or data never mix; a finished folder is changed only
    with ``resume`` or ``overwrite``.

    Args:
        out: the output folder.
        record: JSON-able description of the run(s), from ``run_record``.
        what: how the message names the folder's content (``"runs"``, ``"run"``...).
        resume: the user asked to continue (``--resume``).
        overwrite: the user asked to replace the folder's outputs (``--overwrite``): every
            file of a folder that ``file`` marks as easyfirst's is deleted first.
        file: the claim file.
        keys: compare only these keys of ``record`` (the rest may change between calls);
            default: all but ``INFO_KEYS`` (for an older file, those it has).
        orphan: a path in ``out`` that, without the claim file, means outputs of unknown
            settings; refused unless ``resume``.
        finished: paths whose presence (all of them) means the run is complete; such a
            folder is refused unless ``resume`` or ``overwrite``.
        write: write ``record`` to ``out/file`` when it is new or of an older schema (else
            the caller writes it).
    """
    path = out / file
    mine = json.loads(json.dumps(record, default=str))
    _check_same_kind(out, str(mine.get("kind", "")))
    if overwrite and path.is_file():
        _clear(out, owned_outputs(out, file))
    if path.is_file():
        raw = read_json(path, what=f"the {file} of {str(out)!r}")
        theirs = upgrade_record(raw)
        if keys is None:
            keys = [k for k in (theirs if "kind" not in raw else {**mine, **theirs})
                    if k not in INFO_KEYS]
        mine_k, theirs_k = ({k: d.get(k) for k in keys} for d in (mine, theirs))
        if mine_k != theirs_k:
            raise InputError(
                f"{str(out)!r} holds {what} with a different "
                f"{', '.join(_differences(mine_k, theirs_k)) or 'setup'}; expected the same "
                "settings. Choose another --out folder, or pass --overwrite to replace it "
                "(nothing was changed)."
            )
        if finished and not resume and all((out / f).exists() for f in finished):
            raise InputError(
                f"{str(out)!r} already holds {what} that finished; pass --resume to reuse or "
                "extend it, --overwrite to replace it, or choose another --out folder."
            )
        if read_manifest(out) is None:  # a folder of an easyfirst before manifests
            write_manifest(out, theirs["kind"], owned_outputs(out, file))
        if write and raw.get("version") != RUN_VERSION:  # an older schema: the same run
            atomic_write_text(path, json.dumps(mine, indent=1))
        return
    if orphan is not None and not resume and (out / orphan).exists():
        raise InputError(f"{str(out)!r} has {what} but no {file}; expected an easyfirst "
                         "output folder. Choose another --out folder.")
    present = {p.name for p in out.iterdir()} if out.is_dir() else set()
    kind = str(mine.get("kind", ""))
    write_manifest(out, kind, [*(n for n in _declared(kind, file) if n not in present),
                               file, *(read_manifest(out) or [])])  # present: a user's
    if write:
        atomic_write_text(path, json.dumps(mine, indent=1))


def _check_same_kind(out: Path, kind: str) -> None:
    """Refuse (before anything is changed, ``--overwrite`` included) a folder that holds a
    run of another kind: a train run never replaces the score run whose scores it may read."""
    for claim in ("run.json", "reproduce.json"):
        if not (out / claim).is_file():
            continue
        theirs = "reproduce" if claim == "reproduce.json" else upgrade_record(
            read_json(out / claim, what=f"the {claim} of {str(out)!r}")).get("kind", "")
        if theirs and kind and theirs != kind:
            raise InputError(
                f"Expected --out to be a new folder or one of an earlier {kind} run; got "
                f"{str(out)!r}, which holds a {theirs} run. Choose another --out folder "
                "(nothing was changed).")


def _declared(kind: str, file: str) -> tuple[str, ...]:
    """The names a ``kind`` run writes, its claim file and the reports' included."""
    return (file, *OUTPUTS.get(kind, ()), "logs", *(n for r in REPORTS.values() for n in r))


def owned_outputs(out: Path, file: str = "run.json") -> list[str]:
    """The top-level names the run in ``out`` owns: its manifest's, or for a folder of an
    easyfirst before manifests, those its kind writes (``OUTPUTS``)."""
    names = read_manifest(out)
    if names is not None:
        return names
    kind = ""
    if (out / file).is_file():
        kind = upgrade_record(read_json(out / file, what=f"the {file} of {str(out)!r}"))["kind"]
    return list(_declared(kind, file))


def _clear(out: Path, owned: Sequence[str]) -> None:
    """Delete the run's own outputs in ``out`` (``--overwrite``), then its manifest; every
    other file of the folder (a user's notes, data, another tool's output) stays."""
    for name in owned:
        child = out / name
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        elif child.exists() or child.is_symlink():
            child.unlink()
    (out / MANIFEST).unlink(missing_ok=True)


def run_folder_of(path: Path) -> Path | None:
    """The nearest folder at or above ``path`` that holds a run (a manifest or a claim file)."""
    for folder in (path, *path.parents):
        if any((folder / f).is_file() for f in (MANIFEST, "run.json", "reproduce.json")):
            return folder
    return None


def check_outside_runs(target: Path, *, option: str, allowed: Sequence[str] = (),
                       instead: Path | None = None) -> None:
    """Refuse (one line, nothing written) a ``target`` that is, or lies inside, one of a run
    folder's own outputs (its manifest's names but ``allowed``). A run folder itself (a
    reproduce run's member included) is left to the caller's rules."""
    target = Path(os.path.abspath(target))
    if run_folder_of(target) == target:
        return
    run = run_folder_of(target.parent)
    if run is None:
        return
    top = target.relative_to(run).parts[0]
    claim = "reproduce.json" if (run / "reproduce.json").is_file() else "run.json"
    if top in owned_outputs(run, claim) and top not in allowed:
        raise InputError(
            f"Expected {option} outside the run's own files; got {str(target)!r}, which is "
            f"{'' if top == target.name else 'inside '}the run's {top!r} in {str(run)!r}. "
            f"Choose another path (e.g. {str(instead or run.parent / 'new')!r}); nothing was "
            "written.")


@contextmanager
def writing_into(target: Path, folder: Path, *, command: str) -> Iterator[None]:
    """Hold ``folder``'s lock while ``command`` (``report``, ``export``, ``fuse``) writes
    ``target`` there; refuse (one line, nothing written) a ``target`` among a run's own
    outputs other than the command's own (``REPORTS``), and a folder another run holds."""
    target = Path(os.path.abspath(target))
    run = run_folder_of(target.parent if target != folder else target)
    if run is not None:
        own = REPORTS.get(command, ())
        instead = {"export": run / REPORTS["export"][0],
                   "fuse": run.parent / "fusion.json"}.get(command, run)
        check_outside_runs(target, option="--json" if command == "fuse" else "--out",
                           allowed=own, instead=instead)
    if folder.exists() and not folder.is_dir():
        yield  # the writer names the file that is in the way
        return
    with folder_lock(folder):
        yield


def read_json(path: Path, *, what: str) -> dict[str, Any]:
    """A JSON object from ``path``, or one line naming the file and what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        where = f"JSON that breaks off at line {exc.lineno}, column {exc.colno}"
        raise InputError(f"Expected {what} ({str(path)!r}) to be JSON; got "
                         f"{looks_like(path) if not exc.doc.strip() else where}. Restore or "
                         "delete that file.") from None
    except UnicodeDecodeError:
        raise InputError(f"Expected {what} ({str(path)!r}) to be JSON; got "
                         f"{looks_like(path)}. Restore or delete that file.") from None
    if not isinstance(data, dict):
        raise InputError(f"Expected {what} ({str(path)!r}) to hold a JSON object; got "
                         f"{type(data).__name__}. Restore or delete that file.")
    return data


def read_summary(folder: Path) -> ScoreSummary:
    """A score folder's ``summary.json`` (empty when it has none)."""
    path = Path(folder) / SUMMARY
    if not path.is_file():
        return {}
    return cast(ScoreSummary, read_json(path, what="the scores summary"))
