"""The paper quick start's ``get_pacing_function`` and ``CurriculumSampler`` over easyfirst's
pacing registry and ``easyfirst.curriculum.CurriculumSampler``.

Example:
    >>> sampler = CurriculumSampler(np.arange(10), 10, pacing_function="linear")
    >>> len(sampler), sorted(sampler)
    (2, [0, 1])
    >>> sampler.set_progress(0.25)
    >>> len(sampler), sampler.current_progress
    (6, 0.25)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real

import numpy as np

from easyfirst.curriculum import CurriculumSampler as _CoreSampler
from easyfirst.errors import InputError
from easyfirst.pacing import PACINGS, PacingFunction

PacingFn = Callable[[float, float], float]
"""``f(t, b)``: the fraction of the data in use at progress ``t`` for start fraction ``b``."""


def get_pacing_function(name: str) -> PacingFn:
    """``f(t, b) = b + (1 - b) g(t)``, the fraction in use at ``t`` in [0, 1) of the
    saturation window, for shape ``name`` of easyfirst's pacing registry.

    Any registered shape is accepted (``easyfirst pacings``: the document's
    ``logarithmic``, ``root``, ``linear``, ``exponential`` and aucurriculum's ``wu-*``); an
    unknown name raises one line listing them (a ``KeyError`` and a ``ValueError``). The
    fraction is 1 from ``t >= 1`` on (the document's formulas grow past 1: ``linear`` gives
    ``2 - b`` at ``t = 2``); ``exponential`` may differ from the document's float order in
    the last bit, never in a pool size.
    """
    shape = PACINGS.get(name)

    def fraction(t: float, b: float) -> float:
        return shape.fraction(t, 1.0, b, 1.0)

    return fraction


def _progress(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise InputError(f"Expected progress as a finite number in [0, 1]; got {value!r}. "
                         "Pass epoch / num_epochs.")
    return min(max(float(value), 0.0), 1.0)


class CurriculumSampler(_CoreSampler):
    """Sampler that introduces samples according to difficulty ordering and pacing.

    The document's arguments over ``easyfirst.curriculum.CurriculumSampler`` in ``"pool"``
    mode (an epoch is one shuffled pass over the easiest ``len(self)`` samples). The pool
    size at progress ``p`` is ``self.schedule.size(p, num_samples)`` of
    ``self.schedule = PacingFunction(pacing_function, initial_fraction,
    saturation_fraction)``: the document's formula in its float order (the full data from
    ``p >= saturation_fraction``), at least one sample.

    Where the document's sampler is a defect, this one differs:

    * it shuffles epoch ``e`` with ``torch.Generator().manual_seed(seed + e)`` and, under
      ``torch.distributed``, gives each rank its shard, like ``DistributedSampler`` (the
      document shuffles with ``np.random.shuffle`` and hands every rank the whole pool);
      ``seed=None`` draws the seed once from NumPy's global RNG, so ``np.random.seed`` still
      fixes the order: seed NumPy alike on every rank, or pass ``seed``.
    * ``set_progress`` clamps to [0, 1] (the document only caps at 1) and refuses NaN/inf;
      the ``k``-th call starts epoch ``k`` (0-based). Call ``set_epoch(e)`` after it to pick
      the epoch yourself (resuming).
    * ``difficulty_ranking`` must be a permutation of ``0..num_samples-1``.

    ``num_samples`` is ``DistributedSampler``'s samples per rank this epoch (the document:
    the dataset size, here ``len(self.difficulty_ranking)``).

    Args:
        difficulty_ranking: sample indices sorted by difficulty (easy first).
        num_samples: total number of samples.
        initial_fraction: starting fraction of the dataset (b in the paper).
        saturation_fraction: training progress at which the full dataset is used (a).
        pacing_function: a pacing shape name (:func:`get_pacing_function`).
        current_progress: current training progress in [0, 1].
        seed: base seed of the shuffle (see above).
    """

    def __init__(self, difficulty_ranking: np.ndarray, num_samples: int,
                 initial_fraction: float = 0.2, saturation_fraction: float = 0.5,
                 pacing_function: str = "logarithmic", current_progress: float = 0.0, *,
                 seed: int | None = None) -> None:
        self.difficulty_ranking = np.asarray(difficulty_ranking)
        self.initial_fraction, self.saturation_fraction = initial_fraction, saturation_fraction
        self.schedule = PacingFunction(pacing_function, start_fraction=initial_fraction,
                                       full_at=saturation_fraction)
        self.current_progress = _progress(current_progress)
        self._progress_calls = 0
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        super().__init__(num_samples, self.difficulty_ranking, mode="pool", seed=seed)

    NEXT_EPOCH = "set_progress(progress)"

    def pool_size_at(self, epoch: int) -> int:
        """Pool size at the current progress (progress sets it here, not ``epoch``)."""
        return self.schedule.size(self.current_progress, len(self.difficulty_ranking))

    def set_progress(self, progress: float) -> None:
        """Update training progress (call each epoch) and start the next epoch."""
        self.current_progress = _progress(progress)
        self.set_epoch(self._progress_calls)
        self._progress_calls += 1
