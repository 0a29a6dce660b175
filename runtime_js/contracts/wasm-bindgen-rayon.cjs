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

// build() calls build_global().unwrap_throw(), which fails only when Rayon's
// global pool already exists in the memory: a parallel export that ran outside
// execute() on the main thread's instance built it there (Rayon's default on
// wasm: the calling thread alone). A memory holds one global pool, so no pool
// can start on it; on fresh memory one can.
const GLOBAL_POOL_TAKEN = 'ERR_GLOBAL_POOL_TAKEN';

function globalPoolTaken(error) {
  const taken = new Error(
    "Rayon's global pool already existed in this wasm memory: a parallel export ran outside manager.execute(), " +
      "on the main thread's instance, and built Rayon's global pool there with that thread alone (a memory holds one " +
      `global pool); call parallel exports inside manager.execute() (build() threw: ${error.message})`,
  );
  taken.code = GLOBAL_POOL_TAKEN;
  return taken;
}

module.exports = {
  canStop: false,
  hostHooks(spawnWorkers, kept) {
    return { hooks: { [START_WORKERS_HOOK]: startWorkersWith(spawnWorkers, kept, globalPoolTaken) }, globals: {} };
  },
  startCuredByFreshMemory: (error) => error.cause?.code === GLOBAL_POOL_TAKEN,
  startPool(glue, contract, numThreads) {
    return glue[contract.init](numThreads);
  },
  stopPool() {
    // Rayon's global pool has no exit: the manager never asks (canStop is false).
  },
};
