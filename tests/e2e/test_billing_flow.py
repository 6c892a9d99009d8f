"""Billing through a real `parley serve` wired to a local fake Stripe (the real `stripe` SDK, Stripe's wire
format, signed webhooks): subscribe -> quota raised -> chat -> invoice.paid webhook -> payment listed and
receipt emailed; and what the webhook endpoint does with bad, stale, duplicate and out-of-order events."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.accounts import bearer, verified_access_token
from tests.support.fake_stripe import FakeStripe
from tests.support.server import Mailbox, ServerProcess, running_server


@pytest.fixture
def stripe_server(tmp_path: Path, fake_stripe: FakeStripe) -> Iterator[ServerProcess]:
    yield from running_server(
        tmp_path,
        STRIPE_SECRET_KEY=fake_stripe.api_key,
        STRIPE_WEBHOOK_SECRET=fake_stripe.webhook_secret,
        PARLEY_STRIPE_API_BASE=fake_stripe.api_base,
        PARLEY_STRIPE_PRICE_PLUS=fake_stripe.prices["plus"],
        PARLEY_STRIPE_PRICE_PRO=fake_stripe.prices["pro"],
        PARLEY_DEMO_DELAY_MS="0",
        # The fake's test clock renews a period long before it ends in real time; a real renewal comes at the
        # period's end, when an allowance kept between requests expires anyway (docs/conversation.md).
        PARLEY_ALLOWANCE_CACHE_SECONDS="0",
    )


def deliver(fake: FakeStripe, server: ServerProcess, event: dict[str, Any], **signing: Any) -> httpx.Response:
    return asyncio.run(fake.deliver(f"{server.url}/api/billing/webhooks/stripe", event, **signing))


def events_applied(server: ServerProcess) -> int:
    """How many webhook events the server's job runner has applied (from its JSON log)."""
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    return sum(1 for line in lines if line.get("event") == "job.done" and line.get("topic") == "billing.gateway_event")


def wait_until(condition: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.05)  # the worker applies webhook events on its own: poll what the API shows
    raise AssertionError("condition not met in time")


def test_subscribe_chat_renew_with_stripe(stripe_server: ServerProcess, fake_stripe: FakeStripe) -> None:
    mailbox = Mailbox(stripe_server.workdir / "var" / "mail")
    with httpx.Client(base_url=stripe_server.url, timeout=20) as client:
        email = "stripe-user@example.com"
        headers = bearer(verified_access_token(client, mailbox, email))
        assert client.get("/api/billing/usage", headers=headers).json()["token_quota"] == 10_000

        sub = client.post(
            "/api/billing/subscribe", json={"plan": "plus", "payment_method_id": "pm_card_visa"}, headers=headers
        )
        assert sub.status_code == 200 and sub.json()["status"] == "active"
        assert client.get("/api/billing/usage", headers=headers).json()["token_quota"] == 100_000  # raised at once
        assert client.post("/api/chat", json={"content": "Hello on Plus"}, headers=headers).status_code == 200

        for event in fake_stripe.events:  # Stripe's events for the first invoice: applied, never doubled
            assert deliver(fake_stripe, stripe_server, event).status_code == 200
        [stripe_sub] = fake_stripe.subscriptions
        renewal = fake_stripe.advance(stripe_sub["id"])
        assert renewal is not None
        renewal_events = [
            e
            for e in fake_stripe.events
            if e["data"]["object"].get("id") == renewal["id"] or e["type"].startswith("customer.subscription")
        ]
        for event in renewal_events:
            assert deliver(fake_stripe, stripe_server, event).status_code == 200
        for event in renewal_events:  # Stripe retries deliveries: duplicates are accepted and applied once
            assert deliver(fake_stripe, stripe_server, event).status_code == 200

        payments = wait_until(
            lambda: (
                (items := client.get("/api/billing/payments", headers=headers).json()["items"])
                and len(items) >= 2
                and items
            )
        )
        assert len(payments) == 2
        assert payments[0]["invoice_url"] == renewal["hosted_invoice_url"]
        assert {(p["amount_cents"], p["currency"], p["status"]) for p in payments} == {(2_000, "usd", "succeeded")}
        receipts = [m for m in mailbox.wait_for(email, count=4) if "receipt" in m["Subject"].lower()]
        wait_until(lambda: len([m for m in mailbox.messages(email) if "receipt" in m["Subject"].lower()]) == 2)
        assert receipts
        usage = client.get("/api/billing/usage", headers=headers).json()
        assert usage["tokens_used"] == 0  # a new period: the quota starts afresh


def test_the_webhook_refuses_bad_signatures_and_survives_disorder(
    stripe_server: ServerProcess, fake_stripe: FakeStripe
) -> None:
    mailbox = Mailbox(stripe_server.workdir / "var" / "mail")
    with httpx.Client(base_url=stripe_server.url, timeout=20) as client:
        headers = bearer(verified_access_token(client, mailbox))
        client.post(
            "/api/billing/subscribe", json={"plan": "pro", "payment_method_id": "pm_card_visa"}, headers=headers
        )
        [stripe_sub] = fake_stripe.subscriptions
        stale_update = fake_stripe.event("customer.subscription.updated", stripe_sub)

        assert deliver(fake_stripe, stripe_server, stale_update, tamper=True).status_code == 400
        assert deliver(fake_stripe, stripe_server, stale_update, secret="whsec_wrong").status_code == 400
        old = int(time.time()) - 301
        assert deliver(fake_stripe, stripe_server, stale_update, timestamp=old).status_code == 400
        bad = client.post("/api/billing/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1,v1=00"})
        assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")

        assert client.post("/api/billing/cancel", headers=headers).json()["cancel_at_period_end"] is True
        fake_stripe.advance(stripe_sub["id"])
        [deleted] = [e for e in fake_stripe.events if e["type"] == "customer.subscription.deleted"]
        assert deliver(fake_stripe, stripe_server, deleted).status_code == 200
        wait_until(lambda: client.get("/api/billing/subscription", headers=headers).json()["plan"] == "free")
        # A late `updated` from before the cancellation must not revive it: the worker re-fetches the subscription.
        applied = events_applied(stripe_server)
        assert deliver(fake_stripe, stripe_server, stale_update).status_code == 200
        wait_until(lambda: events_applied(stripe_server) > applied)
        assert client.get("/api/billing/subscription", headers=headers).json()["plan"] == "free"
        assert client.get("/api/auth/me", headers=headers).json()["plan"] == "free"
