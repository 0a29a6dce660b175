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

/**
 * The handle's members for the glue's panic strategy.
 * @param {{panics?: 'unwind' | 'abort'}} options
 * @param {{wrappedTag?: () => WebAssembly.Tag, panicError?: () => Function}} bindings
 */
function unwindMembers(options, bindings) {
  const unwinds = options.panics === 'unwind' && bindings.wrappedTag !== undefined && bindings.panicError !== undefined;
  const isPanic = (value) => unwinds && value instanceof bindings.panicError();
  return {
    // Whether a panic unwinds to the export's caller (and so fails only its call).
    unwinds,
    isPanic,
    // What a raw export threw, unwrapped: { panic, payload } for a wasm exception of the
    // glue's tag (payload: the PanicError, or the JS value thrown through wasm), else null.
    unwound(error) {
      if (!unwinds || !(error instanceof WebAssembly.Exception)) return null;
      const tag = bindings.wrappedTag();
      if (!error.is(tag)) return null;
      const payload = error.getArg(tag, 0);
      return { panic: isPanic(payload), payload };
    },
    // First in the glue's `__wbg_handle_catch(e)`: the glue unwraps its own tag's exceptions
    // (a panic or a JS exception unwound to the export); anything else it would take for an
    // abort and mark the memory dead, a flag every instance on that memory reads before each
    // call, so every later call, on any thread, would throw a bare `Error: Module terminated`.
    // The runtime types those failures itself and resets the memory where needed (after a
    // reset, the glue's mark would even land in the fresh memory): they are thrown as they are.
    handleCatch(error) {
      const tag = bindings.wrappedTag?.();
      if (tag === undefined || !(error instanceof WebAssembly.Exception && error.is(tag))) throw error;
    },
  };
}

module.exports = { unwindMembers };
