'use strict';
// How a thread waits for a counter of the control buffer to move: the main
// thread for answers, the host for requests.
//
// Spinning on a counter before sleeping on it pays only while the other side
// runs on another core and answers soon: a wake-up from Atomics.wait costs
// ~10 µs, a spin that sees the answer ~1 µs. On a busy machine (or one core)
// the spinner holds the core the other side needs, and a call costs the whole
// spin on both sides (110 µs measured here). So each waiter keeps a score of
// how often its spins saw the change (a slow moving average) and spins only
// while most did; a waiter that sleeps at once tries one spin now and then, to
// notice that a core came free: soon after it stopped, then ever less often
// while the tries fail. The average is slow on purpose: short runs of misses
// (JIT and GC threads starting, or the kernel putting both threads on one
// core) pass, and while both sides spin the kernel soon moves them apart;
// once both sleep, it keeps them together, at ~10 µs a call.
const platform = require('./platform/index.cjs');

const SPIN_MS = 0.05;
const SPIN_SCORE_WEIGHT = 1 / 256; // ~180 misses in a row (10 ms or more) stop a waiter spinning
// A try that saw the change spins again, but ~50 misses bring back the sleeping.
const PROBE_HIT_SCORE = 0.6;
const FIRST_PROBE_AFTER = 16; // waits; doubled after each failed try
const LAST_PROBE_AFTER = 256;
// With one core to run on (taskset, a container's CPU set), spinning never pays.
const SPIN_CAN_PAY = platform.availableParallelism() > 1;

// Waits until control[slot] is no longer `seen`, or `timeoutMs` passed: one
// per waiting thread, since what it learns is about that thread's peer.
class Waiter {
  constructor(canSpin = SPIN_CAN_PAY) {
    this.canSpin = canSpin;
    this.score = 1; // share of recent spins that saw the change
    this.probeAfter = FIRST_PROBE_AFTER;
    this.untilProbe = FIRST_PROBE_AFTER;
    this.spins = 0; // waits that spun before sleeping (what the tests read)
  }

  // `expectSoon`: an answer may come within a spin (a request was just sent,
  // or one was just served); later waits of the same call sleep at once.
  wait(control, slot, seen, timeoutMs, expectSoon = true) {
    // A page's main thread (spinOnPage) may not block: it spins for the whole wait.
    if (!platform.canBlock) return spinWhile(control, slot, seen, timeoutMs);
    if (expectSoon && this.canSpin && (this.score >= 0.5 || --this.untilProbe === 0)) {
      const probe = this.score < 0.5;
      this.spins++;
      spinWhile(control, slot, seen, SPIN_MS);
      if (Atomics.load(control, slot) !== seen) {
        // A try that saw the change: a core is free again, spin from now on.
        this.score = probe ? PROBE_HIT_SCORE : this.score + (1 - this.score) * SPIN_SCORE_WEIGHT;
        this.probeAfter = FIRST_PROBE_AFTER;
        this.untilProbe = FIRST_PROBE_AFTER;
        return;
      }
      this.score -= this.score * SPIN_SCORE_WEIGHT;
      if (probe) this.probeAfter = Math.min(LAST_PROBE_AFTER, this.probeAfter * 2);
      this.untilProbe = this.probeAfter;
    }
    Atomics.wait(control, slot, seen, timeoutMs);
  }
}

// Spins while control[slot] is `seen`, at most `ms`.
function spinWhile(control, slot, seen, ms) {
  const until = performance.now() + ms;
  while (Atomics.load(control, slot) === seen && performance.now() < until);
}

module.exports = { Waiter };
