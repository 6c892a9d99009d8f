"""The identity emails, rendered with the context SendIdentityEmail gives them."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest

from adapters.email.jinja import JinjaEmailRenderer
from application.identity.emails import IDENTITY_EMAILS

TEMPLATES = sorted(spec.template for spec in IDENTITY_EMAILS.values())
LINKS = {
    "verify_email": "https://chat.example.com/verify-email?token=Vt0k-en_123",
    "reset_password": "https://chat.example.com/reset-password?token=Rt0k-en_456",
    "account_exists": "https://chat.example.com/forgot-password",
    "password_changed": "https://chat.example.com",
}


def context(template: str, **changes: Any) -> dict[str, Any]:
    return {
        "product": "Parley",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "link": LINKS[template],
        "public_url": "https://chat.example.com",
    } | changes


@pytest.fixture(scope="module")
def renderer() -> JinjaEmailRenderer:
    return JinjaEmailRenderer()


def test_every_identity_email_has_a_template() -> None:
    assert TEMPLATES == ["account_exists", "password_changed", "reset_password", "verify_email"]


@pytest.mark.parametrize("template", TEMPLATES)
def test_renders_subject_text_and_html_that_greet_the_user(renderer: JinjaEmailRenderer, template: str) -> None:
    subject, text, html = renderer.render(template, context(template))

    assert "Parley" in subject and "\n" not in subject and subject == subject.strip()
    assert "Hi Ada Lovelace," in text
    assert "Hi Ada Lovelace," in html
    assert html.lstrip().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("template", TEMPLATES)
def test_link_is_in_the_text_and_is_both_a_button_and_a_readable_url_in_the_html(
    renderer: JinjaEmailRenderer, template: str
) -> None:
    link = LINKS[template]

    _, text, html = renderer.render(template, context(template))

    assert f"\n{link}\n" in text  # on a line of its own, so clients make it clickable and copying is easy
    assert f'href="{link}"' in html
    assert f">{link}</a>" in html


@pytest.mark.parametrize(
    ("template", "promise"),
    [
        ("verify_email", "expires in 24 hours"),
        ("reset_password", "expires in 1 hour"),
        ("password_changed", "sessions have been signed out"),
        ("account_exists", "already has one"),
    ],
)
def test_each_email_says_what_the_user_needs_to_know(renderer: JinjaEmailRenderer, template: str, promise: str) -> None:
    _, text, html = renderer.render(template, context(template))

    assert promise in text
    assert promise in html


def test_account_exists_offers_the_forgot_password_link_and_sign_in(renderer: JinjaEmailRenderer) -> None:
    _, text, html = renderer.render("account_exists", context("account_exists"))

    assert "https://chat.example.com/forgot-password" in text
    assert 'href="https://chat.example.com"' in html


@pytest.mark.parametrize("template", TEMPLATES)
def test_html_escapes_what_the_user_typed(renderer: JinjaEmailRenderer, template: str) -> None:
    name = '<script>alert("x")</script>'

    _, text, html = renderer.render(template, context(template, name=name))

    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert f"Hi {name}," in text  # plain text is shown as typed, never interpreted


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("missing", ["product", "name", "email", "link", "public_url"])
def test_a_missing_context_value_fails_loudly(renderer: JinjaEmailRenderer, template: str, missing: str) -> None:
    values = context(template)
    del values[missing]

    with pytest.raises(jinja2.UndefinedError, match=missing):
        renderer.render(template, values)


def test_unknown_template_fails_loudly(renderer: JinjaEmailRenderer) -> None:
    with pytest.raises(jinja2.TemplateNotFound):
        renderer.render("welcome_back", context("verify_email"))


def test_a_line_break_in_the_subject_context_stays_out_of_the_header(renderer: JinjaEmailRenderer) -> None:
    subject, _, _ = renderer.render("verify_email", context("verify_email", product="Parley\nBcc: x@evil.test"))

    assert subject == "Confirm your email address for Parley Bcc: x@evil.test"
