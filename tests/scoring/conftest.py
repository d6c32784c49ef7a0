"""A toy scorer, registered the way a user adds one: one decorated function, no other file.

``tests/scoring/test_toy_scorer.py`` checks that it shows up everywhere a built-in does; the
common scorer tests (``test_scorers_common.py``) cover it like any other.
"""

from __future__ import annotations

import torch

from easyfirst.recording import TrainingDynamics
from easyfirst.scoring import SCORERS, register_scorer

if "toy" not in SCORERS:

    @register_scorer("toy", higher_is_easier=True,
                     description="toy: epochs correct minus epochs seen (a test's scorer)")
    def toy(d: TrainingDynamics) -> torch.Tensor:
        values = d.correct_sum - d.epochs_seen.double()
        return torch.where(d.epochs_seen > 0, values, torch.nan)
