// Where calls run inside execute() (wbg_patch/wasm/waits.py, proxy.cjs): the
// exports the patch found cannot wait for another thread and use nothing a
// thread has its own of run on the caller's instance, every other one on the
// pool's host. Each fixture of rust_example/demo/src/calls.rs stays on the host
// for its own reason, and each test here would fail were its export run on the
// caller's instance: a wait there traps (wait_forbidden), a thread's own state
// or JS value differs. The SDK-shaped exports run there and answer the same.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { runtime, demo, PKG, LOAD_PACKAGE, SPLIT_CALLS, UNWINDS } from './helpers.mjs';

const THREADS = 2;
let manager;
test.before(() => {
  manager = new runtime.ThreadPoolManager({ numThreads: THREADS, onLog() {} });
});
test.after(() => manager.close());

const local = (name) => demo.__wbg_pool.runsLocally(name);

// Each export that must stay on the pool, and a call inside execute() that shows it.
const POOL = {
  count_under_lock: async () => assert.ok((await manager.execute(() => (demo.hold_counter_lock(300), demo.count_under_lock()))) > 0),
  wait_for_signal: async () => assert.equal(await manager.execute(() => (demo.signal_after(100), demo.wait_for_signal())), 1),
  receive_from_pool: async () => assert.equal(await manager.execute(() => demo.receive_from_pool(100, 7)), 7),
  park_until_unparked: async () => assert.equal(await manager.execute(() => demo.park_until_unparked(100)), 1),
  pool_threads: async () => assert.equal(await manager.execute(() => demo.pool_threads()), THREADS), // rayon install
  count_calls_on_this_thread: async () => {
    // The host's count goes on across execute() calls; the main thread's is its own.
    const before = await manager.execute(() => demo.count_calls_on_this_thread());
    for (let i = 0; i < 3; i++) demo.count_calls_on_this_thread();
    assert.equal(await manager.execute(() => demo.count_calls_on_this_thread()), before + 1);
  },
  // A JS value lives in the table of the instance that took it: made, read and passed on one side.
  jsholder_new: () => jsValuesStayOnOneSide(),
  jsholder_value: () => jsValuesStayOnOneSide(),
  measure_dyn: async () => assert.equal(await manager.execute(() => (demo.hold_counter_lock(300), demo.measure_dyn(true, 5))), 5),
  // A JS function cannot cross to the host: inside execute() the callback is refused, typed, as
  // with every call proxied (outside execute() it runs on the main thread and may call wasm).
  call_back: async () => {
    assert.equal(demo.call_back((v) => demo.field_from_bytes(new Uint8Array([v])) === BigInt(v) && v + 1, 41), 42);
    await assert.rejects(manager.execute(() => demo.call_back((v) => v + 1, 41)), (e) => e instanceof runtime.NotTransferableError);
  },
};

async function jsValuesStayOnOneSide() {
  const found = await manager.execute(() => {
    const holder = new demo.JsHolder({ n: 5 });
    return [holder.value.n, demo.js_type_of(holder.value)];
  });
  assert.deepEqual(found, [5, 'object']);
}

for (const [name, check] of Object.entries(POOL)) {
  test(`${name} runs on the pool's host, and answers there`, async () => {
    assert.equal(local(name), false, `${name} was classified local`);
    await check();
  });
}

// Decided: a OnceLock stays on the pool. Once initialised, get() waits for nothing, but whether it
// is, is memory state the patch cannot read, and the wait of a race (another thread runs the
// initialiser right now) is a real one. (Run on the caller's instance it would answer the same
// when no race comes: this test shows the decision, not a failure.)
test('an export behind a OnceLock stays on the pool', async () => {
  assert.equal(local('lazy_square'), false);
  assert.equal(await manager.execute(() => demo.lazy_square(12)), 144);
});

// A circuit of `gates` gates, built with 17 small calls each, as a proof SDK's compiler does.
function buildCircuit(gates) {
  const circuit = new demo.GateVector();
  const coefficients = new Uint8Array(16).map((_, i) => i * 7);
  for (let g = 0; g < gates; g++) {
    const wires = Array.from({ length: 7 }, (_, col) => new demo.Wire(g, col));
    const gate = new demo.Gate(g % 5, ...wires, coefficients);
    circuit.add(gate);
    gate.free();
    for (const wire of wires) wire.free();
  }
  const result = { len: circuit.len, digest: circuit.digest(), row: new demo.Wire(3, 1).row, field: demo.field_from_bytes(coefficients) };
  circuit.free();
  return result;
}

test('SDK-shaped exports run on the caller instance inside execute() and answer as they do outside it', async () => {
  // In a panic=unwind build their catch path (wasm-bindgen's, which throws the panic as a JS value)
  // uses the table of JS values: fewer of them run there.
  const shaped = UNWINDS ? ['wire_new', 'gatevector_new', 'field_from_bytes'] : ['wire_new', 'wire_row', 'gate_new', 'gatevector_new', 'gatevector_add', 'gatevector_len', 'gatevector_digest', 'field_from_bytes'];
  for (const name of shaped) assert.equal(local(name), true, `${name} was not classified local`);
  const outside = buildCircuit(200);
  // Where they ran: the handle's callLocally is what execute() runs them with.
  const handle = demo.__wbg_pool;
  const original = handle.callLocally;
  const ran = new Set();
  handle.callLocally = (name, args) => (ran.add(name), original(name, args));
  try {
    assert.deepEqual(await manager.execute(() => buildCircuit(200)), outside);
  } finally {
    handle.callLocally = original;
  }
  for (const name of shaped) assert.equal(ran.has(name), SPLIT_CALLS, `${name} ran on the caller's instance: ${ran.has(name)}`);
  assert.equal(handle.raw().__wbg_pool_no_wait.value, 0, 'waits are allowed again between calls');
  assert.deepEqual(outside, { len: 200, digest: outside.digest, row: 3, field: 0x312a231c150e0700n % ((1n << 61n) - 1n) });
  assert.equal(await manager.execute(() => demo.field_from_bytes(new Uint8Array([1, 2]))), 513n);
});

test('splitCalls must be true or false', () => {
  for (const bad of ['no', 0, null]) {
    assert.throws(() => new runtime.ThreadPoolManager({ splitCalls: bad }), (e) => e instanceof TypeError && /options\.splitCalls must be true or false/.test(e.message));
  }
});

test('a local call that panics fails its execute() like a pool call, on thread -2 with the split, and the next call works', async () => {
  assert.equal(local('panic_on_host'), !UNWINDS); // its catch path uses the table of JS values
  const caller = SPLIT_CALLS && !UNWINDS ? -2 : null;
  await assert.rejects(manager.execute(() => demo.panic_on_host()), (e) => e instanceof runtime.WasmPanicError && e.threadIndex === caller);
  assert.equal(await manager.execute(() => (demo.noop(), demo.pool_threads())), THREADS);
});

test('a synchronous loop of calls on the caller instance still ends at callTimeoutMs', async () => {
  const started = performance.now();
  await assert.rejects(
    manager.execute(() => {
      // Bounded, so that a broken check fails the test instead of hanging it.
      const until = performance.now() + 10_000;
      while (performance.now() < until) demo.noop();
    }, { callTimeoutMs: 200 }),
    (e) => e instanceof runtime.CallTimeoutError && e.timeoutMs === 200,
  );
  assert.ok(performance.now() - started >= 200);
  assert.equal(await manager.execute(() => demo.pool_threads()), THREADS);
});

test('glue patched without the lists (an earlier wbg-patch) sends every call to the host', () => {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'wbg-calls-'));
  fs.cpSync(PKG, copy, { recursive: true });
  const file = path.join(copy, 'wbg_demo.js');
  const stripped = fs.readFileSync(file, 'utf8').replace(/"localExports": \[[^\]]*\], /, '').replace(/"boundExports": \[[^\]]*\], /, '');
  assert.ok(!stripped.includes('localExports') && !stripped.includes('boundExports'));
  fs.writeFileSync(file, stripped);
  const script = `${LOAD_PACKAGE.replaceAll(JSON.stringify(PKG).slice(1, -1), copy)}
    const manager = new runtime.ThreadPoolManager({ numThreads: 2, onLog() {} });
    try { await manager.execute(() => demo.panic_on_host()); } catch (e) { console.log(JSON.stringify({ local: demo.__wbg_pool.runsLocally('noop'), thread: e.threadIndex })); }
    await manager.close();`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  fs.rmSync(copy, { recursive: true, force: true });
  assert.deepEqual(JSON.parse(child.stdout.trim().split('\n').pop()), { local: false, thread: null }, child.stderr);
});

// Last in this file: the hook it installs is the crate's from then on (run again on each fresh memory).
test('a call on the caller instance that meets, while it panics, a lock another thread holds traps at once (wait_forbidden), and the next call works', async () => {
  await manager.execute(() => demo.install_locking_hook());
  const failed = manager.execute(() => (demo.hold_hook_lock(500), demo.panic_on_host()));
  if (SPLIT_CALLS && !UNWINDS) {
    // Its panic hook would wait for a pool thread: on the main thread it may not.
    await assert.rejects(failed, (e) => e instanceof runtime.WasmTrapError && e.kind === 'wait_forbidden' && e.threadIndex === -2);
  } else {
    // On the host it waits until the pool thread lets the lock go, then reports its panic.
    await assert.rejects(failed, (e) => e instanceof runtime.WasmPanicError && e.threadIndex === null && e.panicMessage === 'panic on the host before entering the pool');
  }
  assert.equal(await manager.execute(() => demo.pool_threads()), THREADS);
});
