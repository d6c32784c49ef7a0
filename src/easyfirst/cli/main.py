"""The ``easyfirst`` command: one module per subcommand, dispatched from here."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from easyfirst._version import __version__
from easyfirst.cli import listing, report, reproduce, score, train

SUBCOMMANDS = (score, train, reproduce, report, listing)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="easyfirst",
        description="Score per-sample difficulty from training dynamics and train with curricula.",
    )
    parser.add_argument("--version", action="version", version=f"easyfirst {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError, IndexError, RuntimeError, OSError) as exc:
        if os.environ.get("EASYFIRST_DEBUG"):
            raise
        msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        print(
            f"easyfirst: error: {msg.splitlines()[0] if msg else type(exc).__name__}",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
