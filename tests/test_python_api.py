"""The Python API a newcomer uses from the README: own Datasets, model factories, one call
form for every scorer, one fingerprint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

import easyfirst
from easyfirst import DatasetBundle, OutcomeRecorder, RunConfig, WithIndex, get_scorer
from easyfirst.data.base import ArraySplit
from easyfirst.models import MODELS, build_model
from easyfirst.models.factory import model_name


@pytest.fixture
def registry():
    """Drop the models a test registers (the registry is global)."""
    before = set(MODELS.names())
    yield MODELS
    for name in set(MODELS.names()) - before:
        MODELS.unregister(name)


class _Items(Dataset):
    def __init__(self, items: list) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]


def _toy(n: int = 60) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return TensorDataset(x, (x[:, 0] > 0).long())


# --- DatasetBundle.from_datasets ---------------------------------------------------------


def test_from_datasets_materialises_tensor_numpy_and_multi_hot_items():
    train = _toy()
    dev = _Items([(np.full(4, i, dtype=np.float64), np.int64(i % 3)) for i in range(5)])
    bundle = DatasetBundle.from_datasets(train, dev, WithIndex(train), name="toy")
    assert bundle.class_names == ["0", "1", "2"]  # the largest class id over the splits, + 1
    assert bundle.input_shape == (4,) and bundle.train.inputs.dtype == torch.float32
    torch.testing.assert_close(bundle.train.inputs, train.tensors[0])
    assert bundle.train.targets.tolist() == train.tensors[1].tolist()
    assert bundle.dev.targets.tolist() == [0, 1, 2, 0, 1] and bundle.dev.ids[2] == "2"
    assert bundle.test.targets.tolist() == bundle.train.targets.tolist()  # WithIndex unwrapped
    multi = DatasetBundle.from_datasets(
        _Items([(torch.zeros(2), torch.tensor([1.0, 0.0, 1.0])) for _ in range(3)]), name="m")
    assert multi.multi_label and multi.num_classes == 3
    named = DatasetBundle.from_datasets(train, name="toy", class_names=["no", "yes"])
    assert named.class_names == ["no", "yes"] and named.fingerprint == bundle.fingerprint
    assert DatasetBundle.from_datasets(train, name="other").fingerprint != bundle.fingerprint


@pytest.mark.parametrize(("items", "kwargs", "message"), [
    ([(torch.zeros(2), 0), torch.zeros(2)], {}, r"^Expected every train item to be an \(x, y\) "
     r"pair; got Tensor tensor\(\[0\., 0\.\]\) at index 1\. Return \(input, label\) from"),
    ([(torch.zeros(2), 0), (torch.zeros(3), 1)], {}, r"^Expected every train input to have the "
     r"shape of the first, \(2,\); got \(3,\) at index 1\. Pad or crop"),
    ([(torch.zeros(2), "cat")], {}, r"^Expected every train label to be an int class id or a "
     r"\(C,\) 0/1 row; got 'cat' at index 0"),
    ([(torch.zeros(2), 0), (torch.zeros(2), 2)], {"class_names": ["a", "b"]},
     r"^Expected train class ids in \[0, 2\) \(one per class name\); got 0\.\.2\. Map the labels"),
    ([], {}, r"^Expected a train dataset with at least 1 item; got 0\.$"),
])
def test_from_datasets_refuses_bad_items_in_one_line(items, kwargs, message):
    with pytest.raises(ValueError, match=message) as e:
        DatasetBundle.from_datasets(_Items(items), name="bad", **kwargs)
    assert "\n" not in str(e.value)


def test_one_fingerprint_the_split_hash_has_another_name():
    bundle = DatasetBundle.from_datasets(_toy(), name="toy")
    split = bundle.train
    assert bundle.fingerprint != split.ids_targets_hash()  # the split's hash is no fingerprint
    with pytest.warns(DeprecationWarning, match=r"use bundle\.fingerprint for that, or "
                      r"split\.ids_targets_hash\(\)"):
        old = split.fingerprint()
    assert old == split.ids_targets_hash()


# --- models given as factories -----------------------------------------------------------


class Net(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_classes: int, width: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(input_shape[0], width), nn.ReLU())
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def test_factories_become_registered_names(registry):
    def make() -> nn.Module:
        return nn.Linear(4, 2)

    name = model_name(make)
    assert name == "custom:test_factories_become_registered_names.<locals>.make"
    assert model_name(make) == name and RunConfig(model=make).model == name
    assert registry.meta(name)["source"] == "user factory"
    assert isinstance(build_model(name, input_shape=(4,), num_classes=2), nn.Linear)
    shaped = build_model(model_name(Net), input_shape=(5,), num_classes=3, width=6)
    assert shaped.head.out_features == 3 and shaped.body[0].in_features == 5
    first, second = (lambda: nn.Linear(4, 2)), (lambda: nn.Linear(4, 3))
    base = model_name(first)
    assert model_name(second) == base + "#2"  # the same qualname, another factory
    assert RunConfig(model="mlp").to_dict()["model"] == "mlp"


def test_bad_factories_fail_in_one_line(registry):
    with pytest.raises(TypeError, match=r"^Expected a model name or a factory returning an "
                       r"nn\.Module; got an instance of Linear\. Pass e\.g\. model=lambda"):
        model_name(nn.Linear(2, 2))
    with pytest.raises(TypeError, match=r"^Expected a model factory taking no arguments or "
                       r"\(input_shape, num_classes\); got .*<lambda>\(a\)\. Wrap it"):
        model_name(lambda a: nn.Linear(2, 2))
    name = model_name(lambda: "not a model")
    with pytest.raises(TypeError, match=r"returned a str; expected an nn\.Module\. Return the"):
        build_model(name, input_shape=(2,), num_classes=2)


# --- one call form for every scorer ------------------------------------------------------


def test_every_scorer_is_called_one_way(registry):
    data, cfg = _toy(), RunConfig(epochs=2, batch_size=16, device="cpu")
    recorder = OutcomeRecorder(len(data))
    recorder.update(torch.arange(len(data)), torch.randn(len(data), 2), data.tensors[1])
    recorder.end_epoch()
    cumacc = get_scorer("cumacc")(recorder.dynamics())
    assert cumacc.num_samples == len(data) and cumacc.higher_is_easier
    cv = get_scorer("cvloss")(data, model=Net, config=cfg, folds=2, seeds=[0, 1])
    assert cv.num_samples == len(data) and not cv.higher_is_easier
    assert cv.meta["model"] == model_name(Net) and cv.meta["ensemble_size"] == 2
    assert cv.meta["dataset_fingerprint"] == DatasetBundle.from_datasets(
        data, name="TensorDataset").fingerprint
    one = get_scorer("cvloss")(DatasetBundle.from_datasets(data, name="TensorDataset"),
                               model=Net, config=cfg, folds=2)
    assert one.meta["seeds"] == [0] and np.isfinite(one.values).all()


@pytest.mark.parametrize(("call", "message"), [
    (lambda d: get_scorer("cvloss")(d), r"^Scorer 'cvloss' trains models of its own and needs "
     r"the data; got TrainingDynamics\. Pass a DatasetBundle or a Dataset of \(x, y\)"),
    (lambda d: get_scorer("cumacc")(_toy()), r"^Scorer 'cumacc' is computed from a training "
     r"run's dynamics; got TensorDataset\. Record the run with OutcomeRecorder"),
    (lambda d: get_scorer("cumacc")(d, model="mlp"), r"^Scorer 'cumacc' takes only a run's "
     r"dynamics; got model\."),
    (lambda d: get_scorer("cscore")(_toy(), model=nn.Linear(4, 2)), r"^Scorer 'cscore' trains "
     r"models of its own; got a trained Linear\. Pass model= a factory"),
])
def test_a_wrong_input_kind_says_which_input_the_scorer_needs(call, message):
    recorder = OutcomeRecorder(4)
    recorder.update(torch.arange(4), torch.randn(4, 2), torch.tensor([0, 1, 0, 1]))
    recorder.end_epoch()
    with pytest.raises(TypeError, match=message):
        call(recorder.dynamics())


def test_run_config_is_exported_at_top_level():
    assert easyfirst.RunConfig is RunConfig and "RunConfig" in easyfirst.__all__
    assert isinstance(DatasetBundle.from_datasets(_toy(), name="t").train, ArraySplit)


def test_run_config_is_frozen_and_auto_is_resolved_once_before_the_run(tmp_path):
    import dataclasses
    import json

    from easyfirst.training.config import resolve_auto
    from easyfirst.workflows.curriculum import CurriculumSpec, train_curriculum

    cfg = RunConfig(model="auto", epochs=1, batch_size=16, device="cpu")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]
    bundle = DatasetBundle.from_datasets(_toy(), dev=_toy(20), test=_toy(20), name="toy")
    resolved = resolve_auto(cfg, bundle)
    assert resolved.model != "auto" and resolve_auto(resolved, bundle) is resolved
    train_curriculum(bundle, cfg, CurriculumSpec(ordering="none"), out_dir=tmp_path,
                     progress=False)  # the run's file names the model auto stood for
    assert json.loads((tmp_path / "run.json").read_text())["config"]["model"] == resolved.model
