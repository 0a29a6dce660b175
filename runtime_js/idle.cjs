'use strict';
// The idle policy: a pool stops idleShutdownMs after the last call ends, and
// restarts on the next. It is kept while it still works (a job it spawned, such
// as rayon::spawn, may run with no call waiting: stopping would cut it off) and
// while its host's wasm state holds JS values (they would be lost). A pool that
// cannot exit (Rayon's global pool) lives until close(): stopping it would cost
// the memory.
const platform = require('./platform/index.cjs');

// How often an idle pool that still uses CPU is looked at again before it stops.
const IDLE_RECHECK_MS = 100;

class IdleShutdown {
  // `pool()` is the running pool or null, `busy()` whether calls run or the
  // manager closed, `stop()` stops the pool.
  constructor(afterMs, { pool, busy, stop }) {
    this.afterMs = afterMs;
    Object.assign(this, { pool, busy, stop });
    this.timer = null;
  }

  // The last call ended: the pool stops after idleShutdownMs unless it works.
  schedule() {
    const pool = this.pool();
    if (pool === null || this.busy() || !pool.adapter.canStop || this.afterMs === Infinity) return;
    try {
      // The CPU use the idle check compares with: from when the last call ended.
      pool.worked(performance.now());
    } catch {
      return; // a thread is gone: the pool failed, and that was handled
    }
    this.arm(this.afterMs);
  }

  arm(afterMs) {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.check();
    }, afterMs);
    platform.unref(this.timer);
  }

  check() {
    const pool = this.pool();
    if (pool === null || this.busy()) return;
    let worked;
    let heldJsValues;
    try {
      worked = pool.worked(performance.now());
      heldJsValues = worked === false ? pool.heldJsValues() : 0;
    } catch {
      return; // a thread is gone: the pool failed, and that was handled
    }
    if (worked !== false) this.arm(IDLE_RECHECK_MS);
    else if (heldJsValues > 0) this.schedule();
    else this.stop();
  }

  cancel() {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

module.exports = { IdleShutdown };
