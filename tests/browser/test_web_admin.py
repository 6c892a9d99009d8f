"""The /admin page in a real browser: an admin sees every chart with data, the live tiles move while someone
chats in another browser, finds a user, grants them tokens, disables them (their open page is signed out on its
next navigation) and sends an announcement whose progress the page follows."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ARTIFACTS, PASSWORD, Web, _web
from tests.support.server import PARLEY, Mailbox, ServerProcess, base_env


@pytest.fixture
def user_web(browser: Browser, server: ServerProcess, mailbox: Mailbox) -> Iterator[Web]:
    """A second browser (its own cookies): the user the admin looks after."""
    yield from _web(browser, server, mailbox)


def unique_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


def chat(page: Page, text: str) -> None:
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()
    page.locator("#messages .msg.streaming").wait_for(state="detached")
    expect(page.locator("#messages .msg.assistant")).not_to_have_count(0)


def make_admin(web: Web, email: str) -> None:
    """`parley users create-admin` promotes the signed-up account, as an operator would."""
    done = subprocess.run(
        [PARLEY, "users", "create-admin", email],
        cwd=web.server.workdir,
        env=base_env(web.server.workdir),
        input=PASSWORD.encode(),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def user_row(page: Page, email: str):  # type: ignore[no-untyped-def]
    return page.locator("#users tbody tr").filter(has=page.get_by_role("cell", name=email, exact=True))


def number_in(text: str) -> int:
    return int(re.sub(r"[^0-9]", "", text) or "0")


def test_an_admin_runs_the_dashboard(web: Web, user_web: Web) -> None:
    admin, page = web, web.page
    user_email, admin_email = unique_email("customer"), unique_email("admin")
    user_name = "<i>Grace</i> & Co"

    # seed: a customer who chats and subscribes to Plus
    user_web.sign_up(user_email, name=user_name)
    user_web.verify(user_email)
    user_web.sign_in(user_email)
    chat(user_web.page, "Hello from the customer")
    user_web.goto("/billing")
    user_web.page.get_by_role("button", name="Subscribe to Plus").click()
    expect(user_web.page.locator("#current-plan")).to_have_text("plus")
    user_web.goto("/chat")

    admin.new_user(admin_email)
    make_admin(admin, admin_email)
    admin.sign_in(admin_email)
    page.get_by_role("link", name="Admin").click()
    page.wait_for_url("**/admin")

    # every chart, drawn with data
    for chart in ("users", "active", "messages", "revenue", "latency"):
        expect(page.locator(f"#chart-{chart} canvas")).to_have_count(1)
        expect(page.locator(f"#summary-{chart}")).not_to_have_text("Loading…")
    expect(page.locator("#charts-error")).to_be_hidden()
    assert number_in(page.locator("#summary-users").inner_text().split(" account")[0]) >= 2
    assert number_in(page.locator("#summary-messages").inner_text()) >= 1
    expect(page.locator("#summary-active")).not_to_have_text(re.compile(r"MAU 0\b"))
    expect(page.locator("#summary-revenue")).to_contain_text("$20.00 revenue")
    expect(page.locator("#summary-revenue")).to_contain_text("MRR $20.00")
    expect(page.locator("#summary-latency")).to_contain_text("p95")
    page.get_by_label("Interval").select_option("week")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#chart-messages")).to_have_attribute("data-points", re.compile(r"^[1-9]$"))

    # the live tiles move when someone chats elsewhere
    tokens = page.locator("#live-tokens_last_minute")
    expect(tokens).not_to_have_text("–")
    before = tokens.inner_text()
    chat(user_web.page, "Another message while the admin watches")
    expect(tokens).not_to_have_text(before, timeout=20_000)
    expect(page.locator("#live-status")).to_contain_text("Live")
    admin.shot("admin-dashboard")
    page.screenshot(path=str(ARTIFACTS / "admin-dashboard-viewport.png"))

    # find the customer: their name is shown as text, never as markup
    page.get_by_label("Email or name").fill(user_email)
    page.get_by_role("button", name="Search").click()
    row = user_row(page, user_email)
    expect(row).to_have_count(1)
    expect(page.locator("#users tbody tr")).to_have_count(1)
    expect(row.get_by_role("cell", name=user_name, exact=True)).to_be_visible()
    expect(row.locator("i")).to_have_count(0)
    expect(row.get_by_role("cell", name="plus", exact=True)).to_be_visible()

    # a grant raises their limit at once
    row.get_by_role("button", name=f"Grant tokens to {user_email}").click()
    limit = page.locator("#grant-limit")
    expect(limit).to_contain_text("Limit this period: 100,000 tokens")
    page.get_by_label("Tokens", exact=True).fill("5000")
    page.get_by_label("Reason", exact=True).fill("sorry for the outage")
    page.get_by_role("button", name="Grant", exact=True).click()
    expect(limit).to_contain_text("Limit this period: 105,000 tokens")
    expect(page.locator("#users-notice")).to_contain_text(f"Granted 5,000 tokens to {user_email}")

    # disabled: their open page is signed out on its next navigation
    row.get_by_role("button", name=f"Disable {user_email}").click()
    expect(row.get_by_role("cell", name="Disabled", exact=True)).to_be_visible()
    expect(row.get_by_role("button", name=f"Enable {user_email}")).to_be_visible()
    user_web.page.get_by_role("link", name="Usage").click()
    user_web.page.wait_for_url(re.compile(r"/signin\?next=/usage$"))
    expect(user_web.page.get_by_role("navigation").get_by_role("link", name="Sign in")).to_be_visible()
    user_web.shot("admin-disabled-user-signed-out")

    # an announcement, its subject shown as written, its progress followed to the end
    subject = "<b>New models</b> & more"
    page.get_by_label("Subject").fill(subject)
    page.get_by_label("Body (Markdown)").fill("**Hello** from Parley.")
    page.get_by_label("Audience").select_option("all")
    page.get_by_role("button", name="Send announcement").click()
    announcement = page.locator("#announcements tbody tr").filter(
        has=page.get_by_role("cell", name=subject, exact=True)
    )
    expect(announcement).to_have_count(1)
    expect(announcement.locator("b")).to_have_count(0)
    expect(announcement).to_have_attribute("data-status", "sent", timeout=30_000)
    cells = announcement.locator("td")
    sent = re.fullmatch(r"(\d+) of (\d+)", cells.nth(3).inner_text())
    assert sent and sent.group(1) == sent.group(2) and int(sent.group(1)) >= 1
    admin.shot("admin-after-actions")


def test_a_failure_reads_on_the_page(web: Web) -> None:
    """A bad range (from after to) is the API's 422, shown above the charts; the page keeps working."""
    email = unique_email("admin-error")
    web.new_user(email)
    make_admin(web, email)
    web.sign_in(email)
    web.watch.allow("status of 422")
    page = web.page
    web.goto("/admin")
    expect(page.locator("#summary-messages")).not_to_have_text("Loading…")
    page.get_by_label("From", exact=True).fill("2030-01-02")
    page.get_by_label("To", exact=True).fill("2030-01-01")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#charts-error")).to_be_visible()
    expect(page.locator("#charts-error")).to_contain_text("Please check what you entered")
    page.get_by_label("Subject").fill("x" * 10)
    page.get_by_label("Body (Markdown)").fill("body")
    page.set_viewport_size({"width": 400, "height": 800})
    web.shot("admin-narrow")
    assert page.evaluate("document.documentElement.scrollWidth") <= 400


def test_a_user_who_is_not_an_admin_gets_the_refusal_page(web: Web) -> None:
    web.watch.allow("status of 403")
    web.new_user(unique_email("not-admin"))
    expect(web.page.get_by_role("link", name="Admin")).to_have_count(0)
    response = web.goto("/admin")
    assert response is not None and response.status == 403
    expect(web.page.get_by_role("alert")).to_have_text("This page is for administrators only.")
