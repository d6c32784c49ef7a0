"""The blocks a report is made of, and the HTML and Markdown of the new ones.

A :class:`Section` holds tables (``results.Table``, rendered by ``formats``), images, sample
galleries and paragraphs. An :class:`Image` may carry :class:`Link` points (the data map's
samples): in HTML an SVG layer of clickable circles over the picture, scaled with it. A
:class:`Gallery` is a table of samples with a thumbnail and a player per row.
"""

from __future__ import annotations

import html
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from easyfirst.analysis.results import Table

CSS = """
.linked{position:relative;display:inline-block;max-width:100%;border:1px solid #eee}
.linked img{display:block;border:0}
.linked svg{position:absolute;left:0;top:0;width:100%;height:100%}
.linked circle{fill:transparent;stroke:none;cursor:pointer}
.linked a:hover circle{stroke:#e7298a;stroke-width:3}
table.gallery td{vertical-align:middle}table.gallery img{height:64px;image-rendering:pixelated}
table.gallery audio{height:32px;width:210px}tr:target td{background:#fff3b0}
"""


@dataclass
class Link:
    """A point on an image, in its pixels from the top-left, linking to ``href``."""

    x: float
    y: float
    href: str
    title: str


@dataclass
class Image:
    path: Path
    caption: str
    links: list[Link] = field(default_factory=list)


@dataclass
class Row:
    """One shown sample: its text cells, HTML anchor (first row showing it), media paths."""

    index: int
    cells: list[str]
    anchor: str = ""
    thumb: str | None = None
    clip: str | None = None


@dataclass
class Gallery:
    """A table of samples; ``columns`` name the text cells (media columns come first)."""

    title: str
    columns: list[str]
    rows: list[Row] = field(default_factory=list)
    note: str = ""


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def png_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of a PNG, from its header."""
    with open(path, "rb") as fh:
        width, height = struct.unpack(">II", fh.read(24)[16:24])
    return int(width), int(height)


def linked_html(img: str, image: Image) -> str:
    """The ``<img>`` tag ``img`` of ``image``, with its links as clickable circles over it
    (an SVG layer in the picture's pixels that scales with it); unchanged without links."""
    if not image.links:
        return img
    width, height = png_size(image.path)
    dots = "".join(f"<a href='{_attr(k.href)}'><circle cx='{k.x:.1f}' cy='{k.y:.1f}' r='7'>"
                   f"<title>{html.escape(k.title)}</title></circle></a>" for k in image.links)
    return (f"<div class='linked'>{img}<svg viewBox='0 0 {width} {height}' "
            f"preserveAspectRatio='none' xmlns='http://www.w3.org/2000/svg'>{dots}</svg></div>")


def _media(g: Gallery, look: Callable[[Row], str], listen: Callable[[Row], str]
           ) -> tuple[list[str], list[list[str]]]:
    """The media columns that some row fills (``look``, ``listen``) and each row's cells."""
    kinds = [(name, fmt, attr) for name, fmt, attr in (("look", look, "thumb"),
                                                       ("listen", listen, "clip"))
             if any(getattr(r, attr) for r in g.rows)]
    return [k[0] for k in kinds], [[fmt(r) if getattr(r, attr) else "-"
                                    for _, fmt, attr in kinds] for r in g.rows]


def gallery_html(g: Gallery) -> str:
    cols, media = _media(
        g, lambda r: f"<img src='{_attr(r.thumb or '')}' alt='{_attr(r.cells[0])}'>",
        lambda r: f"<audio controls preload='metadata' src='{_attr(r.clip or '')}'></audio>")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols + g.columns)
    rows = []
    for r, cells in zip(g.rows, media, strict=True):
        anchor = f" id='{_attr(r.anchor)}'" if r.anchor else ""
        rows.append(f"<tr{anchor}>" + "".join(
            f"<td>{c}</td>" for c in cells + [html.escape(c) for c in r.cells]) + "</tr>")
    note = f"<p class='note'>{html.escape(g.note)}</p>" if g.note else ""
    return (f"<p class='caption'>{html.escape(g.title)}</p><table class='gallery'><thead><tr>"
            f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}")


def gallery_markdown(g: Gallery) -> str:
    cols, media = _media(g, lambda r: f"![{r.cells[0]}]({r.thumb})",
                         lambda r: f"[listen]({r.clip})")
    cols += g.columns
    out = [f"**{g.title}**", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r, cells in zip(g.rows, media, strict=True):
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells + r.cells) + " |")
    return "\n".join(out + (["", f"*{g.note}*"] if g.note else []))


@dataclass
class Section:
    """A titled part of a report; ``contents``: the titles it lists as the table of contents
    (the summary's), linked to their sections."""

    title: str
    blocks: list[Table | Image | Gallery | str] = field(default_factory=list)
    contents: list[str] = field(default_factory=list)
