"""The image model ``auto`` picks, its recipe and its augmentation (``random_shift``)."""

from __future__ import annotations

import pytest
import torch

from easyfirst.data import load_dataset
from easyfirst.data.image_augment import RandomShift
from easyfirst.estimators.features import default_layers
from easyfirst.models import build_model
from easyfirst.models.image_cnn import IMAGE_RECIPE, ImageCNN
from easyfirst.models.recipes import IMAGE_MODEL, auto_model, model_recipe
from easyfirst.training.config import configure
from easyfirst.training.loop import train

torch.set_num_threads(1)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 5, 7)])
def test_any_image_size_gives_logits(shape) -> None:
    torch.manual_seed(0)
    model = build_model("image_cnn", input_shape=shape, num_classes=4)
    out = model(torch.rand(3, *shape))
    assert out.shape == (3, 4) and torch.isfinite(out).all()


def test_probe_layers_are_real_modules() -> None:
    model = build_model("image_cnn", input_shape=(1, 8, 8), num_classes=3, widths=(8, 16, 24, 32))
    names = dict(model.named_modules())
    layers = default_layers(model)
    assert layers == ["stem", "block1", "block2", "block3", "pool"]
    assert all(n in names for n in layers)
    seen = {}
    hooks = [names[n].register_forward_hook(
        lambda _m, _i, o, n=n: seen.__setitem__(n, tuple(o.shape))) for n in layers]
    model.eval()(torch.rand(2, 1, 8, 8))
    for h in hooks:
        h.remove()
    # stride-2 stem 8 -> 4, pools after every block but the last: 4 -> 2 -> 1, pool: mean + max
    assert seen == {"stem": (2, 8, 4, 4), "block1": (2, 16, 2, 2), "block2": (2, 24, 1, 1),
                    "block3": (2, 32, 1, 1), "pool": (2, 64)}


@pytest.mark.parametrize("kwargs, match", [
    ({"input_shape": (64,)}, r"expects inputs of shape \(C, H, W\); got \(64,\)"),
    ({"input_shape": (1, 8, 8), "widths": (32,)}, r"at least one block.*got widths=\(32,\)"),
    ({"input_shape": (1, 8, 8), "stem_stride": 0}, r"stem_stride >= 1.*stem_stride=0"),
])
def test_bad_options_are_one_line_errors(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match) as err:
        build_model("image_cnn", num_classes=3, **kwargs)
    assert "\n" not in str(err.value)


def test_auto_picks_image_cnn_and_its_recipe_for_images() -> None:
    assert IMAGE_MODEL == "image_cnn"
    for shape in [(1, 8, 8), (1, 28, 28), (3, 32, 32)]:
        assert auto_model(shape, {}) == ("image_cnn", f"image-like inputs {shape}")
    assert model_recipe("image_cnn") == IMAGE_RECIPE
    assert "hflip" not in IMAGE_RECIPE.augment  # a mirrored digit is not the same digit
    assert model_recipe("small_cnn") != IMAGE_RECIPE  # small_cnn itself is unchanged


def test_random_shift_moves_by_at_most_its_share_of_the_side() -> None:
    shift = RandomShift()
    assert [shift.max_shift(s, s) for s in (8, 28, 32, 64)] == [1, 2, 2, 4]
    x = torch.zeros(64, 1, 8, 8)
    x[:, :, 3, 4] = 1.0  # one lit pixel per image
    out = shift(x, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.equal(out.sum((1, 2, 3)), x.sum((1, 2, 3)))
    rows, cols = out[:, 0].nonzero()[:, 1], out[:, 0].nonzero()[:, 2]
    assert (rows - 3).abs().max() == 1 and (cols - 4).abs().max() == 1  # every offset drawn
    assert not torch.equal(out, x)


def test_random_shift_refuses_a_bad_fraction() -> None:
    with pytest.raises(ValueError, match=r"0 < fraction < 0\.5.*got 0\.7"):
        RandomShift(0.7)


def test_auto_learns_digits_with_its_recipe() -> None:
    bundle = load_dataset("digits")
    cfg, note = configure(bundle, epochs=5, device="cpu")
    assert cfg.model == "image_cnn" and "recipe of image_cnn" in note
    assert (cfg.schedule, cfg.augment) == ("onecycle", ["random_shift"])
    res = train(bundle, cfg, progress=False)
    assert isinstance(res.model, ImageCNN)
    assert res.test_accuracy is not None and res.test_accuracy > 0.9, res.metrics
