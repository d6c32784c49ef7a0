"""Common tests over every registry not covered by its own parametrised suite, and __all__.

Scorers (tests/scoring/test_scorers_common.py), models (tests/models/test_models.py), pacing
shapes (tests/pacing/test_pacing.py) and schedules (tests/training/test_schedule.py) each
have a test parametrised over their registry; datasets, augmentations and optimizers here.
"""

from __future__ import annotations

import importlib
import inspect

import pytest
import torch

from easyfirst.audio.augment import AUGMENTATIONS, build_augmentation
from easyfirst.data import DATASETS, load_dataset
from easyfirst.training.optim import OPTIMIZERS, build_optimizer

PACKAGES = ["easyfirst", "easyfirst.analysis", "easyfirst.audio", "easyfirst.curriculum",
            "easyfirst.data", "easyfirst.estimators", "easyfirst.models", "easyfirst.pacing",
            "easyfirst.recording", "easyfirst.scoring"]


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_is_documented_and_refuses_a_missing_root(name, tmp_path) -> None:
    loader = DATASETS.get(name)
    assert (inspect.getdoc(loader) or "").strip(), f"{name}: no docstring"
    if "root" not in inspect.signature(loader).parameters:
        bundle = load_dataset(name)  # bundled data: the contract of a loaded bundle
        assert len(bundle.train) and bundle.num_classes == len(bundle.class_names)
        assert int(bundle.train.targets.max()) < bundle.num_classes
        assert load_dataset(name).fingerprint == bundle.fingerprint
        return
    missing = tmp_path / "no-such-folder"
    quiet = {"progress": False} if "progress" in inspect.signature(loader).parameters else {}
    with pytest.raises(FileNotFoundError) as err:
        load_dataset(name, root=missing, **quiet)
    message = str(err.value)
    assert "\n" not in message and "no-such-folder" in message, message


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_every_augmentation_is_seeded_and_keeps_the_batch(name) -> None:
    aug = build_augmentation(name)
    assert (inspect.getdoc(aug) or "").strip()
    x = torch.randn(6, 1, 16, 20)
    before = x.clone()

    def run(seed: int):
        gen = torch.Generator().manual_seed(seed)
        if name == "mixup":
            return aug(x, torch.arange(6) % 2, generator=gen).inputs
        return aug(x, generator=gen)

    out = run(0)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert torch.equal(run(0), out)  # the generator alone decides
    assert torch.equal(x, before)  # the input batch is not changed in place


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_descends(name) -> None:
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    opt = build_optimizer(name, [w], lr=0.1)
    assert (inspect.getdoc(OPTIMIZERS.get(name)) or "").strip()
    for _ in range(5):
        opt.zero_grad()
        (w**2).sum().backward()
        opt.step()
    assert float((w**2).sum().detach()) < 13.0


@pytest.mark.parametrize("package", PACKAGES)
def test_all_lists_exactly_the_public_names(package) -> None:
    mod = importlib.import_module(package)
    names = list(mod.__all__)
    assert len(set(names)) == len(names), f"{package}.__all__ repeats a name"
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing, f"{package}.__all__ names what it lacks: {missing}"
    public = {n for n, v in vars(mod).items() if not n.startswith("_")
              and not inspect.ismodule(v) and getattr(v, "__module__", package) != "__future__"}
    public -= {"annotations"}
    unlisted = sorted(public - set(names))
    assert not unlisted, f"{package} exports names missing from __all__: {unlisted}"
