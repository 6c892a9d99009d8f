"""The browser's side of the fake Stripe: a stand-in for Stripe.js (`GET /v3/`), the Payment Element's frame
(`GET /elements/payment`), the publishable-key call Stripe.js makes to confirm a payment (`POST
/v1/payment_intents/{id}/confirm`, cross-origin as Stripe's own, answered with CORS headers) and a bank's
3-D Secure page (`/3ds/{id}`), all served by `FakeStripe` on its own origin.

The script implements the subset Parley's billing page uses: `Stripe(pk)` -> `elements({clientSecret})` ->
`create('payment')` -> `mount(selector)`, and `confirmPayment({elements, redirect, confirmParams})`, which
resolves `{paymentIntent}` or `{error}` (never throws, as Stripe.js does). The element is an iframe from this
origin with one "Card number" field; the card number reaches the script by `postMessage` only when
confirming, as Stripe's frames keep card data out of the page. Test cards, as Stripe's: 4242 4242 4242 4242
pays, 4000 0000 0000 0002 is declined, 4000 0027 6000 3184 needs 3-D Secure. Where Stripe.js would open the
challenge in a modal, this one sends the browser to the bank's page, whose Complete / Fail authentication
buttons come back to `return_url` with `payment_intent`, `payment_intent_client_secret` and `redirect_status`,
so the page's return flow is exercised too."""

from __future__ import annotations

import html
import json

_STRIPE_JS = """(function () {
  'use strict';
  var ORIGIN = %(origin)s;

  function cardFrom(frame) {
    return new Promise(function (resolve) {
      var channel = new MessageChannel();
      channel.port1.onmessage = function (event) { resolve(String(event.data || '')); };
      frame.contentWindow.postMessage({ fakeStripe: 'collect' }, ORIGIN, [channel.port2]);
    });
  }

  window.Stripe = function Stripe(key) {
    if (typeof key !== 'string' || key.indexOf('pk_') !== 0) {
      throw new Error('Stripe(): pass your publishable key (pk_...), never a secret key.');
    }
    return {
      elements: function (options) {
        var clientSecret = options && options.clientSecret;
        if (!clientSecret) throw new Error('elements(): a clientSecret is required.');
        var state = { clientSecret: clientSecret, frame: null };
        return {
          _state: state,
          create: function (type) {
            if (type !== 'payment') throw new Error('This fake Stripe.js offers the payment element only.');
            return {
              mount: function (selector) {
                var host = typeof selector === 'string' ? document.querySelector(selector) : selector;
                if (!host) throw new Error('mount(): no element matches ' + selector);
                var frame = document.createElement('iframe');
                frame.title = 'Secure payment input frame';
                frame.src = ORIGIN + '/elements/payment?parent=' + encodeURIComponent(location.origin);
                host.replaceChildren(frame);
                state.frame = frame;
              },
            };
          },
        };
      },
      confirmPayment: async function (options) {
        var state = options && options.elements && options.elements._state;
        if (!state || !state.frame) {
          return { error: { type: 'integration_error', message: 'Mount the payment element before confirming.' } };
        }
        var number = (await cardFrom(state.frame)).replace(/\\s+/g, '');
        if (!number) {
          var incomplete = 'Your card number is incomplete.';
          return { error: { type: 'validation_error', code: 'incomplete_number', message: incomplete } };
        }
        var returnUrl = options.confirmParams && options.confirmParams.return_url;
        var body = new URLSearchParams({
          key: key,
          client_secret: state.clientSecret,
          'payment_method_data[type]': 'card',
          'payment_method_data[card][number]': number,
        });
        if (returnUrl) body.set('return_url', returnUrl);
        var id = state.clientSecret.split('_secret_')[0];
        var response;
        try {
          var url = ORIGIN + '/v1/payment_intents/' + encodeURIComponent(id) + '/confirm';
          response = await fetch(url, { method: 'POST', body: body });
        } catch (failure) {
          var offline = 'We could not reach Stripe. Check your connection.';
          return { error: { type: 'api_connection_error', message: offline } };
        }
        var answer = await response.json();
        if (answer.error) return { error: answer.error };
        var next = answer.next_action;
        if (next && next.type === 'redirect_to_url') {
          location.assign(next.redirect_to_url.url);
          return new Promise(function () {});
        }
        return { paymentIntent: answer };
      },
    };
  };
})();
"""

_ELEMENT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Card details</title></head>
<body>
<label for="number">Card number</label>
<input id="number" name="number" inputmode="numeric" autocomplete="cc-number">
<script>
  var parentOrigin = %(parent)s;
  window.addEventListener('message', function (event) {
    if (event.origin !== parentOrigin || !event.data || event.data.fakeStripe !== 'collect') return;
    event.ports[0].postMessage(document.getElementById('number').value);
  });
</script>
</body></html>
"""

_BANK_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>3D Secure test page</title></head>
<body>
<h1>3D Secure test payment</h1>
<p>Amount: %(amount)s</p>
<form method="post"><input type="hidden" name="outcome" value="complete">
<button type="submit">Complete authentication</button></form>
<form method="post"><input type="hidden" name="outcome" value="fail">
<button type="submit">Fail authentication</button></form>
</body></html>
"""


def stripe_js(origin: str) -> str:
    return _STRIPE_JS % {"origin": json.dumps(origin)}


def element_page(parent_origin: str) -> str:
    return _ELEMENT_PAGE % {"parent": json.dumps(parent_origin).replace("<", "\\u003c")}


def bank_page(amount_cents: int, currency: str) -> str:
    return _BANK_PAGE % {"amount": html.escape(f"{amount_cents // 100}.{amount_cents % 100:02d} {currency.upper()}")}
