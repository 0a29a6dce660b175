'use strict';
// The wbg-pool crate's contract (rust_example/pool): initThreadPool(n) calls
// back the host's spawnWorkers(n, receiver) hook from inside Rust; each worker
// then runs the start-worker export until exitThreadPool() drops the pool.
// Rust reports each pool thread's start (with its Rayon index) and every panic
// through the runtime's hooks.

module.exports = {
  rustReports: true,
  startPool(glue, contract, numThreads) {
    glue[contract.init](numThreads);
  },
};
