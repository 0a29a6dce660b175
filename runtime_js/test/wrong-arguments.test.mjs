// A wrong argument is the caller's error, not a trap: V8 converts a wasm
// export's arguments before any wasm frame runs, so a Number given for a u64
// throws the same TypeError inside execute() as outside, and the pool, its
// memory and every object made before stay as they were.
import test from 'node:test';
import assert from 'node:assert/strict';
import { runtime, demo } from './helpers.mjs';

const manager = new runtime.ThreadPoolManager({ numThreads: 2, onLog() {} });
test.after(() => manager.close());

// What a caller might pass by mistake (every value can be copied to the pool:
// a function cannot, and says so, see proxy.test.mjs).
const WRONG = [5, 1.5, 'a', '12', null, undefined, true, 5n, 2n ** 70n, -(2n ** 70n), {}, [], new Float64Array([1.5]), new Uint32Array([7])];

// Every export of the demo that takes arguments and cannot fail by itself, each
// called with `value` in every parameter.
const CALLS = {
  collatz_sum: (v) => demo.collatz_sum(v),
  xor_bytes: (v) => demo.xor_bytes(v, v),
  sum_squares: (v) => demo.sum_squares(v),
  sum_range: (v) => demo.sum_range(v, v),
  sum_range_first: (v) => demo.sum_range(v, 1n),
  first_multiple: (v) => demo.first_multiple(v, v, v),
  checked_mean: (v) => demo.checked_mean(v),
  js_type_of: (v) => demo.js_type_of(v),
  merge_histograms: (v) => demo.merge_histograms(v, v),
  'new Histogram': (v) => new demo.Histogram(v).total,
  'Histogram.add': (v) => withHistogram((h) => h.add(v)),
  'Histogram.bucket': (v) => withHistogram((h) => h.bucket(v)),
  'new JsHolder': (v) => typeof new demo.JsHolder(v).value,
};

function withHistogram(use) {
  const h = new demo.Histogram(4);
  try {
    return use(h);
  } finally {
    h.free();
  }
}

// A string export given a non-string the glue does not refuse (a Number, {})
// makes the glue's allocator calls trap: that is a trap, see local-failures.test.mjs.
const STRING_CALLS = { shout: (v) => demo.shout(v) };
const NOT_STRINGS = [null, undefined, new Float64Array([1.5])];

// Each call's outcome as data both sides can compare: a value, or the class and message it threw.
function outcomes() {
  const out = [];
  const cases = [...Object.entries(CALLS).map((c) => [...c, WRONG]), ...Object.entries(STRING_CALLS).map((c) => [...c, NOT_STRINGS])];
  for (const [name, call, values] of cases) {
    for (const value of values) {
      try {
        const result = call(value);
        out.push({ name, value, result: ArrayBuffer.isView(result) ? Array.from(result) : result });
      } catch (error) {
        out.push({ name, value, threw: error?.constructor?.name, message: error?.message });
      }
    }
  }
  return out;
}

test('wrong arguments give the same outcome in the pool as locally, and the pool stays', async () => {
  const local = outcomes();
  // The cases that matter: V8's own conversions at the boundary.
  assert.ok(local.some((o) => o.name === 'sum_squares' && o.value === 5 && o.threw === 'TypeError' && o.message === 'Cannot convert 5 to a BigInt'));
  assert.ok(local.some((o) => o.name === 'sum_range_first' && o.value === 'a' && o.threw === 'SyntaxError'));
  assert.ok(local.some((o) => o.name === 'collatz_sum' && o.value === 5n && o.threw === 'TypeError'));

  const before = await manager.execute(() => new demo.Histogram(2));
  const pooled = await manager.execute(outcomes);
  assert.deepEqual(pooled, local);
  // Nothing failed, nothing was reset: the same pool runs, and objects made before work.
  assert.deepEqual(manager.stats().failures, {});
  assert.equal(manager.stats().poolStarts, 1);
  assert.equal(await manager.execute(() => before.total), 0);
  assert.equal(before.total, 0);
});

test('a wrong argument rejects execute() with the error a local call throws', async () => {
  await assert.rejects(
    manager.execute(() => demo.sum_squares(5)),
    (e) => e.constructor === TypeError && e.message === 'Cannot convert 5 to a BigInt',
  );
  await assert.rejects(
    manager.execute(() => demo.sum_range('a', 1n)),
    (e) => e.constructor === SyntaxError && e.message === 'Cannot convert a to a BigInt',
  );
  assert.equal(await manager.execute(() => demo.sum_squares(4n)), 14n);
  assert.deepEqual(manager.stats().failures, { TypeError: 1, SyntaxError: 1 });
});

// Issue 27, point 6: SDKs and APM agents set Error.stackTraceLimit = 0, or a
// prepareStackTrace of their own format. A wrong argument is still the caller's
// TypeError then: no trap, no reset, objects made before keep working.
for (const [setting, apply] of [
  ['Error.stackTraceLimit = 0', () => (Error.stackTraceLimit = 0)],
  ['a custom Error.prepareStackTrace', () => (Error.prepareStackTrace = (error, frames) => `custom: ${frames.length} frames`)],
]) {
  test(`with ${setting}, a wrong argument is the caller's TypeError outside and inside execute(), and resets nothing`, async () => {
    const before = new demo.Histogram(2);
    const made = await manager.execute(() => new demo.Histogram(2));
    const failures = { ...manager.stats().failures };
    const { stackTraceLimit, prepareStackTrace } = Error;
    apply();
    try {
      assert.throws(() => demo.sum_squares(5), (e) => e.constructor === TypeError && e.message === 'Cannot convert 5 to a BigInt');
      await assert.rejects(manager.execute(() => demo.sum_squares(5)), (e) => e.constructor === TypeError);
      assert.equal(demo.sum_squares(4n), 14n);
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
      Error.prepareStackTrace = prepareStackTrace;
    }
    assert.equal(before.total, 0);
    assert.equal(await manager.execute(() => made.total), 0);
    assert.deepEqual(manager.stats().failures, { ...failures, TypeError: (failures.TypeError ?? 0) + 1 });
  });
}
