'use strict';
// The engine behind ThreadPoolManager: the pool's life. It starts a pool on
// demand, keeps it while calls run, hands it to the idle policy when they end,
// replaces it after a failure (the reset policy decides about the memory) and
// closes it. Calls (manager.cjs, task-queue.cjs) tell it when they begin and
// settle; pools tell it what happens through the callbacks it gives them.
const platform = require('./platform/index.cjs');
const { Pool } = require('./pool.cjs');
const { IdleShutdown } = require('./idle.cjs');
const { resetAfterFailure, resetAfterUncleanStop } = require('./reset.cjs');
const { deliverLog } = require('./logs.cjs');
const { session } = require('./session.cjs');
const { WbgPoolError, PoolClosedError, CallTimeoutError, wouldBlock } = require('./errors.cjs');

// One engine per glue module: pools of one glue share its memory and its
// proxy slot, so two would pull them from under each other.
let openEngine = null;

class Engine {
  constructor(binding, options, metrics) {
    if (openEngine !== null) {
      throw new WbgPoolError(`a ThreadPoolManager for ${binding.gluePath} is already open: use it, or close() it first`, 'ERR_MANAGER_EXISTS');
    }
    openEngine = this;
    this.binding = binding;
    this.options = options;
    this.metrics = metrics;
    this.pool = null;
    // execute() and run() calls not settled, by their records (metrics.cjs: kind, task, dispatched):
    // they keep the pool up and the process alive.
    this.calls = new Set();
    this.running = 0; // execute() fns not settled: the proxy stays installed for them
    this.closed = false;
    this.stopping = null; // a pool that is stopping, until it has
    this.idle = new IdleShutdown(options.idleShutdownMs, {
      pool: () => this.pool,
      busy: () => this.calls.size > 0 || this.closed,
      stop: () => this.stopPool('idle'),
    });
    this.localTrap = null; // why the latest pool was failed by a trap of the main thread's instance
    binding.handle.onLocalTrap((error) => this.localTrapped(error));
    // Records logged on the main thread (calls outside execute()) reach the same onLog as the pool's.
    binding.handle.onLocalLog((message) => deliverLog(this.options.onLog, message));
  }

  // A call begins: the pool stays up (and the process alive) until it settles.
  began(call) {
    this.calls.add(call);
    this.idle.cancel();
  }

  // A call settled: the last one lets the process exit and the pool idle.
  settled(call) {
    this.calls.delete(call);
    if (this.calls.size === 0) {
      if (this.pool !== null) this.pool.host.unref();
      this.idle.schedule();
    }
  }

  // The running pool, started if need be, once it is ready.
  async acquire() {
    for (let again = false; ; again = true) {
      // A pool still stopping owns the Rust pool state: the next one waits for it.
      while (this.stopping !== null) await this.stopping;
      if (this.closed) throw new PoolClosedError();
      // After a reset that failed, no pool may start on the memory a crash left behind.
      this.binding.handle.checkUsable();
      if (this.binding.handle.raw() === undefined) {
        throw new WbgPoolError(
          `${this.binding.gluePath} is not initialised: call its initSync({ module }) (or await its default ` +
            'export) before execute() or run(); glue of `--target web` does not initialise itself',
          'ERR_GLUE_NOT_INITIALIZED',
        );
      }
      if (this.pool === null) this.pool = this.startPool();
      const pool = this.pool;
      pool.host.ref();
      try {
        await pool.ready;
      } catch (error) {
        // A start that only the memory stood in the way of (its failure reset
        // the memory, see poolFailed) is tried once more, on the fresh memory.
        if (!again && pool.adapter.startCuredByFreshMemory(error)) continue;
        throw error;
      }
      // The pool may have failed, or close() come, while this call resumed.
      if (pool.failure !== null) throw pool.failure;
      if (this.closed) throw new PoolClosedError();
      return pool;
    }
  }

  startPool() {
    const { numThreads } = this.options;
    return new Pool(this.binding, this.options, {
      onStarted: (startMs) => {
        this.metrics.poolStarted(numThreads, startMs);
        this.routeOutsideCalls(this.pool);
      },
      onLog: (message) => deliverLog(this.options.onLog, message),
      onFailed: (pool, error) => this.poolFailed(pool, error),
      onDetachedPanic: (error) => this.metrics.detachedPanic(error),
    });
  }

  // Runs `fn` with the pool: its wasm calls, also after an await, go to the
  // pool's host. Rejects at once on a failure of the pool or the call timeout.
  async execute(fn, callTimeoutMs) {
    const pool = await this.acquire();
    this.binding.handle.setProxy(pool.proxy);
    this.running++;
    // The call's own context: its pool, and its deadline, which the pool checks
    // while the main thread waits in one of its wasm calls.
    const call = { pool, timeoutMs: callTimeoutMs, deadline: performance.now() + callTimeoutMs, failure: null, reject: null };
    // Rejected by a failure of the pool (Pool.fail), or by the call timeout.
    const stopped = new Promise((_, reject) => (call.reject = reject));
    const run = session.run(call, () => Promise.resolve().then(fn));
    // On a pool failure execute() rejects at once, but fn may go on: the proxy
    // stays installed until fn settles, so its later wasm calls fail loudly
    // instead of quietly running on the local instance.
    const finished = () => {
      if (--this.running === 0) this.binding.handle.setProxy(undefined);
    };
    run.then(finished, finished);
    // A timer fires only while no wasm call waits (the main thread is free): the
    // pool is not working for this call then, so only the call is rejected.
    const timer =
      callTimeoutMs === Infinity
        ? undefined
        : setTimeout(() => call.reject((call.failure = new CallTimeoutError({ timeoutMs: callTimeoutMs }))), callTimeoutMs);
    pool.calls.add(call);
    try {
      return await Promise.race([run, stopped]);
    } finally {
      pool.calls.delete(call);
      clearTimeout(timer);
    }
  }

  // While `pool` is up, calls outside execute() of exports that can wait go to it
  // (route.cjs). The patch marks those calls only under the contracts whose pool
  // the main thread's calls would join (wbg_patch/contract.py, MAIN_THREAD_JOINS).
  routeOutsideCalls(pool) {
    const { callTimeoutMs, spinOnPage } = this.options;
    const route = () => pool.routeOutside(callTimeoutMs);
    // On a page's main thread a routed call would wait for the host, which only spinOnPage allows:
    // refused before anything is sent (on the page's own instance it would wait for the pool's threads).
    const onPage = (name) => {
      if (pool.servesOutside()) throw wouldBlock(`${name}(), called outside execute() while the pool runs,`);
      return null;
    };
    this.binding.handle.setOutsideRouter(pool === null ? null : platform.canBlock || spinOnPage ? route : onPage);
  }

  stopPool(reason) {
    const pool = this.pool;
    this.pool = null;
    this.routeOutsideCalls(null);
    this.metrics.poolStopped(reason);
    this.stopping = (async () => {
      try {
        if (!(await pool.stop())) resetAfterUncleanStop(this.binding, pool.adapter);
      } finally {
        this.stopping = null;
      }
    })();
  }

  // A trap of the main thread's own instance: the memory, which the pool shares,
  // was reset at once (prelude.cjs), so the pool is done.
  localTrapped(error) {
    if (this.pool === null) return;
    // A call that this pool's session ran there (an execute()'s, proxy.cjs; a finalizer's free of
    // an object made in this pool, session.cjs) failed as it would have on the host: the pool fails
    // with its error. Calls outside execute() did not fail the pool's calls themselves: those are
    // told why their pool went.
    this.localTrap =
      session.getStore()?.pool === this.pool
        ? error
        : new PoolClosedError(
            `the main thread's own instance failed outside execute(), and the pool shares its memory, which was reset: ${error.message}`,
            { cause: error },
          );
    this.pool.fail(this.localTrap);
  }

  poolFailed(pool, error) {
    if (this.pool === pool) {
      this.pool = null;
      this.routeOutsideCalls(null);
    }
    if (this.pool === null && error !== this.localTrap) {
      const restarts = pool.adapter.startCuredByFreshMemory(error);
      // The calls that were running (not run() tasks still queued: close() rejected those before they ran).
      const running = [...this.calls].filter((call) => call.dispatched);
      resetAfterFailure(this.binding, error, { active: this.calls.size, running, closed: this.closed, restarts, outside: pool.failedOutsideCall() });
    }
    // Published once the memory is fresh: a subscriber's own wasm call (it runs on the main
    // thread's instance) must not meet what the failed threads left (a lock held, say).
    this.metrics.poolFailed(pool.isReady, this.closed ? 'close' : 'failure', error);
  }

  /** Stops the pool and refuses further work; running calls reject with PoolClosedError. */
  async close() {
    this.closed = true;
    if (openEngine === this) {
      openEngine = null;
      this.binding.handle.onLocalTrap(null);
      this.binding.handle.onLocalLog(null);
      this.routeOutsideCalls(null);
    }
    this.idle.cancel();
    const pool = this.pool;
    if (pool !== null) {
      if (this.calls.size > 0) pool.fail(new PoolClosedError('the thread pool manager was closed during a call'));
      else this.stopPool('close');
    }
    if (pool !== null && pool.failure !== null) await pool.terminated;
    while (this.stopping !== null) await this.stopping;
  }
}

module.exports = { Engine };
