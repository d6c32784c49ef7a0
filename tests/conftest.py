"""Shared test set-up: one thread (2-core machines oversubscribe), paths, markers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

# A helper script of an optional extra's tests: not collected (--doctest-modules imports it)
# where the extra is missing; the tests that run it skip with the install command.
collect_ignore = [] if importlib.util.find_spec("lightning") else ["integrations/lit_task.py"]

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
FSDD = REPO.parent / "shared" / "data" / "fsdd" / "recordings"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (none here)")
    for item in items:
        if "gpu" in item.keywords:
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
