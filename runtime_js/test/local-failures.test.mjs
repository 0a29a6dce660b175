// What the failure model says for the pool holds for the main thread's own
// instance too (outside execute()): a trap there arrives typed and the memory
// is reset before anything else runs on it; a reset that fails refuses every
// later call with its reason; JS values never outgrow their instance's range.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { runtime, runtimeModule, demo, UNWINDS, LOAD_PACKAGE, waitFor } from './helpers.mjs';

const { RANGES } = runtimeModule('./prelude.cjs');
const MAIN_THREAD = -2;

test(`a panic on the main thread is a WasmPanicError with its message, and the memory is ${UNWINDS ? 'kept (panic=unwind)' : 'reset'}`, () => {
  const before = new demo.Histogram(2);
  before.add(new Uint8Array(3));
  assert.throws(
    () => demo.panic_at(10, 3),
    (e) =>
      e instanceof runtime.WasmPanicError &&
      e.panicMessage === 'demo panic at index 3' &&
      e.threadIndex === MAIN_THREAD &&
      /on the main thread/.test(e.message) &&
      e.unwound === UNWINDS,
  );
  assert.equal(demo.collatz_sum(10), 67, 'the next call runs');
  if (UNWINDS) assert.equal(before.total, 3, 'an object made before keeps its data');
  else assert.throws(() => before.total, (e) => e instanceof runtime.StaleObjectError && /demo panic at index 3/.test(e.message));
});

test('a trap in the glue\'s allocator on the main thread is typed, and the next call does not spin on its lock', () => {
  // A Number where a string goes: the glue's own allocator calls trap (before, the next one spun forever).
  assert.throws(() => demo.shout(5), (e) => e instanceof runtime.WasmTrapError && e.kind === 'memory_out_of_bounds' && e.threadIndex === MAIN_THREAD);
  assert.equal(demo.shout('still works'), 'STILL WORKS');
});

test('a trap on the main thread while a pool runs ends that pool too (it shares the memory), and the next execute() works', async () => {
  const manager = new runtime.ThreadPoolManager({ numThreads: 2, onLog() {} });
  try {
    assert.equal(await manager.execute(() => demo.pool_threads()), 2);
    const pool = manager.engine.pool;
    assert.throws(() => demo.trap_out_of_bounds(), (e) => e instanceof runtime.WasmTrapError && e.threadIndex === MAIN_THREAD);
    assert.notEqual(pool.failure, null);
    assert.equal(await manager.execute(() => demo.pool_threads()), 2);
    assert.equal(manager.stats().poolStarts, 2);
  } finally {
    await manager.close();
  }
});

test('a trap outside execute() while an execute() runs is typed for its caller, and the running call learns why its pool went', async () => {
  const manager = new runtime.ThreadPoolManager({ numThreads: 2, onLog() {} });
  try {
    let release;
    const gate = new Promise((resolve) => (release = resolve));
    const running = manager.execute(async () => {
      demo.pool_threads();
      await gate;
      return demo.pool_threads();
    });
    await waitFor(() => manager.engine.running === 1, 10_000, 'the execute() to run');
    // Outside that execute(), while its proxy is installed: the main thread's own instance.
    assert.throws(() => demo.trap_out_of_bounds(), (e) => e instanceof runtime.WasmTrapError && e.threadIndex === MAIN_THREAD);
    release();
    await assert.rejects(running, (e) => e instanceof runtime.PoolClosedError && e.cause instanceof runtime.WasmTrapError && /main thread's own instance failed/.test(e.message));
    assert.equal(await manager.execute(() => demo.pool_threads()), 2);
  } finally {
    await manager.close();
  }
});

test('JS-value ranges: the host, the main thread and every pool thread take disjoint ranges, large enough', () => {
  const ranges = [RANGES.host, RANGES.main, ...Array.from({ length: 256 }, (_, i) => ({ start: RANGES.pool.start + i * RANGES.pool.size, size: RANGES.pool.size }))];
  for (let i = 1; i < ranges.length; i++) assert.ok(ranges[i - 1].start + ranges[i - 1].size <= ranges[i].start, `range ${i} overlaps the one before`);
  assert.ok(RANGES.host.size >= 5000 && RANGES.main.size >= 5000 && RANGES.pool.size >= 1000);
});

test('5,000 JS values held in the host and 1,000 on a pool thread keep their values, inside their ranges', async () => {
  const manager = new runtime.ThreadPoolManager({ numThreads: 2, onLog() {} });
  try {
    const holders = await manager.execute(() => Array.from({ length: 5000 }, (_, i) => new demo.JsHolder({ i })));
    const [ok, length] = await manager.execute(() => [holders.every((h, i) => h.value.i === i), demo.__wbg_pool.wasm()[demo.__wbg_pool.externrefs.table].length]);
    assert.equal(ok, true);
    assert.ok(length <= RANGES.host.start + RANGES.host.size, `the host's table (${length}) stays in its range`);
    assert.equal(await manager.execute(() => demo.hold_js_values_on_a_pool_thread(1000)), true);
    await manager.execute(() => holders.forEach((h) => h.free()));
  } finally {
    await manager.close();
  }
});

test('JS values past the host\'s range fail like a trap at the call that went past it, never sharing slots', async () => {
  const manager = new runtime.ThreadPoolManager({ numThreads: 1, onLog() {} });
  try {
    let made = 0;
    await assert.rejects(
      manager.execute(() => {
        for (; made < 2 * RANGES.host.size; made++) new demo.JsHolder(made);
      }),
      (e) => e instanceof runtime.WasmTrapError && e.kind === 'js_values_overflow' && /on the pool host/.test(e.message),
    );
    // (A holder made through the pool takes more than one slot on the way.)
    assert.ok(made >= 5000 && made < RANGES.host.size, `refused at the range's end (after ${made})`);
    assert.equal(await manager.execute(() => demo.collatz_sum(10)), 67);
  } finally {
    await manager.close();
  }
});

test('JS values past the main thread\'s range fail like a trap there', () => {
  const held = [];
  assert.throws(
    () => {
      while (held.length < 2 * RANGES.main.size) held.push(new demo.JsHolder(held.length));
    },
    (e) => e instanceof runtime.WasmTrapError && e.kind === 'js_values_overflow' && e.threadIndex === MAIN_THREAD,
  );
  // (Checked every 64 calls: a table's length costs more to read than a small call.)
  assert.ok(held.length >= RANGES.main.size - 200 && held.length <= RANGES.main.size + 64, `refused at the range's end (after ${held.length})`);
  assert.equal(new demo.JsHolder('fresh').value, 'fresh');
});

// A child process: it breaks WebAssembly.Memory for the whole process.
test('a reset that fails makes every later call fail with a typed error that names its cause; a new manager tries again', () => {
  const script = `${LOAD_PACKAGE}
const outcome = (e) => ({ name: e.constructor.name, code: e.code, message: e.message });
const manager = new runtime.ThreadPoolManager({ numThreads: 1, onLog() {} });
await manager.execute(() => demo.collatz_sum(10));
const Memory = WebAssembly.Memory;
WebAssembly.Memory = function () { throw new RangeError('no memory for you'); };
const out = {};
process.on('warning', (w) => (out.warning = w.code));
out.trap = await manager.execute(() => demo.trap_out_of_bounds()).catch(outcome);
out.next = await manager.execute(() => demo.collatz_sum(10)).catch(outcome);
try { demo.collatz_sum(10); } catch (e) { out.local = outcome(e); }
WebAssembly.Memory = Memory;
await manager.close();
const again = new runtime.ThreadPoolManager({ numThreads: 1, onLog() {} });
out.after = await again.execute(() => demo.collatz_sum(10));
out.localAfter = demo.collatz_sum(10);
await again.close();
console.log(JSON.stringify(out));
`;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
  // (A real abort: a panic=unwind build resets nothing after a panic.)
  assert.equal(out.trap.code, 'ERR_WASM_TRAP');
  for (const failed of [out.next, out.local]) {
    assert.equal(failed.code, 'ERR_RESET_FAILED');
    assert.match(failed.message, /could not be reset after: wasm accessed memory out of bounds on pool thread \d: .* \(no memory for you\)/);
  }
  assert.equal(out.after, 67);
  assert.equal(out.localAfter, 67);
});
