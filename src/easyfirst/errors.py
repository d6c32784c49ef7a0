"""The ``EasyfirstError`` family: every error easyfirst raises on purpose.

Each subclasses the builtin that callers already catch, so ``except ValueError`` keeps
working and ``except EasyfirstError`` catches what easyfirst refuses (its message is one
line: what was expected, what was got, what to do):

=========================  ======================  ========================================
class                      also a                  raised for
=========================  ======================  ========================================
``InputError``             ``ValueError``          a setting, argument, file or data that
                                                   cannot be used as given
``MissingFileError``       ``FileNotFoundError``   a file or folder that is not there
``OutputExistsError``      ``FileExistsError``     an output that would replace another
``TrainingDivergedError``  ``FloatingPointError``  a NaN/inf training loss
=========================  ======================  ========================================

Older names keep their place in the family: ``UnknownNameError`` (a registry lookup, also a
``KeyError``), ``ScoresFileError`` and ``AudioError`` are ``InputError`` s,
``FolderLockedError`` (also a ``RuntimeError``) an ``EasyfirstError``.
"""

from __future__ import annotations


class EasyfirstError(Exception):
    """Base of the errors easyfirst raises on purpose (module notes)."""


class InputError(EasyfirstError, ValueError):
    """A setting, argument, file or data that cannot be used as given."""


class MissingFileError(EasyfirstError, FileNotFoundError):
    """A file or folder that is not there."""


class OutputExistsError(EasyfirstError, FileExistsError):
    """An output that would replace another (a run folder of other settings, say)."""


class TrainingDivergedError(EasyfirstError, FloatingPointError):
    """A training loss that became NaN or infinite."""

