"""Your own ``nn.Module`` as a model: a factory registered under a generated name.

``RunConfig(model=...)`` and the scorers that train models take a registry name. A factory,
``make() -> nn.Module`` or ``make(input_shape, num_classes) -> nn.Module`` (a class works
too), is registered once under ``custom:<qualname>`` (``custom:<qualname>#2`` for a second
factory of that name), so configs stay plain, serialisable names. The name only resolves in
the process that registered it: in a new process, pass the factory again.

Example:
    >>> from torch import nn
    >>> def make_net(input_shape, num_classes):
    ...     return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0], num_classes))
    >>> name = model_name(make_net)
    >>> name, model_name(make_net) == name, MODELS.meta(name)["source"]
    ('custom:make_net', True, 'user factory')
    >>> MODELS.get(name)(input_shape=(4,), num_classes=3)[1]
    Linear(in_features=4, out_features=3, bias=True)
    >>> MODELS.unregister(name)  # (a name can be dropped, e.g. after a test)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from easyfirst.models.registry import MODELS

_NAMES: dict[int, tuple[Callable[..., nn.Module], str]] = {}  # id -> (factory kept alive, name)


def model_name(model: str | Callable[..., nn.Module]) -> str:
    """A registry name for ``model``: a name as it is, a factory registered once (module notes).

    Raises:
        TypeError: ``model`` is neither a name nor a callable, is an ``nn.Module`` instance,
            or is a callable whose arguments are neither none nor ``(input_shape, num_classes)``.
    """
    if isinstance(model, str):
        return model
    if isinstance(model, nn.Module) or not callable(model):
        raise TypeError(
            f"Expected a model name or a factory returning an nn.Module; got an "
            f"instance of {type(model).__name__}. Pass e.g. model=lambda: MyNet() (a fresh model "
            "per training), not a built model."
        )
    known = _NAMES.get(id(model))
    if known is not None and known[0] is model and known[1] in MODELS:
        return known[1]
    qualname = getattr(model, "__qualname__", type(model).__name__)
    name, count = f"custom:{qualname}", 1
    while name in MODELS:
        count += 1
        name = f"custom:{qualname}#{count}"
    MODELS.register(name, source="user factory", factory=qualname)(_builder(model, qualname))
    _NAMES[id(model)] = (model, name)
    return name


def _builder(factory: Callable[..., nn.Module], qualname: str) -> Callable[..., nn.Module]:
    """The registry builder ``(*, input_shape, num_classes, **options)`` over ``factory``."""
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):  # no signature (a builtin): call it without arguments
        params = []
    names = {p.name for p in params}
    required = [p for p in params if p.default is p.empty and p.kind in (
        p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    by_name = {"input_shape", "num_classes"} <= names
    if not by_name and len(required) not in (0, 2):
        raise TypeError(
            f"Expected a model factory taking no arguments or (input_shape, num_classes); got "
            f"{qualname}{inspect.signature(factory)}. Wrap it, e.g. lambda: {qualname}(...)."
        )

    def build(*, input_shape: tuple[int, ...], num_classes: int, **options: Any) -> nn.Module:
        if by_name:
            model = factory(input_shape=input_shape, num_classes=num_classes, **options)
        elif required:
            model = factory(input_shape, num_classes, **options)
        else:
            model = factory(**options)
        if not isinstance(model, nn.Module):
            raise TypeError(f"Model factory {qualname} returned a {type(model).__name__}; "
                            "expected an nn.Module. Return the model from the factory.")
        return model

    return build
