"""``import easyfirst`` stays light: no training engine, scipy or matplotlib until used."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("easyfirst.training.engine", "scipy", "matplotlib")


def test_import_easyfirst_loads_no_engine_scipy_or_matplotlib():
    code = ("import sys, easyfirst; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "", f"import easyfirst loaded {out}"


def test_top_level_help_imports_no_torch():
    """``easyfirst --help`` (and a mistyped command) builds the subcommands by name and help
    alone (easyfirst.cli.commands): no torch, engine, scipy or matplotlib."""
    code = ("import sys; from easyfirst.cli.main import main; "
            "codes = [main(['--help']), main(['scroe'])]; "
            f"print('codes', codes, 'loaded', "
            f"[m for m in ('torch', *{HEAVY!r}) if m in sys.modules])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.splitlines()[-1] == "codes [0, 2] loaded []", r.stdout[-300:]
    assert "invalid choice: 'scroe'" in r.stderr


def test_light_and_full_parsers_list_the_same_commands():
    """The names and help of the light parser are those of each subcommand's own module."""
    import argparse

    from easyfirst.cli.main import build_parser

    def commands(parser: argparse.ArgumentParser) -> dict[str, str | None]:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return {c.dest: c.help for c in sub._choices_actions}

    full = commands(build_parser())
    assert commands(build_parser(None)) == full
    for name in full:  # one subcommand built, the others by name: the same listing
        assert commands(build_parser(name)) == full
