"""The web client in a real browser: sign-up to chat, streaming, stop, quota, upgrade, safety, every page."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import Page, expect

from adapters.llm.demo import demo_reply
from domain.conversation.model import Role
from domain.conversation.ports import Turn
from tests.browser.conftest import PASSWORD, Web

REPLY = "#messages .msg.assistant .body"


def unique_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


def last_reply(page: Page) -> str:
    return page.locator(REPLY).last.inner_text()


def send(page: Page, text: str) -> None:
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()


def wait_reply_done(page: Page) -> None:
    page.locator("#messages .msg.streaming").wait_for(state="detached")


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_a_new_user_signs_up_verifies_signs_in_and_chats_with_a_streamed_reply(web: Web) -> None:
    sign_up_and_chat(web, shots=True)


@pytest.mark.postgres
def test_the_same_on_postgresql(postgres_web: Web) -> None:
    sign_up_and_chat(postgres_web, shots=False)


def sign_up_and_chat(web: Web, *, shots: bool) -> None:
    if not shots:
        web.shot = lambda name: None  # type: ignore[method-assign]
    page, email = web.page, unique_email("ada")
    web.goto("/")
    web.shot("landing")
    expect(page.get_by_role("link", name="Sign up").first).to_be_visible()
    web.goto("/signup")
    web.shot("signup")
    web.sign_up(email)
    web.verify(email)
    web.goto("/signin")
    web.shot("signin")
    web.sign_in(email)

    send(page, "Tell me something about streams")
    body = page.locator(REPLY).last
    expect(body).not_to_have_text("")
    first = body.inner_text()
    assert page.locator("#messages .msg.streaming").count() == 1, "the reply was already complete"
    page.wait_for_function(
        "([selector, before]) => { const all = document.querySelectorAll(selector);"
        " return all[all.length - 1].innerText.length > before; }",
        arg=[REPLY, len(first)],
    )
    second = body.inner_text()
    assert len(second) > len(first) and second.startswith(first.strip()[:5])
    wait_reply_done(page)
    assert "You wrote:" in last_reply(page) and "offline demo model" in last_reply(page)
    expect(page.locator("#quota")).to_contain_text("tokens left this period")
    page.wait_for_url(re.compile(r"/chat/[0-9a-f-]{36}$"))
    expect(page.locator("#conversations a", has_text="Tell me something about streams")).to_be_visible()

    page.reload()
    expect(page.locator("#messages .msg")).to_have_count(2)
    send(page, "And one more thing")
    wait_reply_done(page)
    assert "This conversation already holds 2 earlier messages." in squash(last_reply(page))
    expect(page.locator("#messages .msg")).to_have_count(4)
    web.shot("chat")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scroll on a phone"
    web.shot("chat-phone")


def test_stop_cuts_a_long_reply_and_keeps_what_was_written(web: Web) -> None:
    page = web.page
    web.new_user(unique_email("stop"))
    question = " ".join(f"word{i}" for i in range(40)) + " please answer at length"
    full = demo_reply("parley-demo", [Turn(Role.USER, question)])
    send(page, question)
    expect(page.locator(REPLY).last).not_to_have_text("")
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("#messages .msg.assistant").last).to_contain_text("Stopped.")
    shown = squash(last_reply(page))
    assert 0 < len(shown) < len(squash(full))
    expect(page.get_by_role("button", name="Send")).to_be_enabled()

    deadline = time.monotonic() + 15
    while True:  # the cut reply is stored by the server after the disconnect: reload until it is there
        page.reload()
        if page.locator("#messages .msg.assistant").count() == 1 or time.monotonic() > deadline:
            break
    kept = squash(last_reply(page))
    assert kept and len(kept) < len(squash(full))


def test_the_free_quota_runs_out_then_an_upgrade_to_plus_opens_the_large_model(web: Web) -> None:
    page = web.page
    web.watch.allow("status of 402")
    web.new_user(unique_email("quota"))
    expect(page.locator("#model option[value='parley-demo-large']")).to_be_disabled()
    error = page.locator("#chat-error")
    for attempt in range(8):
        send(page, f"attempt {attempt} " + "lorem ipsum dolor sit amet " * 80)
        page.wait_for_function(
            "() => !document.querySelector('#messages .msg.streaming') || !document.querySelector('#chat-error').hidden"
        )
        wait_reply_done(page)
        if error.is_visible():
            break
    expect(error).to_contain_text("You have used all the tokens of your plan")
    expect(error.get_by_role("link", name="See plans on the Billing page")).to_be_visible()
    web.shot("chat-quota-exceeded")

    web.goto("/usage")
    expect(page.locator("#quota-summary")).to_contain_text("of 1,500 tokens used")
    web.shot("usage")
    web.goto("/billing")
    page.get_by_role("button", name="Subscribe to Plus").click()
    expect(page.get_by_role("status")).to_contain_text("Your plan has changed.")
    expect(page.locator("#current-plan")).to_have_text("plus")
    expect(page.locator("#payments").get_by_role("link", name="Invoice")).to_have_count(1)
    page.get_by_role("button", name="Downgrade to Free").wait_for(state="detached")
    page.get_by_role("button", name="Upgrade to Pro").wait_for()
    web.shot("billing")

    web.goto("/chat")
    page.get_by_label("Model").select_option("parley-demo-large")
    send(page, "Hello from the plus plan")
    wait_reply_done(page)
    expect(page.locator("#messages .msg.assistant .who").last).to_have_text("parley-demo-large")
    assert "You wrote:" in last_reply(page)
    expect(error).to_be_hidden()


def test_html_in_a_message_is_shown_as_text_and_never_runs(web: Web) -> None:
    page = web.page
    web.new_user(unique_email("xss"))
    attack = '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> [link](javascript:window.__xss=3)'
    send(page, attack)
    wait_reply_done(page)
    for _ in range(2):  # as streamed, then as rendered by the server after a reload
        expect(page.locator("#messages .msg.user .body").first).to_have_text(attack)
        assert '<img src=x onerror="window.__xss=1">' in last_reply(page)
        assert page.locator("#messages img, #messages script").count() == 0
        for link in page.locator("#messages a").all():
            assert not (link.get_attribute("href") or "").startswith("javascript:")
        page.locator("#messages a").first.click() if page.locator("#messages a").count() else None
        assert page.evaluate("window.__xss") is None
        page.reload()


def test_a_form_post_without_its_csrf_token_is_refused_and_changes_nothing(web: Web) -> None:
    page = web.page
    web.watch.allow("status of 403")  # the refusal itself
    web.new_user(unique_email("csrf"))
    web.goto("/account")
    page.evaluate(
        """() => { const form = document.createElement('form'); form.method = 'post'; form.action = '/account/name';
        const name = document.createElement('input'); name.name = 'name'; name.value = 'Mallory'; form.append(name);
        document.body.append(form); form.submit(); }"""
    )
    expect(page.get_by_role("heading", name="Request refused")).to_be_visible()
    web.goto("/account")
    expect(page.get_by_label("Name")).to_have_value("Ada")


def test_every_page_renders_and_works(web: Web) -> None:
    page = web.page
    web.watch.allow("status of 400")  # the expired-link pages answer 400
    web.watch.allow("status of 404")  # the unsubscribe route is not served by this build
    web.watch.allow("status of 401")  # a wrong current password
    for path, heading, name in [
        ("/forgot-password", "Forgot password", "forgot-password"),
        ("/verify-email?token=not-a-token", "This verification link no longer works", "verify-email-expired"),
        ("/reset-password?token=not-a-token", "Choose a new password", "reset-password"),
        ("/unsubscribe?token=some-token", "Unsubscribe from announcements", "unsubscribe"),
    ]:
        web.goto(path)
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
        web.shot(name)
    web.goto("/reset-password?token=not-a-token")
    page.get_by_label("New password").fill("a brand new password")
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_role("heading", name="This reset link no longer works")).to_be_visible()
    web.goto("/unsubscribe?token=some-token")
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.locator("#unsubscribe-error")).to_be_visible()

    email = unique_email("pages")
    web.goto("/chat")
    page.wait_for_url("**/signin?next=/chat")
    web.new_user(email)
    web.goto("/keys")
    page.get_by_label("Name").fill("CI <b>bot</b>")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").inner_text()
    assert key and page.locator("#keys").get_by_text("CI <b>bot</b>").is_visible()
    web.shot("keys")
    web.goto("/keys")
    assert key not in page.content(), "the key is shown once only"
    page.get_by_role("button", name="Revoke CI <b>bot</b>").click()
    expect(page.get_by_role("status")).to_contain_text("The key has been revoked.")

    web.goto("/account")
    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_role("status")).to_contain_text("Your name has been saved.")
    expect(page.get_by_label("Name")).to_have_value("Ada Lovelace")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download my data").click()
    assert download.value.suggested_filename == "parley-export.json"
    page.get_by_label("Current password").fill("not my password at all")
    page.get_by_label("New password").fill("an even better passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("incorrect")
    web.shot("account")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill("an even better passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password has been changed")
    web.goto("/usage")  # still signed in: the new session's cookies replaced the revoked one's
    expect(page.get_by_role("heading", name="Usage")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(web.url("/"))
    web.goto("/usage")
    page.wait_for_url("**/signin?next=/usage")
