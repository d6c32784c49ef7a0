"""``easyfirst datasets|models|scorers|pacings|schedules|optimizers|augmentations``, and
``easyfirst datasets NAME``: one dataset's layout and options (``models NAME``: one model's
recipe and options). Docstrings are shown as plain
text (no reST markup)."""

from __future__ import annotations

import argparse
import inspect
import re
from typing import Any

from easyfirst.cli.commands import COMMANDS, LISTINGS
from easyfirst.data.registry import (
    SECTIONS,
    arg_docs,
    dataset_layout,
    loader_options,
    plain_doc,
)
from easyfirst.models.recipes import Recipe
from easyfirst.registry import Registry

JSON_VALUES = "VALUE is read as JSON where it parses: 3, 0.5, true, [256,128]"


def _first_line(obj: Any) -> str:
    doc = getattr(obj, "description", None) or inspect.getdoc(obj) or ""
    return plain_doc(doc.strip().splitlines()[0]) if doc.strip() else ""


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


def _show_dataset(name: str) -> int:
    """Print dataset ``name``: its summary, the layout of ``--root`` and its options."""
    from easyfirst.data import DATASETS

    body = _summary(DATASETS.get(name))
    layout = dataset_layout(name)
    print(f"{name}: {body}" + (f"\n\n{layout}" if layout not in body else ""))
    keys = [(k, d, t) for k, d, t in loader_options(name) if k != "progress"]
    root = [(d, t) for k, d, t in keys if k == "root"]
    if root:
        need = "required" if root[0][0] is inspect.Parameter.empty else f"default {root[0][0]}"
        print(f"\n--root PATH ({need}): {root[0][1]}")
    return _print_options("--dataset-opt", [(f"{k}={d}", t) for k, d, t in keys if k != "root"])


def _show_model(name: str) -> int:
    """Print model ``name``: its summary, recipe and ``--model-opt`` keys with defaults."""
    from easyfirst.models import MODELS

    fn = MODELS.get(name)
    print(f"{name}: {_summary(fn)}{_extra(MODELS, name, fn)}")
    docs = arg_docs(fn)
    return _print_options("--model-opt", [
        (f"{p.name}={p.default}", docs.get(p.name, ""))
        for p in inspect.signature(fn).parameters.values()
        if p.name not in ("input_shape", "num_classes") and p.default is not p.empty])


def _summary(fn: Any) -> str:
    """A docstring's text before its Args/Returns/... sections, without markup."""
    doc = inspect.getdoc(fn) or ""
    return plain_doc(re.split(rf"^(?:{'|'.join(SECTIONS)})$", doc, flags=re.M)[0].strip())


def _print_options(flag: str, opts: list[tuple[str, str]]) -> int:
    """``flag KEY=VALUE`` options as ``key=default  help`` lines."""
    print(f"\n{flag} KEY=VALUE options (default shown; {JSON_VALUES}):" if opts else
          f"\nNo {flag} options.")
    width = max((len(o) for o, _ in opts), default=0)
    for opt, text in opts:
        print(f"  {opt:<{width}}  {text}".rstrip())
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
    for name in LISTINGS:
        p = sub.add_parser(name, help=COMMANDS[name].help)
        p.set_defaults(func=lambda args, n=name: _print(_registries()[n]))
    p = sub._name_parser_map["datasets"]
    p.add_argument("name", nargs="?", metavar="NAME",
                   help="show this dataset's layout (what --root holds) and its options")
    p.set_defaults(func=lambda args: _show_dataset(args.name) if args.name
                   else _print(_registries()["datasets"]))
    p = sub._name_parser_map["models"]
    p.add_argument("name", nargs="?", metavar="NAME",
                   help="show this model's recipe and its --model-opt options")
    p.set_defaults(func=lambda args: _show_model(args.name) if args.name
                   else _print(_registries()["models"]))
