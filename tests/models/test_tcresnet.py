"""TC-ResNet shapes, per-bin input normalisation (train statistics only), recipes and auto."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.models import build_model
from easyfirst.models.image_cnn import ImageCNN
from easyfirst.models.input_norm import InputNorm, bin_statistics, fit_input_norms, silence_level
from easyfirst.models.recipes import auto_model, model_recipe
from easyfirst.training.config import RunConfig, configure
from easyfirst.training.loop import train

torch.set_num_threads(1)
SILENCE = -100.0  # 10 log10(1e-10): the PANNs presets' digital silence


@pytest.mark.parametrize("name", ["tcresnet8", "tcresnet14"])
@pytest.mark.parametrize("mels,frames", [(64, 101), (40, 51), (128, 32), (16, 7), (1, 1)])
def test_output_shape_for_any_mels_and_frames(name: str, mels: int, frames: int) -> None:
    model = build_model(name, input_shape=(1, mels, frames), num_classes=7).eval()
    assert model(torch.randn(3, 1, mels, frames)).shape == (3, 7)


def test_tcresnet_refuses_images_with_a_hint() -> None:
    with pytest.raises(ValueError, match=r"expects log-Mel inputs of shape \(1, mels, frames\)"):
        build_model("tcresnet8", input_shape=(3, 32, 32), num_classes=10)


def test_width_mult_scales_the_parameters() -> None:
    small = build_model("tcresnet8", input_shape=(1, 64, 101), num_classes=10, width_mult=1.0)
    big = build_model("tcresnet8", input_shape=(1, 64, 101), num_classes=10, width_mult=1.5)
    n_small = sum(p.numel() for p in small.parameters())
    n_big = sum(p.numel() for p in big.parameters())
    assert 60_000 < n_small < 80_000  # TC-ResNet8 is ~66k parameters at width 1 (12 classes)
    assert n_big > 1.8 * n_small


def test_bin_statistics_skip_silence_and_empty_bins() -> None:
    x = np.full((4, 1, 3, 5), SILENCE, dtype=np.float32)
    x[:, 0, 0, :2] = [[-40.0, -20.0]] * 4  # bin 0: real values in two frames, then padding
    x[:, 0, 1, :] = -50.0  # bin 1: constant
    mean, std = bin_statistics(x, dim=1, silence=silence_level({"amin": 1e-10, "ref": 1.0}))
    assert mean[0].item() == pytest.approx(-30.0)
    assert std[0].item() == pytest.approx(10.0)
    assert mean[1].item() == pytest.approx(-50.0) and std[1].item() > 0  # no zero division
    assert mean[2].item() == pytest.approx(SILENCE, abs=0.01) and std[2].item() == 1.0
    mean_all, _ = bin_statistics(x, dim=1, silence=None)  # keeping silence drags the mean
    assert mean_all[0].item() < -60


def test_padding_is_raised_to_the_floor() -> None:
    norm = InputNorm(2, dim=1, floor_sigma=3.0)
    norm.set_stats(torch.tensor([-30.0, -50.0]), torch.tensor([10.0, 5.0]))
    x = torch.tensor([[[[-30.0, SILENCE], [-45.0, SILENCE]]]])  # (1, 1, 2, 2)
    z = norm(x)
    assert z[0, 0, :, 0].tolist() == [0.0, 1.0]
    assert z[0, 0, :, 1].tolist() == [-3.0, -3.0]  # padding looks like the quietest sound


def _bundle(shift: float = 0.0) -> DatasetBundle:
    """Log-Mel-like data: classes differ in which bins are loud; test is shifted by ``shift``."""
    g = torch.Generator().manual_seed(0)

    def split(n: int, offset: float, tag: str) -> ArraySplit:
        y = torch.arange(n) % 3
        x = torch.randn(n, 1, 8, 12, generator=g) * 5 - 50 + offset
        for c in range(3):
            x[y == c, 0, 2 * c : 2 * c + 2] += 20
        x[:, :, :, 9:] = SILENCE  # zero padding at the end of every clip
        return ArraySplit(x, y, [f"{tag}{i}" for i in range(n)])

    info = {"features": {"amin": 1e-10, "ref": 1.0, "n_mels": 8}}
    return DatasetBundle("toy-logmel", split(96, 0.0, "tr"), split(30, 0.0, "dv"),
                         split(30, shift, "te"), ["a", "b", "c"], info=info)


def test_normalisation_uses_train_statistics_only_and_is_saved(tmp_path) -> None:
    bundle = _bundle(shift=30.0)
    cfg, _ = configure(bundle, epochs=2, device="cpu", batch_size=16)
    res = train(bundle, cfg, out_dir=tmp_path, progress=False)
    norm = res.model.norm
    want_mean, want_std = bin_statistics(bundle.train.inputs, dim=1, silence=SILENCE + 1e-3)
    torch.testing.assert_close(norm.mean, want_mean)
    torch.testing.assert_close(norm.std, want_std)
    assert bool(norm.fitted)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["model"]
    torch.testing.assert_close(state["norm.mean"], want_mean)  # stored with the run
    test_mean, _ = bin_statistics(bundle.test.inputs, dim=1, silence=SILENCE + 1e-3)
    assert not torch.allclose(norm.mean, test_mean)  # the shifted test split did not leak in


def test_fit_input_norms_is_a_no_op_without_one() -> None:
    model = build_model("mlp", input_shape=(4,), num_classes=2)
    assert fit_input_norms(model, torch.zeros(3, 4)) is None


def test_auto_picks_by_input_kind() -> None:
    assert auto_model((1, 64, 101), {"features": {"n_mels": 64}})[0] == "tcresnet8"
    assert auto_model((1, 28, 28), {})[0] == "image_cnn"
    assert auto_model((3, 32, 32), {})[0] == "image_cnn"
    assert auto_model((20,), {})[0] == "mlp"


def test_configure_applies_the_recipe_only_where_unset() -> None:
    bundle = _bundle()
    cfg, note = configure(bundle)
    recipe = model_recipe("tcresnet8")
    assert (cfg.model, cfg.lr, cfg.schedule) == ("tcresnet8", recipe.lr, recipe.schedule)
    assert note.startswith("model auto -> tcresnet8 (log-Mel inputs (1, 8, 12))")
    cfg, note = configure(bundle, lr=0.5, schedule="constant")
    assert (cfg.lr, cfg.schedule) == (0.5, "constant")
    cfg, _ = configure(bundle, model="small_cnn")
    assert (cfg.lr, cfg.schedule) == (1e-3, "constant")  # no recipe: the plain defaults


def test_auto_keeps_digits_working() -> None:
    from easyfirst.data import load_dataset

    bundle = load_dataset("digits")
    cfg, note = configure(bundle, epochs=1, device="cpu")
    assert cfg.model == "image_cnn" and "image-like" in note
    res = train(bundle, cfg, progress=False)
    assert res.test_accuracy is not None and res.test_accuracy > 0.2
    flat = train(bundle, RunConfig(model="auto", epochs=1, device="cpu"), progress=False)
    assert isinstance(flat.model, ImageCNN)  # train() resolves auto itself


def test_tcresnet_learns_the_toy_task() -> None:
    bundle = _bundle()
    cfg, _ = configure(bundle, epochs=6, device="cpu", batch_size=16)
    res = train(bundle, cfg, progress=False)
    assert res.metrics[-1]["train_accuracy"] > 0.9


@pytest.mark.slow
def test_default_recipe_learns_real_speech(fsdd_root) -> None:
    """FSDD (official split), a 1,200-clip training subset: the defaults pass 0.9 in 6 epochs."""
    from easyfirst.data import load_dataset

    full = load_dataset("fsdd", root=fsdd_root, progress=False)
    keep = np.arange(0, len(full.train), 2)  # 1,200 of 2,400 clips, every digit and speaker
    bundle = DatasetBundle(full.name, full.train.subset(keep), full.dev, full.test,
                           full.class_names, info=full.info)
    cfg, note = configure(bundle, epochs=6, device="cpu")
    assert cfg.model == "tcresnet8", note
    res = train(bundle, cfg, progress=False)
    assert res.metrics[-1]["train_accuracy"] >= 0.9, res.metrics
    assert res.test_accuracy is not None and res.test_accuracy >= 0.9


def test_padding_policy_end_to_end() -> None:
    """A short clip is zero-padded at the end; its padding is digital silence at the log floor,
    which after the fitted normalisation is no lower than the floor and no louder than the
    quietest real frame of its bin."""
    from easyfirst.audio.cache import FeatureSpec, fix_length

    spec = FeatureSpec.resolve("panns16k", duration=1.0)
    t = np.arange(4000) / 16000.0
    clip = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)  # 0.25 s of tone
    wave = fix_length(clip, spec.num_samples)
    assert wave.shape == (16000,) and not wave[4000:].any()  # zeros at the end
    assert fix_length(np.ones(20000, np.float32), 16000).shape == (16000,)  # cropped
    feats = spec.compute(wave[None])  # (1, 1, 64, 101)
    tail = feats[0, 0, :, -20:]
    silence = silence_level(spec.to_json()["logmel"])
    assert silence is not None and (tail <= silence).all()  # padding sits at -100 dB
    norm = InputNorm(64, dim=1)
    mean, std = bin_statistics(np.repeat(feats, 4, axis=0), dim=1, silence=silence)
    norm.set_stats(mean, std)
    z = norm(torch.from_numpy(feats))[0, 0]  # (64, 101)
    pad, real = z[:, -20:], z[:, :20]
    assert torch.all(pad >= -norm.floor_sigma)
    assert torch.all(pad <= real.min(dim=1, keepdim=True).values + 1e-6)
    assert (pad == -norm.floor_sigma).float().mean() > 0.5  # most bins: at the floor


def test_split_statistics_are_computed_once_while_the_inputs_live(monkeypatch) -> None:
    """The seeds of a score run and the members of a stack share one pass over the data."""
    import gc

    from easyfirst.models import input_norm

    calls = []
    real = input_norm.bin_statistics
    monkeypatch.setattr(input_norm, "bin_statistics",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    x = np.random.default_rng(0).normal(size=(6, 1, 4, 5)).astype(np.float32)
    first = input_norm.split_statistics(x, dim=1, silence=None)
    again = input_norm.split_statistics(x, dim=1, silence=None)
    assert len(calls) == 1 and all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    first[0].fill_(99.0)  # a caller's copy: the cached statistics stay as they were
    assert torch.equal(input_norm.split_statistics(x, dim=1, silence=None)[1], again[1])
    assert not torch.equal(input_norm.split_statistics(x, dim=1, silence=None)[0], first[0])
    cached = len(input_norm._STATS)
    del x
    gc.collect()
    assert len(input_norm._STATS) == cached - 1  # forgotten with its array
