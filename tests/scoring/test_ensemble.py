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


def _logit_run(seed: int, n: int = 20, epochs: int = 3):
    g = torch.Generator().manual_seed(seed)
    rec = OutcomeRecorder(n, outcomes="all")
    y = torch.arange(n) % 3
    for _ in range(epochs):
        rec.update(torch.arange(n), torch.randn(n, 3, generator=g), y)
        rec.end_epoch()
    return rec.dynamics(seed=seed, dataset_fingerprint="fp"), None


def test_coarse_scorers_order_ties_by_the_runs_evidence_and_ensembles_average_it():
    runs = [_logit_run(s) for s in range(3)]
    aum = get_scorer("aum")(runs[0][0]).values
    for name in ("cumacc", "fit", "forgetting"):
        members = [get_scorer(name)(d) for d, _ in runs]
        assert members[0].meta["tie_break"] == "evidence"
        assert members[0].meta["tie_evidence"] == "aum"  # margins recorded: minus AUM
        np.testing.assert_allclose(members[0].tie_key, -aum)
        ens = ensemble(members)
        assert ens.meta["tie_break"] == "evidence" and ens.tie_key is not None
        np.testing.assert_allclose(ens.tie_key, np.mean([m.tie_key for m in members], axis=0))
    assert get_scorer("aum").higher_is_easier and get_scorer("celoss")(runs[0][0]).tie_key is None
    mixed = ensemble([get_scorer("cumacc")(runs[0][0]),
                      get_scorer("cumacc")(runs[1][0]).with_tie_rule("random")])
    assert mixed.meta["tie_break"] == "evidence"  # keys of one evidence: still averaged
    plain = Scores(np.ones(20), higher_is_easier=True, meta={"dataset_fingerprint": "fp",
                                                             "scorer": "cumacc"})
    fallback = ensemble([get_scorer("cumacc")(runs[0][0]), plain])
    assert fallback.meta["tie_break"] == "random" and fallback.tie_key is None
