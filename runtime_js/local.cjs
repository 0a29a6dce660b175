'use strict';
// The main thread's own instance, as the glue calls it outside execute(), and
// as execute() calls the exports that may run there (proxy.cjs). A
// trap there (a panic under panic=abort, an out-of-bounds access, a JS
// exception an import threw through wasm frames) leaves the instance mid-way,
// as on a pool thread: locks held, state half-written. So the call throws the
// typed error a pool call would (WasmPanicError, WasmTrapError), and the
// instance is given up before anything else runs on it (prelude.cjs resets
// the memory). A wrong argument stays the caller's own error (boundary.cjs),
// and so does a panic that unwound to the export in a panic=unwind build
// (unwind.cjs): only that call fails.
const { MAIN_THREAD, HOOKS_GLOBAL, Hook, NO_WAIT_EXPORT, NoWait } = require('./protocol.cjs');
const { callExport, thrownAtTheBoundary } = require('./boundary.cjs');
const { watchPanicReports } = require('./reports.cjs');
const { deliverLog, printLog } = require('./logs.cjs');
const { PanicReports, abandonedPanic } = require('./unwind.cjs');
const errors = require('./errors.cjs');

// How often (in calls) the JS values are checked against their range: reading
// a table's length costs more than a small call itself, and the main thread's
// values past its range could meet only a pool thread's (which no safe Rust
// hands them to), so a check every few calls is enough to stop them there.
const CHECK_EVERY = 64;
// The export the glue calls first, to set the memory up (threaded modules have it).
const START = '__wbindgen_start';

// The main thread's hooks, one object per process (every package's copy of
// this file shares it): `reports` holds the panics reported on this thread
// (Rust calls the hook first; then the panic unwinds, or panic=abort traps).
// wbg-pool crates report through the panic hook; a crate's own
// console_error_panic_hook prints its report with console.error, which is read
// (and still printed) here.
function mainThreadHooks() {
  // A package patched by an older wbg-patch may have made the object first: what it lacks is added.
  const hooks = (globalThis[HOOKS_GLOBAL] ??= {});
  if (hooks.reports === undefined) {
    const reports = new PanicReports();
    const report = (found) => reports.add({ ...found, thread: MAIN_THREAD });
    Object.assign(hooks, {
      reports,
      logTo: null, // the instance whose call runs (the manager of its glue hears its logs)
      logs: [], // [instance, entry] logged during a call, delivered once it returned
      [Hook.PANIC](message, file, line, column) {
        report({ message, file, line, column });
      },
      // Rust's logger (wbg-pool's) on this thread, labelled the main thread (Rust knows only
      // that it is no pool thread). Held until the call returns: onLog may call wasm, which
      // here, inside the call, could wait for a lock that the logging code itself holds.
      [Hook.LOG](level, target, message) {
        hooks.logs.push([hooks.logTo, { thread: MAIN_THREAD, level, target, message, time: Date.now() }]);
      },
    });
    watchPanicReports(report, { keepPrinting: true });
  }
  return hooks;
}

// Hands the logs held during a call to the onLog of the glue whose call logged; else to stderr.
function deliverLogs(hooks) {
  const logs = hooks.logs;
  hooks.logs = [];
  for (const [instance, entry] of logs) if (instance?.log(entry) !== true) deliverLog(printLog, entry);
}

// The typed error of `error`, which left the main thread's instance through wasm frames
// during a call begun at mark `since`, with the panic this thread reported since then;
// `tripped`: a wait the call was forbidden (wbg_patch/wasm/instrument.py) made it trap.
function typedFailure(error, hooks, since, tripped) {
  const trap = errors.serialize(error, MAIN_THREAD, true);
  if (tripped) return errors.deserialize({ ...trap, kind: 'wait_forbidden' });
  if (trap.kind !== 'panic' && trap.kind !== 'abort') return errors.deserialize(trap);
  return hooks.reports.explainTrap(trap, since);
}

/**
 * `raw`'s exports with every function guarded: a call that leaves wasm by a
 * trap, or after which the instance's JS values are found past their range
 * (`overflowed()`, every CHECK_EVERY calls), throws the typed error that
 * `failed(error)` returns, once the outermost call ends: a nested call (wasm → import → export)
 * that traps leaves its callers' frames on the same instance, which must not
 * go on to read a reset memory.
 *
 * The calls of exports that cannot wait for another thread (`forbidsWaits(name)`)
 * run with the instance's waits forbidden, where the patched module can (the
 * global NO_WAIT_EXPORT): such a call can reach a wait only once it failed
 * (wbg_patch/wasm/waits.py), and one that does traps there (kind wait_forbidden).
 * @param {WebAssembly.Exports} raw
 * @param {{failed(error: Error): Error, overflowed(): Error | null, installsPanicHook(name: string): boolean, ran(name: string): void,
 *   unwound(error: unknown): {panic: boolean, payload: unknown} | null, forbidsWaits(name: string): boolean}} instance
 */
function guardedExports(raw, instance) {
  const hooks = mainThreadHooks();
  const noWait = raw[NO_WAIT_EXPORT];
  let depth = 0;
  let since = 0; // the panic reports' mark when the outermost call began
  let logTo = null; // whose logs they were before it (another glue's call may have called into this one)
  let calls = 0;
  let logging = typeof raw.wbg_pool_init_logger !== 'function'; // whether the logger needs no install
  let failure = null;
  // Wrong arguments of nested calls (wasm → import → export): rethrown as the
  // caller's own there, but past that they went through wasm frames.
  const nestedWrongArguments = new WeakSet();
  const guard = (fn, name) => {
    // Only the exports that install a panic hook are remembered (see prelude.cjs panicHooks).
    const remembered = instance.installsPanicHook(name);
    const forbid = noWait !== undefined && instance.forbidsWaits(name);
    return function guarded(...args) {
      // A nested call after a trap would run on the trapped instance (a lock it held, say).
      if (failure !== null) throw failure;
      if (depth++ === 0) {
        since = hooks.reports.mark();
        logTo = hooks.logTo;
        // A write only when another glue's call ran last (or runs: then it is restored after).
        if (logTo !== instance) hooks.logTo = instance;
        if (!logging && name !== START && instance.managed()) {
          // wbg-pool crates: the logger, as the pool's start installs it, once a manager exists
          // and the memory is set up (by the glue's __wbindgen_start, which runs before any other
          // call), so that what the main thread logs before any pool is not lost. Again on each
          // fresh memory.
          logging = true;
          raw.wbg_pool_init_logger();
        }
      }
      const allowed = forbid ? noWait.value : NoWait.ALLOWED; // an outer call's, restored after
      try {
        if (forbid) noWait.value = NoWait.FORBIDDEN;
        const result = callExport(fn, args);
        if (++calls % CHECK_EVERY === 0) failure ??= instance.overflowed();
        if (remembered) instance.ran(name);
        return result;
      } catch (error) {
        // Thrown by the call itself: V8's conversion of an argument, before wasm ran.
        if (failure === null && !nestedWrongArguments.has(error) && thrownAtTheBoundary(error)) {
          if (depth > 1) nestedWrongArguments.add(error);
          throw error;
        }
        const unwound = instance.unwound(error);
        if (failure === null && unwound?.panic) {
          // A panic that unwound to the export: every panic on this instance is this thread's.
          if (!abandonedPanic(raw)) throw hooks.reports.unwound(unwound.payload.message, since, MAIN_THREAD);
          failure = hooks.reports.explainTrap(errors.abandonedPanicData(MAIN_THREAD), since);
        }
        // A JS value thrown through wasm frames (unwound or not) skipped Rust's destructors: a trap.
        failure ??= typedFailure(unwound === null ? error : unwound.payload, hooks, since, forbid && noWait.value === NoWait.TRIPPED);
      } finally {
        if (forbid) noWait.value = allowed;
        if (--depth === 0 && logTo !== instance && logTo !== null) hooks.logTo = logTo;
        if (depth === 0 && hooks.logs.length > 0) deliverLogs(hooks);
        if (depth === 0 && failure !== null) {
          const error = failure;
          failure = null;
          // eslint-disable-next-line no-unsafe-finally -- the failure replaces the call's result or error
          throw instance.failed(error);
        }
      }
      throw failure;
    };
  };
  const guarded = {};
  for (const [name, value] of Object.entries(raw)) guarded[name] = typeof value === 'function' ? guard(value, name) : value;
  return Object.freeze(guarded);
}

module.exports = { guardedExports };
