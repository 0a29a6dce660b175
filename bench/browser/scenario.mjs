// Runs in headless Chromium or Firefox (bench/browser/run.mjs): one figure group of
// `make bench`'s browser rows, chosen by the query string (?step=panics). Each
// step times on its own thread and answers samples in ms (µs for per-call times).
// perCall is bench/timing.cjs, served as an ES module by run.mjs.
import { perCall } from '/bench/timing.mjs';

const params = new URL(import.meta.url).searchParams;
const RUNS = Number(params.get('runs') ?? 20);

async function load(pkg) {
  const demo = await import(`/build/${pkg}/wbg_demo.js`);
  const runtime = await import(`/build/${pkg}/wbg-pool-manager.mjs`);
  await demo.default();
  return { demo, ...runtime };
}

async function withManager(pkg, options, body) {
  const loaded = await load(pkg);
  const manager = new loaded.ThreadPoolManager({ numThreads: 2, onLog() {}, ...options });
  try {
    return await body({ ...loaded, manager });
  } finally {
    await manager.close();
  }
}

async function expectRejection(promise, ErrorClass) {
  const error = await promise.then(() => null, (e) => e);
  if (!(error instanceof ErrorClass)) throw new Error(`expected ${ErrorClass.name}, got ${error}`);
}

// The longest gap between animation frames of this page while `job()` runs.
async function longestFrameGap(job) {
  let longest = 0;
  let last = performance.now();
  let running = true;
  const frame = (now) => {
    longest = Math.max(longest, now - last);
    last = now;
    if (running) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  await job();
  running = false;
  return Math.max(longest, performance.now() - last);
}

const STEPS = {
  // A proxied noop from a module Worker (splitCalls: false, or it would run on the worker's
  // instance), and the same call on the worker's own instance.
  noop: () =>
    withManager('pkg-web', { splitCalls: false }, async ({ demo, manager }) => {
      await manager.execute(() => demo.noop());
      return {
        proxy: await manager.execute(() => perCall(() => demo.noop(), 50, 200)),
        local: perCall(() => demo.noop(), 50, 2000),
      };
    }),

  // A pool-thread panic until execute() rejects, then the next call until it resolves:
  // under panic=abort it waits for a fresh pool, under panic=unwind it does not.
  panics: () =>
    withManager(params.get('pkg'), {}, async ({ demo, manager, WasmPanicError }) => {
      const panics = [];
      const next = [];
      await manager.execute(() => demo.log_from_every_thread(0));
      for (let i = 0; i < RUNS; i++) {
        const t = performance.now();
        await expectRejection(manager.execute(() => demo.panic_in_join(false)), WasmPanicError);
        panics.push(performance.now() - t);
        const n = performance.now();
        await manager.execute(() => demo.noop());
        next.push(performance.now() - n);
        await manager.execute(() => demo.log_from_every_thread(0)); // every thread up before the next panic
      }
      return { panics, next };
    }),

  // A deadlock until execute() rejects with HeartbeatTimeoutError, minus the 500 ms
  // timeout: how late the module's count of its waits shows it (5 runs).
  deadlock: () =>
    withManager('pkg-web', { heartbeatTimeoutMs: 500 }, async ({ demo, manager, HeartbeatTimeoutError }) => {
      const late = [];
      for (let i = 0; i < 5; i++) {
        await manager.execute(() => demo.noop()); // a running pool: its start is not timed
        const t = performance.now();
        await expectRejection(manager.execute(() => demo.deadlock()), HeartbeatTimeoutError);
        late.push(performance.now() - t - 500);
      }
      return late;
    }),

  // The CPU-bound Rayon job on 1 and on 2 pool threads.
  collatz: async () => {
    const out = {};
    for (const numThreads of [1, 2]) {
      out[numThreads] = await withManager('pkg-web', { numThreads }, ({ demo, manager }) =>
        manager.execute(() => {
          demo.collatz_sum(1000);
          return Array.from({ length: 5 }, () => {
            const t = performance.now();
            demo.collatz_sum(3_000_000);
            return performance.now() - t;
          });
        }),
      );
    }
    return out;
  },

  // From a fresh manager to every pool thread running (a broadcast needs them all).
  poolStart: async () => {
    const { demo, ThreadPoolManager } = await load('pkg-web');
    const samples = [];
    for (let i = 0; i < 5; i++) {
      const manager = new ThreadPoolManager({ numThreads: 2, onLog() {} });
      const t = performance.now();
      await manager.execute(() => demo.log_from_every_thread(0));
      samples.push(performance.now() - t);
      await manager.close();
    }
    return samples;
  },

  // On the page's main thread: the longest gap between animation frames while run()
  // holds both pool threads for a 1.5 s job, 3 jobs.
  frames: () =>
    withManager('pkg-web', {}, async ({ manager }) => {
      const task = new URL('/runtime_js/test/browser/scenarios/demo-task.mjs?pkg=pkg-web', import.meta.url);
      await manager.run(task, 'busy', [10]);
      const gaps = [];
      for (let i = 0; i < 3; i++) gaps.push(await longestFrameGap(() => manager.run(task, 'busy', [1500])));
      return gaps;
    }),

  // On the page's main thread with spinOnPage: a proxied noop, and the longest gap between
  // animation frames while execute() holds the pool for a 1.5 s job (the page spins through it).
  spin: () =>
    withManager('pkg-web', { spinOnPage: true, callTimeoutMs: 60_000, splitCalls: false }, async ({ demo, manager }) => {
      await manager.execute(() => demo.noop());
      const proxy = await manager.execute(() => perCall(() => demo.noop(), 50, 200));
      const gaps = [];
      for (let i = 0; i < 3; i++) gaps.push(await longestFrameGap(() => manager.execute(() => demo.busy(1500))));
      return { proxy, gaps };
    }),
};

export default () => STEPS[params.get('step')]();
