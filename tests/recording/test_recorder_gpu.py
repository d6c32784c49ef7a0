"""The recorder's per-batch path must not synchronise with the host (GPU only)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from easyfirst.recording import OutcomeRecorder


@pytest.mark.gpu
def test_training_steps_never_sync():
    dev = torch.device("cuda")
    n, c = 512, 10
    x = torch.randn(n, 20, device=dev)
    y = torch.randint(0, c, (n,), device=dev)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, c)).to(dev)
    opt = torch.optim.Adam(model.parameters(), capturable=True)
    rec = OutcomeRecorder(n, device=dev, keep_history=True, epochs=2, outcomes="all")
    order = torch.randperm(n, device=dev)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for s in range(0, n, 32):
            idx = order[s : s + 32]
            logits = model(x[idx])
            per = nn.functional.cross_entropy(logits, y[idx], reduction="none")
            opt.zero_grad(set_to_none=True)
            per.mean().backward()
            opt.step()
            rec.update(idx, logits, y[idx], loss=per)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    rec.end_epoch()
    assert 0.0 <= float(rec.dynamics().cumacc().max()) <= 1.0


@pytest.mark.gpu
def test_checks_and_counts_never_sync_per_batch():
    """Bad targets and NaN logits are counted on the device; one sync, in end_epoch."""
    dev = torch.device("cuda")
    rec = OutcomeRecorder(64, device=dev)
    z = torch.randn(64, 5, device=dev)
    z[::7, 2] = float("nan")
    y = torch.randint(0, 5, (64,), device=dev)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for s in range(0, 64, 16):
            rec.update(torch.arange(s, s + 16, device=dev), z[s : s + 16], y[s : s + 16],
                       weight=torch.ones(16, device=dev))
    finally:
        torch.cuda.set_sync_debug_mode(0)
    rec.end_epoch()
    assert rec.dynamics().meta["nonfinite_logits"] == 10
    y[3] = 9
    torch.cuda.set_sync_debug_mode("error")
    try:
        rec.update(torch.arange(64, device=dev), z, y)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    with pytest.raises(ValueError, match="got 1 outside it"):
        rec.end_epoch()
