"""The recorder's limits: counters that cannot wrap, values and settings it cannot count."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from easyfirst.curriculum.sampler import CurriculumSampler
from easyfirst.recording import OutcomeRecorder
from easyfirst.recording.checks import MAX_EPOCHS, check_epoch_rows


def test_a_sample_visited_256_times_in_one_epoch_is_counted_right():
    n = 1024
    sampler = CurriculumSampler(n, np.arange(n), pacing="linear", start_fraction=4 / n,
                                full_at=0.5, epochs=2, num_replicas=1, rank=0)
    sampler.set_epoch(0)
    order = torch.tensor(list(sampler))
    visits = torch.bincount(order, minlength=n)
    assert visits.max() >= 256  # constant-length epochs over a pool of 4 samples
    rec = OutcomeRecorder(n, epochs=2)
    for batch in order.split(64):
        rec.update(batch, None, correct=torch.ones(len(batch), dtype=torch.bool))
    rec.end_epoch()
    d = rec.dynamics()
    pooled = visits > 0
    assert d.epochs_seen[pooled].eq(1).all() and d.cumacc()[pooled].eq(1.0).all()
    assert d.learned_since[pooled].eq(0).all() and d.epochs_seen[~pooled].eq(0).all()


def test_graded_visits_beyond_255_keep_their_mean():
    rec = OutcomeRecorder(2)
    rec.update(torch.zeros(600, dtype=torch.long), None, correct=torch.full((600,), 0.25))
    rec.end_epoch()
    assert rec.dynamics().cumacc()[0].item() == pytest.approx(0.25)


@pytest.mark.parametrize("correct", [[5.0, -3.0], [float("nan"), 1.0], [1.0, 1.5], [2, 0]])
def test_correctness_outside_zero_one_is_refused(correct):
    rec = OutcomeRecorder(4)
    rec.update(torch.tensor([0, 1]), correct=torch.tensor(correct))
    with pytest.raises(ValueError, match=r"^Expected correct= values in \[0, 1\]; got \d "
                       r"outside it \(or NaN\) this epoch\. Pass 0/1"):
        rec.end_epoch()


def test_dropped_rows_may_hold_any_correctness():
    rec = OutcomeRecorder(4)
    rec.update(torch.tensor([0, 1]), correct=torch.tensor([1.0, 7.0]),
               weight=torch.tensor([1, 0]))
    rec.end_epoch()
    assert rec.dynamics().cumacc()[:2].tolist() == [1.0, 0.0]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"el2n_epoch": -1}, r"Expected el2n_epoch, the 0-based epoch EL2N is taken at, >= 0; "
     r"got -1"),
    ({"el2n_epoch": 5, "epochs": 5}, r">= 0 below epochs \(5\); got 5"),
    ({"epochs": MAX_EPOCHS + 1}, r"Expected epochs from 1 to 32767 .*got 32768\. "
     r"Train for fewer epochs"),
    ({"epochs": -3}, r"Expected epochs from 1 to 32767"),
])
def test_settings_it_cannot_count_are_refused_up_front(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OutcomeRecorder(4, **kwargs)


def test_the_largest_epoch_count_is_accepted():
    assert OutcomeRecorder(4, epochs=MAX_EPOCHS).counter == torch.int16


def test_an_epoch_too_long_for_the_visit_counters_is_refused():
    check_epoch_rows(2**31 - 1)
    with pytest.raises(ValueError, match=r"at most 2147483647 rows per epoch"):
        check_epoch_rows(2**31)
    rec = OutcomeRecorder(4)
    rec._rows = 2**31 - 2  # as after an epoch of that many rows
    with pytest.raises(ValueError, match="would wrap"):
        rec.update(torch.tensor([0, 1]), correct=torch.tensor([1, 1]))
    rec.end_epoch()  # a new epoch counts afresh
    rec.update(torch.tensor([0, 1]), correct=torch.tensor([1, 1]))


def test_a_state_of_the_two_count_layout_loads():
    rec = OutcomeRecorder(3)
    rec.update(torch.tensor([0, 1]), correct=torch.tensor([1, 0]))
    rec.end_epoch()
    state = rec.state_dict()
    state["bad"] = state["bad"][:2]
    other = OutcomeRecorder(3)
    other.load_state_dict(state)
    assert torch.equal(other.dynamics().cumacc(), rec.dynamics().cumacc())
