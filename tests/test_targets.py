"""Single- and multi-label targets: losses, correctness rules, recorder columns, metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score, roc_auc_score

from easyfirst.recording import OutcomeRecorder
from easyfirst.targets import (
    average_precision,
    correctness,
    d_prime,
    mean_average_precision,
    outcome_columns,
    per_sample_loss,
    roc_auc,
    selection_metric,
)

# three samples, four classes; decisions are logits >= 0
Z = torch.tensor([[2.0, -1.0, 3.0, -2.0],    # predicts {0, 2}
                  [-1.0, -1.0, -1.0, -1.0],  # predicts nothing
                  [1.0, 1.0, -1.0, -1.0]])   # predicts {0, 1}
Y = torch.tensor([[1.0, 0.0, 1.0, 0.0],      # exactly right
                  [0.0, 0.0, 0.0, 1.0],      # misses its one label
                  [1.0, 0.0, 1.0, 0.0]])     # one hit, one false alarm, one miss


@pytest.mark.parametrize(("rule", "expected"), [
    ("exact", [1.0, 0.0, 0.0]),
    ("label-mean", [1.0, 0.75, 0.5]),  # the negatives dominate: predicting nothing gets 0.75
    ("recall", [1.0, 0.0, 0.5]),
    ("f1", [1.0, 0.0, 0.5]),           # 2*1 / (2 + 2)
])
def test_multilabel_correctness_rules(rule, expected):
    assert correctness(Z, Y, rule).tolist() == expected


def test_empty_label_sets_and_nonfinite_rows():
    none = torch.zeros(1, 4)
    assert correctness(torch.full((1, 4), -3.0), none, "f1").item() == 1.0  # both empty
    assert correctness(torch.full((1, 4), -3.0), none, "recall").item() == 1.0
    bad = Z.clone()
    bad[0, 1] = math.nan
    for rule in ("exact", "label-mean", "recall", "f1"):
        assert correctness(bad, Y, rule)[0].item() == 0.0
    single = torch.tensor([[math.nan, 0.0], [0.0, 1.0]])
    assert correctness(single, torch.tensor([0, 1])).tolist() == [0.0, 1.0]  # argmax(NaN) = 0


def test_losses():
    torch.testing.assert_close(per_sample_loss(Z, Y), torch.stack(
        [F.binary_cross_entropy_with_logits(Z[i], Y[i]) for i in range(3)]))
    y = torch.tensor([2, 0, 1])
    torch.testing.assert_close(per_sample_loss(Z, y), F.cross_entropy(Z, y, reduction="none"))


def test_multilabel_outcome_columns():
    conf, margin, el2n = outcome_columns(Z, Y)
    p = Z.sigmoid()
    torch.testing.assert_close(conf, torch.stack([(p[0, 0] + p[0, 2]) / 2, p[1, 3],
                                                  (p[2, 0] + p[2, 2]) / 2]))
    # smallest positive logit minus largest negative logit (AUM's margin, multi-label)
    assert margin.tolist() == [2.0 - (-1.0), -1.0 - (-1.0), -1.0 - 1.0]
    torch.testing.assert_close(el2n, (p - Y).norm(dim=1))


def test_single_label_outcome_columns_match_definitions():
    y = torch.tensor([2, 0, 1])
    conf, margin, el2n = outcome_columns(Z, y)
    p = Z.softmax(1)
    torch.testing.assert_close(conf, p[torch.arange(3), y])
    assert margin.tolist() == [3.0 - 2.0, -1.0 - (-1.0), 1.0 - 1.0]
    torch.testing.assert_close(el2n, (p - F.one_hot(y, 4)).norm(dim=1), atol=1e-6, rtol=0)


def test_average_precision_and_auc_match_sklearn():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(200, 5, generator=g)
    labels = (torch.rand(200, 5, generator=g) < 0.2).float()
    scores += 1.5 * labels  # informative
    for c in range(5):
        assert average_precision(scores[:, c], labels[:, c]) == pytest.approx(
            average_precision_score(labels[:, c].numpy(), scores[:, c].numpy()), abs=1e-12)
        assert roc_auc(scores[:, c], labels[:, c]) == pytest.approx(
            roc_auc_score(labels[:, c].numpy(), scores[:, c].numpy()), abs=1e-12)
    tied = torch.tensor([0.5, 0.5, 0.1, 0.9])
    assert roc_auc(tied, torch.tensor([1, 0, 0, 1])) == pytest.approx(
        roc_auc_score([1, 0, 0, 1], tied.numpy()))
    expected = np.mean([average_precision_score(labels[:, c], scores[:, c]) for c in range(5)])
    assert mean_average_precision(scores, labels) == pytest.approx(expected, abs=1e-12)
    assert selection_metric(scores, labels) == pytest.approx(expected, abs=1e-12)
    assert math.isnan(average_precision(scores[:, 0], torch.zeros(200)))


def test_d_prime():
    assert d_prime(0.5) == pytest.approx(0.0, abs=1e-6)
    # AUC = Phi(d' / sqrt 2): d' = 1 <-> AUC 0.76025
    assert d_prime(0.7602499389) == pytest.approx(1.0, abs=1e-5)


def test_recorder_multilabel_rules_and_dynamics():
    rec = OutcomeRecorder(3, correctness="label-mean")
    rec.update(torch.arange(3), Z, Y)
    rec.end_epoch()
    d = rec.dynamics()
    assert d.cumacc().tolist() == [1.0, 0.75, 0.5]
    with pytest.raises(ValueError, match="Expected multi-hot targets of the logits' shape"):
        rec.update(torch.arange(3), Z, Y[:, :3])
    with pytest.raises(ValueError, match="correctness rule among exact, label-mean"):
        OutcomeRecorder(3, correctness="jaccard")
