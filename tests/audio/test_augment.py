"""Batch augmentations: shapes, determinism, effects, errors."""

from __future__ import annotations

import pytest
import torch

from easyfirst.audio import (
    AUGMENTATIONS,
    Compose,
    Mixup,
    NoiseMix,
    RandomTimeShift,
    SpecAugment,
    build_augmentation,
    mixup_cross_entropy,
)

torch.set_num_threads(1)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _features(b: int = 8) -> torch.Tensor:
    return torch.randn(b, 1, 64, 101, generator=_gen(123)) + 5.0


def _waves(b: int = 8, t: int = 4000) -> torch.Tensor:
    return torch.randn(b, t, generator=_gen(7)) * torch.linspace(0.1, 1.0, b).unsqueeze(1)


SHAPE_PRESERVING = [
    (SpecAugment(2, 8, 2, 20), _features),
    (RandomTimeShift(10), _features),
    (RandomTimeShift(10, mode="pad"), _waves),
    (NoiseMix((0.0, 20.0)), _waves),
    (Compose([SpecAugment(), RandomTimeShift(5)]), _features),
]


@pytest.mark.parametrize(("aug", "make"), SHAPE_PRESERVING, ids=lambda v: type(v).__name__)
def test_shape_and_determinism(aug: torch.nn.Module, make) -> None:
    x = make()
    before = x.clone()
    a = aug(x, generator=_gen(0))
    b = aug(x, generator=_gen(0))
    c = aug(x, generator=_gen(1))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(x, before)  # input untouched
    assert torch.equal(aug(x, generator=0), aug(x, generator=_gen(0)))  # seed == generator


def test_global_rng_untouched() -> None:
    state = torch.get_rng_state()
    SpecAugment()(_features(), generator=0)
    NoiseMix()(_waves(), generator=0)
    Mixup()(_features(), torch.arange(8), generator=0)
    assert torch.equal(torch.get_rng_state(), state)


def test_specaugment_masks_applied() -> None:
    x = _features()
    out = SpecAugment(freq_masks=1, freq_width=10, time_masks=0, time_width=0)(x, generator=0)
    masked = out != x
    # whole mel rows are masked (frequency masks span all frames), at most 10 per example
    rows = masked.all(dim=-1)
    assert torch.equal(masked, rows.unsqueeze(-1).expand_as(masked))
    assert rows.sum(dim=-1).max().item() <= 10
    assert rows.any()
    torch.testing.assert_close(out[masked], x.mean().expand(int(masked.sum())))

    out = SpecAugment(0, 0, time_masks=2, time_width=30, fill="zero")(x, generator=1)
    cols = (out == 0).all(dim=-2)  # (B, 1, L)
    assert cols.any() and cols.sum(dim=-1).max().item() <= 60
    assert torch.equal(out == 0, cols.unsqueeze(-2).expand_as(out))


def test_specaugment_wider_than_input() -> None:
    out = SpecAugment(1, 1000, 1, 1000)(torch.ones(4, 8, 10), generator=0)
    assert out.shape == (4, 8, 10)


def test_time_shift_roll_and_pad() -> None:
    x = torch.arange(20.0).repeat(4, 1)  # (4, 20)
    rolled = RandomTimeShift(5)(x, generator=3)
    for row in rolled:
        shift = int((-row[0]) % 20)
        assert torch.equal(row, torch.roll(x[0], shift))
        assert shift <= 5 or shift >= 15
    padded = RandomTimeShift(5, mode="pad")(x + 1, generator=3)
    for row, r in zip(padded, rolled, strict=True):
        keep = row != 0
        assert torch.equal(row[keep] - 1, r[keep])
        assert (~keep).sum() <= 5


@pytest.mark.parametrize("bank", [None, "short", "long"])
def test_noise_mix_snr_achieved(bank: str | None) -> None:
    x = _waves()
    noise = {
        None: None,
        "short": torch.randn(3, 1500, generator=_gen(9)),
        "long": torch.randn(5, 9000, generator=_gen(9)),
    }[bank]
    aug = NoiseMix((5.0, 5.0), noise=noise)
    out = aug(x, generator=0)
    added = out - x
    snr = 10 * torch.log10(x.pow(2).mean(1) / added.pow(2).mean(1))
    torch.testing.assert_close(snr, torch.full_like(snr, 5.0), rtol=0, atol=1e-3)

    wide = NoiseMix((0.0, 30.0))(x, generator=0)
    snr = 10 * torch.log10(x.pow(2).mean(1) / (wide - x).pow(2).mean(1))
    assert snr.min() >= -1e-3 and snr.max() <= 30 + 1e-3 and snr.std() > 1.0


def test_noise_mix_multichannel_and_silence() -> None:
    x = torch.zeros(2, 2, 1000)
    x[0] = torch.randn(2, 1000, generator=_gen(2))
    out = NoiseMix((10.0, 10.0))(x, generator=0)
    assert torch.equal(out[1], x[1])  # silent stays silent
    added = out[0] - x[0]
    snr = 10 * torch.log10(x[0].pow(2).mean() / added.pow(2).mean())
    assert abs(snr.item() - 10.0) < 1e-3


def test_mixup() -> None:
    x, y = _features(), torch.arange(8)
    res = Mixup(alpha=0.4)(x, y, generator=0)
    assert res.inputs.shape == x.shape and res.lam.shape == (8,)
    assert ((res.lam >= 0) & (res.lam <= 1)).all()
    assert torch.equal(res.lam, res.lam[:1].expand(8))  # one lam per batch by default
    assert torch.equal(res.targets_a, y)
    assert sorted(res.targets_b.tolist()) == list(range(8))
    lam = res.lam.view(8, 1, 1, 1)
    torch.testing.assert_close(res.inputs, lam * x + (1 - lam) * x[res.targets_b])
    again = Mixup(alpha=0.4)(x, y, generator=0)
    assert torch.equal(again.inputs, res.inputs) and torch.equal(again.lam, res.lam)

    per = Mixup(alpha=1.0, per_example=True)(x, y, generator=1)
    assert ((per.lam >= 0) & (per.lam <= 1)).all() and per.lam.unique().numel() > 1

    logits = torch.randn(8, 8, generator=_gen(3))
    loss = mixup_cross_entropy(logits, res.targets_a, res.targets_b, res.lam)
    ce = torch.nn.functional.cross_entropy
    expected = res.lam[0] * ce(logits, y) + (1 - res.lam[0]) * ce(logits, res.targets_b)
    torch.testing.assert_close(loss, expected)


def test_registry() -> None:
    assert {"specaugment", "time_shift", "noise_mix", "mixup"} <= set(AUGMENTATIONS.names())
    aug = build_augmentation("specaugment", freq_masks=1)
    assert isinstance(aug, SpecAugment) and aug.freq_masks == 1
    with pytest.raises(KeyError, match="Unknown augmentation 'specaug'. Available: "):
        build_augmentation("specaug")


def test_errors() -> None:
    with pytest.raises(ValueError, match="freq_masks must be >= 0, got -1"):
        SpecAugment(freq_masks=-1)
    with pytest.raises(ValueError, match="Unknown fill 'median'"):
        SpecAugment(fill="median")
    with pytest.raises(ValueError, match="Unknown mode 'wrap'"):
        RandomTimeShift(3, mode="wrap")
    with pytest.raises(ValueError, match="low <= high"):
        NoiseMix((20.0, 10.0))
    with pytest.raises(ValueError, match="bank of shape"):
        NoiseMix(noise=torch.zeros(10))
    with pytest.raises(ValueError, match="alpha must be > 0"):
        Mixup(alpha=0.0)
    with pytest.raises(ValueError, match="targets with batch size 8"):
        Mixup()(_features(), torch.arange(3), generator=0)
    with pytest.raises(TypeError, match="Compose takes shape-preserving"):
        Compose([Mixup()])
    with pytest.raises(TypeError, match="torch.Generator or an int seed"):
        SpecAugment()(_features(), generator=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"expects a batch of shape \(B, 1, M, L\)"):
        SpecAugment()(torch.zeros(64, 101), generator=0)
