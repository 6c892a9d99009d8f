"""Renders the email templates under adapters/email/templates: `<name>.subject.txt`, `<name>.txt` and
`<name>.html` for each email."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


class JinjaEmailRenderer:
    """HTML is autoescaped (a user's name is user input); plain text and subjects are not, since nothing
    interprets markup there. A missing context value raises instead of quietly rendering as blank."""

    def __init__(self) -> None:
        self._env = Environment(
            loader=PackageLoader("adapters.email", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def render(self, template: str, context: Mapping[str, Any]) -> tuple[str, str, str]:
        subject = self._env.get_template(f"{template}.subject.txt").render(context)
        text = self._env.get_template(f"{template}.txt").render(context)
        html = self._env.get_template(f"{template}.html").render(context)
        # A subject is one header line: a line break in a name or a template must not reach the header.
        return " ".join(subject.split()), text, html
