// manager.run(): a task module's export runs on the pool's host thread, next to
// the glue and the pool, while the main thread only awaits a promise. Errors are
// typed as execute()'s, tasks queue first come first served, and execute()
// calls mix with them.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { runtime, runtimeModule, demo, threadCount, assertNoWorkersLeft, managerPerTest, waitFor, PKG, LATE_MS, DEMO_TASKS as TASKS } from './helpers.mjs';

const make = managerPerTest({ numThreads: 2, onLog() {} });
const { Slot } = runtimeModule('./protocol.cjs');

// A flag shared with a task (see demo-tasks.mjs): a task sets it, or the test opens it.
const sharedFlag = () => new Int32Array(new SharedArrayBuffer(4));
function open(gate) {
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
}

// The longest the main thread's event loop stayed blocked while `promise` ran.
async function maxGapWhile(promise) {
  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 5);
  try {
    const value = await promise;
    return { value, maxGap: Math.max(maxGap, performance.now() - last) };
  } finally {
    clearInterval(timer);
  }
}

test('a task runs on the host with the pool, by path, file URL or default export', async () => {
  const manager = make({ numThreads: 3 });
  assert.equal(await manager.run(TASKS, 'poolThreads'), 3, 'the glue in the task uses the pool');
  assert.equal(await manager.run(pathToFileURL(TASKS), 'shout', ['grüße']), 'GRÜSSE');
  assert.equal(await manager.run(pathToFileURL(TASKS).href, 'histogramTotal', [[1, 2, 3, 250]]), 4);
  assert.equal(await manager.run(TASKS, 'answer'), 42, "the default export's functions");
  assert.equal(demo.pool_threads(), 1, 'the local instance is untouched');
});

// A task that works on the pool, in one synchronous stretch on the host, until
// the main thread raises flags[1] (flags[0] says it started); it gives up after
// `limitMs`, so that a main thread blocked by the task fails the test instead of
// hanging it. The test writes it to a temporary file.
const WORK_UNTIL_STOPPED = `
const demo = await import(${JSON.stringify(pathToFileURL(path.join(PKG, 'wbg_demo.js')).href)});
export function workUntilStopped(flags, limitMs) {
  Atomics.store(flags, 0, 1);
  const until = Date.now() + limitMs;
  let rounds = 0;
  while (Atomics.load(flags, 1) === 0) {
    if (Date.now() > until) return { stopped: false, rounds };
    demo.busy(5);
    rounds++;
  }
  return { stopped: true, rounds };
}
`;

test('the main thread stays free while a task works: timers fire, execute() would block', async () => {
  const manager = make();
  await manager.run(TASKS, 'poolThreads');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wbg-work-task-'));
  const workTask = path.join(dir, 'work-until-stopped.mjs');
  fs.writeFileSync(workTask, WORK_UNTIL_STOPPED);
  // Only a timer of this thread ends the task, and only once the task has started:
  // the task can return `stopped` only if that timer fired while it worked, on a
  // machine of any speed. A main thread blocked while the task works (as execute()
  // blocks it) fires no timer until the task gave up: `stopped` is false then.
  const flags = new Int32Array(new SharedArrayBuffer(8));
  const timer = setInterval(() => {
    if (Atomics.load(flags, 0) === 1) Atomics.store(flags, 1, 1);
  }, 5);
  try {
    const outcome = await manager.run(workTask, 'workUntilStopped', [flags, 10 * LATE_MS]);
    assert.equal(outcome.stopped, true, `the task worked ${outcome.rounds} rounds on the pool and no timer of the main thread stopped it`);
  } finally {
    clearInterval(timer);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // The same kind of work in execute() holds the main thread for all of its 300 ms
  // (demo.busy waits on the clock): a lower bound that a slower machine only exceeds.
  const executed = await maxGapWhile(manager.execute(() => demo.busy(300)));
  assert.ok(executed.maxGap >= 290, `execute() blocks the event loop (${executed.maxGap.toFixed(0)} ms): the check measures`);
});

test('a panic in a task rejects with WasmPanicError; the next task works on a new pool', async () => {
  const before = threadCount();
  const manager = make();
  await assert.rejects(manager.run(TASKS, 'panicAt', [10_000, 5_000]), (e) => {
    assert.ok(e instanceof runtime.WasmPanicError, `${e.name}: ${e.message}`);
    assert.equal(e.code, 'ERR_WASM_PANIC');
    assert.match(e.message, /demo panic at index 5000/);
    return true;
  });
  await assertNoWorkersLeft(before);
  assert.equal(await manager.run(TASKS, 'poolThreads'), 2);
});

test('a deadlocked task rejects with HeartbeatTimeoutError after the heartbeat timeout', async () => {
  const manager = make({ heartbeatTimeoutMs: 500 });
  await manager.run(TASKS, 'poolThreads');
  const started = performance.now();
  await assert.rejects(manager.run(TASKS, 'deadlock'), (e) => e instanceof runtime.HeartbeatTimeoutError && e.code === 'ERR_HEARTBEAT_TIMEOUT');
  const ms = performance.now() - started;
  assert.ok(ms >= 500 && ms < 500 + LATE_MS, `known after ${ms.toFixed(0)} ms`);
  assert.equal(await manager.run(TASKS, 'poolThreads'), 2);
});

test('a task past its callTimeoutMs rejects with CallTimeoutError; the per-task option wins', async () => {
  const manager = make({ callTimeoutMs: 5000 });
  await manager.run(TASKS, 'poolThreads');
  const started = performance.now();
  await assert.rejects(manager.run(TASKS, 'spinForever', [], { callTimeoutMs: 300 }), (e) => {
    assert.ok(e instanceof runtime.CallTimeoutError, `${e.name}: ${e.message}`);
    assert.equal(e.timeoutMs, 300);
    assert.match(e.message, /spinForever/);
    return true;
  });
  const ms = performance.now() - started;
  assert.ok(ms >= 300 && ms < 300 + LATE_MS, `ended after ${ms.toFixed(0)} ms, not at the manager's 5000`);
  assert.equal(await manager.run(TASKS, 'busy', [50]), 2);
});

test('close() during a task rejects it and the queued ones with PoolClosedError', async () => {
  const manager = make();
  const running = assert.rejects(manager.run(TASKS, 'busy', [5000]), (e) => e instanceof runtime.PoolClosedError);
  const queued = assert.rejects(manager.run(TASKS, 'poolThreads'), (e) => e instanceof runtime.PoolClosedError && /before this task ran/.test(e.message));
  await new Promise((r) => setTimeout(r, 200));
  const started = performance.now();
  await manager.close();
  await Promise.all([running, queued]);
  assert.ok(performance.now() - started < LATE_MS, 'the running task (5 s) was not waited for');
  await assert.rejects(manager.run(TASKS, 'poolThreads'), (e) => e instanceof runtime.PoolClosedError);
});

test("a task's own exception rejects that task only, as it was thrown; the pool stays", async () => {
  const manager = make();
  await manager.run(TASKS, 'poolThreads');
  const pool = manager.engine.pool;
  await assert.rejects(manager.run(TASKS, 'fails', ['no witness']), (e) => e instanceof RangeError && e.message === 'no witness');
  await assert.rejects(manager.run(TASKS, 'failsWithCode', ['bad proof']), (e) => {
    assert.equal(e.name, 'ProofError', 'the name of an Error subclass');
    assert.equal(e.code, 'E_PROOF');
    assert.equal(e.message, 'bad proof');
    return true;
  });
  await assert.rejects(manager.run(TASKS, 'missing'), (e) => e.code === 'ERR_TASK_NOT_FOUND' && /no exported function "missing"/.test(e.message));
  await assert.rejects(manager.run(TASKS, 'returnsFunction'), (e) => e instanceof runtime.NotTransferableError && /returned \(or threw\) a value/.test(e.message));
  await assert.rejects(manager.run(TASKS, 'shout', [() => 'x']), (e) => e instanceof runtime.NotTransferableError && /argument of task shout/.test(e.message));
  assert.equal(manager.engine.pool, pool, 'no failure of the pool');
  assert.equal(await manager.run(TASKS, 'poolThreads'), 2);
});

test('close() right after run() on a running pool rejects the task, never leaves it pending', async () => {
  const manager = make();
  await manager.run(TASKS, 'poolThreads');
  const task = manager.run(TASKS, 'busy', [100]);
  const outcome = task.then(
    () => 'resolved',
    (e) => e.name,
  );
  await manager.close();
  const settled = await Promise.race([outcome, new Promise((r) => setTimeout(() => r('still pending after 2 s'), 2000))]);
  assert.equal(settled, 'PoolClosedError');
});

test('bad arguments to run() are refused naming them', async () => {
  const manager = make();
  await assert.rejects(manager.run('demo-tasks.mjs', 'busy'), (e) => e instanceof TypeError && /absolute path or a file: URL/.test(e.message));
  await assert.rejects(manager.run(TASKS, 7), (e) => e instanceof TypeError && /name must be a string/.test(e.message));
  await assert.rejects(manager.run(TASKS, 'busy', 5), (e) => e instanceof TypeError && /args must be an array/.test(e.message));
  await assert.rejects(manager.run(TASKS, 'busy', [1], null), (e) => e instanceof TypeError && /options must be an object/.test(e.message));
  await assert.rejects(manager.run(TASKS, 'busy', [1], { callTimeoutMs: -1 }), RangeError);
});

test('tasks run one at a time in the order given; execute() calls mix with them', async () => {
  const manager = make();
  const order = [];
  const tasks = ['a', 'b', 'c'].map((label, i) =>
    manager.run(TASKS, 'waitThenWork', [label, 60 - 20 * i, 30]).then((r) => {
      order.push(label);
      return r;
    }),
  );
  // While the tasks wait and work, execute() calls go through the same host.
  const executed = [];
  for (let i = 0; i < 5; i++) executed.push(await manager.execute(() => [demo.shout(`call ${i}`), demo.pool_threads()]));
  const results = await Promise.all(tasks);
  assert.deepEqual(order, ['a', 'b', 'c'], 'first come, first served');
  for (let i = 1; i < results.length; i++) {
    assert.ok(results[i].started >= results[i - 1].ended, `${results[i].label} started before ${results[i - 1].label} ended`);
  }
  assert.deepEqual(executed, [0, 1, 2, 3, 4].map((i) => [`CALL ${i}`, 2]));
});

// How `promise` settled by the next turn of the event loop: its rejection, its
// value, or 'still pending' (a task queued instead of refused at once).
function outcomeAtOnce(promise) {
  const outcome = promise.then((value) => value, (error) => error);
  return Promise.race([outcome, new Promise((resolve) => setImmediate(() => resolve('still pending')))]);
}

test('past maxQueue waiting tasks, run() rejects at once with QueueFullError; the queued ones still run', async () => {
  const manager = make({ maxQueue: 2 });
  const gate = sharedFlag();
  const held = manager.run(TASKS, 'heldUntilOpened', [gate]);
  const queued = [manager.run(TASKS, 'shout', ['a']), manager.run(TASKS, 'shout', ['b'])];
  const refused = await outcomeAtOnce(manager.run(TASKS, 'shout', ['c']));
  open(gate); // before the checks: a failed one must not leave the queue held
  assert.ok(refused instanceof runtime.QueueFullError, String(refused));
  assert.equal(refused.code, 'ERR_QUEUE_FULL');
  assert.equal(refused.maxQueue, 2);
  assert.match(refused.message, /2 wait for their turn.*callTimeoutMs/);
  assert.equal(manager.stats().failures.ERR_QUEUE_FULL, 1);
  assert.deepEqual(await Promise.all([held, ...queued]), ['opened', 'A', 'B'], 'nothing queued was lost');
  assert.equal(await manager.run(TASKS, 'shout', ['d']), 'D', 'room again');
});

test('maxQueue 0 queues no task behind the running one; bad values are refused naming the option', async () => {
  for (const bad of [-1, 1.5, '3', null, NaN]) {
    assert.throws(() => make({ maxQueue: bad }), (e) => e instanceof RangeError && /options\.maxQueue must be an integer/.test(e.message));
  }
  await make({ maxQueue: Infinity }).close();
  const manager = make({ maxQueue: 0 });
  const gate = sharedFlag();
  const held = manager.run(TASKS, 'heldUntilOpened', [gate]);
  const refused = await outcomeAtOnce(manager.run(TASKS, 'poolThreads'));
  open(gate);
  assert.ok(refused instanceof runtime.QueueFullError && refused.maxQueue === 0, String(refused));
  assert.equal(await held, 'opened');
  assert.equal(await manager.run(TASKS, 'poolThreads'), 2, 'with none running, a task starts');
});

test('while a task awaits forever the host sleeps: no polling, a beat for the heartbeat, awake for execute()', async () => {
  const manager = make({ heartbeatTimeoutMs: 200 });
  await manager.run(TASKS, 'poolThreads');
  const pool = manager.engine.pool;
  const started = sharedFlag();
  const outcome = manager.run(TASKS, 'startThenAwaitForever', [started]).catch((e) => e);
  await waitFor(() => Atomics.load(started, 0) === 1, 5000, 'the task to start');
  const before = { beats: Atomics.load(pool.control, Slot.BEAT), at: performance.now() };
  await new Promise((r) => setTimeout(r, 600)); // three heartbeat timeouts
  const beats = Atomics.load(pool.control, Slot.BEAT) - before.beats;
  const ms = performance.now() - before.at;
  // Asleep, the host beats only on its timer, every heartbeatTimeoutMs / 4 (50 ms); a
  // polling host beats at every look for requests (each 1 ms: ~600 here).
  assert.ok(beats <= ms / 50 + 2, `${beats} host beats in ${ms.toFixed(0)} ms`);
  assert.equal(pool.failure, null, 'a task that awaits is not a deadlocked pool');
  assert.equal(manager.stats().running, 1);
  assert.equal(await manager.execute(() => demo.shout('awake')), 'AWAKE', 'a request wakes the host');
  await manager.close();
  assert.ok((await outcome) instanceof runtime.PoolClosedError);
});
