"""Pacing formulas as pure functions of explicit progress.

Letters: ``N`` samples, ``b`` start fraction, ``a`` full-at fraction, ``t`` the current
iteration (epoch or step) and ``T`` the total number of iterations. Every ``*_size`` function
reproduces its reference's float operation order, because ``int()`` of a value such as
``679.9999999999999`` depends on it:

* the paper quick start's formulas: ``p = t / (a * T)``; ``N`` once ``p >= 1``, else
  ``int((b + (1 - b) * g(p)) * N)`` with Python floats (``tests/fixtures/pacing_seed.json``).
* Wu et al. (2021) formulas, in aucurriculum 0.1.1's verbatim order
  (``tests/fixtures/pacing_aucurriculum.json``).

Inputs are not validated or clamped here; :class:`easyfirst.pacing.PacingFunction` does that.

Example:
    >>> paper_size(math.sqrt, 9, 50, 1000, 0.2, 0.5)
    679
    >>> wu_polynomial_size(10, 50, 1000, 0.1, 0.2, degree=1.0)
    1000
"""

from __future__ import annotations

import math
from collections.abc import Callable

Growth = Callable[[float], float]
"""``g(p)``: how much of the way from ``b`` to the full data a shape is at ``p`` in [0, 1)."""

EXP_MINUS_10 = math.exp(-10)
EXP_10_MINUS_1 = math.exp(10) - 1


# --- paper family: p = t / (a T), int() of a Python float -------------------------------


def paper_size(shape: Growth, t: float, T: float, N: int, b: float, a: float) -> int:
    """Number of samples in use: ``N`` once ``t >= a T``, else ``int(fraction * N)``."""
    p = t / (a * T)
    if p >= 1.0:
        return N
    return int((b + (1.0 - b) * shape(p)) * N)


# --- Wu et al. (2021) / aucurriculum 0.1.1, verbatim operation order -------------------------


def wu_polynomial_size(t: float, T: float, N: int, b: float, a: float, *, degree: float) -> int:
    """``min(N, int(N b + N ((1 - b) / (a T)^d) t^d))`` (linear d=1, quadratic 2, root 0.5)."""
    if b == 1:
        return N
    return min(int(N * b + N * ((1 - b) / ((a * T) ** degree)) * (t**degree)), N)


def wu_logarithmic_size(t: float, T: float, N: int, b: float, a: float) -> int:
    """``min(N, int(N b + N (1 - b) (1 + 0.1 ln(t / (a T) + e^-10))))``."""
    if b == 1:
        return N
    return min(int(N * b + (N * (1 - b)) * (1 + 0.1 * math.log((t / (a * T)) + EXP_MINUS_10))), N)


def wu_exponential_size(t: float, T: float, N: int, b: float, a: float) -> int:
    """``min(N, int(N b + (N (1 - b) / (e^10 - 1)) (exp(10 t / (a T)) - 1)))``."""
    if b == 1:
        return N
    x = (10 * t) / (a * T)
    if x > 700:  # exp would overflow; the size saturated at N long before
        return N
    return min(int(N * b + ((N * (1 - b)) / EXP_10_MINUS_1) * (math.exp(x) - 1)), N)


def wu_step_size(t: float, T: float, N: int, b: float, a: float) -> int:
    """``min(N, int(N b + N floor(t / (a T))))``: ``N b`` before ``t = a T``, then ``N``."""
    if b == 1:
        return N
    return min(int(N * b + N * math.floor(t / (a * T))), N)
