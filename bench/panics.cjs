'use strict';
// One process of `make bench`: a pool-thread panic until execute() rejects, for
// one pool contract, each panic on a ready pool (the previous one's replacement).
// run.cjs starts it per contract, free and pinned to one core (taskset -c 0):
// a crate on wasm-bindgen-rayon reports through console_error_panic_hook's text,
// one on wbg-pool through its own Rust hook. Prints JSON on stdout.
//   node bench/panics.cjs <contract> [count] [package directory, default the contract's fixture]
const path = require('path');

const ROOT = path.join(__dirname, '..');
// Each panics in the second half of a two-way join on a pool thread, logging
// nothing before (a log record wakes the main thread first). `ready` makes a fresh
// pool run first, so that its start is not timed: the wasm-bindgen-rayon crate
// installs its hook there (a reset loses it, as SDKs that install it in their exports do).
const CONTRACTS = {
  'wbg-pool': {
    pkg: 'build/pkg',
    glue: 'wbg_demo.js',
    ready: (glue) => glue.log_from_every_thread(0),
    panic: (glue) => glue.panic_in_join(false),
  },
  'wasm-bindgen-rayon': {
    pkg: 'build/pkg-wasm-bindgen-rayon',
    glue: 'example_wasm_bindgen_rayon.js',
    ready: (glue) => glue.install_panic_hook(),
    panic: (glue) => glue.panic_in_pool(2), // 0..2 split in two halves: item 1 panics
  },
};

async function main(kind, count, dir) {
  const contract = CONTRACTS[kind];
  if (contract === undefined) throw new Error(`bench/panics.cjs: unknown contract ${kind}`);
  const pkg = dir ?? path.join(ROOT, contract.pkg);
  const { ThreadPoolManager, WasmPanicError } = require(path.join(pkg, 'wbg-pool-manager.cjs'));
  const glue = require(path.join(pkg, contract.glue));
  const manager = new ThreadPoolManager({ numThreads: 2, onLog() {} });
  const panics = [];
  const recoveries = [];
  for (let i = 0; i < count; i++) {
    const r = performance.now();
    await manager.execute(() => contract.ready(glue));
    if (i > 0) recoveries.push(performance.now() - r); // the first is the pool's first start
    const t = performance.now();
    const error = await manager.execute(() => contract.panic(glue)).catch((e) => e);
    panics.push(performance.now() - t);
    if (!(error instanceof WasmPanicError) || error.location === null) throw new Error(`${kind}: expected a panic with its location, got ${error}`);
  }
  await manager.close();
  return { panics, recoveries };
}

main(process.argv[2], Number(process.argv[3] ?? 20), process.argv[4]).then(
  (result) => process.stdout.write(JSON.stringify(result)),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
