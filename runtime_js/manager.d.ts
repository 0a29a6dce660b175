// Types of the runtime that wbg-patch writes beside the glue. Emitted as
// wbg-pool-manager.d.cts (CommonJS glue) or wbg-pool-manager.d.mts (ES-module
// glue), beside the entry file they describe, where TypeScript looks for them.

export interface LogEntry {
  /** Rayon pool thread index, null for the ThreadPoolHost, -2 for the main thread (a call outside execute(), or one that ran on the caller's instance inside it). */
  threadIndex: number | null;
  level: 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** The `log` target (the Rust module path by default). */
  target: string;
  message: string;
  /** Date.now() on the thread that logged. */
  time: number;
}

// Every default and limit below is defaults.json's (a test keeps them equal).
export interface ThreadPoolManagerOptions {
  /**
   * Pool threads, from 1 to 256; 0: available parallelism (every core), at least 1.
   * @default 0
   */
  numThreads?: number;
  /**
   * A call fails with HeartbeatTimeoutError when the pool makes no progress (uses no CPU) this long:
   * a deadlock. At least 100 ms; Infinity: never.
   * @default 5000
   */
  heartbeatTimeoutMs?: number;
  /**
   * An execute() or run() fails with CallTimeoutError when it runs longer than this, busy or not: the
   * answer to a pool that spins forever. Overridable per call.
   * @default Infinity
   */
  callTimeoutMs?: number;
  /**
   * A pool that is not running this long after it was started fails with PoolStartError.
   * @default 30000
   */
  startTimeoutMs?: number;
  /**
   * The pool stops this long after the last execute() or run() ends, and restarts on the next. Infinity: never.
   * @default 1000
   */
  idleShutdownMs?: number;
  /**
   * run() tasks that may wait for their turn, the running one aside; beyond, run() rejects at once with
   * QueueFullError. An integer of at least 0; Infinity: no bound. Bounded by default: tasks run one at a
   * time, so behind one that never ends the queue would grow with every call, without a word.
   * @default 1000
   */
  maxQueue?: number;
  /**
   * On a browser page's main thread, which may not block: let execute() (and a call outside it that
   * the pool must serve) wait for the pool by spinning, instead of rejecting with ERR_WOULD_BLOCK. The
   * page is frozen and a core busy for the whole call; for SDKs whose JS cannot await. On a page it
   * needs a finite callTimeoutMs (a RangeError without one): a browser cannot tell a deadlocked pool
   * from a busy one. In a Worker and in Node it changes nothing.
   * @default false
   */
  spinOnPage?: boolean;
  /**
   * Inside execute(), run the calls of exports that cannot wait for another thread and use nothing a
   * thread has its own of (the patch reads which off the module: `wbg-patch inspect --exports`) on the
   * caller's own instance, without the round trip to the pool's host. Their failures are the same,
   * with threadIndex -2. false: every call goes to the host, as before; for an export that runs long
   * sequentially and must stay under callTimeoutMs, which a call on the caller's instance cannot honour.
   * @default true
   */
  splitCalls?: boolean;
  /** Receives every log record of the pool; default: one line on stderr. */
  onLog?: (entry: LogEntry) => void;
}

/**
 * Durations are milliseconds up to 2^31-1 (what a Node timer can wait), or Infinity for "never";
 * anything else is a RangeError.
 */
export interface ExecuteOptions {
  /** This call's callTimeoutMs, instead of the manager's. */
  callTimeoutMs?: number;
}

/** What manager.stats() reports: counters since the manager was made. */
export interface ThreadPoolStats {
  /** execute() and run() calls made, those refused at once included (a wrong argument, a closed manager, a full queue). */
  calls: number;
  /** Calls in progress: execute() calls, and the run() task on the host. */
  running: number;
  /** run() tasks waiting for their turn (at most maxQueue). */
  queued: number;
  /** How long the oldest waiting run() task has waited (ms); null when none waits. A task that never ends shows here. */
  oldestQueuedMs: number | null;
  poolStarts: number;
  /** Pools stopped: idle, closed, or failed after they started. */
  poolStops: number;
  /** Failed calls by the error's `code` (its `name` when it has none: a wrong argument's `TypeError` or `RangeError`). */
  failures: Record<string, number>;
  /** Panics of detached jobs (rayon::spawn) and start handlers in a panic=unwind build: no call failed, the pool went on. */
  detachedPanics: number;
  /** Durations of the latest 1024 settled calls, from the call to its settling (queueing included); null before any. */
  durationMs: { count: number; p50: number | null; p90: number | null; p99: number | null; max: number | null };
}

/** A task of manager.run(), as diagnostics_channel messages name it (a run() refused for its arguments: as given, as strings). */
export interface TaskName {
  filename: string;
  name: string;
}

/** Messages published on the node:diagnostics_channel channels named in CHANNELS. */
export interface CallStartMessage { id: number; kind: 'execute' | 'run'; task: TaskName | null; glue: string }
export interface CallEndMessage extends CallStartMessage { durationMs: number; error: unknown }
export interface PoolStartMessage { glue: string; numThreads: number; startMs: number }
export interface PoolStopMessage { glue: string; reason: 'idle' | 'close' | 'failure'; error: WbgPoolError | undefined }
export interface FailureMessage { glue: string; code: string | null; error: WbgPoolError }
export interface DetachedPanicMessage { glue: string; error: WasmPanicError }

/** The node:diagnostics_channel channel names the runtime publishes on. */
export const CHANNELS: {
  readonly callStart: 'wbg-pool:call:start';
  readonly callEnd: 'wbg-pool:call:end';
  readonly poolStart: 'wbg-pool:pool:start';
  readonly poolStop: 'wbg-pool:pool:stop';
  readonly failure: 'wbg-pool:failure';
  /**
   * A detached job (rayon::spawn, spawn_fifo) or a pool thread's start handler panicked in a panic=unwind build:
   * no call failed, the pool goes on; also printed as a WBG_POOL_DETACHED_PANIC warning.
   */
  readonly detachedPanic: 'wbg-pool:detached-panic';
};

export class ThreadPoolManager {
  constructor(options?: ThreadPoolManagerOptions);
  /** Runs fn with the pool: wasm calls made inside go to the pool's host. The main thread blocks during each. */
  execute<T>(fn: () => T | Promise<T>, options?: ExecuteOptions): Promise<T>;
  /**
   * Runs export `name` of the task module `filename` on the pool's host thread, next to the glue and
   * the pool; the main thread stays free. Arguments and result are structured-cloned. Tasks run one at
   * a time, first come first served; errors are typed as execute()'s (the task's own exception as thrown).
   * Rejects at once with QueueFullError when maxQueue tasks already wait.
   */
  run<T = unknown>(filename: string | URL, name?: string, args?: unknown[], options?: ExecuteOptions): Promise<T>;
  /** Counters and call durations, for a health endpoint or a metrics exporter. */
  stats(): ThreadPoolStats;
  /** Stops the pool; running and later calls reject with PoolClosedError. */
  close(): Promise<void>;
  readonly numThreads: number;
}

export class WbgPoolError extends Error {
  /**
   * Stable code: the subclasses' own, or one of `ERR_MANAGER_EXISTS`, `ERR_REENTRANT_CALL`,
   * `ERR_GLUE_NOT_PATCHED`, `ERR_GLUE_NOT_INITIALIZED`, `ERR_NOT_BOUND`, `ERR_TASK_NOT_FOUND`,
   * `ERR_POOL_OWNED_BY_RUNTIME`, `ERR_RESET_FAILED` (the memory could not be reset after a failure:
   * every use of the glue throws it until the next execute() or run() tries the reset again and it works),
   * `ERR_WOULD_BLOCK` (execute() on a browser page's main thread, which may not block: call it in a module Worker).
   * `ERR_NOT_CROSS_ORIGIN_ISOLATED` (a browser page without the COOP/COEP headers, which get it shared memory).
   * `ERR_OUT_OF_MEMORY` (the glue's first instantiation: the process cannot reserve the module's shared memory).
   */
  readonly code: string;
}

export class WasmPanicError extends WbgPoolError {
  readonly code: 'ERR_WASM_PANIC';
  readonly panicMessage: string;
  readonly location: { file: string; line: number; column: number } | null;
  /**
   * The Rayon thread index; null for the pool host, -2 for the main thread's own instance (outside execute()),
   * -3 for an unknown thread (a panic that unwound and that no panic hook reported, or several did: see candidates).
   */
  readonly threadIndex: number | null;
  /**
   * Set when threads reported more than one panic with this message during the call, at different threads or
   * locations: one of them unwound to the call (Rayon passes one on), and none of their reports says which.
   */
  readonly candidates?: { threadIndex: number | null; file: string | null; line: number; column: number }[];
  /** The stack the crate's own panic hook printed, or the trap's when no hook reported the panic. */
  readonly wasmStack?: string;
  /**
   * true: the panic unwound to the export (a panic=unwind build), so only this call failed: the pool,
   * the memory and every object made before keep working. false: the memory was reset (panic=abort),
   * and objects made before throw StaleObjectError.
   */
  readonly unwound: boolean;
}

export class WasmTrapError extends WbgPoolError {
  readonly code: 'ERR_WASM_TRAP';
  /**
   * js_exception: an imported JS function threw through the wasm frames (the original error is `cause`);
   * foreign_js_value: a JS value kept by an object made outside execute() was used in the pool;
   * js_values_overflow: the instance held more JS values than its range of the table has slots;
   * panic_while_panicking: a destructor panicked while a panic unwound (a panic=unwind build);
   * wait_forbidden: a call on the main thread's instance met, while it failed, a lock another thread held.
   */
  readonly kind:
    | 'out_of_memory'
    | 'stack_overflow'
    | 'memory_out_of_bounds'
    | 'abort'
    | 'js_exception'
    | 'foreign_js_value'
    | 'js_values_overflow'
    | 'panic_while_panicking'
    | 'wait_forbidden'
    | 'runtime_error';
  /** As WasmPanicError's: null for the pool host, -2 for the main thread's own instance. */
  readonly threadIndex: number | null;
  readonly wasmStack?: string;
}

export class HeartbeatTimeoutError extends WbgPoolError {
  readonly code: 'ERR_HEARTBEAT_TIMEOUT';
  readonly timeoutMs: number;
}

export class CallTimeoutError extends WbgPoolError {
  readonly code: 'ERR_CALL_TIMEOUT';
  readonly timeoutMs: number;
}

/** A wasm object (an instance of a glue class) made before the wasm memory was reset by a failure. */
export class StaleObjectError extends WbgPoolError {
  readonly code: 'ERR_STALE_OBJECT';
  /** The object's class, e.g. 'Histogram'. */
  readonly className: string | null;
}

/** A JS value kept by an object made in the pool, used on the main thread (thrown at its first use). */
export class ForeignJsValueError extends WbgPoolError {
  readonly code: 'ERR_FOREIGN_JS_VALUE';
}

export class PoolClosedError extends WbgPoolError {
  readonly code: 'ERR_POOL_CLOSED';
}

export class PoolStartError extends WbgPoolError {
  readonly code: 'ERR_POOL_START';
}

export class NotTransferableError extends WbgPoolError {
  readonly code: 'ERR_NOT_TRANSFERABLE';
}

/** run() found maxQueue tasks waiting for their turn; the task was not queued. */
export class QueueFullError extends WbgPoolError {
  readonly code: 'ERR_QUEUE_FULL';
  readonly maxQueue: number;
}
