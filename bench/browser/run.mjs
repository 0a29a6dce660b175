// One process of `make bench`: the browser rows, in headless Chromium or Firefox
// (WBG_BROWSER, as for the browser tests) from a server of the repository with the
// COOP/COEP headers (the browser tests' server.mjs and browser.mjs). bench/run.cjs
// starts it free and pinned to one core (taskset -c 0: the browser's processes
// inherit it). Prints JSON on stdout.
//   [WBG_BROWSER=firefox] node bench/browser/run.mjs
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { serve } from '../../runtime_js/test/browser/server.mjs';
import { launchBrowser } from '../../runtime_js/test/browser/browser.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// The bench's timing helper, as the ES module a page can import.
const TIMING = `const module = { exports: {} };\n{\n${fs.readFileSync(new URL('../timing.cjs', import.meta.url), 'utf8')}\n}\nexport const { perCall } = module.exports;\n`;

const server = await serve(ROOT, { pages: { '/bench/timing.mjs': TIMING } });
const browser = await launchBrowser();

async function step(name, { worker = true, ...query } = {}) {
  const url = new URL(`bench/browser/scenario.mjs?${new URLSearchParams({ step: name, ...query })}`, server.url).href;
  const { outcome, console: logged, pageErrors } = await browser.runModule(url, { worker, timeoutMs: 300_000 });
  if (!('value' in outcome)) throw new Error(`bench/browser ${name}: ${JSON.stringify(outcome)}\nconsole: ${JSON.stringify(logged)}\npage errors: ${JSON.stringify(pageErrors)}`);
  return outcome.value;
}

try {
  const result = {
    noop: await step('noop'),
    abort: await step('panics', { pkg: 'pkg-web' }),
    unwind: await step('panics', { pkg: 'pkg-unwind-web' }),
    deadlock: await step('deadlock'),
    collatz: await step('collatz'),
    poolStart: await step('poolStart'),
    frames: await step('frames', { worker: false }),
    spin: await step('spin', { worker: false }),
  };
  process.stdout.write(JSON.stringify(result));
} finally {
  await Promise.all([browser.close(), server.close()]);
}
