"""Likely label issues: the training samples that are probably mislabelled, and how many.

From the ordinary scoring runs alone (no extra training), single-label data, each seed's
``dynamics.pt`` with its eval pass over the training set (``eval_predicted``,
``eval_confidence``; easyfirst score records one by default):

1. **Evidence.** The finest per-sample evidence the runs hold
   (``scoring.functional.tie_evidence``: minus AUM, else minus confidence, else CE loss),
   averaged over the seeds. A mislabelled sample is learned late or never under its given
   label, so its margin is low in most epochs, not only at the chosen checkpoint, whose eval
   pass may have memorised it.
2. **How many.** A two-component Gaussian mixture fitted to that evidence (as DivideMix, Li
   et al. 2020, splits clean from noisy samples by their loss): the samples whose posterior
   of the harder component exceeds 0.5 are counted. The cut-off ``n`` is that count: read
   from the data, not a fixed constant.
3. **Which.** The candidates are the samples whose suggested class (the class with the
   largest summed eval probability over the seeds that predict it) differs from the given
   label; the ``n`` hardest of them by the evidence are flagged (all of them if fewer).

The calibrated confident-learning count of the eval passes (Northcutt et al. 2021) is given
beside it (``confident_count``): the eval pass of a model trained on the wrong labels has
memorised some of them, so it counts too few (FSDD, 10 % flipped: 216 of 240; see
``benchmarks/results/``).

Example:
    >>> import torch
    >>> z = torch.zeros(6, dtype=torch.int32)
    >>> d = TrainingDynamics(2, z + 2, z, z, z, z, z.float(), margin_sum=torch.tensor(
    ...     [8.0, 7.5, -8.0, 8.2, -7.0, 7.9]), eval_loss=torch.tensor([.1, .1, 3, .1, 2, .1]),
    ...     eval_predicted=torch.tensor([0, 1, 1, 1, 0, 1]), eval_confidence=torch.tensor(
    ...     [.9, .9, .95, .9, .8, .9]))
    >>> found = find_label_issues([d], np.array([0, 1, 0, 1, 1, 1]))
    >>> found.index.tolist(), found.suggested.tolist(), found.estimated
    ([2, 4], [1, 0], 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.mixture import GaussianMixture

from easyfirst.analysis.per_sample import (
    check_csv_target,
    class_names,
    find_score_folder,
    load_ensembles,
    load_runs,
    write_table_csv,
)
from easyfirst.analysis.results import Table
from easyfirst.errors import InputError
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.run_folder import read_sample_meta
from easyfirst.scores import Scores
from easyfirst.scoring import get_scorer
from easyfirst.scoring.functional import tie_evidence

COLUMNS = ["issue_rank", "index", "id", "given", "suggested", "probability",
           "seed_agreement", "evidence"]


@dataclass(frozen=True)
class LabelIssues:
    """The flagged samples, most evidence first, and how the cut-off was chosen.

    Attributes:
        index: (n,) training-set positions of the flagged samples.
        given, suggested: (n,) given and suggested class ids.
        probability: (n,) mean eval probability of the suggested class over the seeds (a
            seed predicting another class counts 0).
        agreement: (n,) fraction of seeds whose eval pass predicts the suggested class.
        evidence: (n,) the seeds' mean of the scorer ``evidence_name`` that ranked them (AUM:
            the lowest flagged first).
        evidence_name: that scorer's name (``aum``, else ``confidence``, else ``celoss``).
        estimated: the mixture's count of samples in the harder component (the cut-off).
        confident: the calibrated confident-learning count of the eval passes, mean over
            the seeds (for comparison: memorised labels make it low).
        candidates: samples whose suggested class differs from the given label.
    """

    index: np.ndarray
    given: np.ndarray
    suggested: np.ndarray
    probability: np.ndarray
    agreement: np.ndarray
    evidence: np.ndarray
    evidence_name: str
    estimated: int
    confident: float
    candidates: int

    def __len__(self) -> int:
        return int(self.index.size)

    def rule(self) -> str:
        """How the cut-off was chosen, one sentence (the report's note, export's line)."""
        if not self.candidates:
            return ("0 flagged: the eval passes predict the given label of every training "
                    "sample, over all seeds")
        return (f"{len(self)} flagged: the {len(self)} samples with the hardest mean "
                f"{self.evidence_name} over the seeds among the {self.candidates} whose "
                f"suggested class differs from the given label; {self.estimated} wrong labels "
                f"estimated by a two-component Gaussian mixture on that evidence (calibrated "
                f"confident learning on the eval passes: {self.confident:.1f})")

    def flagged_mask(self, num_samples: int) -> np.ndarray:
        """(N,) bool, True where flagged."""
        mask = np.zeros(num_samples, dtype=bool)
        mask[self.index] = True
        return mask


def confident_count(d: TrainingDynamics, targets: np.ndarray, num_classes: int) -> float:
    """One seed's calibrated confident-learning count of wrong labels (module notes)."""
    assert d.eval_loss is not None and d.eval_predicted is not None
    assert d.eval_confidence is not None
    p_given = np.exp(-d.eval_loss.double().numpy())
    counts = np.bincount(targets, minlength=num_classes)
    sums = np.bincount(targets, weights=p_given, minlength=num_classes)
    threshold = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
    pred, conf = d.eval_predicted.numpy(), d.eval_confidence.double().numpy()
    off = (pred != targets) & (conf >= threshold[pred])
    on = ~off & (p_given >= threshold[targets])
    off_rows = np.bincount(targets[off], minlength=num_classes)
    confident = off_rows + np.bincount(targets[on], minlength=num_classes)
    share = np.where(confident > 0, off_rows / np.maximum(confident, 1), 0.0)
    return float((share * counts).sum())


def mixture_count(hardness: np.ndarray, *, seed: int = 0) -> int:
    """Samples in the harder component of a two-component Gaussian mixture fitted to
    ``hardness`` (N,) (posterior > 0.5); 0 when fewer than two distinct finite values."""
    h = hardness[np.isfinite(hardness)].reshape(-1, 1)
    if np.unique(h).size < 2:
        return 0
    gmm = GaussianMixture(2, random_state=seed).fit(h)
    harder = int(np.argmax(gmm.means_.ravel()))
    return int((gmm.predict_proba(h)[:, harder] > 0.5).sum())


def _why_not(dyns: Sequence[TrainingDynamics], targets: np.ndarray) -> str | None:
    """One line saying why the runs cannot tell, or ``None``."""
    if not dyns:
        return "no seed has a dynamics.pt (no scorer trained the ordinary runs)"
    if targets.ndim != 1:
        return "multi-label data (one class per sample only)"
    if any(d.eval_predicted is None or d.eval_confidence is None or d.eval_loss is None
           for d in dyns):
        return ("the runs' dynamics.pt lack the eval pass's predictions (easyfirst before "
                "eval_predicted); score again to see them")
    return None


def find_label_issues(dyns: Sequence[TrainingDynamics], targets: np.ndarray, *,
                      num_classes: int | None = None) -> LabelIssues:
    """The likely label issues of the runs ``dyns`` (one per seed) of labels ``targets``.

    Raises:
        ValueError: no runs, multi-label targets, or runs without the eval pass (one line).
    """
    y = np.asarray(targets)
    why = _why_not(dyns, y)
    if why is not None:
        raise InputError(f"Expected single-label runs with their eval pass to find label "
                         f"issues; got {why}.")
    y = y.astype(np.int64)
    pred = np.stack([d.eval_predicted.numpy() for d in dyns])  # type: ignore[union-attr]
    conf = np.stack([d.eval_confidence.double().numpy() for d in dyns])  # type: ignore[union-attr]
    c = int(num_classes or max(int(pred.max(initial=0)), int(y.max(initial=0))) + 1)
    votes = np.zeros((y.size, c))
    np.add.at(votes, (np.broadcast_to(np.arange(y.size), pred.shape), pred), conf)
    suggested = votes.argmax(1)
    confident = float(np.mean([confident_count(d, y, c) for d in dyns]))
    names, keys = zip(*(tie_evidence(d) for d in dyns), strict=True)
    hardness = np.mean([k.double().numpy() for k in keys], axis=0)
    estimated = mixture_count(hardness)
    candidates = np.flatnonzero(suggested != y)
    ranked = candidates[np.lexsort((candidates, -hardness[candidates]))]
    flagged = ranked[:estimated]
    sign = -1.0 if get_scorer(names[0]).higher_is_easier else 1.0  # the key is lower = easier
    return LabelIssues(
        index=flagged, given=y[flagged], suggested=suggested[flagged],
        probability=votes[flagged, suggested[flagged]] / len(dyns),
        agreement=(pred[:, flagged] == suggested[flagged]).mean(0),
        evidence=sign * hardness[flagged], evidence_name=names[0], estimated=estimated,
        confident=confident, candidates=int(candidates.size))


def label_issues_or_why(dyns: Sequence[TrainingDynamics], targets: np.ndarray | None, *,
                        num_classes: int | None = None) -> LabelIssues | str:
    """``find_label_issues``, or the one line saying why the runs cannot tell (the report)."""
    if targets is None:
        return "samples.npz and the runs' dynamics.pt hold no labels"
    try:
        return find_label_issues(dyns, targets, num_classes=num_classes)
    except ValueError as exc:
        return str(exc)


def issue_rows(found: LabelIssues, *, ids: Sequence[Any] | None, names: Sequence[str],
               scores: dict[str, np.ndarray]) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of the flagged samples (``COLUMNS``, then each scorer's score)."""
    def name(k: int) -> str:
        return names[k] if 0 <= k < len(names) else str(k)

    rows = [[r, int(i), None if ids is None else ids[i], name(int(g)), name(int(s)),
             float(p), float(a), float(e), *(float(v[i]) for v in scores.values())]
            for r, (i, g, s, p, a, e) in enumerate(zip(
                found.index, found.given, found.suggested, found.probability,
                found.agreement, found.evidence, strict=True))]
    return [*COLUMNS[:-1], f"evidence ({found.evidence_name})", *scores], rows


def folder_label_issues(root: str | Path) -> tuple[LabelIssues, list[str], list[list[Any]]]:
    """The label issues of a score folder (or the one inside a reproduce folder), with the
    columns and rows of its table: ``COLUMNS`` then each scorer's seed-ensemble score.

    Raises:
        FileNotFoundError: not a score folder.
        ValueError: the runs cannot tell (multi-label data, no eval pass, no runs).
    """
    folder = find_score_folder(root)
    meta = read_sample_meta(folder)
    dyns = load_runs(folder)
    targets = meta.get("train.targets")
    if targets is None and dyns and dyns[0].targets is not None:
        targets = dyns[0].targets.numpy()
    if targets is None:
        raise InputError(f"Expected the training labels in {str(folder)!r} (samples.npz or the "
                         "runs' dynamics.pt); got none. Score the dataset again.")
    names = class_names(folder)
    found = find_label_issues(dyns, np.asarray(targets), num_classes=len(names) or None)
    ids = meta["train.ids"].tolist() if "train.ids" in meta else None
    scores = {k: np.asarray(v.values) for k, v in load_ensembles(folder).items()}
    return found, *issue_rows(found, ids=ids, names=names, scores=scores)


def write_label_issues(root: str | Path, out: str | Path | None = None
                       ) -> tuple[Path, LabelIssues]:
    """Write the flagged samples as CSV, atomically (default: ``label_issues.csv`` in the
    score folder), most evidence first; returns the path and the issues."""
    path = Path(out) if out is not None else find_score_folder(root) / "label_issues.csv"
    check_csv_target(path)
    found, columns, rows = folder_label_issues(root)
    return write_table_csv(path, columns, rows), found


def noise_table(ensembles: dict[str, Scores], flipped: np.ndarray,
                found: LabelIssues | None) -> Table:
    """How well each scorer finds injected label noise (``flipped``, (N,) bool): AUROC and AP
    of its easy-to-hard order read hardest first (the rank column: ties by its own rule),
    and precision/recall of its ``n`` hardest samples, ``n`` the label issues' cut-off (or
    the true count without one); then the flagged label issues themselves."""
    n = len(found) if found is not None else int(flipped.sum())
    rows = []
    for name, s in ensembles.items():
        if not np.isfinite(s.values).all():
            continue
        hardness = s.ranks()
        top = np.zeros(flipped.size, dtype=bool)
        top[s.hard_to_easy()[:n]] = True
        hits = int((top & flipped).sum())
        rows.append([name, f"{roc_auc_score(flipped, hardness):.3f}",
                     f"{average_precision_score(flipped, hardness):.3f}",
                     f"{hits / max(n, 1):.3f}", f"{hits / max(int(flipped.sum()), 1):.3f}"])
    if found is not None:
        hits = int((found.flagged_mask(flipped.size) & flipped).sum())
        rows.append(["label issues (flagged)", "-", "-", f"{hits / max(len(found), 1):.3f}",
                     f"{hits / max(int(flipped.sum()), 1):.3f}"])
    return Table(
        f"Injected label noise: {int(flipped.sum())} of {flipped.size} training labels flipped",
        ["scorer", "AUROC", "AP", f"precision of the {n} hardest", "recall"], rows,
        note="AUROC and AP of each scorer's easy-to-hard order read hardest first (ties by "
        "its rule: CumAcc's by the runs' evidence); precision and recall of the n hardest, n "
        "the number of label issues flagged.")
