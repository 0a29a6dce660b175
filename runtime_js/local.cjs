'use strict';
// The main thread's own instance, as the glue calls it outside execute(). A
// trap there (a panic under panic=abort, an out-of-bounds access, a JS
// exception an import threw through wasm frames) leaves the instance mid-way,
// as on a pool thread: locks held, state half-written. So the call throws the
// typed error a pool call would (WasmPanicError, WasmTrapError), and the
// instance is given up before anything else runs on it (prelude.cjs resets
// the memory). A wrong argument stays the caller's own error (boundary.cjs),
// and so does a panic that unwound to the export in a panic=unwind build
// (unwind.cjs): only that call fails.
const { MAIN_THREAD, HOOKS_GLOBAL, Hook } = require('./protocol.cjs');
const { thrownBy } = require('./boundary.cjs');
const { watchPanicReports } = require('./reports.cjs');
const { reportsPanic } = require('./unwind.cjs');
const errors = require('./errors.cjs');

// How often (in calls) the JS values are checked against their range: reading
// a table's length costs more than a small call itself, and the main thread's
// values past its range could meet only a pool thread's (which no safe Rust
// hands them to), so a check every few calls is enough to stop them there.
const CHECK_EVERY = 64;

// The main thread's hooks, one object per process (every package's copy of
// this file shares it): `reported` holds the panic reported during the current
// outermost call, until its trap comes (Rust calls the hook first, then
// panic=abort traps). wbg-pool crates report through the panic hook; a crate's
// own console_error_panic_hook prints its report with console.error, which is
// read (and still printed) here.
function mainThreadHooks() {
  if (globalThis[HOOKS_GLOBAL] === undefined) {
    const hooks = {
      reported: null,
      [Hook.PANIC](message, file, line, column) {
        hooks.reported = { message, file, line, column };
      },
    };
    watchPanicReports((found) => (hooks.reported = found), { keepPrinting: true });
    globalThis[HOOKS_GLOBAL] = hooks;
  }
  return globalThis[HOOKS_GLOBAL];
}

// The typed error of `error`, which left the main thread's instance through wasm frames.
function typedFailure(error, hooks) {
  const typed = errors.deserialize(errors.serialize(error, MAIN_THREAD, true));
  const report = hooks.reported;
  hooks.reported = null;
  if (report === null || !(typed instanceof errors.WasmPanicError || typed.kind === 'abort')) return typed;
  return new errors.WasmPanicError({ ...report, threadIndex: MAIN_THREAD, stack: report.stack ?? typed.wasmStack });
}

// The error of a panic that unwound to the export (`panic`: the glue's PanicError), with
// the location its report gave (not that of a panic the call caught earlier: a panic
// Rust resumes, say after a job of Rayon's fallback pool, calls no hook again).
function unwoundPanicError(panic, hooks) {
  const report = hooks.reported !== null && reportsPanic(hooks.reported, panic.message) ? hooks.reported : { message: panic.message };
  hooks.reported = null;
  return new errors.WasmPanicError({ ...report, threadIndex: MAIN_THREAD, unwound: true });
}

/**
 * `raw`'s exports with every function guarded: a call that leaves wasm by a
 * trap, or after which the instance's JS values are found past their range
 * (`overflowed()`, every CHECK_EVERY calls), throws the typed error that
 * `failed(error)` returns, once the outermost call ends: a nested call (wasm → import → export)
 * that traps leaves its callers' frames on the same instance, which must not
 * go on to read a reset memory.
 * @param {WebAssembly.Exports} raw
 * @param {{failed(error: Error): Error, overflowed(): Error | null, installsPanicHook(name: string): boolean, ran(name: string): void,
 *   unwound(error: unknown): {panic: boolean, payload: unknown} | null}} instance
 */
function guardedExports(raw, instance) {
  const hooks = mainThreadHooks();
  let depth = 0;
  let calls = 0;
  let failure = null;
  // Wrong arguments of nested calls (wasm → import → export): rethrown as the
  // caller's own there, but past that they went through wasm frames.
  const nestedWrongArguments = new WeakSet();
  const guard = (fn, name) => {
    // Only the exports that install a panic hook are remembered (see prelude.cjs panicHooks).
    const remembered = instance.installsPanicHook(name);
    return function guarded(...args) {
      // A nested call after a trap would run on the trapped instance (a lock it held, say).
      if (failure !== null) throw failure;
      if (depth++ === 0) hooks.reported = null;
      try {
        const result = fn(...args);
        if (++calls % CHECK_EVERY === 0) failure ??= instance.overflowed();
        if (remembered) instance.ran(name);
        return result;
      } catch (error) {
        // Thrown by this very frame: V8's conversion of an argument, before wasm ran.
        if (failure === null && !nestedWrongArguments.has(error) && thrownBy(error, guarded, __filename)) {
          if (depth > 1) nestedWrongArguments.add(error);
          throw error;
        }
        const unwound = instance.unwound(error);
        if (failure === null && unwound?.panic) throw unwoundPanicError(unwound.payload, hooks);
        // A JS value thrown through wasm frames (unwound or not) skipped Rust's destructors: a trap.
        failure ??= typedFailure(unwound === null ? error : unwound.payload, hooks);
      } finally {
        if (--depth === 0 && failure !== null) {
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
