"""The Lightning callbacks give the scores of easyfirst's own loop: one process, or two under
Lightning's DDP strategy (gloo on CPU), on the same net, data, curriculum order and seed."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

pytest.importorskip("lightning", reason="needs the extra: pip install 'easyfirst[lightning]'")
import lit_task as T  # noqa: E402  (tests/integrations helper; imports lightning)

from easyfirst import CurriculumSampler, OutcomeRecorder, Scores, TrainingDynamics, get_scorer
from easyfirst.integrations import lightning as integration
from easyfirst.integrations.lightning import CurriculumSampling, RecordOutcomes, from_withindex

COUNTS = ("cumacc", "fit", "forgetting")  # exact; the others are float32 sums


@pytest.fixture(scope="module")
def own_scores() -> dict[str, Scores]:
    """The README's hand-written loop with the recorder: the reference."""
    net, sampler = T.make_net(), T.make_sampler()
    opt = T.make_optimizer(net)
    recorder = OutcomeRecorder(T.N, outcomes="all")
    loader = DataLoader(T.train_set(), batch_size=T.GLOBAL_BATCH, sampler=sampler)
    for epoch in range(T.EPOCHS):
        sampler.set_epoch(epoch)
        for idx, (x, y) in loader:
            logits = net(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            recorder.update(idx, logits, y)
        recorder.end_epoch()
    dynamics = recorder.dynamics(seed=T.SEED)
    assert dynamics.epochs_seen.min() < T.EPOCHS  # the curriculum held samples back
    return {name: get_scorer(name)(dynamics) for name in T.SCORERS}


def _saved(out: Path) -> dict[str, np.ndarray]:
    return {name: Scores.load(out / "scores" / f"{name}.csv", allow_nan=True).values
            for name in T.SCORERS}


def test_one_process_scores_equal_the_own_loop_exactly(tmp_path, own_scores):
    callback = T.fit(tmp_path)
    for name, values in _saved(tmp_path).items():
        np.testing.assert_array_equal(values, own_scores[name].values, err_msg=name)
        np.testing.assert_array_equal(callback.scores[name].values, values, err_msg=name)
    meta = TrainingDynamics.load(tmp_path / "dynamics.pt").meta
    assert (meta["seed"], meta["world_size"], meta["source"]) == (0, 1, "lightning")


def test_batch_to_record_reads_other_layouts(own_scores):
    x, y = T.data()
    plain = TensorDataset(x, y, torch.arange(T.N))  # batches (x, y, idx)
    callback = T.fit(None, dataset=plain,
                     batch_to_record=lambda b, out: (b[2], out["logits"], b[1]))
    for name in COUNTS:
        np.testing.assert_array_equal(callback.scores[name].values, own_scores[name].values)


@pytest.mark.slow
def test_ddp_two_processes_equal_one_process(tmp_path, own_scores):
    """Lightning's strategy="ddp" relaunches the script: run it as one, in a subprocess."""
    r = subprocess.run([sys.executable, T.__file__, str(tmp_path)], capture_output=True,
                       text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    for run in ("sampler", "batch_sampler"):  # DataLoader(sampler=), a batch_sampler
        assert TrainingDynamics.load(tmp_path / run / "dynamics.pt").meta["world_size"] == 2
        for name, values in _saved(tmp_path / run).items():
            want = own_scores[name].values
            if name in COUNTS:
                np.testing.assert_array_equal(values, want, err_msg=f"{run} {name}")
            else:
                np.testing.assert_allclose(values, want, rtol=1e-6, atol=1e-9,
                                           err_msg=f"{run} {name}")
    replaced = (tmp_path / "replaced.txt").read_text()  # a batch_sampler, default Trainer
    assert "\n" not in replaced and "got DistributedSampler" in replaced
    assert "use_distributed_sampler=False" in replaced


def test_wrong_batches_and_outputs_fail_in_one_line():
    logits, y = torch.zeros(4, 3), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="Expected training batches .indices, .x, y.. of a Wi"):
        from_withindex([torch.zeros(4, 8), y], {"logits": logits})
    with pytest.raises(ValueError, match="got Tensor. Return {'loss'"):
        from_withindex([torch.arange(4), [torch.zeros(4, 8), y]], torch.tensor(1.0))
    with pytest.raises(ValueError, match="needs the recorder's 'margins' outcomes"):
        RecordOutcomes(scorers=["aum"], outcomes="core")
    with pytest.raises(ValueError, match="'cvloss', which trains models of its own"):
        RecordOutcomes(scorers=["cvloss"])


def test_curriculum_sampling_refuses_what_lightning_would_break():
    pool = CurriculumSampler(T.N, np.arange(T.N), pacing=T.make_sampler().pacing,
                             epochs=T.EPOCHS, mode="pool")
    with pytest.raises(ValueError, match="mode='constant' under Lightning"):
        CurriculumSampling(pool)
    loader = DataLoader(T.train_set(), batch_size=8, shuffle=True)  # not the sampler
    for epochs, match in ((T.EPOCHS, "got RandomSampler. Build it"),
                          (T.EPOCHS + 1, "epochs to equal the Trainer's max_epochs .6.")):
        trainer = T.trainer([CurriculumSampling(T.make_sampler())], max_epochs=epochs)
        with pytest.raises(ValueError, match=match):
            trainer.fit(T.Module(), loader)


def test_without_lightning_the_callbacks_name_the_install_command(monkeypatch):
    for name in ("lightning", "lightning.pytorch", "lightning.pytorch.utilities"):
        monkeypatch.setitem(sys.modules, name, None)  # import lightning... fails
    spec = importlib.util.spec_from_file_location("_no_lightning", integration.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the import itself works
    for build in (module.RecordOutcomes, lambda: module.CurriculumSampling(None)):
        with pytest.raises(ImportError) as info:
            build()
        assert "\n" not in str(info.value)
        assert str(info.value).endswith("Install it: pip install 'easyfirst[lightning]'")
