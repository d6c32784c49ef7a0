"""The ``easyfirst`` subcommands: for each name, the module that builds its parser and its
one-line help. Importing this loads nothing else, so ``easyfirst --help`` (and a usage error
in the command's name) answers without importing torch; a subcommand's own options are built
only when that subcommand is named."""

from __future__ import annotations

from typing import NamedTuple


class Command(NamedTuple):
    module: str  # easyfirst.cli.<module> has add_parsers(sub)
    help: str


LISTINGS = ("datasets", "models", "scorers", "pacings", "schedules", "optimizers",
            "augmentations")

COMMANDS: dict[str, Command] = {
    "score": Command("score", "train over seeds and score every training sample"),
    "train": Command("train", "train with a curriculum (or the baseline)"),
    "reproduce": Command("reproduce", "the paper's protocol: score, train the curriculum grid "
                         "and baselines, fuse, report"),
    "report": Command("report", "write report.html and report.md for a score, train or "
                      "reproduce folder"),
    "fuse": Command("fuse", "late fusion of train runs: fused and per-member accuracy"),
    "export": Command("export", "write every training sample's scores, id, label and "
                      "prediction as CSV"),
    **{name: Command("listing", f"list the available {name}") for name in LISTINGS},
}
