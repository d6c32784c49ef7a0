"""Pacing functions: how many of the easiest samples are in use at a point of training.

A :class:`PacingFunction` maps training progress to a pool size. Two families of shapes are
registered under one name space:

=================  ===================  ================================================
name               family               size at iteration ``t`` of ``T`` (N samples)
=================  ===================  ================================================
``logarithmic``    ``paper`` (default)  ``int((b + (1-b) log(1 + p(e-1))) N)``
``root``           ``paper``            ``int((b + (1-b) sqrt(p)) N)``
``linear``         ``paper``            ``int((b + (1-b) p) N)``
``exponential``    ``paper``            ``int((b + (1-b) (exp(p)-1)/(e-1)) N)``
``wu-linear``      ``aucurriculum``     aucurriculum ``Linear`` (polynomial, degree 1)
``wu-quadratic``   ``aucurriculum``     aucurriculum ``Quadratic`` (degree 2)
``wu-root``        ``aucurriculum``     aucurriculum ``Root`` (degree 0.5)
``wu-logarithmic`` ``aucurriculum``     aucurriculum ``Logarithmic``
``wu-exponential`` ``aucurriculum``     aucurriculum ``Exponential``
``wu-step``        ``aucurriculum``     aucurriculum ``OneStep``
=================  ===================  ================================================

with ``p = t / (a T)``; the paper family uses the full data once ``p >= 1``. The ``wu-*``
shapes are the Wu et al. (2021) functions in aucurriculum 0.1.1's exact float order (see
:mod:`easyfirst.pacing.functional`); their sizes equal aucurriculum's ``get_dataset_size``.
Each shape is one decorated growth function in :mod:`easyfirst.pacing.shapes`.

Parameter names across sources:

* ``b`` = ``start_fraction`` = the paper quick start's ``initial_fraction`` = aucurriculum's
  ``initial_size``: the fraction of the data in use at the start, in (0, 1].
* ``a`` = ``full_at`` = the quick start's ``saturation_fraction`` = aucurriculum's
  ``final_iteration``: the fraction of the total iterations (epochs or optimizer steps) after
  which the full data is in use, in (0, 1]. ``a = 0`` is rejected (aucurriculum divides by
  zero there); use ``start_fraction=1.0`` for no curriculum.
* ``T`` = ``total`` = the quick start's ``num_epochs`` = aucurriculum's ``total_iterations``;
  ``t`` = ``step`` = the epoch (0-based) or the optimizer step.

Epoch ``e`` (0-based) of ``E`` trains on ``size_at(e, E, N)``, as both the paper quick start's
loop and aucurriculum do. Unlike aucurriculum, the pool never drops below one sample.

Example:
    >>> pacing = PacingFunction("root", start_fraction=0.2, full_at=0.5)
    >>> pacing.size_at(9, 50, 1000), pacing.size_at(25, 50, 1000)
    (679, 1000)
    >>> PacingFunction("wu-linear", start_fraction=0.1, full_at=0.2).size_at(4, 50, 1000)
    460
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from numbers import Integral, Real

from easyfirst.errors import InputError
from easyfirst.pacing import functional as F
from easyfirst.registry import Registry

SizeFn = Callable[[float, float, int, float, float], int]
"""``(t, T, N, b, a) -> pool size``."""


@dataclass(frozen=True)
class PacingShape:
    """A registered pacing shape (see ``pacing/shapes.py``).

    Args:
        family: ``"paper"`` (the paper quick start's formulas), ``"aucurriculum"`` or a
            name of your own.
        growth: ``g(p)``, ``p = t / (a T)`` in [0, 1) -> how far the pool has grown.
        size: ``(t, T, N, b, a) -> number of samples``, in the reference's float order.
        description: one line for ``easyfirst pacings``.
    """

    family: str
    growth: F.Growth
    size: SizeFn
    description: str = ""

    def fraction(self, t: float, T: float, b: float, a: float) -> float:
        """``b + (1 - b) g(t / (a T))`` capped at 1, and 1 once ``t >= a T``."""
        p = t / (a * T)
        return 1.0 if p >= 1.0 else min(1.0, b + (1.0 - b) * self.growth(p))


PACINGS: Registry[PacingShape] = Registry(
    "pacing", packages=("easyfirst.pacing",), entry_points="easyfirst.pacings")


def register_pacing(
    name: str, *, family: str = "custom", size: SizeFn | None = None
) -> Callable[[F.Growth], F.Growth]:
    """Register the growth function ``g(p)`` as pacing shape ``name``.

    ``size`` gives the exact integer formula of a reference; by default it is
    ``int((b + (1 - b) g(p)) N)``, the paper quick start's order.
    """

    def decorator(growth: F.Growth) -> F.Growth:
        doc = (growth.__doc__ or "").strip().splitlines()
        shape = PacingShape(family, growth, size or partial(F.paper_size, growth),
                            doc[0] if doc else "")
        PACINGS.register(name, family=family)(shape)
        return growth

    return decorator


def _check_fraction(value: object, what: str, example: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < float(value) <= 1:
        raise InputError(f"Expected {what} in (0, 1]; got {value!r}. {example}")
    return float(value)


@dataclass(frozen=True)
class PacingFunction:
    """A pacing shape with its parameters: progress in, fraction or pool size out.

    Progress is explicit (no hidden counter) and clamped once, here: ``progress`` to
    [0, 1], ``step`` to [0, total]. Sizes are at least 1 and at most ``num_samples``.

    Args:
        name: a registered shape (see the module table), e.g. ``"logarithmic"``.
        start_fraction: ``b``, the fraction of the data in use at the start, in (0, 1].
        full_at: ``a``, the fraction of training after which all data is used, in (0, 1].

    Raises:
        ValueError: unknown ``name`` (lists the valid ones) or a parameter out of range.

    Example:
        >>> pacing = PacingFunction("linear", start_fraction=0.2, full_at=0.5)
        >>> round(pacing.fraction(0.25), 6), pacing.size(0.25, 100), pacing.family
        (0.6, 60, 'paper')
    """

    name: str
    start_fraction: float = 0.2
    full_at: float = 0.5
    _shape: PacingShape = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_shape", PACINGS.get(self.name))
        b = _check_fraction(
            self.start_fraction,
            "start_fraction (b, the fraction of data used at the start)",
            "Pass e.g. 0.2; 1.0 means no curriculum.",
        )
        if self.full_at == 0 and not isinstance(self.full_at, bool):
            raise InputError(
                "Expected full_at (a, the fraction of training after which all data is used) "
                "in (0, 1]; got 0, which would mean the full data from the start (aucurriculum "
                "divides by zero here). Pass e.g. 0.5, or start_fraction=1.0 for no curriculum."
            )
        a = _check_fraction(
            self.full_at,
            "full_at (a, the fraction of training after which all data is used)",
            "Pass e.g. 0.5 (the paper uses 0.5 or 0.8).",
        )
        object.__setattr__(self, "start_fraction", b)
        object.__setattr__(self, "full_at", a)

    @property
    def family(self) -> str:
        """``"paper"``, ``"aucurriculum"`` or the family a custom shape was registered with."""
        return self._shape.family

    def fraction(self, progress: float) -> float:
        """Fraction of the data in use at ``progress`` (clamped to [0, 1]) of training."""
        p = _clamp(progress, 1.0, "progress")
        return self._shape.fraction(p, 1.0, self.start_fraction, self.full_at)

    def size(self, progress: float, num_samples: int) -> int:
        """Pool size at ``progress`` (clamped to [0, 1]) of training, for N = ``num_samples``.

        ``size(t / T, N)`` can differ by one from ``size_at(t, T, N)`` where the value sits
        on an integer, since ``(t / T) / a`` and ``t / (a T)`` round differently; use
        ``size_at`` to match the paper quick start's and aucurriculum's sizes exactly.
        """
        p = _clamp(progress, 1.0, "progress")
        n = _check_num_samples(num_samples)
        return max(1, self._shape.size(p, 1.0, n, self.start_fraction, self.full_at))

    def size_at(self, step: float, total: float, num_samples: int) -> int:
        """Pool size at iteration ``step`` (clamped to [0, total]) of ``total``.

        Use epochs (``step=epoch``, ``total=epochs``) or optimizer steps
        (``step=global_step``, ``total=total_steps``). Matches the reference fixtures exactly.
        """
        if isinstance(total, bool) or not isinstance(total, Real) or not total > 0:
            raise InputError(
                f"Expected total (the number of epochs or steps) > 0; got {total!r}. "
                "Pass the length of training in the unit of step."
            )
        t = _clamp(step, total, "step")
        n = _check_num_samples(num_samples)
        return max(1, self._shape.size(t, total, n, self.start_fraction, self.full_at))


def _clamp(value: float, high: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise InputError(
            f"Expected {what} to be a finite number; got {value!r}. Pass a float or int."
        )
    return min(max(value, 0), high)


def _check_num_samples(num_samples: int) -> int:
    if isinstance(num_samples, bool) or not isinstance(num_samples, Integral) or num_samples < 1:
        raise InputError(
            f"Expected num_samples to be an int >= 1; got {num_samples!r}. Pass len(train_dataset)."
        )
    return int(num_samples)
