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
// child process; resolves with what it reported and its stderr.
function inChild(kind, body) {
  const dir = path.join(ROOT, 'build', `pkg-${kind}`);
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(${JSON.stringify(dir + '/')});
    const runtime = require('./wbg-pool-manager.cjs');
    const glue = require('./example_${kind.replace(/-/g, '_')}.js');
    const report = (value) => process.stdout.write(JSON.stringify(value) + '\\n');
    // Polls until done() (every 10 ms, at most 5 s); the caller then checks what it waited for.
    const until = async (done) => { for (const end = Date.now() + 5000; !done() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10)); };
    const describe = (e) => ({ name: e.name, code: e.code, message: e.message, location: e.location, panicMessage: e.panicMessage, wasmStack: e.wasmStack, timeoutMs: e.timeoutMs });
    ${body}
  `;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`child failed (${error.code ?? error.signal}): ${stderr}`));
      resolve({ reports: stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)), stderr });
    });
  });
}

const SUM_1000 = 332_833_500; // sum of i*i for i in 0..1000

for (const kind of ['wasm-bindgen-rayon', 'poolbuilder-global']) {
  test(`${kind}: a parallel job through execute() equals the local instance's result`, async () => {
    // Locally (no pool), in a process of its own: a wasm-bindgen-rayon crate's
    // Rayon global pool is built once per memory, so a local parallel call first
    // would take that memory's one chance.
    const local = await inChild(kind, `report(glue.sum_of_squares(1000));`);
    assert.deepEqual(local.reports, [SUM_1000]);
    const pooled = await inChild(
      kind,
      `const manager = new runtime.ThreadPoolManager({ numThreads: 3 });
       report(await manager.execute(() => glue.sum_of_squares(1000)));
       report(await manager.execute(() => glue.pool_threads()));`,
    );
    assert.deepEqual(pooled.reports, [SUM_1000, 3]);
  });

  test(`${kind}: panics are typed with or without the crate's hook, a deadlock times out, the next call works, the process ends by itself`, async () => {
    const { reports } = await inChild(
      kind,
      `const manager = new runtime.ThreadPoolManager({ numThreads: 2, heartbeatTimeoutMs: ${HEARTBEAT_MS} });
       const attempt = async (fn) => {
         const started = performance.now();
         try { report({ value: await manager.execute(fn) }); }
         catch (e) { report({ ...describe(e), ms: performance.now() - started }); }
       };
       await attempt(() => glue.panic_in_pool(100));
       await manager.execute(() => glue.install_panic_hook());
       await attempt(() => glue.panic_in_pool(100));
       await attempt(() => glue.deadlock());
       await attempt(() => glue.sum_of_squares(1000));
       globalThis.lastCallAt = Date.now();
       process.on('exit', () => report({ exitAfterMs: Date.now() - globalThis.lastCallAt }));`,
    );
    const [noHook, hooked, deadlock, next, exit] = reports;
    // No hook: Rust's message is lost, but the trap's stack shows it was a panic.
    assert.equal(noHook.name, 'WasmPanicError', noHook.message);
    assert.equal(noHook.code, 'ERR_WASM_PANIC');
    assert.match(noHook.message, /no panic hook reported it/);
    assert.match(noHook.wasmStack, /panic/);
    assert.ok(noHook.ms < HEARTBEAT_MS, `took ${noHook.ms} ms`);
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
