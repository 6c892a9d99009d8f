"""/api/billing on the local gateway (the embedded default), in-process: subscribe, upgrade at once,
downgrade and cancel at the period end, renewals by the billing cycle, payments with invoices, emails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from adapters.memory.clock import FrozenClock
from adapters.memory.mailer import InMemoryMailer
from entrypoints.bootstrap import Container
from entrypoints.http.app import create_app
from tests.support.app import app_client, bearer, memory_container, verified_user_token
from tests.support.fake_stripe import FakeStripe


@dataclass
class Billing:
    client: httpx.AsyncClient
    container: Container
    clock: FrozenClock
    mailer: InMemoryMailer
    headers: dict[str, str]

    async def get(self, path: str) -> dict:  # type: ignore[type-arg]
        response = await self.client.get(path, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def post(self, path: str, body: dict | None = None) -> httpx.Response:  # type: ignore[type-arg]
        return await self.client.post(path, json=body or {}, headers=self.headers)

    async def emails(self, template_subject: str, count: int = 1) -> list[str]:
        for _ in range(200):
            subjects = [m.subject for m in self.mailer.sent if template_subject in m.subject]
            if len(subjects) >= count:
                return subjects
            await asyncio.sleep(0.02)  # the in-process job worker sends on its own thread
        raise AssertionError(f"no email like {template_subject!r}: {[m.subject for m in self.mailer.sent]}")


@pytest.fixture
async def billing(tmp_path: Path) -> AsyncIterator[Billing]:
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    mailer = InMemoryMailer()
    container = memory_container(
        tmp_path,
        settings={"outbox_poll_seconds": 0.05, "refresh_token_ttl_seconds": 90 * 86400},
        clock=clock,
        mailer=mailer,
    )
    async with app_client(container) as client:
        token = await verified_user_token(container, "ada@example.com")
        yield Billing(client, container, clock, mailer, bearer(token))


async def test_plans_are_public(billing: Billing) -> None:
    plans = (await billing.client.get("/api/billing/plans")).json()["items"]
    assert [(p["id"], p["price_cents"], p["currency"], p["token_quota"], p["interval"]) for p in plans] == [
        ("free", 0, "usd", 10_000, "month"),
        ("plus", 2_000, "usd", 100_000, "month"),
        ("pro", 5_000, "usd", 500_000, "month"),
    ]


async def test_a_free_user_has_a_free_subscription_view(billing: Billing) -> None:
    view = await billing.get("/api/billing/subscription")
    assert (view["plan"], view["status"], view["cancel_at_period_end"], view["pending_plan"]) == (
        "free",
        "active",
        False,
        None,
    )
    usage = await billing.get("/api/billing/usage")
    assert (usage["plan"], usage["token_quota"], usage["tokens_used"], usage["remaining"]) == (
        "free",
        10_000,
        0,
        10_000,
    )


async def test_subscribing_raises_the_quota_at_once_and_records_a_paid_invoice(billing: Billing) -> None:
    response = await billing.post("/api/billing/subscribe", {"plan": "plus"})
    assert response.status_code == 200
    sub = response.json()
    assert (sub["plan"], sub["status"], sub["pending_plan"]) == ("plus", "active", None)
    assert (await billing.get("/api/auth/me"))["plan"] == "plus"
    assert (await billing.get("/api/billing/usage"))["token_quota"] == 100_000

    payments = (await billing.get("/api/billing/payments"))["items"]
    assert [(p["amount_cents"], p["currency"], p["status"]) for p in payments] == [(2_000, "usd", "succeeded")]
    invoice = await billing.client.get(payments[0]["invoice_url"].replace("http://127.0.0.1:8000", ""))
    assert invoice.status_code == 200 and "text/html" in invoice.headers["content-type"]
    assert "$20.00" in invoice.text and "PRL-" in invoice.text
    unsigned = payments[0]["invoice_url"].replace("http://127.0.0.1:8000", "").rsplit("=", 1)[0]
    for forged_signature in ("0000", "%C3%A9t%C3%A9"):  # a wrong one; one with non-ASCII characters
        assert (await billing.client.get(f"{unsigned}={forged_signature}")).status_code == 404

    await billing.emails("subscription is active")
    await billing.emails("receipt")


async def test_upgrade_now_downgrade_and_cancel_at_the_period_end(billing: Billing) -> None:
    await billing.post("/api/billing/subscribe", {"plan": "plus"})
    upgraded = (await billing.post("/api/billing/subscribe", {"plan": "pro"})).json()
    assert upgraded["plan"] == "pro" and (await billing.get("/api/billing/usage"))["token_quota"] == 500_000
    payments = (await billing.get("/api/billing/payments"))["items"]
    assert len(payments) == 2 and 0 < payments[0]["amount_cents"] <= 3_000  # prorated difference

    downgraded = (await billing.post("/api/billing/subscribe", {"plan": "plus"})).json()
    assert (downgraded["plan"], downgraded["pending_plan"]) == ("pro", "plus")
    assert (await billing.get("/api/billing/usage"))["token_quota"] == 500_000  # until the period ends

    canceled = (await billing.post("/api/billing/cancel")).json()
    assert canceled["cancel_at_period_end"] is True and canceled["plan"] == "pro"
    await billing.emails("ends on")

    billing.clock.advance(timedelta(days=32))
    assert await billing.container.billing.run_cycle() == 1
    assert await billing.container.billing.run_cycle() == 0  # each period closes once
    view = await billing.get("/api/billing/subscription")
    assert view["plan"] == "free" and (await billing.get("/api/auth/me"))["plan"] == "free"


async def test_a_renewal_charges_the_next_period_and_resets_the_quota(billing: Billing) -> None:
    await billing.post("/api/billing/subscribe", {"plan": "plus"})
    chat = await billing.post("/api/chat", {"content": "spend a few tokens"})
    assert chat.status_code == 200
    assert (await billing.get("/api/billing/usage"))["tokens_used"] > 0
    first = await billing.get("/api/billing/subscription")

    billing.clock.advance(timedelta(days=31, seconds=1))
    assert await billing.container.billing.run_cycle() == 1
    renewed = await billing.get("/api/billing/subscription")
    assert renewed["current_period_start"] == first["current_period_end"]
    assert (await billing.get("/api/billing/usage"))["tokens_used"] == 0
    assert len((await billing.get("/api/billing/payments"))["items"]) == 2
    await billing.emails("receipt", count=2)


async def test_downgrade_to_free_is_a_cancel_and_cancel_without_subscription_is_409(billing: Billing) -> None:
    assert (await billing.post("/api/billing/cancel")).status_code == 409
    await billing.post("/api/billing/subscribe", {"plan": "pro"})
    to_free = (await billing.post("/api/billing/subscribe", {"plan": "free"})).json()
    assert to_free["cancel_at_period_end"] is True and to_free["pending_plan"] == "free"
    resumed = (await billing.post("/api/billing/subscribe", {"plan": "pro"})).json()
    assert resumed["cancel_at_period_end"] is False and resumed["pending_plan"] is None


async def test_unverified_users_cannot_subscribe_and_bad_plans_are_422(billing: Billing) -> None:
    token = await verified_user_token(billing.container, "new@example.com", verified=False)
    response = await billing.client.post("/api/billing/subscribe", json={"plan": "plus"}, headers=bearer(token))
    assert response.status_code == 403 and response.json()["type"].endswith("email-not-verified")
    unknown = await billing.post("/api/billing/subscribe", {"plan": "platinum"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "plan"


async def test_a_quota_warning_goes_out_when_a_reply_crosses_80_percent(billing: Billing) -> None:
    for index in range(4):  # about 2,000 tokens each on a 10,000-token free quota
        reply = await billing.post("/api/chat", {"content": f"{index} " + "word " * 1_600, "max_tokens": 1})
        assert reply.status_code == 200
        crossed = reply.json()["quota"]["used"] >= 8_000
        assert crossed == (index == 3)
    await billing.emails("80%")
    assert len([m for m in billing.mailer.sent if "80%" in m.subject]) == 1


async def test_with_overage_on_tokens_beyond_the_quota_are_billed_on_the_next_invoice(tmp_path: Path) -> None:
    from adapters.memory.llm import Script, ScriptedProvider
    from domain.conversation.catalogue import ModelCatalogue, ModelSpec, RouteStep
    from domain.conversation.model import Usage

    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    big = ScriptedProvider("big", [Script(pieces=("long answer",), usage=Usage(50_000, 50_000))] * 2)
    catalogue = ModelCatalogue([ModelSpec("m", (RouteStep("big", "up"),), 400_000, frozenset({"free", "plus", "pro"}))])
    container = memory_container(
        tmp_path,
        settings={"overage_cents_per_1k_tokens": {"plus": 50}, "refresh_token_ttl_seconds": 90 * 86400},
        clock=clock,
        providers={"big": big},
        catalogue=catalogue,
    )
    async with app_client(container) as client:
        headers = bearer(await verified_user_token(container, "ada@example.com"))
        await client.post("/api/billing/subscribe", json={"plan": "plus"}, headers=headers)
        first = await client.post(
            "/api/chat", json={"content": "one", "model": "m", "max_tokens": 100}, headers=headers
        )
        second = await client.post(
            "/api/chat", json={"content": "two", "model": "m", "max_tokens": 100}, headers=headers
        )
        assert first.status_code == second.status_code == 200  # not refused: billed
        assert second.json()["quota"]["used"] == 200_000 and second.json()["quota"]["remaining"] == 0

        clock.advance(timedelta(days=31, seconds=1))
        assert await container.billing.run_cycle() == 1
        payments = (await client.get("/api/billing/payments", headers=headers)).json()["items"]
    assert payments[0]["amount_cents"] == 2_000 + 100 * 50  # the plan, plus 100 started thousands at 50 cents


async def test_with_stripe_overage_goes_out_as_meter_events(tmp_path: Path, fake_stripe: FakeStripe) -> None:
    container = _stripe_overage_container(tmp_path, fake_stripe, {"outbox_poll_seconds": 0.05})
    async with app_client(container) as client:
        headers = bearer(await verified_user_token(container, "ada@example.com"))
        sub = await client.post(
            "/api/billing/subscribe", json={"plan": "plus", "payment_method_id": "pm_card_visa"}, headers=headers
        )
        assert sub.json()["status"] == "active"
        reply = await client.post(
            "/api/chat", json={"content": "one", "model": "m", "max_tokens": 100}, headers=headers
        )
        assert reply.status_code == 200 and reply.json()["quota"]["used"] == 120_000
        for _ in range(250):
            if fake_stripe.meter_events:
                break
            await asyncio.sleep(0.02)  # the in-process job worker reports it on its own thread
    [event] = fake_stripe.meter_events
    assert event["payload"]["value"] == "20000"  # 120,000 used on a 100,000 quota


async def test_plans_come_from_configuration(tmp_path: Path) -> None:
    import json

    plans = [
        {"id": "free", "name": "Free", "price_cents": 0, "token_quota": 20_000, "models": "basic"},
        {"id": "plus", "name": "Plus", "price_cents": 1_500, "token_quota": 150_000},
        {"id": "pro", "name": "Pro", "price_cents": 4_000, "token_quota": 600_000, "features": ["Priority"]},
    ]
    plans_file = tmp_path / "plans.json"
    plans_file.write_text(json.dumps(plans))
    container = memory_container(tmp_path, settings={"plans_file": plans_file})
    async with app_client(container) as client:
        listed = (await client.get("/api/billing/plans")).json()["items"]
        headers = bearer(await verified_user_token(container, "ada@example.com"))
        usage = (await client.get("/api/billing/usage", headers=headers)).json()
        await client.post("/api/billing/subscribe", json={"plan": "plus"}, headers=headers)
        payments = (await client.get("/api/billing/payments", headers=headers)).json()["items"]
    assert [(p["id"], p["price_cents"], p["token_quota"]) for p in listed] == [
        ("free", 0, 20_000),
        ("plus", 1_500, 150_000),
        ("pro", 4_000, 600_000),
    ]
    assert usage["token_quota"] == 20_000
    assert payments[0]["amount_cents"] == 1_500


async def test_with_stripe_overage_is_billed_once_when_the_period_ends(tmp_path: Path, fake_stripe: FakeStripe) -> None:
    """The reply's meter event is the overage: when the period ends, neither the billing cycle nor the renewal
    reports it again, so the renewal invoice bills the plan plus the period's 20 started thousands once."""
    from adapters.memory.publisher import InMemoryPublisher

    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    publisher = InMemoryPublisher()
    settings = {
        "stripe_webhook_secret": fake_stripe.webhook_secret,
        "refresh_token_ttl_seconds": 90 * 86400,
        "allowance_cache_seconds": 0,
        "billing_cycle_seconds": 3600,  # the test runs the cycle itself
    }
    container = _stripe_overage_container(tmp_path, fake_stripe, settings, clock=clock, publisher=publisher)
    jobs_seen = 0

    async def run_jobs() -> None:  # relay and worker, in the test's own steps
        nonlocal jobs_seen
        while await container.relay_outbox():
            for message_id, _topic in publisher.published[jobs_seen:]:
                await container.run_job(message_id)
            jobs_seen = len(publisher.published)

    async with AsyncTestClient(app=create_app(container, run_jobs_in_process=False)) as client:
        headers = bearer(await verified_user_token(container, "ada@example.com"))
        sub = await client.post(
            "/api/billing/subscribe", json={"plan": "plus", "payment_method_id": "pm_card_visa"}, headers=headers
        )
        assert sub.json()["status"] == "active"
        first_period_end = sub.json()["current_period_end"]
        reply = await client.post(
            "/api/chat", json={"content": "one", "model": "m", "max_tokens": 100}, headers=headers
        )
        assert reply.json()["quota"]["used"] == 120_000
        await run_jobs()

        clock.advance(timedelta(days=31, seconds=1))  # the period has ended; Stripe's webhooks are yet to come
        await container.billing.run_cycle()
        await run_jobs()
        [renewal] = fake_stripe.advance_clock(clock.now())
        for event in fake_stripe.events:
            payload, signature = fake_stripe.signed(event)
            delivered = await client.post(
                "/api/billing/webhooks/stripe", content=payload, headers={"Stripe-Signature": signature}
            )
            assert delivered.status_code == 200
        await run_jobs()
        payments = (await client.get("/api/billing/payments", headers=headers)).json()["items"]
        view = (await client.get("/api/billing/subscription", headers=headers)).json()

    assert [event["payload"]["value"] for event in fake_stripe.meter_events] == ["20000"]
    assert renewal["amount_paid"] == 2_000 + 20 * 2  # the fake's overage price: 2 cents per started 1,000 tokens
    assert [p["amount_cents"] for p in payments] == [2_040, 2_000]
    assert (view["plan"], view["status"], view["current_period_start"]) == ("plus", "active", first_period_end)


async def test_subscribing_again_while_the_first_invoice_waits_never_leaves_two_subscriptions_at_stripe(
    tmp_path: Path, fake_stripe: FakeStripe
) -> None:
    """A card that needs 3-D Secure leaves the subscription incomplete. Asking for the same plan again offers
    the same invoice to pay (no second subscription at Stripe); asking for another plan ends the waiting one at
    Stripe first, so no forgotten invoice can be paid later into a second subscription."""
    container = _stripe_overage_container(tmp_path, fake_stripe, {})
    async with app_client(container) as client:
        headers = bearer(await verified_user_token(container, "ada@example.com"))
        card = {"payment_method_id": "pm_card_authenticationRequired"}
        first = (await client.post("/api/billing/subscribe", json={"plan": "plus", **card}, headers=headers)).json()
        again = (await client.post("/api/billing/subscribe", json={"plan": "plus"}, headers=headers)).json()
        assert first["status"] == again["status"] == "incomplete"
        assert again["client_secret"] == first["client_secret"] is not None
        assert len(fake_stripe.subscriptions) == 1

        other = await client.post("/api/billing/subscribe", json={"plan": "pro", **card}, headers=headers)
        assert (other.status_code, other.json()["plan"], other.json()["status"]) == (200, "pro", "incomplete")
        statuses = sorted(sub["status"] for sub in fake_stripe.subscriptions)
        assert statuses == ["canceled", "incomplete"]
        view = (await client.get("/api/billing/subscription", headers=headers)).json()
        assert (view["plan"], view["client_secret"]) == ("pro", other.json()["client_secret"])


def _stripe_overage_container(
    tmp_path: Path, fake_stripe: FakeStripe, settings: dict[str, Any], **overrides: Any
) -> Container:
    """Plus bills overage at 50 cents per started 1,000 tokens through the fake Stripe; model `m` replies with
    120,000 tokens, 20,000 beyond plus's quota."""
    from adapters.memory.llm import Script, ScriptedProvider
    from domain.conversation.catalogue import ModelCatalogue, ModelSpec, RouteStep
    from domain.conversation.model import Usage

    big = ScriptedProvider("big", [Script(pieces=("long answer",), usage=Usage(60_000, 60_000))])
    catalogue = ModelCatalogue([ModelSpec("m", (RouteStep("big", "up"),), 400_000, frozenset({"free", "plus", "pro"}))])
    stripe = {
        "overage_cents_per_1k_tokens": {"plus": 50},
        "stripe_secret_key": fake_stripe.api_key,
        "stripe_api_base": fake_stripe.api_base,
        "stripe_price_plus": fake_stripe.prices["plus"],
        "stripe_price_pro": fake_stripe.prices["pro"],
        "stripe_price_overage": fake_stripe.overage_price,
    }
    return memory_container(
        tmp_path, settings={**stripe, **settings}, providers={"big": big}, catalogue=catalogue, **overrides
    )
