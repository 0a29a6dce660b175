'use strict';
// The queue of manager.run() tasks: first come, first served, one at a time on
// the pool's host. A queued task is not bound to a pool, so it survives a
// failure of the pool before its turn and runs on the next one.
const { QueueFullError } = require('./errors.cjs');

class TaskQueue {
  // `maxQueue`: how many tasks may wait for their turn (the running one aside).
  constructor(engine, metrics, maxQueue) {
    this.engine = engine;
    this.metrics = metrics;
    this.maxQueue = maxQueue;
    this.waiting = [];
    this.running = false;
  }

  // Queues `task` ({ filename, name, args }); settles with its outcome, or
  // rejects at once when it would wait behind maxQueue others.
  add(task, callTimeoutMs, record) {
    // With no task running, this one starts at once: it does not wait.
    if (this.running && this.waiting.length >= this.maxQueue) return Promise.reject(new QueueFullError(this.maxQueue));
    return new Promise((resolve, reject) => {
      this.waiting.push({ task, callTimeoutMs, record, resolve, reject });
      this.next();
    });
  }

  // Starts the first queued task unless one runs.
  async next() {
    if (this.running || this.waiting.length === 0) return;
    this.running = true;
    const { task, callTimeoutMs, record, resolve, reject } = this.waiting.shift();
    this.metrics.taskDispatched(record);
    try {
      const pool = await this.engine.acquire();
      // A failure of the pool rejects the task through pool.tasks; runTask sets the deadline.
      resolve(await pool.runTask({ timeoutMs: callTimeoutMs, deadline: Infinity, failure: null }, task));
    } catch (error) {
      reject(error);
    } finally {
      this.running = false;
      this.next();
    }
  }

  // Rejects every task still waiting for its turn.
  rejectAll(error) {
    for (const queued of this.waiting.splice(0)) queued.reject(error);
  }
}

module.exports = { TaskQueue };
