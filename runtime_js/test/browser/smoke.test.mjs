// The browser test infrastructure works: headless Chromium loads the
// unpatched `--target web` package from our server, on a page's main thread
// and in a module Web Worker, the isolation headers do what they should, and a
// run that never answers comes back as a hang, not as a failure of the test.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { serve } from './server.mjs';
import { launchBrowser } from './browser.mjs';

const PKG = fileURLToPath(new URL('../../../build/pkg-web-unpatched/', import.meta.url));
if (!fs.existsSync(`${PKG}wbg_demo.js`)) throw new Error(`${PKG} is not built: run \`make build\` first`);

// Modules the tests run, next to the package so that './wbg_demo.js' is its glue.
const PAGES = {
  '/sum.mjs': `import init, { sum_range } from './wbg_demo.js';
export default async () => {
  await init();
  return { isolated: crossOriginIsolated, sum: sum_range(1n, 11n) };
};`,
  '/globals.mjs': `export default () => ({ isolated: crossOriginIsolated, sharedArrayBuffer: typeof SharedArrayBuffer });`,
  '/never.mjs': `export default () => new Promise(() => {});`,
};

// One at a time, not Promise.all: when the launch fails, the servers already
// started must be in their variables for after() to close.
let browser, isolated, plain;
before(async () => {
  isolated = await serve(PKG, { pages: PAGES });
  plain = await serve(PKG, { pages: PAGES, isolated: false });
  browser = await launchBrowser();
});
after(() => Promise.all([browser?.close(), isolated?.close(), plain?.close()]));

test('on the main thread of an isolated page, the package loads and computes', async () => {
  const run = await browser.runModule(`${isolated.url}sum.mjs`);
  assert.deepEqual(run.outcome, { value: { isolated: true, sum: 55n } });
  assert.deepEqual(run.pageErrors, []);
  assert.deepEqual(run.console.filter((m) => m.type === 'error'), []);
});

test('in a module Web Worker of an isolated page, the package loads and computes', async () => {
  const run = await browser.runModule(`${isolated.url}sum.mjs`, { worker: true });
  assert.deepEqual(run.outcome, { value: { isolated: true, sum: 55n } });
  assert.deepEqual(run.pageErrors, []);
});

test('a page served without COOP/COEP is not isolated and has no SharedArrayBuffer', async () => {
  const run = await browser.runModule(`${plain.url}globals.mjs`);
  assert.deepEqual(run.outcome, { value: { isolated: false, sharedArrayBuffer: 'undefined' } });
});

test('a worker that never answers is reported as a hang', async () => {
  const run = await browser.runModule(`${isolated.url}never.mjs`, { worker: true, timeoutMs: 1500 });
  assert.deepEqual(run.outcome, { hang: 'no answer within 1500 ms' });
});
