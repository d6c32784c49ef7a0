"""Learning-rate schedules: shapes, registry, and that the loop applies them per step."""

from __future__ import annotations

import math

import pytest
import torch

from easyfirst.data import load_dataset
from easyfirst.training.config import RunConfig
from easyfirst.training.schedule import SCHEDULES, lr_factor, set_lr


def test_onecycle_warms_up_then_decays() -> None:
    assert lr_factor("onecycle", 0.0) == pytest.approx(1 / 25)
    assert lr_factor("onecycle", 0.3) == pytest.approx(1.0)
    assert lr_factor("onecycle", 0.15) == pytest.approx((1 / 25 + 1) / 2)
    assert lr_factor("onecycle", 1.0) == pytest.approx(0.0, abs=1e-12)
    ts = [i / 100 for i in range(101)]
    values = [lr_factor("onecycle", t) for t in ts]
    peak = values.index(max(values))
    assert all(a <= b for a, b in zip(values[:peak], values[1 : peak + 1], strict=True))
    assert all(a >= b for a, b in zip(values[peak:-1], values[peak + 1 :], strict=True))


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_every_schedule_is_a_factor_in_0_1_and_clamps(name: str) -> None:
    for t in (-1.0, 0.0, 0.25, 0.5, 0.99, 1.0, 2.0):
        v = lr_factor(name, t)
        assert 0.0 <= v <= 1.0 and math.isfinite(v)
    assert lr_factor(name, -5.0) == lr_factor(name, 0.0)
    assert lr_factor(name, 5.0) == lr_factor(name, 1.0)


def test_set_lr_fills_tensor_lrs_in_place() -> None:
    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.Adam([p], lr=torch.tensor(0.1))
    lr = opt.param_groups[0]["lr"]
    set_lr(opt, 0.25)
    assert opt.param_groups[0]["lr"] is lr and lr.item() == 0.25
    plain = torch.optim.SGD([p], lr=0.1)
    set_lr(plain, 0.5)
    assert plain.param_groups[0]["lr"] == 0.5


def test_unknown_schedule_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="Unknown schedule 'oncycle'. Available: constant"):
        RunConfig(schedule="oncycle")


def test_the_loop_follows_the_schedule(monkeypatch) -> None:
    from easyfirst.training import engine, loop

    seen: list[float] = []
    real = engine.set_lr
    monkeypatch.setattr(engine, "set_lr", lambda opt, lr: (seen.append(lr), real(opt, lr)))
    bundle = load_dataset("digits")
    cfg = RunConfig(model="mlp", epochs=2, batch_size=256, lr=0.01, schedule="onecycle",
                    device="cpu")
    loop.train(bundle, cfg, progress=False)
    steps = math.ceil(len(bundle.train) / 256)
    want = [0.01 * lr_factor("onecycle", (e + k / steps) / 2) for e in range(2)
            for k in range(steps)]
    assert seen == pytest.approx(want)
