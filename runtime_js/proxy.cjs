'use strict';
// The object the glue sees as `wasm` inside execute(), and in a wrapper that a
// call outside execute() routes to the pool (route.cjs): raw exports that run on
// the pool's host, which has the pool, except those that may run on the main
// thread's own instance (see LOCAL_EXPORTS). Memory is shared, so it is used directly.
const { MessageType } = require('./protocol.cjs');
const { PoolClosedError } = require('./errors.cjs');
const { session } = require('./session.cjs');

// The glue's allocator exports: a string or byte argument costs a malloc, a
// returned one a free. They need no pool: the memory is shared, and Rust's
// allocator is one global heap behind a lock that every instance on that memory
// takes (a spin lock on wasm, so the main thread may take it too). Run on the
// local instance, they cost no round trip, also in glue patched before the
// patch told which other exports may run there (`runsLocally`): those that
// cannot wait for another thread and use nothing each instance has its own of
// (wbg_patch/wasm/waits.py), unless the manager's splitCalls is false.
const LOCAL_EXPORTS = new Set(['__wbindgen_malloc', '__wbindgen_realloc', '__wbindgen_free']);

// What stands for export `name` (of kind `kind`) of `pool`'s host.
function remote(pool, name, kind) {
  switch (kind) {
    case 'function':
      if (LOCAL_EXPORTS.has(name) || (pool.options.splitCalls && pool.binding.handle.runsLocally(name))) {
        return (...args) => pool.callLocal(name, args);
      }
      return (...args) => {
        const result = pool.request(MessageType.CALL, name, args);
        pool.binding.handle.ranExport(name); // one that installs a panic hook runs again after a reset
        return result;
      };
    case 'table':
      return {
        get: (index) => pool.request(MessageType.TABLE_GET, name, [index]),
        set: (index, value) => pool.request(MessageType.TABLE_SET, name, [index, value]),
        grow: (...args) => pool.request(MessageType.TABLE_GROW, name, args),
        get length() {
          return pool.request(MessageType.TABLE_LENGTH, name, []);
        },
      };
    case 'global':
      return {
        get value() {
          return pool.request(MessageType.GLOBAL_GET, name, []);
        },
      };
    default:
      return pool.binding.handle.raw()[name];
  }
}

// The `wasm` of the calls `currentCall()` names ({ pool, timeoutMs, deadline,
// failure }; undefined for calls outside execute() that were not routed).
function makeProxy(pool, currentCall) {
  const handle = pool.binding.handle;
  const kinds = new Map(WebAssembly.Module.exports(handle.module()).map((e) => [e.name, e.kind]));
  const cache = new Map();
  // The target is a blank object: the exports object is frozen, and a Proxy
  // may not report other values for a frozen target's properties.
  return new Proxy(Object.create(null), {
    get: (_, name) => {
      const call = currentCall();
      // Calls made outside execute() (a timer, a finalizer, onLog) run as such calls do.
      if (call === undefined) return handle.outsideExports()[name];
      if (call.pool !== pool || call.failure !== null) {
        // fn of an execute() that failed, timed out, or whose pool was replaced: never run it elsewhere.
        throw call.failure ?? call.pool.failure ?? new PoolClosedError('the pool of this execute() call is gone');
      }
      if (typeof name !== 'string' || name === 'memory') return handle.raw()[name];
      pool.call = call;
      let value = cache.get(name);
      if (value === undefined) cache.set(name, (value = remote(pool, name, kinds.get(name))));
      return value;
    },
  });
}

// The proxy of execute() calls: the call is the running code's session.
const executeProxy = (pool) => makeProxy(pool, () => session.getStore());

module.exports = { makeProxy, executeProxy };
