"""One ``EasyfirstError`` family: what easyfirst raises on purpose is one of them, and also the
builtin callers already catch."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import easyfirst
from easyfirst.data import load_dataset
from easyfirst.errors import (
    EasyfirstError,
    InputError,
    MissingFileError,
    OutputExistsError,
    TrainingDivergedError,
)
from easyfirst.locks import FolderLockedError
from easyfirst.recording import OutcomeRecorder, TrainingDynamics
from easyfirst.registry import UnknownNameError
from easyfirst.scores import Scores

SRC = Path(__file__).resolve().parents[1] / "src" / "easyfirst"
BUILTINS = {"ValueError", "FileNotFoundError", "FileExistsError", "FloatingPointError"}
PURE = {"analysis/stats.py"}  # functional math that imports nothing from easyfirst


@pytest.mark.parametrize(("cls", "builtin"), [
    (InputError, ValueError), (MissingFileError, FileNotFoundError),
    (OutputExistsError, FileExistsError), (TrainingDivergedError, FloatingPointError),
    (UnknownNameError, KeyError), (UnknownNameError, ValueError),
    (FolderLockedError, RuntimeError),
])
def test_each_is_an_easyfirst_error_and_its_builtin(cls, builtin):
    assert issubclass(cls, EasyfirstError) and issubclass(cls, builtin)
    assert getattr(easyfirst, cls.__name__, cls) is cls  # the root exports the family


def test_library_refusals_are_easyfirst_errors(tmp_path):
    with pytest.raises(InputError, match="num_samples >= 1"):
        OutcomeRecorder(0)
    with pytest.raises(UnknownNameError):
        load_dataset("no-such-dataset")
    with pytest.raises(MissingFileError):
        TrainingDynamics.load(tmp_path / "absent.pt")
    with pytest.raises(EasyfirstError):
        Scores.load(tmp_path / "absent.csv")
    with pytest.raises(ValueError):  # still caught as the builtin
        OutcomeRecorder(4, outcomes="margin").update(torch.tensor([0]), None,
                                                     correct=torch.tensor([1]))


def _raised_builtins(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            name = getattr(node.exc.func, "id", None)
            if name in BUILTINS:
                out.append(f"{path.relative_to(SRC)}:{node.lineno} {name}")
    return out


def test_no_bare_builtin_is_raised_outside_pure_math():
    found = [hit for p in sorted(SRC.rglob("*.py"))
             if str(p.relative_to(SRC)) not in PURE for hit in _raised_builtins(p)]
    assert not found, "raise the easyfirst.errors class instead: " + ", ".join(found[:10])


def test_a_deprecated_name_warns_and_is_refused_beside_its_new_name():
    with pytest.warns(DeprecationWarning, match=r"OutcomeRecorder\(max_epochs=\) is renamed"):
        assert OutcomeRecorder(4, max_epochs=7).epochs == 7
    with pytest.raises(InputError, match=r"Expected OutcomeRecorder\(epochs=\) only; got "
                                         r"max_epochs= too"):
        OutcomeRecorder(4, epochs=7, max_epochs=7)
