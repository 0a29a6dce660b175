'use strict';
// The wbg-pool crate's contract (rust_example/pool): how the host starts and
// stops the Rust pool, and how a pool thread joins it. The export names come
// from the binding (wbg-patch --init-export and friends).
//
// initThreadPool(n) calls back globalThis.__wbgPoolHooks.spawnWorkers(n,
// receiver) from inside Rust; each worker then runs startWorker(receiver)
// until exitThreadPool() drops the pool. Rust reports each pool thread's start
// (with its Rayon index) through the threadStarted hook.

module.exports = {
  kind: 'wbg-pool',
  // Whether the Rust side reports to __wbgPoolHooks itself: each pool thread's start
  // (threadStarted) and every panic, whatever hook the crate adds. Without it the
  // runtime says when a worker starts and reads the report a crate's own hook prints.
  rustReports: true,
  // Whether the pool can exit and start again on the same memory.
  canStop: true,
  // What the glue calls on the host besides the runtime's own hooks: nothing.
  hostHooks() {
    return { hooks: {}, globals: {} };
  },
  startPool(glue, contract, numThreads) {
    glue[contract.init](numThreads);
  },
  stopPool(glue, contract) {
    glue[contract.exit]();
  },
  runWorker(glue, contract, receiver) {
    glue[contract.startWorker](receiver);
  },
};
