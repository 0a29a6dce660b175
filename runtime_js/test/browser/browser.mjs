// Headless Chromium for the browser tests, and one way to run a module there:
// on a page's main thread or in a module Web Worker, with a hang reported as
// an outcome of its own (the tests compare a package that hangs with one that
// rejects, so "no answer" must not look like a crash or an error).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

// Debian's chromium (scripts/setup.sh installs it): Playwright's own browser
// download does not work here.
const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox', // we run as root, where Chromium's sandbox refuses to start
  // No GPU in CI, and no traffic of the browser's own (first-run pages,
  // component updates, sync) to slow a test or reach the network.
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Starts Chromium on a fresh profile (Playwright refuses --user-data-dir in
// args; a persistent context in a temporary directory is the way to pick it).
export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh, which installs Debian's chromium`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wbg-chromium-'));
  const removeProfile = () => fs.rmSync(profile, { recursive: true, force: true });
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, { headless: true, executablePath: CHROMIUM, args: ARGS });
  } catch (error) {
    removeProfile();
    throw error;
  }
  return {
    context,
    newPage: () => context.newPage(),
    close: async () => {
      await context.close();
      removeProfile();
    },
  };
}

// Keeps what `page` writes to its console (its workers' included) and the
// errors nothing caught, as they come: tests assert on both.
export function recordConsole(page) {
  const record = { console: [], pageErrors: [] };
  page.on('console', (message) => record.console.push({ type: message.type(), text: message.text() }));
  page.on('pageerror', (error) => record.pageErrors.push({ name: error.name, message: error.message }));
  return record;
}

// Runs the ES module at `url` in a fresh page of `browser` (from launchBrowser),
// served by server.mjs: the module's default export, an (async) function, is
// called on the page's main thread, or with `worker: true` in a module Web
// Worker that imports the module and posts the answer back. Resolves to
//   { outcome, console, pageErrors }
// where outcome is { value } (what the function returned), { error: { name,
// message, code? } } (it threw, or the module failed to load) or { hang: 'no
// answer within N ms' }. The page is closed at the end: a hung main thread
// leaves it useless for any later run.
export async function runModule(browser, url, { worker = false, timeoutMs = 10_000 } = {}) {
  const page = await browser.newPage();
  const record = recordConsole(page);
  try {
    await page.goto(new URL('/', url).href);
    const answer = page.evaluate(worker ? inWorker(url) : onPage(url));
    // Swallowed: after a hang the page closes under the pending evaluate.
    answer.catch(() => {});
    return { outcome: await within(answer, timeoutMs), ...record };
  } finally {
    await page.close();
  }
}

function within(promise, ms) {
  let timer;
  const hang = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ hang: `no answer within ${ms} ms` }), ms);
  });
  return Promise.race([promise, hang]).finally(() => clearTimeout(timer));
}

// Runs in the browser: the page and the worker get its source. Answers
// { value } or { error }, with an error's own `code` kept: structured clone
// and Playwright would drop it and call every class they do not know "Error".
// The value is cloned here so that one that cannot cross to the test (a
// function, say) is a DataCloneError in both places, not undefined on a page
// and an uncaught error in a worker.
async function settle(url) {
  try {
    const run = (await import(url)).default;
    return { value: structuredClone(await run()) };
  } catch (e) {
    const error = { name: e?.name ?? typeof e, message: e?.message ?? String(e) };
    if (e?.code !== undefined) error.code = e.code;
    return { error };
  }
}

const onPage = (url) => `(${settle})(${JSON.stringify(url)})`;

// The worker is a module Worker made from a blob: it imports the module by its
// absolute URL, so the module resolves its own imports (the glue, its .wasm)
// against the server. An 'error' event before the answer is an error nothing
// caught in the worker, or a worker that could not start.
// (A string: Worker and Blob are browser globals.)
const inWorker = (url) => `new Promise((resolve) => {
  const source = ${JSON.stringify(`${settle}\npostMessage(await settle(${JSON.stringify(url)}));`)};
  const worker = new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })), { type: 'module' });
  worker.onmessage = (event) => resolve(event.data);
  worker.onerror = (event) => resolve({ error: { name: 'WorkerError', message: event.message ?? 'the worker failed to start' } });
})`;
