'use strict';
// wasm-bindgen-rayon 1.x (crates.io): initThreadPool(n) returns a Promise and
// calls the JS import startWorkers(module, memory, builder), which wbg-patch
// binds to the host's startWorkers hook (the crate's own is a browser snippet).
// build() calls build_global(): Rayon's global pool, built once per memory,
// with no exit. So the pool lives until close() or a failure, idle shutdown
// does not apply, and a pool that ends (close, crash) takes its memory with it:
// the manager resets the memory, and the next pool builds anew on fresh memory.
const { startWorkersWith } = require('./builder.cjs');
const { START_WORKERS_HOOK } = require('../protocol.cjs');

module.exports = {
  canStop: false,
  hostHooks(spawnWorkers, kept) {
    return { hooks: { [START_WORKERS_HOOK]: startWorkersWith(spawnWorkers, kept) }, globals: {} };
  },
  startPool(glue, contract, numThreads) {
    return glue[contract.init](numThreads);
  },
  stopPool() {
    // Rayon's global pool has no exit: the manager never asks (canStop is false).
  },
};
