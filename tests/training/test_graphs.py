"""GraphedStep bookkeeping (on CPU, with a stand-in for CUDA graphs) and real graphs on a GPU."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest
import torch
from torch import nn

from easyfirst.data import load_dataset
from easyfirst.training import graphs as graphs_mod
from easyfirst.training.config import RunConfig
from easyfirst.training.graphs import GraphedStep
from easyfirst.training.loop import train


class _FakeGraph:
    """Capture runs nothing and remembers the step; replay re-runs it on the static buffers."""

    capturing: _FakeGraph | None = None

    def __init__(self) -> None:
        self.replays = 0
        self.body = None

    def replay(self) -> None:
        self.replays += 1
        assert self.body is not None
        self.body()


@pytest.fixture
def fake_cuda(monkeypatch):
    @contextlib.contextmanager
    def graph(g):
        _FakeGraph.capturing = g
        yield
        _FakeGraph.capturing = None

    class _Stream:
        def wait_stream(self, other):
            pass

    fake = type(
        "FakeCuda",
        (),
        {
            "CUDAGraph": _FakeGraph,
            "graph": staticmethod(graph),
            "Stream": _Stream,
            "current_stream": staticmethod(_Stream),
            "stream": staticmethod(lambda s: contextlib.nullcontext()),
        },
    )
    monkeypatch.setattr(graphs_mod, "_cuda", fake)
    return fake


def test_warmup_capture_replay_and_eager_fallback(fake_cuda):
    w = nn.Parameter(torch.zeros(3))
    opt = torch.optim.SGD([w], lr=1.0)
    seen = []

    def step(x, *, scale):
        if _FakeGraph.capturing is not None:  # a real capture queues the step, runs nothing
            # A real replay writes fresh gradients; the stand-in zeroes them first.
            _FakeGraph.capturing.body = lambda: (
                opt.zero_grad(),
                step(runner._static[0], scale=scale),
            )
            return
        seen.append((float(x.flatten()[0]), scale))
        (w * x).sum().mul(scale).backward()
        opt.step()

    runner = GraphedStep(step, opt, enabled=True, warmup=2)
    for i in range(5):
        runner(torch.full((3,), float(i)), scale=0.5)
        assert runner.captured == (i >= 2)
    runner(torch.full((1, 3), 10.0), scale=0.5)  # another shape: eager
    runner(torch.full((3,), 20.0), scale=1.0)  # another constant: eager, same shape
    runner(torch.full((3,), 30.0), scale=0.5)  # the graphed signature again: replay
    assert seen == [(0, 0.5), (1, 0.5), (2, 0.5), (3, 0.5), (4, 0.5), (10, 0.5), (20, 1.0),
                    (30, 0.5)]
    assert runner.graph.replays == 4  # the captured step 2, then 3, 4 and 30
    # SGD with lr 1 and fresh gradients every step: w = -sum(scale * x)
    expected = -(0.5 * (0 + 1 + 2 + 3 + 4 + 10 + 30) + 20)
    torch.testing.assert_close(w.detach(), torch.full((3,), expected))


def test_disabled_runs_every_call_eagerly():
    w = nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([w], lr=1.0)
    calls = []

    def step(x):
        calls.append(x)
        (w * x).sum().backward()
        opt.step()

    runner = GraphedStep(step, opt, enabled=False)
    for _ in range(5):
        runner(torch.ones(2))
    assert len(calls) == 5 and not runner.captured
    torch.testing.assert_close(w.detach(), torch.full((2,), -5.0))


@pytest.mark.gpu
def test_gpu_graphed_run_equals_eager_run_in_float64():
    """Same init, order and arithmetic: replayed steps must give the eager run's results."""
    data = load_dataset("digits")  # 1,294 training samples: the last batch of 32 is partial
    cfg = RunConfig(
        model="small_cnn",
        model_options={"widths": [8, 16]},
        epochs=3,
        batch_size=32,
        device="cuda",
        dtype="float64",
        precision="fp32",
    )
    graphed = train(data, cfg, progress=False)
    eager = train(data, replace(cfg, cuda_graphs=False), progress=False)
    assert graphed.info["cuda_graph_captured"] and not eager.info["cuda_graph_captured"]
    for a, b in zip(graphed.metrics, eager.metrics, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-9)
    gd, ed = graphed.dynamics.to_dict(), eager.dynamics.to_dict()
    for key, value in gd.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            torch.testing.assert_close(value, ed[key], rtol=0, atol=1e-8, equal_nan=True, msg=key)
    torch.testing.assert_close(graphed.test_logits, eager.test_logits, rtol=0, atol=1e-8)
