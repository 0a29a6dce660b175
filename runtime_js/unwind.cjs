'use strict';
// What a panic=unwind build changes (wbg-patch tells: options.panics). Rust
// unwinds a panic to the boundary of the export that was called, running
// destructors on the way (a Mutex held is poisoned, not left locked), and
// Rayon carries a pool thread's panic to the thread that waits for the job.
// At the export, wasm-bindgen (>= 0.2.107) catches it and throws a JS
// PanicError inside a wasm exception of the glue's own tag, which the glue's
// export wrappers unwrap. So a panic costs only its call: the memory, the pool
// and every object stay as they were.
//
// A JS exception that an import threw comes back wrapped in the same tag, but
// it skipped Rust's destructors on its way (measured: a Mutex held then stays
// locked forever), so it is a trap, as in abort builds. The glue's own reaction
// to anything else (it marks the shared memory dead for every instance) is the
// runtime's to decide: see handleCatch.

const errors = require('./errors.cjs');

// What wasm-bindgen's PanicError says of a payload that is no string, and what a
// panic hook's report says of it (std's words, which wbg-pool's hook and
// console_error_panic_hook use).
const NO_MESSAGE = { glue: 'No panic message available', report: 'Box<dyn Any>' };

// Whether panic `report` ({ message }) is the one whose PanicError says `message`.
function reportsPanic(report, message) {
  return report.message === message || (message === NO_MESSAGE.glue && report.message === NO_MESSAGE.report);
}

/**
 * The handle's members for the glue's panic strategy.
 * @param {{panics?: 'unwind' | 'abort'}} options
 * @param {{wrappedTag?: () => WebAssembly.Tag, panicError?: () => Function}} bindings
 * @param {boolean} onPoolThread
 */
function unwindMembers(options, bindings, onPoolThread) {
  const unwinds = options.panics === 'unwind' && bindings.wrappedTag !== undefined && bindings.panicError !== undefined;
  const isPanic = (value) => unwinds && value instanceof bindings.panicError();
  // What a raw export threw, unwrapped: { panic, payload } for a wasm exception of the
  // glue's tag (payload: the PanicError, or the JS value thrown through wasm), else null.
  const unwound = (error) => {
    const tag = bindings.wrappedTag?.();
    if (tag === undefined || !(error instanceof WebAssembly.Exception) || !error.is(tag)) return null;
    const payload = error.getArg(tag, 0);
    return { panic: isPanic(payload), payload };
  };
  let trap = null; // a JS exception through Rust frames that the glue caught on this pool thread
  return {
    // Whether a panic unwinds to the export's caller (and so fails only its call).
    unwinds,
    isPanic,
    unwound,
    // First in the glue's `__wbg_handle_catch(e)`. The glue unwraps its own tag's panics. Anything
    // else it would take for an abort and mark the memory dead, a flag every instance on that
    // memory reads before each call, so every later call, on any thread, would throw a bare
    // `Error: Module terminated`: the runtime types those failures itself and resets the memory
    // where needed (after a reset, the glue's mark would even land in the fresh memory). On a pool
    // thread (a run() task's call, on the host), a JS exception that came back through Rust frames
    // skipped their destructors: a trap, which the task may catch but the host must not go on after.
    handleCatch(error) {
      const found = unwound(error);
      if (found === null) throw error;
      if (found.panic || !onPoolThread) return;
      trap = errors.serialize(found.payload, null, true);
      throw errors.deserialize(trap);
    },
    // The trap handleCatch saw on this pool thread since the last call (errors.serialize), or null.
    takeTrap() {
      const seen = trap;
      trap = null;
      return seen;
    },
  };
}

module.exports = { unwindMembers, reportsPanic };
