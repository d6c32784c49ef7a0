"""Curriculum pools for multi-label data, and pools that keep every class present.

Multi-label targets are ``(N, C)`` multi-hot rows; a sample counts for every class it has.

* ``balanced`` (multi-label): label-frequency aware round robin, as AudioSet's balanced
  samplers do. Classes take turns, rarest (fewest positives in the data) first; each turn a
  class adds its easiest sample not yet in the pool (a sample already added for another of
  its labels counts for that class too, and the class passes its turn while it has as many
  as the others). Rare classes thus get their easy samples early; frequent ones do not fill
  the pool. Classes without samples left drop out; the pool always has ``size`` samples.
* ``cover`` (single- or multi-label): the ordering's first ``size`` samples, except that
  every class of the data is present from the first epoch: for each class missing from that
  prefix, its easiest sample replaces the hardest pooled sample not needed by another
  class. With fewer places than classes, the pool is the classes' easiest samples (larger
  than ``size``).

``stratified`` (class proportions) is single-label only.

Example:
    >>> import numpy as np
    >>> y = np.array([[1, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0]])
    >>> label_balanced_pool(np.arange(5), y, 3).tolist()   # class 2 (rarest) first
    [0, 2, 3]
    >>> cover_pool(np.arange(5), y, 2).tolist()  # 2 places, 3 classes: 2 and 3 cover them
    [2, 3]
"""

from __future__ import annotations

import numpy as np


def _positives(targets: np.ndarray) -> np.ndarray:
    """(N, C) bool: multi-hot rows as they are; class ids (N,) as one-hot."""
    t = np.asarray(targets)
    if t.ndim == 2:
        return t > 0.5
    classes = int(t.max()) + 1 if t.size else 0
    return np.eye(classes, dtype=bool)[t.astype(np.int64)]


def label_balanced_pool(ordering: np.ndarray, targets: np.ndarray, size: int) -> np.ndarray:
    """``size`` samples by rarest-first class round robin (module notes), in ordering order."""
    pos = _positives(targets)
    queues = [ordering[pos[ordering, c]] for c in range(pos.shape[1])]  # easiest first
    heads = np.zeros(len(queues), dtype=np.int64)
    have = np.zeros(len(queues), dtype=np.int64)
    taken = np.zeros(len(pos), dtype=bool)
    turns = [int(c) for c in np.argsort(pos.sum(0), kind="stable") if len(queues[c])]
    count = 0
    while count < size and turns:
        level = min(have[c] for c in turns)
        for c in list(turns):
            if count >= size:
                break
            if have[c] > level:
                continue
            q = queues[c]
            while heads[c] < len(q) and taken[q[heads[c]]]:
                heads[c] += 1
            if heads[c] == len(q):
                turns.remove(c)
                continue
            taken[q[heads[c]]] = True
            have += pos[q[heads[c]]]
            count += 1
    if count < size:  # samples without any label
        taken[ordering[~taken[ordering]][: size - count]] = True
    return ordering[taken[ordering]]


def cover_pool(ordering: np.ndarray, targets: np.ndarray, size: int) -> np.ndarray:
    """The first ``size`` samples with every class kept present (module notes)."""
    pos = _positives(targets)
    inside = np.zeros(len(pos), dtype=bool)
    inside[ordering[:size]] = True
    counts = pos[inside].sum(0)
    for c in np.flatnonzero((counts == 0) & pos.any(0)):
        if counts[c]:  # an earlier replacement brought it in
            continue
        rep = ordering[pos[ordering, c]][0]
        # the hardest pooled sample whose classes all stay present without it
        spare = next((s for s in ordering[inside[ordering]][::-1]
                      if (counts[pos[s]] > 1).all()), None)
        inside[rep] = True
        counts += pos[rep]
        if spare is not None:
            inside[spare] = False
            counts -= pos[spare]
    return ordering[inside[ordering]]
