"""``python -m easyfirst.cli.launch [torchrun options] COMMAND ...``: torchrun for easyfirst,
whose errors end as the command's do.

Plain ``torchrun ... -m easyfirst.cli.main COMMAND`` prints each rank's one-line error and
then, in the launcher process, a ``ChildFailedError`` traceback (about 30 lines), exit code 1:
the launcher raises it for any worker that exits non-zero, whatever the worker does. This
module runs torchrun's own launcher (same options, same environment for the workers) and
ends as the command does: a worker's ``easyfirst: error:`` line (exit code 2) is the whole
message, and the launcher exits 2; a worker that ended otherwise (a crash, a signal) gets one
line naming its rank and exit code; the launcher's own errors (a port in use) one line, exit
code 2.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Sequence

from easyfirst.errors import InputError


def _command_names() -> set[str]:
    import argparse

    from easyfirst.cli.main import build_parser

    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def torchrun_argv(argv: Sequence[str]) -> list[str]:
    """torchrun's arguments for ``[torchrun options] COMMAND ...``: ``-m easyfirst.cli.main``
    inserted before the first easyfirst command."""
    names = _command_names()
    for i, word in enumerate(argv):
        if word in names:
            return [*argv[:i], "-m", "easyfirst.cli.main", *argv[i:]]
    raise InputError(f"Expected an easyfirst command ({', '.join(sorted(names))}) after the "
                     f"torchrun options; got {' '.join(argv) or 'none'}. Example: python -m "
                     "easyfirst.cli.launch --nproc_per_node=2 score --dataset digits ...")


def failure_line(rank: int, exitcode: int) -> str | None:
    """The line for a worker that ended with ``exitcode`` (negative: killed by that signal);
    None for easyfirst's own exit code 2, whose line the worker printed."""
    if exitcode == 2:
        return None
    if exitcode < 0:
        try:
            how = f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"was killed by signal {-exitcode}"
    else:
        how = f"ended with exit code {exitcode}"
    return (f"rank {rank} {how}; see its messages above (EASYFIRST_DEBUG=1 shows a Python "
            "error's traceback)")


def exit_code(exitcode: int) -> int:
    """The launcher's exit code for a worker's: as a shell reports it (128 + a signal)."""
    return exitcode if exitcode > 0 else 128 + (-exitcode or 1)


def main(argv: Sequence[str] | None = None) -> int:
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    try:
        args = parse_args(torchrun_argv(sys.argv[1:] if argv is None else argv))
    except ValueError as exc:
        sys.stderr.write(f"easyfirst: error: {exc}\n")
        return 2
    # The launcher's notes on stopping the other workers and on the failed one: the line
    # below (or the worker's own) says it.
    logging.getLogger("torch.distributed.elastic.multiprocessing.api").setLevel(
        logging.CRITICAL)
    try:
        run(args)
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        line = failure_line(rank, failure.exitcode)
        if line is not None:
            sys.stderr.write(f"easyfirst: error: {line}\n")
        return exit_code(failure.exitcode)
    except Exception as exc:  # the launcher's own (a port in use, a rendezvous that failed)
        from easyfirst.cli.main import error_line

        sys.stderr.write(f"easyfirst: error: torchrun's launcher: {error_line(exc)}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
