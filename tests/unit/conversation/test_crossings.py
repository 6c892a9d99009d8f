"""What spending causes, as a reply's record decides it on the period's total before and after it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from application.conversation.crossings import fired, quota_crossings
from application.shared import topics
from application.shared.allowance import Allowance
from domain.shared.ids import new_id
from tests.factories.conversation import PERIOD, T0


def allowance(limit: int, overage: int = 0) -> Allowance:
    return Allowance("plus", limit, PERIOD, PERIOD + timedelta(days=31), overage)


def crossed(limit: int, before: int, after: int, *, granted: int = 0, overage: int = 0) -> list[tuple[str, object]]:
    """(topic, threshold or overage tokens) of what a record taking the total from `before` to `after` causes."""
    crossings = quota_crossings(new_id(), allowance(limit, overage), granted, new_id(), T0)
    return [
        (m.topic, m.payload["threshold"] if m.topic == topics.QUOTA_THRESHOLD else m.payload["tokens"])
        for m in fired(crossings, before, after)
    ]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (0, 799, []),
        (0, 800, [(topics.QUOTA_THRESHOLD, 80)]),  # reaching 80% is crossing it
        (799, 1000, [(topics.QUOTA_THRESHOLD, 80), (topics.QUOTA_THRESHOLD, 100)]),
        (800, 999, []),  # 80% was crossed by an earlier record
        (1000, 1200, []),  # no overage on a plan without it
    ],
)
def test_a_threshold_fires_for_the_one_record_that_reaches_it(before: int, after: int, expected: list[object]) -> None:
    assert crossed(1000, before, after) == expected


def test_a_mark_between_two_tokens_is_reached_at_the_next_one() -> None:
    assert crossed(1001, 0, 800) == []  # 80% of 1,001 is 800.8
    assert crossed(1001, 800, 801) == [(topics.QUOTA_THRESHOLD, 80)]


@pytest.mark.parametrize(
    ("before", "after", "tokens"),
    [(990, 1020, 20), (1000, 1001, 1), (1010, 1020, 10), (900, 1000, None)],
)
def test_overage_is_every_token_past_the_quota_of_each_record(before: int, after: int, tokens: int | None) -> None:
    found = dict(crossed(1000, before, after, overage=500)).get(topics.OVERAGE)
    assert found == tokens


def test_grants_raise_the_quota_the_marks_are_measured_on() -> None:
    assert crossed(1000, 0, 1000, granted=250) == [(topics.QUOTA_THRESHOLD, 80)]  # 1,000 of 1,250
    assert crossed(1000, 1000, 1250, granted=250) == [(topics.QUOTA_THRESHOLD, 100)]


def test_a_plan_without_a_quota_causes_nothing() -> None:
    assert quota_crossings(new_id(), allowance(0), 0, new_id(), T0) == []
