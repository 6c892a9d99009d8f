"""The billing page with Stripe in a real browser: a real `parley serve` on the fake Stripe's API, the page
running the fake's stand-in Stripe.js under the page's own CSP, the Payment Element's frame, a confirmation
that pays the invoice behind the client secret and the webhooks that make the plan active."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Web
from tests.support.fake_stripe import FakeStripe

PAYS, DECLINED, NEEDS_3DS = "4242 4242 4242 4242", "4000 0000 0000 0002", "4000 0027 6000 3184"


def card_field(page: Page) -> Locator:
    return page.frame_locator("#payment-element iframe").get_by_label("Card number")


def pay_with(page: Page, number: str) -> None:
    card_field(page).fill(number)
    page.get_by_role("button", name="Pay", exact=True).click()


def expect_plan(page: Page, plan: str) -> None:
    status = page.locator("#checkout-status")
    expect(status).to_have_text("Payment received, activating...")
    expect(status).to_be_hidden()  # the page the server renders once the webhook made the plan active
    assert page.url.endswith("/billing?done=subscribed")
    expect(page.get_by_role("status").filter(has_text="Your plan has changed.")).to_be_visible()
    expect(page.locator("#current-plan")).to_have_text(plan)
    expect(page.locator("#subscription")).to_contain_text("(active)")
    expect(page.locator("#checkout")).to_be_hidden()


def new_stripe_user(web: Web) -> None:
    email = f"stripe-{uuid.uuid4().hex[:8]}@example.com"
    web.new_user(email)


def test_a_card_collected_by_the_payment_element_pays_for_plus_then_an_upgrade_to_pro(
    stripe_web: Web, fake_stripe: FakeStripe
) -> None:
    web, page = stripe_web, stripe_web.page
    web.watch.allow("status of 402")  # the declined card's answer, which the page must show
    new_stripe_user(web)
    response = web.goto("/billing")
    assert response is not None
    fake = f"http://{urlsplit(fake_stripe.url).netloc}"
    policy = response.headers["content-security-policy"]
    assert f"script-src 'self' {fake};" in policy and f"frame-src {fake};" in policy
    assert f"connect-src 'self' {fake};" in policy and "unsafe-inline" not in policy
    expect(page.get_by_role("button", name="Pay", exact=True)).to_be_hidden()

    page.get_by_role("button", name="Subscribe to Plus").click()
    expect(page.locator("#checkout-status")).to_have_text("Enter your card details to pay for Plus.")
    expect(card_field(page)).to_be_visible()
    [subscription] = fake_stripe.subscriptions
    assert subscription["status"] == "incomplete"  # nothing charged until the customer pays
    web.shot("billing-payment-element")

    pay_with(page, DECLINED)
    expect(page.locator("#checkout-error")).to_have_text("Your card was declined.")
    expect(page.locator("#checkout-error")).to_have_attribute("role", "alert")
    assert fake_stripe.subscriptions[0]["status"] == "incomplete"

    pay_with(page, PAYS)
    expect_plan(page, "plus")
    expect(page.locator("#payments").get_by_role("link", name="Invoice")).to_have_count(1)
    assert ("invoice.paid", 200) in [(kind, status) for kind, _, status in fake_stripe.delivered]
    web.shot("billing-paid-with-stripe")

    # No card is saved on the subscription, so the prorated upgrade invoice waits for the customer too.
    page.get_by_role("button", name="Upgrade to Pro").click()
    expect(page.locator("#checkout-status")).to_have_text("Enter your card details to pay for Pro.")
    expect(page.locator("#current-plan")).to_have_text("plus")  # nothing applies before it is paid
    pay_with(page, PAYS)
    expect_plan(page, "pro")
    expect(page.locator("#payments").get_by_role("link", name="Invoice")).to_have_count(2)


def test_a_card_that_needs_3d_secure_leaves_for_the_bank_and_the_page_shows_the_outcome(
    stripe_web: Web, fake_stripe: FakeStripe
) -> None:
    web, page = stripe_web, stripe_web.page
    new_stripe_user(web)
    web.goto("/billing")
    page.get_by_role("button", name="Subscribe to Plus").click()

    pay_with(page, NEEDS_3DS)
    page.get_by_role("button", name="Fail authentication").click()
    page.wait_for_url(web.url("/billing"))  # the client secret is taken out of the address bar at once
    expect(page.locator("#checkout-error")).to_have_text(
        "The payment did not go through. Try again, or use another card."
    )
    expect(page.locator("#checkout-status")).to_have_text("Enter your card details to try again.")
    assert "secret" not in page.url

    pay_with(page, NEEDS_3DS)
    page.get_by_role("button", name="Complete authentication").click()
    expect_plan(page, "plus")
    assert [s["status"] for s in fake_stripe.subscriptions] == ["active"]


def test_a_payment_left_waiting_is_offered_again_when_the_page_opens(stripe_web: Web) -> None:
    web, page = stripe_web, stripe_web.page
    new_stripe_user(web)
    web.goto("/billing")
    page.get_by_role("button", name="Subscribe to Plus").click()
    expect(card_field(page)).to_be_visible()

    web.goto("/billing")  # left before paying: the subscription is incomplete, its invoice open
    expect(page.locator("#subscription")).to_contain_text("(incomplete)")
    expect(page.locator("#checkout-status")).to_have_text("Your payment is waiting: enter your card details to finish.")
    pay_with(page, PAYS)
    expect_plan(page, "plus")
