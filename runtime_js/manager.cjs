'use strict';
// ThreadPoolManager: the public face of the runtime, on the main thread.
//
// `execute(fn)` runs `fn` with every wasm call of the glue sent to a Rayon pool
// living in a ThreadPoolHost worker (the engine is in pool.cjs). The pool
// starts on the first call, stops when idle, and is replaced after a failure.
const os = require('os');
const path = require('path');
const { fileURLToPath } = require('url');
const { binding, resetMemory } = require('./binding.cjs');
const { Pool, session, currentPool, finalizeIn, MIN_HEARTBEAT_MS } = require('./pool.cjs');
const { Metrics, CHANNELS } = require('./metrics.cjs');
const { HOST_THREAD, MessageType } = require('./protocol.cjs');
const {
  WbgPoolError,
  WasmPanicError,
  WasmTrapError,
  HeartbeatTimeoutError,
  CallTimeoutError,
  StaleObjectError,
  ForeignJsValueError,
  PoolClosedError,
  PoolStartError,
  NotTransferableError,
  threadLabel,
} = require('./errors.cjs');

// How often an idle pool that still uses CPU is looked at again before it stops.
const IDLE_RECHECK_MS = 100;
const LEVELS = ['off', 'error', 'warn', 'info', 'debug', 'trace'];
// One manager per glue module: pools of one glue share its memory and its
// proxy slot, so two managers would pull them from under each other.
let openManager = null;

function defaultLog(entry) {
  process.stderr.write(`[wasm ${entry.level} ${threadLabel(entry.threadIndex)}] ${entry.target}: ${entry.message}\n`);
}

function warn(message, code) {
  process.emitWarning(`wbg-pool: ${message}`, { code });
}

// Node turns a longer timer into 1 ms, without a word.
const MAX_TIMER_MS = 2 ** 31 - 1;
// Loading a pool takes ~25 ms per thread here, seconds on a loaded machine.
const RUNTIME_DEFAULTS = { startTimeoutMs: 30000, callTimeoutMs: Infinity };

// A duration option: milliseconds from `min` to what a Node timer can wait, or
// Infinity for "never". `why` explains a minimum above the obvious one.
function checkDuration(name, value, min, why = '') {
  if (value === Infinity) return;
  if (typeof value !== 'number' || Number.isNaN(value) || value < min) {
    throw new RangeError(`options.${name} must be at least ${min} ms, or Infinity for "never"; got ${String(value)}${why}`);
  }
  if (value > MAX_TIMER_MS) {
    throw new RangeError(
      `options.${name} is ${value} ms, longer than a Node timer can wait (2^31-1 = ${MAX_TIMER_MS} ms, ~24.8 days); ` +
        'use Infinity for "never"',
    );
  }
}

// A task module as the host imports it: an absolute path (or a file: URL).
function taskPath(filename) {
  if (filename instanceof URL || (typeof filename === 'string' && filename.startsWith('file:'))) filename = fileURLToPath(filename);
  if (typeof filename !== 'string' || !path.isAbsolute(filename)) {
    throw new TypeError(`run(filename): filename must be an absolute path or a file: URL, got ${String(filename)}`);
  }
  return filename;
}

function checkOptions(options, defaults) {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const o = { ...RUNTIME_DEFAULTS, ...defaults, onLog: defaultLog, ...options };
  if (o.numThreads === 0 || o.numThreads === null || o.numThreads === undefined) {
    o.numThreads = Math.max(1, (os.availableParallelism ? os.availableParallelism() : os.cpus().length) - 1);
  }
  if (!Number.isInteger(o.numThreads) || o.numThreads < 1 || o.numThreads > 256) {
    throw new RangeError(`options.numThreads must be an integer from 1 to 256, got ${o.numThreads}`);
  }
  checkDuration(
    'heartbeatTimeoutMs',
    o.heartbeatTimeoutMs,
    MIN_HEARTBEAT_MS,
    ': progress is measured in CPU ticks of 10 ms, so a shorter timeout would fail busy calls that are making progress',
  );
  checkDuration('startTimeoutMs', o.startTimeoutMs, 1);
  checkDuration('callTimeoutMs', o.callTimeoutMs, 1);
  checkDuration('idleShutdownMs', o.idleShutdownMs, 0);
  if (typeof o.onLog !== 'function') throw new TypeError('options.onLog must be a function');
  return o;
}

class ThreadPoolManager {
  /**
   * @param {object} [options]
   * @param {number} [options.numThreads] pool threads (default: available parallelism - 1, at least 1)
   * @param {number} [options.heartbeatTimeoutMs] fail a call when the pool makes no progress this long
   * @param {number} [options.callTimeoutMs] fail an execute() or run() that runs longer than this (default: Infinity)
   * @param {number} [options.startTimeoutMs] fail a pool that is not running this long after it was started
   * @param {number} [options.idleShutdownMs] stop the pool this long after the last execute() or run()
   * @param {(entry: object) => void} [options.onLog] receives every log record of the pool threads
   */
  constructor(options = {}) {
    this.binding = binding();
    this.options = checkOptions(options, this.binding.defaults);
    // A crash in one manager's pool resets the memory of both.
    if (openManager !== null) {
      throw new WbgPoolError(
        `a ThreadPoolManager for ${this.binding.gluePath} is already open: use it, or close() it first`,
        'ERR_MANAGER_EXISTS',
      );
    }
    openManager = this;
    // The glue records the pool each object is made in, for its finalizer.
    Object.assign(this.binding.handle, { madeIn: currentPool, finalize: (free, held, pool) => finalizeIn(pool, free, held, warn) });
    this.pool = null;
    this.active = 0; // execute() calls not settled: they keep the pool up and the process alive
    this.running = 0; // their fns not settled: the proxy stays installed for them
    this.metrics = new Metrics(this.binding.gluePath);
    this.tasks = []; // run() calls waiting for their turn
    this.taskRunning = false;
    this.closed = false;
    this.idleTimer = null;
    this.stopping = null;
  }

  /**
   * Runs `fn` with the pool; resolves with its result, rejects on any pool failure.
   * @param {{callTimeoutMs?: number}} [options] overrides the manager's callTimeoutMs for this call
   */
  async execute(fn, options = {}) {
    if (typeof fn !== 'function') throw new TypeError('execute(fn): fn must be a function');
    const callTimeoutMs = this.callTimeout('execute(fn, options)', options);
    if (this.closed) throw new PoolClosedError();
    this.active++;
    this.cancelIdleShutdown();
    const record = this.metrics.callStarted('execute');
    let failed = false;
    let thrown;
    try {
      const pool = await this.acquirePool();
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
    } catch (error) {
      [failed, thrown] = [true, error];
      throw error;
    } finally {
      this.metrics.callEnded(record, failed, thrown);
      this.settled();
    }
  }

  /**
   * Runs export `name` of the task module `filename` on the pool's host thread,
   * next to the glue and the pool, and resolves with its result: the main
   * thread stays free meanwhile. Tasks run one at a time, in the order given.
   * @param {string | URL} filename absolute path or file: URL of the task module
   * @param {string} [name] the exported function (default: 'default')
   * @param {unknown[]} [args] its arguments (structured-cloned)
   * @param {{callTimeoutMs?: number}} [options] overrides the manager's callTimeoutMs for this task
   */
  async run(filename, name = 'default', args = [], options = {}) {
    filename = taskPath(filename);
    if (typeof name !== 'string') throw new TypeError('run(filename, name): name must be a string');
    if (!Array.isArray(args)) throw new TypeError('run(filename, name, args): args must be an array');
    const callTimeoutMs = this.callTimeout('run(filename, name, args, options)', options);
    if (this.closed) throw new PoolClosedError();
    this.active++;
    this.cancelIdleShutdown();
    const queued = { task: { filename, name, args }, callTimeoutMs, record: this.metrics.callStarted('run', { filename, name }), dispatched: false };
    let failed = false;
    let thrown;
    try {
      return await new Promise((resolve, reject) => {
        Object.assign(queued, { resolve, reject });
        this.tasks.push(queued);
        this.nextTask();
      });
    } catch (error) {
      [failed, thrown] = [true, error];
      throw error;
    } finally {
      this.metrics.callEnded(queued.record, failed, thrown, queued.dispatched);
      this.settled();
    }
  }

  // Starts the first queued task unless one runs; the queue is first come, first served.
  async nextTask() {
    if (this.taskRunning || this.tasks.length === 0) return;
    this.taskRunning = true;
    const queued = this.tasks.shift();
    const { task, callTimeoutMs, resolve, reject } = queued;
    queued.dispatched = true;
    this.metrics.taskDispatched();
    try {
      const pool = await this.acquirePool();
      // A failure of the pool rejects the task through pool.tasks; runTask sets the deadline.
      resolve(await pool.runTask({ timeoutMs: callTimeoutMs, deadline: Infinity, failure: null }, task));
    } catch (error) {
      reject(error);
    } finally {
      this.taskRunning = false;
      this.nextTask();
    }
  }

  // The callTimeoutMs of one call: its own option, or the manager's.
  callTimeout(signature, options) {
    if (options === null || typeof options !== 'object') throw new TypeError(`${signature}: options must be an object`);
    const callTimeoutMs = options.callTimeoutMs ?? this.options.callTimeoutMs;
    checkDuration('callTimeoutMs', callTimeoutMs, 1);
    return callTimeoutMs;
  }

  // The running pool, started if need be, once it is ready.
  async acquirePool() {
    // A pool still stopping owns the Rust pool state: the next one waits for it.
    while (this.stopping !== null) await this.stopping;
    if (this.closed) throw new PoolClosedError();
    if (this.binding.handle.raw() === undefined) {
      throw new WbgPoolError(
        `${this.binding.gluePath} is not initialised: call its initSync({ module }) (or await its default ` +
          'export) before execute() or run(); glue of `--target web` does not initialise itself',
        'ERR_GLUE_NOT_INITIALIZED',
      );
    }
    const pool = this.ensurePool();
    pool.host.ref();
    await pool.ready;
    // The pool may have failed, or close() come, while this call resumed.
    if (pool.failure !== null) throw pool.failure;
    if (this.closed) throw new PoolClosedError();
    return pool;
  }

  // An execute() or run() settled: the last one lets the process exit and the pool idle.
  settled() {
    if (--this.active === 0) {
      if (this.pool !== null) this.pool.host.unref();
      this.scheduleIdleShutdown();
    }
  }

  /** Stops the pool and refuses further work; running calls reject with PoolClosedError. */
  async close() {
    this.closed = true;
    for (const queued of this.tasks.splice(0)) queued.reject(new PoolClosedError('the thread pool manager was closed before this task ran'));
    if (openManager === this) openManager = null;
    this.cancelIdleShutdown();
    const pool = this.pool;
    if (pool !== null) {
      if (this.active > 0) pool.fail(new PoolClosedError('the thread pool manager was closed during a call'));
      else this.stopPool('close');
    }
    if (pool !== null && pool.failure !== null) await pool.terminated;
    while (this.stopping !== null) await this.stopping;
  }

  /**
   * Counters since the manager was made, and durations of the latest calls (ms).
   * @returns {{calls: number, running: number, queued: number, poolStarts: number, poolStops: number,
   *   failures: Record<string, number>, durationMs: {count: number, p50: number|null, p90: number|null, p99: number|null, max: number|null}}}
   */
  stats() {
    return this.metrics.snapshot();
  }

  /** Number of threads a new pool gets. */
  get numThreads() {
    return this.options.numThreads;
  }

  ensurePool() {
    if (this.pool === null) this.pool = new Pool(this, this.binding);
    return this.pool;
  }

  stopPool(reason) {
    const pool = this.pool;
    this.pool = null;
    this.metrics.poolStopped(reason);
    this.stopping = (async () => {
      try {
        if (!(await pool.stop())) {
          this.resetMemory(
            pool.adapter.canStop
              ? 'a pool thread crashed or had to be terminated while the pool stopped'
              : `the ${pool.adapter.kind} pool is Rayon's global pool, which cannot exit: its threads were terminated`,
          );
        }
      } finally {
        this.stopping = null;
      }
    })();
  }

  onPoolFailed(pool, error) {
    if (this.pool === pool) this.pool = null;
    this.metrics.poolFailed(pool.isReady, this.closed ? 'close' : 'failure', error);
    if (this.pool !== null) return;
    // Memory a crashed thread wrote to is not trusted (locks it held stay held):
    // the local instance starts again on fresh memory before the next pool.
    // Only a rejected execute() tells the user why; other resets are warned of.
    let why = null;
    if (this.active === 0) why = `the pool failed while no execute() was running: ${error.message}`;
    else if (this.closed) why = 'close() was called during an execute(), which was rejected; its pool was terminated';
    this.resetMemory(why, error.message);
  }

  // `why` is for a reset that no rejected execute() explains to the user.
  resetMemory(why, reason = why) {
    try {
      resetMemory(reason);
    } catch (error) {
      warn(`could not start the local instance again on fresh memory: ${error.message}`, 'WBG_POOL_RESET');
      return;
    }
    if (why) warn(`${why}; the wasm memory was reset, so wasm objects made before throw StaleObjectError`, 'WBG_POOL_RESET');
  }

  deliverLog({ thread, level, target, message, time }) {
    const entry = { threadIndex: thread === HOST_THREAD ? null : thread, level: LEVELS[level] ?? String(level), target, message, time };
    try {
      // Outside any execute() session: wasm calls made by onLog run locally
      // instead of queueing behind the call that is waiting.
      session.exit(() => this.options.onLog(entry));
    } catch (error) {
      warn(`onLog threw: ${error && error.message}`, 'WBG_POOL_ONLOG');
    }
  }

  scheduleIdleShutdown(afterMs = this.options.idleShutdownMs) {
    // A pool that cannot exit lives until close(): stopping it would cost the memory.
    if (this.pool === null || this.closed || !this.pool.adapter.canStop || afterMs === Infinity) return;
    if (afterMs === this.options.idleShutdownMs) {
      // The CPU use the idle check compares with: from when the last call ended.
      try {
        this.pool.worked(performance.now());
      } catch {
        return; // a thread is gone: the pool failed, and that was handled
      }
    }
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.pool === null || this.active > 0) return;
      // A job the pool spawned (rayon::spawn) may still run with no execute()
      // waiting: stopping now would cut it off. Its CPU use shows it; wait it out.
      // JS values held in the host's wasm state would be lost: keep the pool for them.
      let worked;
      let heldJsValues;
      try {
        worked = this.pool.worked(performance.now());
        heldJsValues = worked === false ? this.pool.request(MessageType.HELD_JS_VALUES, 'idle shutdown', []) : 0;
      } catch {
        return; // a thread is gone: the pool failed, and that was handled
      }
      if (worked !== false) this.scheduleIdleShutdown(IDLE_RECHECK_MS);
      else if (heldJsValues > 0) this.scheduleIdleShutdown();
      else this.stopPool('idle');
    }, afterMs);
    this.idleTimer.unref();
  }

  cancelIdleShutdown() {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}

module.exports = {
  ThreadPoolManager,
  CHANNELS,
  WbgPoolError,
  WasmPanicError,
  WasmTrapError,
  HeartbeatTimeoutError,
  CallTimeoutError,
  StaleObjectError,
  ForeignJsValueError,
  PoolClosedError,
  PoolStartError,
  NotTransferableError,
};
