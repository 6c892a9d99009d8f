"""Browser tests: Playwright driving Debian's Chromium against a real `parley serve` on the embedded default.

One browser and one server for the whole session; each test gets its own browser context (its own cookies)
speaking from its own client address, so per-IP limits do not pile up across tests. Every page a test opens is
checked for console errors and for the weight of its JavaScript, and screenshots land in var/test-artifacts."""

from __future__ import annotations

import ipaddress
import json
import random
import secrets
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, Response, sync_playwright

from adapters.sql.migrations import upgrade
from tests.support.fake_stripe import FakeStripe
from tests.support.postgres import ADMIN_URL, POSTGRES_SERVER
from tests.support.postgres import _execute as execute_sql
from tests.support.server import Mailbox, ServerProcess, link_token, running_server

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
FREE_QUOTA = 1_500
MAX_SCRIPT_BYTES = 200 * 1024
PASSWORD = "violet tangerine harbour"
PLANS = [
    {"id": "free", "name": "Free", "price_cents": 0, "token_quota": FREE_QUOTA, "models": "basic",
     "features": ["Basic models"], "rank": 0},
    {"id": "plus", "name": "Plus", "price_cents": 2000, "token_quota": 100_000, "models": "all",
     "features": ["All models"], "rank": 1},
    {"id": "pro", "name": "Pro", "price_cents": 5000, "token_quota": 500_000, "models": "all",
     "features": ["All models", "Priority"], "rank": 2},
]  # fmt: skip


def _chromium() -> str:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"The browser tests drive Debian's Chromium at {CHROMIUM}, which is missing: install it with "
            "`apt-get install -y chromium` (Playwright's own browser download is not used).",
            pytrace=False,
        )
    return CHROMIUM


# Package-scoped, not session-scoped: Playwright's sync API keeps an event loop running in the main thread while
# it is started, and the asyncio tests that run after these would find it there.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=_chromium(), headless=True, args=["--no-sandbox"])
    yield chromium
    chromium.close()


def _serve(workdir: Path, **env: str) -> Iterator[ServerProcess]:
    plans = workdir / "plans.json"
    plans.write_text(json.dumps(PLANS))
    yield from running_server(
        workdir,
        PARLEY_TRUSTED_PROXIES="127.0.0.1",
        PARLEY_DEMO_DELAY_MS="40",  # the demo model paced so that a reply visibly streams
        PARLEY_PLANS_FILE=str(plans),
        PARLEY_ALLOWANCE_CACHE_SECONDS="0",
        **env,
    )


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The embedded default: SQLite under the server's ./var."""
    yield from _serve(tmp_path_factory.mktemp("web"))


def _in_thread(call: Callable[..., None], *args: str) -> None:
    """Playwright's sync API keeps an event loop running on this thread: database set-up (asyncio.run) goes to
    another one."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(call, *args).result()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The same, on a PostgreSQL database of its own (dropped at the end)."""
    name = f"parley_test_web_{secrets.token_hex(6)}"
    _in_thread(execute_sql, ADMIN_URL, f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://{POSTGRES_SERVER}/{name}"
    try:
        _in_thread(upgrade, url)
        yield from _serve(tmp_path_factory.mktemp("web-postgres"), PARLEY_DATABASE_URL=url)
    finally:
        _in_thread(execute_sql, ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def stripe_server(tmp_path_factory: pytest.TempPathFactory, fake_stripe_server: FakeStripe) -> Iterator[ServerProcess]:
    """The same with Stripe: the fake Stripe's API for the server, its stand-in Stripe.js for the pages."""
    yield from _serve(
        tmp_path_factory.mktemp("web-stripe"),
        STRIPE_SECRET_KEY=fake_stripe_server.api_key,
        STRIPE_WEBHOOK_SECRET=fake_stripe_server.webhook_secret,
        STRIPE_PUBLISHABLE_KEY=fake_stripe_server.publishable_key,
        PARLEY_STRIPE_API_BASE=fake_stripe_server.api_base,
        PARLEY_STRIPE_JS_URL=fake_stripe_server.js_url,
        PARLEY_STRIPE_PRICE_PLUS=fake_stripe_server.prices["plus"],
        PARLEY_STRIPE_PRICE_PRO=fake_stripe_server.prices["pro"],
    )


@pytest.fixture(scope="session")
def mailbox(server: ServerProcess) -> Mailbox:
    return Mailbox(server.workdir / "var" / "mail")


@dataclass
class Watch:
    """What the pages of one context did wrong: console errors, uncaught exceptions, heavy scripts."""

    allowed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    script_bytes: dict[str, int] = field(default_factory=dict)

    def console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:  # never allowed, whatever its level
            self.errors.append(f"CSP: {message.location.get('url')}: {message.text}")
        elif message.type == "error" and not any(text in message.text for text in self.allowed):
            self.errors.append(f"{message.location.get('url')}: {message.text}")

    def response(self, response: Response) -> None:
        if response.request.resource_type == "script" and response.ok:
            page_url = response.frame.url
            self.script_bytes[page_url] = self.script_bytes.get(page_url, 0) + len(response.body())

    def allow(self, text: str) -> None:
        """An error the test provokes on purpose (a 402 the page must show, for one)."""
        self.allowed.append(text)


@dataclass
class Web:
    server: ServerProcess
    mailbox: Mailbox
    context: BrowserContext
    page: Page
    watch: Watch

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    def goto(self, path: str) -> Response | None:
        return self.page.goto(self.url(path))

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def sign_up(self, email: str, name: str = "Ada") -> None:
        self.goto("/signup")
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_label("Name").fill(name)
        self.page.get_by_role("button", name="Sign up").click()
        self.page.get_by_role("heading", name="Check your inbox").wait_for()

    def verify(self, email: str) -> None:
        token = link_token(self.mailbox.wait_for(email)[0], "/verify-email")
        self.goto(f"/verify-email?token={token}")
        self.page.get_by_role("heading", name="Email verified").wait_for()

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        self.goto("/signin")
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url("**/chat")

    def new_user(self, email: str) -> None:
        self.sign_up(email)
        self.verify(email)
        self.sign_in(email)


@pytest.fixture
def web(browser: Browser, server: ServerProcess, mailbox: Mailbox) -> Iterator[Web]:
    yield from _web(browser, server, mailbox)


@pytest.fixture
def stripe_web(browser: Browser, stripe_server: ServerProcess, fake_stripe: FakeStripe) -> Iterator[Web]:
    """A browser on the Stripe server, whose fake Stripe (emptied) delivers its webhooks to it by itself."""
    fake_stripe.webhook_url = f"{stripe_server.url}/api/billing/webhooks/stripe"
    yield from _web(browser, stripe_server, Mailbox(stripe_server.workdir / "var" / "mail"))


@pytest.fixture
def postgres_web(browser: Browser, postgres_server: ServerProcess) -> Iterator[Web]:
    yield from _web(browser, postgres_server, Mailbox(postgres_server.workdir / "var" / "mail"))


def _web(browser: Browser, server: ServerProcess, mailbox: Mailbox) -> Iterator[Web]:
    address = str(ipaddress.IPv6Address(random.getrandbits(128)))
    context = browser.new_context(
        extra_http_headers={"X-Forwarded-For": address}, viewport={"width": 1100, "height": 800}
    )
    context.set_default_timeout(15_000)
    watch = Watch()
    context.on("console", watch.console)
    context.on("weberror", lambda error: watch.errors.append(f"uncaught: {error.error}"))
    context.on("response", watch.response)
    page = context.new_page()
    try:
        yield Web(server, mailbox, context, page, watch)
    finally:
        context.close()
    assert watch.errors == [], "console errors on the pages"
    heavy = {url: size for url, size in watch.script_bytes.items() if size > MAX_SCRIPT_BYTES}
    assert heavy == {}, "pages over 200 KB of JavaScript"
