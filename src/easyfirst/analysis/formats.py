"""A ``Table`` as terminal text, Markdown or HTML."""

from __future__ import annotations

import html

from easyfirst.analysis.results import Table

__all__ = ["format_html", "format_markdown", "format_text"]


def format_text(table: Table) -> str:
    """Plain aligned text (for the terminal)."""
    cells = [table.columns, *table.rows]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(table.columns))]
    line = "  ".join("-" * w for w in widths)
    out = [table.title, line]
    for j, r in enumerate(cells):
        out.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if j == 0:
            out.append(line)
    if table.note:
        out.append(f"({table.note})")
    return "\n".join(out)


def format_markdown(table: Table) -> str:
    def esc(c: str) -> str:
        return str(c).replace("|", "\\|")

    out = [f"**{table.title}**", "", "| " + " | ".join(map(esc, table.columns)) + " |",
           "|" + "|".join("---" for _ in table.columns) + "|"]
    out += ["| " + " | ".join(map(esc, r)) + " |" for r in table.rows]
    if table.note:
        out += ["", f"*{table.note}*"]
    return "\n".join(out)


def format_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    head = f"<thead><tr>{head}</tr></thead>" if any(table.columns) else ""  # none: no header
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                   for r in table.rows)
    note = f"<p class='note'>{html.escape(table.note)}</p>" if table.note else ""
    grid = f"<table>{head}<tbody>{body}</tbody></table>{note}"
    if table.collapsed:
        return (f"<details><summary class='caption'>{html.escape(table.title)} (click to "
                f"open)</summary>{grid}</details>")
    return f"<p class='caption'>{html.escape(table.title)}</p>{grid}"
