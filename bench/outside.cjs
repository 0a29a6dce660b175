'use strict';
// One process of `make bench`: calls made outside execute() on a crate whose pool
// the main thread's calls would join (wasm-bindgen-rayon), with no pool up and
// with the pool up (runtime_js/route.cjs), against the same calls inside
// execute(). A small export that cannot wait must cost the same with the pool up
// as without; a parallel one goes to the pool's host then, as inside execute().
// run.cjs starts it free and pinned to one core. Prints JSON on stdout.
const path = require('path');
const { perCall } = require('./timing.cjs');

const PKG = path.join(__dirname, '../build/pkg-wasm-bindgen-rayon');
const { ThreadPoolManager } = require(path.join(PKG, 'wbg-pool-manager.cjs'));
const glue = require(path.join(PKG, 'example_wasm_bindgen_rayon.js'));
const BYTES = new Uint8Array(32).fill(3);

(async () => {
  // No pool up (no execute() yet): the sequential export only, since a parallel one would
  // build Rayon's global pool on this thread (and the first execute() would reset the memory).
  perCall(() => glue.byte_sum(BYTES), 1, 2000); // warm-up
  const smallNoPool = perCall(() => glue.byte_sum(BYTES), 50, 2000);
  const manager = new ThreadPoolManager({ numThreads: 2 });
  const inside = await manager.execute(() => ({
    small: perCall(() => glue.byte_sum(BYTES), 50, 200),
    parallel: perCall(() => glue.sum_of_squares(1000), 50, 20),
  }));
  const smallPoolUp = perCall(() => glue.byte_sum(BYTES), 50, 2000);
  const parallelPoolUp = perCall(() => glue.sum_of_squares(1000), 50, 20);
  await manager.close();
  process.stdout.write(JSON.stringify({ smallNoPool, smallPoolUp, parallelPoolUp, inside }));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
