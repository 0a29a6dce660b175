'use strict';
// One process of `make bench`: the noop round trip through the proxy and
// through the reference design's stand-in (reference-host.cjs), per call and in
// CPU time per 10 000 calls (both threads: process.cpuUsage counts them all).
// run.cjs starts it twice: free, and pinned to one core (taskset -c 0).
// Prints JSON on stdout.
const path = require('path');
const { Worker } = require('worker_threads');

const PKG = path.join(__dirname, '../build/pkg');
const { ThreadPoolManager } = require(path.join(PKG, 'wbg-pool-manager.cjs'));
const demo = require(path.join(PKG, 'wbg_demo.js'));
const CALLS = 10_000;
const WARM_UP = 5_000; // JIT and the wait strategy settle first
const ROUNDS = 3;

const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

// Per-call µs and CPU ms per CALLS calls, over ROUNDS rounds. `loop(count, sample)`
// makes `count` calls, timing each: the proxy's without an await between them,
// as glue code makes them; the reference design's each awaited.
async function measure(loop) {
  await loop(WARM_UP, () => {});
  const perCall = [];
  const cpu = [];
  for (let round = 0; round < ROUNDS; round++) {
    const startCpu = cpuMs();
    await loop(CALLS, (ms) => perCall.push(ms * 1000));
    cpu.push(cpuMs() - startCpu);
  }
  return { perCall, cpu };
}

async function reference() {
  const worker = new Worker(path.join(__dirname, 'reference-host.cjs'), {
    workerData: { glue: path.join(PKG, 'wbg_demo.js'), module: demo.__wbg_pool.module(), memory: demo.__wbg_pool.raw().memory },
  });
  const pending = new Map();
  worker.on('message', ({ id, value }) => {
    pending.get(id)(value);
    pending.delete(id);
  });
  let nextId = 0;
  const call = (name, args) =>
    new Promise((resolve) => {
      const id = ++nextId;
      pending.set(id, resolve);
      worker.postMessage({ id, name, args });
    });
  const result = await measure(async (count, sample) => {
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      await call('noop', []);
      sample(performance.now() - t);
    }
  });
  await worker.terminate();
  return result;
}

(async () => {
  // Every call to the host: noop() would run on the caller's instance with the split.
  const manager = new ThreadPoolManager({ numThreads: 1, splitCalls: false, onLog() {} });
  const proxy = await manager.execute(() =>
    measure((count, sample) => {
      for (let i = 0; i < count; i++) {
        const t = performance.now();
        demo.noop();
        sample(performance.now() - t);
      }
    }),
  );
  await manager.close();
  process.stdout.write(JSON.stringify({ proxy, reference: await reference() }));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
