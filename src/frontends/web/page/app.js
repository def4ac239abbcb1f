// skiff's chat page: sends a question to /api/ask/stream, shows the plan's steps as they run,
// streams the answer, and links its numbered citations to the passages they quote.
// Everything a model or the wiki wrote is put in the page as text, never as HTML.
'use strict';

const TOKEN_KEY = 'skiff.token';
const HISTORY_SENT = 20; // the server refuses more than 50 earlier turns and reads only the last few
const $ = (id) => document.getElementById(id);
const ui = {
  log: $('log'), empty: $('empty'), ask: $('ask-form'), question: $('question'), send: $('send'),
  tokenForm: $('token-form'), tokenInput: $('token-input'), tokenLabel: $('token-label'),
  newChat: $('new-chat'), dialog: $('passage'), announce: $('announce'),
};

let history = []; // [{question, answer}] of finished turns, sent with the next question
let inFlight = null; // AbortController of the question being answered
let memToken = readStoredToken(); // kept in memory too, for browsers that refuse localStorage

function readStoredToken() {
  try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}
function storeToken(token) {
  memToken = token;
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token); else localStorage.removeItem(TOKEN_KEY);
  } catch { /* private mode: the in-memory copy lasts until reload */ }
}

/** Builds an element; `text` sets textContent, `on*` adds a listener, the rest are attributes. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

// --- formatting -------------------------------------------------------------------------------

function fmtMs(ms) {
  if (typeof ms !== 'number') return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}
function fmtInt(n) {
  return typeof n === 'number' ? n.toLocaleString('en-US') : '—';
}
function fmtUsd(v) {
  if (typeof v !== 'number') return '—';
  if (v === 0) return '$0';
  if (v >= 0.01) return `$${v.toFixed(2)}`;
  // two significant digits for fractions of a cent
  return `$${v.toFixed(Math.min(10, 1 - Math.floor(Math.log10(v))))}`;
}
function clip(s, max) {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
/** `query="battery", k=5`: enough of a step's arguments to recognise it. */
function summarizeArgs(args) {
  if (!args || typeof args !== 'object') return '';
  const parts = Object.entries(args).map(([k, v]) => `${k}=${clip(JSON.stringify(v) ?? '', 40)}`);
  return clip(parts.join(', '), 90);
}

// --- one question and its answer -------------------------------------------------------------

class Turn {
  constructor(question) {
    this.question = question;
    this.finished = false;
    this.steps = new Map(); // step id -> {li, state}
    this.meta = el('p', { class: 'meta muted' });
    this.stepList = el('ol', { class: 'steps' });
    this.planSummary = el('summary', { text: 'Plan' });
    this.plan = el('details', { class: 'plan', open: true, hidden: true }, this.planSummary, this.stepList);
    this.answer = el('div', {
      class: 'answer streaming', 'data-testid': 'answer', 'data-state': 'streaming', 'aria-busy': 'true',
    });
    this.extras = el('div', { class: 'extras' });
    this.root = el('article', { class: 'turn' },
      el('p', { class: 'q', text: question }), this.meta, this.plan, this.answer, this.extras);
    this.route = '';
    this.status = '';
    this.source = ''; // who made the plan: router, planner, repaired, ...
  }

  setMeta({ route, status }) {
    if (route != null) this.route = route;
    if (status != null) this.status = status;
    this.meta.textContent = [this.route, this.status].filter(Boolean).join(' · ');
  }

  setPlan(plan) {
    this.steps.clear();
    this.stepList.replaceChildren();
    for (const step of plan.steps || []) this.addStep(step);
    this.plan.hidden = this.steps.size === 0;
    this.source = plan.source;
    this.updatePlanSummary();
  }

  addStep(step) {
    const state = el('span', { class: 'state' });
    const li = el('li', { class: 'step', 'data-testid': 'step', 'data-state': 'pending' },
      el('span', { class: 'sid', text: step.id }), ' ',
      el('span', { class: 'tool', text: step.tool || '' }), ' ',
      el('span', { class: 'args', text: summarizeArgs(step.args), title: JSON.stringify(step.args ?? {}) }),
      step.depends_on?.length ? el('span', { class: 'after muted', text: ` after ${step.depends_on.join(', ')}` }) : null,
      state);
    this.stepList.append(li);
    const entry = { li, state };
    this.steps.set(step.id, entry);
    this.setStep(step.id, 'pending', {});
    return entry;
  }

  setStep(id, state, info) {
    const entry = this.steps.get(id) || this.addStep({ id, tool: info.tool });
    this.plan.hidden = false;
    entry.li.dataset.state = state;
    entry.state.textContent = typeof info.latency_ms === 'number' ? `${state} · ${fmtMs(info.latency_ms)}` : state;
    entry.li.querySelector('.step-error')?.remove();
    if (info.error) entry.li.append(el('span', { class: 'step-error', text: info.error }));
    this.updatePlanSummary();
  }

  updatePlanSummary() {
    const states = [...this.steps.values()].map((s) => s.li.dataset.state);
    const ended = states.filter((s) => s === 'ok' || s === 'failed' || s === 'skipped').length;
    const source = this.source ? ` (${this.source})` : '';
    this.planSummary.textContent = `Plan${source} · ${ended}/${states.length} steps done`;
  }

  appendToken(text) {
    if (typeof text === 'string') this.answer.append(text);
  }

  finish(result) {
    this.finished = true;
    if (result.plan?.steps && this.steps.size === 0) this.setPlan(result.plan);
    for (const step of result.steps || []) {
      if (step && step.id && step.status) this.setStep(step.id, step.status, step);
    }
    const citations = Array.isArray(result.citations) ? result.citations : [];
    renderAnswer(this.answer, String(result.answer ?? ''), citations);
    this.answer.classList.remove('streaming');
    this.answer.classList.toggle('unanswered', result.answered === false);
    this.answer.removeAttribute('aria-busy');
    this.answer.dataset.state = 'done';
    this.setMeta({ status: result.answered === false ? 'not found in the wiki' : '' });
    if (citations.length) this.extras.append(renderSources(citations));
    if (Array.isArray(result.notes) && result.notes.length) {
      this.extras.append(el('ul', { class: 'notes muted' }, ...result.notes.map((n) => el('li', { text: String(n) }))));
    }
    if (result.ledger) this.extras.append(renderLedger(result.ledger));
  }

  fail(message) {
    this.finished = true;
    this.answer.classList.remove('streaming');
    this.answer.removeAttribute('aria-busy');
    this.answer.dataset.state = 'failed';
    if (!this.answer.textContent) this.answer.hidden = true;
    this.setMeta({ status: '' });
    this.extras.append(el('p', { class: 'error', 'data-testid': 'error', role: 'alert', text: message }));
  }
}

/** Answer text with each known `[n]` (or `[1, 2]`) turned into a button that opens source n. */
function renderAnswer(node, text, citations) {
  const byN = new Map(citations.map((c) => [Number(c.n), c]));
  const parts = text.split(/(\[\d+(?:\s*,\s*\d+)*\])/);
  node.replaceChildren();
  for (let i = 0; i < parts.length; i += 1) {
    const ns = i % 2 ? parts[i].slice(1, -1).split(',').map((x) => Number(x.trim())) : null;
    if (!ns || !ns.every((n) => byN.has(n))) {
      if (parts[i]) node.append(parts[i]);
      continue;
    }
    // keep the markers and the punctuation after them on one line
    const group = el('span', { class: 'cites' }, ...ns.map((n) => citeButton(byN.get(n), `[${n}]`, 'cite')));
    const punct = /^[.,;:!?)]+/.exec(parts[i + 1] ?? '')?.[0];
    if (punct) {
      group.append(punct);
      parts[i + 1] = parts[i + 1].slice(punct.length);
    }
    node.append(group);
  }
}

function citeButton(citation, label, cls) {
  const name = citation.title || citation.source || `source ${citation.n}`;
  return el('button', {
    type: 'button', class: cls, 'data-testid': 'citation', 'data-n': citation.n,
    title: `Open source ${citation.n}: ${name}`, onclick: (e) => openPassage(citation, e.currentTarget),
  }, label);
}

function renderSources(citations) {
  const list = el('ol', { class: 'sources', 'aria-label': 'Sources' });
  for (const c of citations) {
    const label = el('span', { class: 'source-label' },
      el('span', { class: 'n', text: `[${c.n}]` }), ' ',
      el('span', { class: 'title', text: c.title || c.source || '' }),
      c.heading ? el('span', { class: 'heading muted', text: ` — ${prettyHeading(c.heading)}` }) : null,
      c.source ? el('span', { class: 'path muted', text: c.source }) : null);
    list.append(el('li', {}, citeButton(c, label, 'source')));
  }
  return list;
}

function prettyHeading(h) {
  return String(h).replace(/\s+>\s+/g, ' › ');
}

function renderLedger(ledger) {
  const entries = Array.isArray(ledger.entries) ? ledger.entries : [];
  const tokens = (ledger.tokens_in ?? 0) + (ledger.tokens_out ?? 0);
  const summary = el('summary', {
    text: `Ledger · ${fmtMs(ledger.wall_ms)} · ${fmtInt(tokens)} tokens · ${fmtUsd(ledger.total_cost_usd)}`
      + ` (API ${fmtUsd(ledger.api_equivalent_usd)})`,
  });
  // a second, smaller line in a cell keeps the table narrow enough for a phone
  const cell = (tag, [top, below]) => el(tag, {}, top, below ? el('small', { text: below }) : null);
  const row = (tag, cols) => el('tr', {}, ...cols.map((c) => cell(tag, c)));
  const table = el('table', {},
    el('thead', {}, row('th', [['Step', 'model'], ['Time'], ['Tokens', 'in / out'], ['Cost', 'API equiv.']])),
    el('tbody', {}, ...entries.map((e) => row('td', [
      [[e.step, e.role].filter(Boolean).join(' · '), `${e.model || ''}${e.local ? ' (local)' : ''}`],
      [fmtMs(e.latency_ms)],
      [`${fmtInt(e.tokens_in)} / ${fmtInt(e.tokens_out)}`],
      [fmtUsd(e.cost_usd), `API ${fmtUsd(e.api_equivalent_usd)}`],
    ]))),
    el('tfoot', {}, row('td', [
      ['Total'], [fmtMs(ledger.wall_ms)], [`${fmtInt(ledger.tokens_in)} / ${fmtInt(ledger.tokens_out)}`],
      [fmtUsd(ledger.total_cost_usd), `API ${fmtUsd(ledger.api_equivalent_usd)}`],
    ])));
  const scroller = el('div', { class: 'scroll', tabindex: 0, role: 'region', 'aria-label': 'Ledger table' }, table);
  return el('details', { class: 'ledger', 'data-testid': 'ledger' }, summary, scroller);
}

// --- the passage dialog ----------------------------------------------------------------------

let passageOpener = null;
function openPassage(c, opener) {
  passageOpener = opener;
  $('passage-title').textContent = `[${c.n}] ${c.title || c.source || 'Source'}`;
  $('passage-heading').textContent = c.heading ? prettyHeading(c.heading) : '';
  $('passage-source').textContent = c.source || '';
  $('passage-text').textContent = c.text || '(no passage text)';
  ui.dialog.showModal();
}
ui.dialog.addEventListener('close', () => passageOpener?.focus());
$('passage-close').addEventListener('click', () => ui.dialog.close());
// a click on the backdrop lands on the <dialog> itself; its content sits in inner elements
ui.dialog.addEventListener('click', (e) => { if (e.target === ui.dialog) ui.dialog.close(); });

// --- talking to the server -------------------------------------------------------------------

/** Yields {event, data} for each Server-Sent Events frame of a fetch() body. */
async function* sseEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    buf = (buf + decoder.decode(value, { stream: !done })).replace(/\r\n/g, '\n');
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const frame = parseFrame(buf.slice(0, end));
      buf = buf.slice(end + 2);
      if (frame) yield frame;
    }
    if (done) {
      const frame = parseFrame(buf);
      if (frame) yield frame;
      return;
    }
  }
}

function parseFrame(text) {
  let event = 'message';
  const data = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (!data.length) return null;
  try {
    return { event, data: JSON.parse(data.join('\n')) };
  } catch {
    return { event, data: data.join('\n') };
  }
}

async function errorMessage(res) {
  try {
    const body = await res.json();
    if (body?.error?.message) return body.error.message;
  } catch { /* not JSON */ }
  return `The server answered ${res.status} ${res.statusText}`.trim();
}

function onEvent(turn, name, data) {
  const follow = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 120;
  switch (name) {
    case 'route':
      turn.setMeta({ route: data.kind === 'plan' ? 'planned answer' : 'direct answer' });
      if (data.reason) turn.meta.title = data.reason;
      break;
    case 'status': turn.setMeta({ status: data.message ? `${data.message}…` : '' }); break;
    case 'plan': turn.setPlan(data); break;
    case 'step_started': turn.setStep(data.id, 'running', data); break;
    case 'step_finished': turn.setStep(data.id, data.status || 'ok', data); break;
    case 'token': turn.appendToken(data.text); break;
    case 'done':
      turn.finish(data);
      history.push({ question: turn.question, answer: String(data.answer ?? '') });
      ui.announce.textContent = 'Answer ready.';
      break;
    case 'error': turn.fail(data?.error?.message || 'The server reported an error.'); break;
    default: break; // events this page does not know yet are ignored
  }
  if (follow) window.scrollTo(0, document.documentElement.scrollHeight);
}

async function ask(question) {
  const turn = new Turn(question);
  ui.empty.hidden = true;
  ui.log.querySelector('[data-testid="answer"]')?.removeAttribute('data-testid');
  ui.log.append(turn.root);
  turn.setMeta({ status: 'sending…' });
  turn.root.scrollIntoView({ block: 'start' });

  const controller = new AbortController();
  inFlight = controller;
  ui.send.disabled = true;
  try {
    const headers = { 'Content-Type': 'application/json', Accept: 'text/event-stream' };
    if (memToken) headers.Authorization = `Bearer ${memToken}`;
    const res = await fetch('/api/ask/stream', {
      method: 'POST', headers, body: JSON.stringify({ question, history: history.slice(-HISTORY_SENT) }), signal: controller.signal,
    });
    if (res.status === 401) {
      // Not an answer: take the turn back, keep the question, and ask for a token once.
      turn.root.remove();
      ui.empty.hidden = ui.log.querySelector('.turn') !== null;
      if (!ui.question.value.trim()) ui.question.value = question;
      askForToken(memToken ? 'That token was not accepted; enter another one.' : 'This server needs an access token.');
      storeToken('');
      return;
    }
    if (!res.ok) {
      turn.fail(await errorMessage(res));
      return;
    }
    if ((res.headers.get('content-type') || '').includes('application/json')) {
      onEvent(turn, 'done', await res.json());
    } else {
      for await (const { event, data } of sseEvents(res.body)) {
        onEvent(turn, event, data);
        if (turn.finished) break;
      }
    }
    if (!turn.finished) turn.fail('The answer stream ended before the answer was complete.');
  } catch (err) {
    if (controller.signal.aborted) return;
    turn.fail(`Could not reach the server: ${err.message}`);
  } finally {
    if (inFlight === controller) {
      inFlight = null;
      ui.send.disabled = false;
    }
  }
}

function askForToken(reason) {
  ui.tokenLabel.textContent = `${reason} It is kept in this browser.`;
  ui.tokenForm.hidden = false;
  ui.tokenInput.value = '';
  ui.tokenInput.focus();
}

// --- wiring ----------------------------------------------------------------------------------

function submitQuestion() {
  const question = ui.question.value.trim();
  if (!question || inFlight) return;
  if (!ui.tokenForm.hidden) { ui.tokenInput.focus(); return; }
  ui.question.value = '';
  ask(question);
}

ui.ask.addEventListener('submit', (e) => { e.preventDefault(); submitQuestion(); });
ui.question.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    submitQuestion();
  }
});

ui.tokenForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const token = ui.tokenInput.value.trim();
  if (!token) return;
  storeToken(token);
  ui.tokenInput.value = '';
  ui.tokenForm.hidden = true;
  ui.question.focus();
  submitQuestion();
});

ui.newChat.addEventListener('click', () => {
  inFlight?.abort();
  inFlight = null;
  ui.send.disabled = false;
  history = [];
  ui.log.replaceChildren(ui.empty);
  ui.empty.hidden = false;
  ui.question.value = '';
  ui.announce.textContent = 'New chat.';
  ui.question.focus();
});

ui.question.focus();
