"""Griffe extension: folders of ``easyfirst`` without ``__init__.py`` (``workflows/``), which
Python imports as namespace packages but griffe skips inside a regular package, are visited
as subpackages, so that ``::: easyfirst.workflows.curriculum`` finds its docstrings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import griffe


class NamespaceSubpackages(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.name != "easyfirst" or not isinstance(pkg.filepath, Path):
            return
        for folder in sorted(pkg.filepath.parent.iterdir()):
            if (not folder.is_dir() or (folder / "__init__.py").exists()
                    or folder.name in pkg.members):
                continue
            files = sorted(folder.glob("*.py"))
            if not files:
                continue
            namespace = griffe.Module(folder.name, filepath=[folder], parent=pkg)
            pkg.set_member(folder.name, namespace)
            for file in files:
                code = file.read_text()
                loader.lines_collection[file] = code.splitlines()
                module = griffe.visit(file.stem, file, code, parent=namespace,
                                      extensions=loader.extensions,
                                      docstring_parser=loader.docstring_parser,
                                      docstring_options=loader.docstring_options,
                                      lines_collection=loader.lines_collection,
                                      modules_collection=loader.modules_collection)
                namespace.set_member(file.stem, module)


_ROLE = re.compile(r":(?:class|mod|func|meth|attr|data|exc|obj):`~?([^`]+)`")
_RULE = re.compile(r"^\s*=+(?:\s+=+)+\s*$")


def markdown_docstring(text: str) -> str:
    """The package's docstrings are Google style with a few reST habits; read them as the
    Markdown of the site: ``Example:`` is an examples section, ``:class:`X``` is code, and a
    reST simple table is shown as it is written (a text block)."""
    text = re.sub(r"^(\s*)Example:\s*$", r"\1Examples:", text, flags=re.M)
    text = _ROLE.sub(r"``\1``", text)
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        if _RULE.match(lines[i]):  # a simple table: rule, header, rule, rows, rule
            rules = [j for j in range(i, len(lines)) if _RULE.match(lines[j])][:3]
            if len(rules) == 3:
                indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
                out += [f"{indent}```text", *lines[i: rules[2] + 1], f"{indent}```"]
                i = rules[2] + 1
                continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


class MarkdownDocstrings(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)
