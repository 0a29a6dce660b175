// 200 consecutive crash/recover cycles in one process: every cycle a pool
// thread fails (a panic; in a panic=unwind build, where a panic costs only its
// call, an out-of-bounds access) and the next call must work on a fresh pool, while a handle
// cached from before the first crash throws StaleObjectError at every use. Nothing may pile
// up: no worker, no handle, and memory stays bounded.
import test from 'node:test';
import assert from 'node:assert/strict';
import { runtime, demo, UNWINDS, threadCount, assertNoWorkersLeft, exposedGc, collectUntil } from './helpers.mjs';

const CYCLES = 200;
// What ends a pool for real in this build.
const [crash, Crashed] = UNWINDS ? [() => demo.trap_out_of_bounds(), runtime.WasmTrapError] : [(i) => demo.panic_at(8, i % 8), runtime.WasmPanicError];

function resourceCounts() {
  const counts = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

test(`${CYCLES} crash/recover cycles leave no worker, no handle and bounded memory`, async (t) => {
  // Collected for sure at both ends, so RSS compares what is still referenced.
  const gc = exposedGc();
  const manager = new runtime.ThreadPoolManager({ numThreads: 2, onLog() {} });
  await manager.execute(() => demo.noop());
  await manager.close();
  gc();
  const threads = threadCount();
  const resources = resourceCounts();
  const rssStart = process.memoryUsage().rss;
  const started = performance.now();

  const expected = demo.collatz_sum(100);
  const cycling = new runtime.ThreadPoolManager({ numThreads: 2, onLog() {} });
  // A handle an SDK caches for the whole process (a proving key, say), made before the first crash.
  const cached = await cycling.execute(() => new demo.Histogram(4));
  cached.add(new Uint8Array(64));
  const stale = (e) => e instanceof runtime.StaleObjectError;
  // The local instance of each fresh memory, held weakly: one kept would keep its
  // whole memory. (The glue's first instance, made at load, is not among them.)
  const instances = [];
  for (let i = 0; i < CYCLES; i++) {
    await assert.rejects(cycling.execute(() => crash(i)), Crashed);
    assert.equal(await cycling.execute(() => demo.collatz_sum(100)), expected);
    instances.push(new WeakRef(demo.__wbg_pool.raw()));
    // Every use throws, locally and in the pool; none returns data from the fresh memory.
    assert.throws(() => cached.total, stale);
    assert.throws(() => cached.add(new Uint8Array(1)), stale);
    await assert.rejects(cycling.execute(() => cached.bucket(0)), stale);
    await assert.rejects(cycling.execute(() => demo.merge_histograms(cached, cached)), stale);
  }
  assert.throws(() => cached.free(), stale);
  await cycling.close();
  const seconds = (performance.now() - started) / 1000;

  await assertNoWorkersLeft(threads);
  const alive = () => instances.filter((r) => r.deref() !== undefined).length;
  await collectUntil(() => alive() === 1);
  assert.equal(alive(), 1, `of ${CYCLES} instances, the thrown-away ones must be garbage: only the current one is alive`);
  await new Promise((r) => setTimeout(r, 50));
  gc();
  const rssEnd = process.memoryUsage().rss;
  t.diagnostic(`${CYCLES} cycles in ${seconds.toFixed(1)} s; RSS ${(rssStart / 2 ** 20).toFixed(0)} MiB -> ${(rssEnd / 2 ** 20).toFixed(0)} MiB`);
  assert.deepEqual(resourceCounts(), resources, 'active handles are back to where they were');
  // What else a cycle leaves behind would show here.
  assert.ok(rssEnd - rssStart < 256 * 2 ** 20, `RSS grew by ${((rssEnd - rssStart) / 2 ** 20).toFixed(0)} MiB`);
});
