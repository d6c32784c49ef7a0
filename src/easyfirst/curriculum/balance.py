"""Class balance of the curriculum pool: which ``size`` samples of an ordering are in use.

Targets are class ids ``(N,)`` (single-label) or multi-hot rows ``(N, C)`` (multi-label: a
sample counts for every class it has).

* ``none``: the first ``size`` samples of the ordering.
* ``balanced``, single-label: an equal share per class, ``floor`` or ``ceil`` of ``size / C``,
  each class taking its own easiest samples first. A class with fewer samples than its share
  gives the rest to the other classes, so the pool always has ``size`` samples and at
  ``size = N`` it is the whole data set. The extra ``size mod C`` samples go to the classes
  whose next sample comes earliest in the ordering. Every class must be in the pool.
* ``balanced``, multi-label: label-frequency aware round robin, as AudioSet's balanced
  samplers do. Classes take turns, rarest (fewest positives in the data) first; each turn a
  class adds its easiest sample not yet in the pool (a sample already added for another of
  its labels counts for that class too, and the class passes its turn while it has as many
  as the others). Rare classes thus get their easy samples early; frequent ones do not fill
  the pool. Classes without samples left drop out; the pool always has ``size`` samples.
* ``stratified`` (single-label only): the class proportions of the full set
  (largest-remainder rounding, ties to the class whose next sample comes earliest), easiest
  first within each class.
* ``cover`` (single- or multi-label): the ordering's first ``size`` samples, except that
  every class of the data is present from the first epoch: for each class missing from that
  prefix, its easiest sample replaces the hardest pooled sample not needed by another
  class. With fewer places than classes, the pool is the classes' easiest samples (larger
  than ``size``).

All functions are pure: ``(ordering (N,), targets (N,) or (N, C), size) -> pool indices``,
returned in ordering order (easiest first).

Example:
    >>> import numpy as np
    >>> order = np.array([0, 1, 2, 3, 4, 5])
    >>> targets = np.array([0, 0, 0, 0, 1, 1])
    >>> make_pool(order, 4, balance="balanced", targets=targets).tolist()
    [0, 1, 4, 5]
    >>> make_pool(order, 3, balance="stratified", targets=targets).tolist()
    [0, 1, 4]
    >>> y = np.array([[1, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0]])
    >>> label_balanced_pool(np.arange(5), y, 3).tolist()   # class 2 (rarest) first
    [0, 2, 3]
    >>> cover_pool(np.arange(5), y, 2).tolist()  # 2 places, 3 classes: 2 and 3 cover them
    [2, 3]
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

from easyfirst.curriculum.ordering import check_ordering
from easyfirst.errors import InputError

BALANCES = ("none", "balanced", "stratified", "cover")


def make_pool(
    ordering: np.ndarray,
    size: int,
    *,
    balance: str = "none",
    targets: np.ndarray | None = None,
    num_classes: int | None = None,
) -> np.ndarray:
    """The ``size`` samples in use, chosen from ``ordering`` under a class-balance rule.

    Args:
        ordering: sample indices, first-to-enter first, shape (N,).
        size: number of samples in the pool, 1..N.
        balance: ``"none"``, ``"balanced"``, ``"stratified"`` or ``"cover"``.
        targets: integer class ids (N,) or multi-hot rows (N, C), indexed by sample index;
            needed unless ``balance="none"``.
        num_classes: C; classes are ``0..C-1``. Default: the distinct values of ``targets``.

    Returns:
        int64 sample indices of shape (size,), in ordering order.

    Raises:
        ValueError: unknown ``balance``, bad ``size`` or ``targets``, or a class missing from
            a balanced pool.
    """
    if balance not in BALANCES:
        raise InputError(f"Unknown balance {balance!r}. Available: {', '.join(BALANCES)}.")
    order = check_ordering(ordering)
    _check_size(size, len(order))
    if balance == "none":
        return order[:size].copy()
    if targets is None:
        raise InputError(
            f"Expected targets (N,) for balance={balance!r}; got None. Pass the class ids of "
            "the training samples, or balance='none'."
        )
    multi = np.ndim(targets) == 2  # multi-hot rows
    if balance == "cover":
        return cover_pool(order, targets, size)
    if balance == "balanced":
        return (label_balanced_pool(order, targets, size) if multi else
                balanced_pool(order, targets, size, num_classes=num_classes))
    if multi:
        raise InputError("balance='stratified' needs single-label targets; got multi-hot (N, C) "
                         "rows. Use balance='balanced' (label-frequency aware) or 'cover'.")
    return stratified_pool(order, targets, size, num_classes=num_classes)


def balanced_pool(
    ordering: np.ndarray, targets: np.ndarray, size: int, *, num_classes: int | None = None
) -> np.ndarray:
    """Equal per-class shares (``floor``/``ceil`` of ``size / C``), easiest first per class.

    Shapes and errors as in :func:`make_pool`.
    """
    order = check_ordering(ordering)
    _check_size(size, len(order))
    members = _class_members(order, targets, num_classes)
    counts = np.array([len(m) for m in members], dtype=np.int64)
    num_cls = len(members)
    empty = [c for c in range(num_cls) if counts[c] == 0]
    if empty:
        raise InputError(
            f"Expected every class in a balanced pool; got no samples of class(es) {empty} "
            f"among {num_cls} classes. Fix the targets or num_classes, or use "
            "balance='stratified' or 'none'."
        )
    if size < num_cls:
        raise InputError(
            f"Expected a balanced pool of at least one sample per class ({num_cls}); got size "
            f"{size}. Raise start_fraction, or use balance='stratified' or 'none'."
        )
    # Water-filling: the largest level L with sum(min(n_c, L)) <= size, then +1 for the
    # classes with room left whose next sample is easiest.
    lo, hi = 0, int(counts.max())
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if np.minimum(counts, mid).sum() <= size:
            lo = mid
        else:
            hi = mid - 1
    quotas = np.minimum(counts, lo)
    _give_extra(quotas, counts, members, order, size - int(quotas.sum()), priority=None)
    return _take(members, quotas, order)


def stratified_pool(
    ordering: np.ndarray, targets: np.ndarray, size: int, *, num_classes: int | None = None
) -> np.ndarray:
    """Per-class shares proportional to the full set's class counts, easiest first per class.

    Shapes and errors as in :func:`make_pool`.
    """
    order = check_ordering(ordering)
    _check_size(size, len(order))
    members = _class_members(order, targets, num_classes)
    counts = np.array([len(m) for m in members], dtype=np.int64)
    n = len(order)
    quotas = size * counts // n
    remainders = size * counts % n
    _give_extra(quotas, counts, members, order, size - int(quotas.sum()), priority=remainders)
    return _take(members, quotas, order)


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


def _check_size(size: int, n: int) -> None:
    if isinstance(size, bool) or not isinstance(size, Integral) or not 1 <= size <= n:
        raise InputError(
            f"Expected a pool size in 1..{n} (the dataset size); got {size!r}. "
            "Compute it with PacingFunction.size_at(...)."
        )


def _positives(targets: np.ndarray) -> np.ndarray:
    """(N, C) bool: multi-hot rows as they are; class ids (N,) as one-hot."""
    t = np.asarray(targets)
    if t.ndim == 2:
        return t > 0.5
    classes = int(t.max()) + 1 if t.size else 0
    return np.eye(classes, dtype=bool)[t.astype(np.int64)]


def _class_members(
    order: np.ndarray, targets: np.ndarray, num_classes: int | None
) -> list[np.ndarray]:
    """Each class's sample indices in ordering order (easiest first)."""
    y = np.asarray(targets)
    if y.shape != order.shape or (y.size and not np.issubdtype(y.dtype, np.integer)):
        raise InputError(
            f"Expected integer targets of shape {order.shape}; got dtype {y.dtype} and shape "
            f"{y.shape}. Pass one class id per training sample."
        )
    if y.size and y.min() < 0:
        raise InputError(f"Expected class ids >= 0; got {int(y.min())}. Encode labels as 0..C-1.")
    if num_classes is None:
        classes = np.unique(y)
    else:
        if y.size and y.max() >= num_classes:
            raise InputError(
                f"Expected class ids below num_classes={num_classes}; got {int(y.max())}. "
                "Pass the right num_classes."
            )
        classes = np.arange(num_classes)
    y_in_order = y[order]
    return [order[y_in_order == c] for c in classes]


def _give_extra(
    quotas: np.ndarray,
    counts: np.ndarray,
    members: list[np.ndarray],
    order: np.ndarray,
    extra: int,
    *,
    priority: np.ndarray | None,
) -> None:
    """Add one sample to ``extra`` classes with room: highest ``priority``, then easiest next."""
    if extra <= 0:
        return
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    room = [c for c in range(len(members)) if quotas[c] < counts[c]]
    prio = np.zeros(len(members), dtype=np.int64) if priority is None else priority

    def key(c: int) -> tuple[int, int]:
        return (-int(prio[c]), int(position[members[c][quotas[c]]]))

    for c in sorted(room, key=key)[:extra]:
        quotas[c] += 1


def _take(members: list[np.ndarray], quotas: np.ndarray, order: np.ndarray) -> np.ndarray:
    pool = np.concatenate([m[:q] for m, q in zip(members, quotas, strict=True)]).astype(np.int64)
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    return pool[np.argsort(position[pool], kind="stable")]
