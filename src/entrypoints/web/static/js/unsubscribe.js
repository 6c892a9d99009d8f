import { ApiError, NETWORK_MESSAGE, csrfToken, errorOf, hideError, showError } from './api.js';

const form = document.getElementById('unsubscribe');
const result = document.getElementById('unsubscribe-result');
const failure = document.getElementById('unsubscribe-error');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  hideError(failure);
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    let response;
    try {
      response = await fetch('/api/email/unsubscribe', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrfToken() },
        body: JSON.stringify({ token: form.dataset.token }),
        credentials: 'omit',
      });
    } catch {
      throw new ApiError(NETWORK_MESSAGE);
    }
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      if (response.status === 400 || response.status === 404) {
        throw new ApiError('This unsubscribe link is not valid (it may be incomplete or out of date).');
      }
      throw errorOf(response.status, problem);
    }
    form.hidden = true;
    result.textContent = 'You are unsubscribed: no more announcements will be sent to you.';
    result.hidden = false;
  } catch (error) {
    showError(failure, error);
    button.disabled = false;
  }
});
