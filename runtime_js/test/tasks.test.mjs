// manager.run(): a task module's export runs on the pool's host thread, next to
// the glue and the pool, while the main thread only awaits a promise. Errors are
// typed as execute()'s, tasks queue first come first served, and execute()
// calls mix with them.
import test from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { runtime, demo, threadCount, assertNoWorkersLeft, managerPerTest, DEMO_TASKS as TASKS } from './helpers.mjs';

const make = managerPerTest({ numThreads: 2, onLog() {} });

// The longest the main thread's event loop stayed blocked while `promise` ran.
async function maxGapWhile(promise) {
  let last = performance.now();
  let maxGap = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 5);
  try {
    const value = await promise;
    return { value, maxGap: Math.max(maxGap, performance.now() - last), ticks };
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

test('the main thread stays free while a task works: timers fire, execute() would block', async () => {
  const manager = make();
  await manager.run(TASKS, 'poolThreads');
  const task = await maxGapWhile(manager.run(TASKS, 'busy', [600]));
  assert.equal(task.value, 2);
  assert.ok(task.maxGap < 50, `the event loop was blocked for ${task.maxGap.toFixed(0)} ms`);
  assert.ok(task.ticks > 60, `${task.ticks} timer ticks in 600 ms`);
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

test('a deadlocked task rejects with HeartbeatTimeoutError within the heartbeat + 150 ms', async () => {
  const manager = make({ heartbeatTimeoutMs: 500 });
  await manager.run(TASKS, 'poolThreads');
  const started = performance.now();
  await assert.rejects(manager.run(TASKS, 'deadlock'), (e) => e instanceof runtime.HeartbeatTimeoutError && e.code === 'ERR_HEARTBEAT_TIMEOUT');
  const ms = performance.now() - started;
  assert.ok(ms >= 500 && ms < 650, `known after ${ms.toFixed(0)} ms`);
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
  assert.ok(ms >= 300 && ms < 400, `ended after ${ms.toFixed(0)} ms`);
  assert.equal(await manager.run(TASKS, 'busy', [50]), 2);
});

test('close() during a task rejects it and the queued ones with PoolClosedError', async () => {
  const manager = make();
  const running = assert.rejects(manager.run(TASKS, 'busy', [2000]), (e) => e instanceof runtime.PoolClosedError);
  const queued = assert.rejects(manager.run(TASKS, 'poolThreads'), (e) => e instanceof runtime.PoolClosedError && /before this task ran/.test(e.message));
  await new Promise((r) => setTimeout(r, 200));
  const started = performance.now();
  await manager.close();
  await Promise.all([running, queued]);
  assert.ok(performance.now() - started < 500, 'the running task was not waited for');
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
