"""The MarkdownRenderer port on markdown-it-py: CommonMark with tables and strikethrough, raw HTML off (any HTML in
the source is escaped and shows as text), and markdown-it's link check (javascript:, vbscript:, file: and
non-image data: links are not made into links). Plain text is the same token stream written as text.
markdown-it loads on the first announcement rendered, not with the API."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token


class MarkdownItRenderer:
    @functools.cached_property
    def _md(self) -> MarkdownIt:
        from markdown_it import MarkdownIt

        return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
            ["table", "strikethrough"]
        )

    def to_html(self, markdown: str) -> str:
        html: str = self._md.render(markdown)
        return html

    def to_text(self, markdown: str) -> str:
        out: list[str] = []
        for token in self._md.parse(markdown):
            if token.type == "inline":
                out.append(_inline_text(token.children or []))
            elif token.type in ("fence", "code_block"):
                out.append(token.content)
            elif token.type == "hr":
                out.append("----\n\n")
            elif token.type == "list_item_open":
                out.append("  " * (token.level // 2) + ("- " if token.markup in "-*+" else f"{token.info}. "))
            elif token.type in ("paragraph_close", "heading_close"):
                out.append("\n" if token.hidden else "\n\n")  # hidden: a tight list item's paragraph
            elif token.type in ("bullet_list_close", "ordered_list_close", "table_close"):
                out.append("\n")
            elif token.type in ("th_close", "td_close"):
                out.append("\t")
            elif token.type == "tr_close":
                out.append("\n")
        return "".join(out).strip() + "\n"


def _inline_text(children: Sequence[Token]) -> str:
    parts: list[str] = []
    href: str | None = None
    start = 0
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content or str(child.attrs.get("alt", "")))
        elif child.type == "link_open":
            href, start = str(child.attrs.get("href", "")), len(parts)
        elif child.type == "link_close" and href is not None:
            if href and "".join(parts[start:]) != href:
                parts.append(f" ({href})")
            href = None
    return "".join(parts)
