// Crates that already run Rayon in wasm, adopted as they are (rust_example/
// contracts): one on wasm-bindgen-rayon from crates.io, one with its own
// PoolBuilder-global contract. Each scenario runs in a child process of its
// own, as a user's script would, on the package scripts/build.sh made.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const HEARTBEAT_MS = 1000;

// Runs `body` (ES module code with `runtime`, `glue` and `report(value)`) in a
// child process, on the crate's panic=unwind build with `unwind`; resolves with
// what it reported and its stderr.
function inChild(kind, body, { unwind = false } = {}) {
  const dir = path.join(ROOT, 'build', `pkg-${kind}${unwind ? '-unwind' : ''}`);
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(${JSON.stringify(dir + '/')});
    const runtime = require('./wbg-pool-manager.cjs');
    const glue = require('./example_${kind.replace(/-/g, '_')}.js');
    const report = (value) => process.stdout.write(JSON.stringify(value) + '\\n');
    // Polls until done() (every 10 ms, at most 5 s); the caller then checks what it waited for.
    const until = async (done) => { for (const end = Date.now() + 5000; !done() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10)); };
    const describe = (e) => ({ name: e.name, code: e.code, message: e.message, location: e.location, panicMessage: e.panicMessage, unwound: e.unwound, wasmStack: e.wasmStack, timeoutMs: e.timeoutMs, threadIndex: e.threadIndex });
    ${body}
  `;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error?.killed) return reject(new Error(`child hung: no end within 30 s (${error.signal}): ${stderr}`));
      if (error) return reject(new Error(`child failed (${error.code ?? error.signal}): ${stderr}`));
      resolve({ reports: stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)), stderr });
    });
  });
}

const SUM_1000 = 332_833_500; // sum of i*i for i in 0..1000

// Each crate's build and its panic=unwind build (issue 20), where a panic rejects only its call.
const BUILDS = ['wasm-bindgen-rayon', 'poolbuilder-global'].flatMap((kind) =>
  [false, true].map((unwind) => ({ kind, unwind, name: unwind ? `${kind} (panic=unwind)` : kind })),
);

for (const { kind, unwind, name } of BUILDS) {
  test(`${name}: a parallel job through execute() equals the local instance's result`, async () => {
    // Locally (no pool), in a process of its own: a wasm-bindgen-rayon crate's
    // Rayon global pool is built once per memory, so a local parallel call first
    // would take that memory's one chance.
    const local = await inChild(kind, `report(glue.sum_of_squares(1000));`, { unwind });
    assert.deepEqual(local.reports, [SUM_1000]);
    const pooled = await inChild(
      kind,
      `const manager = new runtime.ThreadPoolManager({ numThreads: 3 });
       report(await manager.execute(() => glue.sum_of_squares(1000)));
       report(await manager.execute(() => glue.pool_threads()));`,
      { unwind },
    );
    assert.deepEqual(pooled.reports, [SUM_1000, 3]);
  });

  test(`${name}: panics are typed with or without the crate's hook, a deadlock times out, the next call works, the process ends by itself`, async () => {
    const { reports } = await inChild(
      kind,
      `const manager = new runtime.ThreadPoolManager({ numThreads: 2, heartbeatTimeoutMs: ${HEARTBEAT_MS} });
       const attempt = async (fn) => {
         await manager.execute(() => glue.pool_threads()); // a running pool: the time is the failure's, not also a start's
         const started = performance.now();
         try { report({ value: await manager.execute(fn) }); }
         catch (e) { report({ ...describe(e), ms: performance.now() - started }); }
       };
       await attempt(() => glue.panic_in_pool(100));
       await manager.execute(() => glue.install_panic_hook());
       await attempt(() => glue.panic_in_pool(100));
       report({ poolStarts: manager.stats().poolStarts });
       await attempt(() => glue.deadlock());
       await attempt(() => glue.sum_of_squares(1000));
       globalThis.lastCallAt = Date.now();
       process.on('exit', () => report({ exitAfterMs: Date.now() - globalThis.lastCallAt }));`,
      { unwind },
    );
    const [noHook, hooked, { poolStarts }, deadlock, next, exit] = reports;
    assert.equal(noHook.name, 'WasmPanicError', noHook.message);
    assert.equal(noHook.code, 'ERR_WASM_PANIC');
    if (unwind) {
      // The panic unwound to the export, which carries Rust's message; no hook said which
      // thread raised it, and it is not the host the error arrived from (issue 27, point 4).
      assert.equal(noHook.panicMessage, 'job 50 of 100 failed');
      assert.equal(noHook.threadIndex, -3);
      assert.match(noHook.message, /^Rust panicked on an unknown thread: job 50 of 100 failed \(no panic hook reported it: /);
      assert.ok(hooked.threadIndex >= 0, `the hook's report names the pool thread: ${hooked.threadIndex}`);
    } else {
      // No hook: Rust's message is lost, but the trap's stack shows it was a panic, and
      // where: past std's panic machinery and Rayon's frames (V8 keeps 10 by default), the crate's.
      assert.match(noHook.message, /no panic hook reported it/);
      assert.match(noHook.wasmStack, /panic/);
      assert.ok(noHook.wasmStack.split('\n    at ').length - 1 > 10, `the stack stops at V8's default 10 frames: ${noHook.wasmStack}`);
      assert.match(noHook.message, /^Rust panicked on pool thread \d+ in example_\w+::panic_in_pool::\{closure#0\}(::\{closure#0\})?: \(no message/);
    }
    assert.ok(noHook.ms < HEARTBEAT_MS, `took ${noHook.ms} ms`);
    // Each panic reset the memory and ended its pool; a panic=unwind build keeps the first pool.
    assert.deepEqual([noHook.unwound, hooked.unwound, poolStarts], unwind ? [true, true, 1] : [false, false, 2]);
    // console_error_panic_hook's report becomes the error, with file:line.
    assert.equal(hooked.name, 'WasmPanicError', hooked.message);
    assert.equal(hooked.panicMessage, 'job 50 of 100 failed');
    assert.equal(hooked.location.file, 'src/lib.rs'); // each is a crate of its own
    assert.ok(hooked.location.line > 0 && hooked.location.column > 0);
    assert.ok(hooked.ms < HEARTBEAT_MS, `took ${hooked.ms} ms`);
    assert.equal(deadlock.name, 'HeartbeatTimeoutError', deadlock.message);
    assert.ok(deadlock.ms < HEARTBEAT_MS + 1000, `took ${deadlock.ms} ms`);
    assert.deepEqual(next, { value: SUM_1000 });
    assert.ok(exit.exitAfterMs < 2000, `the process lingered ${exit.exitAfterMs} ms after its last call`);
  });
}

// Issue 26: SDKs call most exports outside execute(). Under these contracts the
// pool lives in the shared memory, so once it is up a parallel export called
// there would run its jobs on the pool's threads while the main thread waits in
// wasm, unwatched: a pool-thread panic hung the process. Such calls (exports
// that can wait) now go to the pool's host, as inside execute().
const OUTSIDE = `const outside = (fn) => {
  const started = performance.now();
  try { return { value: fn() }; } catch (e) { return { ...describe(e), threadIndex: e.threadIndex, ms: performance.now() - started }; }
};`;

for (const { kind, unwind, name } of BUILDS) {
  test(`${name}: outside execute() with the pool up, a parallel export runs in the pool: its result, a panic and a deadlock typed, the next call`, async () => {
    const { reports } = await inChild(
      kind,
      `${OUTSIDE}
       const manager = new runtime.ThreadPoolManager({ numThreads: 2, heartbeatTimeoutMs: ${HEARTBEAT_MS} });
       const up = () => manager.execute(() => glue.pool_threads());
       await up();
       report(outside(() => [glue.sum_of_squares(1000), glue.pool_threads()]));
       report(outside(() => glue.panic_in_pool(100)));
       await up(); // after an abort the pool is a new one
       report(outside(() => glue.sum_of_squares(1000)));
       report(outside(() => glue.deadlock()));
       await up();
       report(outside(() => glue.sum_of_squares(1000)));
       report({ poolStarts: manager.stats().poolStarts });
       await manager.close();`,
      { unwind },
    );
    const [parallel, panic, afterPanic, deadlock, afterDeadlock, { poolStarts }] = reports;
    assert.deepEqual(parallel, { value: [SUM_1000, 2] }, 'pool_threads() outside execute() ran in the pool');
    assert.equal(panic.name, 'WasmPanicError', panic.message);
    assert.ok(panic.ms < HEARTBEAT_MS, `took ${panic.ms} ms`);
    if (unwind) {
      assert.equal(panic.unwound, true);
      assert.equal(panic.panicMessage, 'job 50 of 100 failed');
    } else {
      // No hook: the trap names the pool thread and the crate's function.
      assert.match(panic.message, /^Rust panicked on pool thread \d+ in example_\w+::panic_in_pool/);
      assert.ok(panic.threadIndex >= 0, `thread ${panic.threadIndex}`);
    }
    assert.deepEqual(afterPanic, { value: SUM_1000 });
    assert.equal(deadlock.name, 'HeartbeatTimeoutError', deadlock.message);
    assert.ok(deadlock.ms < HEARTBEAT_MS + 1000, `took ${deadlock.ms} ms`);
    assert.deepEqual(afterDeadlock, { value: SUM_1000 });
    // An abort ends its pool (a reset), a panic that unwound does not; a deadlock always does.
    assert.equal(poolStarts, unwind ? 2 : 3);
  });

  test(`${name}: outside execute() with no pool up, a parallel export runs on the main thread: its result, a panic typed, the next call`, async () => {
    const { reports } = await inChild(
      kind,
      `${OUTSIDE}
       const manager = new runtime.ThreadPoolManager({ numThreads: 2 });
       report(outside(() => [glue.sum_of_squares(1000), glue.pool_threads()]));
       report(outside(() => glue.panic_in_pool(100)));
       report(outside(() => glue.sum_of_squares(1000)));
       report({ poolStarts: manager.stats().poolStarts });`,
      { unwind },
    );
    const [parallel, panic, next, { poolStarts }] = reports;
    assert.deepEqual(parallel, { value: [SUM_1000, 1] }, 'no pool: the main thread alone');
    assert.equal(panic.name, 'WasmPanicError', panic.message);
    assert.match(panic.message, /on the main thread/);
    assert.equal(panic.threadIndex, -2);
    assert.equal(panic.unwound, unwind);
    assert.deepEqual(next, { value: SUM_1000 });
    assert.equal(poolStarts, 0, 'a call outside execute() starts no pool');
  });
}

// Issue 19, point 12: an SDK installs console_error_panic_hook in one export,
// once. Each panic resets the memory, which held the hook: the patch finds the
// exports that install one (wbg_patch/wasm_code.py) and the runtime runs those
// that ran again on the fresh memory, so later panics keep their message.
// A panic=unwind build resets nothing: there the hook just stays.
for (const [kind, where, unwind = false] of [
  ['wasm-bindgen-rayon', 'inside'],
  ['wasm-bindgen-rayon', 'outside'],
  ['poolbuilder-global', 'inside'],
  ['wasm-bindgen-rayon', 'outside', true],
  ['poolbuilder-global', 'inside', true],
]) {
  test(`${kind}${unwind ? ' (panic=unwind)' : ''}: the crate's panic hook, installed once ${where} execute(), reports every later panic, across the resets they cause`, async () => {
    const install = where === 'inside' ? 'await manager.execute(() => glue.install_panic_hook())' : 'glue.install_panic_hook()';
    const { reports } = await inChild(
      kind,
      `const manager = new runtime.ThreadPoolManager({ numThreads: 2 });
       ${install};
       for (let i = 0; i < 3; i++) {
         try { report({ value: await manager.execute(() => glue.panic_in_pool(100)) }); } catch (e) { report(describe(e)); }
       }
       report({ value: await manager.execute(() => glue.sum_of_squares(1000)) });
       await manager.close();`,
      { unwind },
    );
    const last = reports.pop();
    assert.equal(reports.length, 3);
    for (const [i, panic] of reports.entries()) {
      assert.equal(panic.name, 'WasmPanicError', `panic ${i + 1}: ${panic.message}`);
      assert.equal(panic.panicMessage, 'job 50 of 100 failed', `panic ${i + 1}: ${panic.message}`);
      assert.equal(panic.location?.file, 'src/lib.rs', `panic ${i + 1}`);
      assert.equal(panic.unwound, unwind, `panic ${i + 1}`);
    }
    assert.deepEqual(last, { value: SUM_1000 });
  });
}

test('wasm-bindgen-rayon: the global pool outlives idle time; close() ends its threads and resets the memory, with a warning', async () => {
  const { reports, stderr } = await inChild(
    'wasm-bindgen-rayon',
    `const fs = await import('node:fs');
     const threads = () => fs.readdirSync('/proc/self/task').length;
     const manager = new runtime.ThreadPoolManager({ numThreads: 2, idleShutdownMs: 50 });
     const before = threads();
     await manager.execute(() => glue.sum_of_squares(10));
     const running = threads();
     // Ten idle periods: a pool that idle shutdown would end is gone by then (a clean idle stop takes ~7 ms).
     await new Promise((r) => setTimeout(r, 500));
     report({ started: running - before, afterIdle: threads() - before });
     await manager.close();
     await until(() => threads() === before);
     report({ afterClose: threads() - before, local: glue.sum_of_squares(1000) });`,
  );
  const [idle, closed] = reports;
  assert.equal(idle.started, 3, 'host + 2 pool threads');
  assert.equal(idle.afterIdle, 3, 'idle shutdown must not end a global pool');
  // The memory was reset: the local instance works on its own, without the pool's dead threads.
  assert.deepEqual(closed, { afterClose: 0, local: SUM_1000 });
  assert.match(stderr, /\[WBG_POOL_RESET\].*Rayon's global pool, which cannot exit/);
});

test('poolbuilder-global: exitThreadPool ends the pool when idle, and the next call starts one on the same memory', async () => {
  const { reports, stderr } = await inChild(
    'poolbuilder-global',
    `const fs = await import('node:fs');
     const threads = () => fs.readdirSync('/proc/self/task').length;
     const manager = new runtime.ThreadPoolManager({ numThreads: 2, idleShutdownMs: 50 });
     const before = threads();
     await manager.execute(() => glue.sum_of_squares(10));
     const running = threads() - before;
     await until(() => threads() === before);
     report({ running, afterIdle: threads() - before, local: glue.pool_threads() });
     report({ again: await manager.execute(() => glue.pool_threads()) });
     await manager.close();`,
  );
  assert.deepEqual(reports, [{ running: 3, afterIdle: 0, local: 1 }, { again: 2 }]);
  assert.doesNotMatch(stderr, /WBG_POOL_RESET/);
});

// Issue 19, point 4: a script's natural first line, a parallel export called
// outside execute(). On wasm-bindgen-rayon it builds Rayon's global pool on the
// main thread's instance (one thread), and a memory holds one global pool.
for (const kind of ['wasm-bindgen-rayon', 'poolbuilder-global']) {
  test(`${kind}: a parallel call outside execute() before the first pool: the first execute() works`, async () => {
    const { reports, stderr } = await inChild(
      kind,
      `report(glue.sum_of_squares(1000));
       const manager = new runtime.ThreadPoolManager({ numThreads: 2 });
       report(await manager.execute(() => [glue.sum_of_squares(1000), glue.pool_threads()]));
       report(await manager.execute(() => glue.pool_threads()));
       await manager.close();`,
    );
    assert.deepEqual(reports, [SUM_1000, [SUM_1000, 2], 2]);
    if (kind === 'wasm-bindgen-rayon') {
      // The memory was reset for the pool: the warning says why, and what to do instead.
      const [warning] = stderr.match(/\[WBG_POOL_RESET\].*global pool.*/) ?? [];
      assert.match(warning ?? stderr, /outside manager\.execute\(\).*built Rayon's global pool/);
      assert.match(warning, /StaleObjectError/);
    } else {
      // Its pool is the crate's static, not Rayon's global one: nothing to reset.
      assert.doesNotMatch(stderr, /WBG_POOL_RESET/);
    }
  });
}

// Issue 19, point 11: an SDK whose own JS still starts and stops its pool, as it
// did before wbg-patch. The runtime owns the pool: such calls are refused before
// they reach wasm, outside execute(), inside it, and in a run() task alike.
for (const kind of ['wasm-bindgen-rayon', 'poolbuilder-global']) {
  test(`${kind}: the glue's own initThreadPool/exitThreadPool are refused up front, with no side effect`, async () => {
    const { reports, stderr } = await inChild(
      kind,
      `const fs = await import('node:fs');
       const os = await import('node:os');
       const path = await import('node:path');
       const threads = () => fs.readdirSync('/proc/self/task').length;
       const task = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wbg-own-pool-')), 'task.cjs');
       fs.writeFileSync(task, 'const glue = require(' + JSON.stringify(require.resolve('./example_${kind.replace(/-/g, '_')}.js')) + ');' +
         'exports.init = () => glue.initThreadPool(2, undefined); exports.exit = () => glue.exitThreadPool?.();');
       const attempt = async (where, fn) => {
         try { report({ where, value: await fn() }); } catch (e) { report({ where, ...describe(e) }); }
       };
       const own = [['initThreadPool', () => glue.initThreadPool(2, undefined), 'init']];
       if (typeof glue.exitThreadPool === 'function') own.push(['exitThreadPool', () => glue.exitThreadPool(), 'exit']);
       const before = threads();
       const manager = new runtime.ThreadPoolManager({ numThreads: 2, idleShutdownMs: 60_000 });
       for (const [name, call] of own) await attempt(name + ' outside execute()', call);
       await manager.execute(() => glue.pool_threads());
       const running = threads() - before;
       for (const [name, call, taskName] of own) {
         await attempt(name + ' inside execute()', () => manager.execute(call));
         await attempt(name + ' in a run() task', () => manager.run(task, taskName));
       }
       report({ running, after: threads() - before, pool: await manager.execute(() => glue.pool_threads()), failures: manager.stats().failures });
       await manager.close();`,
    );
    const last = reports.pop();
    const names = kind === 'poolbuilder-global' ? ['initThreadPool', 'exitThreadPool'] : ['initThreadPool'];
    assert.equal(reports.length, names.length * 3);
    for (const refused of reports) {
      assert.equal(refused.name, 'WbgPoolError', `${refused.where}: ${refused.message}`);
      assert.equal(refused.code, 'ERR_POOL_OWNED_BY_RUNTIME', refused.where);
      const name = names.find((n) => refused.where.startsWith(n));
      assert.match(refused.message, new RegExp(`^${name}\\(\\) is the runtime's to call: the ThreadPoolManager owns the wasm thread pool`));
      assert.match(refused.message, name === 'initThreadPool' ? /call the exports inside manager\.execute\(\)/ : /stops it by itself/);
    }
    // No second set of workers, no exited pool: the same host and 2 threads serve the next call.
    assert.deepEqual(last, { running: 3, after: 3, pool: 2, failures: { ERR_POOL_OWNED_BY_RUNTIME: names.length * 2 } });
    if (kind === 'poolbuilder-global') assert.doesNotMatch(stderr, /WBG_POOL_RESET/);
    assert.doesNotMatch(stderr, /ReferenceError|NotTransferableError/);
  });
}

// Outside execute() the crate's console_error_panic_hook prints on the main
// thread: its text becomes the typed error's message (and is still printed).
for (const unwind of [false, true]) {
  test(`poolbuilder-global${unwind ? ' (panic=unwind)' : ''}: a panic on the main thread with the crate's hook is a WasmPanicError with its message`, async () => {
    const { reports, stderr } = await inChild(
      'poolbuilder-global',
      `glue.install_panic_hook();
       try { glue.panic_in_pool(100); } catch (e) { report(describe(e)); }
       report(glue.sum_of_squares(1000));`,
      { unwind },
    );
    const [panic, next] = reports;
    assert.equal(panic.name, 'WasmPanicError');
    assert.match(panic.message, /^Rust panicked on the main thread at src\/lib\.rs:\d+:\d+: job 50 of 100 failed/);
    assert.equal(panic.panicMessage, 'job 50 of 100 failed');
    assert.equal(panic.unwound, unwind);
    assert.match(stderr, /panicked at src\/lib\.rs/, "the hook's text is still printed");
    assert.equal(next, SUM_1000, 'the next call runs (on fresh memory, unless the panic unwound)');
  });
}
