// Drop-in proxy: every ABI shape works unchanged inside execute(), with the
// work done by the pool, and the same answers as the local instance.
import test from 'node:test';
import assert from 'node:assert/strict';
import { runtime, demo, waitFor } from './helpers.mjs';

const manager = new runtime.ThreadPoolManager({ numThreads: 3, onLog() {} });
test.after(() => manager.close());

test('every ABI shape gives the same result through the pool as locally', async () => {
  const calls = () => [
    demo.collatz_sum(20_000),
    demo.shout('grüße, wasm'),
    Array.from(demo.xor_bytes(new Uint8Array([0, 1, 254, 255]), 0x0f)),
    demo.sum_squares(1_000_000n),
    demo.sum_range(-(10n ** 12n), -(10n ** 12n) + 1000n),
    demo.first_multiple(7, 50, 100),
    demo.first_multiple(1000, 1, 10),
    demo.checked_mean(new Float64Array([1, 2, 3, 4])),
  ];
  const local = calls();
  const pooled = await manager.execute(calls);
  assert.deepEqual(pooled, local);
  assert.equal(typeof pooled[3], 'bigint');
  assert.equal(pooled[6], undefined);
});

test('the pool runs the work on its threads, the local instance on one', async () => {
  assert.equal(demo.pool_threads(), 1);
  assert.equal(await manager.execute(() => demo.pool_threads()), 3);
});

test('a struct works through the pool: constructor, method, getter, free', async () => {
  const [total, bucket, freed] = await manager.execute(() => {
    const h = new demo.Histogram(4);
    h.add(new Uint8Array(5000).fill(255));
    h.add(new Uint8Array(3000).fill(0));
    const out = [h.total, h.bucket(3)];
    h.free();
    return [...out, h.__wbg_ptr];
  });
  assert.equal(total, 8000);
  assert.equal(bucket, 5000);
  assert.equal(freed, 0);
});

test('Result errors throw on the main thread with the Rust message', async () => {
  await assert.rejects(
    manager.execute(() => demo.checked_mean(new Float64Array([]))),
    (e) => e instanceof Error && e.message === 'checked_mean: no values',
  );
  await assert.rejects(
    manager.execute(() => demo.checked_mean(new Float64Array([1, NaN]))),
    /values contain NaN/,
  );
  // An ordinary error is not a pool failure: the pool keeps working.
  assert.equal(await manager.execute(() => demo.checked_mean(new Float64Array([2, 4]))), 3);
});

test('a JS function cannot cross to the pool: the call fails naming the export', async () => {
  assert.equal(demo.js_type_of(() => 1), 'function');
  await assert.rejects(
    manager.execute(() => demo.js_type_of(() => 1)),
    (e) => e instanceof runtime.NotTransferableError && e.code === 'ERR_NOT_TRANSFERABLE' && /js_type_of/.test(e.message),
  );
  // Cloneable JS values do cross, and the pool is still fine.
  assert.equal(await manager.execute(() => demo.js_type_of({ a: 1 })), 'object');
});

test('large byte arrays round-trip through the pool', async () => {
  const data = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
  const out = await manager.execute(() => demo.xor_bytes(data, 0xff));
  assert.equal(out.length, data.length);
  assert.ok(out.every((b, i) => b === (~i & 0xff)));
});

test('concurrent execute() calls with awaits in between all get their own results', async () => {
  // pool_threads() after each await tells where the call ran: 3 in the pool, 1 locally.
  const job = async (n) => {
    const a = demo.collatz_sum(1000 * n);
    await new Promise((r) => setTimeout(r, 5 * (7 - n)));
    const b = demo.shout(`job ${n}`);
    const threadsAfterTimer = demo.pool_threads();
    await Promise.resolve();
    return [a, b, demo.sum_range(0n, BigInt(n)), threadsAfterTimer, demo.pool_threads()];
  };
  const expected = [1, 2, 3, 4, 5, 6].map((n) => [demo.collatz_sum(1000 * n), `JOB ${n}`, BigInt((n * (n - 1)) / 2), 3, 3]);
  const results = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => manager.execute(() => job(n))));
  assert.deepEqual(results, expected);
});

test('a string call crosses threads once: the allocator runs on the main thread', async () => {
  const requests = await manager.execute(() => {
    const before = manager.engine.pool.nextId;
    assert.equal(demo.shout('grüße aus dem pool'), 'GRÜSSE AUS DEM POOL');
    return manager.engine.pool.nextId - before;
  });
  assert.equal(requests, 1, 'malloc, call and free: only the call goes to the pool');
});

test('allocating on the main thread while pool threads allocate corrupts nothing', async () => {
  const [checkedBefore] = demo.allocation_report();
  const done = demo.detached_jobs_done();
  const checked = await manager.execute(() => {
    // One pool thread stays free for the main thread's calls, which use the pool.
    demo.spawn_allocating_jobs(manager.numThreads - 1, 800);
    let calls = 0;
    const until = performance.now() + 700;
    while (performance.now() < until) {
      // Non-ASCII text makes the glue realloc too; each result is checked.
      const text = `ärger ${calls} `.repeat(1 + (calls % 40));
      assert.equal(demo.shout(text), text.toUpperCase());
      const bytes = new Uint8Array(1 + ((calls * 37) % 5000)).fill(calls & 0xff);
      const xored = demo.xor_bytes(bytes, 0x5a);
      assert.ok(xored.length === bytes.length && xored.every((b) => b === ((calls & 0xff) ^ 0x5a)), `xor_bytes result ${calls}`);
      calls++;
    }
    return calls;
  });
  await waitFor(() => demo.detached_jobs_done() === done + manager.numThreads - 1, 5000, 'the allocating jobs');
  const [checkedAfter, corrupted] = await manager.execute(() => demo.allocation_report());
  assert.ok(checked > 100, `${checked} calls from the main thread`);
  assert.ok(checkedAfter - checkedBefore > 1000, `${checkedAfter - checkedBefore} buffers checked in the pool`);
  assert.equal(corrupted, 0, 'buffers the pool threads filled were overwritten');
});
