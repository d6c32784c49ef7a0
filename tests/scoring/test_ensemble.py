"""Seed ensembles: mean of members, pooled counts for CumAcc, refusal of foreign members."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from easyfirst.recording import OutcomeRecorder
from easyfirst.scores import Scores
from easyfirst.scoring import ensemble, get_scorer


def _run(seed: int, n: int = 20, epochs: int = 4):
    g = torch.Generator().manual_seed(seed)
    rec = OutcomeRecorder(n)
    correct = torch.rand(epochs, n, generator=g) > 0.4
    for e in range(epochs):
        rec.update(torch.arange(n), None, correct=correct[e])
        rec.end_epoch()
    return rec.dynamics(seed=seed, dataset_fingerprint="fp"), correct


def test_cumacc_ensemble_equals_pooled_counts():
    runs = [_run(s) for s in range(5)]
    members = [get_scorer("cumacc")(d) for d, _ in runs]
    ens = ensemble(members)
    pooled = sum(c.sum(0) for _, c in runs).double() / (5 * 4)
    np.testing.assert_allclose(ens.values, pooled.numpy(), rtol=0, atol=1e-15)
    assert ens.meta["seeds"] == [0, 1, 2, 3, 4] and ens.meta["ensemble_size"] == 5


def test_refuses_members_from_other_datasets():
    a = Scores(np.ones(3), higher_is_easier=True, meta={"dataset_fingerprint": "x"})
    b = Scores(np.ones(3), higher_is_easier=True, meta={"dataset_fingerprint": "y"})
    with pytest.raises(ValueError, match="member 1: its dataset fingerprint is 'y'"):
        ensemble([a, b])
    c = Scores(np.ones(4), higher_is_easier=True, meta={"dataset_fingerprint": "x"})
    with pytest.raises(ValueError, match="number of samples"):
        ensemble([a, c])
    with pytest.raises(ValueError, match="at least one"):
        ensemble([])
