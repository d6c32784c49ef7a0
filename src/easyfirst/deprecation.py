"""Deprecated names: a keyword renamed in this release still works for one more, with a
warning; given together with its new name it is refused."""

from __future__ import annotations

import warnings
from typing import TypeVar

from easyfirst.errors import InputError

T = TypeVar("T")


def renamed(owner: str, old: str, old_value: T | None, new: str, new_value: T) -> T:
    """The value of a keyword given by its deprecated name ``old`` (a warning, for one
    release) or by its name ``new``; both at once are refused."""
    if old_value is None:
        return new_value
    if new_value not in (None, 0):
        raise InputError(f"Expected {owner}({new}=) only; got {old}= too (its deprecated "
                         f"name). Pass {new}= alone.")
    warnings.warn(f"{owner}({old}=) is renamed {new}=; {old} will be removed in easyfirst "
                  "0.3.", DeprecationWarning, stacklevel=3)
    return old_value
