"""A local Stripe: a real HTTP server on 127.0.0.1 speaking Stripe's v1 wire format for what Parley calls, so
the real `stripe` SDK (or `parley serve` given PARLEY_STRIPE_API_BASE) is exercised end to end.

What it speaks, as Stripe does at the API version the installed SDK pins:
- form-encoded parameters in bracket notation (`items[0][price]`, `expand[0]=` or `expand[]=`,
  `metadata[user_id]`), checked against the SDK's own generated parameter types: a parameter Stripe does not
  know is refused with 400 `parameter_unknown` naming it, a missing required one with `parameter_missing`, an
  enum value Stripe does not list (`payment_behavior=default_incompelte`) with 400, an unknown expansion
  (`latest_invoice.payment_intent`, gone from current API versions) with 400;
- `Authorization: Bearer <secret key>` (401 otherwise), Stripe's error bodies and statuses (400 invalid
  request, 402 card error, 404 resource_missing, 429, 5xx), `Request-Id` and `Stripe-Version` headers;
- idempotency: a POST's `Idempotency-Key` seen before replays the first answer (`Idempotent-Replayed: true`)
  when the parameters are the same and is refused with 400 `idempotency_error` when they differ; requests
  refused before they ran (bad parameters, auth, injected failures) are not saved;
- objects shaped like Stripe's: customers, payment methods, subscriptions (items carrying
  `current_period_start/end`, `latest_invoice` expandable, `pending_update`), invoices (lines with `period`
  and `pricing.price_details`, `parent.subscription_details`, `confirmation_secret` when expanded), billing
  meter events (one counted per `identifier`).

Money moves as Stripe's does: subscribing charges the subscription's payment method at once unless
`payment_behavior=default_incomplete`; `proration_behavior=always_invoice` invoices the unused and remaining
time of a price change at once (each line rounded half up), `create_prorations` bills it on the next invoice,
`none` not at all; `pending_if_incomplete` applies a change only once its invoice is paid. Payment methods are
Stripe's test ones: `pm_card_visa` (charges succeed), `pm_card_authenticationRequired` (every charge needs
3-D Secure: the invoice stays open with a client secret), `pm_card_chargeCustomerFail` (attaches, charges
fail), `pm_card_chargeDeclined` (declined when attached: 402 card_declined). Attaching a test payment method
creates a new `pm_...` on the customer, as Stripe does.

Tests drive what Stripe would do by itself: `advance` closes a subscription's period (a renewal invoice with
the closed period's metered usage, charged off-session; or the end of a subscription set to cancel),
`advance_clock` moves the clock as a test clock advances, closing every period that ends on the way,
`complete_payment` is the customer finishing 3-D Secure in the browser, `fail_future_charges` a card that stops
paying, `fail_next` scripts 5xx answers before a request runs or a connection dropped after it ran. The clock
starts at the real time and moves only when told (`set_time`, `advance_time`, `advance_clock`), like a Stripe
test clock. Every object change is recorded as an event
(`events`), which `deliver` POSTs to a URL signed as Stripe signs webhooks (`Stripe-Signature: t=..,v1=..`,
HMAC-SHA256 of "{t}.{body}"), with a chosen timestamp, secret or a body changed after signing. Given a
`webhook_url`, it also delivers every event from then on by itself, in order, from a thread of its own, as
Stripe sends webhooks shortly after each change.

The browser's side (tests/support/fake_stripe_js.py) is served on the same origin: a stand-in Stripe.js
(`js_url`) and its Payment Element frame, the publishable-key `POST /v1/payment_intents/{id}/confirm` that
Stripe.js sends with the client secret (the customer paying the invoice behind it: `complete_payment`), and a
bank's 3-D Secure page."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import queue
import re
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode

import httpx
import pytest
import stripe
from stripe import params as stripe_params
from stripe._request_options import RequestOptions
from stripe.params import billing as stripe_billing_params

from domain.billing.model import add_month
from tests.support.fake_openai import Receive, Scope, Send, _read_body, send_json
from tests.support.fake_stripe_js import bank_page, element_page, stripe_js
from tests.support.local_server import LocalServer

STRIPE_API_KEY = "sk_test_parley_fake_stripe_key"
PUBLISHABLE_KEY = "pk_test_parley_fake_stripe_key"
WEBHOOK_SECRET = "whsec_parley_fake_stripe_secret"
METER_EVENT_NAME = "parley_tokens"
API_VERSION = stripe.api_version

SUCCEEDS, NEEDS_ACTION, FAILS = "succeeds", "requires_action", "fails"
TEST_PAYMENT_METHODS = {
    "pm_card_visa": ("visa", "4242", SUCCEEDS),
    "pm_card_mastercard": ("mastercard", "4444", SUCCEEDS),
    "pm_card_authenticationRequired": ("visa", "3184", NEEDS_ACTION),
    "pm_card_chargeCustomerFail": ("visa", "0341", FAILS),
}
DECLINED_WHEN_ATTACHED = {"pm_card_chargeDeclined": "generic_decline"}
BROWSER_CARDS = {"4242424242424242": SUCCEEDS, "4000000000000002": FAILS, "4000002760003184": NEEDS_ACTION}
"""Stripe's test card numbers, as typed into the Payment Element."""

_REQUEST_OPTION_KEYS = frozenset(RequestOptions.__annotations__)
_PENDING_UPDATE_PARAMS = frozenset(
    {
        "add_invoice_items",
        "billing_cycle_anchor",
        "expand",
        "items",
        "payment_behavior",
        "proration_behavior",
        "proration_date",
        "trial_end",
        "trial_from_plan",
    }
)
_PENDING_UPDATE_SECONDS = 23 * 3600


@dataclass(frozen=True, slots=True)
class FakePrice:
    id: str
    product: str
    name: str
    unit_amount: int
    metered: bool = False
    """Billed in arrears from meter events named `METER_EVENT_NAME`, per `divide_by` units rounded up."""
    divide_by: int = 1

    def to_stripe(self, created: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "price",
            "active": True,
            "billing_scheme": "per_unit",
            "created": created,
            "currency": "usd",
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": None,
            "product": self.product,
            "recurring": {
                "interval": "month",
                "interval_count": 1,
                "meter": "mtr_parley_tokens" if self.metered else None,
                "trial_period_days": None,
                "usage_type": "metered" if self.metered else "licensed",
            },
            "tax_behavior": "unspecified",
            "tiers_mode": None,
            "transform_quantity": {"divide_by": self.divide_by, "round": "up"} if self.divide_by > 1 else None,
            "type": "recurring",
            "unit_amount": self.unit_amount,
            "unit_amount_decimal": str(self.unit_amount),
        }


DEFAULT_PRICES = (
    FakePrice("price_plus", "prod_plus", "Parley Plus", 2000),
    FakePrice("price_pro", "prod_pro", "Parley Pro", 5000),
    FakePrice("price_overage", "prod_overage", "Parley overage tokens", 2, metered=True, divide_by=1000),
)


@dataclass(frozen=True, slots=True)
class Fault:
    """What the next request (to `path`, when given) gets instead of its answer."""

    status: int = 500
    """Answered before the request runs, so nothing is saved under its idempotency key."""
    drop: bool = False
    """Run the request, then drop the connection halfway through the answer (`status` is ignored)."""
    path: str | None = None


@dataclass(frozen=True, slots=True)
class StripeRequest:
    method: str
    path: str
    params: dict[str, Any]
    """The form body (POST) or query string (GET), bracket notation parsed into dicts and lists."""
    idempotency_key: str | None
    status: int
    replayed: bool


class StripeApiError(Exception):
    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        saved: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.saved = saved
        """Whether Stripe saves this answer under the request's idempotency key (the request ran)."""
        error: dict[str, Any] = {"message": message, "type": kind}
        if code:
            error["code"] = code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param is not None:
            error["param"] = param
        if decline_code:
            error["decline_code"] = decline_code
        error["request_log_url"] = "https://dashboard.stripe.com/test/logs"
        self.body = {"error": error}


def invalid(message: str, *, code: str | None = None, param: str | None = None, saved: bool = False) -> StripeApiError:
    return StripeApiError(400, "invalid_request_error", message, code=code, param=param, saved=saved)


def missing(kind: str, object_id: str, param: str) -> StripeApiError:
    return StripeApiError(
        404, "invalid_request_error", f"No such {kind}: '{object_id}'", code="resource_missing", param=param
    )


# --- the wire format -----------------------------------------------------------------------------


def parse_form(text: str) -> dict[str, Any]:
    """`a[b][0][c]=1&expand[]=x` -> {"a": {"b": [{"c": "1"}]}, "expand": ["x"]}, as Stripe reads it."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        head, bracket, rest = key.partition("[")
        if bracket and not rest.endswith("]"):
            raise invalid(f"Invalid parameter name: {key}", param=key)
        parts = [head, *(rest[:-1].split("][") if bracket else [])]
        node = root
        for index, part in enumerate(parts):
            name = part or str(len(node))
            if index == len(parts) - 1:
                node[name] = value
                break
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise invalid(f"Invalid parameter: {key}", param=key)
            node = child
    result: dict[str, Any] = _lists(root)
    return result


def _lists(node: Any) -> Any:
    """Dicts keyed 0, 1, 2, ... are arrays."""
    if not isinstance(node, dict):
        return node
    converted = {key: _lists(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def check_params(params: Mapping[str, Any], params_type: type) -> None:
    """Refuse what Stripe would refuse, judged by the SDK's parameter TypedDict for the call."""
    module = sys.modules[params_type.__module__]
    annotations = {k: v for k, v in params_type.__annotations__.items() if k not in _REQUEST_OPTION_KEYS}
    required = set(getattr(params_type, "__required_keys__", ())) - _REQUEST_OPTION_KEYS
    _check_object(params, annotations, required, module, prefix="")


def _check_object(
    value: Mapping[str, Any], annotations: Mapping[str, Any], required: set[str], module: Any, prefix: str
) -> None:
    absent = sorted(required - set(value))
    if absent:
        name = f"{prefix}[{absent[0]}]" if prefix else absent[0]
        raise invalid(f"Missing required param: {name}.", code="parameter_missing", param=name)
    for key, item in value.items():
        name = f"{prefix}[{key}]" if prefix else key
        if key not in annotations:
            raise invalid(f"Received unknown parameter: {name}", code="parameter_unknown", param=name)
        _check_value(item, str(annotations[key]), module, name)


def _check_value(value: Any, annotation: str, module: Any, name: str) -> None:
    if isinstance(value, list):
        for index, element in enumerate(value):
            _check_value(element, annotation, module, f"{name}[{index}]")
        return
    typed = [
        candidate
        for word in re.findall(r"\b[A-Z][A-Za-z0-9]+\b", annotation)
        if isinstance(candidate := getattr(module, word, None), type) and hasattr(candidate, "__required_keys__")
    ]
    if isinstance(value, dict):
        if typed:
            cls = typed[0]
            required = set(cls.__required_keys__)
            _check_object(value, cls.__annotations__, required, module, name)
        elif "Dict[" not in annotation:
            first = next(iter(value), "")
            raise invalid(f"Received unknown parameter: {name}[{first}]", code="parameter_unknown", param=name)
        return
    literals = {v for group in re.findall(r"Literal\[([^\]]*)\]", annotation) for v in re.findall(r"'([^']*)'", group)}
    scalars = set(re.findall(r"\b(bool|int|float|str|Decimal)\b", re.sub(r"Literal\[[^\]]*\]", "", annotation)))
    if scalars == {"bool"} and value not in ("true", "false"):
        raise invalid(f"Invalid boolean: {value}", param=name)
    if scalars == {"int"} and not re.fullmatch(r"-?\d+", value) and value not in literals:
        raise invalid(f"Invalid integer: {value}", code="parameter_invalid_integer", param=name)
    if typed and not scalars and value not in literals:
        raise invalid(f"Invalid {'array' if 'List[' in annotation else 'object'}", param=name)
    choices = literals - {""}
    if choices and scalars <= {"str"} and value not in literals:
        raise invalid(f"Invalid {name}: must be one of {', '.join(sorted(choices))}", param=name)


# --- the server ----------------------------------------------------------------------------------


def _token(length: int = 24) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _new_id(prefix: str) -> str:
    return f"{prefix}_{_token()}"


def _half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero, in integers."""
    sign = -1 if (numerator < 0) != (denominator < 0) else 1
    numerator, denominator = abs(numerator), abs(denominator)
    return sign * ((2 * numerator + denominator) // (2 * denominator))


def _timestamp(moment: datetime) -> int:
    return int(moment.timestamp())


def _moment(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


class FakeStripe:
    """The server, its objects and its request log. Tests run on their own thread and loop, the server on
    another, so everything sits behind one lock."""

    def __init__(self, prices: tuple[FakePrice, ...] = DEFAULT_PRICES) -> None:
        self.api_key = STRIPE_API_KEY
        self.publishable_key = PUBLISHABLE_KEY
        self.webhook_secret = WEBHOOK_SECRET
        self.meter_event_name = METER_EVENT_NAME
        self.catalogue = {price.id: price for price in prices}
        self.prices = {"plus": "price_plus", "pro": "price_pro"}
        """Parley's plan ids and the prices the catalogue holds for them."""
        self.overage_price = "price_overage"
        self.url = ""
        self._lock = threading.RLock()
        self._server: LocalServer | None = None
        self._outgoing: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._courier: threading.Thread | None = None
        self._routes: tuple[tuple[str, str, type, Callable[..., dict[str, Any]]], ...] = (
            ("POST", r"/v1/customers", stripe_params.CustomerCreateParams, self._create_customer),
            ("GET", r"/v1/customers/([^/]+)", stripe_params.CustomerRetrieveParams, self._get_customer),
            (
                "POST",
                r"/v1/payment_methods/([^/]+)/attach",
                stripe_params.PaymentMethodAttachParams,
                self._attach_payment_method,
            ),
            ("POST", r"/v1/subscriptions", stripe_params.SubscriptionCreateParams, self._create_subscription),
            ("GET", r"/v1/subscriptions/([^/]+)", stripe_params.SubscriptionRetrieveParams, self._get_subscription),
            ("POST", r"/v1/subscriptions/([^/]+)", stripe_params.SubscriptionUpdateParams, self._update_subscription),
            ("DELETE", r"/v1/subscriptions/([^/]+)", stripe_params.SubscriptionCancelParams, self._cancel_subscription),
            ("GET", r"/v1/invoices/([^/]+)", stripe_params.InvoiceRetrieveParams, self._get_invoice),
            (
                "POST",
                r"/v1/billing/meter_events",
                stripe_billing_params.MeterEventCreateParams,
                self._create_meter_event,
            ),
        )
        """What this fake answers: (method, path pattern, the SDK's parameter type, handler)."""
        self.reset()

    @property
    def api_base(self) -> str:
        return self.url

    @property
    def js_url(self) -> str:
        """Where the stand-in Stripe.js is served (PARLEY_STRIPE_JS_URL)."""
        return f"{self.url}/v3/"

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self._server = LocalServer(self._asgi, "FakeStripe", log_level="critical")
        self.url = self._server.url
        self._courier = threading.Thread(target=self._deliver_queued, name="FakeStripe webhooks", daemon=True)
        self._courier.start()

    def stop(self) -> None:
        if self._courier is not None:
            self._outgoing.put(None)
            self._courier.join(10.0)
        if self._server is not None:
            self._server.stop()

    def reset(self) -> None:
        """Forget every object, event, request, saved idempotent answer and fault; the clock returns to now."""
        with self._lock:
            self._now = int(time.time())
            self._customers: dict[str, dict[str, Any]] = {}
            self._payment_methods: dict[str, dict[str, Any]] = {}
            self._outcomes: dict[str, str] = {}
            self._subscriptions: dict[str, dict[str, Any]] = {}
            self._anchors: dict[str, int] = {}
            self._invoices: dict[str, dict[str, Any]] = {}
            self._client_secrets: dict[str, str] = {}
            self._pending_lines: dict[str, list[dict[str, Any]]] = {}
            self._meter_events: list[dict[str, Any]] = []
            self._events: list[dict[str, Any]] = []
            self._saved: dict[str, tuple[str, int, dict[str, Any]]] = {}
            self._requests: list[StripeRequest] = []
            self._faults: deque[Fault] = deque()
            self._pending_changes: dict[str, list[tuple[dict[str, Any], FakePrice]]] = {}
            self._request_key: str | None = None
            self._challenges: dict[str, str] = {}
            """Payment intents waiting on the bank's page: their return_url."""
            self._delivered: list[tuple[str, str, int]] = []
            self.webhook_url: str | None = None
            """Where every event from now on is delivered by itself (None: only `deliver` sends them)."""

    # --- the clock --------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        with self._lock:
            return _moment(self._now)

    def set_time(self, moment: datetime) -> None:
        with self._lock:
            self._now = _timestamp(moment)

    def advance_time(self, delta: timedelta) -> None:
        with self._lock:
            self._now += int(delta.total_seconds())

    # --- scripting and reading back -----------------------------------------------------------------

    def fail_next(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    @property
    def requests(self) -> list[StripeRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def customers(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(customer) for customer in self._customers.values()]

    @property
    def subscriptions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._render_subscription(sub, []) for sub in self._subscriptions.values()]

    @property
    def invoices(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._render_invoice(invoice, []) for invoice in self._invoices.values()]

    @property
    def meter_events(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._meter_events)

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._events)

    @property
    def delivered(self) -> list[tuple[str, str, int]]:
        """(event type, event id, the status the webhook URL answered; 0: unreachable) of each delivery made
        by itself to `webhook_url`, in order."""
        with self._lock:
            return list(self._delivered)

    # --- what Stripe does by itself -----------------------------------------------------------------

    def advance(self, subscription_id: str) -> dict[str, Any] | None:
        """Close the subscription's current period, moving the clock to its end: end a subscription set to
        cancel or expire one never paid, else start the next period and charge its invoice off-session (the
        plan prices ahead, the closed period's metered usage and pending prorations). Returns that invoice."""
        with self._lock:
            sub = self._subscriptions[subscription_id]
            start, end = self._period(sub)
            self._now = max(self._now, end)
            if sub["status"] in ("canceled", "incomplete_expired"):
                return None
            if sub["status"] == "incomplete":  # its first invoice was never paid: Stripe expires it after 23 h
                sub["status"] = "incomplete_expired"
                self._emit(
                    "customer.subscription.updated", self._render_subscription(sub, []), {"status": "incomplete"}
                )
                return None
            previous = {"status": sub["status"], "latest_invoice": sub["latest_invoice"]}
            if sub["cancel_at_period_end"]:
                sub.update(status="canceled", ended_at=end, canceled_at=sub["canceled_at"] or end)
                self._emit("customer.subscription.deleted", self._render_subscription(sub, []))
                return None
            lines = []
            invoice_id = _new_id("in")
            for item in sub["items"]["data"]:
                price = self.catalogue[item["price"]]
                if price.metered:
                    used = self._usage(sub["customer"], start, end)
                    amount = -(-used // price.divide_by) * price.unit_amount
                    lines.append(self._line(invoice_id, sub, item, price, amount, start, end, quantity=used))
            self._anchors[subscription_id] += 1
            new_start, new_end = self._period(sub)
            for item in sub["items"]["data"]:
                item["current_period_start"], item["current_period_end"] = new_start, new_end
                price = self.catalogue[item["price"]]
                if not price.metered:
                    lines.append(self._line(invoice_id, sub, item, price, price.unit_amount, new_start, new_end))
            lines += [dict(line, invoice=invoice_id) for line in self._pending_lines.pop(sub["customer"], [])]
            invoice = self._new_invoice(invoice_id, sub, lines, "subscription_cycle", start, end)
            outcome = self._charge(invoice, sub)
            sub["latest_invoice"] = invoice_id
            sub["status"] = "active" if outcome == SUCCEEDS else "past_due"
            self._emit_invoice(invoice, outcome)
            self._emit("customer.subscription.updated", self._render_subscription(sub, []), previous)
            return self._render_invoice(invoice, [])

    def advance_clock(self, moment: datetime) -> list[dict[str, Any]]:
        """Move the clock to `moment` as a Stripe test clock advances: every live subscription whose period ends
        by then is closed (`advance`), as many periods as have passed. Returns the renewal invoices, oldest first."""
        invoices: list[dict[str, Any]] = []
        with self._lock:
            target = _timestamp(moment)
            while due := [
                sub_id
                for sub_id, sub in self._subscriptions.items()
                if sub["status"] not in ("canceled", "incomplete_expired") and self._period(sub)[1] <= target
            ]:
                for sub_id in due:
                    if (invoice := self.advance(sub_id)) is not None:
                        invoices.append(invoice)
            self._now = max(self._now, target)
        return invoices

    def fail_future_charges(self, subscription_id: str) -> None:
        """The subscription's card stops paying (expired, insufficient funds): its next charges fail."""
        with self._lock:
            sub = self._subscriptions[subscription_id]
            customer = self._customers[sub["customer"]]
            method = sub["default_payment_method"] or customer["invoice_settings"]["default_payment_method"]
            self._outcomes[method] = FAILS

    def complete_payment(self, subscription_id: str) -> dict[str, Any]:
        """The customer confirms the latest invoice's payment in the browser (3-D Secure done, or a working
        card): the invoice is paid, the subscription active, a pending update applied."""
        with self._lock:
            sub = self._subscriptions[subscription_id]
            invoice = self._invoices[sub["latest_invoice"]]
            previous = {"status": sub["status"]}
            self._mark_paid(invoice)
            if sub["pending_update"]:
                previous["items"] = self._render_subscription(sub, [])["items"]
                _apply(sub, self._pending_changes.pop(subscription_id))
                sub["pending_update"] = None
            sub["status"] = "active"
            self._emit_invoice(invoice, SUCCEEDS)
            self._emit("customer.subscription.updated", self._render_subscription(sub, []), previous)
            return self._render_invoice(invoice, [])

    # --- webhooks ------------------------------------------------------------------------------------

    def event(self, kind: str, obj: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """An event as Stripe sends it (not recorded)."""
        data: dict[str, Any] = {"object": copy.deepcopy(dict(obj))}
        if previous is not None:
            data["previous_attributes"] = copy.deepcopy(dict(previous))
        return {
            "id": _new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self._now,
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }

    def signature_header(self, payload: bytes, *, timestamp: int | None = None, secret: str | None = None) -> str:
        """`Stripe-Signature` for `payload`: signed now (wall time, as Stripe signs at delivery) unless told."""
        signed_at = int(time.time()) if timestamp is None else timestamp
        key = (secret or self.webhook_secret).encode()
        digest = hmac.new(key, f"{signed_at}.".encode() + payload, hashlib.sha256).hexdigest()
        return f"t={signed_at},v1={digest}"

    def signed(
        self, event: Mapping[str, Any], *, timestamp: int | None = None, secret: str | None = None, tamper: bool = False
    ) -> tuple[bytes, str]:
        """The body and `Stripe-Signature` header Stripe would send; `tamper` changes the body after signing."""
        payload = json.dumps(event, indent=2).encode()
        header = self.signature_header(payload, timestamp=timestamp, secret=secret)
        if tamper:
            payload = json.dumps({**event, "livemode": True}, indent=2).encode()
        return payload, header

    async def deliver(
        self,
        url: str,
        event: Mapping[str, Any],
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        tamper: bool = False,
    ) -> httpx.Response:
        """POST the event to `url` as Stripe delivers a webhook."""
        payload, header = self.signed(event, timestamp=timestamp, secret=secret, tamper=tamper)
        async with httpx.AsyncClient(timeout=10.0) as client:
            return await client.post(url, content=payload, headers=_webhook_headers(header))

    def _deliver_queued(self) -> None:
        """The courier thread: POSTs each queued event to the URL it was queued for, one at a time."""
        with httpx.Client(timeout=10.0) as client:
            while (item := self._outgoing.get()) is not None:
                url, event = item
                payload, header = self.signed(event)
                try:
                    status = client.post(url, content=payload, headers=_webhook_headers(header)).status_code
                except httpx.HTTPError:
                    status = 0
                with self._lock:
                    self._delivered.append((event["type"], event["id"], status))

    # --- the browser's side -------------------------------------------------------------------------

    def confirm_payment_intent(
        self, intent_id: str, client_secret: str, card_number: str, return_url: str | None = None
    ) -> dict[str, Any]:
        """What Stripe.js's `confirmPayment` asks with the publishable key: pay the invoice behind the client
        secret with the card typed into the Payment Element. A declined card is a 402 card error; one that needs
        3-D Secure answers `requires_action` with the bank's page to send the browser to."""
        with self._lock:
            invoice = self._invoice_of_intent(intent_id, client_secret)
            outcome = BROWSER_CARDS.get(card_number)
            if outcome is None:
                raise StripeApiError(
                    402, "card_error", "Your card number is incorrect.", code="incorrect_number", param="number"
                )
            if outcome == FAILS:
                raise _card_error(FAILS)
            if outcome == NEEDS_ACTION:
                if not return_url:
                    raise invalid("A return_url must be specified to confirm this PaymentIntent.", param="return_url")
                self._challenges[intent_id] = return_url
                challenge = {"url": f"{self.url}/3ds/{intent_id}", "return_url": return_url}
                return self._intent(intent_id, invoice, "requires_action", challenge)
            self._pay(invoice)
            return self._intent(intent_id, invoice, "succeeded")

    def _invoice_of_intent(self, intent_id: str, client_secret: str) -> dict[str, Any]:
        invoice_id = next((i for i, secret in self._client_secrets.items() if secret == client_secret), None)
        if invoice_id is None or not client_secret.startswith(f"{intent_id}_secret_"):
            message = "The client_secret provided does not match any associated PaymentIntent on this account."
            raise invalid(message, param="client_secret")
        invoice = self._invoices[invoice_id]
        if invoice["status"] == "paid":
            raise invalid(
                "You cannot confirm this PaymentIntent because it has already succeeded after being previously "
                "confirmed.",
                code="payment_intent_unexpected_state",
            )
        return invoice

    def _pay(self, invoice: dict[str, Any]) -> None:
        sub_id = invoice["parent"]["subscription_details"]["subscription"]
        if self._subscriptions[sub_id]["latest_invoice"] != invoice["id"]:
            raise invalid("This invoice is no longer the subscription's latest: it cannot be paid.")
        self.complete_payment(sub_id)

    def _intent(
        self, intent_id: str, invoice: dict[str, Any], status: str, redirect: dict[str, str] | None = None
    ) -> dict[str, Any]:
        return {
            "id": intent_id,
            "object": "payment_intent",
            "amount": invoice["amount_due"],
            "client_secret": self._client_secrets[invoice["id"]],
            "currency": invoice["currency"],
            "livemode": False,
            "next_action": {"type": "redirect_to_url", "redirect_to_url": redirect} if redirect else None,
            "payment_method_types": ["card"],
            "status": status,
        }

    def _browser(self, method: str, path: str, text: str, query: str) -> _Page | None:
        """The answer to what a browser asks (Stripe.js, its frame, the confirmation, the bank's page); None
        for everything else, which is the secret-key API."""
        if method == "GET" and path == "/favicon.ico":  # asked for by the bank's page, a top-level page
            return 204, "image/x-icon", b"", []
        if method == "GET" and path == "/v3/":
            return 200, "text/javascript; charset=utf-8", stripe_js(self.url).encode(), []
        if method == "GET" and path == "/elements/payment":
            parent = parse_qs(query).get("parent", [""])[0]
            return 200, "text/html; charset=utf-8", element_page(parent).encode(), []
        if match := re.fullmatch(r"/v1/payment_intents/([^/]+)/confirm", path):
            if method == "OPTIONS":  # a CORS preflight, which Stripe's API answers for Stripe.js
                return 204, "text/plain; charset=utf-8", b"", _CORS_PREFLIGHT
            return self._confirm(path, match.group(1), text) if method == "POST" else None
        if match := re.fullmatch(r"/3ds/([^/]+)", path):
            return self._challenge(method, match.group(1), text)
        return None

    def _confirm(self, path: str, intent_id: str, text: str) -> _Page:
        """Stripe.js calls from the shop's origin: the answer carries CORS headers, as Stripe's does."""
        params = dict(parse_qsl(text, keep_blank_values=True))
        with self._lock:
            try:
                if params.get("key") != self.publishable_key:
                    raise StripeApiError(401, "invalid_request_error", "Invalid API Key provided.")
                status, payload = (
                    200,
                    self.confirm_payment_intent(
                        intent_id,
                        params.get("client_secret", ""),
                        params.get("payment_method_data[card][number]", ""),
                        params.get("return_url"),
                    ),
                )
            except StripeApiError as error:
                status, payload = error.status, error.body
            self._requests.append(StripeRequest("POST", path, parse_form(text), None, status, False))
        return status, "application/json", json.dumps(payload).encode(), [("access-control-allow-origin", "*")]

    def _challenge(self, method: str, intent_id: str, text: str) -> _Page:
        """The bank's page: Complete authentication pays, Fail authentication does not; either way the browser
        goes back to the shop's return_url with the outcome, as Stripe appends it."""
        with self._lock:
            return_url = self._challenges.get(intent_id)
            invoice_id = next((i for i, secret in self._client_secrets.items() if secret.startswith(intent_id)), None)
            if return_url is None or invoice_id is None:
                return 404, "text/plain; charset=utf-8", b"No such authentication.", []
            invoice = self._invoices[invoice_id]
            if method == "GET":
                page = bank_page(invoice["amount_due"], invoice["currency"])
                return 200, "text/html; charset=utf-8", page.encode(), []
            succeeded = dict(parse_qsl(text)).get("outcome") == "complete"
            del self._challenges[intent_id]
            if succeeded:
                self._pay(invoice)
            outcome = {
                "payment_intent": intent_id,
                "payment_intent_client_secret": self._client_secrets[invoice_id],
                "redirect_status": "succeeded" if succeeded else "failed",
            }
        location = return_url + ("&" if "?" in return_url else "?") + urlencode(outcome)
        return 303, "text/plain; charset=utf-8", b"", [("location", location)]

    # --- HTTP ------------------------------------------------------------------------------------------

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        method, path = scope["method"], scope["path"]
        text = body.decode() if method == "POST" else scope["query_string"].decode()
        if (page := self._browser(method, path, text, scope["query_string"].decode())) is not None:
            await _send_page(send, *page)
            return
        key = headers.get("idempotency-key") if method == "POST" else None
        with self._lock:
            fault = self._next_fault(path)
            if fault is not None and not fault.drop:
                status, payload, replayed = fault.status, _fault_body(fault.status), False
            else:
                status, payload, replayed = self._answer(method, path, text, headers, key)
            try:
                params = parse_form(text)
            except StripeApiError:
                params = {"_raw": text}
            self._requests.append(StripeRequest(method, path, params, key, status, replayed))
        response_headers = [
            ("request-id", _new_id("req")),
            ("stripe-version", headers.get("stripe-version", API_VERSION)),
        ]
        if key:
            response_headers.append(("idempotency-key", key))
        if replayed:
            response_headers.append(("idempotent-replayed", "true"))
        if fault is not None and fault.drop:
            await _send_half(send, status, payload)
            return
        await send_json(send, status, payload, response_headers)

    def _next_fault(self, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.path is None or fault.path == path:
                self._faults.remove(fault)
                return fault
        return None

    def _answer(
        self, method: str, path: str, text: str, headers: Mapping[str, str], key: str | None
    ) -> tuple[int, dict[str, Any], bool]:
        """(status, body, replayed) for one request: authentication, idempotency, then the route."""
        if headers.get("authorization") != f"Bearer {self.api_key}":
            given = headers.get("authorization", "").removeprefix("Bearer ")
            message = (
                f"Invalid API Key provided: {given[:8]}****{given[-4:]}"
                if given
                else "You did not provide an API key. You need to provide your API key in the Authorization header."
            )
            return 401, {"error": {"message": message, "type": "invalid_request_error"}}, False
        fingerprint = json.dumps([method, path, sorted(parse_qsl(text, keep_blank_values=True))])
        if key is not None and key in self._saved:
            first, status, payload = self._saved[key]
            if first != fingerprint:
                message = (
                    "Keys for idempotent requests can only be used with the same parameters they were first used "
                    f"with. Try using a key other than '{key}' if you meant to execute a different request."
                )
                return 400, {"error": {"message": message, "type": "idempotency_error"}}, False
            return status, copy.deepcopy(payload), True
        try:
            status, payload = 200, self._route(method, path, parse_form(text), key)
        except StripeApiError as error:
            status, payload = error.status, error.body
            if not error.saved:
                return status, payload, False
        if key is not None:
            self._saved[key] = (fingerprint, status, copy.deepcopy(payload))
        return status, payload, False

    def _route(self, method: str, path: str, params: dict[str, Any], key: str | None) -> dict[str, Any]:
        for route_method, pattern, params_type, handler in self._routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                check_params(params, params_type)
                self._request_key = key
                try:
                    return handler(params, *match.groups())
                finally:
                    self._request_key = None
        message = (
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at "
            "https://support.stripe.com/."
        )
        raise StripeApiError(404, "invalid_request_error", message, saved=False)

    # --- customers and payment methods ----------------------------------------------------------------

    def _create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        _expansions("customer", params)
        customer_id = _new_id("cus")
        customer: dict[str, Any] = {
            "id": customer_id,
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": self._now,
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": params.get("description"),
            "discount": None,
            "email": params.get("email"),
            "invoice_prefix": _token(8).upper(),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": dict(params.get("metadata") or {}),
            "name": params.get("name"),
            "next_invoice_sequence": 1,
            "phone": params.get("phone"),
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }
        self._customers[customer_id] = customer
        self._emit("customer.created", customer)
        return copy.deepcopy(customer)

    def _get_customer(self, params: dict[str, Any], customer_id: str) -> dict[str, Any]:
        _expansions("customer", params)
        return copy.deepcopy(self._customer(customer_id, "id"))

    def _customer(self, customer_id: str | None, param: str) -> dict[str, Any]:
        if customer_id is None or customer_id not in self._customers:
            raise missing("customer", customer_id or "", param)
        return self._customers[customer_id]

    def _attach_payment_method(self, params: dict[str, Any], method_id: str) -> dict[str, Any]:
        _expansions("payment_method", params)
        customer = self._customer(params.get("customer"), "customer")
        if method_id in DECLINED_WHEN_ATTACHED:
            raise StripeApiError(
                402,
                "card_error",
                "Your card was declined.",
                code="card_declined",
                decline_code=DECLINED_WHEN_ATTACHED[method_id],
            )
        if method_id in TEST_PAYMENT_METHODS:
            brand, last4, outcome = TEST_PAYMENT_METHODS[method_id]
            method = _payment_method(_new_id("pm"), brand, last4, self._now)
            self._payment_methods[method["id"]] = method
            self._outcomes[method["id"]] = outcome
        elif method_id in self._payment_methods:
            method = self._payment_methods[method_id]
            if method["customer"] not in (None, customer["id"]):
                raise invalid(
                    "The payment method you provided has already been attached to a customer.",
                    param="payment_method",
                    saved=True,
                )
        else:
            raise missing("PaymentMethod", method_id, "payment_method")
        method["customer"] = customer["id"]
        self._emit("payment_method.attached", method)
        return copy.deepcopy(method)

    def _attached(self, method_id: str, customer_id: str, param: str) -> str:
        method = self._payment_methods.get(method_id)
        if method is None or method["customer"] != customer_id:
            raise invalid(
                f"The customer does not have a payment method with the ID {method_id}. The payment method must be "
                "attached to the customer.",
                code="resource_missing",
                param=param,
                saved=True,
            )
        return method_id

    # --- subscriptions --------------------------------------------------------------------------------

    def _create_subscription(self, params: dict[str, Any]) -> dict[str, Any]:
        expand = _expansions("subscription", params)
        customer = self._customer(params.get("customer"), "customer")
        behavior = params.get("payment_behavior", "allow_incomplete")
        if behavior == "pending_if_incomplete":
            raise invalid(
                "You can only pass `payment_behavior=pending_if_incomplete` when updating a subscription.",
                param="payment_behavior",
            )
        item_params = params.get("items") or []
        if not item_params:
            raise invalid("Missing required param: items.", code="parameter_missing", param="items")
        prices = [self._price(item.get("price"), f"items[{i}][price]") for i, item in enumerate(item_params)]
        method = params.get("default_payment_method")
        if method is not None:
            self._attached(method, customer["id"], "default_payment_method")
        sub_id = _new_id("sub")
        start, end = self._now, _timestamp(add_month(_moment(self._now)))
        items = [self._item(sub_id, price, start, end) for price in prices]
        sub = _subscription(sub_id, customer["id"], self._now, items, method, params)
        invoice_id = _new_id("in")
        lines = [
            self._line(invoice_id, sub, item, price, price.unit_amount, start, end)
            for item, price in zip(items, prices, strict=True)
            if not price.metered
        ]
        invoice = self._new_invoice(invoice_id, sub, lines, "subscription_create", self._now, self._now)
        sub["latest_invoice"] = invoice_id
        outcome = self._charge(invoice, sub) if behavior != "default_incomplete" else None
        if invoice["status"] == "paid":
            sub["status"] = "active"
        elif behavior == "error_if_incomplete":
            del self._invoices[invoice_id]
            raise _card_error(outcome)
        else:
            sub["status"] = "incomplete"
        self._subscriptions[sub_id] = sub
        self._anchors[sub_id] = 0
        self._emit("customer.subscription.created", self._render_subscription(sub, []))
        self._emit_invoice(invoice, outcome)
        return self._render_subscription(sub, expand)

    def _get_subscription(self, params: dict[str, Any], sub_id: str) -> dict[str, Any]:
        return self._render_subscription(self._subscription(sub_id, "id"), _expansions("subscription", params))

    def _subscription(self, sub_id: str, param: str) -> dict[str, Any]:
        if sub_id not in self._subscriptions:
            raise missing("subscription", sub_id, param)
        return self._subscriptions[sub_id]

    def _update_subscription(self, params: dict[str, Any], sub_id: str) -> dict[str, Any]:
        expand = _expansions("subscription", params)
        sub = self._subscription(sub_id, "subscription")
        if sub["status"] in ("canceled", "incomplete_expired") and set(params) - {"expand", "metadata"}:
            raise invalid("A canceled subscription can only update its cancellation_details and metadata.", saved=True)
        behavior = params.get("payment_behavior", "allow_incomplete")
        unsupported = sorted(set(params) - _PENDING_UPDATE_PARAMS)
        if behavior == "pending_if_incomplete" and unsupported:
            raise invalid(
                f"The parameter `{unsupported[0]}` cannot be passed when creating a pending update "
                "(`payment_behavior=pending_if_incomplete`).",
                param=unsupported[0],
            )
        changes = self._item_changes(sub, params.get("items", []))
        method = params.get("default_payment_method")
        if method is not None:
            self._attached(method, sub["customer"], "default_payment_method")
        previous: dict[str, Any] = {}
        if "cancel_at_period_end" in params:
            cancel = params["cancel_at_period_end"] == "true"
            previous.update(cancel_at_period_end=sub["cancel_at_period_end"], cancel_at=sub["cancel_at"])
            sub["cancel_at_period_end"] = cancel
            sub["cancel_at"] = self._period(sub)[1] if cancel else None
            sub["canceled_at"] = self._now if cancel else None
        if "metadata" in params:
            previous["metadata"] = dict(sub["metadata"])
            sub["metadata"] = {k: v for k, v in {**sub["metadata"], **params["metadata"]}.items() if v != ""}
        if method is not None:
            previous["default_payment_method"] = sub["default_payment_method"]
            sub["default_payment_method"] = method
        if changes:
            proration = params.get("proration_behavior", "create_prorations")
            self._change_items(sub, changes, proration, behavior, previous)
        self._emit("customer.subscription.updated", self._render_subscription(sub, []), previous)
        return self._render_subscription(sub, expand)

    def _cancel_subscription(self, params: dict[str, Any], sub_id: str) -> dict[str, Any]:
        """Cancel at once (no proration, no final invoice): `customer.subscription.deleted`. Stripe refuses to
        cancel one that has ended."""
        sub = self._subscription(sub_id, "subscription")
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise invalid("A canceled subscription can only update its cancellation_details and metadata.")
        sub.update(status="canceled", ended_at=self._now, canceled_at=self._now, cancel_at_period_end=False)
        sub["cancel_at"] = None
        self._emit("customer.subscription.deleted", self._render_subscription(sub, []))
        return self._render_subscription(sub, _expansions("subscription", params))

    def _item_changes(
        self, sub: dict[str, Any], item_params: list[dict[str, Any]]
    ) -> list[tuple[dict[str, Any], FakePrice]]:
        """(item, its new price) for each `items[n]`, new items included, checked before anything changes."""
        start, end = self._period(sub)
        changes = []
        for index, item_param in enumerate(item_params):
            price = self._price(item_param.get("price"), f"items[{index}][price]")
            if "id" not in item_param:
                changes.append((self._item(sub["id"], price, start, end), price))
                continue
            item = next((i for i in sub["items"]["data"] if i["id"] == item_param["id"]), None)
            if item is None:
                raise missing("subscription item", item_param["id"], f"items[{index}][id]")
            changes.append((item, price))
        return changes

    def _change_items(
        self,
        sub: dict[str, Any],
        changes: list[tuple[dict[str, Any], FakePrice]],
        proration: str,
        behavior: str,
        previous: dict[str, Any],
    ) -> None:
        """New prices, prorated by the second as Stripe does: a credit for the unused time on the old price and
        a charge for the remaining time on the new one, each rounded half up."""
        start, end = self._period(sub)
        invoice_id = _new_id("in")
        when = _moment(self._now).strftime("%d %b %Y")
        lines = []
        for item, price in changes:
            old = self.catalogue.get(item["price"])
            if price.metered or old is None or old.metered or old.id == price.id:
                continue
            credit = -_half_up(old.unit_amount * (end - self._now), end - start)
            charge = _half_up(price.unit_amount * (end - self._now), end - start)
            lines.append(
                self._line(
                    invoice_id,
                    sub,
                    item,
                    old,
                    credit,
                    self._now,
                    end,
                    proration=f"Unused time on {old.name} after {when}",
                )
            )
            lines.append(
                self._line(
                    invoice_id,
                    sub,
                    item,
                    price,
                    charge,
                    self._now,
                    end,
                    proration=f"Remaining time on {price.name} after {when}",
                )
            )
        previous["items"] = self._render_subscription(sub, [])["items"]
        if proration == "always_invoice" and lines:
            invoice = self._new_invoice(invoice_id, sub, lines, "subscription_update", self._now, self._now)
            outcome = self._charge(invoice, sub) if behavior != "default_incomplete" else None
            if invoice["status"] != "paid" and behavior == "error_if_incomplete":
                del self._invoices[invoice_id]
                raise _card_error(outcome)
            previous["latest_invoice"] = sub["latest_invoice"]
            sub["latest_invoice"] = invoice_id
            self._emit_invoice(invoice, outcome)
            if invoice["status"] != "paid" and behavior == "pending_if_incomplete":
                self._pending_changes[sub["id"]] = changes
                sub["pending_update"] = {
                    "billing_cycle_anchor": None,
                    "expires_at": self._now + _PENDING_UPDATE_SECONDS,
                    "subscription_items": [
                        {**self._render_item(item), "price": price.to_stripe(self._now)} for item, price in changes
                    ],
                    "trial_end": None,
                    "trial_from_plan": None,
                }
                return
            if invoice["status"] != "paid":
                previous["status"] = sub["status"]
                sub["status"] = "past_due"
        elif proration == "create_prorations" and lines:
            self._pending_lines.setdefault(sub["customer"], []).extend(lines)
        _apply(sub, changes)

    def _price(self, price_id: str | None, param: str) -> FakePrice:
        if price_id is None or price_id not in self.catalogue:
            raise missing("price", price_id or "", param)
        return self.catalogue[price_id]

    def _item(self, sub_id: str, price: FakePrice, start: int, end: int) -> dict[str, Any]:
        return {
            "id": _new_id("si"),
            "object": "subscription_item",
            "billing_thresholds": None,
            "created": self._now,
            "current_period_end": end,
            "current_period_start": start,
            "discounts": [],
            "metadata": {},
            "price": price.id,
            "quantity": None if price.metered else 1,
            "subscription": sub_id,
            "tax_rates": [],
        }

    def _period(self, sub: dict[str, Any]) -> tuple[int, int]:
        anchor = _moment(sub["billing_cycle_anchor"])
        renewed = self._anchors[sub["id"]]
        return _timestamp(add_month(anchor, renewed)), _timestamp(add_month(anchor, renewed + 1))

    def _usage(self, customer_id: str, start: int, end: int) -> int:
        return sum(
            int(event["payload"].get("value", "0"))
            for event in self._meter_events
            if event["payload"].get("stripe_customer_id") == customer_id
            and event["event_name"] == self.meter_event_name
            and start <= event["timestamp"] < end
        )

    # --- invoices and charges -----------------------------------------------------------------------

    def _line(
        self,
        invoice_id: str,
        sub: dict[str, Any],
        item: dict[str, Any],
        price: FakePrice,
        amount: int,
        start: int,
        end: int,
        quantity: int = 1,
        proration: str | None = None,
    ) -> dict[str, Any]:
        description = proration or f"{quantity} × {price.name} (at ${price.unit_amount / 100:.2f} / month)"
        return {
            "id": _new_id("il"),
            "object": "line_item",
            "amount": amount,
            "currency": "usd",
            "description": description,
            "discount_amounts": [],
            "discountable": True,
            "discounts": [],
            "invoice": invoice_id,
            "livemode": False,
            "metadata": {},
            "parent": {
                "type": "subscription_item_details",
                "invoice_item_details": None,
                "subscription_item_details": {
                    "invoice_item": None,
                    "proration": proration is not None,
                    "proration_details": {"credited_items": None},
                    "subscription": sub["id"],
                    "subscription_item": item["id"],
                },
            },
            "period": {"end": end, "start": start},
            "pretax_credit_amounts": [],
            "pricing": {
                "price_details": {"price": price.id, "product": price.product},
                "type": "price_details",
                "unit_amount_decimal": str(price.unit_amount),
            },
            "quantity": quantity,
            "subtotal": amount,
            "taxes": [],
        }

    def _new_invoice(
        self,
        invoice_id: str,
        sub: dict[str, Any],
        lines: list[dict[str, Any]],
        reason: str,
        period_start: int,
        period_end: int,
    ) -> dict[str, Any]:
        customer = self._customers[sub["customer"]]
        total = sum(line["amount"] for line in lines)
        due = max(total, 0)
        if total < 0:
            customer["balance"] += total
        number = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
        customer["next_invoice_sequence"] += 1
        token = _token(40)
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "account_country": "US",
            "account_name": "Parley (fake Stripe)",
            "amount_due": due,
            "amount_overpaid": 0,
            "amount_paid": 0,
            "amount_remaining": due,
            "amount_shipping": 0,
            "attempt_count": 0,
            "attempted": False,
            "auto_advance": False,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None, "status": None},
            "billing_reason": reason,
            "collection_method": "charge_automatically",
            "created": self._now,
            "currency": "usd",
            "customer": customer["id"],
            "customer_email": customer["email"],
            "default_payment_method": None,
            "description": None,
            "discounts": [],
            "due_date": None,
            "effective_at": self._now,
            "ending_balance": 0,
            "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_fake/test_{token}",
            "invoice_pdf": f"https://pay.stripe.com/invoice/acct_fake/test_{token}/pdf",
            "issuer": {"type": "self"},
            "last_finalization_error": None,
            "lines": {
                "object": "list",
                "data": lines,
                "has_more": False,
                "total_count": len(lines),
                "url": f"/v1/invoices/{invoice_id}/lines",
            },
            "livemode": False,
            "metadata": {},
            "next_payment_attempt": None,
            "number": number,
            "parent": {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"]},
            },
            "period_end": period_end,
            "period_start": period_start,
            "starting_balance": 0,
            "status": "open",
            "status_transitions": {
                "finalized_at": self._now,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
            "subtotal": total,
            "total": total,
            "webhooks_delivered_at": None,
        }
        self._invoices[invoice_id] = invoice
        if due == 0:
            self._mark_paid(invoice)
        else:
            self._client_secrets[invoice_id] = f"pi_{_token()}_secret_{_token()}"
        return invoice

    def _charge(self, invoice: dict[str, Any], sub: dict[str, Any]) -> str | None:
        """Try the subscription's (or the customer's default) payment method on an open invoice."""
        if invoice["status"] == "paid":
            return SUCCEEDS
        customer = self._customers[sub["customer"]]
        method = sub["default_payment_method"] or customer["invoice_settings"]["default_payment_method"]
        outcome = self._outcomes.get(method) if method else None
        invoice.update(attempted=outcome is not None, attempt_count=1 if outcome else 0)
        if outcome == SUCCEEDS:
            self._mark_paid(invoice)
        return outcome

    def _mark_paid(self, invoice: dict[str, Any]) -> None:
        invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0, attempted=True)
        invoice["status_transitions"]["paid_at"] = self._now

    def _get_invoice(self, params: dict[str, Any], invoice_id: str) -> dict[str, Any]:
        if invoice_id not in self._invoices:
            raise missing("invoice", invoice_id, "id")
        return self._render_invoice(self._invoices[invoice_id], _expansions("invoice", params))

    # --- meter events ---------------------------------------------------------------------------------

    def _create_meter_event(self, params: dict[str, Any]) -> dict[str, Any]:
        _expansions("billing.meter_event", params)
        identifier = params.get("identifier") or _new_id("mtrev")
        event = {
            "object": "billing.meter_event",
            "created": self._now,
            "event_name": params["event_name"],
            "identifier": identifier,
            "livemode": False,
            "payload": dict(params["payload"]),
            "timestamp": int(params.get("timestamp", self._now)),
        }
        if all(known["identifier"] != identifier for known in self._meter_events):
            self._meter_events.append(event)
        return copy.deepcopy(event)

    # --- rendering and events ----------------------------------------------------------------------

    def _render_item(self, item: dict[str, Any]) -> dict[str, Any]:
        rendered = copy.deepcopy(item)
        rendered["price"] = self.catalogue[item["price"]].to_stripe(item["created"])
        return rendered

    def _render_subscription(self, sub: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        rendered = copy.deepcopy(sub)
        rendered["items"]["data"] = [self._render_item(item) for item in sub["items"]["data"]]
        nested = [path.split(".", 1)[1] for path in expand if path.startswith("latest_invoice.")]
        if any(path.split(".")[0] == "latest_invoice" for path in expand) and sub["latest_invoice"]:
            rendered["latest_invoice"] = self._render_invoice(self._invoices[sub["latest_invoice"]], nested)
        if "customer" in expand:
            rendered["customer"] = copy.deepcopy(self._customers[sub["customer"]])
        if "default_payment_method" in expand and sub["default_payment_method"]:
            rendered["default_payment_method"] = copy.deepcopy(self._payment_methods[sub["default_payment_method"]])
        return rendered

    def _render_invoice(self, invoice: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        rendered = copy.deepcopy(invoice)
        if "confirmation_secret" in expand:
            secret = self._client_secrets.get(invoice["id"])
            rendered["confirmation_secret"] = {"client_secret": secret, "type": "payment_intent"} if secret else None
        if "customer" in expand:
            rendered["customer"] = copy.deepcopy(self._customers[invoice["customer"]])
        return rendered

    def _emit(self, kind: str, obj: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> None:
        event = self.event(kind, obj, previous)
        key = self._request_key
        event["request"] = {"id": _new_id("req") if key else None, "idempotency_key": key}
        self._events.append(event)
        if self.webhook_url:
            self._outgoing.put((self.webhook_url, copy.deepcopy(event)))

    def _emit_invoice(self, invoice: dict[str, Any], outcome: str | None) -> None:
        rendered = self._render_invoice(invoice, [])
        self._emit("invoice.created", rendered)
        self._emit("invoice.finalized", rendered)
        if invoice["status"] == "paid":
            self._emit("invoice.paid", rendered)
            self._emit("invoice.payment_succeeded", rendered)
        elif outcome == NEEDS_ACTION:
            self._emit("invoice.payment_action_required", rendered)
        elif outcome == FAILS:
            self._emit("invoice.payment_failed", rendered)


_EXPANDABLE = {
    "customer": {"default_source", "invoice_settings.default_payment_method"},
    "payment_method": {"customer"},
    "subscription": {
        "customer",
        "default_payment_method",
        "latest_invoice",
        "latest_invoice.confirmation_secret",
        "latest_invoice.customer",
    },
    "invoice": {"confirmation_secret", "customer"},
    "billing.meter_event": set(),
}


def _expansions(kind: str, params: Mapping[str, Any]) -> list[str]:
    """The `expand` list, refused (before anything runs) when it names what this object cannot expand."""
    paths = params.get("expand") or []
    for path in paths:
        if path not in _EXPANDABLE[kind]:
            raise invalid(f"This property cannot be expanded ({path}).", param="expand")
    return list(paths)


def _subscription(
    sub_id: str, customer_id: str, now: int, items: list[dict[str, Any]], method: str | None, params: dict[str, Any]
) -> dict[str, Any]:
    settings = params.get("payment_settings") or {}
    return {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": now,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic"},
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": now,
        "currency": "usd",
        "customer": customer_id,
        "days_until_due": None,
        "default_payment_method": method,
        "default_source": None,
        "default_tax_rates": [],
        "description": params.get("description"),
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": items,
            "has_more": False,
            "total_count": len(items),
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "metadata": dict(params.get("metadata") or {}),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": settings.get("save_default_payment_method", "off"),
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": now,
        "status": "incomplete",
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


def _payment_method(method_id: str, brand: str, last4: str, now: int) -> dict[str, Any]:
    return {
        "id": method_id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "card": {
            "brand": brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": "US",
            "display_brand": brand,
            "exp_month": 12,
            "exp_year": _moment(now).year + 5,
            "funding": "credit",
            "last4": last4,
            "networks": {"available": [brand], "preferred": None},
            "wallet": None,
        },
        "created": now,
        "customer": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }


def _apply(sub: dict[str, Any], changes: list[tuple[dict[str, Any], FakePrice]]) -> None:
    items = sub["items"]
    for item, price in changes:
        if item not in items["data"]:
            items["data"].append(item)
        item["price"] = price.id
    items["total_count"] = len(items["data"])


def _card_error(outcome: str | None) -> StripeApiError:
    if outcome == NEEDS_ACTION:
        return StripeApiError(
            402,
            "card_error",
            "Your card was declined. This transaction requires authentication.",
            code="authentication_required",
            decline_code="authentication_required",
        )
    return StripeApiError(
        402, "card_error", "Your card was declined.", code="card_declined", decline_code="generic_decline"
    )


def _fault_body(status: int) -> dict[str, Any]:
    if status == 429:
        message = "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits."
        return {"error": {"code": "rate_limit", "message": message, "type": "invalid_request_error"}}
    if status == 409:
        message = (
            "This object cannot be accessed right now because another API request or Stripe process is accessing it."
        )
        return {"error": {"code": "lock_timeout", "message": message, "type": "invalid_request_error"}}
    return {"error": {"message": "An unknown error occurred", "type": "api_error"}}


_Page = tuple[int, str, bytes, list[tuple[str, str]]]
"""(status, content type, body, more headers) of an answer to a browser."""
_CORS_PREFLIGHT = [
    ("access-control-allow-origin", "*"),
    ("access-control-allow-methods", "POST"),
    ("access-control-allow-headers", "*"),
    ("access-control-max-age", "300"),
]


def _webhook_headers(signature: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": signature,
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Cache-Control": "no-cache",
        "Accept": "*/*; q=0.5, application/xml",
    }


async def _send_page(send: Send, status: int, content_type: str, body: bytes, headers: list[tuple[str, str]]) -> None:
    start = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    start += [(name.encode(), value.encode()) for name, value in headers]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})


async def _send_half(send: Send, status: int, payload: Any) -> None:
    """Start the answer, send half its body and stop: uvicorn closes a connection whose response the app left
    unfinished, so the client sees the connection drop after the request ran."""
    data = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data[: len(data) // 2], "more_body": True})


@pytest.fixture(scope="session")
def fake_stripe_server() -> Iterator[FakeStripe]:
    server = FakeStripe()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_stripe(fake_stripe_server: FakeStripe) -> FakeStripe:
    """The session's fake Stripe, emptied: no objects, events, requests, faults; the clock at now."""
    fake_stripe_server.reset()
    return fake_stripe_server
