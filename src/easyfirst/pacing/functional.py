"""Pacing formulas as pure functions of explicit progress.

Letters: ``N`` samples, ``b`` start fraction, ``a`` full-at fraction, ``t`` the current
iteration (epoch or step) and ``T`` the total number of iterations. Every ``*_size`` function
reproduces its reference's float operation order, because ``int()`` of a value such as
``679.9999999999999`` depends on it:

* seed formulas (the project seed): ``p = t / (a * T)``; ``N`` once ``p >= 1``, else
  ``int((b + (1 - b) * g(p)) * N)`` with Python floats (``tests/fixtures/pacing_seed.json``).
* Wu et al. (2021) formulas, in aucurriculum 0.1.1's verbatim order
  (``tests/fixtures/pacing_aucurriculum.json``).

Inputs are not validated or clamped here; :class:`easyfirst.pacing.PacingFunction` does that.

Example:
    >>> seed_size(seed_root, 9, 50, 1000, 0.2, 0.5)
    679
    >>> wu_polynomial_size(10, 50, 1000, 0.1, 0.2, degree=1.0)
    1000
"""

from __future__ import annotations

import math
from collections.abc import Callable

Shape = Callable[[float], float]

_EXP_MINUS_10 = math.exp(-10)
_EXP_10_MINUS_1 = math.exp(10) - 1


# --- seed shapes g(p), p in [0, 1) -> [0, 1) -------------------------------------------------


def seed_logarithmic(p: float) -> float:
    """``log(1 + p (e - 1))``: fast early growth (the seed's best shape)."""
    return math.log(1 + p * (math.e - 1))


def seed_root(p: float) -> float:
    """``sqrt(p)``."""
    return math.sqrt(p)


def seed_linear(p: float) -> float:
    """``p``."""
    return p


def seed_exponential(p: float) -> float:
    """``(exp(p) - 1) / (e - 1)``: slow early growth."""
    return (math.exp(p) - 1) / (math.e - 1)


def seed_fraction(shape: Shape, t: float, T: float, b: float, a: float) -> float:
    """Fraction of the data in use, ``b + (1 - b) g(t / (a T))``, and 1.0 once ``t >= a T``."""
    p = t / (a * T)
    if p >= 1.0:
        return 1.0
    return b + (1.0 - b) * shape(p)


def seed_size(shape: Shape, t: float, T: float, N: int, b: float, a: float) -> int:
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
    return min(int(N * b + (N * (1 - b)) * (1 + 0.1 * math.log((t / (a * T)) + _EXP_MINUS_10))), N)


def wu_exponential_size(t: float, T: float, N: int, b: float, a: float) -> int:
    """``min(N, int(N b + (N (1 - b) / (e^10 - 1)) (exp(10 t / (a T)) - 1)))``."""
    if b == 1:
        return N
    x = (10 * t) / (a * T)
    if x > 700:  # exp would overflow; the size saturated at N long before
        return N
    return min(int(N * b + ((N * (1 - b)) / _EXP_10_MINUS_1) * (math.exp(x) - 1)), N)


def wu_step_size(t: float, T: float, N: int, b: float, a: float) -> int:
    """``min(N, int(N b + N floor(t / (a T))))``: ``N b`` before ``t = a T``, then ``N``."""
    if b == 1:
        return N
    return min(int(N * b + N * math.floor(t / (a * T))), N)


def wu_fraction(name: str, t: float, T: float, b: float, a: float) -> float:
    """The Wu et al. fraction ``min(1, b + (1 - b) g(t / (a T)))`` in plain maths (no ``int``).

    Args:
        name: one of ``linear``, ``quadratic``, ``root``, ``logarithmic``, ``exponential``,
            ``step``.
        t: current iteration; T: total iterations; b: start fraction; a: full-at fraction.
    """
    p = t / (a * T)
    if name == "logarithmic":
        g = 1 + 0.1 * math.log(p + _EXP_MINUS_10)
    elif name == "exponential":
        g = (math.exp(min(10 * p, 700.0)) - 1) / _EXP_10_MINUS_1
    elif name == "step":
        g = float(p >= 1.0)
    else:
        g = p ** {"linear": 1.0, "quadratic": 2.0, "root": 0.5}[name]
    return min(1.0, b + (1 - b) * g)
