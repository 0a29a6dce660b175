'use strict';
// The glue's side of the runtime (prelude.cjs) with stand-in bindings: what a
// patched glue gets from attach(), for each generation of glue. The behaviour
// tests (../*.test.mjs) run the same module inside real patched glue.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const RUNTIME = path.join(__dirname, '../..');
const { attach } = require(path.join(RUNTIME, 'prelude.cjs'));
const { StaleObjectError, ForeignJsValueError } = require(path.join(RUNTIME, 'errors.cjs'));
const { limits } = require(path.join(RUNTIME, 'defaults.json'));

// The finalizer test needs the collector on demand.
require('node:v8').setFlagsFromString('--expose-gc');
const gc = require('node:vm').runInNewContext('gc');

const MEMORY = { initial: 1, maximum: 2, shared: true };
const options = (generation, externrefTable = null) => ({ version: '0.0.0', generation, memory: MEMORY, externrefTable });

// A glue's variables, and a log of what the prelude did with them.
function glueOf(extra = {}) {
  const state = { wasm: { tag: 'first' }, calls: [] };
  const bindings = {
    raw: () => state.wasm,
    module: () => 'the module',
    setRaw: (value) => (state.wasm = value),
    ...extra,
  };
  return { state, bindings };
}

test('reads of `wasm` go to the proxy while one is installed, else to the local exports', () => {
  const { state, bindings } = glueOf();
  const handle = attach(options('LOAD_TIME'), bindings);
  // On the main thread, the local exports are guarded (local.cjs): values as they are, functions wrapped.
  state.wasm = { tag: 'first', answer: () => 42 };
  const local = handle.wasm();
  assert.equal(local.tag, 'first');
  assert.equal(local.answer(), 42);
  assert.equal(handle.wasm(), local, 'guarded once per instance');
  const proxy = { tag: 'proxy' };
  handle.setProxy(proxy);
  assert.equal(handle.wasm(), proxy);
  assert.equal(handle.proxy(), proxy);
  handle.setProxy(undefined);
  assert.equal(handle.wasm(), local);
});

test('on the main thread the glue gets a fresh shared memory of the module\'s limits, and compiles its own module', () => {
  const handle = attach(options('LOAD_TIME'), glueOf().bindings);
  const memory = handle.memory();
  assert.ok(memory instanceof WebAssembly.Memory);
  assert.ok(memory.buffer instanceof SharedArrayBuffer);
  assert.equal(memory.buffer.byteLength, 65536);
  assert.equal(handle.poolModule(() => 'compiled here'), 'compiled here');
});

test('an object made before a reset throws StaleObjectError naming the reset, and is not freed in the fresh memory', () => {
  const { bindings } = glueOf({ initSync: ({ module }) => ({ tag: `fresh from ${module}` }), clearInitFlag() {} });
  const handle = attach(options('INIT_SYNC'), bindings);
  class Histogram {}
  const before = new Histogram();
  handle.setPtr(before, 64);
  assert.equal(handle.livePtr(before), 64);
  handle.reset('a pool thread panicked');
  assert.throws(
    () => handle.livePtr(before),
    (e) => e instanceof StaleObjectError && e.className === 'Histogram' && /after: a pool thread panicked/.test(e.message),
  );
  const after = new Histogram();
  handle.setPtr(after, 64);
  assert.equal(handle.livePtr(after), 64);
});

test('a reset instantiates the glue again as its generation does, on the local instance whatever proxy is installed', () => {
  // INIT_SYNC: the init flag is cleared, then initSync runs with the module.
  const calls = [];
  let handle;
  const a = glueOf({
    clearInitFlag: () => calls.push('clearInitFlag'),
    initSync: ({ module }) => (calls.push(['initSync', module, handle.wasm()]), { tag: 'fresh' }),
  });
  handle = attach(options('INIT_SYNC'), a.bindings);
  handle.setProxy({ tag: 'proxy' });
  assert.deepEqual(handle.reset('why'), { tag: 'fresh' });
  assert.deepEqual(calls, ['clearInitFlag', ['initSync', 'the module', a.state.wasm]]);
  assert.deepEqual(handle.proxy(), { tag: 'proxy' }, 'the proxy is back after the reset');
  // EXPLICIT_INIT: `wasm` is cleared first (initSync returns early while it is set).
  const b = glueOf({ initSync: () => (calls.push(['initSync', b.state.wasm]), { tag: 'fresh' }) });
  calls.length = 0;
  attach(options('EXPLICIT_INIT'), b.bindings).reset('why');
  assert.deepEqual(calls, [['initSync', undefined]]);
});

test('glue instantiated on load: a reset makes the memory and the instance again and starts it', () => {
  const calls = [];
  const exports = { __wbindgen_start: () => calls.push('start') };
  const { state, bindings } = glueOf({
    makeMemory: () => calls.push('makeMemory'),
    instantiate: () => (calls.push('instantiate'), { exports }),
    setInstance: (instance) => calls.push(['setInstance', instance.exports === exports]),
  });
  const handle = attach(options('LOAD_TIME'), bindings);
  assert.equal(handle.reset('why'), exports);
  assert.equal(state.wasm, exports);
  assert.deepEqual(calls, ['makeMemory', 'instantiate', ['setInstance', true], 'start']);
  // On a pool thread the glue instantiated itself on load, on the memory it was given.
  assert.equal(handle.init('module', 'memory'), exports);
});

test('glue of wasm-bindgen <= 0.2.97 cannot be reset, and says which glue can', () => {
  const handle = attach(options('LEGACY_ENV'), glueOf().bindings);
  assert.throws(() => handle.reset('why'), /wasm-bindgen 0\.2\.100 or newer/);
});

test('an unknown generation is refused when the glue loads', () => {
  assert.throws(() => attach(options('NEXT_YEAR'), glueOf().bindings), /unknown glue generation NEXT_YEAR/);
});

test('the main thread\'s JS values start above every pool range; any use of a slot below throws ForeignJsValueError', () => {
  const handle = attach(options('INIT_SYNC', '__wbindgen_externrefs'), glueOf().bindings);
  const { externrefs } = handle;
  assert.equal(externrefs.table, '__wbindgen_externrefs');
  // Below the main thread's range: the host's (from 1024) and one per possible pool thread.
  assert.ok(externrefs.start > 1024 + limits.maxThreads, `the main thread's range starts at ${externrefs.start}`);
  const table = new WebAssembly.Table({ element: 'externref', initial: 4 });
  handle.reserveExternrefs(table);
  assert.equal(table.length, externrefs.start);
  const foreign = table.get(1024);
  assert.equal(foreign, externrefs.foreign);
  assert.throws(() => foreign.anything, ForeignJsValueError);
  assert.throws(() => 'x' in foreign, ForeignJsValueError);
  // A table already long enough is left as it is.
  handle.reserveExternrefs(table);
  assert.equal(table.length, externrefs.start);
  assert.equal(attach(options('INIT_SYNC'), glueOf().bindings).externrefs, null, 'no table, no ranges');
});

test('a finalizer of an object made before a reset is skipped and counted', async () => {
  const { bindings } = glueOf({ initSync: () => ({}), clearInitFlag() {} });
  const handle = attach(options('INIT_SYNC'), bindings);
  const freed = [];
  const registry = handle.finalizationRegistry((held) => freed.push(held));
  (() => registry.register({}, 'made before'))();
  handle.reset('why');
  (() => registry.register({}, 'made after'))();
  const token = {};
  registry.register({}, 'unregistered', token);
  assert.equal(registry.unregister(token), true);
  for (let i = 0; i < 50 && freed.length + handle.staleFinalizations < 2; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.deepEqual(freed, ['made after']);
  assert.equal(handle.staleFinalizations, 1);
});

test('wasm-bindgen-rayon\'s startWorkers outside a pool host says where to call the exports', () => {
  const handle = attach(options('INIT_SYNC'), glueOf().bindings);
  assert.throws(() => handle.startWorkers({}, {}, {}), /initThreadPool runs only in the pool of a ThreadPoolManager/);
});
