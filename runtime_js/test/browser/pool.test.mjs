// The patched `--target web` packages in headless Chromium: the demo (abort and
// unwind builds) from a module Worker and from the page's main thread, a page
// without the COOP/COEP headers, and a crate on wasm-bindgen-rayon beside its
// unpatched build, which hangs where the patched one rejects typed.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from './server.mjs';
import { BROWSER, launchBrowser, problems } from './browser.mjs';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
// Node's answer, from the CommonJS build of the same crate, on its own instance.
const nodeDemo = createRequire(import.meta.url)('../../../build/pkg/wbg_demo.js');

let browser, isolated, plain;
before(async () => {
  [browser, isolated, plain] = await Promise.all([launchBrowser(), serve(ROOT), serve(ROOT, { isolated: false })]);
});
after(async () => {
  await Promise.all([browser?.close(), isolated?.close(), plain?.close()]);
});

// Runs one step of a scenario (scenarios/demo.mjs unless told) against `pkg`; its value, or the
// test fails with what came instead. `warnings`: what the console may say that the scenario causes.
async function step(pkg, name, { worker = true, server = isolated, scenario = 'demo', timeoutMs = 30_000, prefs, warnings = null } = {}) {
  const url = new URL(`runtime_js/test/browser/scenarios/${scenario}.mjs?pkg=${pkg}&step=${name}`, server.url).href;
  const { outcome, console, pageErrors } = await browser.runModule(url, { worker, timeoutMs, prefs });
  const seen = `${pkg} ${name}: ${JSON.stringify(outcome)}\nconsole: ${JSON.stringify(console)}\npage errors: ${JSON.stringify(pageErrors)}`;
  assert.ok('value' in outcome, seen);
  // Every failure is answered typed, and close() ends every thread cleanly: nothing
  // is left for the console (a thread that crashed while stopping would warn here).
  const unexpected = problems({ console, pageErrors }).filter((p) => warnings === null || !warnings.test(p.text ?? ''));
  assert.deepEqual(unexpected, [], seen);
  return outcome.value;
}

for (const pkg of ['pkg-web', 'pkg-unwind-web']) {
  test(`${pkg}, in a module Worker: the pool's results equal Node's, from two threads`, async () => {
    const value = await step(pkg, 'results');
    const expected = String(nodeDemo.sum_squares(1000n));
    assert.deepEqual({ local: value.local, pooled: value.pooled }, { local: expected, pooled: expected });
    assert.equal(value.threads, 2);
    assert.equal(value.busyThreads, 2, 'both pool threads ran the broadcast');
  });

  test(`${pkg}, in a module Worker: a pool thread's panic rejects with WasmPanicError, and the next call works`, async () => {
    const { error, next, old, unwinds } = await step(pkg, 'panic');
    assert.equal(unwinds, pkg === 'pkg-unwind-web');
    assert.equal(error.name, 'WasmPanicError');
    assert.equal(error.code, 'ERR_WASM_PANIC');
    assert.match(error.panicMessage, /panic in the second closure of join/);
    assert.ok(error.threadIndex === 0 || error.threadIndex === 1, JSON.stringify(error));
    assert.match(error.file, /demo\/src\/lib\.rs$/);
    assert.ok(error.line > 0 && error.column > 0, JSON.stringify(error));
    assert.equal(next, '55');
    if (unwinds) {
      assert.equal(old, null, 'an unwind build keeps every object across a panic');
    } else {
      assert.equal(old?.name, 'StaleObjectError', 'an abort build resets the memory: objects made before are stale');
      assert.equal(old.code, 'ERR_STALE_OBJECT');
    }
  });

  test(`${pkg}, in a module Worker: a trap rejects with WasmTrapError, and the next call works`, async () => {
    const { error, next } = await step(pkg, 'trap');
    assert.equal(error.name, 'WasmTrapError');
    assert.equal(error.code, 'ERR_WASM_TRAP');
    assert.equal(next, '55');
  });

  test(`${pkg}, in a module Worker: an argument of the wrong type is the caller's TypeError, and nothing is reset`, async () => {
    const { outside, inside, local, pooled } = await step(pkg, 'wrongArgument');
    for (const error of [outside, inside]) {
      assert.equal(error?.name, 'TypeError', JSON.stringify({ outside, inside }));
      assert.match(error.message, /BigInt/);
    }
    assert.equal(local, 0, 'the object made before on the own instance still works');
    assert.equal(pooled, 0, 'the object made before in the pool still works');
  });

  test(`${pkg}, in a module Worker: a spinning pool ends with CallTimeoutError, and the next call works`, async () => {
    const { error, next } = await step(pkg, 'spin');
    assert.equal(error.name, 'CallTimeoutError');
    assert.equal(error.code, 'ERR_CALL_TIMEOUT');
    assert.equal(next, '55');
  });

  test(`${pkg}, in a module Worker: a deadlock rejects with HeartbeatTimeoutError, a busy pool is not taken for one, and the next call works`, async () => {
    const { busyThreads, error, afterMs, next } = await step(pkg, 'deadlock');
    assert.equal(busyThreads, 2, 'both pool threads ran 1.5 s, three heartbeat timeouts, untouched');
    assert.equal(error?.name, 'HeartbeatTimeoutError', JSON.stringify(error));
    assert.equal(error.code, 'ERR_HEARTBEAT_TIMEOUT');
    assert.ok(afterMs >= 500, `not before the heartbeat timeout: ${afterMs} ms`);
    assert.equal(next, '55');
  });

  test(`${pkg}, in a module Worker: a pool with no room to start in (the memory full) is a typed start error, and the next call works`, async () => {
    const { takenKib, error, next } = await step(pkg, 'memoryFull');
    assert.ok(takenKib > 1000 * 1024, `the app holds over 1000 of the memory's 1024 MiB: ${takenKib} KiB`);
    assert.equal(error?.name, 'PoolStartError', JSON.stringify(error));
    assert.match(error.message, /ran out of wasm memory as it started: .* holds 1024 MiB/);
    assert.deepEqual([error.cause.name, error.cause.kind], ['WasmTrapError', 'out_of_memory']);
    assert.equal(next, '55');
  });

  test(`${pkg}, in a module Worker: every pool thread's logs reach onLog`, async () => {
    const entries = await step(pkg, 'logs');
    for (const thread of [0, 1]) {
      for (const line of [0, 1]) {
        assert.ok(
          entries.some((e) => e.threadIndex === thread && e.level === 'info' && e.message === `thread ${thread} line ${line}`),
          `thread ${thread} line ${line} in ${JSON.stringify(entries)}`,
        );
      }
    }
  });
}

test("on the page's main thread, execute() is refused typed: it would block the page", async () => {
  const { error } = await step('pkg-web', 'firstCall', { worker: false });
  assert.equal(error.code, 'ERR_WOULD_BLOCK');
  assert.match(error.message, /module Worker/);
});

test("on the page's main thread, run() calls the pool without blocking the page: results, a typed panic, the next task", async () => {
  const value = await step('pkg-web', 'runOnThePage', { worker: false });
  const expected = String(nodeDemo.sum_squares(1000n));
  assert.deepEqual({ local: value.local, sum: value.sum, threads: value.threads }, { local: expected, sum: expected, threads: 2 });
  assert.equal(value.busyThreads, 2);
  assert.equal(value.relativeUrl.name, 'TypeError');
  assert.match(value.relativeUrl.message, /run\(filename\): filename must be an absolute URL .*got \.\/demo-task\.mjs/);
  // The job held both pool threads for 1.5 s; the page's timers went on meanwhile. (Had
  // the job run on the page's thread, one gap would be the whole job.)
  assert.ok(value.jobMs >= 1500, JSON.stringify(value));
  assert.ok(value.longestGapMs < 750, `the page stalled ${value.longestGapMs} ms during a ${value.jobMs} ms job`);
  assert.equal(value.error.name, 'WasmPanicError');
  assert.match(value.error.panicMessage, /panic in the second closure of join/);
  assert.equal(value.next, '285');
});

test("on the page's main thread with spinOnPage, execute() spins instead: results, a typed panic, a deadlock ended by callTimeoutMs, the next call", async () => {
  const value = await step('pkg-web', 'spinOnThePage', { worker: false });
  for (const refused of [value.noTimeout, value.noTimeoutForTheCall]) {
    assert.equal(refused?.name, 'RangeError', JSON.stringify(value));
    assert.match(refused.message, /spinOnPage on a page's main thread needs a finite (options\.)?callTimeoutMs/);
  }
  assert.equal(value.deadlock?.name, 'CallTimeoutError', JSON.stringify(value));
  assert.equal(value.afterDeadlock, '55');
  assert.equal(value.sum, String(nodeDemo.sum_squares(1000n)));
  assert.equal(value.threads, 2);
  assert.equal(value.busyThreads, 2);
  assert.equal(value.error.name, 'WasmPanicError');
  assert.match(value.error.panicMessage, /panic in the second closure of join/);
  assert.equal(value.next, '55');
});

test("on the page's main thread, a wasm-bindgen-rayon export that waits for the pool, called outside execute() while the pool runs: refused typed, or with spinOnPage served by the host", async () => {
  // Nothing on the console but the resets the runtime warns of: each close() of Rayon's global
  // pool (it cannot exit), and the panic of a call outside execute(), which no execute() rejected.
  const value = await step('pkg-wasm-bindgen-rayon-web', 'x', { worker: false, scenario: 'rayon-page', warnings: /\[WBG_POOL_RESET\]$/ });
  const seen = JSON.stringify(value);
  const { refuse, spin } = value;
  for (const { pooled, local } of [refuse, spin]) assert.deepEqual({ pooled, local }, { pooled: 328350, local: 6 }, seen);
  assert.equal(refuse.outside.error?.code, 'ERR_WOULD_BLOCK', seen);
  assert.match(refuse.outside.error.message, /sum_of_squares\(\), called outside execute\(\) while the pool runs, waits for the pool's threads/);
  assert.deepEqual(spin.outside, { value: 328350 }, seen);
  assert.equal(spin.panic?.name, 'WasmPanicError', seen);
  assert.equal(spin.next, 328350);
});

test('a thread script that cannot load (moved by a bundler, a 404) is a typed start error naming its URL', async () => {
  // pkg-web without its thread entry, as a bundler that did not see it would leave it.
  const copy = path.join(ROOT, 'build/browser-tests/pkg-web-no-thread');
  rmSync(copy, { recursive: true, force: true });
  cpSync(path.join(ROOT, 'build/pkg-web'), copy, { recursive: true });
  rmSync(path.join(copy, 'wbg-pool/thread.mjs'));
  const { error } = await step('browser-tests/pkg-web-no-thread', 'firstCall');
  assert.equal(error.name, 'PoolStartError');
  assert.equal(error.code, 'ERR_POOL_START');
  assert.match(error.message, /\/build\/browser-tests\/pkg-web-no-thread\/wbg-pool\/thread\.mjs could not be loaded/);
});

test('a crate with its own PoolBuilder-global contract, built with panic=unwind: unchanged in a module Worker, panics typed, the pool kept', async () => {
  const value = await step('pkg-poolbuilder-global-unwind-web', 'x', { scenario: 'poolbuilder' });
  const seen = JSON.stringify(value);
  assert.deepEqual({ sum: value.sum, threads: value.threads, next: value.next, outside: value.outside, unwinds: value.unwinds }, { sum: 328350, threads: 2, next: 328350, outside: 328350, unwinds: true }, seen);
  assert.equal(value.error?.name, 'WasmPanicError', seen);
  assert.match(value.error.panicMessage, /job 1 of 3 failed/);
});

// Firefox's limit is a preference; Chromium has none to lower.
test('threads the browser holds back (its worker limit) are a typed start error that says so', { skip: BROWSER !== 'firefox' && 'Chromium has no worker limit to lower' }, async () => {
  // The test's worker, the host and one pool thread: the second pool thread waits.
  const { error } = await step('pkg-web', 'startHeldBack', { prefs: { 'dom.workers.maxPerDomain': 3 } });
  assert.equal(error.name, 'PoolStartError');
  assert.equal(error.code, 'ERR_POOL_START');
  assert.match(error.message, /did not start within 2000 ms \(startTimeoutMs\); possibly the browser holds them back: it may start only so many workers per site \(Firefox: the dom\.workers\.maxPerDomain preference, 512\)/);
});

test('a page without COOP/COEP gets a typed error naming both headers, at init and from the manager', async () => {
  const value = await step('pkg-web', 'x', { worker: false, server: plain, scenario: 'not-isolated' });
  assert.equal(value.sharedArrayBuffer, 'undefined');
  for (const error of [value.init, value.manager]) {
    assert.equal(error?.code, 'ERR_NOT_CROSS_ORIGIN_ISOLATED', JSON.stringify(value));
    assert.match(error.message, /Cross-Origin-Opener-Policy: same-origin/);
    assert.match(error.message, /Cross-Origin-Embedder-Policy: require-corp/);
  }
});

// Side by side: wasm-bindgen-rayon alone leaves a pool thread's panic unanswered (its
// workers have no error listener); the same crate patched rejects typed, and goes on.
test('a wasm-bindgen-rayon crate: unpatched, a pool panic hangs; patched, it rejects with WasmPanicError, also outside execute()', async () => {
  const hangMs = 5000;
  const url = (pkg, patched) => new URL(`runtime_js/test/browser/scenarios/rayon.mjs?pkg=${pkg}&patched=${patched}`, isolated.url).href;
  const [unpatched, patched] = await Promise.all([
    browser.runModule(url('pkg-wasm-bindgen-rayon-web-unpatched', 'no'), { worker: true, timeoutMs: hangMs }),
    browser.runModule(url('pkg-wasm-bindgen-rayon-web', 'yes'), { worker: true, timeoutMs: 30_000 }),
  ]);
  assert.deepEqual(unpatched.outcome, { hang: `no answer within ${hangMs} ms` });
  const { value } = patched.outcome;
  assert.ok(value !== undefined, JSON.stringify(patched));
  assert.equal(value.sum, 328350);
  assert.equal(value.threads, 2);
  assert.equal(value.error.name, 'WasmPanicError');
  assert.match(value.error.message, /job 1 of 3 failed/);
  assert.equal(value.next, 328350);
  // Outside execute() in the Worker, with the pool up: served by the host, a panic typed too.
  assert.equal(value.outside, 328350);
  assert.deepEqual(value.outsidePanic, { name: 'WasmPanicError', code: 'ERR_WASM_PANIC' });
  assert.equal(value.afterOutsidePanic, 328350);
});
