"""Stacked seed ensembles: member k of a stacked run is the plain run with seed k."""

from __future__ import annotations

import warnings
from dataclasses import replace

import pytest
import torch

from easyfirst.data import load_dataset
from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.training import stacking as stacking_mod
from easyfirst.training.config import RunConfig
from easyfirst.training.loop import CHECKPOINT, train
from easyfirst.training.precision import Precision
from easyfirst.training.stacking import (
    measure_stack_speedup,
    plan_stacking,
    train_stacked,
)

SEEDS = [0, 3]


@pytest.fixture(scope="module")
def digits() -> DatasetBundle:
    return load_dataset("digits")


def _cfg(**kw) -> RunConfig:
    base = {
        "model": "mlp",
        "model_options": {"hidden": [32]},
        "epochs": 2,
        "batch_size": 64,
        "device": "cpu",
        "dtype": "float64",
        "keep_history": True,
    }
    base.update(kw)
    base.setdefault("el2n_epoch", min(1, int(base["epochs"]) - 1))
    return RunConfig(**base)


def _assert_same_run(
    stacked, plain, *, tol: float = 1e-9, same_meta: bool = True, is_stacked: bool = True
) -> None:
    assert stacked.best_epoch == plain.best_epoch
    assert len(stacked.metrics) == len(plain.metrics)
    for a, b in zip(stacked.metrics, plain.metrics, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], abs=tol), key
    torch.testing.assert_close(stacked.test_logits, plain.test_logits, rtol=0, atol=tol)
    assert stacked.test_accuracy == plain.test_accuracy
    fd, pd = stacked.dynamics.to_dict(), plain.dynamics.to_dict()
    assert fd.keys() == pd.keys()
    for key, value in fd.items():
        if not isinstance(value, torch.Tensor):
            continue
        if value.is_floating_point():
            torch.testing.assert_close(value, pd[key], rtol=0, atol=tol, equal_nan=True, msg=key)
        else:  # counts, epochs, correctness, history bits: exactly equal
            assert torch.equal(value, pd[key]), key
    if same_meta:
        for key, value in plain.dynamics.meta.items():
            assert stacked.dynamics.meta[key] == value, key
    if is_stacked:
        assert stacked.dynamics.meta["stacked_seeds"] == SEEDS
    for key, value in plain.model.state_dict().items():
        torch.testing.assert_close(stacked.model.state_dict()[key], value, rtol=0, atol=tol,
                                   msg=key)


@pytest.mark.parametrize(
    ("model", "options", "schedule"),
    [
        ("mlp", {"hidden": [32]}, "constant"),
        ("small_cnn", {"widths": [8, 16]}, "constant"),  # small_cnn has BN
        # TC-ResNet: a fitted InputNorm and BatchNorm1d under vmap, and an lr schedule
        ("tcresnet8", {"width_mult": 0.5, "dropout": 0.0}, "onecycle"),
    ],
)
def test_member_k_equals_plain_run_with_seed_k(digits, model, options, schedule):
    cfg = _cfg(model=model, model_options=options, schedule=schedule)
    fused = train_stacked(digits, cfg, SEEDS, progress=False)
    assert len(fused) == len(SEEDS)
    for seed, res in zip(SEEDS, fused, strict=True):
        plain = train(digits, replace(cfg, seed=seed), progress=False)
        _assert_same_run(res, plain)


def test_last_checkpoint_and_no_dev_split(digits):
    bundle = DatasetBundle("digits-nodev", digits.train, None, digits.test, digits.class_names)
    cfg = _cfg(eval_checkpoint="best", epochs=2)
    fused = train_stacked(bundle, cfg, SEEDS, progress=False)
    for seed, res in zip(SEEDS, fused, strict=True):
        plain = train(bundle, replace(cfg, seed=seed), progress=False)
        assert res.best_epoch == plain.best_epoch == 1
        _assert_same_run(res, plain)


def test_members_have_own_init_and_own_data_order(digits):
    """Each member sees exactly its plain run's batches (order and augmentation generator)."""
    seen: list[tuple[float, float]] = []

    def spy(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        # Fingerprint of the batch contents and of the member's generator state.
        probe = torch.rand(1, generator=gen, device=x.device, dtype=torch.float64)
        seen.append((float(x.sum()), float(probe)))
        return x + 1e-3 * probe.to(x.dtype)

    cfg = _cfg(epochs=1)
    fused = train_stacked(digits, cfg, SEEDS, progress=False, augment=spy)
    fused_calls = list(seen)
    k = len(SEEDS)
    per_member = [fused_calls[m::k] for m in range(k)]
    assert per_member[0] != per_member[1]  # different data orders and generators
    for m, seed in enumerate(SEEDS):
        seen.clear()
        plain = train(digits, replace(cfg, seed=seed), progress=False, augment=spy)
        assert per_member[m] == seen
        torch.testing.assert_close(fused[m].test_logits, plain.test_logits, rtol=0, atol=1e-9)
    w0 = fused[0].model.state_dict()
    w1 = fused[1].model.state_dict()
    assert not torch.equal(w0["1.weight"], w1["1.weight"])


def test_dropout_members_differ_and_runs_are_deterministic(digits):
    cfg = _cfg(model_options={"hidden": [32], "dropout": 0.3}, dtype="float32")
    a = train_stacked(digits, cfg, SEEDS, progress=False)
    b = train_stacked(digits, cfg, SEEDS, progress=False)
    for ra, rb in zip(a, b, strict=True):
        assert torch.equal(ra.dynamics.prob_sum, rb.dynamics.prob_sum)
    assert not torch.equal(a[0].dynamics.prob_sum, a[1].dynamics.prob_sum)
    assert a[0].dynamics.cumacc().max() <= 1.0


def test_resume_after_interruption_is_bit_identical(digits, tmp_path):
    cfg = _cfg(epochs=3, model="small_cnn", model_options={"widths": [8]})
    full = train_stacked(digits, cfg, SEEDS, progress=False)

    class Interrupt(Exception):
        pass

    def stop(epoch, rows):
        assert len(rows) == len(SEEDS)
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_stacked(digits, cfg, SEEDS, out_dir=tmp_path, progress=False, on_epoch_end=stop)
    assert (tmp_path / CHECKPOINT).is_file()
    resumed = train_stacked(digits, cfg, SEEDS, out_dir=tmp_path, resume=True, progress=False)
    for a, b in zip(full, resumed, strict=True):
        _assert_same_run(a, b, tol=0.0)
    with pytest.raises(ValueError, match="different seeds"):
        train_stacked(digits, cfg, [0, 4], out_dir=tmp_path, resume=True, progress=False)
    with pytest.raises(ValueError, match="different lr"):
        train_stacked(digits, replace(cfg, lr=0.1), SEEDS, out_dir=tmp_path, resume=True)


def test_preloaded_and_streamed_data_agree(digits):
    cfg = _cfg(epochs=1)
    resident = train_stacked(digits, cfg, SEEDS, progress=False)
    streamed = train_stacked(digits, replace(cfg, preload_max_bytes=0), SEEDS, progress=False)
    for a, b in zip(resident, streamed, strict=True):
        _assert_same_run(a, b, tol=0.0, same_meta=False)


def test_bf16_autocast_runs_on_cpu(digits):
    cfg = _cfg(epochs=1, dtype="float32", model="small_cnn", model_options={"widths": [8]})
    res = train_stacked(digits, cfg, SEEDS, progress=False, precision="bf16")
    assert res[0].info["precision"]["autocast"] == "bf16"
    assert torch.isfinite(res[0].dynamics.last_loss).all()


def test_bad_seeds_and_distributed_are_refused(digits, monkeypatch):
    with pytest.raises(ValueError, match="no repeats"):
        train_stacked(digits, _cfg(), [1, 1], progress=False)
    with pytest.raises(ValueError, match="no repeats"):
        train_stacked(digits, _cfg(), [], progress=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="one process"):
        train_stacked(digits, _cfg(), SEEDS, progress=False)
    assert not plan_stacking(digits, _cfg(), SEEDS, mode="always").stack


def test_plan_stacking_rules(digits, monkeypatch):
    cfg = _cfg(dtype="float32")
    assert not plan_stacking(digits, cfg, SEEDS, mode="never").stack
    assert plan_stacking(digits, cfg, SEEDS, mode="always").stack
    assert not plan_stacking(digits, cfg, [0], mode="always").stack
    with pytest.raises(ValueError, match="Available: auto, always, never, measure"):
        plan_stacking(digits, cfg, SEEDS, mode="sometimes")
    # CUDA: a rule on the per-member batch size (no GPU needed to check the rule).
    monkeypatch.setattr(stacking_mod, "resolve_device", lambda name: torch.device("cuda"))
    cifar = DatasetBundle(
        "fake", ArraySplit(torch.zeros(2, 3, 32, 32), [0, 1], ["a", "b"]), None, None, ["0", "1"]
    )
    dcase = DatasetBundle(
        "fake", ArraySplit(torch.zeros(2, 1, 64, 501), [0, 1], ["a", "b"]), None, None, ["0", "1"]
    )
    assert plan_stacking(cifar, replace(cfg, batch_size=32), SEEDS).stack
    assert not plan_stacking(dcase, replace(cfg, batch_size=16), SEEDS).stack
    assert not plan_stacking(dcase, replace(cfg, batch_size=32), SEEDS).stack
    assert plan_stacking(dcase, replace(cfg, batch_size=4), SEEDS).stack
    # Elsewhere: sequential unless stack="measure" times a warm-up that says otherwise.
    monkeypatch.setattr(stacking_mod, "resolve_device", lambda name: torch.device("cpu"))
    assert not plan_stacking(cifar, replace(cfg, batch_size=16), SEEDS).stack
    for speedup, expected in [(None, False), (0.8, False), (1.5, True)]:
        monkeypatch.setattr(stacking_mod, "measure_stack_speedup", lambda *a, s=speedup, **k: s)
        assert plan_stacking(digits, cfg, SEEDS).stack is False
        assert plan_stacking(digits, cfg, SEEDS, mode="measure").stack is expected


def test_measure_stack_speedup_leaves_global_rng_alone(digits):
    cfg = _cfg(dtype="float32", batch_size=16)
    state = torch.get_rng_state()
    speedup = measure_stack_speedup(digits, cfg, 2, steps=1, max_plain_step_s=None)
    assert speedup is not None and speedup > 0
    assert torch.equal(state, torch.get_rng_state())
    assert measure_stack_speedup(digits, cfg, 2, steps=1, max_plain_step_s=0.0) is None


@pytest.mark.gpu
def test_gpu_member_equals_plain_run_in_float64(digits):
    cfg = _cfg(device="cuda", model="small_cnn", model_options={"widths": [8, 16]})
    fused = train_stacked(digits, cfg, SEEDS, progress=False)
    assert fused[0].info["cuda_graph_captured"]  # both sides replay CUDA graphs
    for seed, res in zip(SEEDS, fused, strict=True):
        plain = train(digits, replace(cfg, seed=seed), progress=False)
        assert plain.info["cuda_graph_captured"]
        _assert_same_run(res, plain, tol=1e-7)


@pytest.mark.gpu
def test_gpu_fused_steps_do_not_sync_per_batch():
    """Host syncs per epoch must not grow with the number of batches."""

    def bundle(n: int) -> DatasetBundle:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(n, 3, 16, 16, generator=g)
        y = torch.randint(0, 4, (n,), generator=g)
        return DatasetBundle(
            f"rand{n}", ArraySplit(x, y, [str(i) for i in range(n)]), None, None, list("abcd")
        )

    cfg = RunConfig(
        model="small_cnn",
        model_options={"widths": [8, 16]},
        epochs=1,
        batch_size=16,
        device="cuda",
    )
    counts = []
    for n in (128, 256):  # 8 vs 16 steps; one eval batch (256) either way
        data = bundle(n)
        train_stacked(data, cfg, SEEDS, progress=False, record=True)  # warm up kernels
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                train_stacked(data, cfg, SEEDS, progress=False, record=True)
            finally:
                torch.cuda.set_sync_debug_mode(0)
        counts.append(sum("synchroniz" in str(w.message) for w in caught))
    assert counts[0] == counts[1], counts


@pytest.mark.gpu
def test_gpu_compiled_fused_run():
    data = load_dataset("digits")
    cfg = RunConfig(model="small_cnn", epochs=1, batch_size=32, device="cuda")
    res = train_stacked(data, cfg, [0, 1], progress=False,
                        precision=Precision("bf16", compile=True))
    assert res[0].info["precision"]["compile"] is True
    assert all(torch.isfinite(r.dynamics.last_loss).all() for r in res)


@pytest.mark.gpu
def test_gpu_bf16_fused_run():
    data = load_dataset("digits")
    cfg = RunConfig(model="small_cnn", epochs=2, batch_size=32, device="cuda")
    res = train_stacked(data, cfg, [0, 1, 2], progress=False)
    assert res[0].info["precision"]["autocast"] == "bf16"
    assert all(r.test_accuracy is not None and r.test_accuracy > 0.2 for r in res)


def test_cnn10_without_dropout_matches_plain_runs():
    """The PANNs layout (bn0 over mel bins, time max+mean) under vmap, BN stats included."""
    g = torch.Generator().manual_seed(0)
    n = 12
    x = torch.randn(n, 1, 16, 16, generator=g)
    y = torch.arange(n) % 3
    split = ArraySplit(x, y, [str(i) for i in range(n)])
    bundle = DatasetBundle("tiny-logmel", split, split.subset(range(4)), None, list("abc"))
    cfg = _cfg(
        model="cnn10",
        model_options={"block_dropout": 0.0, "fc_dropout": 0.0},
        epochs=2,
        batch_size=8,
    )
    fused = train_stacked(bundle, cfg, SEEDS, progress=False)
    for seed, res in zip(SEEDS, fused, strict=True):
        plain = train(bundle, replace(cfg, seed=seed), progress=False)
        _assert_same_run(res, plain, tol=1e-8)


def test_member_checkpoints_look_like_plain_run_checkpoints(digits, tmp_path):
    """Per-seed checkpoint.pt files: a plain run resumes from them without training again."""
    from easyfirst.training.checkpoint import load_checkpoint
    from easyfirst.training.loop import CHECKPOINT

    cfg = _cfg(model="small_cnn", model_options={"widths": [8]})
    dirs = [tmp_path / f"seed_{s}" for s in SEEDS]
    fused = train_stacked(digits, cfg, SEEDS, progress=False, member_dirs=dirs)
    for seed, res, folder in zip(SEEDS, fused, dirs, strict=True):
        plain = train(digits, replace(cfg, seed=seed), out_dir=tmp_path / "plain", progress=False)
        mine = load_checkpoint(folder / CHECKPOINT)
        theirs = load_checkpoint(tmp_path / "plain" / CHECKPOINT)
        assert mine.keys() == theirs.keys()
        assert mine["config"] == theirs["config"] and mine["epoch"] == theirs["epoch"]
        assert [b["epoch"] for b in mine["best"]] == [b["epoch"] for b in theirs["best"]]
        assert mine["seeds"] == theirs["seeds"] == [seed]
        for part in ("model", "recorder"):
            for key, value in theirs[part].items():
                if isinstance(value, torch.Tensor):
                    torch.testing.assert_close(
                        mine[part][key], value, rtol=0, atol=1e-9, equal_nan=True, msg=key
                    )
                else:
                    assert mine[part][key] == value, key
        for pid, slots in theirs["optimizer"]["state"].items():
            for key, value in slots.items():
                torch.testing.assert_close(
                    mine["optimizer"]["state"][pid][key], value, atol=1e-9, rtol=0
                )
        calls = []
        resumed = train(
            digits,
            replace(cfg, seed=seed),
            out_dir=folder,
            resume=True,
            progress=False,
            on_epoch_end=lambda e, row, calls=calls: calls.append(e),
        )
        assert calls == []
        _assert_same_run(resumed, plain, same_meta=False, is_stacked=False)
        _assert_same_run(res, plain)
    with pytest.raises(ValueError, match="one member folder per seed"):
        train_stacked(digits, cfg, SEEDS, progress=False, member_dirs=dirs[:1])
