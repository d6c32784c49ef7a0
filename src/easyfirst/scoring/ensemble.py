"""Seed ensembles: the mean of per-seed scores of one scorer on one dataset."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from easyfirst.errors import InputError
from easyfirst.scores import Scores


def ensemble(members: Sequence[Scores], *, names: Sequence[str] | None = None) -> Scores:
    """Average per-seed ``Scores`` (K members of N samples) into one ``Scores``.

    For CumAcc with equal epochs per member this equals pooling the correct counts. Members
    must share scorer, direction, N and dataset fingerprint. Where every member holds a tie
    key of the same evidence (coarse scorers: ``Scores.tie_key``), the ensemble's key is their
    mean (the seeds' mean AUM, say); members read from files give their rank column, so the
    ensemble orders its ties by the members' mean rank. Otherwise ties are ordered at random.

    Args:
        members: K per-seed scores.
        names: optional member labels (e.g. file names) recorded in ``meta["members"]``.
    """
    if not members:
        raise InputError("Expected at least one member Scores to ensemble; got none.")
    first = members[0]
    for k, m in enumerate(members[1:], start=1):
        for what, a, b in (
            ("dataset fingerprint", first.fingerprint, m.fingerprint),
            ("number of samples", first.num_samples, m.num_samples),
            ("scorer", first.scorer, m.scorer),
            ("direction", first.higher_is_easier, m.higher_is_easier),
        ):
            if a != b:
                raise InputError(
                    f"Cannot ensemble member {k}: its {what} is {b!r} but member 0 has {a!r}. "
                    "Ensemble only scores of one scorer computed on the same dataset."
                )
    values = np.mean(np.stack([m.values for m in members]), axis=0)
    seeds = [s for m in members for s in m.meta.get("seeds", [])]
    meta = {k: v for k, v in first.meta.items() if k not in ("seeds", "members")}
    meta.update(
        seeds=seeds,
        members=list(names)
        if names is not None
        else [{"seeds": m.meta.get("seeds", []), "epochs": m.meta.get("epochs")} for m in members],
        ensemble_size=len(members),
    )
    keys = [m.tie_key for m in members if m.tie_key is not None]
    same = len({m.meta.get("tie_evidence") for m in members}) == 1
    key = np.mean(np.stack(keys), axis=0) if same and len(keys) == len(members) else None
    if key is None and meta.get("tie_break") == "evidence":
        meta.update(tie_break="random")
        meta.pop("tie_evidence", None)
    return Scores(values, higher_is_easier=first.higher_is_easier, meta=meta, tie_key=key)
