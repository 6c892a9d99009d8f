// The pages' way to the JSON API: a short-lived access token from the browser session (POST /web/token,
// CSRF-protected), sent as a Bearer token; and the messages every failure shows.

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : '';
}

export class ApiError extends Error {
  constructor(message, { status = 0, type = '', link = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.type = type;
    this.link = link;
  }
}

export const NETWORK_MESSAGE = 'Parley could not be reached. Check your connection and try again.';
const UPGRADE = { href: '/billing', text: 'See plans on the Billing page' };

let cached = null;

export async function accessToken(force = false) {
  if (!force && cached && Date.now() < cached.until) return cached.token;
  let response;
  try {
    response = await fetch('/web/token', {
      method: 'POST',
      headers: { 'X-CSRF-Token': csrfToken() },
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(NETWORK_MESSAGE);
  }
  if (response.status === 401) {
    throw new ApiError('Your session has ended. Sign in again.', {
      status: 401,
      link: { href: '/signin?next=' + encodeURIComponent(location.pathname), text: 'Sign in' },
    });
  }
  if (!response.ok) throw await problemOf(response);
  const body = await response.json();
  cached = { token: body.access_token, until: Date.now() + Math.max(0, body.expires_in - 30) * 1000 };
  return cached.token;
}

// fetch() on /api with the session's Bearer token; one retry with a fresh token after a 401.
export async function api(path, options = {}) {
  for (let attempt = 0; ; attempt++) {
    const token = await accessToken(attempt > 0);
    const headers = { ...(options.headers || {}), Authorization: `Bearer ${token}` };
    let response;
    try {
      response = await fetch(path, { ...options, headers, credentials: 'omit' });
    } catch (error) {
      if (error && error.name === 'AbortError') throw error;
      throw new ApiError(NETWORK_MESSAGE);
    }
    if (response.status !== 401 || attempt > 0) return response;
  }
}

export function retryAfter(response) {
  const seconds = Number.parseInt(response.headers.get('Retry-After') || '', 10);
  return Number.isFinite(seconds) ? seconds : null;
}

// A failed response (problem details) as the sentence the page shows.
export async function problemOf(response) {
  let problem = {};
  try {
    problem = await response.json();
  } catch {
    problem = {};
  }
  return errorOf(response.status, problem, retryAfter(response));
}

export function errorOf(status, problem, wait = null) {
  const type = String(problem.type || '');
  const detail = String(problem.detail || '');
  const is = (slug) => type.endsWith(slug);
  if (status === 402 || is('quota-exceeded')) {
    return new ApiError(
      'You have used all the tokens of your plan for this period. Upgrade for more, or wait for the next period.',
      { status, type, link: UPGRADE },
    );
  }
  if (is('model-not-allowed')) {
    return new ApiError('Your plan does not include this model. Upgrade to use it.', { status, type, link: UPGRADE });
  }
  if (is('email-not-verified')) {
    return new ApiError('Confirm your email address first: open the link we emailed you.', { status, type });
  }
  if (status === 429) {
    const when = wait ? `in ${wait} second${wait === 1 ? '' : 's'}` : 'in a moment';
    return new ApiError(`Too many requests. Try again ${when}.`, { status, type });
  }
  if (status === 422 && Array.isArray(problem.errors) && problem.errors.length) {
    const fields = problem.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    return new ApiError(`Please check what you entered (${fields}).`, { status, type });
  }
  if (status === 503 || status === 0) {
    return new ApiError(detail || 'The service is unavailable right now. Try again in a moment.', { status, type });
  }
  return new ApiError(detail || `The request failed (HTTP ${status}).`, { status, type });
}

// Server-sent events from a fetch() body: yields {id, event, data} as each event completes.
export async function* sseEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = { id: null, event: 'message', data: '' };
        const data = [];
        for (const line of block.split('\n')) {
          if (!line || line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'id') event.id = text;
          else if (field === 'event') event.event = text;
          else if (field === 'data') data.push(text);
        }
        event.data = data.join('\n');
        yield event;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

// Shows an error (and its link, if any) in a role="alert" element; text only, never HTML.
export function showError(element, error) {
  element.replaceChildren(document.createTextNode(error.message || String(error)));
  if (error.link) {
    const link = document.createElement('a');
    link.href = error.link.href;
    link.textContent = error.link.text;
    element.append(' ', link);
  }
  element.hidden = false;
}

export function hideError(element) {
  element.hidden = true;
  element.replaceChildren();
}
