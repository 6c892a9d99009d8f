"""First page load on the embedded default: `/` and `/signin` signed out and `/chat` signed in, each opened by a
new visitor (a browser context with an empty cache) once the server has answered the page a first time, must
finish its load event within 1 s and load under 200 KB of JavaScript. The figures are printed and kept in
var/test-artifacts/page-load.json."""

from __future__ import annotations

import json
import uuid

import pytest
from playwright.sync_api import Browser, StorageState

from tests.browser.conftest import ARTIFACTS, MAX_SCRIPT_BYTES, Watch, Web

LOAD_BUDGET_MS = 1_000
LOAD_EVENT_END = "() => performance.getEntriesByType('navigation')[0].loadEventEnd"
SCRIPT_BYTES = """() => performance.getEntriesByType('resource')
  .filter((entry) => entry.initiatorType === 'script' || new URL(entry.name).pathname.endsWith('.js'))
  .reduce((total, entry) => total + entry.transferSize, 0)"""


def first_load(browser: Browser, web: Web, path: str, state: StorageState | None) -> tuple[float, int]:
    """(milliseconds from navigation start to the end of the load event, bytes of JavaScript transferred, as
    the page's resource timing counts them) of `path` in a browser context of its own: nothing cached, only
    the cookies of `state`."""
    headers = {"X-Forwarded-For": "2001:db8::10ad"}
    context = browser.new_context(storage_state=state, extra_http_headers=headers)
    watch = Watch()
    context.on("console", watch.console)
    context.on("weberror", lambda error: watch.errors.append(f"uncaught: {error.error}"))
    try:
        page = context.new_page()
        response = page.goto(web.url(path))
        assert response is not None and response.ok, path
        assert page.url == web.url(path), f"{path} went to {page.url}"
        page.wait_for_function(f"() => ({LOAD_EVENT_END})() > 0")
        milliseconds = float(page.evaluate(LOAD_EVENT_END))
        scripts = int(page.evaluate(SCRIPT_BYTES))
    finally:
        context.close()
    assert watch.errors == [], f"console errors on {path}"
    return milliseconds, scripts


def test_the_first_load_of_each_page_is_under_one_second(
    web: Web, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    signed_out = web.context.storage_state()
    web.new_user(f"load-{uuid.uuid4().hex[:8]}@example.com")
    signed_in = web.context.storage_state()
    pages = {"/": signed_out, "/signin": signed_out, "/chat": signed_in}
    for path, state in pages.items():
        first_load(browser, web, path, state)  # the warm-up request: the server renders the page once
    figures = {path: first_load(browser, web, path, state) for path, state in pages.items()}

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = {path: {"load_ms": round(ms, 1), "script_bytes": size} for path, (ms, size) in figures.items()}
    (ARTIFACTS / "page-load.json").write_text(json.dumps(report, indent=2))
    with capsys.disabled():
        for path, (ms, size) in figures.items():
            print(f"\nfirst load {path}: {ms:.0f} ms, {size / 1024:.1f} KB of JavaScript", end="")
        print()
    slow = {path: ms for path, (ms, _) in figures.items() if ms >= LOAD_BUDGET_MS}
    assert slow == {}, "pages loading in 1 s or more"
    heavy = {path: size for path, (_, size) in figures.items() if size >= MAX_SCRIPT_BYTES}
    assert heavy == {}, "pages loading 200 KB of JavaScript or more"
    assert figures["/chat"][1] > 0, "the chat page's scripts were not counted"
