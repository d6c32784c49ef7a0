"""``easyfirst.quickstart`` against the source document's own code, and on its own.

The document (``../shared/seed/SEED.md``) is read, its Python blocks are run in a scratch
namespace, and both implementations train the same model on the same data, seed and order.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import easyfirst.quickstart.loops as loops
from easyfirst.quickstart import (
    CumAccTracker,
    CurriculumSampler,
    IndexedDataset,
    collect_cumacc_scores,
    collect_ensemble_cumacc_scores,
    difficulty_ranking,
    get_pacing_function,
    train_with_curriculum,
)
from easyfirst.scores import Scores

SEED_DOC = Path(__file__).resolve().parents[2] / "shared" / "seed" / "SEED.md"
DOC_NAMES = ("IndexedDataset", "CumAccTracker", "collect_cumacc_scores",
             "collect_ensemble_cumacc_scores", "get_pacing_function", "CurriculumSampler",
             "train_with_curriculum")
DISTRIBUTION_KEYS = ["min", "max", "mean", "std", "num_unique", "easiest_samples",
                     "hardest_samples"]
PACINGS = ("logarithmic", "root", "linear", "exponential")
N, EPOCHS, BATCH, LR = 240, 6, 32, 1e-2
TRAIN = dict(batch_size=BATCH, learning_rate=LR, device="cpu")


class Net(nn.Sequential):
    def __init__(self, width: int = 16) -> None:
        super().__init__(nn.Linear(8, width), nn.ReLU(), nn.Linear(width, 3))


def _data() -> TensorDataset:
    g = torch.Generator().manual_seed(7)
    x = torch.randn(N, 8, generator=g)
    y = ((x[:, 0] > 0).long() + (x[:, 1] > 0.5).long())
    flip = torch.rand(N, generator=g) < 0.15  # label noise: hard samples, varied CumAcc
    return TensorDataset(x, torch.where(flip, (y + 1) % 3, y))


def _one_process_loader(*args: Any, **kwargs: Any) -> DataLoader:
    """The document's loaders without worker processes (same order: the base seed is drawn
    either way)."""
    return DataLoader(*args, **{**kwargs, "num_workers": 0, "pin_memory": False})


def _document_blocks(text: str) -> str:
    """The document's Python blocks, less the torchaudio (SpeechCommands) block and the
    comment-only AudioSet block."""
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    kept = [b for b in blocks if "torchaudio" not in b
            and any(line.strip() and not line.lstrip().startswith("#") for line in b.splitlines())]
    assert len(kept) == len(blocks) - 2, "the document's code blocks changed; revisit the test"
    return "\n".join(kept)


@pytest.fixture(scope="module")
def doc():
    """The document's namespace; loaders in it and in the drop-in run in-process."""
    if not SEED_DOC.is_file():
        pytest.skip(f"the source document is not at {SEED_DOC} (a clone without ../shared)")
    namespace: dict[str, Any] = {"__name__": "seed_document"}
    exec(compile(_document_blocks(SEED_DOC.read_text()), str(SEED_DOC), "exec"), namespace)
    assert set(DOC_NAMES) <= set(namespace), "the document lost one of its names"
    namespace["DataLoader"] = _one_process_loader
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(loops, "DataLoader", _one_process_loader)
        yield namespace


@pytest.fixture(scope="module")
def scoring_runs(doc):
    """(document tracker, drop-in tracker, document model, drop-in model), same seed."""
    out = []
    for collect in (doc["collect_cumacc_scores"], collect_cumacc_scores):
        torch.manual_seed(0)
        model = Net()
        out.append((collect(model, _data(), num_epochs=EPOCHS, **TRAIN), model))
    (ref, ref_model), (ours, our_model) = out
    return ref, ours, ref_model, our_model


# --- equality with the document ---------------------------------------------------------


def test_same_correctness_matrix_cumacc_and_model(scoring_runs):
    ref, ours, ref_model, our_model = scoring_runs
    assert ours.correct_matrix.dtype == ref.correct_matrix.dtype == np.int8
    np.testing.assert_array_equal(ours.correct_matrix, ref.correct_matrix)
    np.testing.assert_array_equal(ours.get_cumacc_scores(), ref.get_cumacc_scores())
    assert ours.current_epoch == ref.current_epoch == EPOCHS
    for a, b in zip(ref_model.parameters(), our_model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert ours.get_difficulty_distribution() == ref.get_difficulty_distribution()


def test_same_ranking_with_stable_ties(scoring_runs):
    ref, ours, _, _ = scoring_runs
    scores = ref.get_cumacc_scores()
    assert len(np.unique(scores)) < N / 4  # ties everywhere: the rule matters
    for easy_first, key in ((True, -scores), (False, scores)):
        mine = ours.get_difficulty_ranking(easy_to_hard=easy_first)
        np.testing.assert_array_equal(mine, np.argsort(key, kind="stable"))
        theirs = ref.get_difficulty_ranking(easy_to_hard=easy_first)
        np.testing.assert_array_equal(scores[theirs], scores[mine])  # same values in order


def test_document_argsort_does_not_keep_dataset_order(doc):
    """The document says ties go by dataset order; its ``np.argsort(-scores)`` does not."""
    rng = np.random.default_rng(0)
    matrix = np.sort(rng.integers(0, 2, (600, 2)), axis=1).astype(np.int8)  # 0, 0.5, 1
    ref = doc["CumAccTracker"](600, 2)
    ref.correct_matrix[:] = matrix
    ours = _tracker(matrix)
    scores = ref.get_cumacc_scores()
    np.testing.assert_array_equal(ours.get_cumacc_scores(), scores)
    assert len(np.unique(scores)) == 3
    stable = np.argsort(-scores, kind="stable")
    moved = int((ref.get_difficulty_ranking() != stable).sum())
    print(f"document's argsort: {moved} of 600 positions differ from dataset order in ties")
    assert moved > 0
    np.testing.assert_array_equal(ours.get_difficulty_ranking(), stable)


def test_same_ensemble_mean(doc, capsys):
    means = [f(Net, {"width": 8}, _data(), num_seeds=2, num_epochs=3, **TRAIN)
             for f in (doc["collect_ensemble_cumacc_scores"], collect_ensemble_cumacc_scores)]
    np.testing.assert_array_equal(means[1], means[0])
    assert capsys.readouterr().out.count("=== Seed 2/2 ===") == 2


def test_same_pool_sizes_and_pools_at_every_epoch(doc):
    ranking = np.random.default_rng(1).permutation(N)
    for name in PACINGS:
        for b, a, epochs in ((0.2, 0.5, 10), (0.1, 0.8, 23), (0.25, 0.3, 50)):
            ref = doc["CurriculumSampler"](ranking, N, b, a, name)
            ours = CurriculumSampler(ranking, N, b, a, name, seed=0)
            for epoch in range(epochs):
                ref.set_progress(epoch / epochs)
                ours.set_progress(epoch / epochs)
                assert len(ours) == len(ref), (name, b, a, epoch)
                assert sorted(ours) == sorted(ref)


def test_train_with_curriculum_prints_the_same_pools(doc, capsys):
    ranking = np.argsort(-np.arange(N) % 7, kind="stable")
    for train in (doc["train_with_curriculum"], train_with_curriculum):
        torch.manual_seed(0)
        train(Net(), _data(), ranking, num_epochs=5, **TRAIN)
    lines = re.findall(r"Epoch (\d+)/5 \| Samples: (\d+)/(\d+)", capsys.readouterr().out)
    assert lines[:5] == lines[5:] and len(lines) == 10
    sizes = [int(s) for _, s, _ in lines[:5]]
    assert sizes[0] == 48 and sizes == sorted(sizes) and sizes[-2:] == [N, N]


def test_same_pacing_fractions(doc):
    for name in PACINGS:
        theirs, mine = doc["get_pacing_function"](name), get_pacing_function(name)
        for b in (0.1, 0.2, 0.5):
            t = np.linspace(0, 1, 101)[:-1]
            got = [mine(float(x), b) for x in t]
            np.testing.assert_allclose(got, [theirs(float(x), b) for x in t], rtol=1e-15, atol=0)


# --- the drop-in on its own ----------------------------------------------------------------


def _tracker(matrix: np.ndarray, **kw: Any) -> CumAccTracker:
    """A tracker whose sample i was correct in epoch e where ``matrix[i, e]``."""
    n, epochs = matrix.shape
    tracker = CumAccTracker(n, epochs, **kw)
    for e in range(epochs):
        right = torch.from_numpy(matrix[:, e]).float()
        tracker.update_batch(torch.arange(n), torch.stack([right, 1 - right], 1),
                             torch.zeros(n, dtype=torch.long))
        tracker.end_epoch()
    return tracker


def test_indexed_dataset_returns_index_data_target():
    ds = IndexedDataset(TensorDataset(torch.arange(3.0), torch.tensor([2, 1, 0])))
    assert len(ds) == 3 and ds.base_dataset is not None
    idx, data, target = ds[1]
    assert (idx, float(data), int(target)) == (1, 1.0, 1)


def test_distribution_keys_and_values():
    tracker = _tracker(np.array([[1, 1], [0, 1], [1, 1], [0, 0]]))
    dist = tracker.get_difficulty_distribution()
    assert list(dist) == DISTRIBUTION_KEYS
    assert dist == {"min": 0.0, "max": 1.0, "mean": 0.625, "std": pytest.approx(0.414578098),
                    "num_unique": 3, "easiest_samples": [0, 2], "hardest_samples": [3]}
    np.testing.assert_array_equal(tracker.correct_matrix, [[1, 1], [0, 1], [1, 1], [0, 0]])


def test_save_scores_formats(tmp_path):
    tracker = _tracker(np.array([[1, 0], [0, 1], [1, 1]]))
    expected = np.array([0.5, 0.5, 1.0])
    assert tracker.save_scores(tmp_path / "s") == tmp_path / "s.npy"  # as np.save names it
    tracker.save_scores(tmp_path / "t.npy")
    for name in ("s.npy", "t.npy"):
        loaded = np.load(tmp_path / name)
        assert loaded.dtype == np.float64
        np.testing.assert_array_equal(loaded, expected)
    for name in ("s.csv", "s.npz"):
        scores = Scores.load(tracker.save_scores(tmp_path / name))
        np.testing.assert_array_equal(scores.values, expected)
        assert scores.meta["tie_break"] == "dataset-order" and scores.meta["epochs"] == 2
        np.testing.assert_array_equal(scores.easy_to_hard(), [2, 0, 1])


def test_set_progress_bounds_and_epochs():
    sampler = CurriculumSampler(np.arange(100), 100, 0.2, 0.5, "linear", seed=3)
    assert len(sampler) == 20 and sampler.current_progress == 0.0
    sampler.set_progress(1.7)
    assert sampler.current_progress == 1.0 and len(sampler) == 100 and sampler.epoch == 0
    first = list(sampler)
    sampler.set_progress(0.9)
    assert sampler.epoch == 1 and sorted(sampler) == list(range(100)) and list(sampler) != first
    sampler.set_progress(-0.5)
    assert sampler.current_progress == 0.0 and len(sampler) == 20
    again = CurriculumSampler(np.arange(100), 100, 0.2, 0.5, "linear", seed=3,
                              current_progress=2)
    assert list(again) == first  # the order depends on (seed, epoch) only
    np.random.seed(5)
    drawn = CurriculumSampler(np.arange(100), 100).seed
    np.random.seed(5)
    assert CurriculumSampler(np.arange(100), 100).seed == drawn  # np.random.seed fixes it


def test_random_ties_are_seeded():
    values = np.repeat([1.0, 0.5, 0.0], 50)
    a, b, c = (difficulty_ranking(values, ties="random", seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert (a != c).any() and (a != np.arange(150)).any()
    np.testing.assert_array_equal(np.sort(a[:50]), np.arange(50))  # easiest first still
    tracker = _tracker(np.array([[1], [1], [0], [1]]), ties="random", seed=4)
    np.testing.assert_array_equal(tracker.get_difficulty_ranking(),
                                  difficulty_ranking(np.array([1, 1, 0, 1.0]), ties="random",
                                                     seed=4))


def _raises(fn: Any) -> str:
    with pytest.raises((ValueError, KeyError)) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message, message
    assert ("Expected" in message and "got" in message) or "Unknown" in message, message
    assert re.search(r"\.\s+[A-Z]", message), message  # then what to do, or what is valid
    return message


def test_errors_are_one_line():
    assert "Available: exponential" in _raises(lambda: get_pacing_function("cubic"))
    _raises(lambda: CumAccTracker(10, 0))
    tracker = _tracker(np.ones((3, 1), dtype=np.int64))
    assert "num_epochs=1" in _raises(tracker.end_epoch)
    _raises(lambda: difficulty_ranking(np.zeros(3), ties="first"))
    _raises(lambda: CumAccTracker(3, 1, ties="first"))
    sampler = CurriculumSampler(np.arange(5), 5, seed=0)
    _raises(lambda: sampler.set_progress(math.nan))
    _raises(lambda: CurriculumSampler(np.arange(5), 6, seed=0))
    _raises(lambda: CurriculumSampler(np.arange(5), 5, initial_fraction=0.0, seed=0))
    if not torch.cuda.is_available():
        assert "device='cpu'" in _raises(lambda: collect_cumacc_scores(Net(), _data()))


def test_update_batch_never_reads_values_on_the_host(monkeypatch):
    """Per batch only device work is queued: no tensor value reaches Python."""
    tracker = CumAccTracker(8, 1, device="cpu")
    for name in ("item", "tolist", "numpy", "cpu", "__bool__", "__int__", "__float__"):
        monkeypatch.setattr(torch.Tensor, name, _no_host_read(name))
    tracker.update_batch(torch.arange(8), torch.randn(8, 3), torch.randint(0, 3, (8,)))
    monkeypatch.undo()
    tracker.end_epoch()
    assert tracker.get_cumacc_scores().shape == (8,)


def _no_host_read(name: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"update_batch called Tensor.{name}")
    return refuse


@pytest.mark.gpu
def test_update_batch_never_syncs_on_gpu():
    tracker = CumAccTracker(64, 1, device="cuda")  # as collect_cumacc_scores makes it
    logits = torch.randn(64, 5, device="cuda")
    targets = torch.randint(0, 5, (64,), device="cuda")
    indices = torch.arange(64).pin_memory()  # from the loader: pinned host memory
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for s in range(0, 64, 16):
            tracker.update_batch(indices[s : s + 16], logits[s : s + 16], targets[s : s + 16])
    finally:
        torch.cuda.set_sync_debug_mode(0)
    tracker.end_epoch()
    assert tracker.correct_matrix.shape == (64, 1)
