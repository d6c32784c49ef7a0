"""Speed settings: per-device defaults, autocast, channels_last, opt-in compile."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from easyfirst.training import precision as precision_mod
from easyfirst.training.precision import Precision

CPU = torch.device("cpu")


def test_auto_on_cpu_is_plain_fp32():
    for shape in [(1, 64, 501), (3, 32, 32), (20,)]:
        p = Precision.resolve("auto", CPU, input_shape=shape)
        assert p == Precision("fp32", channels_last=False, compile=False)
        assert p.amp_dtype is None
    assert Precision.resolve(None, CPU, input_shape=(20,)).autocast == "fp32"


def test_auto_on_cuda_is_bf16_and_channels_last_for_images(monkeypatch):
    cuda = torch.device("cuda")
    monkeypatch.setattr(precision_mod, "_cuda_bf16", lambda device: True)
    p = Precision.resolve("auto", cuda, input_shape=(1, 64, 501))
    assert (p.autocast, p.channels_last, p.amp_dtype) == ("bf16", True, torch.bfloat16)
    assert not Precision.resolve("auto", cuda, input_shape=(40,)).channels_last
    assert Precision.resolve("auto", cuda, input_shape=(3, 8, 8), dtype=torch.float64).autocast == (
        "fp32"
    )
    assert not Precision.resolve(
        "fp32", cuda, input_shape=(3, 8, 8), channels_last=False
    ).channels_last
    monkeypatch.setattr(precision_mod, "_cuda_bf16", lambda device: False)
    assert Precision.resolve("auto", cuda, input_shape=(3, 8, 8)).autocast == "fp32"
    with pytest.raises(ValueError, match="no bf16 support"):
        Precision.resolve("bf16", cuda, input_shape=(3, 8, 8))


def test_explicit_settings_and_errors():
    p = Precision.resolve("BF16", CPU, input_shape=(3, 8, 8), channels_last=True, compile=True)
    assert p == Precision("bf16", channels_last=True, compile=True)
    assert Precision.resolve(p, CPU, input_shape=(1,)) is p
    with pytest.raises(ValueError, match="Available: auto, fp32, bf16"):
        Precision.resolve("fp8", CPU, input_shape=(3, 8, 8))
    with pytest.raises(ValueError, match="float32 runs"):
        Precision.resolve("bf16", CPU, input_shape=(3, 8, 8), dtype=torch.float64)
    with pytest.raises(ValueError, match="Unknown autocast"):
        Precision("fp16")
    assert p.to_dict() == {
        "autocast": "bf16",
        "channels_last": True,
        "compile": True,
        "cuda_graphs": False,
        "cudnn_benchmark": False,
    }


def test_autocast_context():
    conv = nn.Conv2d(3, 4, 3)
    x = torch.randn(2, 3, 8, 8)
    with Precision("bf16").autocast_context(CPU):
        assert conv(x).dtype == torch.bfloat16
    with Precision("fp32").autocast_context(CPU):
        assert conv(x).dtype == torch.float32


def test_channels_last_conversions():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    x = torch.randn(2, 3, 8, 8)
    on = Precision("fp32", channels_last=True)
    off = Precision("fp32")
    assert off.prepare_batch(x) is x
    y = on.prepare_batch(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(x, y)
    flat = torch.randn(2, 5)
    assert on.prepare_batch(flat) is flat
    assert on.prepare_model(model) is model
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(model(y), model(x))


def test_compile_is_opt_in(monkeypatch):
    calls = []

    def fake_compile(fn):
        calls.append(fn)
        return fn

    monkeypatch.setattr(torch, "compile", fake_compile)

    def f(x):
        return x

    assert Precision().compiled(f) is f
    assert calls == []
    assert Precision(compile=True).compiled(f) is f
    assert calls == [f]


@pytest.mark.gpu
def test_gpu_auto_settings_and_compiled_step():
    dev = torch.device("cuda")
    p = Precision.resolve("auto", dev, input_shape=(3, 16, 16), compile=True)
    assert p.channels_last
    model = p.prepare_model(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten()).to(dev))
    fwd = p.compiled(model)
    x = p.prepare_batch(torch.randn(4, 3, 16, 16, device=dev))
    with p.autocast_context(dev):
        out = fwd(x)
    assert out.shape == (4, 8 * 14 * 14)
    out.float().sum().backward()
    assert model[0].weight.grad is not None
