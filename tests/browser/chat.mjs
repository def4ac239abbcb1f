// Drives skiff's chat page (GET /) in Debian's chromium at phone width, the way a person would:
// ask without a token, give the token when the page asks, watch the plan run and the answer
// stream, open the first citation's passage, unfold the ledger, and take a screenshot.
//
//   node tests/browser/chat.mjs --url http://127.0.0.1:PORT/ --token TOKEN --question "..." \
//     --screenshot /path/out.png [--timeout-ms 600000]
//
// Prints one JSON line on success and exits 0. On failure (or any console error / uncaught
// exception in the page) it saves PATH.fail.png, reports on stderr and exits 1.
// Needs scripts/fetch-browser.sh: chromium from env SKIFF_CHROMIUM (default /usr/bin/chromium),
// playwright-core from env SKIFF_NODE_MODULES (default /var/tmp/skiff-peers/node/node_modules).
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    token: { type: 'string' },
    question: { type: 'string' },
    screenshot: { type: 'string' },
    'timeout-ms': { type: 'string', default: '600000' },
  },
});
for (const key of ['url', 'question', 'screenshot']) {
  if (!opts[key]) {
    console.error(`usage: chat.mjs --url URL [--token TOKEN] --question TEXT --screenshot OUT.png [--timeout-ms N]\nmissing --${key}`);
    process.exit(2);
  }
}
const answerTimeout = Number(opts['timeout-ms']);
const uiTimeout = 30_000;

const nodeModules = process.env.SKIFF_NODE_MODULES || '/var/tmp/skiff-peers/node/node_modules';
const { chromium } = createRequire(`${path.resolve(nodeModules)}/`)('playwright-core');

// chromium logs two failed loads that are no fault of the page: the 401 it is meant to get
// before it has a token, and a 404 for /favicon.ico should it ask for one despite the page's icon
function expectedNoise(msg) {
  const status = /^Failed to load resource: the server responded with a status of (\d+)/.exec(msg.text())?.[1];
  const { pathname } = new URL(msg.location().url || 'about:blank');
  return (status === '401' && pathname.startsWith('/api/')) || (status === '404' && pathname === '/favicon.ico');
}
const consoleErrors = [];

const tid = (id) => `[data-testid="${id}"]`;

async function drive(page) {
  await page.goto(opts.url, { waitUntil: 'load' });
  const question = page.locator(tid('question'));
  await question.fill(opts.question);
  await question.press('Enter');

  if (opts.token) {
    // no token yet: the server answers 401 and the page asks for one, then sends the question
    const tokenInput = page.locator(tid('token-input'));
    await tokenInput.waitFor({ state: 'visible' });
    await tokenInput.fill(opts.token);
    await tokenInput.press('Enter');
    await tokenInput.waitFor({ state: 'hidden' });
  }

  // one wait for the end, so an error event fails the run at once instead of at the timeout
  const answer = page.locator(tid('answer'));
  const outcome = await page.waitForFunction(() => {
    const a = document.querySelector('[data-testid="answer"]');
    const failed = document.querySelector('[data-testid="error"]');
    if (failed) return { error: failed.textContent };
    return a && a.dataset.state === 'done' ? { done: true } : null;
  }, null, { timeout: answerTimeout, polling: 250 });
  const result = await outcome.jsonValue();
  if (result.error) throw new Error(`the page shows an error: ${result.error}`);
  const answerText = (await answer.innerText()).trim();
  if (!answerText) throw new Error('the answer is empty after done');
  const steps = await page.locator(tid('step')).count();
  const stepsOk = await page.locator(`${tid('step')}[data-state="ok"]`).count();
  if (stepsOk === 0) throw new Error(`none of the ${steps} plan steps reached ok`);

  const citations = page.locator(tid('citation'));
  if ((await citations.count()) === 0) throw new Error('the answer has no citations');
  const distinct = await citations.evaluateAll((els) => new Set(els.map((e) => e.dataset.n)).size);

  await citations.first().click();
  const passage = page.locator(tid('passage'));
  await passage.waitFor({ state: 'visible' });
  const passageText = (await page.locator(tid('passage-text')).innerText()).trim();
  if (!passageText) throw new Error('the passage view is empty');
  await page.keyboard.press('Escape');
  await passage.waitFor({ state: 'hidden' });

  const ledger = page.locator(tid('ledger')).last();
  await ledger.locator('summary').click();
  if (!(await ledger.evaluate((d) => d.open))) throw new Error('the ledger did not unfold');
  const ledgerRows = await ledger.locator('tbody tr').count();

  const summary = {
    steps,
    steps_ok: stepsOk,
    answer: answerText,
    citations: distinct,
    passage: passageText.slice(0, 200),
    ledger_rows: ledgerRows,
  };
  await fullScreenshot(page, opts.screenshot);
  return summary;
}

/** The whole page at phone width. A viewport as tall as the page keeps the sticky header and
 * composer where a reader sees them, which a `fullPage` capture of a scrolled page does not. */
async function fullScreenshot(page, file) {
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: 390, height: Math.min(Math.max(height, 844), 16000) });
  await page.screenshot({ path: file });
}

async function main() {
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'skiff-chromium-'));
  let context;
  let page;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.SKIFF_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 390, height: 844 },
    });
    page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(uiTimeout);
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !expectedNoise(msg)) consoleErrors.push(`console: ${msg.text()} (${msg.location().url})`);
    });
    page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err.message}`));

    const summary = await drive(page);
    if (consoleErrors.length) throw new Error('the page logged errors');
    console.log(JSON.stringify(summary));
    return 0;
  } catch (err) {
    console.error(`chat.mjs: ${err.message}`);
    for (const line of consoleErrors) console.error(`  ${line}`);
    if (page) {
      const failShot = opts.screenshot.replace(/(\.png)?$/i, '.fail.png');
      await fullScreenshot(page, failShot).then(
        () => console.error(`  screenshot: ${failShot}`),
        (e) => console.error(`  no screenshot: ${e.message}`),
      );
    }
    return 1;
  } finally {
    await context?.close().catch(() => {});
    rmSync(userDataDir, { recursive: true, force: true });
  }
}

process.exit(await main());
