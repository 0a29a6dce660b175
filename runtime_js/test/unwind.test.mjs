// panic=unwind builds (issue 20): a panic costs only its call. It rejects that
// call with WasmPanicError (unwound: true), and nothing else happens: the same
// pool runs the next call, the memory and every object made before stay, no
// warning of a reset. A real abort (a trap, a panic while panicking, a JS
// exception through Rust frames) still fails the pool and resets the memory.
import test from 'node:test';
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import fs from 'node:fs';
import path from 'node:path';
import { runtime, demo, PKG, UNWINDS, managerPerTest, exposedGc, waitFor, warningsDuring, DEMO_TASKS as TASKS } from './helpers.mjs';

const skip = !UNWINDS && 'a panic=abort build: every panic resets (failures.test.mjs)';
const newManager = managerPerTest({ numThreads: 2, onLog() {} });
const MAIN_THREAD = -2;

// Whether `e` is the error of a panic with `message` that unwound to its call, with its location.
function unwound(e, message) {
  assert.ok(e instanceof runtime.WasmPanicError, `got ${e && e.name}: ${e && e.message}`);
  assert.equal(e.unwound, true);
  assert.equal(e.panicMessage, message);
  assert.match(e.location?.file ?? '', /demo\/src\/lib\.rs$/);
  assert.ok(e.location.line > 0 && e.location.column > 0);
  return true;
}

// A running pool (the one every later call must find again) and an object made in it with data.
async function poolWithObject(manager) {
  const object = await manager.execute(() => {
    const h = new demo.Histogram(4);
    h.add(Uint8Array.from([1, 70, 70, 130, 130, 130, 200, 200, 200, 200]));
    return h;
  });
  return { pool: manager.engine.pool, object };
}

const BUCKETS = [1, 2, 3, 4];
const bucketsOf = (h) => BUCKETS.map((_, i) => h.bucket(i));

test('1,000 panics in a row each reject only their call: an object made before keeps its data, RSS stays bounded', { skip }, async () => {
  const gc = exposedGc();
  const manager = newManager();
  const { pool, object } = await poolWithObject(manager);
  gc();
  const rssBefore = process.memoryUsage().rss;
  const resets = await warningsDuring('WBG_POOL_RESET', () =>
    manager.execute(() => {
      for (let i = 0; i < 1000; i++) {
        assert.throws(() => demo.panic_at(8, i % 8), (e) => unwound(e, `demo panic at index ${i % 8}`) && Number.isInteger(e.threadIndex));
      }
    }),
  );
  gc();
  const rssAfter = process.memoryUsage().rss;
  assert.deepEqual(resets, []);
  assert.deepEqual(await manager.execute(() => bucketsOf(object)), BUCKETS);
  assert.equal(object.total, 10, 'and on the main thread');
  assert.equal(manager.engine.pool, pool);
  assert.equal(manager.stats().poolStarts, 1);
  assert.equal(manager.stats().poolStops, 0);
  // A leak of a few KiB per panic would show; a slow or busy machine does not move RSS.
  assert.ok(rssAfter - rssBefore < 64 * 2 ** 20, `RSS grew by ${((rssAfter - rssBefore) / 2 ** 20).toFixed(0)} MiB`);
});

// Rayon re-raises a pool thread's panic on the thread that joins the job.
for (const [construct, call, message] of [
  ['join', () => demo.panic_in_join(false), 'panic in the second closure of join'],
  ['scope', () => demo.panic_in_scope(), 'panic in a scope spawn'],
  ['par_iter', () => demo.panic_at(100, 42), 'demo panic at index 42'],
  ['a nested install', () => demo.panic_in_nested_install(), 'panic in a nested install'],
  ['broadcast', () => demo.panic_in_broadcast(), 'panic in a broadcast on thread 0'],
]) {
  test(`a panic in ${construct} rejects only its call; the same pool runs the next`, { skip }, async () => {
    const manager = newManager();
    const { pool, object } = await poolWithObject(manager);
    await assert.rejects(manager.execute(call), (e) => unwound(e, message));
    assert.equal(await manager.execute(() => demo.collatz_sum(1000)), 59542);
    assert.deepEqual(await manager.execute(() => bucketsOf(object)), BUCKETS);
    assert.equal(manager.engine.pool, pool);
    assert.deepEqual(manager.stats().failures, { ERR_WASM_PANIC: 1 });
  });
}

test('of 20 concurrent execute() calls one panics: the 19 others complete with their results', { skip }, async () => {
  const manager = newManager();
  const { pool } = await poolWithObject(manager);
  // Each call makes two wasm calls with a turn between: the panic comes while the others are in flight.
  const calls = Array.from({ length: 20 }, (_, i) =>
    manager.execute(async () => {
      const first = demo.collatz_sum(100 + i);
      await new Promise((r) => setTimeout(r, 1));
      return i === 7 ? demo.panic_at(8, 5) : first + demo.collatz_sum(200 + i);
    }),
  );
  const settled = await Promise.allSettled(calls);
  settled.forEach((outcome, i) => {
    if (i === 7) assert.ok(outcome.status === 'rejected' && unwound(outcome.reason, 'demo panic at index 5'));
    else assert.deepEqual(outcome, { status: 'fulfilled', value: demo.collatz_sum(100 + i) + demo.collatz_sum(200 + i) }, `call ${i}`);
  });
  assert.equal(manager.engine.pool, pool);
  assert.equal(manager.stats().poolStarts, 1);
});

test('a panic while a Mutex is held poisons it: a call that locks it then goes on, no hang', { skip }, async () => {
  const manager = newManager();
  demo.clear_shared_state_poison();
  await assert.rejects(manager.execute(() => demo.panic_holding_lock()), (e) => unwound(e, 'panicked while holding the shared-state lock'));
  // Rust's poisoning, seen without waiting (a lock left held would throw here).
  assert.equal(await manager.execute(() => demo.shared_state_poisoned()), true);
  const bumped = await manager.execute(() => demo.bump_shared_state());
  assert.equal(demo.bump_shared_state(), bumped + 1, 'the state was kept, and the main thread shares it');
  demo.clear_shared_state_poison();
  assert.equal(demo.shared_state_poisoned(), false);
});

// What the reset machinery still handles in a panic=unwind build.
async function expectReset(manager, call, check, errorClass = runtime.WasmTrapError) {
  const { object } = await poolWithObject(manager);
  await assert.rejects(manager.execute(call), (e) => {
    assert.ok(e instanceof errorClass, `got ${e && e.name}: ${e && e.message}`);
    check(e);
    return true;
  });
  assert.throws(() => object.total, runtime.StaleObjectError);
  await assert.rejects(manager.execute(() => object.bucket(0)), runtime.StaleObjectError);
  assert.equal(await manager.execute(() => demo.collatz_sum(1000)), 59542);
  assert.equal(manager.stats().poolStarts, 2, 'the next call ran on a new pool');
}

test('an abort (out-of-bounds access) still resets: WasmTrapError, objects made before are stale, a new pool', { skip }, async () => {
  await expectReset(newManager(), () => demo.trap_out_of_bounds(), (e) => assert.equal(e.kind, 'memory_out_of_bounds'));
});

test('a JS exception through Rust frames holding a lock is a trap and a reset: the lock it left held blocks nothing', { skip }, async () => {
  const manager = newManager();
  await expectReset(manager, () => demo.throw_js_holding_lock(), (e) => {
    assert.equal(e.kind, 'js_exception');
    assert.ok(e.cause instanceof SyntaxError, `cause: ${e.cause}`);
  });
  // On the kept memory the lock would still be held: shared_state_poisoned() throws, bump_shared_state() hangs.
  assert.equal(await manager.execute(() => demo.shared_state_poisoned()), false);
  assert.equal(await manager.execute(() => demo.bump_shared_state()), 1);
});

test('a panic on the main thread outside execute() throws only there: objects stay, the running pool is not ended', { skip }, async () => {
  const manager = newManager();
  const { pool, object } = await poolWithObject(manager);
  const resets = await warningsDuring('WBG_POOL_RESET', () => {
    assert.throws(() => demo.panic_on_host(), (e) => unwound(e, 'panic on the host before entering the pool') && e.threadIndex === MAIN_THREAD);
  });
  assert.deepEqual(resets, []);
  assert.deepEqual(bucketsOf(object), BUCKETS);
  assert.equal(pool.failure, null);
  assert.deepEqual(await manager.execute(() => bucketsOf(object)), BUCKETS);
  assert.equal(manager.engine.pool, pool);
});

// A detached job's panic has no call to reject: it is published, printed as a warning and counted.
async function detachedPanics(manager, spawn) {
  const published = [];
  const listener = (message) => published.push(message);
  diagnostics.subscribe(runtime.CHANNELS.detachedPanic, listener);
  try {
    const warnings = await warningsDuring('WBG_POOL_DETACHED_PANIC', async () => {
      await manager.execute(spawn);
      await waitFor(() => manager.stats().detachedPanics === 1, 10_000, "the detached panic's report");
    });
    return { published, warnings };
  } finally {
    diagnostics.unsubscribe(runtime.CHANNELS.detachedPanic, listener);
  }
}

for (const fifo of [false, true]) {
  test(`a panic in a detached ${fifo ? 'spawn_fifo' : 'spawn'} fails no call: published, warned of, counted; the pool goes on`, { skip }, async () => {
    const manager = newManager();
    const { pool, object } = await poolWithObject(manager);
    const { published, warnings } = await detachedPanics(manager, () => demo.spawn_panicking_job(fifo));
    assert.equal(published.length, 1);
    assert.match(published[0].glue, /wbg_demo\.js$/);
    assert.ok(unwound(published[0].error, 'panic in a detached spawn'));
    assert.ok(Number.isInteger(published[0].error.threadIndex) && published[0].error.threadIndex >= 0);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /demo\/src\/lib\.rs:\d+:\d+: panic in a detached spawn/);
    assert.deepEqual(manager.stats().failures, {});
    assert.deepEqual(await manager.execute(() => bucketsOf(object)), BUCKETS);
    assert.equal(manager.engine.pool, pool);
  });
}

test("a panic in Rayon's thread start handler is a detached panic: the pool starts and the call succeeds", { skip }, async () => {
  const manager = newManager();
  demo.fail_next_pool_start();
  // The call needs every pool thread (a broadcast), the one that panicked too.
  const { published, warnings } = await detachedPanics(manager, () => assert.equal(demo.log_from_every_thread(1), 2));
  assert.ok(unwound(published[0].error, `panic while the pool starts, on thread ${published[0].error.threadIndex}`));
  assert.match(warnings[0], /panic while the pool starts/);
  assert.deepEqual(manager.stats().failures, {});
  assert.equal(manager.stats().poolStarts, 1);
});

test('a run() task whose wasm call panics rejects with WasmPanicError (unwound); the next task runs on the same pool', { skip }, async () => {
  const manager = newManager();
  const { pool, object } = await poolWithObject(manager);
  await assert.rejects(manager.run(TASKS, 'panicAt', [8, 3]), (e) => unwound(e, 'demo panic at index 3'));
  assert.equal(await manager.run(TASKS, 'poolThreads'), 2);
  assert.equal(object.total, 10);
  assert.equal(manager.engine.pool, pool);
});

// Issue 27, point 5: the host acts on such a trap before it serves anything else. A task
// that catches it and awaits let execute() calls run on the half-way instance, where the lock
// the trap left held turned the next one into a heartbeat timeout.
test('a run() task that catches a JS exception thrown through Rust frames and awaits: the next execute() fails with that trap, not on the half-way instance', { skip }, async () => {
  const manager = newManager();
  await poolWithObject(manager);
  const gate = new Int32Array(new SharedArrayBuffer(8));
  const task = manager.run(TASKS, 'catchesJsThroughRustThenWaits', [gate]);
  task.catch(() => {});
  await waitFor(() => Atomics.load(gate, 1) === 1, 30000, 'the task caught the exception');
  const trap = (e) => e instanceof runtime.WasmTrapError && e.kind === 'js_exception';
  await assert.rejects(manager.execute(() => demo.bump_shared_state()), (e) => assert.ok(trap(e), `got ${e && e.name}: ${e && e.message}`) ?? true);
  await assert.rejects(task, (e) => assert.ok(trap(e), `the task: ${e && e.name}: ${e && e.message}`) ?? true);
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
  // A fresh memory: the lock is free.
  assert.equal(await manager.execute(() => demo.bump_shared_state()), 1);
});

test('a run() task that catches a JS exception thrown through Rust frames still fails with the trap, and the memory is reset', { skip }, async () => {
  const manager = newManager();
  const { object } = await poolWithObject(manager);
  await assert.rejects(manager.run(TASKS, 'catchesJsThroughRust'), (e) => {
    assert.ok(e instanceof runtime.WasmTrapError, `got ${e && e.name}: ${e && e.message}`);
    assert.equal(e.kind, 'js_exception');
    return true;
  });
  assert.throws(() => object.total, runtime.StaleObjectError);
  // The lock that call left held went with the memory.
  assert.equal(await manager.run(TASKS, 'sharedStatePoisoned'), false);
});

// Rust aborts there; rustc up to 1.96 on wasm (rust-lang/rust#151771, fixed by #155249)
// unwinds the Drop's panic on instead, past the destructors left (the shared lock stays held),
// and abandons the first panic: before run_in_pool passes a panic on, each pool thread that
// panicked says whether it still counts as panicking, and wbg-pool aborts when one does. The
// rustc that built the module (its producers section) says which of the two happens.
const RUSTC = (() => {
  const wasm = fs.readdirSync(PKG).find((name) => name.endsWith('_bg.wasm'));
  const [producers] = WebAssembly.Module.customSections(new WebAssembly.Module(fs.readFileSync(path.join(PKG, wasm))), 'producers');
  const [, major, minor] = new TextDecoder('latin1').decode(producers).match(/rustc.(\d+)\.(\d+)/) ?? [];
  return { major: Number(major), minor: Number(minor) };
})();
const ABANDONS_PANICS = RUSTC.major === 1 && RUSTC.minor <= 96;
const DROP_PANIC = /"panic inside Drop" at demo\/src\/lib\.rs:\d+:\d+/;

// The error of a panic in a Drop during the unwinding of another, on thread `thread`.
function panicWhilePanicking(e, thread) {
  if (ABANDONS_PANICS) {
    assert.ok(e instanceof runtime.WasmTrapError, `got ${e && e.name}: ${e && e.message}`);
    assert.equal(e.kind, 'panic_while_panicking', e.message);
    assert.match(e.message, new RegExp(`the latest panic of that thread: ${DROP_PANIC.source}`));
  } else {
    // A fixed rustc aborts: the trap is the panic its thread reported first (issue 27, point 1).
    assert.ok(e instanceof runtime.WasmPanicError, `got ${e && e.name}: ${e && e.message}`);
    assert.equal(e.panicMessage.startsWith('panic with a value whose Drop panics'), true, e.message);
    assert.match(e.message, DROP_PANIC);
  }
  if (thread !== undefined) assert.equal(e.threadIndex, thread);
  return true;
}

test('a panic while panicking (in a Drop during the unwinding) is an abort: typed, and a reset', { skip }, async () => {
  const manager = newManager();
  await expectReset(manager, () => demo.panic_in_drop_while_unwinding(), (e) => panicWhilePanicking(e), Error);
  // The fresh memory has the lock free, and unpoisoned.
  assert.equal(await manager.execute(() => demo.shared_state_poisoned()), false);
});

// Issue 27, point 7: outside run_in_pool nothing checked the thread. The runtime asks
// (wbg-pool's wbg_pool_thread_panicking) after each panic that unwound to an export.
test('a panic while panicking on the host (no run_in_pool) is an abort too: typed, a reset, the lock it held blocks nothing', { skip }, async () => {
  const manager = newManager();
  await expectReset(manager, () => demo.panic_in_drop_while_unwinding_here(), (e) => panicWhilePanicking(e, null), Error);
  assert.equal(await manager.execute(() => demo.shared_state_poisoned()), false);
});

test('a run() task that catches the PanicError of a panic while panicking still fails with the trap, and the lock it held blocks nothing', { skip }, async () => {
  const manager = newManager();
  const { object } = await poolWithObject(manager);
  await assert.rejects(manager.run(TASKS, 'catchesPanicWhilePanicking'), (e) => panicWhilePanicking(e, null));
  assert.throws(() => object.total, runtime.StaleObjectError);
  assert.equal(await manager.execute(() => demo.shared_state_poisoned()), false);
});

test('a panic while panicking on the main thread outside execute(): typed there, the memory reset, the next call does not hang', { skip }, async () => {
  const manager = newManager();
  const object = new demo.Histogram(4);
  assert.throws(() => demo.panic_in_drop_while_unwinding_here(), (e) => panicWhilePanicking(e, MAIN_THREAD));
  assert.throws(() => object.total, runtime.StaleObjectError);
  // On the kept memory the lock would still be held: this call would wait for it forever.
  assert.equal(demo.shared_state_poisoned(), false);
  assert.equal(await manager.execute(() => demo.collatz_sum(1000)), 59542);
});

// Issue 27, point 1: a panic that cannot unwind aborts after its hook reported it; the
// trap that follows is that panic, with what the report said, not "no panic hook reported it".
test('a panic that cannot unwind (an extern "C" fn) is that panic: message, location, pool thread, and a reset', { skip }, async () => {
  await expectReset(
    newManager(),
    () => demo.panic_that_cannot_unwind(),
    (e) => {
      assert.equal(e.unwound, false);
      assert.ok(e.panicMessage.startsWith('panic in a function that must not unwind'), e.message);
      assert.match(e.location?.file ?? '', /demo\/src\/lib\.rs$/);
      assert.ok(e.threadIndex >= 0, `thread ${e.threadIndex}`);
    },
    runtime.WasmPanicError,
  );
});

// Issue 27, point 2: before a panic is passed on, the threads that panicked are asked
// whether they finished unwinding. Asking every pool thread waited for each one's job of
// the moment: a long detached job held the rejection for its whole run (one blocked outside
// Rayon, for ever). The rejection comes while that job still runs.
test("a panic's rejection does not wait for a long detached job on another pool thread", { skip }, async () => {
  const manager = newManager();
  const done = await manager.execute(() => demo.detached_jobs_done());
  await manager.execute(() => demo.spawn_detached_busy(5000)); // one of the two pool threads, for 5 s
  await assert.rejects(manager.execute(() => demo.panic_at(1000, 500)), (e) => unwound(e, 'demo panic at index 500'));
  assert.equal(await manager.execute(() => demo.detached_jobs_done()), done, 'the rejection came while the detached job ran');
});

// Issue 27, point 8: a diagnostics subscriber runs outside the execute() call that was waiting
// when the event came (as onLog does): its own wasm call runs on the main thread's instance,
// instead of being taken for the waiting call's (ERR_REENTRANT_CALL, thrown into the subscriber).
test('a detachedPanic subscriber that calls wasm while an execute() call waits gets its result', { skip }, async () => {
  const manager = newManager();
  await poolWithObject(manager);
  const seen = [];
  const listener = () => {
    try {
      seen.push(demo.shout('ok'));
    } catch (error) {
      seen.push(error.code ?? error.message);
    }
  };
  diagnostics.subscribe(runtime.CHANNELS.detachedPanic, listener);
  try {
    // Calls that wait for the pool until the detached panic's report arrives during one of them.
    const heard = await manager.execute(() => {
      demo.spawn_panicking_job(false);
      for (let i = 0; i < 10_000 && manager.stats().detachedPanics === 0; i++) demo.collatz_sum(1000);
      return manager.stats().detachedPanics;
    });
    assert.equal(heard, 1, 'the report came while the execute() call waited');
  } finally {
    diagnostics.unsubscribe(runtime.CHANNELS.detachedPanic, listener);
  }
  assert.deepEqual(seen, ['OK']);
});
