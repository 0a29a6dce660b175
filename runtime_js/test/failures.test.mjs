// No silent hang: panics, traps and deadlocks become typed errors, fast; the
// pool is torn down (no worker left) and the next execute() works again. In a
// panic=unwind build a panic rejects only its call: the same pool goes on.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { runtime, demo, UNWINDS, SPLIT_CALLS, LOAD_PACKAGE, threadCount, assertNoWorkersLeft, collectUntil } from './helpers.mjs';

const HEARTBEAT_MS = 1000;
const logs = [];
const newManager = () => new runtime.ThreadPoolManager({ numThreads: 3, heartbeatTimeoutMs: HEARTBEAT_MS, onLog: (e) => logs.push(e) });
let manager;
let baseline;

test.before(async () => {
  // Warm up once so threads Node starts lazily are part of the baseline.
  const warmup = newManager();
  await warmup.execute(() => demo.noop());
  await warmup.close();
  baseline = threadCount();
  manager = newManager();
});
test.after(() => manager.close());

let rejectedAt; // Date.now() when the last expectFailure() saw its rejection

async function expectFailure(fn, check) {
  // A running pool: the time below is the failure's alone, not also a (slow, loaded) start.
  await manager.execute(() => demo.noop());
  const pool = manager.engine.pool;
  const started = performance.now();
  let failedAt;
  let failure;
  await assert.rejects(
    manager.execute(() => {
      try {
        return fn();
      } finally {
        failedAt = performance.now();
      }
    }),
    (e) => {
      rejectedAt = Date.now();
      check(e);
      failure = e;
      return true;
    },
  );
  const elapsed = failedAt - started;
  if (failure instanceof runtime.WasmPanicError) assert.equal(failure.unwound, UNWINDS, 'unwound: whether the panic kept the pool');
  if (failure.unwound) assert.equal(manager.engine.pool, pool, 'a panic that unwound keeps the pool');
  else await assertNoWorkersLeft(baseline);
  // Recovery: the next call (on a fresh pool, unless a panic unwound) works.
  assert.equal(await manager.execute(() => demo.collatz_sum(1000)), 59542);
  return elapsed;
}

test('a panic on a pool thread rejects with WasmPanicError: message, location, thread', async () => {
  logs.length = 0;
  const elapsed = await expectFailure(
    () => demo.panic_at(10_000, 7_777),
    (e) => {
      assert.ok(e instanceof runtime.WasmPanicError, `got ${e && e.name}: ${e && e.message}`);
      assert.equal(e.code, 'ERR_WASM_PANIC');
      assert.equal(e.panicMessage, 'demo panic at index 7777');
      assert.match(e.location.file, /demo\/src\/lib\.rs$/);
      assert.ok(e.location.line > 0 && e.location.column > 0);
      assert.ok(Number.isInteger(e.threadIndex) && e.threadIndex >= 0 && e.threadIndex < 3);
      // The log line the panicking thread wrote first arrived before the error.
      const warn = logs.find((l) => l.message === 'about to panic at index 7777');
      assert.ok(warn, 'the log line before the panic was delivered');
      assert.equal(warn.threadIndex, e.threadIndex);
      assert.equal(warn.level, 'warn');
    },
  );
  // The panic report, not the heartbeat, ended the call: the heartbeat fails a call
  // only after HEARTBEAT_MS without progress, watched from when the call starts to
  // wait (after `started`), so a call it ended has `elapsed` >= HEARTBEAT_MS on any
  // machine; the report takes 1-3 ms (make bench), how fast is the bench's to say.
  // The same bound from the line the thread logged just before the panic (Date.now()
  // on that thread) to the caller's rejection also catches a rejection held back
  // once the failure was known.
  const warn = logs.find((l) => l.message === 'about to panic at index 7777');
  assert.ok(rejectedAt - warn.time < HEARTBEAT_MS, `the panic reached the caller ${rejectedAt - warn.time} ms after it happened`);
  assert.ok(elapsed < HEARTBEAT_MS, `the call failed after ${elapsed} ms`);
});

test('a lock held by the panicking thread does not block the next pool', async () => {
  await expectFailure(
    () => demo.panic_holding_lock(),
    (e) => assert.match(e.message, /holding the shared-state lock/),
  );
  // The memory was replaced, so the lock is free and the state starts over; a
  // panic=unwind build keeps the memory, and the unwinding released the lock.
  const bumped = await manager.execute(() => demo.bump_shared_state());
  if (!UNWINDS) assert.equal(bumped, 1);
  assert.equal(demo.bump_shared_state(), bumped + 1, 'the local instance shares the memory');
});

for (const [name, call, message, caller] of [
  ['the first closure of join', () => demo.panic_in_join(true), 'panic in the first closure of join'],
  ['the second closure of join', () => demo.panic_in_join(false), 'panic in the second closure of join'],
  ['a scope spawn', () => demo.panic_in_scope(), 'panic in a scope spawn'],
  ['a detached spawn', () => demo.panic_in_detached_spawn(false), 'panic in a detached spawn'],
  ['a detached spawn_fifo', () => demo.panic_in_detached_spawn(true), 'panic in a detached spawn'],
  ['a nested install', () => demo.panic_in_nested_install(), 'panic in a nested install'],
  ['Drop', () => demo.panic_in_drop(), 'panic inside Drop'],
  ['a non-string payload', () => demo.panic_with_number(), 'Box<dyn Any>'],
  // An export that cannot wait: with the split, it runs on the main thread's own instance (-2).
  ['the calling thread, before the pool', () => demo.panic_on_host(), 'panic on the host before entering the pool', SPLIT_CALLS && demo.__wbg_pool.runsLocally('panic_on_host') ? -2 : null],
]) {
  // In a panic=unwind build a detached job's panic rejects no call (unwind.test.mjs): this call would wait forever.
  const detached = UNWINDS && name.startsWith('a detached ') && 'a panic=unwind build: a detached panic fails no call';
  test(`a panic in ${name} rejects with WasmPanicError`, { skip: detached }, async () => {
    const elapsed = await expectFailure(call, (e) => {
      assert.ok(e instanceof runtime.WasmPanicError, `got ${e && e.name}: ${e && e.message}`);
      assert.equal(e.panicMessage, message);
      assert.match(e.location.file, /demo\/src\/lib\.rs$/);
      if (caller !== undefined) assert.equal(e.threadIndex, caller);
      else assert.ok(Number.isInteger(e.threadIndex) && e.threadIndex >= 0);
    });
    assert.ok(elapsed < HEARTBEAT_MS, `took ${elapsed} ms: noticed by the heartbeat, not the panic report`);
  });
}

// SDKs install their own panic hook (console_error_panic_hook, often inside an
// export) or a std::panic::set_hook of theirs, replacing wbg-pool's: the panic
// must still arrive with its message and location.
for (const [hook, kind] of [
  ['console_error_panic_hook', 0],
  ['a std::panic::set_hook that reports nothing', 1],
]) {
  for (const onPool of [false, true]) {
    test(`${hook}, installed inside the panicking call on ${onPool ? 'a pool thread' : 'the host'}, keeps the panic typed`, async () => {
      await expectFailure(
        () => demo.panic_after_own_hook(kind, onPool),
        (e) => {
          assert.ok(e instanceof runtime.WasmPanicError, `got ${e && e.name}: ${e && e.message}`);
          assert.equal(e.panicMessage, `panic after the crate installed hook ${kind}`);
          assert.match(e.location.file, /demo\/src\/lib\.rs$/);
          assert.ok(e.location.line > 0);
          assert.equal(e.threadIndex === null, !onPool);
        },
      );
    });
  }
  test(`${hook}, installed by an earlier call, keeps later panics typed`, async () => {
    await manager.execute(() => demo.install_panic_hook(kind));
    await expectFailure(
      () => demo.panic_at(100, 42),
      (e) => {
        assert.ok(e instanceof runtime.WasmPanicError, `got ${e && e.name}: ${e && e.message}`);
        assert.equal(e.panicMessage, 'demo panic at index 42');
        assert.match(e.location.file, /demo\/src\/lib\.rs$/);
      },
    );
  });
}

for (const [fn, kind] of [
  ['trap_out_of_bounds', 'memory_out_of_bounds'],
  ['trap_stack_overflow', 'stack_overflow'],
  ['trap_out_of_memory', 'out_of_memory'],
  ['abort_in_pool', 'abort'],
]) {
  test(`${fn} rejects with WasmTrapError of kind ${kind}`, async () => {
    await expectFailure(
      () => demo[fn](),
      (e) => {
        assert.ok(e instanceof runtime.WasmTrapError, `got ${e && e.name}: ${e && e.message}`);
        assert.equal(e.code, 'ERR_WASM_TRAP');
        assert.equal(e.kind, kind);
        assert.ok(Number.isInteger(e.threadIndex));
        // Release builds keep the name section, so the trap names Rust functions.
        assert.match(e.wasmStack, /wbg_demo/);
      },
    );
  });
}

// In a panic=unwind build Rayon's panic handler takes it and the pool starts (unwind.test.mjs).
const startUnwinds = UNWINDS && 'a panic=unwind build: the pool starts';

test('a panic while the pool starts rejects with WasmPanicError, and the next pool starts', { skip: startUnwinds }, async () => {
  // Only a pool that starts from now on is armed: replace the running one.
  await manager.close();
  const fresh = new runtime.ThreadPoolManager({ numThreads: 2, onLog() {} });
  try {
    demo.fail_next_pool_start();
    // The call needs every pool thread (a broadcast): the others could otherwise
    // finish it before the panicking thread's report arrives.
    await assert.rejects(
      fresh.execute(() => demo.log_from_every_thread(1)),
      (e) => e instanceof runtime.WasmPanicError && /panic while the pool starts/.test(e.panicMessage),
    );
    await assertNoWorkersLeft(baseline);
    assert.equal(await fresh.execute(() => demo.collatz_sum(1000)), 59542);
  } finally {
    await fresh.close();
    manager = newManager(); // the later tests' manager, whatever happened here
  }
});

// Each pool thread's stack and TLS are allocated in the shared memory as it starts: an app
// whose data filled the memory leaves no room for them.
test('a pool with no room to start in (the memory full) rejects with PoolStartError that says so, and the next call works', async () => {
  await manager.close();
  const fresh = new runtime.ThreadPoolManager({ numThreads: 2, onLog() {} });
  try {
    assert.ok(demo.fill_memory(0) > 1000 * 1024, 'the memory is full: the app holds over 1000 of its 1024 MiB');
    await assert.rejects(fresh.execute(() => demo.sum_range(1n, 11n)), (e) => {
      assert.ok(e instanceof runtime.PoolStartError, String(e));
      assert.match(e.message, /ran out of wasm memory as it started: .* holds 1024 MiB and could not grow for them/);
      assert.ok(e.cause instanceof runtime.WasmTrapError && e.cause.kind === 'out_of_memory', String(e.cause));
      return true;
    });
    // The memory was reset, as for any trap: the pool starts on a fresh one.
    assert.equal(await fresh.execute(() => demo.sum_range(1n, 11n)), 55n);
  } finally {
    await fresh.close();
    manager = newManager();
  }
});

// A shared memory reserves its maximum at once (V8: some 10 GiB of address space for this
// module's 1 GiB), so a process with less address space (ulimit -v here; a 32-bit browser,
// a phone) cannot make it: the glue's first instantiation says so, typed.
test('a memory the process cannot reserve is WbgPoolError ERR_OUT_OF_MEMORY at the first instantiation, naming the maximum', () => {
  const script = `try { ${LOAD_PACKAGE} console.log('loaded'); } catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message, cause: e.cause?.name })); }`;
  const child = spawnSync('sh', ['-c', 'ulimit -v 2000000 && exec "$0" --input-type=module -e "$1"', process.execPath, script], { encoding: 'utf8' });
  const outcome = JSON.parse(child.stdout.trim().split('\n').at(-1) || 'null');
  assert.deepEqual({ ...outcome, message: undefined }, { name: 'WbgPoolError', code: 'ERR_OUT_OF_MEMORY', message: undefined, cause: 'RangeError' }, child.stdout + child.stderr);
  assert.match(outcome.message, /the wasm memory could not be allocated \(WebAssembly\.Memory\(\): could not allocate memory\): .* up to 1024 MiB, and a shared memory reserves its maximum at once/);
});

test('finalizers of objects made before a crash do not free into the fresh memory', async () => {
  const pool = demo.__wbg_pool;
  let before = Array.from({ length: 20 }, () => new demo.Histogram(2));
  const stale = pool.staleFinalizations;
  // A real abort: a panic=unwind build keeps the memory after a panic.
  await expectFailure(() => demo.trap_out_of_bounds(), (e) => assert.ok(e instanceof runtime.WasmTrapError));
  // eslint-disable-next-line no-unused-vars -- dropping the last reference is the point
  before = null;
  await collectUntil(() => pool.staleFinalizations - stale === 20);
  assert.equal(pool.staleFinalizations - stale, 20, 'every pre-crash object was skipped, none freed');
  // Objects of the fresh memory are still freed by their finalizers as usual.
  // Each holds a JS value that only its free() lets go: the value is collected
  // only if the object's finalizer ran.
  const values = [];
  let after = Array.from({ length: 5 }, (_, i) => {
    const value = { fresh: i };
    values.push(new WeakRef(value));
    return new demo.JsHolder(value);
  });
  // eslint-disable-next-line no-unused-vars -- dropping the last reference is the point
  after = null;
  const alive = () => values.filter((v) => v.deref() !== undefined).length;
  await collectUntil(() => alive() === 0);
  assert.equal(alive(), 0, 'the finalizers of the fresh objects freed them, and the values they held');
  assert.equal(pool.staleFinalizations - stale, 20, 'none of them counted as stale');
  const h = new demo.Histogram(2);
  h.add(new Uint8Array(1000));
  assert.equal(h.total, 1000);
  h.free();
});

test('a deadlocked pool rejects with HeartbeatTimeoutError within the timeout + 1 s', async () => {
  const elapsed = await expectFailure(
    () => demo.deadlock(),
    (e) => {
      assert.ok(e instanceof runtime.HeartbeatTimeoutError, `got ${e && e.name}: ${e && e.message}`);
      assert.equal(e.code, 'ERR_HEARTBEAT_TIMEOUT');
      assert.match(e.message, /deadlock\(\)/);
    },
  );
  assert.ok(elapsed >= HEARTBEAT_MS, `gave up after ${elapsed} ms, before the timeout`);
  assert.ok(elapsed < HEARTBEAT_MS + 1000, `took ${elapsed} ms`);
});

test('a healthy job 3x longer than the heartbeat timeout completes', async () => {
  const threads = await manager.execute(() => demo.busy(3 * HEARTBEAT_MS));
  assert.equal(threads, 3);
});

test('logs from every pool thread arrive while the host is blocked, in per-thread order', async () => {
  logs.length = 0;
  let seenDuringCall = 0;
  const threads = await manager.execute(() => {
    const n = demo.log_from_every_thread(5);
    seenDuringCall = logs.length; // delivered before the call returned, not after
    return n;
  });
  assert.equal(threads, 3);
  assert.equal(seenDuringCall, 15);
  const byThread = new Map();
  for (const entry of logs) {
    assert.equal(entry.level, 'info');
    assert.equal(typeof entry.time, 'number');
    byThread.set(entry.threadIndex, [...(byThread.get(entry.threadIndex) ?? []), entry.message]);
  }
  assert.equal(byThread.size, 3);
  for (const [thread, messages] of byThread) {
    assert.deepEqual(messages, [0, 1, 2, 3, 4].map((i) => `thread ${thread} line ${i}`));
  }
});

// A JS exception thrown through wasm frames skips Rust's destructors: like a trap, it fails the pool.
const isJsException = (e) => {
  assert.ok(e instanceof runtime.WasmTrapError, `got ${e && e.name}: ${e && e.message}`);
  assert.equal(e.kind, 'js_exception');
  assert.ok(e.cause instanceof SyntaxError, `cause: ${e.cause}`);
  assert.match(e.message, /JS exception.*SyntaxError/);
};

// In a panic=unwind build, Rayon cannot catch a foreign exception in its job: it aborts there.
const isAbort = (e) => {
  assert.ok(e instanceof runtime.WasmTrapError, `got ${e && e.name}: ${e && e.message}`);
  assert.equal(e.kind, 'abort');
};

test('a JS exception that ends a pool thread fails the call with WasmTrapError, not a start error', async () => {
  await expectFailure(() => demo.throw_js_on_pool_thread(), UNWINDS ? isAbort : isJsException);
});

test('a JS exception through wasm frames on the host fails the pool: the lock it left held blocks no later call', async () => {
  await expectFailure(() => demo.throw_js_holding_lock(), isJsException);
  // On the kept instance this would wait on the lock and fail with HeartbeatTimeoutError.
  assert.equal(await manager.execute(() => demo.bump_shared_state()), 1);
});

test('console output of the host and of pool threads reaches stdout and stderr during the call, in order with the logs', async () => {
  // Printed lines go into `logs` too, so the order of both shows in one list.
  const writes = { stdout: process.stdout.write, stderr: process.stderr.write };
  let returned = false;
  let printedLate = 0;
  const capture = (stream) =>
    function write(chunk, ...rest) {
      if (!/console\.(log|error)/.test(String(chunk))) return writes[stream].call(this, chunk, ...rest);
      logs.push({ message: `${stream}: ${String(chunk).trim()}` });
      if (returned) printedLate++;
      return true;
    };
  logs.length = 0;
  process.stdout.write = capture('stdout');
  process.stderr.write = capture('stderr');
  try {
    await manager.execute(() => {
      const threads = demo.print_between_logs(300);
      returned = true;
      return threads;
    });
  } finally {
    process.stdout.write = writes.stdout;
    process.stderr.write = writes.stderr;
  }
  assert.equal(printedLate, 0, 'all output arrived before the call returned');
  const order = (prefix) => logs.map((e) => e.message).filter((m) => m.startsWith(prefix) || m.includes(`: ${prefix}`));
  assert.deepEqual(order('host'), ['host log before', 'stdout: host console.log', 'stderr: host console.error', 'host log after']);
  for (let thread = 0; thread < 3; thread++) {
    const t = `thread ${thread}`;
    assert.deepEqual(order(t), [`${t} log before`, `stdout: ${t} console.log`, `${t} log after`]);
  }
});

test('right after a failure, the local instance works without any execute() in between', async () => {
  await assert.rejects(manager.execute(() => demo.panic_at(2, 0)), runtime.WasmPanicError);
  assert.equal(demo.shout('still here'), 'STILL HERE');
  assert.equal(demo.collatz_sum(1000), 59542);
  const h = new demo.Histogram(2);
  h.add(new Uint8Array(10));
  assert.equal(h.total, 10);
  h.free();
});

test('a pool thread that ends without a report fails the call with PoolClosedError', async () => {
  const elapsed = await expectFailure(
    () => demo.end_a_pool_thread(),
    (e) => {
      assert.ok(e instanceof runtime.PoolClosedError, `got ${e && e.name}: ${e && e.message}`);
      assert.match(e.message, /pool thread \d+ ended without a report/);
    },
  );
  assert.ok(elapsed < HEARTBEAT_MS, `took ${elapsed} ms: the heartbeat noticed, not the vanished thread`);
});

test('a host terminated from outside fails the call instead of hanging', async () => {
  // Stands in for a thread killed by the OS: the stuck call notices the thread is gone.
  await expectFailure(
    () => {
      const pool = manager.engine.pool;
      pool.host.terminate();
      return demo.busy(5 * HEARTBEAT_MS);
    },
    (e) => assert.ok(e instanceof runtime.PoolClosedError, `got ${e && e.name}: ${e && e.message}`),
  );
});
