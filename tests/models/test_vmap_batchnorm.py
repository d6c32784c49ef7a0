from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from easyfirst.models.vmap_batchnorm import VmapBatchNorm, vmap_safe


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: nn.BatchNorm2d(3), (5, 3, 4, 6)),
        (lambda: nn.BatchNorm1d(4), (7, 4)),
        (lambda: nn.BatchNorm1d(4), (7, 4, 5)),
        (lambda: nn.BatchNorm2d(3, momentum=None), (5, 3, 4, 6)),
        (lambda: nn.BatchNorm2d(3, affine=False), (5, 3, 4, 6)),
        (lambda: nn.BatchNorm2d(3, track_running_stats=False), (5, 3, 4, 6)),
    ],
)
def test_same_function_and_state_as_native(make, shape):
    torch.manual_seed(0)
    native = make().double()
    if native.weight is not None:
        nn.init.normal_(native.weight)
        nn.init.normal_(native.bias)
    mine = VmapBatchNorm(copy.deepcopy(native))
    for step in range(3):
        x = torch.randn(*shape, dtype=torch.float64) * (step + 1) + step
        torch.testing.assert_close(mine(x), native(x), rtol=0, atol=1e-12)
    for key, value in native.state_dict().items():
        torch.testing.assert_close(mine.state_dict()[key], value, rtol=0, atol=1e-12, msg=key)
    native.eval()
    mine.eval()
    x = torch.randn(*shape, dtype=torch.float64)
    torch.testing.assert_close(mine(x), native(x), rtol=0, atol=1e-12)


def test_vmapped_members_match_their_own_modules():
    torch.manual_seed(0)
    members = [
        nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU()).double() for _ in range(3)
    ]
    for m in members:
        nn.init.normal_(m[1].weight)
    params, buffers = stack_module_state(members)
    base = vmap_safe(copy.deepcopy(members[0]).to("meta"))
    assert isinstance(base[1], VmapBatchNorm)

    def one(p, b, x):
        return functional_call(base, (p, b), (x,))

    x = torch.randn(3, 4, 2, 6, 6, dtype=torch.float64)
    out = torch.vmap(one, randomness="different")(params, buffers, x)
    for k, m in enumerate(members):
        torch.testing.assert_close(out[k], m(x[k]), rtol=0, atol=1e-12)
        torch.testing.assert_close(buffers["1.running_var"][k], m[1].running_var)
        assert int(buffers["1.num_batches_tracked"][k]) == 1


def test_low_precision_input_is_normalised_in_the_parameter_dtype():
    bn = VmapBatchNorm(nn.BatchNorm2d(3))
    y = bn(torch.randn(4, 3, 5, 5).bfloat16())
    assert y.dtype == torch.float32
    assert bn.running_mean.dtype == torch.float32
