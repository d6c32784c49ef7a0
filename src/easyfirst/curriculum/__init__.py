"""Curriculum: orderings, class balance of the pool, and the curriculum sampler."""

from easyfirst.curriculum.balance import (
    BALANCES,
    balanced_pool,
    make_pool,
    stratified_pool,
)
from easyfirst.curriculum.ordering import ORDERINGS, check_ordering, make_ordering
from easyfirst.curriculum.sampler import MODES, CurriculumSampler

__all__ = [
    "BALANCES",
    "MODES",
    "ORDERINGS",
    "CurriculumSampler",
    "balanced_pool",
    "check_ordering",
    "make_ordering",
    "make_pool",
    "stratified_pool",
]
