"""MkDocs hook: pages generated from the code at build time.

* ``<!-- generated: cli -->`` becomes ``easyfirst --help`` and ``easyfirst COMMAND --help``
  for every subcommand, read from the argparse parsers (``easyfirst.cli.main.build_parser``).
* ``<!-- generated: layout MODULE -->`` becomes the "Output layout" block of MODULE's
  docstring (the files a run folder holds).
* ``<!-- generated: datasets -->`` becomes ``easyfirst datasets NAME`` for every registered
  dataset: its layout under ``--root`` and its ``--dataset-opt`` options.

Both are the command's own output, so the pages cannot drift from the code.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import re
from pathlib import Path

CLI_MARKER = "<!-- generated: cli -->"
DATASETS_MARKER = "<!-- generated: datasets -->"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _fence(text: str) -> str:
    return "```text\n" + text.rstrip() + "\n```\n"


def cli_reference() -> str:
    from easyfirst.cli.main import build_parser

    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "88"  # argparse wraps help to the terminal's width: the page's
    try:
        parser = build_parser()
        return _cli_page(parser)
    finally:
        if before is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = before


def _cli_page(parser: argparse.ArgumentParser) -> str:
    subs = _subparsers(parser)
    helps = {}
    for name in subs:  # one line each, as argparse lists them
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        helps[name] = next((c.help for c in action._choices_actions if c.dest == name), "")
    parts = ["| command | what it does |", "|---|---|"]
    parts += [f"| [`easyfirst {n}`](#easyfirst-{n}) | {helps[n] or ''} |" for n in subs]
    parts += ["", "## `easyfirst`", "", _fence(parser.format_help())]
    for name, sub in subs.items():
        parts += [f"## `easyfirst {name}` {{#easyfirst-{name}}}", "", _fence(sub.format_help())]
    return "\n".join(parts)


def dataset_layouts() -> str:
    from easyfirst.cli.main import main
    from easyfirst.data import DATASETS

    parts = []
    for name in DATASETS.names():
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["datasets", name])
        if code:
            raise RuntimeError(f"easyfirst datasets {name} failed with exit code {code}")
        parts += [f"### `{name}` {{#dataset-{name}}}", "", _fence(out.getvalue())]
    return "\n".join(parts)


def folder_layout(module: str) -> str:
    spec = importlib.util.find_spec(module)  # the source only: the module is not imported
    if spec is None or spec.origin is None:
        raise RuntimeError(f"generated: layout names {module!r}, which is not a module")
    text = Path(spec.origin).read_text()
    m = re.search(r"Output layout[^\n]*::\n\n((?:    .*\n|\n)+)", text)
    if m is None:
        raise RuntimeError(f"{module}'s docstring lost its 'Output layout ...::' block")
    block = "\n".join(line[4:] for line in m.group(1).rstrip().splitlines())
    return _fence(block)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 (mkdocs API)
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    if DATASETS_MARKER in markdown:
        markdown = markdown.replace(DATASETS_MARKER, dataset_layouts())
    markdown = re.sub(r"<!-- generated: layout ([\w.]+) -->",
                      lambda m: folder_layout(m.group(1)), markdown)
    return markdown
