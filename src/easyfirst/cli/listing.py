"""``easyfirst datasets|models|scorers|pacings|schedules|optimizers|augmentations``."""

from __future__ import annotations

import argparse
import inspect
from typing import Any

from easyfirst.models.recipes import Recipe
from easyfirst.registry import Registry


def _first_line(obj: Any) -> str:
    doc = getattr(obj, "description", None) or inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _extra(registry: Registry[Any], name: str, obj: Any) -> str:
    meta = registry.meta(name)
    bits = []
    if "family" in meta:
        bits.append(f"family {meta['family']}")
    if isinstance(meta.get("recipe"), Recipe):
        bits.append(f"recipe: {meta['recipe'].summary()}")
    if getattr(obj, "params", ()):
        bits.append("options " + " ".join(p.option for p in obj.params))
    return f"  [{'; '.join(bits)}]" if bits else ""


def _print(registry: Registry[Any]) -> int:
    width = max(len(n) for n in registry.names())
    for name, obj in registry.items():
        direction = ""
        if hasattr(obj, "higher_is_easier"):
            direction = "higher=easier  " if obj.higher_is_easier else "lower=easier   "
        print(f"{name:<{width}}  {direction}{_first_line(obj)}{_extra(registry, name, obj)}")
    return 0


def _registries() -> dict[str, Registry[Any]]:
    from easyfirst.audio.augment import AUGMENTATIONS
    from easyfirst.data import DATASETS
    from easyfirst.models import MODELS
    from easyfirst.pacing import PACINGS
    from easyfirst.scoring import SCORERS
    from easyfirst.training.optim import OPTIMIZERS
    from easyfirst.training.schedule import SCHEDULES

    return {"datasets": DATASETS, "models": MODELS, "scorers": SCORERS, "pacings": PACINGS,
            "schedules": SCHEDULES, "optimizers": OPTIMIZERS, "augmentations": AUGMENTATIONS}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    for name in _registries():
        p = sub.add_parser(name, help=f"list the available {name}")
        p.set_defaults(func=lambda args, n=name: _print(_registries()[n]))
