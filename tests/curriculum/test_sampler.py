"""CurriculumSampler and orderings: sharding, determinism, resume, epoch modes."""

from __future__ import annotations

import math
import os
import tempfile
from collections import Counter
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from easyfirst.curriculum import CurriculumSampler, make_ordering
from easyfirst.pacing import PacingFunction

torch.set_num_threads(1)

N = 103
WORLD_SIZES = [1, 2, 3, 8]
PACING = PacingFunction("root", start_fraction=0.2, full_at=0.5)


class _Range(Dataset[int]):
    def __len__(self) -> int:
        return N

    def __getitem__(self, index: int) -> int:
        return index


RANGE = _Range()


def _order(n: int = N, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n)


def _shards(
    world: int, *, epoch: int = 0, ordering: np.ndarray | None = None, **kw: Any
) -> list[list[int]]:
    """Each simulated rank's index list at ``epoch``."""
    order = _order() if ordering is None else ordering
    shards = []
    for rank in range(world):
        s = CurriculumSampler(N, order, **kw, num_replicas=world, rank=rank)
        s.set_epoch(epoch)
        shards.append(list(s))
    return shards


# --- orderings ---------------------------------------------------------------------------


def test_orderings() -> None:
    order = _order(10)
    assert make_ordering(order, "curriculum", seed=0).tolist() == order.tolist()
    assert make_ordering(order, "anti", seed=0).tolist() == order[::-1].tolist()
    assert make_ordering(order, "none", seed=0) is None
    rand = make_ordering(order, "random", seed=3)
    assert sorted(rand.tolist()) == list(range(10))
    # Score-independent and seeded: same permutation for any scores, new one for a new seed.
    assert make_ordering(_order(10, seed=9), "random", seed=3).tolist() == rand.tolist()
    assert make_ordering(order, "random", seed=4).tolist() != rand.tolist()


def test_ordering_errors() -> None:
    with pytest.raises(ValueError, match=r"Unknown ordering 'easy'\. Available: curriculum, anti"):
        make_ordering(_order(5), "easy", seed=0)
    with pytest.raises(ValueError, match=r"permutation of 0\.\.4"):
        make_ordering(np.array([0, 1, 1, 2, 3]), "curriculum", seed=0)


# --- baseline, sharding, determinism ---------------------------------------------------------


@pytest.mark.parametrize("world", WORLD_SIZES)
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("mode", ["constant", "pool"])
def test_baseline_equals_distributed_sampler(world: int, drop_last: bool, mode: str) -> None:
    for rank in range(world):
        ours = CurriculumSampler(
            N, None, mode=mode, num_replicas=world, rank=rank, seed=7, drop_last=drop_last
        )
        ref: DistributedSampler[int] = DistributedSampler(
            RANGE, num_replicas=world, rank=rank, shuffle=True, seed=7, drop_last=drop_last
        )
        for epoch in (0, 3):
            ours.set_epoch(epoch)
            ref.set_epoch(epoch)
            assert list(ours) == list(ref)
            assert len(ours) == len(ref)


@pytest.mark.parametrize("world", WORLD_SIZES)
@pytest.mark.parametrize("epoch", [0, 2, 6])
def test_pool_mode_shards_partition_the_pool(world: int, epoch: int) -> None:
    order = _order()
    kw: dict[str, Any] = {"pacing": PACING, "epochs": 10, "mode": "pool", "seed": 1}
    ref = CurriculumSampler(N, order, **kw)
    ref.set_epoch(epoch)
    pool = ref.pool
    assert ref.pool_size == len(pool) == PACING.size_at(epoch, 10, N)
    assert set(pool) == set(order[: len(pool)])
    shards = _shards(world, ordering=order, epoch=epoch, **kw)
    total = math.ceil(len(pool) / world) * world
    assert all(len(s) == total // world for s in shards)
    union = Counter(i for s in shards for i in s)
    assert set(union) == set(pool.tolist())
    assert sum(union.values()) - len(pool) == total - len(pool)  # only DistributedSampler padding
    # Every rank used the same global order: interleaving the shards gives one sequence
    # whose first pass is the single-process order.
    merged = [shards[i % world][i // world] for i in range(total)]
    assert merged[: len(pool)] == list(ref)


@pytest.mark.parametrize("world", [2, 3])
def test_drop_last_shards_are_disjoint(world: int) -> None:
    kw: dict[str, Any] = {"pacing": PACING, "epochs": 10, "mode": "pool", "drop_last": True}
    shards = _shards(world, epoch=1, **kw)
    flat = [i for s in shards for i in s]
    assert len(flat) == len(set(flat))
    assert len(set(len(s) for s in shards)) == 1


def test_order_depends_only_on_seed_and_epoch() -> None:
    kw: dict[str, Any] = {"pacing": PACING, "epochs": 10, "seed": 5}
    ran = CurriculumSampler(N, _order(), **kw)
    for epoch in range(6):
        ran.set_epoch(epoch)
        last = list(ran)
    fresh = CurriculumSampler(N, _order(), **kw)
    fresh.set_epoch(5)
    torch.manual_seed(123)  # the global RNG plays no part
    state = torch.get_rng_state()
    assert list(fresh) == last
    assert torch.equal(torch.get_rng_state(), state)
    other = CurriculumSampler(N, _order(), **{**kw, "seed": 6})
    other.set_epoch(5)
    assert list(other) != last
    with pytest.warns(UserWarning, match=r"Call sampler\.set_epoch\(epoch\) at the start"):
        assert list(fresh) == list(fresh)  # re-iterating an epoch repeats it, and warns


@pytest.mark.parametrize("world", [1, 3])
def test_mid_epoch_resume(world: int) -> None:
    kw: dict[str, Any] = {"pacing": PACING, "epochs": 10, "num_replicas": world}
    for rank in range(world):
        a = CurriculumSampler(N, _order(), **kw, rank=rank)
        a.set_epoch(3)
        it = iter(a)
        head = [next(it) for _ in range(11)]
        state = a.state_dict()
        assert state["epoch"] == 3 and state["consumed"] == 11
        tail = list(it)
        b = CurriculumSampler(N, _order(), **kw, rank=rank)
        b.load_state_dict(state)
        b.set_epoch(3)  # a training loop calls it again; the resume point survives
        assert list(b) == tail
        with pytest.warns(UserWarning, match="iterated again without set_epoch"):
            assert head + tail == list(b)  # the next pass over the epoch starts from the top
        b.set_epoch(4)
        a.set_epoch(4)
        assert list(b) == list(a)


def test_resume_errors() -> None:
    a = CurriculumSampler(N, _order(), pacing=PACING, epochs=10, num_replicas=2, rank=0)
    state = {**a.state_dict(), "consumed": 5}
    b = CurriculumSampler(N, _order(), pacing=PACING, epochs=10, num_replicas=3, rank=0)
    with pytest.raises(ValueError, match=r"num_replicas=3; got 2\. Resume with the same"):
        b.load_state_dict(state)
    c = CurriculumSampler(N, _order(), pacing=PACING, epochs=10, seed=1)
    with pytest.raises(ValueError, match=r"seed 1; got 0"):
        c.load_state_dict(state)


# --- epoch modes -----------------------------------------------------------------------------


@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("drop_last", [False, True])
def test_constant_mode_matches_baseline_steps(world: int, drop_last: bool) -> None:
    epochs, batch = 8, 8
    steps = {"baseline": 0, "curriculum": 0}
    for rank in range(world):
        kw: dict[str, Any] = {"num_replicas": world, "rank": rank, "drop_last": drop_last}
        base: DistributedSampler[int] = DistributedSampler(RANGE, shuffle=True, **kw)
        cur = CurriculumSampler(N, _order(), pacing=PACING, epochs=epochs, **kw)
        for epoch in range(epochs):
            base.set_epoch(epoch)
            cur.set_epoch(epoch)
            indices = list(cur)
            assert len(indices) == len(cur) == len(base)
            assert set(indices) <= set(cur.pool.tolist())
            steps["baseline"] += len(DataLoader(RANGE, batch_size=batch, sampler=base))
            steps["curriculum"] += len(DataLoader(RANGE, batch_size=batch, sampler=cur))
    assert steps["curriculum"] == steps["baseline"]


def test_constant_mode_draws_the_pool_evenly() -> None:
    s = CurriculumSampler(N, _order(), pacing=PACING, epochs=10)
    for epoch in range(6):
        s.set_epoch(epoch)
        counts = Counter(s)
        assert set(counts) == set(s.pool.tolist())
        assert max(counts.values()) - min(counts.values()) <= 1
        assert sum(counts.values()) == N


def test_pool_mode_epoch_is_one_pass() -> None:
    s = CurriculumSampler(N, _order(), pacing=PACING, epochs=10, mode="pool")
    for epoch in range(12):  # past epochs the pool stays full
        s.set_epoch(epoch)
        indices = list(s)
        assert len(indices) == len(s) == s.pool_size == PACING.size_at(epoch, 10, N)
        assert sorted(indices) == sorted(s.pool.tolist())


def test_anti_curriculum_pool_is_the_hardest() -> None:
    order = _order()
    s = CurriculumSampler(N, make_ordering(order, "anti", seed=0), pacing=PACING, epochs=10)
    assert set(s.pool.tolist()) == set(order[::-1][: s.pool_size].tolist())


def test_balanced_pool_in_sampler() -> None:
    targets = np.arange(N) % 4
    s = CurriculumSampler(
        N, _order(), pacing=PACING, epochs=10, balance="balanced", targets=targets
    )
    for epoch in range(6):
        s.set_epoch(epoch)
        counts = np.bincount(targets[s.pool], minlength=4)
        assert counts.sum() == s.pool_size
        assert counts.max() - counts.min() <= 1
        assert set(list(s)) == set(s.pool.tolist())


# --- validation and DataLoader -----------------------------------------------------------------


def test_validation_errors() -> None:
    with pytest.raises(
        ValueError, match=r"pool to hold one batch \(32\); got 20 of 100 samples at epoch 0"
    ):
        CurriculumSampler(100, _order(100), pacing=PACING, epochs=10, batch_size=32)
    with pytest.raises(ValueError, match=r"ordering of length 103 .* got 50"):
        CurriculumSampler(N, _order(50))
    with pytest.raises(ValueError, match=r"Unknown mode 'epoch'\. Available: constant, pool"):
        CurriculumSampler(N, _order(), mode="epoch")
    with pytest.raises(ValueError, match=r"Expected epochs >= 1 .* got None"):
        CurriculumSampler(N, _order(), pacing=PACING)
    with pytest.raises(ValueError, match=r"Expected targets \(N,\) for balance='stratified'"):
        CurriculumSampler(N, _order(), balance="stratified")
    with pytest.raises(ValueError, match=r"Unknown balance"):
        CurriculumSampler(N, _order(), balance="equal")


class _Dicts(Dataset[dict[str, Any]]):
    def __len__(self) -> int:
        return N

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"x": torch.full((2,), float(index)), "index": index}


def _collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    return {
        "x": torch.stack([it["x"] for it in items]),
        "index": torch.tensor([it["index"] for it in items]),
    }


def test_dataloader_with_custom_collate() -> None:
    dataset = _Dicts()
    s = CurriculumSampler(dataset, _order(), pacing=PACING, epochs=10, batch_size=16)
    loader = DataLoader(dataset, batch_size=16, sampler=s, collate_fn=_collate)
    s.set_epoch(1)
    seen = []
    for batch in loader:
        assert torch.equal(batch["x"][:, 0].long(), batch["index"])
        seen.extend(batch["index"].tolist())
    assert len(seen) == N
    assert set(seen) <= set(s.pool.tolist())
    assert s.state_dict()["consumed"] == N


# --- two gloo processes -------------------------------------------------------------------------


def _gloo_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        s = CurriculumSampler(N, _order(), pacing=PACING, epochs=10, seed=3)
        s.set_epoch(2)
        indices = torch.tensor(list(s))
        gathered = [torch.empty_like(indices) for _ in range(world)]
        dist.all_gather(gathered, indices)
        if rank == 0:
            torch.save(gathered, os.path.join(out_dir, "shards.pt"))
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_match_simulated_ranks() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.join(tmp, "init")
        mp.spawn(_gloo_worker, args=(2, init_file, tmp), nprocs=2, join=True)
        got = [t.tolist() for t in torch.load(os.path.join(tmp, "shards.pt"))]
    want = _shards(2, pacing=PACING, epochs=10, seed=3, epoch=2)
    assert got == want


def test_step_pacing_grows_the_pool_within_an_epoch():
    pacing = PacingFunction("linear", start_fraction=0.2, full_at=0.5)
    s = CurriculumSampler(100, np.arange(100), pacing=pacing, epochs=4, batch_size=10,
                          pace_by="step")
    s.set_epoch(0)
    first = s.epoch_indices().numpy()
    assert len(first) == 100  # constant length
    # the first pass uses the pool at step 0 (20 samples); later passes use larger pools
    assert first[:20].max() < 20 and first.max() >= 30
    s.set_epoch(3)
    assert sorted(s.epoch_indices().tolist()) == list(range(100))  # full data at the end
    with pytest.raises(ValueError, match="pace_by='step' needs mode='constant'"):
        CurriculumSampler(100, np.arange(100), pacing=pacing, epochs=4, mode="pool",
                          batch_size=10, pace_by="step")


def test_scores_or_score_file_and_a_pacing_name(tmp_path):
    from easyfirst.scores import Scores

    values = np.random.default_rng(1).random(N)
    scores = Scores(values, higher_is_easier=True, meta={"scorer": "toy"})
    path = scores.save(tmp_path / "toy.csv")
    by_name = CurriculumSampler(RANGE, scores, pacing="root", start_fraction=0.2, full_at=0.5,
                                epochs=10, mode="pool")
    from_file = CurriculumSampler(RANGE, str(path), pacing=PACING, epochs=10, mode="pool")
    given = CurriculumSampler(RANGE, scores.easy_to_hard(), pacing=PACING, epochs=10,
                              mode="pool")
    assert by_name.pacing == PACING
    want = list(given)
    for s in (by_name, from_file):
        np.testing.assert_array_equal(s.ordering, given.ordering)
        assert list(s) == want
    # the pool is the easiest (highest-scored) samples
    assert values[by_name.pool].min() >= np.sort(values)[::-1][by_name.pool_size - 1]
    defaults = CurriculumSampler(RANGE, scores, pacing="linear", epochs=10)
    assert defaults.pacing == PacingFunction("linear")  # start_fraction 0.2, full_at 0.5


def test_pacing_name_errors():
    with pytest.raises(ValueError, match=r"^Expected start_fraction only with a pacing name"):
        CurriculumSampler(N, _order(), pacing=PACING, start_fraction=0.3, epochs=4)
    with pytest.raises(KeyError, match=r"Unknown pacing 'lnear'\. Available: .*linear"):
        CurriculumSampler(N, _order(), pacing="lnear", epochs=4)
    with pytest.raises(ValueError, match="Expected an ordering of length 103"):
        from easyfirst.scores import Scores

        CurriculumSampler(N, Scores(np.zeros(5), higher_is_easier=True), epochs=4)


def test_iterating_twice_in_one_epoch_warns_once(recwarn):
    s = CurriculumSampler(N, _order(), pacing=PACING, epochs=10)
    for epoch in range(3):  # the DistributedSampler protocol: no warning
        s.set_epoch(epoch)
        list(DataLoader(RANGE, sampler=s, batch_size=16))
    assert not [w for w in recwarn if "set_epoch" in str(w.message)]
    with pytest.warns(UserWarning) as caught:
        list(s)
        list(s)
    (warning,) = [w for w in caught if "set_epoch" in str(w.message)]  # once
    assert str(warning.message) == (
        "CurriculumSampler iterated again without set_epoch(epoch): epoch 2 repeats with the same "
        f"pool ({s.pool_size} of {N} samples). Call sampler.set_epoch(epoch) at the start of "
        "each epoch.")


def test_num_epochs_is_a_deprecated_name_of_epochs():
    with pytest.warns(DeprecationWarning, match="renamed epochs"):
        old = CurriculumSampler(N, _order(), pacing=PACING, num_epochs=10, mode="pool")
    new = CurriculumSampler(N, _order(), pacing=PACING, epochs=10, mode="pool")
    assert old.epochs == 10 and list(old) == list(new)
    with pytest.warns(DeprecationWarning):
        assert old.num_epochs == 10
