// app.js: the swarmd dashboard.  A snapshot (GET api/snapshot) drawn
// whole, then the event feed (GET events, Server-Sent Events): each event
// is listed at once and a new snapshot follows shortly after.  Agents'
// text is never markup: every string goes in as textContent.
'use strict';

const LAST_EVENTS = 50;
const REFRESH_MS = 250;

// #token=T (off loopback) and operator=O, from the fragment: never sent
// to the server with the page, nor kept anywhere but here.
const params = new URLSearchParams(location.hash.slice(1));
const token = params.get('token');
const operatorToken = params.get('operator');

// What the tests read: every event seq seen, and how many came twice.
const state = { seen: [], dups: 0, lastSeq: 0, snapshot: null, operator: false,
  notes: new Map(), timeline: null, opened: 0 };
window.swarmd = state;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) {
    if (k == null) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (token) h.Authorization = 'Bearer ' + token;
  if (operatorToken) h['X-Swarmd-Operator'] = operatorToken;
  return h;
}

async function getJSON(path) {
  const r = await fetch(path, { headers: headers(), cache: 'no-store' });
  if (!r.ok) throw new Error(path + ': ' + r.status + ' ' + (await r.text()));
  return r.json();
}

function ago(ts) {
  if (!ts) return '';
  const s = Math.max(0, (Date.now() - Date.parse(ts)) / 1000);
  if (s < 60) return Math.round(s) + 's';
  if (s < 3600) return Math.round(s / 60) + 'm';
  return (s / 3600).toFixed(1) + 'h';
}

function bar(parts, total) {
  const b = el('div', { class: 'bar' });
  for (const [cls, n] of parts) {
    if (n > 0 && total > 0) {
      // Through the CSSOM: the page's policy allows no inline style.
      const s = el('span', { class: cls });
      s.style.width = (100 * n / total) + '%';
      b.append(s);
    }
  }
  return b;
}

// ---- drawing the snapshot ----

function drawQuota(q) {
  const box = document.getElementById('quota');
  box.replaceChildren();
  for (const w of q.windows || []) {
    const pct = Math.min(100, w.percent);
    const cls = 'used' + (pct >= 100 ? ' over' : pct >= 80 ? ' high' : '');
    box.append(el('div', { class: 'window', 'data-window': w.name },
      el('div', { class: 'label' }, el('span', {}, w.name),
        el('span', {}, w.percent.toFixed(1) + '%' +
          (w.refill_seconds > 0 ? ' · refill ' + Math.round(w.refill_seconds) + 's' : ''))),
      bar([[cls, pct]], 100)));
  }
  if (!(q.windows || []).length)
    box.append(el('span', { class: 'empty' }, 'no quota limits configured'));
  const sp = document.getElementById('spawn');
  sp.textContent = 'spawn ' + q.spawn.state + (q.spawn.reason ? ': ' + q.spawn.reason : '');
  sp.className = 'spawn ' + q.spawn.state;
}

function drawJobs(jobs) {
  const tb = document.querySelector('#jobs tbody');
  tb.replaceChildren();
  for (const j of jobs.slice(-20)) {
    const c = j.counts, k = j.cost || {};
    const tokens = (k.input || 0) + (k.output || 0) + (k.cache_creation || 0) + (k.cache_read || 0);
    // A model without a price makes the cost unknown, not $0.
    const usd = k.usd === null || k.usd === undefined ? '?' : '$' + k.usd.toFixed(2);
    tb.append(el('tr', { 'data-job': j.job, 'data-done': c.done + c.merged,
      'data-total': j.total, 'data-tokens': tokens },
    el('td', {}, j.job), el('td', {}, j.name), el('td', {}, j.state + (j.paused ? ' (paused)' : '')),
    el('td', {}, bar([['done', c.done + c.merged], ['running', c.running + c.gating + c.merging],
      ['failed', c.failed], ['dead', c.dead + c.aborted]], j.total)),
    el('td', {}, (c.done + c.merged) + '/' + j.total), el('td', {}, c.running),
    el('td', {}, c.queued), el('td', {}, c.dead), el('td', {}, tokens.toLocaleString()),
    el('td', {}, usd)));
  }
  if (!jobs.length)
    tb.append(el('tr', {}, el('td', { colspan: 10, class: 'empty' }, 'no jobs yet')));
}

function drawAgents(agents, top) {
  const tokens = new Map((top || []).map(t => [t.agent, t.total]));
  const tb = document.querySelector('#agents tbody');
  tb.replaceChildren();
  document.getElementById('nagents').textContent = agents.length;
  for (const a of agents) {
    const tr = el('tr', { class: 'agent' + (state.timeline === a.agent ? ' open' : ''),
      'data-agent': a.agent, onclick: () => openTimeline(a.agent) },
    el('td', {}, a.agent), el('td', {}, a.job + '/' + a.chunk), el('td', {}, a.state),
    el('td', {}, ago(a.started)), el('td', {}, ago(a.last_seen) + ' ago'),
    el('td', {}, tokens.has(a.agent) ? tokens.get(a.agent).toLocaleString() : ''),
    el('td', { class: 'note' }, state.notes.get(a.agent) || ''),
    el('td', {}, state.operator ? agentButtons(a.agent) : null));
    tb.append(tr);
  }
  if (!agents.length)
    tb.append(el('tr', {}, el('td', { colspan: 8, class: 'empty' }, 'no live agents')));
}

function drawEscalations(escs) {
  const ul = document.getElementById('escalations');
  ul.replaceChildren();
  document.getElementById('nesc').textContent = escs.length;
  for (const e of escs) {
    const li = el('li', { 'data-escalation': e.escalation },
      el('span', { class: 'ev escalated' }, e.escalation), ' ', e.agent, ' ',
      el('span', { class: 'ts' }, e.job + '/' + e.chunk), ' ', e.summary || '');
    if (state.operator) {
      for (const action of ['continue', 'restart', 'kill'])
        li.append(' ', el('button', { type: 'button', class: action === 'kill' ? 'danger' : '',
          onclick: (ev) => { ev.stopPropagation();
            press('resolve', { target: e.escalation, action }); } }, action));
    }
    ul.append(li);
  }
  if (!escs.length) ul.append(el('li', { class: 'empty' }, 'none open'));
}

function eventLine(e, cls) {
  const who = [e.job, e.chunk_id, e.agent].filter(Boolean).join(' ');
  const extra = e.note || e.reason || e.text || e.summary || '';
  return el('li', { 'data-seq': e.seq, class: cls || '' },
    el('span', { class: 'ts' }, '#' + e.seq + ' ' + e.ts.slice(11, 19)), ' ',
    el('span', { class: 'ev ' + e.event }, e.event), ' ', who,
    extra ? ' — ' + String(extra).slice(0, 120) : '');
}

function drawEvents(evs) {
  const ol = document.getElementById('events');
  ol.replaceChildren();
  for (const e of evs.slice(-LAST_EVENTS).reverse()) ol.append(eventLine(e));
  for (const e of evs)
    if (e.event === 'heartbeat' && e.agent && e.note) state.notes.set(e.agent, e.note);
}

function draw(s) {
  state.snapshot = s;
  drawQuota(s.quota);
  drawJobs(s.jobs);
  drawAgents(s.agents, s.quota.top);
  drawEscalations(s.escalations);
}

async function refresh() {
  try {
    draw(await getJSON('api/snapshot'));
    if (state.timeline) await loadTimeline(state.timeline);
  } catch (err) {
    setConn('down', 'error: ' + err.message);
  }
}

let refreshTimer = null;
function refreshSoon() {
  if (refreshTimer === null)
    refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, REFRESH_MS);
}

// ---- an agent's timeline ----

const KINDS = [
  [/dispatched|started|session_started|readopted/, 'spawned'],
  [/heartbeat/, 'heartbeat'], [/checkpoint|handoff/, 'checkpoint'],
  [/usage|cap_|rate_limit|proxy/, 'usage'], [/message/, 'mail'],
  [/triage|watchdog|escalat/, 'triage'],
  [/completed|failed|timeout|aborted|dead|killed|done|recovered/, 'end'],
];
function kindOf(name) {
  for (const [re, k] of KINDS) if (re.test(name)) return k;
  return 'other';
}

async function loadTimeline(agent) {
  const t = await getJSON('api/agent/' + encodeURIComponent(agent));
  const ol = document.getElementById('timeline');
  const u = t.agent.usage;
  ol.replaceChildren(el('li', { class: 'usage' }, el('span', { class: 'kind' }, 'usage'),
    t.agent.state + ' · input ' + u.input.toLocaleString() + ' · output ' +
    u.output.toLocaleString() + ' · cache ' + (u.cache_creation + u.cache_read).toLocaleString() +
    ' · $' + u.usd.toFixed(4) + ' in ' + u.records + ' reports'));
  for (const e of t.events) {
    const li = eventLine(e);
    li.prepend(el('span', { class: 'kind' }, kindOf(e.event)));
    ol.append(li);
  }

}

function openTimeline(agent) {
  state.timeline = agent;
  document.getElementById('timeline-agent').textContent = agent;
  document.getElementById('timeline-panel').hidden = false;
  for (const tr of document.querySelectorAll('tr.agent'))
    tr.classList.toggle('open', tr.dataset.agent === agent);
  loadTimeline(agent).catch(err => setConn('down', err.message));
}

// ---- the buttons (operator token only) ----

function agentButtons(agent) {
  return el('span', {},
    el('button', { type: 'button', onclick: (ev) => { ev.stopPropagation();
      const text = prompt('Message to ' + agent);
      if (text) press('send', { target: agent, text }); } }, 'send'), ' ',
    el('button', { type: 'button', class: 'danger', onclick: (ev) => { ev.stopPropagation();
      if (confirm('Abort ' + agent + '?')) press('abort', { target: agent }); } }, 'abort'));
}

async function press(verb, args) {
  const r = await fetch('api/' + verb, { method: 'POST',
    headers: headers({ 'Content-Type': 'application/json' }), body: JSON.stringify(args) });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) alert(verb + ': ' + ((body.error && body.error.message) || r.status));
  refreshSoon();
}

// ---- the feed ----

function setConn(cls, text) {
  const c = document.getElementById('conn');
  c.className = 'conn ' + cls;
  c.textContent = text;
}

function onEvent(msg) {
  const e = JSON.parse(msg.data);
  if (e.seq <= state.lastSeq) { state.dups++; return; }
  state.lastSeq = e.seq;
  state.seen.push(e.seq);
  if (e.event === 'heartbeat' && e.agent && e.note) state.notes.set(e.agent, e.note);
  const ol = document.getElementById('events');
  ol.prepend(eventLine(e, 'new'));
  while (ol.children.length > LAST_EVENTS) ol.lastChild.remove();
  refreshSoon();
}

let source = null;
function connect() {
  let url = 'events?after=' + state.lastSeq;
  if (token) url += '&access_token=' + encodeURIComponent(token);
  source = new EventSource(url);
  source.onopen = () => { state.opened++; setConn('live', 'live'); refreshSoon(); };
  source.onmessage = onEvent;
  // More was missed than one page: start again from a new snapshot.
  source.addEventListener('resync', () => { source.close(); start(); });
  source.onerror = () => {
    setConn('down', 'reconnecting');
    // The browser reconnects by itself (with Last-Event-ID) unless the
    // server answered with an error: then it is up to us.
    if (source.readyState === EventSource.CLOSED)
      setTimeout(connect, 2000);
  };
}

async function start() {
  try {
    const s = await getJSON('api/snapshot');
    state.lastSeq = s.seq;
    drawEvents(s.events);
    draw(s);
    connect();
  } catch (err) {
    setConn('down', 'unreachable: ' + err.message);
    setTimeout(start, 2000);
  }
}

async function whoami() {
  if (!operatorToken) { document.getElementById('role').textContent = 'read-only'; return; }
  try {
    state.operator = (await getJSON('api/session')).operator;
  } catch (err) { state.operator = false; }
  document.getElementById('role').textContent = state.operator ? 'operator' : 'read-only (token refused)';
  if (state.snapshot) draw(state.snapshot);
}

document.getElementById('timeline-close').addEventListener('click', () => {
  state.timeline = null;
  document.getElementById('timeline-panel').hidden = true;
});
whoami().then(start);
