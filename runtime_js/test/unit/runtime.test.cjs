'use strict';
// The runtime's modules tested as they are in runtime_js/, without a built
// package: the binding's checks, option checks, and errors across threads.
// (The behaviour tests, ../*.test.mjs, run the same modules in real packages.)
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const RUNTIME = path.join(__dirname, '../..');
const { register } = require(path.join(RUNTIME, 'binding.cjs'));
const { RUNTIME_VERSION } = require(path.join(RUNTIME, 'protocol.cjs'));
const { Waiter } = require(path.join(RUNTIME, 'waiter.cjs'));
const errors = require(path.join(RUNTIME, 'errors.cjs'));

const DEFAULTS = { numThreads: 0, heartbeatTimeoutMs: 5000, idleShutdownMs: 1000 };
const CONTRACT = { kind: 'wbg-pool', init: 'initThreadPool', exit: 'exitThreadPool', startWorker: 'wbg_rayon_start_worker' };
const binding = (handle) => ({ glue: { __wbg_pool: handle }, gluePath: '/pkg/sdk.js', format: 'commonjs', contract: CONTRACT, defaults: DEFAULTS });
const handle = (version = RUNTIME_VERSION) => ({ version, raw: () => undefined, module: () => undefined, onLocalTrap() {}, onLocalLog() {}, checkUsable() {}, setOutsideRouter() {} });

test('ThreadPoolManager loaded without its entry file says how to load it', () => {
  // A fresh process: this one registers a binding in the tests below.
  const child = spawnSync(process.execPath, ['-e', `
    const { ThreadPoolManager } = require(${JSON.stringify(path.join(RUNTIME, 'manager.cjs'))});
    try { new ThreadPoolManager(); } catch (e) { process.stdout.write(e.code + ': ' + e.message); }`], { encoding: 'utf8' });
  assert.match(child.stdout, /^ERR_NOT_BOUND: .*wbg-pool-manager\.cjs/);
});

test('glue that is not patched, or patched by another version, is refused when the entry loads', () => {
  assert.throws(() => register(binding(undefined)), (e) => e.code === 'ERR_GLUE_NOT_PATCHED' && /\/pkg\/sdk\.js is not patched/.test(e.message));
  assert.throws(
    () => register(binding(handle('0.0.1'))),
    (e) => e.code === 'ERR_GLUE_NOT_PATCHED' && e.message.includes(`patched by wbg-patch 0.0.1, but this runtime is ${RUNTIME_VERSION}`),
  );
});

test('options: defaults from the binding, bad values refused naming the option', async () => {
  register(binding(handle()));
  const { ThreadPoolManager } = require(path.join(RUNTIME, 'manager.cjs'));
  const manager = new ThreadPoolManager({ idleShutdownMs: 5 });
  assert.equal(manager.options.heartbeatTimeoutMs, 5000);
  assert.equal(manager.options.idleShutdownMs, 5);
  // Every core (make bench: the pool may have them all while the main thread and the host wait).
  assert.equal(manager.numThreads, require('os').availableParallelism());
  await manager.close();
  for (const [options, pattern] of [
    [{ numThreads: 1.5 }, /options\.numThreads/],
    [{ numThreads: 300 }, /options\.numThreads must be an integer from 1 to 256/],
    [{ heartbeatTimeoutMs: -1 }, /options\.heartbeatTimeoutMs/],
    [{ idleShutdownMs: NaN }, /options\.idleShutdownMs/],
  ]) {
    assert.throws(() => new ThreadPoolManager(options), (e) => e instanceof RangeError && pattern.test(e.message));
  }
  assert.throws(() => new ThreadPoolManager({ onLog: 3 }), TypeError);
});

test('execute() on glue that was never initialised (--target web) says what to call', async () => {
  const { ThreadPoolManager, WbgPoolError } = require(path.join(RUNTIME, 'manager.cjs'));
  const manager = new ThreadPoolManager({ numThreads: 1 });
  await assert.rejects(manager.execute(() => 1), (e) => e instanceof WbgPoolError && e.code === 'ERR_GLUE_NOT_INITIALIZED' && /initSync/.test(e.message));
  await manager.close();
});

test("a wrapper's route is the router's while it runs, and the one before once it ends, however it ends", () => {
  const { routeMembers } = require(path.join(RUNTIME, 'route.cjs'));
  const state = { route: null };
  const route = routeMembers(state);
  assert.equal(route.enter('sum'), null);
  assert.equal(state.route, null, 'no router (no pool up): the main thread');
  const pool = { pool: true };
  const asked = [];
  route.setOutsideRouter((name) => {
    asked.push(name);
    return pool;
  });
  const before = route.enter('sum');
  assert.equal(state.route, pool);
  // A nested wrapper (a user's toString() during an argument's conversion) and an arrow's body.
  assert.throws(
    () =>
      route.routed('free', () => {
        assert.equal(state.route, pool);
        throw new Error('boom');
      }),
    /boom/,
  );
  assert.equal(state.route, pool, "the outer wrapper's route again");
  route.leave(before);
  assert.equal(state.route, null);
  assert.deepEqual(asked, ['sum', 'free']);
  route.setOutsideRouter(() => null); // a pool that cannot serve (stopping, inside execute())
  route.leave(route.enter('sum'));
  assert.equal(route.routed('sum', () => state.route), null);
});

test('traps are classified from what V8 and SpiderMonkey report', () => {
  const trap = (message, stack) => Object.assign(new WebAssembly.RuntimeError(message), { stack });
  assert.equal(errors.trapKind(trap('unreachable', 'at __rust_alloc_error_handler (wasm://…)')), 'out_of_memory');
  assert.equal(errors.trapKind(trap('unreachable', 'at sdk::prove (wasm://…)')), 'abort');
  assert.equal(errors.trapKind(trap('memory access out of bounds', '')), 'memory_out_of_bounds');
  assert.equal(errors.trapKind(trap('table index is out of bounds', '')), 'foreign_js_value');
  assert.equal(errors.trapKind(new RangeError('Maximum call stack size exceeded')), 'stack_overflow');
  assert.equal(errors.trapKind(new TypeError('x is not a function')), null);
  // Firefox (SpiderMonkey): the same traps in its words.
  assert.equal(errors.trapKind(trap('unreachable executed', '__rust_alloc_error_handler@http://…/x.wasm:wasm-function[7]:0x1')), 'out_of_memory');
  assert.equal(errors.trapKind(trap('index out of bounds', '')), 'memory_out_of_bounds');
  assert.equal(errors.trapKind(trap('table index out of bounds', '')), 'foreign_js_value');
  assert.equal(errors.trapKind(Object.assign(new Error('too much recursion'), { name: 'InternalError' })), 'stack_overflow');
});

test("the boundary and the crate's frame are read from V8's and SpiderMonkey's stacks alike", () => {
  const boundary = require('../../boundary.cjs');
  const file = require.resolve('../../boundary.cjs');
  const thrown = (stack) => Object.assign(new TypeError("can't convert 5 to BigInt"), { stack });
  // Firefox: no header, "name@file:line:col" frames.
  assert.equal(boundary.thrownAtTheBoundary(thrown(`callExport@${file}:18:12\nrun@http://x/app.js:5:19\n`)), true);
  assert.equal(boundary.thrownAtTheBoundary(thrown(`__wbg_get@http://x/glue.js:9:3\ncallExport@${file}:18:12\n`)), false);
  assert.equal(boundary.thrownAtTheBoundary(thrown(`sdk::prove@http://x/x.wasm:wasm-function[7]:0x1f\ncallExport@${file}:18:12\n`)), false);
  const v8 = `TypeError: can't convert 5 to BigInt\n    at callExport (${file}:18:12)\n    at run (http://x/app.js:5:9)`;
  assert.equal(boundary.thrownAtTheBoundary(thrown(v8)), true);
  // A panic without a hook: the crate's frame in each engine's words.
  const frames = {
    node: '    at std::panicking::begin_panic (wasm://wasm/0012:wasm-function[3]:0x10)\n    at wbg_demo_bg.wasm.wbg_demo::prove::{{closure}} (wasm://wasm/0012:wasm-function[9]:0x99)',
    chromium: '    at std::panicking::begin_panic (http://x/x_bg.wasm:wasm-function[3]:0x10)\n    at wbg_demo::prove::{{closure}} (http://x/x_bg.wasm:wasm-function[9]:0x99)',
    firefox: 'std::panicking::begin_panic@http://x/x_bg.wasm:wasm-function[3]:0x10\nwbg_demo::prove::{{closure}}@http://x/x_bg.wasm:wasm-function[9]:0x99\n',
  };
  for (const [engine, stack] of Object.entries(frames)) assert.equal(errors.crateFrame(stack), 'wbg_demo::prove::{{closure}}', engine);
});

test('errors cross threads as data and come back as the right class', () => {
  const sent = [
    errors.serialize(Object.assign(new WebAssembly.RuntimeError('unreachable'), { stack: 'at rust_oom' }), 2),
    errors.serialize(new SyntaxError('bad json'), 1),
    errors.serialize('a thrown string', null),
  ];
  // structuredClone: what postMessage does to them on the way.
  const received = structuredClone(sent).map(errors.deserialize);
  assert.ok(received[0] instanceof errors.WasmTrapError);
  assert.equal(received[0].kind, 'out_of_memory');
  assert.equal(received[0].threadIndex, 2);
  assert.match(received[0].message, /^wasm ran out of memory .* on pool thread 2: unreachable$/);
  assert.ok(received[1] instanceof SyntaxError && received[1].message === 'bad json');
  assert.equal(received[2], 'a thrown string');
});

test('a panic reads as Rust reports it: thread, location, message', () => {
  const onPool = new errors.WasmPanicError({ message: 'index out of range', file: 'src/lib.rs', line: 7, column: 9, threadIndex: 3 });
  assert.equal(onPool.message, 'Rust panicked on pool thread 3 at src/lib.rs:7:9: index out of range');
  assert.deepEqual(onPool.location, { file: 'src/lib.rs', line: 7, column: 9 });
  assert.equal(onPool.code, 'ERR_WASM_PANIC');
  const onHost = new errors.WasmPanicError({ message: 'x', file: '', line: 0, column: 0, threadIndex: null });
  assert.equal(onHost.message, 'Rust panicked on the pool host: x');
  assert.equal(onHost.location, null);
});

test("a panic no hook reported names the crate's first frame past std, core and Rayon", () => {
  const frame = (name) => `    at sdk.wasm.${name} (wasm://wasm/sdk.wasm-0a1b:wasm-function[7]:0x1f)`;
  const machinery = [
    '__rustc[b1da763420d39311]::__rust_start_panic',
    'std[fcfb5db6d3ae018]::panicking::panic_with_hook',
    '__rustc[b1da763420d39311]::rust_begin_unwind',
    'core[ddb72bece75a12dc]::panicking::panic_fmt',
  ];
  const panicOf = (...names) =>
    errors.deserialize({ name: 'WasmTrapError', kind: 'panic', message: 'unreachable', threadIndex: 1, stack: ['RuntimeError: unreachable', ...[...machinery, ...names].map(frame)].join('\n') });
  // The crate's closure, inlined into core's fold: named only in its generic arguments.
  const inlined = panicOf(
    '<u64 as rayon[1e]::range::private::RangeInteger>::drive_unindexed::offset::{closure#0}',
    '<core[dd]::iter::adapters::map::Map<core[dd]::ops::range::Range<usize>, &sdk[59]::prove::{closure#0}> as core[dd]::iter::traits::iterator::Iterator>::fold::<u64, F>',
    'rayon[1e]::iter::plumbing::bridge_producer_consumer::helper::<usize>',
  );
  assert.equal(inlined.message.split(': (no message')[0], 'Rust panicked on pool thread 1 in sdk::prove::{closure#0}');
  assert.match(inlined.panicMessage, /^\(no message or location/);
  const own = panicOf('rayon_core[2f]::join::join_context::<A, B>', 'sdk[59]::hash::<u8, Vec<u8>>::{closure#1}');
  assert.equal(own.message.split(': (no message')[0], 'Rust panicked on pool thread 1 in sdk::hash::{closure#1}');
  // Legacy symbols, and an export's bare name.
  assert.match(panicOf('sdk::verify::{{closure}}::h0123456789abcdef').message, / in sdk::verify::\{\{closure\}\}: /);
  assert.match(panicOf('prove').message, / in prove: /);
  // No frame of the crate (unnamed functions, only Rayon's): no place is made up.
  assert.match(panicOf('$func12', 'rayon_core[2f]::registry::WorkerThread::wait_until_cold').message, /^Rust panicked on pool thread 1: \(no message/);
});

test('errors of the runtime and main-thread traps keep their class and code across threads', () => {
  const received = structuredClone([
    errors.serialize(new errors.WbgPoolError('no such export', 'ERR_TASK_NOT_FOUND'), null),
    errors.serialize(new WebAssembly.RuntimeError('unreachable'), -2, true),
    errors.notTransferable('a function'),
  ]).map(errors.deserialize);
  assert.ok(received[0] instanceof errors.WbgPoolError && received[0].code === 'ERR_TASK_NOT_FOUND');
  assert.ok(received[1] instanceof errors.WasmTrapError && /on the main thread: unreachable$/.test(received[1].message));
  assert.ok(received[2] instanceof errors.NotTransferableError && received[2].message === 'a function');
});

// The wait strategy's decisions, counted (never timed: a loaded machine must
// not change the outcome). A wait with timeout 0 on a counter that never moves
// misses every spin and returns at once.
function missedWaits(waiter, control, count) {
  for (let i = 0; i < count; i++) waiter.wait(control, 0, 0, 0);
}

test('a waiter whose spins miss stops spinning, tries again now and then, and spins again once a try sees the change', () => {
  const control = new Int32Array(new SharedArrayBuffer(4));
  const waiter = new Waiter(true);
  // ~180 misses bring the score below one half; after that one try per 16, 32, ... 256 waits.
  missedWaits(waiter, control, 2000);
  assert.ok(waiter.spins >= 170 && waiter.spins <= 200, `2000 missed waits spun ${waiter.spins} times`);
  // A try that sees the change (the counter already moved) brings the spinning back.
  for (let i = 0; i < 256 && waiter.score < 0.5; i++) waiter.wait(control, 0, 1, 0);
  const before = waiter.spins;
  missedWaits(waiter, control, 1);
  assert.equal(waiter.spins, before + 1, 'spins again');
});

test('with one core to run on, a waiter never spins', () => {
  const waiter = new Waiter(false);
  missedWaits(waiter, new Int32Array(new SharedArrayBuffer(4)), 1000);
  assert.equal(waiter.spins, 0);
});

// The panic reports of a pool's threads against the failures they explain (unwind.cjs).
const { PanicReports } = require(path.join(RUNTIME, 'unwind.cjs'));
const { UNKNOWN_THREAD } = require(path.join(RUNTIME, 'protocol.cjs'));
const at = (thread, message, line) => ({ thread, message, file: 'src/lib.rs', line, column: 5 });

test('an unwound panic takes the location its thread reported since the call began, not an earlier call\'s', () => {
  const reports = new PanicReports();
  reports.add(at(0, 'boom', 1)); // a panic an earlier call caught itself
  const since = reports.mark();
  reports.add(at(1, 'other', 2));
  reports.add(at(1, 'boom', 3));
  const error = reports.unwound('boom', since, UNKNOWN_THREAD);
  assert.deepEqual([error.threadIndex, error.location, error.unwound], [1, { file: 'src/lib.rs', line: 3, column: 5 }, true]);
  // Consumed: the same message unwinding again without a new report has no location.
  assert.equal(reports.unwound('boom', since, UNKNOWN_THREAD).location, null);
});

test('two reports of one message at different places make the location ambiguous, every candidate listed', () => {
  const reports = new PanicReports();
  const since = reports.mark();
  reports.add(at(0, 'called `Option::unwrap()` on a `None` value', 10));
  reports.add(at(1, 'called `Option::unwrap()` on a `None` value', 20));
  const error = reports.unwound('called `Option::unwrap()` on a `None` value', since, UNKNOWN_THREAD);
  assert.equal(error.location, null);
  assert.equal(error.threadIndex, UNKNOWN_THREAD);
  assert.deepEqual(error.candidates.map((c) => [c.threadIndex, c.line]), [[0, 10], [1, 20]]);
  assert.match(error.message, /on an unknown thread \(location ambiguous: pool thread 0 at src\/lib\.rs:10:5; pool thread 1 at src\/lib\.rs:20:5\)/);
  // One site on two threads: the location is certain, the thread is not.
  reports.add(at(0, 'same', 7));
  reports.add(at(1, 'same', 7));
  const oneSite = reports.unwound('same', since, UNKNOWN_THREAD);
  assert.deepEqual([oneSite.location, oneSite.threadIndex, oneSite.candidates], [{ file: 'src/lib.rs', line: 7, column: 5 }, UNKNOWN_THREAD, undefined]);
  // One panic heard twice on its thread (wbg-pool's hook, and console_error_panic_hook's text
  // with the stack) is one report, with the stack.
  reports.add(at(2, 'twice', 9));
  reports.add({ ...at(2, 'twice', 9), stack: 'Error\n    at wasm' });
  const twice = reports.explainTrap({ name: 'WasmTrapError', kind: 'abort', message: 'unreachable', threadIndex: 2 }, since);
  assert.deepEqual([twice.panicMessage, twice.wasmStack], ['twice', 'Error\n    at wasm']);
});

test('an unwound panic no hook reported is on an unknown thread, with how to get its thread and location', () => {
  const error = new PanicReports().unwound('invalid domain size', 0, UNKNOWN_THREAD);
  assert.equal(error.threadIndex, UNKNOWN_THREAD);
  assert.match(error.message, /^Rust panicked on an unknown thread: invalid domain size \(no panic hook reported it: .*set_panic_hook/);
  assert.doesNotMatch(error.message, /pool host/);
});

test("a trap after a panic that could not unwind is that panic, with the trapping thread's report since the call began", () => {
  const reports = new PanicReports();
  reports.add(at(1, 'caught by an earlier call', 1));
  const since = reports.mark();
  reports.add(at(0, 'not this thread', 2));
  reports.add(at(1, 'panic in an extern "C" fn', 3));
  reports.add(at(1, 'panic in a function that cannot unwind', 4));
  const trap = { name: 'WasmTrapError', kind: 'abort', message: 'unreachable', stack: 'wasm stack', threadIndex: 1 };
  const error = reports.explainTrap(trap, since);
  assert.ok(error instanceof errors.WasmPanicError);
  assert.deepEqual([error.threadIndex, error.location.line, error.unwound], [1, 3, false]);
  assert.match(error.message, /extern "C" fn \(then: "panic in a function that cannot unwind" at src\/lib\.rs:4:5\)$/);
  // Without a report of that thread since then, the trap stays a trap.
  assert.ok(reports.explainTrap(trap, since) instanceof errors.WasmTrapError);
  // A trap that no panic makes stays what it is, even after a panic the call caught itself.
  reports.add(at(1, 'caught by the call', 5));
  const jsException = reports.explainTrap({ ...trap, kind: 'js_exception', message: 'TypeError: boom' }, since);
  assert.deepEqual([jsException.constructor, jsException.kind], [errors.WasmTrapError, 'js_exception']);
  // A panic abandoned mid-unwinding names the thread's latest panic, whenever it came.
  reports.add(at(2, 'panic inside Drop', 9));
  const abandoned = reports.explainTrap({ ...trap, kind: 'panic_while_panicking', message: 'abandoned', threadIndex: 2 }, reports.mark());
  assert.equal(abandoned.kind, 'panic_while_panicking');
  assert.match(abandoned.message, /the latest panic of that thread: "panic inside Drop" at src\/lib\.rs:9:5/);
});

test("a detached job's panic takes its thread's report; the reports kept stay bounded", () => {
  const reports = new PanicReports();
  reports.add(at(0, 'job failed', 4));
  reports.add(at(1, 'job failed', 8));
  assert.equal(reports.detached('job failed', 1).location.line, 8);
  assert.equal(reports.detached('job failed', 1).location, null);
  for (let i = 0; i < 10000; i++) reports.add(at(0, `caught ${i}`, i));
  assert.ok(reports.reports.length <= 256);
});
