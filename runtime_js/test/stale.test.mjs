// Objects made before a memory reset: every use throws StaleObjectError, and
// none reads or writes the fresh memory, where other objects now live at the
// same addresses.
import test from 'node:test';
import assert from 'node:assert/strict';
import { runtime, demo } from './helpers.mjs';

const isStale = (e) => e instanceof runtime.StaleObjectError && e.code === 'ERR_STALE_OBJECT' && /Histogram/.test(e.message);

// Every way the glue uses an object's address.
const USES = {
  method: (h) => h.add(new Uint8Array([7, 7])),
  'method with a result': (h) => h.bucket(0),
  getter: (h) => h.total,
  'argument of an export': (h) => demo.merge_histograms(h, new demo.Histogram(1)),
  'second argument of an export': (h) => demo.merge_histograms(new demo.Histogram(1), h),
  'free()': (h) => h.free(),
};

// A real abort, which resets the memory in every build (a panic=unwind build keeps it after a panic).
async function crash(manager) {
  await assert.rejects(manager.execute(() => demo.trap_out_of_bounds()), runtime.WasmTrapError);
}

test('every use of an object made before a reset throws StaleObjectError, locally and in the pool', async () => {
  const manager = new runtime.ThreadPoolManager({ numThreads: 2, onLog() {} });
  const made = {};
  for (const use of Object.keys(USES)) {
    made[use] = new demo.Histogram(4);
    made[use].add(new Uint8Array(100));
  }
  const returned = demo.merge_histograms(made.method, made.getter); // an object the glue wrapped (__wrap)
  const inPool = await manager.execute(() => new demo.Histogram(2));
  await crash(manager);

  // Objects of the fresh memory, made now: the stale ones' addresses point at them.
  const fresh = Array.from({ length: 8 }, () => new demo.Histogram(4));
  for (const h of fresh) h.add(new Uint8Array(10));

  for (const [use, run] of Object.entries(USES)) {
    assert.throws(() => run(made[use]), isStale, `${use} on the local instance`);
  }
  assert.throws(() => returned.total, isStale, 'an object returned by an export');
  assert.throws(() => inPool.total, isStale, 'an object made inside execute()');
  await manager.execute(() => {
    for (const [use, run] of Object.entries(USES)) assert.throws(() => run(made[use]), isStale, `${use} in the pool`);
  });
  for (const h of fresh) assert.equal(h.total, 10, 'no stale use touched a fresh object');
  // The error says why the memory was reset.
  assert.throws(() => made.method.total, (e) => /memory out of bounds/.test(e.message));
  for (const h of fresh) h.free();
  await manager.close();
});

test('objects made after the reset work, and objects of a cleanly stopped pool stay valid', async () => {
  const manager = new runtime.ThreadPoolManager({ numThreads: 2, idleShutdownMs: 0, onLog() {} });
  await crash(manager);
  const h = new demo.Histogram(2);
  h.add(new Uint8Array(5));
  const merged = await manager.execute(() => demo.merge_histograms(h, h));
  assert.equal(merged.total, 10);
  // An idle shutdown keeps the memory: nothing goes stale.
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await manager.execute(() => merged.bucket(0) + h.total), 10 + 5);
  merged.free();
  h.free();
  await manager.close();
});
