"""Pure per-sample scoring math on ``TrainingDynamics`` tensors. Shapes: (N,) in, (N,) out.

Samples never visited during training (``epochs_seen == 0``) score NaN everywhere.
"""

from __future__ import annotations

import torch

from easyfirst.errors import InputError
from easyfirst.recording.dynamics import TrainingDynamics


def _unseen_to_nan(d: TrainingDynamics, values: torch.Tensor) -> torch.Tensor:
    return torch.where(d.epochs_seen > 0, values.double(), float("nan"))


def _recorded(d: TrainingDynamics, value: torch.Tensor | None, outcome: str) -> torch.Tensor:
    """``value``, or one line saying how to record it when the recorder did not keep it."""
    if value is None:
        raise InputError(
            f"Expected a record with the {outcome!r} outcomes; got one with "
            f"{', '.join(d.meta.get('outcomes', [])) or 'the core outcomes'} only. Record with "
            "OutcomeRecorder(..., outcomes='all') (CLI: --outcomes all, the default).")
    return value


def cumacc(d: TrainingDynamics) -> torch.Tensor:
    """Fraction of epochs in which the sample was classified correctly (higher = easier)."""
    return _unseen_to_nan(d, d.cumacc())


def fit(d: TrainingDynamics) -> torch.Tensor:
    """First epoch (0-based) from which the sample stays correct to the end (lower = easier).

    Never-learned samples, and samples incorrect in their last epoch, get E (``epochs``),
    one past the last epoch.
    """
    since = d.learned_since.double()
    return _unseen_to_nan(d, torch.where(since < 0, float(d.epochs), since))


def celoss(d: TrainingDynamics, *, source: str = "auto") -> torch.Tensor:
    """Per-sample cross-entropy (lower = easier).

    Args:
        source: ``"eval"`` (an eval-mode pass of the chosen checkpoint over the training set),
            ``"last"`` (training-mode loss in the last epoch), or ``"auto"`` (eval if recorded).
    """
    if source not in ("auto", "eval", "last"):
        raise InputError(f"Unknown CELoss source {source!r}. Available: auto, eval, last.")
    if source == "eval" or (source == "auto" and d.eval_loss is not None):
        if d.eval_loss is None:
            raise InputError(
                "CELoss source 'eval' needs an eval pass; this record has none. Use "
                "source='last' or rerun scoring (it records one by default)."
            )
        return d.eval_loss.double()
    return _unseen_to_nan(d, d.last_loss)


def forgetting(d: TrainingDynamics) -> torch.Tensor:
    """Forgetting events (correct -> incorrect between consecutive epochs; lower = easier).

    Never-learned samples get E, more than any learned sample can have (Toneva et al. 2019
    rank them as the most forgettable).
    """
    never = (d.learned_since < 0) & (d.forgetting == 0)  # learned once = correct now, or forgot
    return _unseen_to_nan(d, torch.where(never, float(d.epochs), d.forgetting.double()))


def confidence(d: TrainingDynamics) -> torch.Tensor:
    """Data-map confidence: mean over epochs of the true-class probability (higher = easier)."""
    return _unseen_to_nan(d, _recorded(d, d.prob_sum, "probs") / d.epochs_seen.clamp(min=1))


def variability(d: TrainingDynamics) -> torch.Tensor:
    """Data-map variability: std over epochs of the true-class probability (population std)."""
    n = d.epochs_seen.clamp(min=1).double()
    mean = _recorded(d, d.prob_sum, "probs") / n
    var = (_recorded(d, d.prob_sqsum, "probs") / n - mean**2).clamp(min=0)
    return _unseen_to_nan(d, var.sqrt())


def aum(d: TrainingDynamics) -> torch.Tensor:
    """Area under the margin: mean of true logit minus largest other logit (higher = easier)."""
    return _unseen_to_nan(d, _recorded(d, d.margin_sum, "margins") / d.epochs_seen.clamp(min=1))


def el2n(d: TrainingDynamics) -> torch.Tensor:
    """EL2N at ``d.el2n_epoch``: ||softmax - onehot||_2 (lower = easier)."""
    return _recorded(d, d.el2n, "el2n").double()


def tie_evidence(d: TrainingDynamics) -> tuple[str, torch.Tensor]:
    """The finest per-sample evidence the record holds, as a key where lower = easier, and its
    scorer's name: minus AUM, else minus confidence, else CE loss (``celoss``).

    Coarse scorers (CumAcc: at most E + 1 values) order their ties by it: the same epochs'
    margins separate a mislabelled sample from a merely hard one where the count of correct
    epochs cannot.
    """
    if d.margin_sum is not None:
        return "aum", -aum(d)
    if d.prob_sum is not None:
        return "confidence", -confidence(d)
    return "celoss", celoss(d)
