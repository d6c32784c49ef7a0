"""Dataset registry: ``name -> loader(**options) -> DatasetBundle``, and what each loader takes.

A loader's options and its layout (what ``root`` must hold) are read from its signature and
its Google-style docstring (``Args:``; a paragraph about the layout in it or in its module's
docstring), so ``easyfirst datasets NAME`` and the missing-option errors need no second copy.
"""

from __future__ import annotations

import importlib
import inspect
import math
import numbers
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from easyfirst.data.base import DatasetBundle
from easyfirst.data.label_noise import check_label_noise, with_label_noise
from easyfirst.errors import InputError
from easyfirst.registry import Registry

DatasetLoader = Callable[..., DatasetBundle]
DATASETS: Registry[DatasetLoader] = Registry(
    "dataset", packages=("easyfirst.data",), entry_points="easyfirst.datasets")
register_dataset = DATASETS.register
NOISE_DEFAULTS: dict[str, Any] = {"label_noise": 0.0, "noise_kind": "uniform", "noise_seed": 0}
"""``load_dataset``'s label-noise keywords (any dataset) and their defaults."""
SECTIONS = ("Args:", "Returns:", "Raises:", "Example:", "Examples:", "Attributes:")
_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|obj|exc):`~?([^`]+)`")
_SEE = re.compile(r"^(?:as in|see) :func:`~?([\w.]+)`")


def plain_doc(text: str) -> str:
    """``text`` without reST markup: ````x```` -> x, ``:func:`a.b``` -> a.b, ``*x*`` -> x, and
    a literal block's ``::`` -> ``:``."""
    text = _ROLE.sub(r"\1", text)
    text = re.sub(r"``([^`]+)``", r"\1", text)
    text = re.sub(r"(?<![\w*])\*{1,2}([A-Za-z][\w '-]*)\*{1,2}(?![\w*])", r"\1", text)
    return re.sub(r"::$", ":", text, flags=re.M)


def _args_section(doc: str) -> dict[str, str]:
    """``name -> text`` of a docstring's ``Args:`` (``a, b: text`` gives both names)."""
    out: dict[str, str] = {}
    names: list[str] = []
    inside = False
    for line in doc.splitlines():
        if line.strip() in SECTIONS:
            inside = line.strip() == "Args:"
            continue
        if not inside or not line.strip():
            continue
        m = re.match(r"^    (\w[\w, ]*):(?:\s+(.*))?$", line)
        if m:
            names = [n.strip() for n in m.group(1).split(",")]
            for n in names:
                out[n] = m.group(2) or ""
        else:
            for n in names:
                out[n] += " " + line.strip()
    return out


def _resolve(path: str, near: Any) -> Any:
    """The function a docstring names (``load_folder`` in ``near``'s module, or dotted)."""
    module, _, attr = path.rpartition(".")
    try:
        owner = importlib.import_module(module) if module else sys.modules[near.__module__]
    except ImportError:
        return None
    return getattr(owner, attr, None)


def arg_docs(fn: Any) -> dict[str, str]:
    """Each documented argument of ``fn``, plain text; ``as in :func:`f``` is followed to
    ``f``'s own line for that argument."""
    docs = _args_section(inspect.getdoc(fn) or "")
    for name, text in docs.items():
        see = _SEE.match(text)
        other = _resolve(see.group(1), fn) if see else None
        if other is not None and other is not fn:
            docs[name] = arg_docs(other).get(name, text)
    return {k: plain_doc(v) for k, v in docs.items()}


def loader_options(name: str) -> list[tuple[str, Any, str]]:
    """``(keyword, default or inspect.Parameter.empty, help)`` of dataset ``name``'s loader."""
    fn = DATASETS.get(name)
    docs = arg_docs(fn)
    return [(p.name, p.default, docs.get(p.name, ""))
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def dataset_layout(name: str) -> str:
    """The paragraph (and the block after it) on the layout of ``name``'s files: from the
    loader's docstring, else its module's; ``""`` when neither has one."""
    fn = DATASETS.get(name)
    for doc in (inspect.getdoc(fn), inspect.getdoc(sys.modules[fn.__module__])):
        blocks = (doc or "").split("\n\n")
        for i, block in enumerate(blocks):
            if "layout" in block.lower() and block.rstrip().endswith(":"):
                return plain_doc("\n\n".join(blocks[i:i + 2]))
    return ""


def _check_required(name: str, options: dict[str, Any]) -> None:
    """Refuse a missing required option, and a required ``root`` that is not a folder, in one
    line (a loader with a default root, e.g. a Debian package's, says how to install it)."""
    for key, default, text in loader_options(name):
        flag = "--root PATH" if key == "root" else f"--dataset-opt {key}=VALUE"
        what = text.rstrip(".") or key
        if default is inspect.Parameter.empty and key not in options:
            raise InputError(f"Expected {flag} for dataset {name} ({what}); got none. Pass it "
                             f"(easyfirst datasets {name} shows the layout).")
        if key != "root" or default is not inspect.Parameter.empty or options.get(key) is None:
            continue  # (a default root: the loader's own hint)
        root = Path(options[key]).expanduser()
        if root.is_dir():
            continue
        exc: type[OSError] = FileNotFoundError
        got, fix = "which does not exist", "Check the path"
        if root.exists():
            got, exc = "which is a file, not a folder", NotADirectoryError
            fix = f"Pass its folder, e.g. {str(root.parent)!r}"
        raise exc(f"Expected --root to be the folder of dataset {name} ({what}); got "
                  f"{str(options[key])!r}, {got}. {fix} (easyfirst datasets {name} shows the "
                  "layout).")


def _number_kind(param: inspect.Parameter | None) -> type | None:
    """What a loader keyword takes, from its default (or an ``int | None``/``float | None``
    annotation): ``bool``, ``int`` or ``float``; None for anything else (paths, names)."""
    default = None if param is None else param.default
    if isinstance(default, bool | int | float):
        return type(default)
    annotation = "" if param is None else str(param.annotation)
    return {"int | None": int, "float | None": float}.get(annotation)


def _check_option_values(name: str, options: dict[str, Any]) -> None:
    """A numeric option takes a finite number (a whole one where the loader's default is an
    int), a bool option a bool; options named ``*fraction`` lie in [0, 1]. One line naming
    the option, before anything is loaded."""
    params = inspect.signature(DATASETS.get(name)).parameters
    for key, value in options.items():
        kind = _number_kind(params.get(key))
        if kind is None or (value is None and params[key].default is None):
            continue
        number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if kind is bool:
            ok, want = isinstance(value, bool), "true or false"
        else:
            ok = number and math.isfinite(value) and (kind is float or float(value).is_integer())
            want = "a whole number" if kind is int else "a finite number"
            if ok and key.endswith("fraction") and not 0 <= value <= 1:
                ok, want = False, "a fraction from 0 to 1"
        if not ok:
            raise InputError(f"Expected --dataset-opt {key} to be {want} (default "
                             f"{params[key].default!r}) for {name!r}; got {value!r}. Fix or "
                             "drop it (nothing was written).")


def load_dataset(name: str, *, progress: bool | None = None, **options: Any) -> DatasetBundle:
    """Load a registered dataset; ``options`` are loader keywords (e.g. ``root=...``).

    Args:
        name: a registered dataset (``easyfirst datasets``).
        progress: show the loader's progress bars (feature caching); ``None`` keeps the
            loader's default. Loaders without bars ignore it.
        **options: the loader's keywords, and any dataset's label-noise keywords:
            ``label_noise`` (share of training labels to flip, in [0, 1); single-label data;
            default 0: none), ``noise_kind`` (``uniform``: another class at random, the
            default; ``pairs``: a seeded pairing of the classes) and ``noise_seed`` (default
            0); see ``easyfirst.data.label_noise.with_label_noise``.

    An option the loader does not take, a required one missing, a ``root`` that does not
    exist or bad label-noise settings raise ``ValueError`` (``FileNotFoundError`` for the
    root) in one line, before anything is loaded; label noise on multi-label data is refused
    once loaded.
    """
    noise = {k: options.pop(k, v) for k, v in NOISE_DEFAULTS.items()}
    check_label_noise(noise["label_noise"], noise["noise_kind"], noise["noise_seed"])
    DATASETS.check_keywords(name, options, how="--dataset-opt KEY=VALUE, --root PATH")
    _check_required(name, options)
    _check_option_values(name, options)
    takes = inspect.signature(DATASETS.get(name)).parameters
    if progress is not None and "progress" in takes:
        options.setdefault("progress", progress)
    bundle = DATASETS.get(name)(**options)
    return with_label_noise(bundle, noise["label_noise"], noise["noise_kind"],
                            seed=noise["noise_seed"])
