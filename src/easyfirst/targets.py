"""What a target is: single-label class ids ``(B,)`` or multi-label multi-hot ``(B, C)``.

Pure functions of logits and targets, shared by training, the recorder and the analysis:

- ``per_sample_loss``: cross-entropy (single-label) or binary cross-entropy on the logits,
  averaged over the C classes (multi-label; PANNs' loss).
- ``correctness``: how correct one prediction is, in [0, 1]. Single-label: argmax == label.
  Multi-label, with the C decisions ``sigmoid(z) >= 0.5`` (``z >= 0``) against the targets:

  ==============  ======================================================================
  ``exact``       1 if all C decisions are right, else 0 (strict: one missed label fails)
  ``label-mean``  the fraction of the C decisions that are right; with few positives out
                  of C the negatives dominate it (a model predicting nothing scores
                  ``1 - |positives| / C``)
  ``recall``      the fraction of the sample's positive labels predicted
  ``f1``          F1 of the predicted against the positive labels, ``2|P∩T| / (|P|+|T|)``
                  (1 when both are empty)
  ==============  ======================================================================

  Non-finite logits are never correct. The default, ``recall``, made the CumAcc closest to
  the known difficulty of ``kwsmix`` (``benchmarks/multilabel_correctness.py``: Spearman
  with the weaker word's SNR 0.405, against exact 0.377, label-mean 0.395, f1 0.387). It
  ignores false alarms; ``f1`` and ``exact`` count them.
- the recorder's other per-sample columns (``confidence``: probability of the true label /
  mean sigmoid of the positive labels; ``margin``: true logit minus the largest other /
  smallest positive logit minus largest negative, AUM's margin; ``el2n``: ``||p - y||_2``).
- metrics: accuracy; average precision per class, macro mAP and d-prime (AudioSet's).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from easyfirst.errors import InputError

MULTILABEL_CORRECTNESS = ("exact", "label-mean", "recall", "f1")
DEFAULT_CORRECTNESS = "recall"  # benchmarks/multilabel_correctness.py: best CumAcc on kwsmix


def is_multilabel(targets: torch.Tensor) -> bool:
    return targets.ndim == 2


def check_correctness(rule: str) -> str:
    if rule not in MULTILABEL_CORRECTNESS:
        raise InputError(f"Expected a multi-label correctness rule among "
                         f"{', '.join(MULTILABEL_CORRECTNESS)}; got {rule!r}.")
    return rule


def per_sample_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``(B,)`` loss: CE for ``(B,)`` class ids, BCE-with-logits averaged over classes for
    ``(B, C)`` multi-hot targets."""
    if is_multilabel(targets):
        return F.binary_cross_entropy_with_logits(
            logits, targets.to(logits.dtype), reduction="none").mean(1)
    return F.cross_entropy(logits, targets, reduction="none")


def correctness(logits: torch.Tensor, targets: torch.Tensor, rule: str = DEFAULT_CORRECTNESS
                ) -> torch.Tensor:
    """``(B,)`` correctness in [0, 1] (module notes), float of ``logits``' dtype or float32."""
    finite = torch.isfinite(logits).all(dim=1)
    if not is_multilabel(targets):
        return ((logits.argmax(dim=1) == targets) & finite).float()
    pred, true = logits >= 0, targets > 0.5
    if rule == "exact":
        value = (pred == true).all(dim=1).float()
    elif rule == "label-mean":
        value = (pred == true).float().mean(dim=1)
    else:
        hit = (pred & true).sum(1).float()
        npos = true.sum(1).float()
        if rule == "recall":
            value = torch.where(npos > 0, hit / npos.clamp(min=1), 1.0)
        else:
            both = pred.sum(1).float() + npos
            value = torch.where(both > 0, 2 * hit / both.clamp(min=1), 1.0)
    return value * finite


def top_prediction(logits: torch.Tensor, targets: torch.Tensor
                   ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Single-label: ``(predicted class (N,) int64, its softmax probability (N,) float32)``;
    multi-label: ``(None, None)``."""
    if is_multilabel(targets):
        return None, None
    conf, pred = logits.softmax(dim=1).max(dim=1)
    return pred.long(), conf.float()


def outcome_columns(logits: torch.Tensor, targets: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per sample ``(confidence, margin, el2n)`` (module notes), each ``(B,)``."""
    if not is_multilabel(targets):
        p = logits.softmax(dim=1)
        y = targets[:, None]
        p_true = p.gather(1, y).squeeze(1)
        margin = logits.gather(1, y).squeeze(1) - logits.scatter(1, y, -math.inf).amax(1)
        # ||p - onehot(y)||_2 without materialising the one-hot matrix
        el2n = ((p * p).sum(1) - 2 * p_true + 1).clamp(min=0).sqrt()
        return p_true, margin, el2n
    p, true = logits.sigmoid(), targets > 0.5
    npos = true.sum(1)
    conf = torch.where(npos > 0, (p * true).sum(1) / npos.clamp(min=1),
                       1 - p.amax(1))  # no positive label: the most confident false alarm
    lowest_pos = torch.where(true, logits, math.inf).amin(1)
    highest_neg = torch.where(true, -math.inf, logits).amax(1)
    margin = torch.where(npos > 0, lowest_pos, 0.0) - torch.where(
        true.all(1), 0.0, highest_neg)
    el2n = (p - targets.to(p.dtype)).square().sum(1).sqrt()
    return conf, margin, el2n


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Single-label accuracy."""
    return float((logits.argmax(1) == targets).double().mean())


def average_precision(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """AP of one class: mean precision at the rank of each positive (ties by sample order,
    as ``sklearn.metrics.average_precision_score`` up to tie handling); NaN without
    positives."""
    pos = positive.bool()
    if not pos.any():
        return math.nan
    order = torch.argsort(scores.double(), descending=True, stable=True)
    hits = pos[order].double()
    precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1, dtype=torch.float64)
    return float((precision * hits).sum() / hits.sum())


def per_class_ap(logits: torch.Tensor, targets: torch.Tensor) -> list[float]:
    return [average_precision(logits[:, c], targets[:, c]) for c in range(targets.shape[1])]


def mean_average_precision(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Macro mAP over the classes with at least one positive."""
    aps = [a for a in per_class_ap(logits, targets) if not math.isnan(a)]
    return sum(aps) / len(aps) if aps else math.nan


def d_prime(auc: float) -> float:
    """AudioSet's d-prime of a ROC AUC: ``sqrt(2) * Phi^-1(auc)``."""
    auc = min(max(auc, 1e-12), 1 - 1e-12)
    # Phi^-1(p) = sqrt(2) * erfinv(2p - 1), so d' = 2 * erfinv(2 * auc - 1)
    return 2.0 * torch.erfinv(torch.tensor(2 * auc - 1.0, dtype=torch.float64)).item()


def roc_auc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """Mann-Whitney AUC of one class (ties count one half); NaN without both kinds."""
    pos = positive.bool().numpy()
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if not n_pos or not n_neg:
        return math.nan
    from scipy.stats import rankdata  # here: importing easyfirst should not load scipy

    ranks = rankdata(scores.double().numpy())  # ties: the mean of their ranks
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def selection_metric(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """What selects the best epoch on dev: accuracy, or macro mAP for multi-label."""
    if is_multilabel(targets):
        return mean_average_precision(logits, targets)
    return accuracy(logits, targets)


def test_metrics(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, object]:
    """The metrics a run reports on a split: ``accuracy``; multi-label ``map`` (macro),
    ``mean_auc``, ``d_prime`` (of the mean AUC, as AudioSet papers report it) and
    ``per_class_ap`` (NaN where a class has no positive)."""
    if not is_multilabel(targets):
        return {"accuracy": accuracy(logits, targets)}
    aucs = [roc_auc(logits[:, c], targets[:, c]) for c in range(targets.shape[1])]
    finite = [a for a in aucs if not math.isnan(a)]
    auc = sum(finite) / len(finite) if finite else math.nan
    return {"map": mean_average_precision(logits, targets), "mean_auc": auc,
            "d_prime": d_prime(auc) if finite else math.nan,
            "per_class_ap": per_class_ap(logits, targets)}

