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
    rec = OutcomeRecorder(n, device=dev, keep_history=True, max_epochs=2)
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
