'use strict';
// Every message between the main thread, the ThreadPoolHost and the
// ThreadPoolWorkers, and the constants the three roles share: types only, no
// behaviour. Types carry a package prefix so nothing else in a user's app
// mistakes them for its own.

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
  // { thread, tid, waitCount }: thread runs; tid and (host) the wait counters' address for the liveness check
  READY: 'wbg-pool:ready',
  LOG: 'wbg-pool:log', // { thread, level, target, message, time }
  OUTPUT: 'wbg-pool:output', // { thread, fd, text }: what the thread wrote to stdout (1) or stderr (2)
  PANIC: 'wbg-pool:panic', // { thread, message, file, line, column }
  // A detached job (rayon::spawn) panicked and Rayon's panic handler took the
  // unwound panic (panic=unwind builds): no call waits for it, the pool goes on.
  DETACHED_PANIC: 'wbg-pool:detached-panic', // { thread, message }
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
  STARTED: 4, // bumped + notified by each pool thread once it runs: the host waits for them all
  LENGTH: 5,
});

// Int32 words in the pool's wasm memory, where the module counts its threads' waits once
// the patch made it (wbg_patch/wasm/instrument.py, which writes the first two, and adds the
// export COUNT_WAITS_EXPORT that tells a thread's instance where they are: a test keeps the
// two sides equal): what tells a deadlocked pool from a busy one where no CPU time can be
// read (liveness.cjs).
const COUNT_WAITS_EXPORT = '__wbg_pool_count_waits';
const WaitCount = Object.freeze({
  SLEEPING: 0, // threads asleep in a wait with no timeout
  CHANGES: 1, // such sleeps begun or ended
  COUNTING: 2, // threads that count their waits (thread.cjs)
  LENGTH: 3,
});

// The global (wbg_patch/wasm/instrument.py NO_WAIT, which makes it: a test keeps the two sides
// equal) that forbids every wait of its instance while FORBIDDEN: the main thread's instance runs
// the calls of exports that cannot wait for another thread so (local.cjs). A wait that meets it
// sets TRIPPED and traps: the call fails where it could have slept forever (wasm/waits.py).
const NO_WAIT_EXPORT = '__wbg_pool_no_wait';
const NoWait = Object.freeze({ ALLOWED: 0, FORBIDDEN: 1, TRIPPED: 2 });

// The host's thread index in reports: it is not a Rayon pool thread.
const HOST_THREAD = -1;
// The main thread's own instance, in reports of a trap there (see Pool.callLocal).
const MAIN_THREAD = -2;
// A panic that unwound to a call and that no thread reported: any thread of the call may have raised it.
const UNKNOWN_THREAD = -3;

// What Rust calls on the JS of its thread: `globalThis[HOOKS_GLOBAL][name]`.
// The wbg-pool crate's list (rust_example/pool/src/js.rs, `hooks::ALL`) must be
// the same: a test compares the two. Rust reads a missing hook as "no runtime
// here" and falls back to the console.
const HOOKS_GLOBAL = '__wbgPoolHooks';
const Hook = Object.freeze({
  SPAWN_WORKERS: 'spawnWorkers', // host: (count, receiver) => start that many pool threads
  THREAD_STARTED: 'threadStarted', // worker: (rayonIndex) => the thread runs
  PANIC: 'panic', // any: (message, file, line, column, thread)
  LOG: 'log', // any: (level, target, message, thread)
  DETACHED_PANIC: 'detachedPanic', // pool thread: (message, thread), after the panic's own report
  // The thread that called run_in_pool (the host, or a pool thread for a nested one), right
  // before it aborts: pool thread `thread` abandoned a panic mid-unwinding.
  ABANDONED_PANIC: 'abandonedPanic', // (thread)
});
// wasm-bindgen-rayon's `startWorkers(module, memory, builder)`, which the
// patched glue takes from the host instead of the crate's browser snippet.
const START_WORKERS_HOOK = 'startWorkers';

module.exports = { RUNTIME_VERSION, MessageType, Slot, COUNT_WAITS_EXPORT, WaitCount, NO_WAIT_EXPORT, NoWait, HOST_THREAD, MAIN_THREAD, UNKNOWN_THREAD, HOOKS_GLOBAL, Hook, START_WORKERS_HOOK };
