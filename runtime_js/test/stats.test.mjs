// manager.stats() and the node:diagnostics_channel events: the values a service
// owner reads (calls, running, queued, pool starts and stops, failures by code,
// call durations), each checked against what the test did.
import test from 'node:test';
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { runtime, demo, UNWINDS, waitFor, DEMO_TASKS as TASKS } from './helpers.mjs';

// Every message of every channel, in order, as [channel key, message].
function listen() {
  const seen = [];
  const subscriptions = Object.entries(runtime.CHANNELS).map(([key, name]) => {
    const listener = (message) => seen.push([key, message]);
    diagnostics.subscribe(name, listener);
    return () => diagnostics.unsubscribe(name, listener);
  });
  return { seen, stop: () => subscriptions.forEach((unsubscribe) => unsubscribe()) };
}

test('stats() counts calls, pool starts and stops, failures by code, and call durations', async () => {
  const manager = new runtime.ThreadPoolManager({ numThreads: 2, idleShutdownMs: 100, onLog() {} });
  try {
    assert.deepEqual(manager.stats(), {
      calls: 0,
      running: 0,
      queued: 0,
      oldestQueuedMs: null,
      poolStarts: 0,
      poolStops: 0,
      failures: {},
      detachedPanics: 0,
      durationMs: { count: 0, p50: null, p90: null, p99: null, max: null },
    });
    await manager.execute(() => demo.noop()); // the pool is up: durations below are the calls alone
    for (const ms of [20, 40, 60, 80, 100, 120, 140, 160, 180]) await manager.execute(() => demo.busy(ms));
    let stats = manager.stats();
    assert.equal(stats.calls, 10);
    assert.equal(stats.poolStarts, 1);
    assert.equal(stats.durationMs.count, 10);
    // Ranks, not wall-clock ceilings (a loaded machine stretches every call): of the ten
    // durations, p50 is the 6th (busy(100)) and p90 the 10th, the longest (busy(180)).
    const { p50, p90, max } = stats.durationMs;
    assert.ok(p50 >= 95 && p50 < p90, `p50 ${p50}, p90 ${p90}`);
    assert.ok(p90 >= 175 && p90 === max, `p90 ${p90}, max ${max}`);

    // One task works, one waits for its turn, one execute() runs meanwhile.
    const first = manager.run(TASKS, 'busy', [400]);
    const second = manager.run(TASKS, 'busy', [10]);
    await new Promise((r) => setTimeout(r, 150));
    stats = manager.stats();
    assert.equal(stats.running, 1);
    assert.equal(stats.queued, 1);
    assert.equal(stats.calls, 12);
    await Promise.all([first, second]);
    assert.equal(manager.stats().running + manager.stats().queued, 0);

    await assert.rejects(manager.execute(() => demo.panic_at(10, 3)), runtime.WasmPanicError);
    await assert.rejects(manager.run(TASKS, 'fails', ['own']), RangeError);
    await assert.rejects(manager.execute(() => demo.spin_forever(), { callTimeoutMs: 200 }), runtime.CallTimeoutError);
    stats = manager.stats();
    assert.deepEqual(stats.failures, { ERR_WASM_PANIC: 1, RangeError: 1, ERR_CALL_TIMEOUT: 1 });
    // A panic=unwind build keeps the pool through the panic: only the timeout stops one.
    const panicStops = UNWINDS ? 0 : 1;
    assert.equal(stats.poolStarts, 1 + panicStops, 'the first pool, and one after the panic (panic=abort)');
    assert.equal(stats.poolStops, 1 + panicStops, 'the failed ones: the panic (panic=abort), the timeout');
    await manager.execute(() => demo.noop());
    await waitFor(() => manager.stats().poolStops === 2 + panicStops, 2000, 'the idle shutdown');
    assert.equal(manager.stats().poolStarts, 2 + panicStops);
  } finally {
    await manager.close();
  }
});

// Issue 27, point 12: a run() with a relative path rejected with a TypeError that stats() counted
// neither as a call nor as a failure, while a run() refused at once for a full queue counts as both.
test('a call refused at once (a wrong argument, a closed manager) counts as a call and a failure by its error', async () => {
  const events = listen();
  const manager = new runtime.ThreadPoolManager({ numThreads: 1, onLog() {} });
  try {
    const refused = [
      [() => manager.execute(42), TypeError],
      [() => manager.execute(() => 1, { callTimeoutMs: 0 }), RangeError],
      [() => manager.run('demo-tasks.mjs', 'poolThreads'), TypeError],
      [() => manager.run(TASKS, 42), TypeError],
      [() => manager.run(TASKS, 'poolThreads', 'not an array'), TypeError],
      [() => manager.run(TASKS, 'poolThreads', [], null), TypeError],
    ];
    for (const [call, Error] of refused) await assert.rejects(call(), Error);
    let stats = manager.stats();
    assert.equal(stats.calls, refused.length);
    assert.deepEqual(stats.failures, { TypeError: 5, RangeError: 1 });
    assert.equal(stats.running + stats.queued, 0);
    assert.equal(stats.durationMs.count, refused.length);
    assert.equal(stats.poolStarts, 0, 'no pool was started for them');
    // Published as any call is: a start, then an end with the error.
    const relative = events.seen.filter(([, m]) => m.kind === 'run' && m.task?.filename === 'demo-tasks.mjs');
    assert.deepEqual(relative.map(([key]) => key), ['callStart', 'callEnd']);
    assert.ok(relative[1][1].error instanceof TypeError);
    await manager.close();
    await assert.rejects(manager.execute(() => 1), runtime.PoolClosedError);
    await assert.rejects(manager.run(TASKS, 'poolThreads'), runtime.PoolClosedError);
    stats = manager.stats();
    assert.equal(stats.calls, refused.length + 2);
    assert.deepEqual(stats.failures, { TypeError: 5, RangeError: 1, ERR_POOL_CLOSED: 2 });
  } finally {
    events.stop();
    await manager.close();
  }
});

test('stats() shows the queue of run() tasks: its length and how long its oldest task has waited', async () => {
  const manager = new runtime.ThreadPoolManager({ numThreads: 1, onLog() {} });
  const gate = new Int32Array(new SharedArrayBuffer(4));
  try {
    const held = manager.run(TASKS, 'heldUntilOpened', [gate]); // holds the turn until the gate opens
    const askedFirst = performance.now();
    const first = manager.run(TASKS, 'poolThreads');
    await new Promise((r) => setTimeout(r, 100));
    const second = manager.run(TASKS, 'poolThreads');
    const stats = manager.stats();
    const sinceFirst = performance.now() - askedFirst;
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
    assert.deepEqual(await Promise.all([held, first, second]), ['opened', 1, 1]);
    assert.equal(stats.queued, 2);
    // The first queued task's wait, not the second's (it just came): the 100 ms slept, at least.
    assert.ok(stats.oldestQueuedMs >= 95 && stats.oldestQueuedMs <= sinceFirst, `the oldest waited ${stats.oldestQueuedMs} ms of ${sinceFirst}`);
    assert.equal(manager.stats().queued, 0);
    assert.equal(manager.stats().oldestQueuedMs, null);
  } finally {
    await manager.close();
  }
});

test('diagnostics_channel: call start and end, pool start and stop, and failure, with their values', async () => {
  const events = listen();
  const manager = new runtime.ThreadPoolManager({ numThreads: 2, idleShutdownMs: Infinity, onLog() {} });
  try {
    const started = performance.now();
    await manager.execute(() => demo.busy(50));
    const elapsed = performance.now() - started;
    await manager.run(TASKS, 'poolThreads');
    const panic = await manager.execute(() => demo.panic_at(10, 3)).catch((e) => e);
    await manager.close();
    const kinds = events.seen.map(([key, m]) => `${key}${m.kind ? `:${m.kind}` : ''}${m.reason ? `:${m.reason}` : ''}`);
    // The panic fails its pool, or in a panic=unwind build only its call: the pool stops at close().
    const afterPanic = UNWINDS ? ['callEnd:execute', 'poolStop:close'] : ['failure', 'poolStop:failure', 'callEnd:execute'];
    assert.deepEqual(kinds, ['callStart:execute', 'poolStart', 'callEnd:execute', 'callStart:run', 'callEnd:run', 'callStart:execute', ...afterPanic]);
    const [[, start1], [, poolStart], [, end1], [, start2], [, end2]] = events.seen;
    const after = (key) => events.seen.slice(6).find(([k]) => k === key)[1];
    assert.equal(start1.id, end1.id);
    assert.equal(start1.glue, end1.glue);
    assert.match(start1.glue, /wbg_demo\.js$/);
    assert.equal(poolStart.numThreads, 2);
    assert.ok(poolStart.startMs > 0 && poolStart.startMs < elapsed, `pool start ${poolStart.startMs} ms`);
    assert.ok(end1.durationMs >= 50 && end1.durationMs <= elapsed + 1, `duration ${end1.durationMs} of ${elapsed}`);
    assert.equal(end1.error, undefined);
    assert.deepEqual(start2.task, { filename: TASKS, name: 'poolThreads' });
    assert.equal(end2.id, start2.id);
    assert.ok(end2.id > end1.id);
    assert.equal(after('callEnd').error, panic);
    assert.equal(after('poolStop').error, UNWINDS ? undefined : panic);
    if (!UNWINDS) {
      assert.equal(after('failure').code, 'ERR_WASM_PANIC');
      assert.equal(after('failure').error, panic);
    }
  } finally {
    events.stop();
    await manager.close();
  }
});

test('pool stop events say why: idle, or close()', async () => {
  const events = listen();
  const manager = new runtime.ThreadPoolManager({ numThreads: 1, idleShutdownMs: 50, onLog() {} });
  try {
    await manager.execute(() => demo.noop());
    await waitFor(() => events.seen.some(([key]) => key === 'poolStop'), 2000, 'the idle stop');
    await manager.execute(() => demo.noop());
    await manager.close();
    const stops = events.seen.filter(([key]) => key === 'poolStop').map(([, m]) => m.reason);
    assert.deepEqual(stops, ['idle', 'close']);
    assert.equal(manager.stats().poolStops, 2);
  } finally {
    events.stop();
  }
});
