'use strict';
// The work server.cjs hands to the pool: manager.run() runs these on the pool's
// host thread, where they call the glue synchronously, as an SDK's prover does.
// The glue required here is the one the host loaded: same file, same instance.
const demo = require('../../../build/pkg/wbg_demo.js');

// Stands in for a proof: `ms` of work, then what a caller would want back.
exports.prove = (ms) => {
  const started = Date.now();
  demo.busy(ms);
  return { provedInMs: Date.now() - started, poolThreads: demo.pool_threads() };
};

// A proof whose Rust code panics on a pool thread.
exports.provePanicking = () => demo.panic_at(10_000, 5_000);
