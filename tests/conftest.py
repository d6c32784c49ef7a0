"""Shared test set-up: one thread (2-core machines oversubscribe), paths, markers."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)
# The commands tests run in this process compute with $OMP_NUM_THREADS threads (--threads'
# default), as the torchrun workers they are compared with do: one, whatever the caller set.
os.environ["OMP_NUM_THREADS"] = "1"

# A helper script of an optional extra's tests: not collected (--doctest-modules imports it)
# where the extra is missing; the tests that run it skip with the install command.
collect_ignore = [] if importlib.util.find_spec("lightning") else ["integrations/lit_task.py"]

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
FSDD = REPO.parent / "shared" / "data" / "fsdd" / "recordings"


SLOW = {line.strip() for line in (REPO / "tests" / "slow_tests.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """GPU tests skip without CUDA; the tests listed in slow_tests.txt are marked slow
    (``pytest -m "not slow"``: the quick subset for development; CI runs everything)."""
    skip = pytest.mark.skip(reason="needs a CUDA GPU (none here)")
    for item in items:
        if item.nodeid in SLOW:
            item.add_marker(pytest.mark.slow)
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip)


@pytest.fixture
def fsdd_root() -> Path:
    if not FSDD.is_dir():
        pytest.skip(f"FSDD recordings not found at {FSDD} (a fresh clone has no ../shared)")
    return FSDD


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Feature caches go to one per-session temp folder, never to the user's home."""
    monkeypatch.setenv("EASYFIRST_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
