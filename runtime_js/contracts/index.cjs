'use strict';
// The pool contracts the runtime drives: how the host starts and stops the
// crate's Rust pool, and how a pool thread joins it. One file per contract
// holds only what differs from the defaults below; the export names come from
// the binding (wbg-patch --init-export and friends).
//
// An adapter has:
//   kind         the contract's name, as wbg-patch detected it
//   rustReports  whether the Rust side reports to the runtime's hooks itself:
//                each pool thread's start (threadStarted) and every panic,
//                whatever hook the crate adds. Without it the runtime says when
//                a worker starts and reads the report a crate's own hook prints.
//   canStop      whether the pool can exit and start again on the same memory
//   startCuredByFreshMemory(error)  on the main thread: whether a pool that
//                failed to start with `error` can start once the memory is reset
//   hostHooks(spawnWorkers, kept)  what the glue calls on the host besides the
//                runtime's own hooks: { hooks, globals }
//   startPool(glue, contract, numThreads)  on the host: build the pool
//   stopPool(glue, contract)               on the host: drop it (only if canStop)
//   runWorker(glue, contract, receiver)    on a pool thread: run until the pool ends
const DEFAULTS = {
  rustReports: false,
  canStop: true,
  startCuredByFreshMemory: () => false,
  hostHooks() {
    return { hooks: {}, globals: {} };
  },
  stopPool(glue, contract) {
    glue[contract.exit]();
  },
  runWorker(glue, contract, receiver) {
    glue[contract.startWorker](receiver);
  },
};

const ADAPTERS = {
  'wbg-pool': require('./wbg-pool.cjs'),
  'wasm-bindgen-rayon': require('./wasm-bindgen-rayon.cjs'),
  'poolbuilder-global': require('./poolbuilder-global.cjs'),
};

// The adapter of contract `kind` (a binding's contract.kind).
function adapterFor(kind) {
  const adapter = ADAPTERS[kind];
  if (adapter === undefined) throw new Error(`wbg-pool: unknown pool contract ${JSON.stringify(kind)}`);
  const merged = { ...DEFAULTS, ...adapter, kind };
  // The patched glue refuses the init and exit exports to any caller but the
  // runtime (prelude.cjs, guardPoolExport): these are the runtime's calls.
  return {
    ...merged,
    startPool: (glue, contract, numThreads) => glue.__wbg_pool.runtimeCall(() => merged.startPool(glue, contract, numThreads)),
    stopPool: (glue, contract) => glue.__wbg_pool.runtimeCall(() => merged.stopPool(glue, contract)),
  };
}

module.exports = { adapterFor };
