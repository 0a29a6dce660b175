'use strict';
// One process of `make bench`: the demo built with panic=abort (build/pkg) and
// with panic=unwind (build/pkg-unwind), measured side by side in rounds that
// alternate between the two, so that drift of the machine hits both alike.
// run.cjs starts it free and pinned to one core (taskset -c 0). Prints JSON on stdout.
//   node bench/unwind.cjs [panics for the memory figure, 0 for none]
const path = require('path');
const v8 = require('v8');
const vm = require('vm');

const ROOT = path.join(__dirname, '..');
const BUILDS = { abort: 'build/pkg', unwind: 'build/pkg-unwind' };
const ROUNDS = 5;
const WARM_ROUNDS = 3;
const PANICS_PER_ROUND = 4;
const COLLATZ_LIMIT = 1_000_000;
const SETTLE_MS = 300;
// Panics before the memory figure's first reading: the pool threads' JS heaps grow to
// their working size over the first few thousand (measured: flat after ~10,000 more).
const WARM_PANICS = 2000;

function load(dir) {
  const pkg = path.join(ROOT, dir);
  const { ThreadPoolManager, WasmPanicError } = require(path.join(pkg, 'wbg-pool-manager.cjs'));
  const demo = require(path.join(pkg, 'wbg_demo.js'));
  // Every call to the host, in both builds: the split takes other exports in each (waits.py).
  return { demo, WasmPanicError, manager: new ThreadPoolManager({ numThreads: 2, splitCalls: false, onLog() {} }) };
}

// A pool-thread panic until execute() rejects, then the next execute() (a noop)
// until it resolves: under abort it waits for a fresh pool, under unwind it does not.
async function panicAndNext({ demo, manager, WasmPanicError }, out) {
  const t = performance.now();
  const error = await manager.execute(() => demo.panic_in_join(false)).catch((e) => e);
  out.panics.push(performance.now() - t);
  if (!(error instanceof WasmPanicError) || error.location === null) throw new Error(`expected a panic with its location, got ${error}`);
  const n = performance.now();
  await manager.execute(() => demo.noop());
  out.next.push(performance.now() - n);
}

// Per-call time of a noop inside one execute() (µs), and a CPU-bound Rayon job (ms).
async function calls({ demo, manager }, out) {
  // In batches: a proxied call now and then waits for a slow cross-core wake-up, and one
  // average over all calls would carry whichever round had more of them.
  out.noop.push(
    ...(await manager.execute(() =>
      Array.from({ length: 10 }, () => {
        const t = performance.now();
        for (let i = 0; i < 200; i++) demo.noop();
        return ((performance.now() - t) * 1000) / 200;
      }),
    )),
  );
  out.collatz.push(
    await manager.execute(() => {
      const t = performance.now();
      demo.collatz_sum(COLLATZ_LIMIT);
      return performance.now() - t;
    }),
  );
}

// `count` pool-thread panics in one execute(), each caught: how many threw.
function caughtPanics({ demo, manager }, count) {
  return manager.execute(() => {
    let caught = 0;
    for (let i = 0; i < count; i++) {
      try {
        demo.panic_in_join(false);
      } catch {
        caught++;
      }
    }
    return caught;
  });
}

// RSS after `count` panics over RSS before them (after WARM_PANICS first, and a GC of
// the main thread's heap each).
async function rssAfterPanics(build, count) {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const rss = () => {
    gc();
    return process.memoryUsage().rss;
  };
  await caughtPanics(build, WARM_PANICS);
  const before = rss();
  const caught = await caughtPanics(build, count);
  if (caught !== count) throw new Error(`${count - caught} of ${count} panics did not throw`);
  return { before, after: rss() };
}

async function main(memoryPanics) {
  const builds = Object.fromEntries(Object.entries(BUILDS).map(([name, dir]) => [name, load(dir)]));
  const out = Object.fromEntries(Object.keys(BUILDS).map((name) => [name, { panics: [], next: [], noop: [], collatz: [] }]));
  for (const build of Object.values(builds)) await build.manager.execute(() => build.demo.collatz_sum(1000));
  // Calls first, on the pools of the first start: after a panic the abort build's host is a
  // fresh one, whose JIT has not warmed up yet, which would time it, not the build. The first
  // rounds are not kept either: a call's wait learns over them whether spinning pays (waiter.cjs).
  for (let round = 0; round < WARM_ROUNDS; round++) {
    for (const build of Object.values(builds)) await calls(build, { noop: [], collatz: [] });
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, build] of Object.entries(builds)) await calls(build, out[name]);
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, build] of Object.entries(builds)) {
      for (let i = 0; i < PANICS_PER_ROUND; i++) await panicAndNext(build, out[name]);
      // The abort build's failed pools end their threads after the rejection: not during the other's turn.
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    }
  }
  if (memoryPanics > 0) out.unwind.rss = await rssAfterPanics(builds.unwind, memoryPanics);
  for (const build of Object.values(builds)) await build.manager.close();
  return out;
}

main(Number(process.argv[2] ?? 0)).then(
  (result) => process.stdout.write(JSON.stringify(result)),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
