"""Stripe.js on the billing page: whether it runs (Stripe configured and a publishable key given), where it
loads from, and the origins that page's Content-Security-Policy opens for it (and no other page's)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from entrypoints.settings import Settings

STRIPE_JS_ORIGIN = "https://js.stripe.com"
STRIPE_FRAMES = ("https://js.stripe.com", "https://hooks.stripe.com")
"""Stripe's documented frame origins: the Payment Element's own frames and the 3-D Secure challenge."""
STRIPE_API_ORIGIN = "https://api.stripe.com"


@dataclass(frozen=True, slots=True)
class StripeJs:
    url: str
    publishable_key: str
    script: tuple[str, ...]
    frame: tuple[str, ...]
    connect: tuple[str, ...]


def stripe_js(settings: Settings) -> StripeJs | None:
    """None when the page keeps the local flow: no Stripe, or no publishable key to give Stripe.js. Stripe's
    own script gets Stripe's origins; a stand-in served from elsewhere (the tests' fake) gets its one origin
    for its script, its frames and its calls."""
    if not settings.stripe_secret_key or not settings.stripe_publishable_key:
        return None
    parts = urlsplit(settings.stripe_js_url)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    url, key = settings.stripe_js_url, settings.stripe_publishable_key
    if origin == STRIPE_JS_ORIGIN:
        return StripeJs(url, key, script=(origin,), frame=STRIPE_FRAMES, connect=(STRIPE_API_ORIGIN,))
    return StripeJs(url, key, script=(origin,), frame=(origin,), connect=(origin,))
