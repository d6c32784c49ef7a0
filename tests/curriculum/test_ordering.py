"""check_ordering: permutations pass, anything else is refused with what to pass instead."""

from __future__ import annotations

import numpy as np
import pytest

from easyfirst.curriculum.ordering import check_ordering


def test_permutations_pass_as_int64():
    order = check_ordering(np.array([2, 0, 1], dtype=np.int32), 3)
    assert order.dtype == np.int64 and order.tolist() == [2, 0, 1]
    assert check_ordering(np.arange(0)).size == 0


@pytest.mark.parametrize(
    ("order", "n", "message"),
    [
        ([0, 1, 1, 2], None, r"permutation of 0\.\.3; got out-of-range or repeated"),
        ([0, 1, 4, 2], None, r"permutation of 0\.\.3"),
        ([-1, 0, 1, 2], None, r"permutation of 0\.\.3"),
        ([0, 1, 2], 4, r"ordering of length 4 \(the dataset size\); got 3"),
        ([0.0, 1.0], None, r"integer sample indices with shape \(N,\); got dtype float64"),
    ],
)
def test_bad_orderings_are_refused(order, n, message):
    with pytest.raises(ValueError, match=message):
        check_ordering(np.array(order), n)
