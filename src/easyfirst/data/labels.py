"""Labels of listed audio files: ``file,label`` tables read with one-line errors, and classes.

A table is a CSV (or DCASE's TSV) with a header, one file per row, its path relative to the
dataset folder; a multi-label table has a ``labels`` column of ``;``-separated names. The
checks here refuse what would corrupt a dataset (a missing or absolute path, a file listed
twice or in two splits, a label unknown to training); classes are sorted numerically when
all are integers, and labels are encoded as class ids ``(N,)`` or multi-hot rows ``(N, C)``.

Example:
    >>> sorted_labels(["10", "2", "1"])
    ['1', '2', '10']
    >>> split_labels("dog; bark;dog")
    ('dog', 'bark')
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from easyfirst.audio.io import AudioFileNotFoundError
from easyfirst.errors import InputError

Label = str | tuple[str, ...]  # a class name, or a tuple of them (multi-label)
LABELS_SEP = ";"  # separates the labels of one file in a ``labels`` column
T = TypeVar("T")


def sorted_labels(labels: Iterable[str]) -> list[str]:
    """Unique labels, numerically sorted when all are integers ("2" < "10"), else by string."""
    unique = set(labels)
    if unique and all(re.fullmatch(r"-?\d+", s) for s in unique):
        return sorted(unique, key=int)
    return sorted(unique)


def names_of(label: Label) -> tuple[str, ...]:
    """The class names of one label: ``("dog",)`` for ``"dog"``, a tuple as it is."""
    return (label,) if isinstance(label, str) else label


def encode_labels(labels: Sequence[Label], class_names: Sequence[str]) -> np.ndarray:
    """Class ids ``(N,)`` int64 when every label is a name, else multi-hot ``(N, C)`` float32.

    Example:
        >>> encode_labels([("b",), ("a", "b")], ["a", "b"]).tolist()
        [[0.0, 1.0], [1.0, 1.0]]
    """
    index = {c: i for i, c in enumerate(class_names)}
    if all(isinstance(y, str) for y in labels):
        return np.array([index[names_of(y)[0]] for y in labels], dtype=np.int64)
    out = np.zeros((len(labels), len(class_names)), dtype=np.float32)
    for row, y in enumerate(labels):
        out[row, [index[c] for c in names_of(y)]] = 1.0
    return out


def read_label_table(
    path: Path,
    root: Path,
    *,
    file_col: str = "file",
    label_col: str = "label",
    delimiter: str = ",",
) -> dict[str, str]:
    """Read a ``file,label`` table; every file must exist under ``root``.

    Args:
        path: the CSV/TSV file (with a header row).
        root: directory the ``file`` column is relative to.
        file_col, label_col: header names of the two columns used (others are ignored).
        delimiter: ``","`` for CSV, ``"\\t"`` for DCASE's TSV.

    Returns:
        ``{relative file (POSIX): label}`` in row order.

    Raises:
        ValueError: missing columns, an empty label, an absolute path or a file listed
            twice (names the line); a file that is not UTF-8 (a BOM is accepted).
        AudioFileNotFoundError: a listed file does not exist (names the line and file).
    """
    return _read_table(path, root, file_col, label_col, delimiter, lambda s: s or None,
                       "empty file or label; fill in or remove the row")


def split_labels(cell: str) -> tuple[str, ...]:
    """The ``;``-separated labels of a cell, stripped, without empty pieces or repeats."""
    return tuple(dict.fromkeys(p.strip() for p in cell.split(LABELS_SEP) if p.strip()))


def read_labels_table(path: Path, root: Path, *, file_col: str = "file",
                      label_col: str = "labels") -> dict[str, tuple[str, ...]]:
    """Read a multi-label ``file,labels`` CSV (``;``-separated: ``a.wav,dog; bark``) as
    ``{relative file: labels}``; errors as :func:`read_label_table` (also a row with none)."""
    return _read_table(path, root, file_col, label_col, ",", lambda s: split_labels(s) or None,
                       f"no label; give one or more, '{LABELS_SEP}'-separated, or remove the row")


def read_csv_text(path: Path) -> str:
    """The text of a UTF-8 table (a byte-order mark, as spreadsheets write it, is dropped).

    Raises:
        ValueError: one line naming the file when it is not UTF-8 (e.g. Latin-1).
    """
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(
            f"{path}: expected UTF-8 text; byte 0x{data[e.start]:02x} at offset {e.start} is "
            "not UTF-8 (a Latin-1 or Windows-1252 file?). Save the file as UTF-8 (a "
            "spreadsheet's 'CSV UTF-8') and rerun.") from None


def _read_table(path: Path, root: Path, file_col: str, label_col: str, delimiter: str,
                parse: Callable[[str], T | None], empty: str) -> dict[str, T]:
    reader = csv.DictReader(io.StringIO(read_csv_text(path), newline=""), delimiter=delimiter)
    cols = reader.fieldnames or []
    if file_col not in cols or label_col not in cols:
        sep = "\\t" if delimiter == "\t" else delimiter
        raise InputError(
            f"{path}: expected a header with columns '{file_col}{sep}{label_col}', got "
            f"{cols}; add the header row.")
    out: dict[str, T] = {}
    for row in reader:
        line = reader.line_num
        raw = (row[file_col] or "").strip()
        rel = Path(raw).as_posix()
        label = parse((row[label_col] or "").strip())
        if label is None or rel in ("", "."):
            raise InputError(f"{path.name} line {line}: {empty}.")
        if Path(raw).is_absolute():
            raise InputError(
                f"{path} line {line}: expected a file path relative to the dataset folder "
                f"'{root}'; got the absolute path '{raw}'. Write it relative to that folder "
                "(e.g. audio/x.wav), moving the file under it if needed.")
        if os.path.normpath(rel).split(os.sep)[0] == "..":
            raise InputError(
                f"{path} line {line}: expected a file inside the dataset folder '{root}'; got "
                f"'{raw}', which leads out of it. Move the file under that folder and write "
                "its path relative to it.")
        if rel in out:
            raise InputError(f"{path.name} line {line}: file '{rel}' is listed twice; "
                             f"remove one row.")
        if not (root / rel).is_file():
            raise AudioFileNotFoundError(
                f"{path.name} line {line}: audio file '{rel}' not found under '{root}'; fix "
                f"the path (relative to the dataset root) or remove the row."
            )
        out[rel] = label
    return out


def check_known_labels(table: Mapping[str, Label], class_names: Sequence[str], source: str) -> None:
    """Raise a one-line ``ValueError`` naming the first file with a label that is not a class."""
    known = set(class_names)
    for rel, labels in table.items():
        for label in [y for y in names_of(labels) if y not in known]:
            raise InputError(
                f"{source}: file '{rel}' has label {label!r}, which is not among the training "
                f"labels ({', '.join(class_names)}); fix the label or add the class to training."
            )


def check_disjoint(tables: Mapping[str, Iterable[str]]) -> None:
    """Raise a one-line ``ValueError`` if a file sits in two splits (leakage)."""
    seen: dict[str, str] = {}
    for split, table in tables.items():
        for rel in table:
            if rel in seen:
                raise InputError(
                    f"file '{rel}' is in both the {seen[rel]} and the {split} split; a sample "
                    f"must be in one split only: remove it from one of them."
                )
            seen[rel] = split


