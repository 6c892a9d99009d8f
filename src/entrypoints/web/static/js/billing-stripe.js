// Stripe's Payment Element on the billing page, loaded only when Stripe is configured with a publishable key
// (docs/web.md). Subscribe and Upgrade go through the JSON API; an answer carrying a client secret (a first
// payment, or an upgrade's prorated invoice, waiting for the customer) mounts the Payment Element, and Pay
// confirms it with Stripe.js. The plan turns active when Stripe's webhook reaches Parley, so the page polls
// the subscription until it does. Card details never touch this page: they stay in Stripe's frames.
import { ApiError, api, hideError, problemOf, showError } from './api.js';

const section = document.getElementById('checkout');
const status = document.getElementById('checkout-status');
const failure = document.getElementById('checkout-error');
const payForm = document.getElementById('payment-form');
const payButton = payForm.querySelector('button[type="submit"]');
const checkouts = [...document.querySelectorAll('form[data-checkout]')];
const POLL_DELAYS_MS = [500, 1000, 2000, 4000, 8000];
const DECLINED = 'The payment did not go through. Try again, or use another card.';

const stripe = typeof window.Stripe === 'function' ? window.Stripe(section.dataset.publishableKey) : null;
let elements = null;

function say(text) {
  status.textContent = text;
  status.hidden = !text;
}

function fail(error) {
  say('');
  showError(failure, error instanceof ApiError ? error : new ApiError(error.message || DECLINED));
}

function mount(clientSecret, text) {
  elements = stripe.elements({ clientSecret });
  elements.create('payment').mount('#payment-element');
  for (const form of checkouts) form.querySelector('button').disabled = true; // one payment at a time
  section.hidden = false;
  payButton.disabled = false;
  say(text);
}

async function subscription() {
  const response = await api('/api/billing/subscription');
  if (!response.ok) throw await problemOf(response);
  return response.json();
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Stripe has the money; Parley learns it from the webhook. Poll with backoff until the subscription is
// active with nothing left to confirm, then show the page as the server renders it.
async function activation() {
  section.hidden = true;
  say('Payment received, activating...');
  for (const delay of POLL_DELAYS_MS) {
    await pause(delay);
    const current = await subscription();
    if (current.status === 'active' && !current.client_secret) {
      location.assign('/billing?done=subscribed');
      return;
    }
  }
  say('Payment received. Your new plan shows here within a minute: reload the page to see it.');
}

async function resume(text) {
  const current = await subscription();
  if (current.client_secret) mount(current.client_secret, text);
}

for (const form of checkouts) {
  form.addEventListener('submit', async (event) => {
    if (!stripe) return; // Stripe.js did not load: the form posts, and the page shows what is waiting
    event.preventDefault();
    hideError(failure);
    const button = form.querySelector('button');
    button.disabled = true;
    try {
      const response = await api('/api/billing/subscribe', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ plan: form.elements.plan.value }),
      });
      if (!response.ok) throw await problemOf(response);
      const answer = await response.json();
      if (answer.client_secret) {
        mount(answer.client_secret, `Enter your card details to pay for ${form.dataset.checkout}.`);
        return;
      }
      location.assign('/billing?done=' + (answer.pending_plan ? 'downgrade' : 'subscribed'));
    } catch (error) {
      button.disabled = false;
      fail(error);
    }
  });
}

payForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!elements) return;
  hideError(failure);
  payButton.disabled = true;
  say('Confirming your payment...');
  try {
    const { error } = await stripe.confirmPayment({
      elements,
      redirect: 'if_required',
      confirmParams: { return_url: new URL('/billing', location.href).href },
    });
    if (error) {
      payButton.disabled = false;
      fail(error);
      return;
    }
    await activation();
  } catch (error) {
    payButton.disabled = false;
    fail(error);
  }
});

// Back from a payment that left the page (a bank's page, a redirecting payment method): Stripe appends the
// outcome to the return URL. The client secret is taken out of the address bar before anything else.
async function start() {
  const query = new URLSearchParams(location.search);
  if (query.has('payment_intent_client_secret')) {
    history.replaceState(null, '', location.pathname);
    const outcome = query.get('redirect_status');
    if (outcome === 'succeeded' || outcome === 'processing') {
      await activation();
      return;
    }
    fail(new ApiError(DECLINED));
    await resume('Enter your card details to try again.');
    return;
  }
  if (section.dataset.awaiting) await resume('Your payment is waiting: enter your card details to finish.');
}

if (stripe) {
  start().catch(fail);
} else {
  fail(new ApiError('The payment form could not be loaded. Reload the page to try again.'));
}
