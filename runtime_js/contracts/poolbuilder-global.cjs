'use strict';
// PoolBuilder-global (a JS SDK's contract): initThreadPool(n, workerSource)
// and exitThreadPool() return Promises; the crate imports the *global*
// functions startWorkers(workerSource, memory, builder) and terminateWorkers(),
// which the host defines. The pool lives in a static of the crate, so
// exitThreadPool() really ends it, and a new pool can start on the same memory.
const { startWorkersWith } = require('./builder.cjs');

module.exports = {
  hostHooks(spawnWorkers, kept) {
    return {
      hooks: {},
      globals: {
        startWorkers: startWorkersWith(spawnWorkers, kept),
        // Dropping the pool (exitThreadPool) already lets every worker return
        // from the start-worker export; the host waits for them to exit.
        terminateWorkers: async () => {},
      },
    };
  },
  startPool(glue, contract, numThreads) {
    // workerSource is what a browser driver would spawn; the runtime spawns its own.
    return glue[contract.init](numThreads, undefined);
  },
};
