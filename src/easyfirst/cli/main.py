"""The ``easyfirst`` command: one module per subcommand, dispatched from here.

Every error a user can cause ends as one line on stderr, ``easyfirst: error: ...``, and exit
code 2: usage errors (``Parser.error``), the library's errors, and any other exception (named
by its type; ``EASYFIRST_DEBUG=1`` re-raises it with the traceback). Output piped into a
reader that goes away (``easyfirst scorers | head -1``) stops quietly with code 141.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import re
import select
import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, NoReturn

from easyfirst._version import __version__
from easyfirst.atomic import PARTIAL
from easyfirst.cli.commands import COMMANDS
from easyfirst.errors import EasyfirstError, InputError

# Errors whose message is the whole story; any other type is named in the line. ImportError:
# a missing extra, with its install line.
EXPECTED = (EasyfirstError, ValueError, KeyError, FileNotFoundError, IndexError, RuntimeError,
            OSError, FloatingPointError, ImportError)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (argparse's message and where to
    look), exit code 2, and whose help shows every option's default."""

    class Formatter(argparse.RawDescriptionHelpFormatter):
        """Descriptions as written; ``(default: X)`` after an option's help unless the help
        already names its default or there is none (``None``, ``False``, empty)."""

        def _get_help_string(self, action: argparse.Action) -> str | None:
            text = action.help or ""
            default = action.default
            if (not action.option_strings or "default" in text.lower() or default is None
                    or default is False or default in (argparse.SUPPRESS, [])
                    or text == argparse.SUPPRESS):
                return action.help
            return f"{text} (default: %(default)s)".lstrip()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Parser.Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        command = self.prog if self.prog.startswith("easyfirst") else f"easyfirst {self.prog}"
        self.exit(2, f"easyfirst: error: {message.splitlines()[0]}; see {command} --help\n")

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        """As argparse's, but unknown arguments are reported by the subcommand's parser."""
        ns, extra = self.parse_known_args(args, namespace)
        if extra:
            owner: argparse.ArgumentParser = self
            for action in self._actions:
                if isinstance(action, argparse._SubParsersAction):
                    owner = action.choices.get(str(getattr(ns, action.dest, "")), self)
            owner.error(f"unrecognized arguments: {' '.join(extra)}")
        return ns


def build_parser(command: str | None = "*") -> argparse.ArgumentParser:
    """The ``easyfirst`` parser with every subcommand's options (``command="*"``), or only
    ``command``'s (the others by name and help alone: their modules, and torch, stay
    unimported; ``None``: none, enough for ``easyfirst --help``)."""
    parser = Parser(
        prog="easyfirst",
        description="Score per-sample difficulty from training dynamics and train with curricula.",
    )
    parser.add_argument("--version", action="version", version=f"easyfirst {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    wanted = COMMANDS[command].module if command in COMMANDS else command
    for name, cmd in COMMANDS.items():
        if name in sub.choices:  # added with its module's other subcommands (the listings)
            continue
        if wanted in ("*", cmd.module):
            importlib.import_module(f"easyfirst.cli.{cmd.module}").add_parsers(sub)
        else:
            sub.add_parser(name, help=cmd.help)
    return parser


def _named_command(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names: its first word that is not an option."""
    return next((a for a in argv if not a.startswith("-")), None)


def error_line(exc: BaseException) -> str:
    """The one line shown for ``exc`` (after ``easyfirst: error: ``)."""
    if isinstance(exc, KeyError) and exc.args:
        msg = str(exc.args[0])
    elif isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        msg = _disk_full(exc)
    elif isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        msg = (f"{str(exc.filename)!r}: {exc.strerror.lower()}; check the path and its "
               "permissions, or choose another one")
    else:
        msg = str(exc)
    lines = [line for line in msg.splitlines() if line.strip()]
    line = lines[0] if lines else type(exc).__name__
    if not isinstance(exc, EXPECTED):
        line += f" ({type(exc).__name__}; set EASYFIRST_DEBUG=1 for the traceback)"
    return line


def _disk_full(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    if "disk full" in text:  # already names the file (easyfirst.atomic, Scores.save)
        return text
    name = str(exc.filename) if exc.filename is not None else None
    if name is not None:  # an atomic write's temp file '.NAME.XXXX.easyfirst-partial': NAME
        parts = Path(name).parts  # and a staging folder's name (a report's) left out
        name = str(Path(*(p for p in parts[:-1] if not p.endswith(PARTIAL)), parts[-1]))
        head, tail = os.path.split(name)
        m = re.fullmatch(r"\.(.+)\.\w+\.(?:tmp|partial|easyfirst-partial)", tail)
        name = os.path.join(head, m.group(1)) if m else name
    where = f"while writing {name!r}" if name is not None else "while writing"
    return (f"disk full {where} ({exc.strerror or 'No space left on device'}); free some "
            "space or choose another --out folder (finished files are unchanged)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_named_command(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (one line, from Parser.error), --help, --version
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    try:
        with _job(args):
            code = int(args.func(args) or 0)
    except BrokenPipeError as exc:
        code = 141 if _stdout_gone() else _report(exc)  # 141 = 128 + SIGPIPE, as shell tools
    except Exception as exc:
        if os.environ.get("EASYFIRST_DEBUG"):
            _leave_process_group()
            raise
        code = _report(exc)
    except BaseException:
        _leave_process_group()
        raise
    if _leave_process_group() and "TORCHELASTIC_RUN_ID" in os.environ:
        # Under torchrun, skip the interpreter's teardown: with gloo it aborted a finished
        # process now and then ("terminate called without an active exception", after
        # destroy_process_group, all files written).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _stdout_gone() -> bool:
    """Whether stdout's reader went away (``easyfirst scorers | head``): then stop quietly,
    with stdout pointed at /dev/null so that the exit flush does not fail again."""
    try:
        fd = sys.stdout.fileno()
        poll = select.poll()
        poll.register(fd, select.POLLOUT)
        gone = any(ev & select.POLLERR for _, ev in poll.poll(0))  # a pipe without a reader
    except (OSError, ValueError, AttributeError):  # no real stdout, or no poll here
        return False
    if gone:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
    return gone


def _report(exc: Exception) -> int:
    sys.stderr.write(f"easyfirst: error: {error_line(exc)}\n")  # one write: ranks interleave
    return 2


def _job(args: argparse.Namespace) -> AbstractContextManager[Any]:
    """A training command's job (``easyfirst.monitor``): its overall progress line, the
    loggers of ``--log``, checked before anything runs, and its ``--threads``."""
    if not hasattr(args, "log"):
        return nullcontext()
    return _training_job(args)


@contextmanager
def _training_job(args: argparse.Namespace) -> Iterator[None]:
    from easyfirst.cli.options import torch_threads
    from easyfirst.monitor import job
    from easyfirst.run_folder import check_outside_runs

    for option, path in (("--out", args.out), ("--log-dir", args.log_dir)):
        if path is not None:  # never among another run's own files
            check_outside_runs(Path(path), option=option)
    if args.log_dir is not None and Path(args.log_dir).exists() and not Path(
            args.log_dir).is_dir():
        raise InputError(f"Expected --log-dir to be a folder; got {args.log_dir!r}, an existing "
                         "file. Choose another folder (nothing was written).")

    with job(root=args.out, log=args.log, log_dir=args.log_dir,
             progress=not args.no_progress), torch_threads(args.threads):
        yield


def _leave_process_group() -> bool:
    """Under torchrun: leave the process group before exiting, so that no gloo/NCCL thread
    outlives the interpreter; True when there was one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        return True
    return False


if __name__ == "__main__":
    sys.exit(main())
