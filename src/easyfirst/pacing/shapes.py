"""The built-in pacing shapes. A shape is one growth function ``g(p)`` and one decorator.

``g`` maps ``p = t / (a T)`` in [0, 1) to how far the pool has grown from ``b`` towards the
full data (``fraction = b + (1 - b) g(p)``, the full data once ``p >= 1``). A shape whose
reference rounds in its own float order also gives ``size`` (``(t, T, N, b, a) -> int``);
otherwise ``int(fraction * N)`` in the paper quick start's order is used.

Adding one, anywhere::

    @register_pacing("cubic", family="mine")
    def cubic(p: float) -> float:
        return p ** 3
"""

from __future__ import annotations

import math
from functools import partial

from easyfirst.pacing import functional as F
from easyfirst.pacing.registry import register_pacing


@register_pacing("logarithmic", family="paper")
def logarithmic(p: float) -> float:
    """``log(1 + p (e - 1))``: fast early growth (the paper's best shape)."""
    return math.log(1 + p * (math.e - 1))


@register_pacing("root", family="paper")
def root(p: float) -> float:
    """``sqrt(p)``."""
    return math.sqrt(p)


@register_pacing("linear", family="paper")
def linear(p: float) -> float:
    """``p``."""
    return p


@register_pacing("exponential", family="paper")
def exponential(p: float) -> float:
    """``(exp(p) - 1) / (e - 1)``: slow early growth."""
    return (math.exp(p) - 1) / (math.e - 1)


@register_pacing("wu-linear", family="aucurriculum",
                 size=partial(F.wu_polynomial_size, degree=1.0))
def wu_linear(p: float) -> float:
    """aucurriculum ``Linear`` (Wu et al. 2021): ``p``."""
    return p


@register_pacing("wu-quadratic", family="aucurriculum",
                 size=partial(F.wu_polynomial_size, degree=2.0))
def wu_quadratic(p: float) -> float:
    """aucurriculum ``Quadratic``: ``p^2``."""
    return p**2.0


@register_pacing("wu-root", family="aucurriculum",
                 size=partial(F.wu_polynomial_size, degree=0.5))
def wu_root(p: float) -> float:
    """aucurriculum ``Root``: ``p^0.5``."""
    return p**0.5


@register_pacing("wu-logarithmic", family="aucurriculum", size=F.wu_logarithmic_size)
def wu_logarithmic(p: float) -> float:
    """aucurriculum ``Logarithmic``: ``1 + 0.1 ln(p + e^-10)``."""
    return 1 + 0.1 * math.log(p + F.EXP_MINUS_10)


@register_pacing("wu-exponential", family="aucurriculum", size=F.wu_exponential_size)
def wu_exponential(p: float) -> float:
    """aucurriculum ``Exponential``: ``(exp(10 p) - 1) / (e^10 - 1)``."""
    return (math.exp(min(10 * p, 700.0)) - 1) / F.EXP_10_MINUS_1


@register_pacing("wu-step", family="aucurriculum", size=F.wu_step_size)
def wu_step(p: float) -> float:
    """aucurriculum ``OneStep``: ``b`` until ``p = 1``, then the full data."""
    return float(p >= 1.0)
