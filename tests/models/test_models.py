"""Every registered model: output shape and backward; PANNs checkpoints; parameter counts."""

from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.nn.functional as F

from easyfirst.models import MODELS, build_model
from easyfirst.models.panns import cnn10, load_panns_checkpoint, to_panns_state_dict
from easyfirst.models.resnet import resnet18

torch.set_num_threads(1)

HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", MODELS.names())
def test_model_output_shape_and_backward(name: str) -> None:
    meta = MODELS.meta(name)  # registered with the model: what a test may feed it
    needs = meta.get("requires")
    if needs and importlib.util.find_spec(needs) is None:
        pytest.skip(f"{name} needs {needs}, which is not installed here")
    torch.manual_seed(0)
    shape = meta.get("test_input_shape", (3, 16, 16))  # default: a tiny 3-channel image
    model = build_model(name, input_shape=shape, num_classes=5)
    x = torch.randn(2, *shape)
    out = model(x)
    assert out.shape == (2, 5)
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.skipif(HAS_TORCHVISION, reason="torchvision is installed; the error path is moot")
def test_efficientnet_without_torchvision_says_how_to_install() -> None:
    with pytest.raises(ImportError, match=r"pip install 'easyfirst\[vision\]'"):
        build_model("efficientnet_b0", input_shape=(3, 32, 32), num_classes=10)


def test_param_counts_match_panns_papers() -> None:
    # Counted on the meta device: no memory, no init cost. Kong et al. (2020), Table III.
    with torch.device("meta"):
        n10 = _params(build_model("cnn10", input_shape=(1, 64, 1001), num_classes=527))
        n14 = _params(build_model("cnn14", input_shape=(1, 64, 1001), num_classes=527))
        n18 = _params(build_model("resnet18", input_shape=(3, 32, 32), num_classes=10))
    assert n10 == pytest.approx(5.2e6, rel=0.01)
    assert n14 == pytest.approx(80.8e6, rel=0.01)
    assert n18 == pytest.approx(11.17e6, rel=0.01)


def test_too_small_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        build_model("cnn14", input_shape=(1, 16, 100), num_classes=3)


def test_embedding_layers_name_real_modules() -> None:
    model = cnn10(input_shape=(1, 16, 16), num_classes=3)
    names = dict(model.named_modules())
    layers = model.embedding_layers()
    assert layers == ["block1", "block2", "block3", "block4", "fc1"]
    assert all(n in names for n in layers)
    resnet = resnet18(input_shape=(3, 8, 8), num_classes=3)
    assert resnet.embedding_layers() == ["stem", "layer1", "layer2", "layer3", "layer4"]


def _panns_reference(sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """PANNs CNN10 in eval mode on its own layout ``x (B, 1, frames, mels)``, from its keys."""

    def bn(t: torch.Tensor, k: str) -> torch.Tensor:
        return F.batch_norm(t, sd[f"{k}.running_mean"], sd[f"{k}.running_var"],
                            sd[f"{k}.weight"], sd[f"{k}.bias"], False, 0.0, 1e-5)

    x = bn(x.transpose(1, 3), "bn0").transpose(1, 3)
    for i in range(1, 5):
        for j in (1, 2):
            x = F.relu(bn(F.conv2d(x, sd[f"conv_block{i}.conv{j}.weight"], padding=1),
                          f"conv_block{i}.bn{j}"))
        x = F.avg_pool2d(x, 2)
    x = x.mean(dim=3)
    x = x.amax(dim=2) + x.mean(dim=2)
    x = F.relu(F.linear(x, sd["fc1.weight"], sd["fc1.bias"]))
    return F.linear(x, sd["fc_audioset.weight"], sd["fc_audioset.bias"])


def test_panns_checkpoint_roundtrip_and_same_function(tmp_path) -> None:
    torch.manual_seed(0)
    shape = (1, 16, 24)
    source = cnn10(input_shape=shape, num_classes=7)
    for m in source.modules():  # non-trivial BN statistics so that bn0's mapping is tested
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    sd = to_panns_state_dict(source)
    sd["spectrogram_extractor.stft.conv_real.weight"] = torch.zeros(3)
    sd["logmel_extractor.melW"] = torch.zeros(3)
    path = tmp_path / "Cnn10_test.pth"
    torch.save({"model": sd, "iteration": 1}, path)

    loaded = cnn10(input_shape=shape, num_classes=7, checkpoint=str(path))
    for (k, a), b in zip(source.state_dict().items(), loaded.state_dict().values(), strict=True):
        if not k.startswith("head."):
            assert torch.equal(a, b), k
    loaded.head.load_state_dict(source.head.state_dict())  # the head is never loaded

    x = torch.randn(2, *shape)  # (B, 1, mels, frames)
    ours = loaded.eval()(x)
    reference = _panns_reference(sd, x.transpose(2, 3))
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-5)

    bare = tmp_path / "bare.pth"  # a bare state dict works too
    torch.save(sd, bare)
    load_panns_checkpoint(cnn10(input_shape=shape, num_classes=2), bare)


def test_panns_checkpoint_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        build_model("cnn10", input_shape=(1, 16, 16), num_classes=2,
                    checkpoint=str(tmp_path / "nowhere.pth"))
    small = cnn10(input_shape=(1, 16, 16), num_classes=2)
    path = tmp_path / "cnn10.pth"
    sd = to_panns_state_dict(small)
    torch.save({"model": sd}, path)
    with pytest.raises(ValueError, match="shape mismatches"):  # 3 input channels vs 1
        build_model("cnn10", input_shape=(3, 16, 16), num_classes=2, checkpoint=str(path))
    del sd["conv_block2.conv1.weight"]
    sd["conv_block9.conv1.weight"] = torch.zeros(1)
    torch.save({"model": sd}, path)
    with pytest.raises(ValueError, match=r"missing \[block2\.conv1\.weight\]; unexpected "
                                         r"\[conv_block9"):
        load_panns_checkpoint(small, path)
    torch.save([1, 2], path)
    with pytest.raises(ValueError, match="Expected a state dict"):
        load_panns_checkpoint(small, path)
