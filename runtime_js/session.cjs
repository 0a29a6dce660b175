'use strict';
// Which execute() call the running code belongs to. The call's context
// ({ pool, timeoutMs, deadline, failure }) follows its code across awaits, so
// its wasm calls, also after an await, go to that call's pool; calls from
// anywhere else (a timer, a finalizer, onLog) stay on the local instance.
const platform = require('./platform/index.cjs');
const { warn } = require('./errors.cjs');

const session = platform.asyncContext();

// The pool the running code belongs to: the one an object made now is made in.
function currentPool() {
  return session.getStore()?.pool ?? null;
}

// Runs a finalizer's `free(held)` in the pool the object was made in, while that
// pool runs (what the object holds may live only in that pool's instance), else
// on the local instance. Never throws: a finalizer that threw would end the process.
function finalizeIn(pool, free, held) {
  try {
    if (pool === null || pool.failure !== null || pool.closing || !pool.isReady) {
      free(held);
      return;
    }
    // Outside execute() no proxy may be installed: this one free goes through the pool's.
    const { handle } = pool.binding;
    const installed = handle.proxy();
    handle.setProxy(pool.proxy);
    try {
      session.run({ pool, timeoutMs: Infinity, deadline: Infinity, failure: null }, () => free(held));
    } finally {
      handle.setProxy(installed);
    }
  } catch (error) {
    warn(`freeing a garbage-collected wasm object failed: ${error && error.message}`, 'WBG_POOL_FINALIZER');
  }
}

module.exports = { session, currentPool, finalizeIn };
