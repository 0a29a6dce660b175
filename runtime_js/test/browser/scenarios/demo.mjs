// Runs in the browser (browser.mjs runModule): one step of the behaviour suite
// against a patched demo package, chosen by this module's query string
// (?pkg=pkg-web&step=panic). Answers plain data the test compares with Node's.
import { describe, rejection } from './outcome.mjs';

const params = new URL(import.meta.url).searchParams;
const PKG = `/build/${params.get('pkg')}`;

const STEPS = {
  // The pool's answers equal the local instance's (and Node's), from more than one thread.
  async results({ demo, ThreadPoolManager }) {
    const manager = new ThreadPoolManager({ numThreads: 2 });
    try {
      return {
        local: String(demo.sum_squares(1000n)),
        pooled: String(await manager.execute(() => demo.sum_squares(1000n))),
        threads: await manager.execute(() => demo.pool_threads()),
        // Each of the two threads spins 200 ms in a broadcast: both ran it.
        busyThreads: await manager.execute(() => demo.busy(200)),
      };
    } finally {
      await manager.close();
    }
  },

  // A pool thread's panic rejects typed, the next call works; an object made before
  // is stale after the reset (abort builds) or kept (unwind builds).
  async panic({ demo, ThreadPoolManager }) {
    const manager = new ThreadPoolManager({ numThreads: 2 });
    try {
      const before = await manager.execute(() => new demo.Histogram(4));
      const error = await rejection(manager.execute(() => demo.panic_in_join(false)));
      const next = String(await manager.execute(() => demo.sum_range(1n, 11n)));
      const old = await rejection(manager.execute(() => before.total));
      return { error, next, old, unwinds: demo.__wbg_pool.unwinds };
    } finally {
      await manager.close();
    }
  },

  async trap({ demo, ThreadPoolManager }) {
    const manager = new ThreadPoolManager({ numThreads: 2 });
    try {
      const error = await rejection(manager.execute(() => demo.trap_out_of_bounds()));
      return { error, next: String(await manager.execute(() => demo.sum_range(1n, 11n))) };
    } finally {
      await manager.close();
    }
  },

  // An argument of the wrong type (a Number where the export takes a BigInt) is the
  // caller's TypeError, on the thread's own instance and inside execute(): nothing in wasm
  // ran, so nothing is reset and objects made before still work.
  async wrongArgument({ demo, ThreadPoolManager }) {
    const manager = new ThreadPoolManager({ numThreads: 2 });
    try {
      const local = new demo.Histogram(4);
      const pooled = await manager.execute(() => new demo.Histogram(4));
      let outside = null;
      try {
        demo.sum_squares(5);
      } catch (error) {
        outside = describe(error);
      }
      const inside = await rejection(manager.execute(() => demo.sum_squares(5)));
      return { outside, inside, local: local.total, pooled: await manager.execute(() => pooled.total) };
    } finally {
      await manager.close();
    }
  },

  // A spin never ends by itself: the call timeout ends it, from a blocked thread.
  async spin({ demo, ThreadPoolManager }) {
    const manager = new ThreadPoolManager({ numThreads: 2 });
    try {
      const error = await rejection(manager.execute(() => demo.spin_forever(), { callTimeoutMs: 300 }));
      return { error, next: String(await manager.execute(() => demo.sum_range(1n, 11n))) };
    } finally {
      await manager.close();
    }
  },

  // A deadlock (every pool thread parked, the host waiting for them) ends at the heartbeat
  // timeout: a browser tells no CPU time, but the patched module counts its threads' sleeps.
  // A pool busy for three heartbeat timeouts first is not taken for one.
  async deadlock({ demo, ThreadPoolManager }) {
    const manager = new ThreadPoolManager({ numThreads: 2, heartbeatTimeoutMs: 500 });
    try {
      const busyThreads = await manager.execute(() => demo.busy(1500));
      const started = performance.now();
      const error = await rejection(manager.execute(() => demo.deadlock()));
      const afterMs = performance.now() - started;
      return { busyThreads, error, afterMs, next: String(await manager.execute(() => demo.sum_range(1n, 11n))) };
    } finally {
      await manager.close();
    }
  },

  // A memory the app filled leaves no room for the pool threads' stacks and TLS, which are
  // allocated in it as each thread starts: a typed start error, then a fresh memory.
  async memoryFull({ demo, ThreadPoolManager }) {
    const manager = new ThreadPoolManager({ numThreads: 2 });
    try {
      const takenKib = demo.fill_memory(0);
      let error = null;
      try {
        await manager.execute(() => demo.sum_range(1n, 11n));
      } catch (e) {
        error = { ...describe(e), cause: describe(e.cause) };
      }
      return { takenKib, error, next: String(await manager.execute(() => demo.sum_range(1n, 11n))) };
    } finally {
      await manager.close();
    }
  },

  async logs({ demo, ThreadPoolManager }) {
    const entries = [];
    const manager = new ThreadPoolManager({ numThreads: 2, onLog: (entry) => entries.push(entry) });
    try {
      await manager.execute(() => demo.log_from_every_thread(2));
      return entries.map(({ threadIndex, level, message }) => ({ threadIndex, level, message }));
    } finally {
      await manager.close();
    }
  },

  // run() from the page's main thread: the glue is called on the pool's host, the
  // page only awaits. Its timers keep firing through a 1.5 s pool job, a panic rejects
  // typed, and the next task works.
  async runOnThePage({ demo, ThreadPoolManager }) {
    const task = new URL(`./demo-task.mjs?pkg=${params.get('pkg')}`, import.meta.url);
    const manager = new ThreadPoolManager({ numThreads: 2 });
    try {
      // A relative URL cannot say which module the host should import: refused, typed.
      const relativeUrl = await rejection((async () => manager.run('./demo-task.mjs', 'sumSquares', [1000]))());
      const sum = await manager.run(task, 'sumSquares', [1000]);
      const threads = await manager.run(task, 'poolThreads', []);
      let last = performance.now();
      let longestGapMs = 0;
      const ticker = setInterval(() => {
        const now = performance.now();
        longestGapMs = Math.max(longestGapMs, now - last);
        last = now;
      }, 10);
      const jobStart = performance.now();
      const busyThreads = await manager.run(task, 'busy', [1500]);
      const jobMs = performance.now() - jobStart;
      clearInterval(ticker);
      const error = await rejection(manager.run(task, 'panicInJoin', []));
      const next = await manager.run(task, 'sumSquares', [10]);
      return { local: String(demo.sum_squares(1000n)), relativeUrl, sum, threads, busyThreads, jobMs, longestGapMs, error, next };
    } finally {
      await manager.close();
    }
  },

  // execute() on the page's main thread with spinOnPage: the page spins in each proxied
  // call instead of refusing it. Results, a typed panic, the next call.
  // A spinning page is frozen: spinOnPage needs a finite callTimeoutMs, which here ends a
  // deadlock before the heartbeat timeout (5 s) would.
  async spinOnThePage({ demo, ThreadPoolManager }) {
    let noTimeout = null;
    try {
      new ThreadPoolManager({ spinOnPage: true });
    } catch (error) {
      noTimeout = describe(error);
    }
    const manager = new ThreadPoolManager({ numThreads: 2, spinOnPage: true, callTimeoutMs: 30_000 });
    try {
      return {
        noTimeout,
        noTimeoutForTheCall: await rejection(manager.execute(() => demo.noop(), { callTimeoutMs: Infinity })),
        sum: String(await manager.execute(() => demo.sum_squares(1000n))),
        threads: await manager.execute(() => demo.pool_threads()),
        busyThreads: await manager.execute(() => demo.busy(200)),
        error: await rejection(manager.execute(() => demo.panic_in_join(false))),
        next: String(await manager.execute(() => demo.sum_range(1n, 11n))),
        deadlock: await rejection(manager.execute(() => demo.deadlock(), { callTimeoutMs: 500 })),
        afterDeadlock: String(await manager.execute(() => demo.sum_range(1n, 11n))),
      };
    } finally {
      await manager.close();
    }
  },

  // A pool whose threads the browser holds back (the test lowers its worker limit): a start
  // error past startTimeoutMs that says why, and the manager closes.
  async startHeldBack({ demo, ThreadPoolManager }) {
    const manager = new ThreadPoolManager({ numThreads: 2, startTimeoutMs: 2000 });
    try {
      return { error: await rejection(manager.execute(() => demo.sum_range(1n, 11n))) };
    } finally {
      await manager.close();
    }
  },

  // One call on a fresh pool, and what it rejected with: on the page's main thread,
  // which may not block (execute() says so, typed), or for a package whose thread
  // script is gone (a bundler that moved it, a 404: a typed start error naming the URL).
  async firstCall({ demo, ThreadPoolManager }) {
    const manager = new ThreadPoolManager({ numThreads: 2 });
    try {
      return { error: await rejection(manager.execute(() => demo.sum_range(1n, 11n))) };
    } finally {
      await manager.close().catch(() => {});
    }
  },
};

export default async function run() {
  const demo = await import(`${PKG}/wbg_demo.js`);
  const runtime = await import(`${PKG}/wbg-pool-manager.mjs`);
  await demo.default();
  return STEPS[params.get('step')]({ demo, ...runtime });
}
