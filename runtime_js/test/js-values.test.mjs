// JS values held in wasm state (a struct with a JsValue field) belong to the
// instance that made them. Used on that side they keep their value, also across
// an idle time; used on the other side they throw a typed error: never null by
// accident, never another object.
import test from 'node:test';
import assert from 'node:assert/strict';
import { runtime, demo, waitFor, collectUntil, LATE_MS } from './helpers.mjs';

const isForeign = (e) => e instanceof runtime.ForeignJsValueError && e.code === 'ERR_FOREIGN_JS_VALUE' && /belongs to the side that made it/.test(e.message);

test('a JsValue kept by an object made in the pool keeps its value there, and throws ForeignJsValueError outside', async () => {
  const manager = new runtime.ThreadPoolManager({ numThreads: 2, onLog() {} });
  // Values made on the main thread first, at the indices a confused lookup would hit.
  const locals = Array.from({ length: 8 }, (_, i) => new demo.JsHolder({ who: `local ${i}` }));
  const inPool = await manager.execute(() => new demo.JsHolder({ who: 'pool' }));
  assert.deepEqual(await manager.execute(() => inPool.value), { who: 'pool' });
  const outside = inPool.value; // read on the main thread's instance
  assert.notEqual(outside, null, 'never null by accident');
  for (const h of locals) assert.notEqual(outside, h.value, 'never another object');
  assert.throws(() => outside.who, isForeign);
  assert.throws(() => JSON.stringify(outside), isForeign);
  assert.throws(() => Object.keys(outside), isForeign);
  assert.throws(() => `${outside}`, isForeign);
  // The main thread's own values are untouched, identity included.
  const mine = { who: 'mine' };
  const holder = new demo.JsHolder(mine);
  assert.equal(holder.value, mine);
  locals.forEach((h, i) => assert.deepEqual(h.value, { who: `local ${i}` }));
  await manager.execute(() => inPool.free());
  for (const h of [...locals, holder]) h.free();
  await manager.close();
});

test('a JsValue kept by an object made on the main thread fails a pool call with a typed trap, and the next call works', async () => {
  const manager = new runtime.ThreadPoolManager({ numThreads: 2, onLog() {} });
  await manager.execute(() => new demo.JsHolder('a value the pool keeps').free());
  const local = new demo.JsHolder({ who: 'local' });
  await assert.rejects(
    manager.execute(() => local.value),
    (e) => e instanceof runtime.WasmTrapError && e.kind === 'foreign_js_value' && /belongs to the side that made it/.test(e.message),
  );
  assert.equal(await manager.execute(() => demo.collatz_sum(1000)), 59542);
  await manager.close();
});

test('the pool is kept past idleShutdownMs while its wasm state holds JS values, so they keep their value', async () => {
  const manager = new runtime.ThreadPoolManager({ numThreads: 2, idleShutdownMs: 50, onLog() {} });
  const held = await manager.execute(() => new demo.JsHolder({ who: 'held' }));
  const pool = manager.engine.pool;
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(manager.engine.pool, pool, 'not stopped: its host holds a JS value');
  assert.deepEqual(await manager.execute(() => held.value), { who: 'held' });
  await manager.execute(() => held.free());
  await waitFor(() => manager.engine.pool === null, 50 + 10 * LATE_MS, 'the idle shutdown once nothing is held');
  await manager.close();
});

test('an object made in the pool and garbage-collected is freed in that pool, never on the main thread', async () => {
  const manager = new runtime.ThreadPoolManager({ numThreads: 2, idleShutdownMs: 50, onLog() {} });
  let dropped = await manager.execute(() => Array.from({ length: 10 }, (_, i) => new demo.JsHolder({ i })));
  const pool = manager.engine.pool;
  assert.equal(dropped.length, 10);
  dropped = null;
  // Freed on the main thread's instance, these would abort it (their JS values are not its own).
  // Up to 500 rounds (5 s and more): the idle shutdown (50 ms) follows the finalizers, however late they run.
  await collectUntil(() => manager.engine.pool === null, 500);
  assert.equal(manager.engine.pool, null, 'the pool stopped: its host holds no JS value any more');
  assert.notEqual(pool, null);
  const mine = new demo.JsHolder('still works');
  assert.equal(mine.value, 'still works', 'the main thread\'s JS values are intact');
  mine.free();
  await manager.close();
});
