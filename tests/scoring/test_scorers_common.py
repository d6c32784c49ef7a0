"""One test parametrised over every registered scorer: shape, direction, NaN policy, order.

Each scorer is called through the one ``Scorer`` contract (``validate`` then ``score``), with
the small parameters it registered as ``test_params``; a scorer registered anywhere (a test's
toy scorer included) is covered without editing this file.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.recording import OutcomeRecorder
from easyfirst.scoring import SCORERS, Scorer, SeedInputs
from easyfirst.training.config import RunConfig

N, C, E = 30, 3, 5


def _record(order_seed: int, *, skip_last: bool = False):
    """Learnable synthetic dynamics: sample i's true logit grows with epoch at rate r_i."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, C, (N,), generator=g)
    rate = torch.linspace(-1.0, 2.0, N, dtype=torch.float64)
    noise = torch.randn(E, N, C, generator=g, dtype=torch.float64) * 0.1
    rec = OutcomeRecorder(N, el2n_epoch=1, outcomes="all")
    order_gen = torch.Generator().manual_seed(order_seed)
    for e in range(E):
        logits = noise[e].clone()
        logits[torch.arange(N), y] += rate * (e + 1) / E
        idx = torch.randperm(N, generator=order_gen)
        if skip_last:
            idx = idx[idx != N - 1]
        for s in range(0, len(idx), 7):
            b = idx[s : s + 7]
            rec.update(b, logits[b], y[b])
        rec.end_epoch()
    return rec.dynamics(seed=0, dataset_fingerprint="fp")


def _blobs() -> DatasetBundle:
    """Two separable 2-D blobs of 16 samples each; sample 0 is mislabelled (the hard one)."""
    g = np.random.default_rng(0)
    x = np.concatenate([g.normal((-3, 0), 0.7, (16, 2)), g.normal((3, 0), 0.7, (16, 2))])
    y = np.repeat([0, 1], 16)
    y[0] = 1
    return DatasetBundle("blobs", ArraySplit(torch.tensor(x), y, [f"b{i}" for i in range(32)]),
                         None, None, ["a", "b"])


def _training_scorer_contract(name: str, scorer: Scorer) -> None:
    bundle = _blobs()
    cfg = RunConfig(dataset="blobs", model="mlp", model_options={"hidden": [8]}, epochs=15,
                    batch_size=8, lr=0.05, device="cpu", dtype="float64")
    params = scorer.validate(bundle, cfg, dict(scorer.test_params))
    s = scorer.score(SeedInputs(bundle, cfg, 0), **params)
    assert s.values.shape == (32,) and np.isfinite(s.values).all()  # NaN policy: none
    assert s.meta["scorer"] == name and s.meta["dataset_fingerprint"] == bundle.fingerprint
    # direction: the mislabelled sample is no easier than the median sample
    easiness = s.values if s.higher_is_easier else -s.values
    assert easiness[0] <= np.median(easiness), f"{name}: the mislabelled sample looks easy"
    # determinism in place of batch-order invariance: same seed, same scores
    again = scorer.score(SeedInputs(bundle, cfg, 0), **params)
    np.testing.assert_array_equal(again.values, s.values)


def _dynamics_scores(scorer: Scorer, order_seed: int, **kw):
    return scorer.score(SeedInputs(None, None, 0, dynamics=_record(order_seed, **kw)))


@pytest.mark.parametrize("name", SCORERS.names())
def test_scorer_contract(name):
    scorer = SCORERS.get(name)
    assert isinstance(scorer, Scorer) and scorer.name == name and scorer.description
    if SCORERS.meta(name)["kind"] == "training":
        _training_scorer_contract(name, scorer)
        return
    # validate fills each declared parameter's default and refuses undeclared ones
    defaults = scorer.validate(None, None, {})
    assert scorer.uses_runs({}) and set(defaults) == {p.name for p in scorer.params}
    with pytest.raises(ValueError, match=f"Scorer {name!r} takes"):
        scorer.validate(None, None, {"no_such_param": 1})
    s = _dynamics_scores(scorer, 0)
    # shape
    assert s.values.shape == (N,)
    assert s.meta["scorer"] == name and s.meta["dataset_fingerprint"] == "fp"
    # direction: sample 0 never learns (rate < 0), sample N-1 learns fast
    easy = s.values[-1] if s.higher_is_easier else -s.values[-1]
    hard = s.values[0] if s.higher_is_easier else -s.values[0]
    if name != "variability":  # variability is not monotone in difficulty
        assert easy >= hard, f"{name}: the fast-learned sample must not score harder"
    # NaN policy: finite for visited samples; NaN for a sample never visited
    assert np.isfinite(s.values).all()
    unseen = _dynamics_scores(scorer, 0, skip_last=True)
    assert np.isnan(unseen.values[-1]) and np.isfinite(unseen.values[:-1]).all()
    # batch-order invariance
    np.testing.assert_allclose(_dynamics_scores(scorer, 123).values, s.values, rtol=1e-12,
                               atol=1e-12)


def test_unknown_scorer_lists_valid_names():
    with pytest.raises(KeyError, match="Unknown scorer 'cumac'. Available: .*cumacc"):
        SCORERS.get("cumac")


def test_el2n_epoch_follows_the_config_unless_given():
    """The el2n scorer's ``epoch`` defaults to the configuration's (a Python caller's
    ``RunConfig(el2n_epoch=)``), and what it needs recorded follows it."""
    from easyfirst.training.config import RunConfig, merge_record_needs

    el2n = SCORERS.get("el2n")
    cfg = RunConfig(epochs=6, el2n_epoch=4)
    assert el2n.validate(None, cfg, {}) == {"epoch": 5}
    assert merge_record_needs(cfg, [el2n.record_needs({"epoch": 5})]).el2n_epoch == 4
    assert el2n.validate(None, cfg, {"epoch": 2}) == {"epoch": 2}
    with pytest.raises(ValueError, match=r"--el2n-epoch from 1 to --epochs \(6\); got 7"):
        el2n.validate(None, cfg, {"epoch": 7})
