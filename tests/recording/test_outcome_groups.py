"""A new recorder outcome is one declaration in one file: this module declares one and the
recorder records, reduces, saves, resumes and resets it with no other change."""

from __future__ import annotations

import pytest
import torch

from easyfirst.recording import OutcomeRecorder, TrainingDynamics
from easyfirst.recording.outcomes import (
    OUTCOME_GROUPS,
    OutcomeGroup,
    optional_outcomes,
    register_outcome,
)


class LossSum(OutcomeGroup):
    """Sum over epochs of each sample's mean training loss (a test's own outcome)."""

    def declare(self) -> None:
        self.add_state("test_loss_epoch", reduce="sum", per_epoch=True)
        self.add_state("test_loss_sum")

    def update(self, s, batch):
        s["test_loss_epoch"].index_add_(0, batch.idx, batch.loss.float())

    def fold(self, s, epoch):
        got = epoch.sums["test_loss_epoch"] / epoch.per_visit
        s["test_loss_sum"][: epoch.n] += torch.where(epoch.seen, got, 0.0)

    def fields(self, s):
        return {"test_loss_sum": s["test_loss_sum"].double()}


@pytest.fixture(autouse=True)
def registered():
    """``@register_outcome("test_loss_sum")``, undone after each test (the registry is
    global)."""
    register_outcome("test_loss_sum")(LossSum)
    yield
    OUTCOME_GROUPS.unregister("test_loss_sum")


def _epochs(rec: OutcomeRecorder, losses: list[list[float]]) -> None:
    for row in losses:
        n = len(row)
        rec.update(torch.arange(n), torch.zeros(n, 2), torch.zeros(n, dtype=torch.long),
                   loss=torch.tensor(row))
        rec.end_epoch()


def test_a_group_declared_in_one_file_is_recorded_saved_and_resumed(tmp_path):
    assert "test_loss_sum" in optional_outcomes() and "test_loss_sum" in OUTCOME_GROUPS
    rec = OutcomeRecorder(3, outcomes=["test_loss_sum", "probs"])
    _epochs(rec, [[1.0, 2.0, 4.0], [0.5, 0.5, 0.5]])
    d = rec.dynamics()
    assert d.outcome("test_loss_sum").tolist() == [1.5, 2.5, 4.5]
    assert d.prob_sum is not None and d.margin_sum is None  # only the groups asked for
    back = TrainingDynamics.load(d.save(tmp_path / "d.pt"))
    assert torch.equal(back.outcome("test_loss_sum"), d.outcome("test_loss_sum"))
    npz = TrainingDynamics.load(d.save(tmp_path / "d.npz"))
    assert torch.equal(npz.outcome("test_loss_sum"), d.outcome("test_loss_sum"))

    resumed = OutcomeRecorder(3, outcomes=["test_loss_sum", "probs"])
    resumed.load_state_dict(rec.state_dict())
    _epochs(resumed, [[1.0, 1.0, 1.0]])
    assert resumed.dynamics().outcome("test_loss_sum").tolist() == [2.5, 3.5, 5.5]
    resumed.reset()
    assert resumed.epoch == 0 and float(resumed.state["test_loss_sum"].abs().sum()) == 0.0


def test_reset_gives_the_state_of_a_new_recorder():
    rec = OutcomeRecorder(4, outcomes="all", epochs=3, keep_history=True, el2n_epoch=1)
    _epochs(rec, [[1.0, 2.0, 3.0, 4.0]])
    rec.reset()
    fresh = OutcomeRecorder(4, outcomes="all", epochs=3, keep_history=True, el2n_epoch=1)
    assert rec.epoch == 0 and rec.state.keys() == fresh.state.keys()
    for name, t in fresh.state.items():
        assert torch.equal(rec.state[name].nan_to_num(-1), t.nan_to_num(-1)), name
    _epochs(rec, [[1.0, 2.0, 3.0, 4.0]] * 2)
    _epochs(fresh, [[1.0, 2.0, 3.0, 4.0]] * 2)
    assert torch.equal(rec.dynamics().el2n, fresh.dynamics().el2n)


def test_an_unknown_field_is_named_with_what_the_record_holds():
    rec = OutcomeRecorder(2)
    _epochs(rec, [[1.0, 1.0]])
    with pytest.raises(KeyError, match="outcomes: core"):
        rec.dynamics().outcome("test_loss_sum")
