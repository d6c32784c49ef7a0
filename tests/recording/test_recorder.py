"""OutcomeRecorder against a plain per-epoch reference (the seed document's tracker)."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from easyfirst.recording import OutcomeRecorder, TrainingDynamics
from easyfirst.scoring import functional as F


def _simulate(n: int = 40, c: int = 4, epochs: int = 7, batch: int = 6, seed: int = 0,
              outcomes: str = "all"):
    """Random logits per (epoch, sample); returns the recorder and the per-epoch arrays."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(epochs, n, c, generator=g, dtype=torch.float64) * 2
    targets = torch.randint(0, c, (n,), generator=g)
    rec = OutcomeRecorder(n, keep_history=True, epochs=epochs, el2n_epoch=2,
                          outcomes=outcomes)
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


def test_repeated_visits_count_once_per_epoch():
    rec = OutcomeRecorder(3)
    # sample 0 visited twice (DistributedSampler padding), correct both times
    rec.update(torch.tensor([0, 1, 2, 0]), None, correct=torch.tensor([1, 0, 1, 1]))
    rec.end_epoch()
    # sample 0 twice, correct once: at least half its visits, so a correct epoch
    rec.update(torch.tensor([0, 0, 1, 2]), None, correct=torch.tensor([1, 0, 1, 1]))
    rec.end_epoch()
    np.testing.assert_allclose(rec.dynamics().cumacc().numpy(), [1.0, 0.5, 1.0])
    graded = OutcomeRecorder(1)  # float correctness: the epoch adds its mean
    graded.update(torch.tensor([0, 0]), None, correct=torch.tensor([1.0, 0.0]))
    graded.end_epoch()
    assert graded.dynamics().cumacc().tolist() == [0.5]


def test_out_of_range_index_raises_at_epoch_end():
    rec = OutcomeRecorder(3)
    rec.update(torch.tensor([0, 5]), None, correct=torch.tensor([1, 1]))
    with pytest.raises(IndexError, match=r"Expected sample indices in \[0, 3\); got 1"):
        rec.end_epoch()


def test_state_dict_resume_is_exact():
    full, logits, y = _simulate(epochs=6, outcomes="all")
    part = OutcomeRecorder(40, keep_history=True, epochs=6, el2n_epoch=2, outcomes="all")
    g = torch.Generator().manual_seed(0)
    torch.randn(6, 40, 4, generator=g)  # consume the same stream as _simulate
    torch.randint(0, 4, (40,), generator=g)
    for e in range(6):
        if e == 3:
            state = part.state_dict()
            part = OutcomeRecorder(40, keep_history=True, epochs=6, el2n_epoch=2,
                                   outcomes="all")
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
    assert back.meta == d.meta and back.epochs == d.epochs
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
    rec = OutcomeRecorder(4, members=2)
    z = torch.tensor([[float("nan"), 0.0], [1.0, float("inf")], [2.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1, 0, 1])  # argmax picks the target in every row
    rec.update(torch.arange(4), z, y)
    rec.end_epoch()
    rec.update(torch.tensor([0, 2]), z[[0, 2]], y[[0, 2]])
    rec.end_epoch()
    first, second = rec.dynamics(slice(0, 2), seed=1), rec.dynamics(slice(2, 4))
    assert first.cumacc().tolist() == [0.0, 0.0] and second.cumacc().tolist() == [1.0, 1.0]
    assert first.meta == {"seed": 1, "nonfinite_logits": 3, "outcomes": []}  # the whole run
    assert second.meta["nonfinite_logits"] == 0
    assert isinstance(first.meta["nonfinite_logits"], int)
    with pytest.raises(ValueError, match=r"Expected rows of one member, slice\(m \* 2"):
        rec.dynamics(slice(1, 3))


def test_nonfinite_count_survives_resume_and_old_states_are_refused():
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
    assert back.dynamics().epochs_seen.tolist() == [1, 2]
    old = {k: v for k, v in state.items() if k != "layout"}  # a checkpoint of an older layout
    with pytest.raises(ValueError, match="earlier layout. Restart the run"):
        OutcomeRecorder(2).load_state_dict(old)
    with pytest.raises(ValueError, match=r"outcomes margins, probs; got core only"):
        OutcomeRecorder(2, outcomes="probs,margins").load_state_dict(state)


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
    import easyfirst.recording.sync as recorder  # the module of the collective

    calls = []
    monkeypatch.setattr(recorder.dist, "is_available", lambda: True)
    monkeypatch.setattr(recorder.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(recorder.dist, "all_reduce", lambda t, op=None: calls.append(t.numel()))
    rec = OutcomeRecorder(3)
    z = torch.tensor([[float("nan"), 0.0], [0.0, 1.0], [1.0, 0.0]])
    rec.update(torch.tensor([0, 1, 2]), z, torch.tensor([0, 1, 1]))
    rec.end_epoch()
    assert calls == [3 * 3 + 4]  # visits, hits, loss per sample; three error counts, nonfinite
    d = rec.dynamics()
    assert d.cumacc().tolist() == [0.0, 1.0, 0.0] and d.meta["nonfinite_logits"] == 1
    rec.update(torch.tensor([0, 5]), z[:2], torch.tensor([0, 2]))
    with pytest.raises(IndexError, match="got 1 outside it"):
        rec.end_epoch()
    assert len(calls) == 2


def test_dropped_rows_with_nan_logits_leave_no_trace():
    rec = OutcomeRecorder(2, outcomes="all")
    z = torch.tensor([[2.0, 0.0], [float("nan"), 0.0]])
    rec.update(torch.tensor([0, 0]), z, torch.tensor([0, 0]), weight=torch.tensor([1.0, 0.0]))
    rec.end_epoch()
    d = rec.dynamics()
    assert d.cumacc()[0] == 1.0
    assert torch.isfinite(d.prob_sum[0]) and torch.isfinite(d.margin_sum[0])
    assert d.meta["nonfinite_logits"] == 0


@pytest.mark.parametrize(("kwargs", "graded", "expected"), [
    ({"epochs": 50}, False, 16), ({}, False, 20), ({"epochs": 50}, True, 19),
    ({}, True, 22), ({"epochs": 50, "outcomes": "all"}, False, 40),
    ({"epochs": 16, "keep_history": True}, False, 18),
])
def test_bytes_per_sample_follow_the_layout(kwargs, graded, expected):
    rec = OutcomeRecorder(1000, **kwargs)
    correct = torch.tensor([0.5]) if graded else torch.tensor([1])
    rec.update(torch.tensor([0]), None, correct=correct)  # the first update fixes the form
    state = [v for v in [*vars(rec).values(), *rec.state.values()]
             if isinstance(v, torch.Tensor) and v.ndim and len(v) > 999]
    assert rec.bytes_per_sample == expected
    assert sum(t.numel() * t.element_size() for t in state) / 1000 == pytest.approx(expected,
                                                                                   abs=0.05)


def test_core_record_equals_the_full_one_and_names_what_it_lacks():
    full, _, _ = _simulate(outcomes="all")
    core, _, _ = _simulate(outcomes="core")
    short = OutcomeRecorder(40, epochs=7, el2n_epoch=2, keep_history=True)
    a, b = full.dynamics(), core.dynamics()
    for name in ("epochs_seen", "correct_sum", "correct_now", "learned_since", "forgetting",
                 "last_loss", "history"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    for fn in (F.cumacc, F.fit, F.forgetting):
        torch.testing.assert_close(fn(a), fn(b), equal_nan=True)
    assert short.counter == torch.uint8 and core.counter == torch.uint8
    assert b.prob_sum is None and b.meta["outcomes"] == []
    assert a.meta["outcomes"] == ["el2n", "margins", "probs"]
    with pytest.raises(ValueError, match=r"Expected a record with the 'margins' outcomes; got "
                       r"one with the core outcomes only\. Record with OutcomeRecorder"):
        F.aum(b)


def test_one_and_two_byte_counters_agree():
    g = torch.Generator().manual_seed(3)
    recs = [OutcomeRecorder(30, epochs=9), OutcomeRecorder(30)]
    assert [r.counter for r in recs] == [torch.uint8, torch.int16]
    for _ in range(9):
        idx, ok = torch.randperm(30, generator=g), torch.rand(30, generator=g) < 0.6
        for r in recs:
            r.update(idx, None, correct=ok)
            r.end_epoch()
    a, b = (r.dynamics() for r in recs)
    for name in ("epochs_seen", "correct_sum", "learned_since", "forgetting"):
        assert torch.equal(getattr(a, name), getattr(b, name))


def test_variability_of_a_constant_probability_is_zero():
    rec = OutcomeRecorder(2, outcomes="probs")
    z = torch.tensor([[3.0, 0.1, -1.0], [0.2, 0.1, 0.0]])
    for _ in range(40):
        rec.update(torch.arange(2), z, torch.tensor([0, 1]))
        rec.end_epoch()
    d = rec.dynamics()
    assert F.variability(d).max() < 1e-6  # Welford: no cancellation in float32
    torch.testing.assert_close(F.confidence(d), z.softmax(1)[[0, 1], [0, 1]].double())


def test_epoch_limit_of_one_byte_counters():
    rec = OutcomeRecorder(1, epochs=255)
    for _ in range(255):
        rec.update(torch.tensor([0]), None, correct=torch.tensor([1]))
        rec.end_epoch()
    assert rec.dynamics().cumacc().tolist() == [1.0] and F.fit(rec.dynamics()).tolist() == [0.0]
    with pytest.raises(ValueError, match="counts up to 255 epochs; got epoch 256"):
        rec.end_epoch()


def _shard_stream(n: int = 24, c: int = 3, epochs: int = 4, batch: int = 4):
    """Per epoch: batches of (indices, logits, targets, weight) of one global order, the
    last batch padded with two weight-0 repeats (DistributedSampler's padding)."""
    g = torch.Generator().manual_seed(5)
    y = torch.randint(0, c, (n,), generator=g)
    out = []
    for _ in range(epochs):
        order = torch.cat([torch.randperm(n, generator=g), torch.tensor([0, 1])])
        w = torch.cat([torch.ones(n), torch.zeros(2)])
        z = torch.randn(n + 2, c, generator=g, dtype=torch.float64)
        out.append([(order[s:s + batch], z[s:s + batch], y[order[s:s + batch]], w[s:s + batch])
                    for s in range(0, n + 2, batch)])
    return n, out


def _fill(rec: OutcomeRecorder, epochs, rank: int = 0, world: int = 1) -> None:
    for batches in epochs:
        for idx, z, y, w in batches:  # rank r takes positions r, r + W, ... of each batch
            rec.update(idx[rank::world], z[rank::world], y[rank::world], weight=w[rank::world])
        rec.end_epoch()


def _recorder_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        n, epochs = _shard_stream()
        rec = OutcomeRecorder(n, outcomes="all", el2n_epoch=1, epochs=4, keep_history=True)
        _fill(rec, epochs, rank, world)
        torch.save(rec.dynamics().to_dict(), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_record_what_one_process_records():
    n, epochs = _shard_stream()
    one = OutcomeRecorder(n, outcomes="all", el2n_epoch=1, epochs=4, keep_history=True)
    _fill(one, epochs)
    want = one.dynamics().to_dict()
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_recorder_worker, args=(2, os.path.join(tmp, "init"), tmp), nprocs=2, join=True)
        got = [torch.load(os.path.join(tmp, f"rank{r}.pt"), weights_only=True) for r in (0, 1)]
    for rank_dyn in got:
        assert rank_dyn.keys() == want.keys()
        for k, v in want.items():
            if isinstance(v, torch.Tensor):  # float32 sums: one add per sample per epoch
                torch.testing.assert_close(rank_dyn[k], v, rtol=1e-6, atol=1e-7,
                                           equal_nan=True, msg=k)


def test_dynamics_before_any_end_epoch_says_to_call_it():
    rec = OutcomeRecorder(3)
    rec.update(torch.tensor([0, 1]), torch.zeros(2, 3), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match=r"^Expected at least one finished epoch; got none .*"
                       r"Call recorder\.end_epoch\(\) after each epoch, then dynamics\(\)\.$"):
        rec.dynamics()
    rec.end_epoch()
    assert rec.dynamics().epochs_seen.tolist() == [1, 1, 0]


IDX, Z, Y = torch.tensor([0, 1]), torch.randn(2, 3), torch.tensor([0, 2])
SHAPES = (r"update\(indices, logits, targets\) takes indices \(B,\) int, logits \(B, C\) "
          r"float, targets \(B,\) int or \(B, C\); got ")


@pytest.mark.parametrize(("args", "got"), [
    ((Z, IDX, Y), r"indices \(2, 3\) float32, logits \(2,\) int64, targets \(2,\) int64"),
    ((IDX, Y, Z), r"indices \(2,\) int64, logits \(2,\) int64, targets \(2, 3\) float32"),
    ((Y, Z.long(), IDX), r"indices \(2,\) int64, logits \(2, 3\) int64, targets \(2,\) int64"),
    ((IDX, Z, Z[:, 0]), r"indices \(2,\) int64, logits \(2, 3\) float32, targets \(2,\) float32"),
    ((IDX, Z, torch.tensor([0, 1, 2])), r"indices \(2,\) int64, logits \(2, 3\) float32, "
     r"targets \(3,\) int64"),
])
def test_swapped_update_arguments_name_the_expected_shapes(args, got):
    rec = OutcomeRecorder(3)
    with pytest.raises(ValueError, match=SHAPES + got + r"\. Check the argument order\.$") as e:
        rec.update(*args)
    assert "\n" not in str(e.value)
