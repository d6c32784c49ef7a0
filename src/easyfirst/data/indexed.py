"""``WithIndex``: make any map-style dataset also return the sample index."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from torch.utils.data import Dataset

T = TypeVar("T")


class WithIndex(Dataset[tuple[int, T]], Generic[T]):
    """Wraps a dataset so that ``ds[i]`` is ``(i, item)``.

    Example:
        >>> ds = WithIndex([("a", 0), ("b", 1)])
        >>> ds[1]
        (1, ('b', 1))
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __getitem__(self, index: int) -> tuple[int, T]:
        return index, self.dataset[index]

    def __len__(self) -> int:
        return len(self.dataset)
