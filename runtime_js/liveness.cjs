'use strict';
// Whether a pool still makes progress: host beats, or CPU used by the pool's
// threads. A busy pool uses CPU even while its host cannot beat (it runs a long
// call); a deadlocked one uses none. Read only at checks, at most every
// CHECK_EVERY_MS: a /proc read costs more than a whole call.
// Where no CPU time can be read (browsers), the pool's own count of its waits
// tells instead: a deadlocked pool is one whose threads all sleep, each waiting
// for another to wake it, and none wakes.
const { Slot, WaitCount } = require('./protocol.cjs');
const { HeartbeatTimeoutError } = require('./errors.cjs');
const platform = require('./platform/index.cjs');

// The check is what makes a deadlock known within the heartbeat timeout + two of these,
// and a thread that vanished known at the next one.
const CHECK_EVERY_MS = 25;
// A watchdog tick (setInterval, pool.cjs) comes up to a millisecond before the check it is for:
// Node's timers count whole milliseconds. Such a tick is that check, not a skip to the next.
const TIMER_EARLY_MS = 1;

class Liveness {
  // `onThreadGone(thread)` is called (and must throw) when a thread's /proc
  // entry is gone: it ended, and nothing it owed will come.
  constructor(control, heartbeatTimeoutMs, onThreadGone) {
    this.control = control;
    this.timeoutMs = heartbeatTimeoutMs;
    this.onThreadGone = onThreadGone;
    this.tids = new Map(); // thread index -> kernel tid, as threads report ready
    this.lastSample = undefined; // CPU use at the last check (see worked())
    this.waitCount = null; // the pool's wait counters (WaitCount), where its module keeps them
  }

  // The counters the host made on the pool's memory at `address` (0: the module keeps none).
  countWaits(memory, address) {
    this.waitCount = address ? new Int32Array(memory.buffer, address, WaitCount.LENGTH) : null;
  }

  checkEvery() {
    return Math.min(CHECK_EVERY_MS, this.timeoutMs / 4);
  }

  // A watch over one wait: progress is measured from now. CPU ticks are read
  // only at checks: the first check sets the baseline.
  watch() {
    const at = performance.now();
    return { at, beat: Atomics.load(this.control, Slot.BEAT), nextCheck: at + this.checkEvery() };
  }

  // A HeartbeatTimeoutError once `watch` saw no progress for heartbeatTimeoutMs, else null.
  stalled(watch, name, now) {
    if (now < watch.nextCheck - TIMER_EARLY_MS) return null;
    watch.nextCheck = now + this.checkEvery();
    const beat = Atomics.load(this.control, Slot.BEAT);
    // Read also when the host beat (a run() task's start beats): it is what finds a thread gone.
    const worked = this.worked(now);
    const asleep = this.allAsleep(watch);
    if (beat !== watch.beat || (worked === undefined ? asleep !== true : worked)) {
      Object.assign(watch, { at: now, beat });
      return null;
    }
    return now - watch.at >= this.timeoutMs ? new HeartbeatTimeoutError({ timeoutMs: this.timeoutMs, call: name }) : null;
  }

  // Where no CPU time tells (worked() undefined): whether every thread that counts its
  // waits sleeps without a timeout, and none began or ended a sleep since the previous
  // check of `watch` (undefined without the counters). A thread that runs, or sleeps for
  // a while only, is progress; so is one that woke and slept again between two checks.
  allAsleep(watch) {
    if (this.waitCount === null) return undefined;
    const changes = Atomics.load(this.waitCount, WaitCount.CHANGES);
    const counting = Atomics.load(this.waitCount, WaitCount.COUNTING);
    const still = changes === watch.waitChanges;
    watch.waitChanges = changes;
    return still && counting > 0 && Atomics.load(this.waitCount, WaitCount.SLEEPING) >= counting;
  }

  // Whether the pool used CPU since the previous check (undefined at the first).
  // With the threads' /proc entries (Linux), any tick of theirs counts;
  // elsewhere, the process must have used more than a quarter of a core, far
  // more than the waiting main thread uses alone.
  worked(now) {
    const ticks = this.cpuTicks();
    const usage = ticks === null ? platform.cpuUsage() : null;
    const previous = this.lastSample;
    this.lastSample = { at: now, ticks, usage };
    // A browser tells no CPU time at all: the host's beats and the wait counters tell there (allAsleep).
    if (previous === undefined || (ticks === null && usage === null)) return undefined;
    if (ticks !== null) return ticks !== previous.ticks;
    const usedMs = (usage.user + usage.system - previous.usage.user - previous.usage.system) / 1000;
    return usedMs > (now - previous.at) / 4;
  }

  // Total CPU ticks of the host and the pool threads; null without /proc.
  cpuTicks() {
    let total = 0;
    for (const [thread, tid] of this.tids) {
      const ticks = platform.threadTicks(tid);
      if (ticks === null) this.onThreadGone(thread);
      total += ticks;
    }
    return this.tids.size === 0 ? null : total;
  }
}

module.exports = { Liveness };
