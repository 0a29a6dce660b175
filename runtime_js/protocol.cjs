'use strict';
// Every message between the main thread, the ThreadPoolHost and the
// ThreadPoolWorkers, in one place, with the little the three roles share.
// Types carry a package prefix so nothing else in a user's app mistakes them
// for its own.
const { pathToFileURL } = require('url');

// The wbg-patch version this runtime belongs to: the patched glue carries the
// same, and the two must match (a test keeps it equal to the Python package's).
const RUNTIME_VERSION = '0.3.0';

const MessageType = Object.freeze({
  // main -> host, on the requests port
  CALL: 'wbg-pool:call', // { id, name, args }: call raw export `name`
  TABLE_GET: 'wbg-pool:table-get', // { id, name, args: [index] }
  TABLE_SET: 'wbg-pool:table-set', // { id, name, args: [index, value] }
  TABLE_GROW: 'wbg-pool:table-grow', // { id, name, args: [delta, init?] }
  TABLE_LENGTH: 'wbg-pool:table-length', // { id, name }
  GLOBAL_GET: 'wbg-pool:global-get', // { id, name }
  HELD_JS_VALUES: 'wbg-pool:held-js-values', // { id }: how many JS values the host's wasm state holds
  STOP: 'wbg-pool:stop', // { id }: exit the pool and the host
  RUN: 'wbg-pool:run', // { id, filename, name, args }: run a task module's export on the host (manager.run)
  // host -> main, on the responses port
  RESULT: 'wbg-pool:result', // { id, value } or { id, error }
  // host or worker -> main, on that thread's events port
  READY: 'wbg-pool:ready', // { thread, tid }: thread runs; tid for the liveness check
  LOG: 'wbg-pool:log', // { thread, level, target, message, time }
  OUTPUT: 'wbg-pool:output', // { thread, fd, text }: what the thread wrote to stdout (1) or stderr (2)
  PANIC: 'wbg-pool:panic', // { thread, message, file, line, column }
  TASK_DONE: 'wbg-pool:task-done', // { id, value } or { id, error }: a RUN task settled
  CRASH: 'wbg-pool:crash', // { thread, error }: the thread ends on a trap or a JS error (errors.serialize)
});

// Int32 slots of the control SharedArrayBuffer shared by all threads of a pool.
// Messages travel on MessagePorts; these counters only wake the receiver, since
// an arriving message does not wake Atomics.wait.
const Slot = Object.freeze({
  WAKE: 0, // bumped + notified by whoever posts to the main thread
  REQUEST: 1, // bumped + notified by the main thread after posting a request
  BEAT: 2, // bumped by the host each time round its request loop
  EVENTS: 3, // bumped by whoever posts an event (log, report): the main thread drains only then
  LENGTH: 4,
});

// The host's thread index in reports: it is not a Rayon pool thread.
const HOST_THREAD = -1;
// The main thread's own instance, in reports of a trap there (see Pool.callLocal).
const MAIN_THREAD = -2;

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
const SPIN_MS = 0.05;
const SPIN_SCORE_WEIGHT = 1 / 256; // ~180 misses in a row (10 ms or more) stop a waiter spinning
// A try that saw the change spins again, but ~50 misses bring back the sleeping.
const PROBE_HIT_SCORE = 0.6;
const FIRST_PROBE_AFTER = 16; // waits; doubled after each failed try
const LAST_PROBE_AFTER = 256;
// With one core to run on (taskset, a container's CPU set), spinning never pays.
const SPIN_CAN_PAY = require('os').availableParallelism() > 1;

// Posts to the main thread, then wakes it: the counters move only after the
// message is queued, so a reader that saw them move will find the message.
function postReply(port, control, message) {
  port.postMessage(message);
  Atomics.add(control, Slot.WAKE, 1);
  Atomics.notify(control, Slot.WAKE);
}

function postEvent(port, control, message) {
  port.postMessage(message);
  Atomics.add(control, Slot.EVENTS, 1);
  Atomics.add(control, Slot.WAKE, 1);
  Atomics.notify(control, Slot.WAKE);
}

// Waits until control[slot] is no longer `seen`, or `timeoutMs` passed: one
// per waiting thread, since what it learns is about that thread's peer.
class Waiter {
  constructor(canSpin = SPIN_CAN_PAY) {
    this.canSpin = canSpin;
    this.score = 1; // share of recent spins that saw the change
    this.probeAfter = FIRST_PROBE_AFTER;
    this.untilProbe = FIRST_PROBE_AFTER;
  }

  // `expectSoon`: an answer may come within a spin (a request was just sent,
  // or one was just served); later waits of the same call sleep at once.
  wait(control, slot, seen, timeoutMs, expectSoon = true) {
    if (expectSoon && this.canSpin && (this.score >= 0.5 || --this.untilProbe === 0)) {
      const probe = this.score < 0.5;
      const until = performance.now() + SPIN_MS;
      while (Atomics.load(control, slot) === seen && performance.now() < until);
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

// Sends what this thread writes to stdout and stderr (console.log, console.error)
// to the main thread as events: a worker's own streams are carried by its
// parent's event loop, which does not turn while the pool works, so the output
// would appear only after the pool stopped, out of order with the logs.
function forwardOutput(send, thread) {
  for (const [stream, fd] of [[process.stdout, 1], [process.stderr, 2]]) {
    stream.write = function write(chunk, encoding, callback) {
      const done = typeof encoding === 'function' ? encoding : callback;
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString(typeof encoding === 'string' ? encoding : 'utf8');
      send({ type: MessageType.OUTPUT, thread: thread(), fd, text });
      if (typeof done === 'function') process.nextTick(done);
      return true;
    };
  }
}

// The kernel thread id of the calling thread, for the CPU-time liveness check;
// null where /proc is not there (the check then relies on host beats alone).
function kernelThreadId() {
  try {
    return Number(require('fs').readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return null;
  }
}

// Gives a thread's wasm stack and TLS back to the allocator when it ends
// cleanly (glue without thread support has nothing to give back).
function releaseThread(raw) {
  if (typeof raw.__wbindgen_thread_destroy === 'function') raw.__wbindgen_thread_destroy();
}

// Loads the glue on a pool thread, as its format needs: the same file the main
// thread uses. The patched glue takes its memory (and module) from workerData,
// so loading it attaches this thread to the pool's shared memory.
async function loadGlue({ gluePath, format }) {
  return format === 'esm' ? import(pathToFileURL(gluePath).href) : require(gluePath);
}

module.exports = {
  RUNTIME_VERSION,
  loadGlue,
  MessageType,
  Slot,
  HOST_THREAD,
  MAIN_THREAD,
  postReply,
  postEvent,
  Waiter,
  forwardOutput,
  kernelThreadId,
  releaseThread,
};
