"""A tiny name -> object registry shared by scorers, pacing functions, models and datasets.

A registry finds its members itself, on its first lookup: it imports every module of its
``packages`` (so a new file with the decorator is enough, no import list to edit) and loads
the ``entry_points`` group that third-party packages declare, e.g. in their
``pyproject.toml``::

    [project.entry-points."easyfirst.datasets"]
    mine = "my_package.my_module"    # a module that calls @register_dataset("mine")
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import pkgutil
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

from easyfirst.errors import InputError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects; unknown names raise ``KeyError`` listing the valid ones.

    Example:
        >>> r: Registry[int] = Registry("widget")
        >>> @r.register("one")
        ... def one() -> int:
        ...     return 1
        >>> r.get("one")()
        1
    """

    def __init__(self, kind: str, *, packages: Sequence[str] = (),
                 entry_points: str | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._packages = tuple(packages)
        self._group = entry_points
        self._found = not (self._packages or entry_points)

    def discover(self) -> None:
        """Import the modules of ``packages`` and load the ``entry_points`` group, once.

        A plugin that fails to load is skipped with a warning naming it; a module of the
        package itself that fails to import raises (it is a bug in easyfirst).
        """
        if self._found:
            return
        self._found = True
        for package in self._packages:
            pkg = importlib.import_module(package)
            for info in pkgutil.iter_modules(pkg.__path__):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{package}.{info.name}")
        if self._group is None:
            return
        for ep in importlib.metadata.entry_points(group=self._group):
            try:
                ep.load()
            except Exception as err:  # a broken plugin must not break easyfirst
                warnings.warn(f"easyfirst: the {self.kind} plugin {ep.name!r} ({ep.value}) of "
                              f"{self._group!r} failed to load ({err}); skipped. Fix or "
                              "uninstall it.", stacklevel=2)

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; ``meta`` is kept for :meth:`meta`."""

        def decorator(obj: T) -> T:
            if name in self._items:
                raise InputError(f"{self.kind} {name!r} is already registered; pick another name.")
            self._items[name] = obj
            self._meta[name] = dict(meta)
            return obj

        return decorator

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests, or a plugin that replaces an entry)."""
        self.get(name)
        del self._items[name], self._meta[name]

    def meta(self, name: str) -> dict[str, Any]:
        """The metadata ``name`` was registered with (raises like :meth:`get` when unknown)."""
        self.get(name)
        return dict(self._meta[name])

    def get(self, name: str) -> T:
        self.discover()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(
                f"Unknown {self.kind} {name!r}. Available: {', '.join(self.names())}."
            ) from None

    def check_keywords(self, name: str, options: Mapping[str, Any], *, how: str,
                       fixed: Collection[str] = ()) -> None:
        """Refuse keywords that ``name``'s callable does not take, in one line listing those it
        does (from its signature). ``fixed`` are keywords easyfirst passes itself; ``how``
        says how the user passes options (e.g. ``"--model-opt KEY=VALUE"``)."""
        fn: Any = self.get(name)
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):  # no signature to check against
            return
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
        accepted = sorted(p.name for p in params if p.name not in fixed and p.kind in (
            p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        for key in options:
            if key in fixed:
                raise InputError(
                    f"{self.kind.capitalize()} option {key!r} is set by easyfirst for {name!r}; "
                    f"expected one of: {', '.join(accepted) or 'none'}. Drop {key}."
                )
            if not takes_any and key not in accepted:
                raise InputError(
                    f"Unknown {self.kind} option {key!r} for {name!r}; expected one of: "
                    f"{', '.join(accepted) or 'none (it takes no options)'}. Fix or drop it "
                    f"({how})."
                )

    def names(self) -> list[str]:
        self.discover()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self.discover()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._items[n]) for n in self.names()]


class UnknownNameError(KeyError, InputError):
    """An unknown registry name; catchable as ``KeyError``, ``ValueError`` or ``InputError``."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""
