"""Every code block of the documentation (README.md and docs/) runs, or says why not.

* A ```python block is preceded by ``<!-- example: NAME -->`` (it runs: here, or in
  ``tests/test_readme.py`` with checks of its results) or by ``<!-- not run: REASON -->``.
* Every ``easyfirst ...`` line of a ```bash block parses with the command's own parser (the
  options exist, their values are valid), without running it.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"(?:<!-- (example|not run): ([^>]*?) -->\s*)?```(\w*)\n(.*?)```", re.S)

# Examples whose results tests/test_readme.py checks (it runs them itself).
CHECKED = {"own-loop", "python-curriculum", "python-costly", "python-fusion", "quickstart"}
# Examples that need an optional extra: skipped, with the install command, without it.
EXTRAS = {"lightning": ("lightning", "lightning")}


def blocks() -> list[tuple[Path, str | None, str, str, str]]:
    """(page, marker kind, marker text, language, code) of every fenced block."""
    found = []
    for page in PAGES:
        for m in FENCE.finditer(page.read_text()):
            found.append((page, m.group(1), (m.group(2) or "").strip(), m.group(3), m.group(4)))
    return found


def examples() -> dict[str, tuple[Path, str]]:
    named: dict[str, tuple[Path, str]] = {}
    for page, kind, text, _lang, code in blocks():
        if kind == "example":
            assert text not in named, f"example {text!r} is named twice ({page.name})"
            named[text] = (page, code)
    return named


def example(name: str) -> tuple[Path, str]:
    """The code of the block marked ``<!-- example: NAME -->`` and the page holding it."""
    named = examples()
    assert name in named, f"no page of the docs holds the example {name!r}"
    return named[name]


def test_every_python_block_runs_or_says_why_not():
    unmarked = [f"{page.relative_to(ROOT)}: {code.splitlines()[0]}"
                for page, kind, text, lang, code in blocks()
                if lang == "python" and (kind is None or not text)]
    assert not unmarked, ("python blocks need <!-- example: NAME --> or <!-- not run: REASON "
                          "-->: " + "; ".join(unmarked))


def test_checked_examples_exist():
    assert set(examples()) >= CHECKED


@pytest.mark.parametrize("name", sorted(set(examples()) - CHECKED))
def test_example_runs(name, tmp_path, monkeypatch):
    import tempfile

    import torch

    if name in EXTRAS:
        module, extra = EXTRAS[name]
        pytest.importorskip(module, reason=f"needs the {extra} extra: "
                                           f"pip install 'easyfirst[{extra}]'")
    page, code = example(name)
    monkeypatch.chdir(tmp_path)  # files the example writes go to a fresh folder
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    torch.set_num_threads(1)
    exec(compile(code, str(page), "exec"), {"__name__": f"docs_example_{name}"})


def _commands() -> list:
    found = []
    for page, _kind, _text, lang, code in blocks():
        if lang not in ("bash", "sh", "console"):
            continue
        for line in code.replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|;", line.split(" #")[0]):
                words = shlex.split(part.strip().removeprefix("$ "), comments=True)
                if "easyfirst.cli.main" in words:  # torchrun ... -m easyfirst.cli.main CMD
                    words = ["easyfirst", *words[words.index("easyfirst.cli.main") + 1:]]
                if words[:1] == ["easyfirst"] and "..." not in words:
                    where = f"{page.relative_to(ROOT)}"
                    n = sum(p.values[0] == where for p in found)
                    found.append(pytest.param(where, shlex.join(words), id=f"{where}:{n}"))
    return found


@pytest.mark.parametrize(("page", "command"), _commands())
def test_command_parses(page, command):
    """Parsing only: unknown options, bad choices and out-of-range numbers fail here."""
    from easyfirst.cli.main import build_parser

    words = shlex.split(command)[1:]
    if "--help" in words or "--version" in words:
        return
    build_parser().parse_args(words)
