// Shared by the runtime tests: the built package under test and a few probes.
// WBG_PKG names the package (default build/pkg, the CommonJS one): the same
// tests run against the package of every module format (Makefile, test-js).
import fs from 'node:fs';
import test from 'node:test';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { withSplitSetting } from './split-setting.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const PKG = path.resolve(ROOT, process.env.WBG_PKG ?? 'build/pkg');
const ENTRY = ['wbg-pool-manager.cjs', 'wbg-pool-manager.mjs'].map((name) => path.join(PKG, name)).find((p) => fs.existsSync(p));
if (ENTRY === undefined) throw new Error(`${PKG} is not built: run \`make build\` first`);

// An ES-module snippet that loads the package as its users do, for child
// processes (node --input-type=module -e): it defines `runtime` and `demo`.
// Glue of --target web does not initialise itself: the snippet does, as a user would.
export const LOAD_PACKAGE = `
const { withSplitSetting } = await import(${JSON.stringify(new URL('./split-setting.mjs', import.meta.url).href)});
const runtime = withSplitSetting(await import(${JSON.stringify(pathToFileURL(ENTRY).href)}));
const demo = await import(${JSON.stringify(pathToFileURL(path.join(PKG, 'wbg_demo.js')).href)});
if (demo.__wbg_pool.raw() === undefined) {
  demo.initSync({ module: (await import('node:fs')).readFileSync(${JSON.stringify(path.join(PKG, 'wbg_demo_bg.wasm'))}) });
}
`;

export const runtime = withSplitSetting(await import(pathToFileURL(ENTRY).href));

// A file of the package's runtime by its path in runtime_js/ ('./protocol.cjs'): the same
// instance the package runs, from its wbg-pool/ files or its ES-module build (--target web).
const ESM_BUILD = path.join(PKG, 'wbg-pool', 'runtime.mjs');
export const runtimeModule = fs.existsSync(ESM_BUILD)
  ? (await import(pathToFileURL(ESM_BUILD).href)).runtime.require
  : createRequire(path.join(PKG, 'wbg-pool', 'manager.cjs'));
export const demo = await import(pathToFileURL(path.join(PKG, 'wbg_demo.js')).href);
if (demo.__wbg_pool.raw() === undefined) demo.initSync({ module: fs.readFileSync(path.join(PKG, 'wbg_demo_bg.wasm')) });

// Whether the package is a panic=unwind build: there a panic rejects only its call
// (the pool, the memory and every object stay), where a panic=abort build resets.
export const UNWINDS = demo.__wbg_pool.unwinds === true;

// How late an outcome driven by a time limit (a call timeout, a deadlock
// noticed) may come after it: room for a machine three times slower than this
// one, busy with other test files (node --test runs them side by side). The
// wrong outcome is a hang or a later, other limit, so tests need no tighter
// bound; how fast it really is, `make bench` measures.
export const LATE_MS = 1000;

// The engine's gc(), without --expose-gc on the command line: a test that
// checks what is freed must collect for sure (global.gc is undefined otherwise).
export function exposedGc() {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc');
}

// Collects garbage until done() holds, `rounds` times at the most. Each round
// yields a turn first: a value deref() returned stays alive until the current
// job ends, and finalizers run in a later task.
export async function collectUntil(done, rounds = 50) {
  const gc = exposedGc();
  for (let i = 0; i < rounds && !done(); i++) {
    await new Promise((r) => setTimeout(r, 10));
    gc();
  }
}

// OS threads of this process: each Node worker is one, so a leaked worker shows.
export function threadCount() {
  return fs.readdirSync('/proc/self/task').length;
}

export async function waitFor(predicate, timeoutMs, what) {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// Every pool thread and the host are gone once the thread count is back.
export async function assertNoWorkersLeft(baseline) {
  await waitFor(() => threadCount() <= baseline, 3000, `threads to drop back to ${baseline} (now ${threadCount()})`);
}

// The messages of the process warnings with `code` emitted while `fn` runs.
export async function warningsDuring(code, fn) {
  const warnings = [];
  const listener = (w) => w.code === code && warnings.push(w.message);
  process.on('warning', listener);
  try {
    await fn();
    await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
  } finally {
    process.off('warning', listener);
  }
  return warnings;
}

// The task module of the manager.run() tests (it loads the package under test).
export const DEMO_TASKS = path.join(ROOT, 'runtime_js/test/fixtures/demo-tasks.mjs');

// Returns make(options): a manager (`defaults` under `options`) that is closed
// after the test, also when it fails: the next test needs its own.
export function managerPerTest(defaults = {}) {
  const made = [];
  test.afterEach(async () => {
    while (made.length > 0) await made.pop().close();
  });
  return (options) => {
    const manager = new runtime.ThreadPoolManager({ ...defaults, ...options });
    made.push(manager);
    return manager;
  };
}
export { SPLIT_CALLS } from './split-setting.mjs';
