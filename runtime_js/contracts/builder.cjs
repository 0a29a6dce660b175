'use strict';
// What the two PoolBuilder contracts share (wasm-bindgen-rayon and
// PoolBuilder-global): JS gets a builder from initThreadPool, spawns
// builder.numThreads() workers that each run the start-worker export with
// builder.receiver(), and calls builder.build() once they run. build() sends
// one Rayon ThreadBuilder per worker through the receiver.

// startWorkers(_, memory, builder) for the host: `spawnWorkers(count, receiver)`
// starts the runtime's ThreadPoolWorkers (on the pool's memory and module,
// whatever the crate passes), `kept` holds each builder for the pool's life,
// `buildFailed(error)` is the error a failed build() becomes (what it means
// depends on the contract).
function startWorkersWith(spawnWorkers, kept, buildFailed = (error) => error) {
  return async function startWorkers(_moduleOrSource, _memory, builder) {
    const count = builder.numThreads();
    if (!(count > 0)) throw new Error(`numThreads must be > 0, got ${count}`);
    // The receiver lives inside the builder: the builder must outlive every
    // worker that reads it, so it is never freed (as the crates' own JS does).
    kept.push(builder);
    const workers = spawnWorkers(count, builder.receiver());
    await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('online', resolve))));
    try {
      builder.build();
    } catch (error) {
      throw buildFailed(error);
    }
  };
}

module.exports = { startWorkersWith };
