// The /eval page: the latest `skiff eval --out` report, fetched with the same token as the chat.
'use strict';

const TOKEN_KEY = 'skiff.token';
const $ = (id) => document.getElementById(id);

function token() {
  try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    const td = document.createElement('td');
    td.textContent = String(c);
    tr.append(td);
  }
  return tr;
}

const secs = (ms) => (ms / 1000).toFixed(1);

async function load() {
  const headers = {};
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let res;
  try {
    res = await fetch('/api/eval', { headers });
  } catch (e) {
    $('status').textContent = `Cannot reach the server: ${e}`;
    return;
  }
  if (res.status === 401) {
    $('status').textContent = 'Sign in to see the report.';
    $('token-form').hidden = false;
    return;
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    $('status').textContent = body.error?.message || `The server answered ${res.status}.`;
    return;
  }
  const r = body.report;
  const s = r.summary;
  $('status').hidden = true;
  $('report').hidden = false;
  const when = new Date(r.written_at * 1000).toLocaleString();
  $('headline').textContent =
    `${s.correct}/${s.questions} correct (${(s.accuracy * 100).toFixed(1)}%) on ${r.file}, ` +
    `${when}${r.complete ? '' : ' (still running)'}. Retrieval recall ${s.retrieval_recall.toFixed(2)}, ` +
    `cited-source recall ${s.source_recall.toFixed(2)}, citation precision ${s.citation_precision.toFixed(2)}, ` +
    `refusals ${s.refusals}/${s.unanswerable}, errors ${s.errors}.`;
  $('chart').src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(body.chart_svg);
  const groups = $('groups').querySelector('tbody');
  for (const g of [...s.by_kind, ...s.by_route]) {
    groups.append(row([g.name, `${g.correct}/${g.total}`, secs(g.latency_p50_ms),
      secs(g.latency_p95_ms), g.tokens, g.cost_usd.toFixed(4)]));
  }
  const scores = $('scores').querySelector('tbody');
  for (const q of r.scores) {
    scores.append(row([q.id, q.kind, q.route, q.correct ? 'ok' : 'miss',
      secs(q.latency_ms), (q.missing || []).join(', ')]));
  }
}

$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  try { localStorage.setItem(TOKEN_KEY, $('token-input').value.trim()); } catch { /* private mode */ }
  $('token-form').hidden = true;
  load();
});

load();
