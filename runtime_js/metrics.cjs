'use strict';
// What a service owner sees of the runtime: counters and call durations for
// manager.stats(), and the same moments published on node:diagnostics_channel
// (Node; browsers have none), where APM tools subscribe. Publishing costs nothing while nobody subscribes.
const platform = require('./platform/index.cjs');
const { warn } = require('./errors.cjs');
const { session } = require('./session.cjs');

const CHANNELS = Object.freeze({
  callStart: 'wbg-pool:call:start', // { id, kind, task, glue }
  callEnd: 'wbg-pool:call:end', // { id, kind, task, glue, durationMs, error }
  poolStart: 'wbg-pool:pool:start', // { glue, numThreads, startMs }
  poolStop: 'wbg-pool:pool:stop', // { glue, reason: 'idle' | 'close' | 'failure', error }
  failure: 'wbg-pool:failure', // { glue, code, error }: the pool failed
  // A detached job (rayon::spawn) or a pool thread's start handler panicked in a
  // panic=unwind build (Rayon's panic handler took it): no call fails, the pool goes on.
  detachedPanic: 'wbg-pool:detached-panic', // { glue, error }
});
const channel = Object.fromEntries(Object.entries(CHANNELS).map(([key, name]) => [key, platform.diagnosticsChannel(name)]));

// Durations of the latest calls kept for the percentiles: enough for a p99
// that moves with the load, bounded for a process that runs for months.
const DURATIONS_KEPT = 1024;

// Subscribers run outside any execute() session, as onLog does (logs.cjs): a failure or a
// detached panic is often published while a call waits for the pool, and a subscriber's own
// wasm call would otherwise be taken for that call's (ERR_REENTRANT_CALL, or its pool's failure).
function publish(which, message) {
  if (channel[which].hasSubscribers) session.exit(() => channel[which].publish(message));
}

class Metrics {
  constructor(glue) {
    this.glue = glue;
    this.nextId = 0;
    this.calls = 0;
    this.running = 0;
    this.queued = new Set(); // the records of run() tasks waiting for their turn, oldest first
    this.poolStarts = 0;
    this.poolStops = 0;
    this.failures = {};
    this.detachedPanics = 0;
    this.durations = new Float64Array(DURATIONS_KEPT);
    this.settled = 0;
  }

  // A call of execute() or run() (`task`: { filename, name }) arrived; returns
  // its record. A run() task is queued until it is dispatched to the host.
  callStarted(kind, task = null) {
    const call = { id: ++this.nextId, kind, task, glue: this.glue, started: performance.now(), dispatched: kind !== 'run' };
    this.calls++;
    if (call.dispatched) this.running++;
    else this.queued.add(call);
    publish('callStart', { id: call.id, kind, task, glue: this.glue });
    return call;
  }

  // A task left the queue for the host.
  taskDispatched(call) {
    call.dispatched = true;
    this.queued.delete(call);
    this.running++;
  }

  // `failed`: it rejected, with `error` (which may be any value a fn threw).
  callEnded(call, failed, error) {
    const durationMs = performance.now() - call.started;
    if (call.dispatched) this.running--;
    else this.queued.delete(call);
    this.durations[this.settled++ % DURATIONS_KEPT] = durationMs;
    if (failed) {
      const code = typeof error?.code === 'string' ? error.code : (error?.name ?? 'thrown');
      this.failures[code] = (this.failures[code] ?? 0) + 1;
    }
    publish('callEnd', { id: call.id, kind: call.kind, task: call.task, glue: this.glue, durationMs, error: failed ? error : undefined });
  }

  // A panic that no call waits for: nothing else would tell, so it is printed (a
  // warning, on stderr) as well as published.
  detachedPanic(error) {
    this.detachedPanics++;
    publish('detachedPanic', { glue: this.glue, error });
    const what = 'a panic that no call waits for (a detached job: rayon::spawn, spawn_fifo; or a pool thread\'s start handler)';
    warn(`${what} unwound; no call failed, the pool goes on: ${error.message}`, 'WBG_POOL_DETACHED_PANIC');
  }

  poolStarted(numThreads, startMs) {
    this.poolStarts++;
    publish('poolStart', { glue: this.glue, numThreads, startMs });
  }

  // A pool stopped: idle, or close() with no call running.
  poolStopped(reason) {
    this.poolStops++;
    publish('poolStop', { glue: this.glue, reason, error: undefined });
  }

  // A pool failed (`reason` 'close' when close() ended its running calls); one
  // that never started is a failure, not a stop.
  poolFailed(started, reason, error) {
    publish('failure', { glue: this.glue, code: error?.code ?? null, error });
    if (!started) return;
    this.poolStops++;
    publish('poolStop', { glue: this.glue, reason, error });
  }

  snapshot() {
    const kept = Array.from(this.durations.subarray(0, Math.min(this.settled, DURATIONS_KEPT))).sort((a, b) => a - b);
    const at = (q) => (kept.length === 0 ? null : kept[Math.min(kept.length - 1, Math.floor(q * kept.length))]);
    // Tasks leave the queue in the order they came: the first one left has waited longest.
    const oldest = this.queued.values().next().value;
    return {
      calls: this.calls,
      running: this.running,
      queued: this.queued.size,
      oldestQueuedMs: oldest === undefined ? null : performance.now() - oldest.started,
      poolStarts: this.poolStarts,
      poolStops: this.poolStops,
      failures: { ...this.failures },
      detachedPanics: this.detachedPanics,
      durationMs: { count: kept.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: kept.length === 0 ? null : kept[kept.length - 1] },
    };
  }
}

module.exports = { Metrics, CHANNELS };
