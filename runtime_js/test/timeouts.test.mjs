// Time limits: the call timeout ends a spinning pool (which the heartbeat, that
// watches for no progress, cannot tell from work), the pool start has its own
// deadline, a deadlock is known after the heartbeat timeout, and every
// duration option says what it accepts. Time bounds allow LATE_MS (helpers.mjs).
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { LOAD_PACKAGE, runtime, demo, threadCount, waitFor, assertNoWorkersLeft, managerPerTest, LATE_MS } from './helpers.mjs';

const runChild = (script, timeout) =>
  spawnSync(process.execPath, ['--input-type=module', '-e', LOAD_PACKAGE + script], { encoding: 'utf8', timeout });

const make = managerPerTest();

// Runs `fn` with the pool; resolves with how long until it settled and how.
async function timed(manager, fn, options) {
  const started = performance.now();
  try {
    return { value: await manager.execute(fn, options), ms: performance.now() - started };
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
}

test('a spinning pool fails with CallTimeoutError after callTimeoutMs, and the next call works', async () => {
  const before = threadCount();
  const manager = make({ numThreads: 2, callTimeoutMs: 400, onLog() {} });
  await manager.execute(() => demo.noop()); // the pool is up: the timeout measures the call alone
  const { error, ms } = await timed(manager, () => demo.spin_forever());
  assert.ok(error instanceof runtime.CallTimeoutError, `got ${error && error.name}: ${error && error.message}`);
  assert.equal(error.code, 'ERR_CALL_TIMEOUT');
  assert.equal(error.timeoutMs, 400);
  assert.match(error.message, /spin_forever\(\).*torn down/);
  assert.ok(ms >= 400 && ms < 400 + LATE_MS, `the spin was ended after ${ms.toFixed(0)} ms`);
  await assertNoWorkersLeft(before);
  assert.equal(await manager.execute(() => demo.collatz_sum(1000)), 59542);
  // A per-call override: this one may take longer than the manager's 400 ms.
  assert.equal(await manager.execute(() => demo.busy(600), { callTimeoutMs: 5000 }), 2);
  await manager.close();
});

test('a call timing out while its fn awaits is rejected; its later wasm calls throw, other calls go on', async () => {
  const manager = make({ numThreads: 2, onLog() {} });
  let late;
  const { error } = await timed(
    manager,
    async () => {
      await new Promise((r) => setTimeout(r, 300));
      try {
        demo.noop();
      } catch (e) {
        late = e;
      }
    },
    { callTimeoutMs: 100 },
  );
  assert.ok(error instanceof runtime.CallTimeoutError, `got ${error && error.name}`);
  assert.match(error.message, /rejected/);
  const pool = manager.engine.pool;
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(late instanceof runtime.CallTimeoutError, 'the fn went on, and its wasm call threw the timeout');
  assert.equal(manager.engine.pool, pool, 'the pool was not working for that call: it was kept');
  assert.equal(await manager.execute(() => demo.pool_threads()), 2);
  await manager.close();
});

test('the call timeout is the calls\' alone: the runtime\'s own requests (the idle check) never time out', async () => {
  const manager = make({ numThreads: 2, callTimeoutMs: 100, idleShutdownMs: 300, onLog() {} });
  const warnings = [];
  const listener = (w) => warnings.push(w.message);
  process.on('warning', listener);
  try {
    assert.equal(await manager.execute(() => demo.pool_threads()), 2);
    await waitFor(() => manager.engine.pool === null, 300 + 10 * LATE_MS, 'the idle shutdown');
    assert.deepEqual(warnings, []);
  } finally {
    process.off('warning', listener);
  }
});

test('a script whose export spins exits with CallTimeoutError, by itself', () => {
  // No idle shutdown to wait for: a pool kept after the failure would hold the script until the timeout below.
  const script = `
    const manager = new runtime.ThreadPoolManager({ numThreads: 2, callTimeoutMs: 1000, idleShutdownMs: 60000, onLog() {} });
    const started = Date.now();
    manager.execute(() => demo.spin_forever()).catch((e) => {
      process.stdout.write(JSON.stringify({ name: e.name, code: e.code, ms: Date.now() - started }));
      globalThis.failedAt = Date.now();
      process.on('exit', () => process.stderr.write(\`exited \${Date.now() - globalThis.failedAt} ms after\`));
    });`;
  const child = runChild(script, 20000);
  assert.equal(child.status, 0, child.stderr);
  const result = JSON.parse(child.stdout);
  assert.deepEqual([result.name, result.code], ['CallTimeoutError', 'ERR_CALL_TIMEOUT']);
  // The call's time includes the pool's start here.
  assert.ok(result.ms >= 1000 && result.ms < 1000 + 2 * LATE_MS, `the call failed after ${result.ms} ms`);
  const exited = /exited (\d+) ms after/.exec(child.stderr);
  assert.ok(exited && Number(exited[1]) < 2 * LATE_MS, child.stderr);
});

test('a deadlock is reported after heartbeatTimeoutMs', async () => {
  const manager = make({ numThreads: 2, heartbeatTimeoutMs: 1000, onLog() {} });
  for (let i = 0; i < 2; i++) {
    await manager.execute(() => demo.noop()); // a running pool: its start is not part of the time
    const { error, ms } = await timed(manager, () => demo.deadlock());
    assert.ok(error instanceof runtime.HeartbeatTimeoutError, `got ${error && error.name}`);
    assert.ok(ms >= 1000 && ms < 1000 + LATE_MS, `reported after ${ms.toFixed(0)} ms`);
  }
  await manager.close();
});

// Calls execute(fn) on `manager` and, once its pool is created, holds the main
// thread (asleep) for `ms`: the pool's start, whose end the main thread reads from
// its threads' messages, takes `ms` at least, on a machine of any speed. The hold
// begins in the event loop's check phase (right after a setImmediate) and ends
// there, so the loop next runs the timers that expired meanwhile, before it reads
// the messages (the poll phase): a start deadline shorter than `ms` fires first.
async function executeDuringHeldStart(manager, fn, ms) {
  await new Promise((resolve) => setImmediate(resolve));
  const call = manager.execute(fn);
  // The pool is made within execute()'s first synchronous steps (microtasks stay in this phase).
  for (let turn = 0; manager.engine.pool === null && turn < 100; turn++) await Promise.resolve();
  assert.notEqual(manager.engine.pool, null, 'execute() made its pool');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  return call;
}

test('the pool start has its own deadline: a short heartbeat does not fail a slow start', async () => {
  // With the heartbeat as the start deadline, as it was, every call whose start took
  // longer than it (16 threads: ~200 ms on a 2-core machine) failed with PoolStartError.
  // Held for three heartbeats, this start is longer than the heartbeat on any machine.
  const manager = make({ numThreads: 16, heartbeatTimeoutMs: 100, onLog() {} });
  assert.equal(await executeDuringHeldStart(manager, () => demo.pool_threads(), 300), 16);
  await manager.close();
  // The same hold with a start deadline of the heartbeat's length fails the start:
  // the hold does make a deadline that short fire, so a start judged by the heartbeat would fail above.
  const strict = make({ numThreads: 6, startTimeoutMs: 100, onLog() {} });
  await assert.rejects(executeDuringHeldStart(strict, () => demo.noop(), 300), (e) => e instanceof runtime.PoolStartError && /startTimeoutMs/.test(e.message));
  await strict.close();
});

test('durations accept Infinity, refuse what a Node timer cannot wait, and a heartbeat too short to measure', async () => {
  const never = make({
    numThreads: 1,
    heartbeatTimeoutMs: Infinity,
    startTimeoutMs: Infinity,
    callTimeoutMs: Infinity,
    idleShutdownMs: Infinity,
    onLog() {},
  });
  assert.equal(await never.execute(() => demo.busy(50)), 1);
  assert.notEqual(never.pool, null);
  await new Promise((r) => setTimeout(r, 100));
  assert.notEqual(never.pool, null, 'idleShutdownMs: Infinity keeps the pool');
  await never.close();
  for (const name of ['heartbeatTimeoutMs', 'startTimeoutMs', 'callTimeoutMs', 'idleShutdownMs']) {
    assert.throws(
      () => make({ [name]: 2 ** 31 }),
      (e) => e instanceof RangeError && e.message.includes(`options.${name}`) && /2\^31-1/.test(e.message) && /Infinity/.test(e.message),
    );
    assert.throws(() => make({ [name]: NaN }), RangeError);
    assert.throws(() => make({ [name]: '100' }), RangeError);
  }
  assert.throws(() => make({ heartbeatTimeoutMs: 50 }), (e) => e instanceof RangeError && /at least 100 ms/.test(e.message));
  const manager = make({ numThreads: 1, onLog() {} });
  await assert.rejects(manager.execute(() => 1, { callTimeoutMs: 2 ** 31 }), RangeError);
  await assert.rejects(manager.execute(() => 1, { callTimeoutMs: 0 }), RangeError);
  await assert.rejects(manager.execute(() => 1, null), (e) => e instanceof TypeError && /options must be an object/.test(e.message));
  await manager.close();
});

test('under a CPU hog on every core, a busy 3 s call with the default heartbeat completes', { timeout: 30000 }, async () => {
  const hogs = Array.from({ length: 2 }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  try {
    await new Promise((r) => setTimeout(r, 200));
    const manager = make({ numThreads: 2, onLog() {} });
    assert.equal(await manager.execute(() => demo.busy(3000)), 2);
    await manager.close();
  } finally {
    for (const hog of hogs) hog.kill('SIGKILL');
  }
});
