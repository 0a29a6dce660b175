// An app built by Vite that depends on the patched `--target web` demo as on any
// npm package: Vite must find and ship the pool's thread entry and the .wasm,
// and the runtime must work once bundled and minified (renamed classes
// included). The app is vite-app/, with no Vite config of its own: it is built
// with Vite's default worker format (iife) and with 'es', and served by Vite's
// dev server, each given only the two headers. Its copies go to build/browser-tests/.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, createServer } from 'vite';
import { serve } from './server.mjs';
import { launchBrowser, problems } from './browser.mjs';
import { RUNNER_PAGE } from './harness.mjs';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const APP = path.join(ROOT, 'build/browser-tests/vite-app');
const nodeDemo = createRequire(import.meta.url)('../../../build/pkg/wbg_demo.js');
// What the README's Vite config gives the dev server: the two headers, not server.mjs's third (CORP).
const HEADERS = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
// Vite's own settings only: where the app is, and quiet; and its cache of pre-bundled
// dependencies inside the app, which each run makes afresh. By default Vite keeps it in the
// node_modules of the nearest package.json (this repository's), where a dev server of a later
// run took the glue of an earlier build from it, beside the module of the new one.
const VITE = { root: APP, configFile: false, logLevel: 'error', cacheDir: path.join(APP, 'node_modules/.vite') };

let browser;
before(async () => {
  rmSync(APP, { recursive: true, force: true });
  cpSync(fileURLToPath(new URL('./vite-app/', import.meta.url)), APP, { recursive: true });
  cpSync(fileURLToPath(new URL('./scenarios/outcome.mjs', import.meta.url)), path.join(APP, 'outcome.mjs'));
  // The patched package as npm would install it, under the name the app imports.
  const pkg = path.join(APP, 'node_modules/wbg-demo');
  cpSync(path.join(ROOT, 'build/pkg-web'), pkg, { recursive: true });
  writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'wbg-demo', version: '0.0.0', type: 'module', main: 'wbg_demo.js' }));
  // firefox.mjs opens the app from a runner page of the app's origin: Vite serves (and
  // copies into a build) what public/ holds as it is.
  mkdirSync(path.join(APP, 'public'));
  writeFileSync(path.join(APP, 'public/__wbg-runner.html'), RUNNER_PAGE);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

// Opens the app at `url` and checks what its worker answers.
async function check(url) {
  const run = await browser.openPage(url, 'window.answer');
  const seen = `${JSON.stringify(run.outcome)}\nconsole: ${JSON.stringify(run.console)}\npage errors: ${JSON.stringify(run.pageErrors)}`;
  assert.ok('value' in run.outcome, seen);
  const answer = run.outcome.value;
  assert.equal(answer.failed, undefined, seen);
  const expected = String(nodeDemo.sum_squares(1000n));
  assert.deepEqual({ local: answer.local, pooled: answer.pooled }, { local: expected, pooled: expected }, seen);
  assert.equal(answer.threads, 2);
  assert.equal(answer.busyThreads, 2, 'both pool threads ran the broadcast');
  // A minified bundle renames the classes; the errors keep their names.
  assert.equal(answer.panic.name, 'WasmPanicError', seen);
  assert.equal(answer.panic.code, 'ERR_WASM_PANIC');
  assert.match(answer.panic.panicMessage, /panic in the second closure of join/);
  assert.equal(answer.afterPanic, '55');
  assert.equal(answer.stale.name, 'StaleObjectError', seen);
  assert.equal(answer.trap.name, 'WasmTrapError', seen);
  assert.equal(answer.trap.kind, 'memory_out_of_bounds', seen);
  assert.equal(answer.afterTrap, '55');
  assert.deepEqual(problems(run), [], seen);
}

for (const format of ['iife', 'es']) {
  test(`vite build (worker format ${format}): the bundled pool gives Node's results on two threads, typed panics and traps, stale objects, and goes on`, async () => {
    const outDir = path.join(APP, `dist-${format}`);
    await build({ ...VITE, worker: { format }, build: { outDir, emptyOutDir: true } });
    const assets = readdirSync(path.join(outDir, 'assets'));
    assert.ok(!readdirSync(outDir).includes('wbg-pool'), 'Vite bundled the runtime: no wbg-pool/ directory is served');
    assert.ok(assets.some((name) => /^thread-.*\.js$/.test(name)), `Vite shipped the thread entry as a worker chunk: ${assets}`);
    // The test server answers / with a page of its own unless told: here, the app's.
    const server = await serve(outDir, { pages: { '/index.html': readFileSync(path.join(outDir, 'index.html'), 'utf8') } });
    try {
      await check(server.url);
    } finally {
      await server.close();
    }
  });
}

test("vite's dev server, given only the two headers: the same", async () => {
  const server = await createServer({ ...VITE, server: { host: '127.0.0.1', port: 0, headers: HEADERS } });
  await server.listen();
  try {
    await check(server.resolvedUrls.local[0]);
  } finally {
    await server.close();
  }
});
