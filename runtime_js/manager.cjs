'use strict';
// ThreadPoolManager: the public face of the runtime, on the main thread.
//
// `execute(fn)` runs `fn` with every wasm call of the glue sent to a Rayon pool
// living in a ThreadPoolHost worker; `run(filename, name)` runs a task module's
// export on that host while the main thread stays free. This class checks
// arguments and counts calls; the pool's life is the engine's (engine.cjs), the
// task queue is task-queue.cjs, options and their defaults are options.cjs.
const { binding } = require('./binding.cjs');
const { Engine } = require('./engine.cjs');
const { TaskQueue } = require('./task-queue.cjs');
const { checkOptions, callTimeout, SPIN_NEEDS_TIMEOUT } = require('./options.cjs');
const { Metrics, CHANNELS } = require('./metrics.cjs');
const errors = require('./errors.cjs');
const platform = require('./platform/index.cjs');

const { PoolClosedError } = errors;

class ThreadPoolManager {
  /**
   * @param {object} [options] see manager.d.ts (ThreadPoolManagerOptions); defaults in defaults.json
   */
  constructor(options = {}) {
    const bound = binding();
    errors.checkSharedMemory();
    this.options = checkOptions(options, bound.defaults);
    this.metrics = new Metrics(bound.gluePath);
    this.engine = new Engine(bound, this.options, this.metrics);
    this.tasks = new TaskQueue(this.engine, this.metrics, this.options.maxQueue);
  }

  /**
   * Runs `fn` with the pool; resolves with its result, rejects on any pool failure.
   * @param {{callTimeoutMs?: number}} [options] overrides the manager's callTimeoutMs for this call
   */
  async execute(fn, options = {}) {
    let callTimeoutMs;
    try {
      if (typeof fn !== 'function') throw new TypeError('execute(fn): fn must be a function');
      if (!platform.canBlock && !this.options.spinOnPage) throw errors.wouldBlock('execute()');
      callTimeoutMs = callTimeout('execute(fn, options)', options, this.options.callTimeoutMs);
      if (!platform.canBlock && callTimeoutMs === Infinity) throw new RangeError(`execute(fn, options): ${SPIN_NEEDS_TIMEOUT('callTimeoutMs')}`);
    } catch (error) {
      throw this.refused('execute', null, error);
    }
    return this.track('execute', null, () => this.engine.execute(fn, callTimeoutMs));
  }

  /**
   * Runs export `name` of the task module `filename` on the pool's host thread,
   * next to the glue and the pool, and resolves with its result: the main
   * thread stays free meanwhile. Tasks run one at a time, in the order given;
   * past maxQueue waiting ones, run() rejects at once with QueueFullError.
   * @param {string | URL} filename absolute path or file: URL of the task module
   * @param {string} [name] the exported function (default: 'default')
   * @param {unknown[]} [args] its arguments (structured-cloned)
   * @param {{callTimeoutMs?: number}} [options] overrides the manager's callTimeoutMs for this task
   */
  async run(filename, name = 'default', args = [], options = {}) {
    let callTimeoutMs;
    try {
      filename = platform.taskLocation(filename);
      if (typeof name !== 'string') throw new TypeError('run(filename, name): name must be a string');
      if (!Array.isArray(args)) throw new TypeError('run(filename, name, args): args must be an array');
      callTimeoutMs = callTimeout('run(filename, name, args, options)', options, this.options.callTimeoutMs);
    } catch (error) {
      throw this.refused('run', { filename: String(filename), name: String(name) }, error);
    }
    return this.track('run', { filename, name }, (record) => this.tasks.add({ filename, name, args }, callTimeoutMs, record));
  }

  // One call, counted from its start to its settling: it keeps the pool up meanwhile.
  async track(kind, task, body) {
    if (this.engine.closed) throw this.refused(kind, task, new PoolClosedError());
    const record = this.metrics.callStarted(kind, task);
    this.engine.began(record);
    let failed = false;
    let thrown;
    try {
      return await body(record);
    } catch (error) {
      [failed, thrown] = [true, error];
      throw error;
    } finally {
      this.metrics.callEnded(record, failed, thrown);
      this.engine.settled(record);
    }
  }

  // A call refused before it began (a wrong argument, a closed manager) is a call
  // that failed, counted and published as one, as a run() refused for a full
  // queue is; no pool is started or kept for it. Returns `error`, to throw.
  refused(kind, task, error) {
    this.metrics.callEnded(this.metrics.callStarted(kind, task), true, error);
    return error;
  }

  /** Stops the pool and refuses further work; running calls reject with PoolClosedError. */
  async close() {
    this.tasks.rejectAll(new PoolClosedError('the thread pool manager was closed before this task ran'));
    await this.engine.close();
  }

  /**
   * Counters since the manager was made, and durations of the latest calls (ms).
   * @returns {import('./manager').ThreadPoolStats}
   */
  stats() {
    return this.metrics.snapshot();
  }

  /** Number of threads a new pool gets. */
  get numThreads() {
    return this.options.numThreads;
  }
}

// The public API, one assignment a name: Node reads these names off this file
// when ES-module glue's entry re-exports it (`export * from`).
exports.ThreadPoolManager = ThreadPoolManager;
exports.CHANNELS = CHANNELS;
exports.WbgPoolError = errors.WbgPoolError;
exports.WasmPanicError = errors.WasmPanicError;
exports.WasmTrapError = errors.WasmTrapError;
exports.HeartbeatTimeoutError = errors.HeartbeatTimeoutError;
exports.CallTimeoutError = errors.CallTimeoutError;
exports.StaleObjectError = errors.StaleObjectError;
exports.ForeignJsValueError = errors.ForeignJsValueError;
exports.PoolClosedError = errors.PoolClosedError;
exports.PoolStartError = errors.PoolStartError;
exports.NotTransferableError = errors.NotTransferableError;
exports.QueueFullError = errors.QueueFullError;
