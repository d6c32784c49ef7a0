"""The paper's quick start, as a drop-in API: change the import, keep the code.

``from easyfirst.quickstart import ...`` gives the document's names and signatures over
easyfirst's core (this package is not imported by ``import easyfirst``):

=================================  ==============================================================
document                           easyfirst underneath
=================================  ==============================================================
``IndexedDataset(base)``           ``easyfirst.data.WithIndex``; items ``(idx, data, target)``
``CumAccTracker(N, E)``            ``OutcomeRecorder(N, epochs=E, keep_history=True)``: no
                                   host sync per batch, one in ``end_epoch``; ``Scores`` ranks
``get_difficulty_ranking``         ``Scores.easy_to_hard()``, ties by dataset order (stable) or
                                   ``ties="random"`` (seeded)
``collect_cumacc_scores``          the document's step, recorded by ``CumAccTracker``
``collect_ensemble_cumacc_scores`` one run per seed, averaged by ``easyfirst.scoring.ensemble``
``get_pacing_function(name)``      the pacing registry (``easyfirst.pacing.PACINGS``)
``CurriculumSampler(...)``         ``easyfirst.curriculum.CurriculumSampler`` in ``"pool"`` mode,
                                   sized by ``PacingFunction.size(progress, N)``; DDP-sharded
``train_with_curriculum``          the document's loop over that sampler
=================================  ==============================================================

Each name's docstring says where it differs from the document's code, and why (each a
defect there). Also here: :func:`difficulty_ranking`, the ranking of any score array
(e.g. the ensemble mean), since the document leaves that step to the reader.
"""

from easyfirst.quickstart.loops import (
    collect_cumacc_scores,
    collect_ensemble_cumacc_scores,
    train_with_curriculum,
)
from easyfirst.quickstart.sampling import CurriculumSampler, get_pacing_function
from easyfirst.quickstart.tracking import CumAccTracker, IndexedDataset, difficulty_ranking

__all__ = [
    "CumAccTracker",
    "CurriculumSampler",
    "IndexedDataset",
    "collect_cumacc_scores",
    "collect_ensemble_cumacc_scores",
    "difficulty_ranking",
    "get_pacing_function",
    "train_with_curriculum",
]
