"""Each definition of docs/analytics.md ("Definitions") on a data set small enough to work out by hand."""

from __future__ import annotations

import pytest

from application.analytics.range import Interval
from application.shared.facts import Fact, FactKind
from tests.unit.analytics.conftest import at, change, days, fact, queries, reply


async def test_active_users_sent_a_message_that_day_week_or_month() -> None:
    facts = [
        reply(at(3, 1), 1),  # user 1: March 1, 2 and 10 (twice that day)
        reply(at(3, 2), 1),
        reply(at(3, 10), 1),
        reply(at(3, 10, 18), 1),
        reply(at(2, 10), 2),  # user 2: February 10 (29 days before March 11) and March 4
        reply(at(3, 4), 2),
        fact(FactKind.USER_SIGNED_IN, at(3, 11), 3),  # signing in is not being active
    ]

    answer = (await queries(*facts).active_users(days("2026-03-09", "2026-03-11"), Interval.DAY)).value

    assert [(p.active, p.dau, p.wau, p.mau) for p in answer] == [
        (0, 0, 1, 2),  # March 9: nobody that day; March 3..9: user 2 (the 4th); Feb 8..Mar 9: both
        (1, 1, 2, 2),  # March 10: user 1 (twice, counted once); March 4..10: both
        (0, 0, 1, 2),  # March 11: March 5..11: user 1; Feb 10..Mar 11: both (user 2 on its first day)
    ]


async def test_a_week_of_active_users_counts_each_user_once() -> None:
    facts = [reply(at(3, day), 1) for day in (2, 3, 8)] + [reply(at(3, 9), 2)]

    [week] = (await queries(*facts).active_users(days("2026-03-02", "2026-03-08"), Interval.WEEK)).value

    assert (week.start.isoformat(), week.active, week.dau, week.wau, week.mau) == ("2026-03-02", 1, 1, 1, 1)


async def test_signups_and_growth_count_accounts_before_each_bucket_end() -> None:
    facts = [fact(FactKind.USER_SIGNED_UP, at(2, 27), 1), fact(FactKind.USER_SIGNED_UP, at(3, 2), 2)]
    facts += [fact(FactKind.USER_SIGNED_UP, at(3, 31, 23), 3), fact(FactKind.USER_VERIFIED, at(3, 2, 13), 2)]

    growth = (await queries(*facts).user_growth(days("2026-03-01", "2026-04-15"), Interval.MONTH)).value
    count = (await queries(*facts).user_count(days("2026-03-01", "2026-03-31"))).value

    assert [(p.start.isoformat(), p.signups, p.total) for p in growth] == [("2026-03-01", 2, 3), ("2026-04-01", 0, 3)]
    assert (count.total, count.new, count.verified) == (3, 2, 1)


async def test_retention_cohorts_are_signup_weeks_and_active_means_a_message_that_week() -> None:
    signups = [fact(FactKind.USER_SIGNED_UP, at(3, day), who) for day, who in ((2, 1), (4, 2), (9, 3))]
    messages = [reply(at(3, 3), 1), reply(at(3, 5), 2), reply(at(3, 11), 2), reply(at(3, 18), 1)]

    cohorts = (await queries(*signups, *messages).retention(days("2026-03-02", "2026-03-20"))).value

    assert [(c.start.isoformat(), c.size) for c in cohorts] == [("2026-03-02", 2), ("2026-03-09", 1)]
    assert [(w.week, w.active, w.rate) for w in cohorts[0].weeks] == [(0, 2, 1.0), (1, 1, 0.5), (2, 1, 0.5)]
    assert [(w.week, w.active, w.rate) for w in cohorts[1].weeks] == [(0, 0, 0.0), (1, 0, 0.0)]


async def test_messages_are_replies_cached_and_failed_ones_included() -> None:
    facts = [reply(at(3, 1), 1, prompt_tokens=5, completion_tokens=7), reply(at(3, 1), 2, cached=True)]
    facts += [reply(at(3, 1), 2, error="timeout", finish_reason="error"), reply(at(3, 2), 1)]

    [day] = (await queries(*facts).messages(days("2026-03-01", "2026-03-01"), Interval.DAY)).value

    assert (day.messages, day.users, day.prompt_tokens, day.completion_tokens, day.cached, day.errors) == (
        3,
        2,
        5,
        7,
        1,
        1,
    )


async def test_mrr_counts_active_and_past_due_and_a_scheduled_cancel_until_it_ends() -> None:
    facts = [
        change(FactKind.SUBSCRIPTION_STARTED, at(3, 1), 1),  # plus, 20.00
        change(FactKind.SUBSCRIPTION_UPGRADED, at(3, 5), 1, price=5000),  # pro from the 5th
        change(FactKind.SUBSCRIPTION_STARTED, at(3, 2), 2),
        change(FactKind.SUBSCRIPTION_PAST_DUE, at(3, 3), 2, status="past_due"),  # still counted
        change(FactKind.SUBSCRIPTION_STARTED, at(3, 2), 3),
        change(FactKind.SUBSCRIPTION_CANCELED, at(3, 4), 3),  # a cancel at the period end: still active
        change(FactKind.SUBSCRIPTION_CANCELED, at(3, 6), 3, status="canceled"),  # ...until it ends
        change(FactKind.SUBSCRIPTION_STARTED, at(3, 2), 4, price=0),  # a free plan pays nothing
    ]

    points = (await queries(*facts).mrr(days("2026-03-04", "2026-03-06"), Interval.DAY)).value

    # At the end of the 4th: 20 + 20 + 20; of the 5th: 50 + 20 + 20; of the 6th: 50 + 20.
    assert [(p.mrr_cents, p.paying_users, p.arpu_cents) for p in points] == [
        (6000, 3, 2000),
        (9000, 3, 3000),
        (7000, 2, 3500),
    ]
    assert [(p.churned_users, p.churn) for p in points] == [(0, 0.0), (0, 0.0), (1, pytest.approx(1 / 3))]


async def test_churn_is_paying_users_lost_over_paying_at_the_start_and_ltv_is_arpu_over_monthly_churn() -> None:
    starts = [change(FactKind.SUBSCRIPTION_STARTED, at(1, 1), who) for who in range(1, 5)]  # 4 x 20.00
    end = change(FactKind.SUBSCRIPTION_CANCELED, at(3, 10), 1, status="canceled")

    [march] = (await queries(*starts, end).mrr(days("2026-03-01", "2026-03-31"), Interval.MONTH)).value
    [february] = (await queries(*starts, end).mrr(days("2026-02-01", "2026-02-28"), Interval.MONTH)).value

    # March: 4 paying on the 1st, 3 at the end: churn 1/4. The 30 days before April 1 (from March 2): the
    # same 1 of 4, so LTV = ARPU 20.00 / 0.25 = 80.00.
    assert (march.mrr_cents, march.paying_users, march.churned_users, march.churn) == (6000, 3, 1, 0.25)
    assert march.ltv_cents == 8000
    # February: nobody left, so no finite lifetime: LTV is None.
    assert (february.churn, february.ltv_cents) == (0.0, None)


async def test_a_user_who_comes_back_or_keeps_another_subscription_has_not_churned() -> None:
    def sub(kind: FactKind, day: int, who: int, name: str, status: str = "active") -> Fact:
        return fact(kind, at(3, day), who, subscription_id=name, plan="plus", price_cents=2000, status=status)

    started, canceled = FactKind.SUBSCRIPTION_STARTED, FactKind.SUBSCRIPTION_CANCELED
    facts = [
        sub(started, 1, 1, "a"),  # user 1 leaves on the 10th and is back on the 20th
        sub(canceled, 10, 1, "a", "canceled"),
        sub(started, 20, 1, "b"),
        sub(started, 1, 2, "c"),  # user 2 has two subscriptions from the 5th; one ends on the 12th
        sub(started, 5, 2, "d"),
        sub(canceled, 12, 2, "c", "canceled"),
        sub(started, 1, 3, "e"),  # user 3 leaves on the 15th
        sub(canceled, 15, 3, "e", "canceled"),
    ]

    [month] = (await queries(*facts).mrr(days("2026-03-02", "2026-03-31"), Interval.MONTH)).value
    tenth, eleventh = (await queries(*facts).mrr(days("2026-03-10", "2026-03-11"), Interval.DAY)).value

    # Over the month only user 3 is lost (3 paying on the 2nd, the same 3 thirty days before April 1).
    assert (month.mrr_cents, month.paying_users, month.churned_users, month.churn) == (
        4000,
        2,
        1,
        pytest.approx(1 / 3),
    )
    assert month.ltv_cents == 6000  # ARPU 20.00 / (1/3)
    # Within the 10th user 1 has left (back only on the 20th); user 2 pays twice until the 12th.
    assert (tenth.mrr_cents, tenth.paying_users, tenth.churned_users) == (6000, 2, 1)
    assert (eleventh.mrr_cents, eleventh.paying_users, eleventh.churned_users) == (6000, 2, 0)


async def test_revenue_is_succeeded_payments_minus_refunds() -> None:
    def pay(kind: FactKind, day: int, cents: int) -> Fact:
        return fact(kind, at(3, day), 1, payment_id=f"p{day}{kind}", amount_cents=cents, currency="usd", plan="pro")

    facts = [pay(FactKind.PAYMENT_SUCCEEDED, 1, 5000), pay(FactKind.PAYMENT_SUCCEEDED, 2, 2000)]
    facts += [pay(FactKind.PAYMENT_REFUNDED, 2, 500), pay(FactKind.PAYMENT_FAILED, 2, 2000)]

    points = (await queries(*facts).revenue(days("2026-03-01", "2026-03-02"), Interval.DAY)).value

    assert [
        (p.succeeded_cents, p.refunded_cents, p.revenue_cents, p.payments, p.refunds, p.failed) for p in points
    ] == [(5000, 0, 5000, 1, 0, 0), (2000, 500, 1500, 1, 1, 1)]


async def test_margin_is_revenue_minus_provider_cost_per_plan_rounded_half_up_to_cents() -> None:
    pay = fact(FactKind.PAYMENT_SUCCEEDED, at(3, 1), 1, payment_id="p", amount_cents=2000, currency="usd", plan="plus")
    costs = [reply(at(3, 1), 1, cost_micros=12_500), reply(at(3, 1), 1, cost_micros=2_500)]  # 1.5 cents: 2
    costs += [reply(at(3, 1), 2, plan="free", cost_micros=4_999)]  # 0.4999 cents: 0

    [point] = (await queries(pay, *costs).margin(days("2026-03-01", "2026-03-01"), Interval.DAY)).value

    assert [(p.plan, p.revenue_cents, p.cost_cents, p.margin_cents) for p in point.plans] == [
        ("free", 0, 0, 0),
        ("plus", 2000, 2, 1998),
    ]
    assert (point.revenue_cents, point.cost_cents, point.margin_cents) == (2000, 2, 1998)


async def test_provider_performance_percentiles_error_rate_and_tokens_per_second() -> None:
    # Ten good replies of 100..1,000 ms, the first token after a tenth of that, 90 tokens each; one failure.
    good = [
        reply(at(3, 1), 1, latency_ms=100 * n, ttft_ms=10 * n, completion_tokens=90, failovers=n % 2)
        for n in range(1, 11)
    ]
    failed = reply(at(3, 1), 1, latency_ms=30_000, error="timeout", finish_reason="error", failovers=2)
    cached = reply(at(3, 1), 1, latency_ms=1, ttft_ms=1, cached=True)

    [gpt] = (await queries(*good, failed, cached).provider_performance(days("2026-03-01", "2026-03-01"))).value

    assert gpt.requests == 11  # the cached reply is not a provider request
    assert (gpt.latency_p50_ms, gpt.latency_p95_ms) == (pytest.approx(550.0), pytest.approx(955.0))
    assert (gpt.ttft_p50_ms, gpt.ttft_p95_ms) == (pytest.approx(55.0), pytest.approx(95.5))
    assert (gpt.errors, gpt.error_rate, gpt.failovers) == (1, pytest.approx(1 / 11), 5 + 2)
    # 900 tokens over the generating time: sum of 0.9 x (100..1,000) ms = 4,950 ms.
    assert gpt.tokens_per_second == pytest.approx(900 / 4.95)


async def test_provider_usage_sums_tokens_and_cost_per_provider_and_model() -> None:
    facts = [reply(at(3, 1), 1, prompt_tokens=3, completion_tokens=4, cost_micros=6_000) for _ in range(2)]
    facts += [reply(at(3, 1), 1, provider="anthropic", model="claude", cost_micros=4_999)]
    facts += [reply(at(3, 1), 1, cached=True, cost_micros=0, prompt_tokens=50)]

    usage = (await queries(*facts).provider_usage(days("2026-03-01", "2026-03-01"))).value

    assert [
        (u.provider, u.model, u.requests, u.prompt_tokens, u.total_tokens, u.cost_micros, u.cost_cents) for u in usage
    ] == [("anthropic", "claude", 1, 0, 0, 4999, 0), ("openai", "gpt", 2, 6, 14, 12000, 1)]


async def test_as_of_is_the_newest_fact_and_none_without_facts() -> None:
    assert (await queries().user_count(days("2026-03-01", "2026-03-01"))).as_of is None
    newest = await queries(reply(at(3, 1), 1), reply(at(4, 1), 1)).user_count(days("2026-03-01", "2026-03-01"))
    assert newest.as_of == at(4, 1)
