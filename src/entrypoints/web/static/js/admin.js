// The admin dashboard: charts from /api/analytics/* (drawn with the vendored uPlot), live counters from the
// WebSocket /api/analytics/live (reconnecting with backoff), the users list (search, filters, disable / enable,
// grants, cursor pages) and announcements (send, progress polled while sending). Everything users wrote is set
// as textContent, never as HTML.
import { ApiError, accessToken, api, hideError, problemOf, showError } from './api.js';

const $ = (id) => document.getElementById(id);
const number = (value) => Number(value).toLocaleString('en-US');
const count = (n, one, many) => `${number(n)} ${n === 1 ? one : many}`;
const dollars = (cents) => `$${(cents / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

async function getJson(path) {
  const response = await api(path);
  if (!response.ok) throw await problemOf(response);
  return response.json();
}

async function sendJson(method, path, body) {
  const response = await api(path, { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw await problemOf(response);
  return response.json();
}

function cell(row, text) {
  const td = document.createElement('td');
  td.textContent = text == null ? '' : String(text);
  row.append(td);
  return td;
}

function button(text, className, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = className;
  b.textContent = text;
  b.addEventListener('click', onClick);
  return b;
}

// ---- charts ----
const COLORS = ['#3b5bdb', '#e8590c', '#2b8a3e', '#ae3ec9', '#1098ad', '#f08c00'];
const charts = new Map();
const seconds = (isoDate) => Date.UTC(+isoDate.slice(0, 4), +isoDate.slice(5, 7) - 1, +isoDate.slice(8, 10)) / 1000;

function chartWidth(box) {
  return Math.max(260, Math.floor(box.clientWidth || 300));
}

function draw(id, options, data) {
  const figure = $(id);
  const box = figure.querySelector('.chart');
  charts.get(id)?.destroy();
  box.replaceChildren();
  const plot = new window.uPlot({ width: chartWidth(box), height: 220, ...options }, data, box);
  charts.set(id, plot);
  figure.dataset.points = String(data[0].length);
}

function timeChart(id, points, series, { money = false } = {}) {
  const xs = points.map((p) => seconds(p.start));
  const data = [xs, ...series.map((s) => points.map((p) => s.value(p)))];
  const format = money ? (v) => (v == null ? '' : dollars(v * 100)) : (v) => (v == null ? '' : number(v));
  draw(id, {
    tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i], width: 2, value: (_, v) => format(v) }))],
    axes: [{}, { values: (_, ticks) => ticks.map(format), size: money ? 70 : 50 }],
    scales: { y: { range: (_, min, max) => [0, Math.max(1, max)] } },
  }, data);
}

function latencyChart(items) {
  const labels = items.map((i) => `${i.provider} / ${i.model}`);
  const xs = items.map((_, i) => i);
  const offset = (shift) => window.uPlot.paths.bars({ size: [0.35, 60], align: shift });
  draw('chart-latency', {
    scales: { x: { time: false, range: [-0.6, Math.max(0.6, items.length - 0.4)] }, y: { range: (_, min, max) => [0, Math.max(1, max)] } },
    axes: [
      { values: (_, ticks) => ticks.map((t) => (Number.isInteger(t) && labels[t] ? labels[t] : '')), splits: () => xs },
      { values: (_, ticks) => ticks.map((t) => `${number(t)} ms`), size: 70 },
    ],
    series: [
      { label: 'Provider', value: (_, v) => (v == null ? '' : labels[v] || '') },
      { label: 'p50', stroke: COLORS[0], fill: COLORS[0], paths: offset(-1), points: { show: false }, value: (_, v) => (v == null ? '' : `${number(v)} ms`) },
      { label: 'p95', stroke: COLORS[1], fill: COLORS[1], paths: offset(1), points: { show: false }, value: (_, v) => (v == null ? '' : `${number(v)} ms`) },
    ],
  }, [xs, items.map((i) => i.latency_p50_ms), items.map((i) => i.latency_p95_ms)]);
}

function rangeQuery() {
  const params = new URLSearchParams({ from: $('range-from').value, to: $('range-to').value, interval: $('range-interval').value });
  return params.toString();
}

async function loadCharts() {
  const errorBox = $('charts-error');
  hideError(errorBox);
  const q = rangeQuery();
  const ask = (path) => getJson(`/api/analytics/${path}?${q}`);
  const performanceQuery = new URLSearchParams({ from: $('range-from').value, to: $('range-to').value });
  try {
    const [growth, active, messages, revenue, mrr, performance] = await Promise.all([
      ask('users/growth'), ask('users/active'), ask('chat/messages'), ask('revenue/total'), ask('revenue/mrr'),
      getJson(`/api/analytics/providers/performance?${performanceQuery}`),
    ]);
    const last = (points) => points[points.length - 1];
    timeChart('chart-users', growth.points, [
      { label: 'Accounts', value: (p) => p.total }, { label: 'Sign-ups', value: (p) => p.signups },
    ]);
    $('summary-users').textContent = `${count(last(growth.points)?.total ?? 0, 'account', 'accounts')}, ${count(growth.points.reduce((n, p) => n + p.signups, 0), 'sign-up', 'sign-ups')} in the range`;
    timeChart('chart-active', active.points, [
      { label: 'DAU', value: (p) => p.dau }, { label: 'WAU', value: (p) => p.wau }, { label: 'MAU', value: (p) => p.mau },
    ]);
    const lastActive = last(active.points) || { dau: 0, wau: 0, mau: 0 };
    $('summary-active').textContent = `DAU ${number(lastActive.dau)}, WAU ${number(lastActive.wau)}, MAU ${number(lastActive.mau)} at the end of the range`;
    timeChart('chart-messages', messages.points, [
      { label: 'Messages', value: (p) => p.messages }, { label: 'Errors', value: (p) => p.errors },
    ]);
    $('summary-messages').textContent = `${count(messages.points.reduce((n, p) => n + p.messages, 0), 'message', 'messages')} in the range`;
    const mrrByStart = new Map(mrr.points.map((p) => [p.start, p.mrr_cents]));
    timeChart('chart-revenue', revenue.points, [
      { label: 'Revenue', value: (p) => p.revenue_cents / 100 }, { label: 'MRR', value: (p) => (mrrByStart.get(p.start) ?? 0) / 100 },
    ], { money: true });
    $('summary-revenue').textContent = `${dollars(revenue.totals.revenue_cents)} revenue in the range, MRR ${dollars(last(mrr.points)?.mrr_cents ?? 0)}`;
    latencyChart(performance.items);
    $('summary-latency').textContent = performance.items.length
      ? performance.items.map((i) => `${i.provider} / ${i.model}: p50 ${number(i.latency_p50_ms ?? 0)} ms, p95 ${number(i.latency_p95_ms ?? 0)} ms`).join('; ')
      : 'No replies in the range.';
  } catch (error) {
    showError(errorBox, error);
  }
}

$('range').addEventListener('submit', (event) => {
  event.preventDefault();
  loadCharts();
});
let resizeTimer = null;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    for (const [id, plot] of charts) plot.setSize({ width: chartWidth($(id).querySelector('.chart')), height: 220 });
  }, 150);
});

// ---- live counters ----
const LIVE_FIELDS = ['active_streams', 'messages_last_minute', 'tokens_last_minute', 'errors_last_minute', 'signups_today'];
let liveDelay = 1000;

async function connectLive(forceToken = false) {
  const status = $('live-status');
  let token;
  try {
    token = await accessToken(forceToken);
  } catch (error) {
    showError($('live-error'), error);
    if (error instanceof ApiError && error.status === 401) return;
    return retryLive();
  }
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${location.host}/api/analytics/live?token=${encodeURIComponent(token)}`);
  let opened = false;
  socket.addEventListener('open', () => {
    opened = true;
    liveDelay = 1000;
    hideError($('live-error'));
    status.textContent = 'Live: updated every few seconds.';
  });
  socket.addEventListener('message', (event) => {
    let snapshot;
    try {
      snapshot = JSON.parse(event.data);
    } catch {
      return;
    }
    if (snapshot.type !== 'snapshot') return;
    for (const name of LIVE_FIELDS) $(`live-${name}`).textContent = number(snapshot[name] ?? 0);
    status.textContent = `Live: as of ${new Date(snapshot.at).toLocaleTimeString('en-GB', { timeZone: 'UTC' })} UTC.`;
  });
  socket.addEventListener('close', (event) => {
    // 4403: the token stopped working (expired, or the account changed): a fresh one is asked on reconnecting.
    retryLive(event.code === 4403 || !opened);
  });
}

function retryLive(forceToken = true) {
  const wait = liveDelay;
  liveDelay = Math.min(liveDelay * 2, 30000);
  $('live-status').textContent = `Disconnected; reconnecting in ${Math.round(wait / 1000)} s.`;
  setTimeout(() => connectLive(forceToken), wait);
}

// ---- users ----
const userState = { cursors: [null], index: 0, next: null, query: '' };

function userQuery() {
  const params = new URLSearchParams();
  for (const [name, id] of [['q', 'user-q'], ['plan', 'user-plan'], ['role', 'user-role'], ['status', 'user-status']]) {
    const value = $(id).value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

async function loadUsers() {
  hideError($('users-error'));
  const params = new URLSearchParams(userState.query);
  params.set('limit', '20');
  const cursor = userState.cursors[userState.index];
  if (cursor) params.set('cursor', cursor);
  try {
    const page = await getJson(`/api/admin/users?${params}`);
    userState.next = page.next_cursor;
    renderUsers(page.items);
  } catch (error) {
    showError($('users-error'), error);
  }
  $('users-prev').disabled = userState.index === 0;
  $('users-next').disabled = !userState.next;
}

function renderUsers(items) {
  const body = $('users').tBodies[0];
  body.replaceChildren();
  if (!items.length) {
    const row = body.insertRow();
    const td = cell(row, 'No users match.');
    td.colSpan = 7;
    return;
  }
  for (const user of items) {
    const row = body.insertRow();
    row.dataset.userId = user.id;
    cell(row, user.email);
    cell(row, user.name);
    cell(row, user.role);
    cell(row, user.plan);
    cell(row, user.disabled ? 'Disabled' : 'Active');
    cell(row, user.last_active_at ? user.last_active_at.slice(0, 16).replace('T', ' ') : 'Never');
    const actions = cell(row, '');
    const toggle = button(user.disabled ? 'Enable' : 'Disable', `small ${user.disabled ? 'secondary' : 'danger'}`, () => setDisabled(user, !user.disabled));
    toggle.setAttribute('aria-label', `${user.disabled ? 'Enable' : 'Disable'} ${user.email}`);
    const grant = button('Grant tokens', 'small secondary', () => openGrant(user));
    grant.setAttribute('aria-label', `Grant tokens to ${user.email}`);
    actions.append(toggle, ' ', grant);
  }
}

function notify(text) {
  const box = $('users-notice');
  box.textContent = text;
  box.hidden = false;
}

async function setDisabled(user, disabled) {
  hideError($('users-error'));
  try {
    const changed = await sendJson('PATCH', `/api/admin/users/${encodeURIComponent(user.id)}`, { disabled });
    notify(`${changed.email} is ${changed.disabled ? 'disabled: every session and API key has ended' : 'enabled again'}.`);
    await loadUsers();
  } catch (error) {
    showError($('users-error'), error);
  }
}

let grantUser = null;

async function showLimit() {
  const line = $('grant-limit');
  try {
    const detail = await getJson(`/api/admin/users/${encodeURIComponent(grantUser.id)}`);
    line.textContent = `Limit this period: ${number(detail.usage.limit)} tokens (${number(detail.usage.used)} used, ${number(detail.usage.remaining)} left).`;
    line.dataset.limit = String(detail.usage.limit);
  } catch (error) {
    showError($('grant-error'), error);
  }
}

function openGrant(user) {
  grantUser = user;
  const form = $('grant');
  form.hidden = false;
  hideError($('grant-error'));
  $('grant-heading').textContent = `Grant tokens to ${user.email}`;
  $('grant-limit').textContent = '';
  form.reset();
  showLimit();
  $('grant-tokens').focus();
}

$('grant').addEventListener('submit', async (event) => {
  event.preventDefault();
  hideError($('grant-error'));
  const tokens = Number.parseInt($('grant-tokens').value, 10);
  try {
    await sendJson('POST', `/api/admin/users/${encodeURIComponent(grantUser.id)}/grants`, { tokens, reason: $('grant-reason').value });
    notify(`Granted ${number(tokens)} tokens to ${grantUser.email}.`);
    await showLimit();
  } catch (error) {
    showError($('grant-error'), error);
  }
});
$('grant-close').addEventListener('click', () => {
  $('grant').hidden = true;
});

$('user-search').addEventListener('submit', (event) => {
  event.preventDefault();
  userState.query = userQuery().toString();
  userState.cursors = [null];
  userState.index = 0;
  loadUsers();
});
$('users-next').addEventListener('click', () => {
  if (!userState.next) return;
  userState.cursors = userState.cursors.slice(0, userState.index + 1).concat(userState.next);
  userState.index += 1;
  loadUsers();
});
$('users-prev').addEventListener('click', () => {
  if (userState.index === 0) return;
  userState.index -= 1;
  loadUsers();
});

// ---- announcements ----
let pollTimer = null;

async function loadAnnouncements() {
  clearTimeout(pollTimer);
  const errorBox = $('announcements-error');
  try {
    const page = await getJson('/api/admin/announcements?limit=20');
    hideError(errorBox);
    const body = $('announcements').tBodies[0];
    body.replaceChildren();
    if (!page.items.length) cell(body.insertRow(), 'No announcements yet.').colSpan = 5;
    for (const item of page.items) {
      const row = body.insertRow();
      row.dataset.status = item.status;
      cell(row, item.subject);
      cell(row, item.audience);
      cell(row, item.status);
      cell(row, `${number(item.sent)} of ${number(item.recipients)}`);
      cell(row, item.created_at.slice(0, 16).replace('T', ' '));
    }
    if (page.items.some((item) => item.status !== 'sent')) pollTimer = setTimeout(loadAnnouncements, 1500);
  } catch (error) {
    showError(errorBox, error);
    pollTimer = setTimeout(loadAnnouncements, 5000);
  }
}

$('announce').addEventListener('submit', async (event) => {
  event.preventDefault();
  const errorBox = $('announce-error');
  hideError(errorBox);
  const submit = event.target.querySelector('button[type=submit]');
  submit.disabled = true;
  try {
    await sendJson('POST', '/api/admin/announcements', {
      subject: $('announce-subject').value,
      body_markdown: $('announce-body').value,
      audience: $('announce-audience').value,
    });
    event.target.reset();
    await loadAnnouncements();
  } catch (error) {
    showError(errorBox, error);
  } finally {
    submit.disabled = false;
  }
});

loadCharts();
connectLive();
loadUsers();
loadAnnouncements();
