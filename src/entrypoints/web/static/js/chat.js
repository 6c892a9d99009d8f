// The chat page: sends a message to POST /api/chat and renders the reply as its server-sent events arrive;
// resumes a dropped stream with Last-Event-ID; Stop aborts the request (the API charges what was produced).
import { ApiError, api, csrfToken, errorOf, hideError, problemOf, showError, sseEvents } from './api.js';
import { renderMarkdown } from './markdown.js';

const form = document.getElementById('composer');
const textarea = document.getElementById('message');
const modelSelect = document.getElementById('model');
const sendButton = document.getElementById('send');
const stopButton = document.getElementById('stop');
const messages = document.getElementById('messages');
const errorBox = document.getElementById('chat-error');
const quota = document.getElementById('quota');
const conversationList = document.getElementById('conversations');
const RESUME_ATTEMPTS = 3;

let conversationId = form.dataset.conversationId || null;
let controller = null;

for (const body of messages.querySelectorAll('.msg.assistant .markdown')) renderMarkdown(body, body.textContent);
messages.lastElementChild?.scrollIntoView({ block: 'end' });

function appendMessage(role, text, model) {
  document.getElementById('empty-chat')?.remove();
  const article = document.createElement('article');
  article.className = `msg ${role}`;
  const who = document.createElement('h3');
  who.className = 'who';
  who.textContent = role === 'user' ? 'You' : model || 'Assistant';
  const body = document.createElement('div');
  body.className = `body ${role === 'user' ? 'plain' : 'markdown'}`;
  body.textContent = text;
  article.append(who, body);
  messages.append(article);
  article.scrollIntoView({ block: 'end' });
  return { article, body };
}

function setBusy(busy) {
  sendButton.disabled = busy;
  stopButton.hidden = !busy;
  textarea.readOnly = busy;
}

function showQuota(remaining) {
  quota.textContent = `${Number(remaining).toLocaleString('en-US')} tokens left this period`;
}

async function refreshQuota() {
  try {
    const response = await api('/api/usage');
    if (response.ok) showQuota((await response.json()).remaining);
  } catch {
    // the quota line keeps its last value; the reply itself is unaffected
  }
}

function addConversation(id, title) {
  if (conversationList.querySelector(`a[href="/chat/${CSS.escape(id)}"]`)) return;
  conversationList.querySelector('.empty')?.remove();
  const item = document.createElement('li');
  item.className = 'current';
  const link = document.createElement('a');
  link.href = `/chat/${id}`;
  link.textContent = title;
  link.setAttribute('aria-current', 'page');
  const remove = document.createElement('form');
  remove.method = 'post';
  remove.action = `/chat/${id}/delete`;
  const token = document.createElement('input');
  token.type = 'hidden';
  token.name = 'csrf_token';
  token.value = csrfToken();
  const button = document.createElement('button');
  button.type = 'submit';
  button.className = 'small danger';
  button.textContent = 'Delete';
  button.setAttribute('aria-label', `Delete ${title}`);
  remove.append(token, button);
  item.append(link, remove);
  conversationList.prepend(item);
}

async function newConversationTitle(id, fallback) {
  try {
    const response = await api(`/api/conversations/${id}`);
    if (response.ok) return (await response.json()).title;
  } catch {
    // the first words of the message stand in for the title
  }
  return fallback.slice(0, 60);
}

// Reads one SSE response into `state`; returns normally when the stream ends or the connection drops
// (the caller resumes), throws ApiError for an `error` event and AbortError when stopped.
async function consume(response, state, reply) {
  let frame = 0;
  const paint = () => {
    frame = 0;
    renderMarkdown(reply.body, state.text);
  };
  try {
    for await (const event of sseEvents(response.body)) {
      if (event.id !== null) state.lastId = Number(event.id);
      const data = event.data ? JSON.parse(event.data) : {};
      if (event.event === 'start') {
        state.messageId = data.message_id;
        state.started = true;
        if (!conversationId) {
          conversationId = data.conversation_id;
          state.newConversation = true;
          form.dataset.conversationId = conversationId;
          history.replaceState(null, '', `/chat/${conversationId}`);
        }
      } else if (event.event === 'delta') {
        state.text += data.text;
        if (!frame) frame = requestAnimationFrame(paint);
      } else if (event.event === 'done') {
        state.finished = true;
        state.finishReason = data.finish_reason;
        showQuota(data.quota.remaining);
      } else if (event.event === 'error') {
        state.finished = true;
        throw errorOf(data.status || 503, data);
      }
    }
  } catch (error) {
    if (error instanceof ApiError || error.name === 'AbortError') throw error;
    if (controller?.signal.aborted) throw new DOMException('stopped', 'AbortError');
    // anything else is the connection dropping mid-stream: the caller resumes from state.lastId
  } finally {
    if (frame) cancelAnimationFrame(frame);
    renderMarkdown(reply.body, state.text);
  }
}

async function send() {
  const content = textarea.value;
  if (!content.trim()) {
    showError(errorBox, new ApiError('Write a message first.'));
    return;
  }
  hideError(errorBox);
  const model = modelSelect.value;
  const question = appendMessage('user', content);
  const reply = appendMessage('assistant', '', model);
  reply.article.classList.add('streaming');
  textarea.value = '';
  setBusy(true);
  controller = new AbortController();
  const signal = controller.signal;
  const state = { text: '', lastId: 0, messageId: null, started: false, finished: false, newConversation: false };
  try {
    const body = { content, model, stream: true };
    if (conversationId) body.conversation_id = conversationId;
    const response = await api('/api/chat', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify(body),
      signal,
    });
    if (!response.ok) throw await problemOf(response);
    await consume(response, state, reply);
    for (let attempt = 1; !state.finished && state.messageId && attempt <= RESUME_ATTEMPTS; attempt++) {
      const resumed = await api(`/api/chat/${state.messageId}/events`, {
        headers: { Accept: 'text/event-stream', 'Last-Event-ID': String(state.lastId) },
        signal,
      });
      if (!resumed.ok) throw await problemOf(resumed);
      await consume(resumed, state, reply);
    }
    if (!state.finished) {
      throw new ApiError('The connection was lost before the reply ended. What arrived is kept; send again to continue.');
    }
    if (state.finishReason === 'length') note(reply, 'The reply reached its length limit.');
  } catch (error) {
    if (error.name === 'AbortError') {
      note(reply, 'Stopped.');
      refreshQuota();
    } else {
      if (!state.started) {
        // nothing was accepted: the message goes back into the box, to send again
        question.article.remove();
        reply.article.remove();
        textarea.value = content;
      }
      showError(errorBox, error instanceof ApiError ? error : new ApiError(String(error)));
    }
  } finally {
    reply.article.classList.remove('streaming');
    setBusy(false);
    controller = null;
    textarea.focus();
  }
  if (state.newConversation) addConversation(conversationId, await newConversationTitle(conversationId, content));
}

function note(reply, text) {
  const small = document.createElement('p');
  small.className = 'stopped';
  small.textContent = text;
  reply.article.append(small);
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!controller) send();
});
textarea.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});
stopButton.addEventListener('click', () => controller?.abort());
