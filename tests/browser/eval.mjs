// Drives skiff's /eval page in Debian's chromium: it asks for the token (the report's data is
// token-protected), then shows the headline, the chart (an SVG image that must decode) and one
// table row per question.
//
//   node tests/browser/eval.mjs --url http://127.0.0.1:PORT/eval --token TOKEN --rows N \
//     --screenshot /path/out.png
//
// Prints one JSON line and exits 0; on failure (or a console error in the page) exits 1.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    token: { type: 'string' },
    rows: { type: 'string' },
    screenshot: { type: 'string' },
  },
});
for (const key of ['url', 'token', 'rows', 'screenshot']) {
  if (!opts[key]) {
    console.error(`usage: eval.mjs --url URL --token TOKEN --rows N --screenshot OUT.png\nmissing --${key}`);
    process.exit(2);
  }
}
const nodeModules = process.env.SKIFF_NODE_MODULES || '/var/tmp/skiff-peers/node/node_modules';
const { chromium } = createRequire(`${path.resolve(nodeModules)}/`)('playwright-core');
const errors = [];

async function drive(page) {
  await page.goto(opts.url, { waitUntil: 'load' });
  const input = page.locator('#token-input');
  await input.waitFor({ state: 'visible' });
  await input.fill(opts.token);
  await input.press('Enter');
  await page.locator('#report').waitFor({ state: 'visible' });
  const headline = (await page.locator('#headline').innerText()).trim();
  const chart = await page.locator('#chart').evaluate(async (img) => {
    await img.decode();
    return { width: img.naturalWidth, height: img.naturalHeight };
  });
  const rows = await page.locator('#scores tbody tr').count();
  const groups = await page.locator('#groups tbody tr').count();
  if (rows !== Number(opts.rows)) throw new Error(`${rows} question rows, expected ${opts.rows}`);
  if (!chart.width) throw new Error('the chart did not decode');
  await page.screenshot({ path: opts.screenshot, fullPage: true });
  return { headline, chart, rows, groups };
}

async function main() {
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'skiff-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.SKIFF_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1000, height: 900 },
    });
    const page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(30_000);
    page.on('console', (msg) => {
      const noise = /status of 401/.test(msg.text()) || /favicon/.test(msg.location().url || '');
      if (msg.type() === 'error' && !noise) errors.push(`console: ${msg.text()}`);
    });
    page.on('pageerror', (err) => errors.push(`uncaught: ${err.message}`));
    const summary = await drive(page);
    if (errors.length) throw new Error(`the page logged errors:\n${errors.join('\n')}`);
    console.log(JSON.stringify(summary));
    return 0;
  } catch (err) {
    console.error(`eval.mjs: ${err.message}`);
    return 1;
  } finally {
    await context?.close().catch(() => {});
    rmSync(userDataDir, { recursive: true, force: true });
  }
}

process.exit(await main());
