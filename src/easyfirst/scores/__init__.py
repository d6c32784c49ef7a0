"""Per-sample difficulty scores and their files.

``Scores`` (``easyfirst.scores.base``) holds N scores with their direction, meta and tie rule;
its easy-to-hard order follows ``easyfirst.scores.ties``, its summary
``easyfirst.scores.summary``. Score files (``easyfirst.scores.files``) are a CSV
(``csv_file``, rows through ``csv_rows``) or an ``.npz`` (``npz``), checked alike
(``checks``); ``easyfirst.scores.aucurriculum`` converts aucurriculum's score CSVs.
"""

from __future__ import annotations

from easyfirst.atomic import atomic_write_text
from easyfirst.scores.base import Scores, save_unless_same
from easyfirst.scores.checks import FORMAT, VERSION, ScoresFileError, is_permutation
from easyfirst.scores.csv_file import label_texts
from easyfirst.scores.files import read_score_file, read_score_header, write_score_file
from easyfirst.scores.summary import distinct_values
from easyfirst.scores.ties import TIE_RULES, tie_problem

__all__ = [  # ScoresFileError and atomic_write_text: re-exported, callers import them here
    "FORMAT", "TIE_RULES", "VERSION", "Scores", "ScoresFileError", "atomic_write_text",
    "distinct_values", "is_permutation", "label_texts", "read_score_file", "read_score_header",
    "save_unless_same", "tie_problem", "write_score_file",
]
