"""``easyfirst datasets|models|scorers``: list the registries."""

from __future__ import annotations

import argparse
import inspect
from typing import Any

from easyfirst.models.recipes import Recipe
from easyfirst.registry import Registry


def _first_line(obj: Any) -> str:
    doc = getattr(obj, "description", None) or inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _print(registry: Registry[Any]) -> int:
    width = max(len(n) for n in registry.names())
    for name, obj in registry.items():
        direction = ""
        if hasattr(obj, "higher_is_easier"):
            direction = "higher=easier  " if obj.higher_is_easier else "lower=easier   "
        recipe = registry.meta(name).get("recipe")
        extra = f"  [recipe: {recipe.summary()}]" if isinstance(recipe, Recipe) else ""
        print(f"{name:<{width}}  {direction}{_first_line(obj)}{extra}")
    return 0


def _registries() -> dict[str, Registry[Any]]:
    from easyfirst.data import DATASETS
    from easyfirst.models import MODELS
    from easyfirst.scoring import SCORERS

    return {"datasets": DATASETS, "models": MODELS, "scorers": SCORERS}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    for name in ("datasets", "models", "scorers"):
        p = sub.add_parser(name, help=f"list the available {name}")
        p.set_defaults(func=lambda args, n=name: _print(_registries()[n]))
