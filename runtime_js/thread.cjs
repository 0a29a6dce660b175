'use strict';
// What every thread of a pool does first, the ThreadPoolHost and each
// ThreadPoolWorker alike: report to the main thread on its own events port,
// forward its output there, install the hooks Rust calls, and attach the glue
// to the pool's shared memory.
const platform = require('./platform/index.cjs');
const { MessageType, HOOKS_GLOBAL, Hook, COUNT_WAITS_EXPORT: COUNT_WAITS, WaitCount } = require('./protocol.cjs');
const { postEvent } = require('./signal.cjs');
const { watchPanicReports } = require('./reports.cjs');
const { WASM_STACK_FRAMES, abandonedPanicData } = require('./errors.cjs');
const { adapterFor } = require('./contracts/index.cjs');

// `index()` is the thread's index in reports, at the time of reporting (a
// worker learns its Rayon index once it runs). Returns the contract's adapter,
// the control counters, `send` (posts an event and wakes the main thread) and
// the hooks object, to which the caller adds its role's own hooks.
function joinPool({ events, control: buffer, contract }, index) {
  // A trap's stack, and the one console_error_panic_hook prints, reach the
  // crate's own frames only past std's and Rayon's (wasmStack, crateFrame in
  // errors.cjs). The pool's threads are the runtime's, so their limit is ours to raise.
  Error.stackTraceLimit = Math.max(Error.stackTraceLimit, WASM_STACK_FRAMES);
  const adapter = adapterFor(contract.kind);
  const control = new Int32Array(buffer);
  const send = (message) => postEvent(events, control, message);
  // Rust passes a negative thread for a thread outside the pool: this one.
  const thread = (reported) => (reported >= 0 ? reported : index());
  platform.forwardOutput((fd, text) => send({ type: MessageType.OUTPUT, thread: index(), fd, text }));
  const hooks = {
    [Hook.PANIC](message, file, line, column, reported) {
      send({ type: MessageType.PANIC, thread: thread(reported), message, file, line, column });
    },
    // panic=unwind builds (wbg-pool's run_in_pool, right before it aborts): pool thread
    // `reported` still counts as panicking between jobs, so a panic was abandoned
    // mid-unwinding, past destructors that may have held locks.
    [Hook.ABANDONED_PANIC](reported) {
      send({ type: MessageType.CRASH, thread: reported, error: abandonedPanicData(reported) });
    },
    // panic=unwind builds: a detached job's panic reached Rayon's handler; its report came before.
    [Hook.DETACHED_PANIC](message, reported) {
      send({ type: MessageType.DETACHED_PANIC, thread: thread(reported), message });
    },
    [Hook.LOG](level, target, message, reported) {
      send({ type: MessageType.LOG, thread: thread(reported), level, target, message, time: Date.now() });
    },
  };
  globalThis[HOOKS_GLOBAL] = hooks;
  // A crate's own panic hook (console_error_panic_hook) prints its report: it becomes the panic
  // report. wbg-pool's Rust hook reports every panic itself, whatever hook the crate adds.
  if (!adapter.rustReports) watchPanicReports((report) => send({ type: MessageType.PANIC, thread: index(), ...report }));
  return { adapter, control, send, hooks };
}

// Loads the glue as its format needs (the same file the main thread uses) and
// instantiates it here on the pool's memory and module, which the patched glue
// takes from the thread's data (platform.threadData). Resolves with the glue and this thread's raw exports.
async function attachGlue(workerData) {
  const glue = await platform.loadGlue(workerData);
  return { glue, raw: glue.__wbg_pool.init(workerData.__wbgPoolModule, workerData.__wbgPoolMemory) };
}

let counting = null; // the counters, while this thread counts; `owner`: it made them

// Has this thread count its waits at `address` (WaitCount), where the module can (the
// patch made it). `owner`: the host, which made the counters; they start at zero.
function countWaits(raw, memory, address, owner = false) {
  if (!address || typeof raw[COUNT_WAITS] !== 'function') return;
  raw[COUNT_WAITS](address);
  counting = { address, words: new Int32Array(memory.buffer, address, WaitCount.LENGTH), owner };
  if (owner) counting.words.fill(0);
  Atomics.add(counting.words, WaitCount.COUNTING, 1);
}

// The host, as the pool starts on a memory: room for the wait counters, and this thread
// counting there. Their address (0: the module does not count) goes to every pool thread.
// (The patch counts only a module that exports the allocator: wasm/instrument.py.)
function newWaitCount(raw, memory) {
  if (typeof raw[COUNT_WAITS] !== 'function') return 0;
  const address = raw.__wbindgen_malloc(WaitCount.LENGTH * 4, 4);
  countWaits(raw, memory, address, true);
  return address;
}

// Gives a thread's wasm stack and TLS back to the allocator when it ends
// cleanly (glue without thread support has nothing to give back), and stops
// counting it: a thread gone would never sleep again. The host, which ends
// last, gives the counters back too: the next pool on this memory makes its own.
function releaseThread(raw) {
  if (counting !== null) {
    raw[COUNT_WAITS](0);
    Atomics.sub(counting.words, WaitCount.COUNTING, 1);
    if (counting.owner && typeof raw.__wbindgen_free === 'function') raw.__wbindgen_free(counting.address, WaitCount.LENGTH * 4, 4);
    counting = null;
  }
  if (typeof raw.__wbindgen_thread_destroy === 'function') raw.__wbindgen_thread_destroy();
}

module.exports = { joinPool, attachGlue, countWaits, newWaitCount, releaseThread };
