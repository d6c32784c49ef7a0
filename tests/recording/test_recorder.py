"""OutcomeRecorder against a plain per-epoch reference (the seed document's tracker)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from easyfirst.recording import OutcomeRecorder, TrainingDynamics
from easyfirst.scoring import functional as F


def _simulate(n: int = 40, c: int = 4, epochs: int = 7, batch: int = 6, seed: int = 0):
    """Random logits per (epoch, sample); returns the recorder and the per-epoch arrays."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(epochs, n, c, generator=g, dtype=torch.float64) * 2
    targets = torch.randint(0, c, (n,), generator=g)
    rec = OutcomeRecorder(n, keep_history=True, max_epochs=epochs, el2n_epoch=2)
    for e in range(epochs):
        perm = torch.randperm(n, generator=g)
        for s in range(0, n, batch):
            idx = perm[s : s + batch]
            rec.update(idx, logits[e, idx], targets[idx])
        rec.end_epoch()
    return rec, logits, targets


def test_matches_reference_definitions():
    rec, logits, y = _simulate()
    d = rec.dynamics()
    correct = (logits.argmax(2) == y).numpy().T  # (N, E)
    n, epochs = correct.shape
    np.testing.assert_allclose(d.cumacc().numpy(), correct.sum(1) / epochs)
    np.testing.assert_array_equal(d.history_matrix().numpy(), correct)
    # FIT: first epoch from which it stays correct; E if the last epoch is wrong.
    fit = np.full(n, float(epochs))
    for i in range(n):
        for e in range(epochs):
            if correct[i, e:].all():
                fit[i] = e
                break
    np.testing.assert_array_equal(F.fit(d).numpy(), fit)
    forget = (correct[:, :-1] & ~correct[:, 1:]).sum(1)
    never = ~correct.any(1)
    np.testing.assert_array_equal(F.forgetting(d).numpy(), np.where(never, epochs, forget))
    p = logits.softmax(2)
    p_true = p.gather(2, y[None, :, None].expand(epochs, -1, 1)).squeeze(2).numpy().T
    np.testing.assert_allclose(F.confidence(d).numpy(), p_true.mean(1), rtol=1e-6)
    np.testing.assert_allclose(F.variability(d).numpy(), p_true.std(1), rtol=1e-5, atol=1e-7)
    z_true = logits.gather(2, y[None, :, None].expand(epochs, -1, 1)).squeeze(2)
    z_other = logits.scatter(2, y[None, :, None].expand(epochs, -1, 1), -np.inf).amax(2)
    np.testing.assert_allclose(F.aum(d).numpy(), (z_true - z_other).numpy().T.mean(1), rtol=1e-6)
    onehot = torch.nn.functional.one_hot(y, logits.shape[2]).double()
    el2n_ref = (p[2] - onehot).norm(dim=1).numpy()
    np.testing.assert_allclose(F.el2n(d).numpy(), el2n_ref, rtol=1e-5)
    ce_last = torch.nn.functional.cross_entropy(logits[-1], y, reduction="none").numpy()
    np.testing.assert_allclose(F.celoss(d, source="last").numpy(), ce_last, rtol=1e-5)


def test_padding_duplicates_never_exceed_one():
    rec = OutcomeRecorder(3)
    # sample 0 visited twice (DistributedSampler padding), correct both times
    rec.update(torch.tensor([0, 1, 2, 0]), None, correct=torch.tensor([1, 0, 1, 1]))
    rec.end_epoch()
    rec.update(torch.tensor([0, 0, 1, 2]), None, correct=torch.tensor([1, 0, 1, 1]))
    rec.end_epoch()
    cum = rec.dynamics().cumacc()
    assert cum.max() <= 1.0
    np.testing.assert_allclose(cum.numpy(), [(1 + 0.5) / 2, 0.5, 1.0])


def test_out_of_range_index_raises_at_epoch_end():
    rec = OutcomeRecorder(3)
    rec.update(torch.tensor([0, 5]), None, correct=torch.tensor([1, 1]))
    with pytest.raises(IndexError, match=r"Expected sample indices in \[0, 3\); got 1"):
        rec.end_epoch()


def test_state_dict_resume_is_exact():
    full, logits, y = _simulate(epochs=6)
    part = OutcomeRecorder(40, keep_history=True, max_epochs=6, el2n_epoch=2)
    g = torch.Generator().manual_seed(0)
    torch.randn(6, 40, 4, generator=g)  # consume the same stream as _simulate
    torch.randint(0, 4, (40,), generator=g)
    for e in range(6):
        if e == 3:
            state = part.state_dict()
            part = OutcomeRecorder(40, keep_history=True, max_epochs=6, el2n_epoch=2)
            part.load_state_dict(state)
        perm = torch.randperm(40, generator=g)
        for s in range(0, 40, 6):
            idx = perm[s : s + 6]
            part.update(idx, logits[e, idx], y[idx])
        part.end_epoch()
    a, b = full.dynamics().to_dict(), part.dynamics().to_dict()
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            torch.testing.assert_close(a[k], b[k], equal_nan=True, rtol=0, atol=0)


def test_unvisited_samples_score_nan_and_do_not_count():
    rec = OutcomeRecorder(4)
    rec.update(torch.tensor([0, 1]), torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1]))
    rec.end_epoch()
    d = rec.dynamics()
    assert torch.isnan(F.cumacc(d)[2:]).all()
    assert F.cumacc(d)[:2].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("suffix", [".pt", ".npz"])
def test_dynamics_roundtrip(tmp_path, suffix):
    rec, _, _ = _simulate()
    d = rec.dynamics(seed=3, model="mlp", dataset_fingerprint="abc")
    path = d.save(tmp_path / f"dyn{suffix}")
    if suffix == ".pt":
        raw = torch.load(path, weights_only=True)  # no pickle needed
        assert raw["format"] == "easyfirst.dynamics"
    back = TrainingDynamics.load(path)
    assert back.meta == d.meta and back.num_epochs == d.num_epochs
    torch.testing.assert_close(back.cumacc(), d.cumacc())
    torch.testing.assert_close(back.history_matrix(), d.history_matrix())


def test_dynamics_load_errors(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a readable dynamics file"):
        TrainingDynamics.load(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TrainingDynamics.load(tmp_path / "missing.pt")


def test_update_needs_logits_or_correct():
    rec = OutcomeRecorder(2)
    with pytest.raises(ValueError, match="needs logits"):
        rec.update(torch.tensor([0]))


def test_nonfinite_logits_count_as_incorrect_and_are_counted():
    rec = OutcomeRecorder(4)
    z = torch.tensor([[float("nan"), 0.0], [1.0, float("inf")], [2.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1, 0, 1])  # argmax picks the target in every row
    rec.update(torch.arange(4), z, y)
    rec.end_epoch()
    rec.update(torch.tensor([0, 2]), z[[0, 2]], y[[0, 2]])
    rec.end_epoch()
    d = rec.dynamics(seed=1)
    assert d.cumacc().tolist() == [0.0, 0.0, 1.0, 1.0]
    assert d.meta == {"seed": 1, "nonfinite_logits": 3}  # cumulative over the run
    assert rec.dynamics(slice(1, 4)).meta["nonfinite_logits"] == 1  # a stacked member's rows
    assert isinstance(d.meta["nonfinite_logits"], int)


def test_nonfinite_count_survives_resume_and_old_states():
    rec = OutcomeRecorder(2)
    rec.update(torch.tensor([0, 1]), torch.tensor([[float("nan"), 0.0], [0.0, 1.0]]),
               torch.tensor([0, 1]))
    rec.end_epoch()
    rec.update(torch.tensor([1]), torch.tensor([[float("nan"), 0.0]]), torch.tensor([1]))
    state = rec.state_dict()  # mid-epoch: one nonfinite row not yet folded in
    back = OutcomeRecorder(2)
    back.load_state_dict(state)
    back.end_epoch()
    assert back.dynamics().meta["nonfinite_logits"] == 2
    old = {k: v for k, v in state.items() if k != "nonfinite"}
    old["acc"] = state["acc"][:, :6]  # a checkpoint of before the nonfinite column
    legacy = OutcomeRecorder(2)
    legacy.load_state_dict(old)
    legacy.end_epoch()
    assert legacy.dynamics().meta["nonfinite_logits"] == 0
    assert legacy.dynamics().epochs_seen.tolist() == [1, 2]


@pytest.mark.parametrize("bad", [3, -1])
def test_out_of_range_targets_raise_at_epoch_end(bad):
    rec = OutcomeRecorder(3)
    z = torch.zeros(3, 3)
    rec.update(torch.tensor([0, 1, 2]), z, torch.tensor([0, bad, 2]))  # no error, no sync
    rec.update(torch.tensor([0]), z[:1], torch.tensor([bad]), weight=torch.zeros(1))  # dropped
    with pytest.raises(ValueError, match=r"Expected targets in \[0, C\) for logits of C "
                       r"classes; got 1 outside it this epoch\. Check the dataset's labels"):
        rec.end_epoch()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"indices": torch.tensor([0.0, 1.0])}, r"integer sample indices; got dtype "
         r"torch\.float32 \(converting it would silently change them\)"),
        ({"logits": torch.zeros(2, 1, 3)}, r"logits of shape \(B, C\) = \(2, C\) for 2 "
         r"indices; got \(2, 1, 3\)"),
        ({"targets": torch.tensor([0, 1, 1])}, r"targets with one value per index \(2\); got "
         r"shape \(3,\)"),
        ({"targets": torch.tensor([0.0, 1.0])}, r"integer class-id targets; got dtype"),
        ({"loss": torch.zeros(2, 2)}, r"loss with one value per index \(2\); got shape \(2, 2\)"),
        ({"weight": torch.ones(3)}, r"weight with one value per index"),
        ({"targets": None}, r"targets are required with logits"),
    ],
)
def test_update_checks_dtypes_and_shapes(kwargs, message):
    args = {"indices": torch.tensor([0, 1]), "logits": torch.zeros(2, 3),
            "targets": torch.tensor([0, 2]), **kwargs}
    rec = OutcomeRecorder(3)
    with pytest.raises(ValueError, match=message):
        rec.update(args.pop("indices"), args.pop("logits"), args.pop("targets"), **args)
    rec.end_epoch()  # nothing was recorded
    assert rec.dynamics().epochs_seen.tolist() == [0, 0, 0]


def test_distributed_end_epoch_packs_counts_in_one_all_reduce(monkeypatch):
    import easyfirst.recording.recorder as recorder

    calls = []
    monkeypatch.setattr(recorder.dist, "is_available", lambda: True)
    monkeypatch.setattr(recorder.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(recorder.dist, "all_reduce", lambda t, op=None: calls.append(t.numel()))
    rec = OutcomeRecorder(3)
    z = torch.tensor([[float("nan"), 0.0], [0.0, 1.0], [1.0, 0.0]])
    rec.update(torch.tensor([0, 1, 2]), z, torch.tensor([0, 1, 1]))
    rec.end_epoch()
    assert calls == [3 * 7 + 2]  # the (N, 7) accumulators and the two error counts
    d = rec.dynamics()
    assert d.cumacc().tolist() == [0.0, 1.0, 0.0] and d.meta["nonfinite_logits"] == 1
    rec.update(torch.tensor([0, 5]), z[:2], torch.tensor([0, 2]))
    with pytest.raises(IndexError, match="got 1 outside it"):
        rec.end_epoch()
    assert len(calls) == 2


def test_dropped_rows_with_nan_logits_leave_no_trace():
    rec = OutcomeRecorder(2)
    z = torch.tensor([[2.0, 0.0], [float("nan"), 0.0]])
    rec.update(torch.tensor([0, 0]), z, torch.tensor([0, 0]), weight=torch.tensor([1.0, 0.0]))
    rec.end_epoch()
    d = rec.dynamics()
    assert d.cumacc()[0] == 1.0
    assert torch.isfinite(d.prob_sum[0]) and torch.isfinite(d.margin_sum[0])
    assert d.meta["nonfinite_logits"] == 0
