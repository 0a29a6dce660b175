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

// How many reports are kept: a report is consumed by the failure it explains, so only panics
// that a crate caught itself (catch_unwind) stay; these must not grow without bound.
const REPORTS_KEPT = 256;

/**
 * The panic reports of a pool's threads or of the main thread (each { thread, message,
 * file, line, column, stack? }), in the order their threads' panic hooks sent them, and the
 * failure each explains. A hook reports a panic as it begins; what the panic then does
 * arrives later and elsewhere: a PanicError at the export it unwound to (which names no
 * thread or location), Rayon's handler of a detached job, or a trap when it could not
 * unwind. A call marks where it began (`mark()`): only a report made since then explains
 * its failure, never one of a panic an earlier call caught.
 */
class PanicReports {
  constructor() {
    this.reports = [];
    this.seq = 0;
  }

  // The mark of a call that begins now.
  mark() {
    return this.seq;
  }

  add(report) {
    // The same panic twice in a row: the main thread hears a crate's panic from wbg-pool's hook
    // and from console_error_panic_hook's text (which has the stack) alike.
    const last = this.reports.at(-1);
    if (last !== undefined && samePlace(last, report) && last.thread === report.thread && last.message === report.message) {
      last.stack ??= report.stack;
      return;
    }
    this.reports.push({ ...report, seq: ++this.seq });
    if (this.reports.length > REPORTS_KEPT) this.reports.shift();
  }

  take(found) {
    this.reports = this.reports.filter((report) => !found.includes(report));
  }

  /**
   * The error of a panic with `message` that unwound to a call begun at mark `since`. Rayon
   * passes on one panic of a call's jobs: each report since then with the same message may be
   * it. Candidates at different places are not guessed between: the error says the location is
   * ambiguous and lists them; at one place on several threads, the location is certain and the
   * thread unknown. No report (the crate installs no hook): the thread is unknown, not the one
   * the PanicError arrived on.
   * @param {string} message the PanicError's message
   * @param {number} since
   * @param {number} unknownThread the thread index of "an unknown thread", or where the panic must have been
   */
  unwound(message, since, unknownThread) {
    const found = this.reports.filter((report) => report.seq > since && reportsPanic(report, message));
    this.take(found);
    if (found.length === 0) return new errors.WasmPanicError({ message, threadIndex: unknownThread, unwound: true });
    const threads = new Set(found.map((report) => report.thread));
    const threadIndex = threads.size === 1 ? found[0].thread : unknownThread;
    if (found.every((report) => samePlace(report, found[0]))) return new errors.WasmPanicError({ ...found.at(-1), threadIndex, unwound: true });
    const distinct = [...new Map(found.map((report) => [`${report.thread} ${where(report)}`, report])).values()];
    return new errors.WasmPanicError({ message, threadIndex: unknownThread, unwound: true, candidates: distinct.map(candidate) });
  }

  // The error of a detached job's panic with `message` that Rayon's handler took on `thread`.
  detached(message, thread) {
    const found = this.reports.findLast((report) => report.thread === thread && reportsPanic(report, message));
    if (found === undefined) return new errors.WasmPanicError({ message, threadIndex: thread, unwound: true });
    this.take([found]);
    return new errors.WasmPanicError({ ...found, threadIndex: thread, unwound: true });
  }

  /**
   * The error of `trap` (errors.serialize) of thread `trap.threadIndex`, with the panic that thread reported
   * since mark `since`, if any: a panic that could not unwind (a panic in a function that cannot
   * unwind, in a destructor during cleanup, a detached job's panic Rayon aborts on) traps after
   * its report. The first report is the panic; later ones are what it set off. A trap after a
   * panic abandoned mid-unwinding names that thread's latest panic: the one a destructor raised.
   */
  explainTrap(trap, since) {
    // Only a trap that a panic makes: an out-of-bounds access, a JS exception through Rust
    // frames, ... after a panic the call caught itself are what they are.
    if (trap.kind !== 'panic' && trap.kind !== 'abort' && trap.kind !== 'panic_while_panicking') return errors.deserialize(trap);
    if (trap.kind === 'panic_while_panicking') {
      const latest = this.reports.findLast((report) => report.thread === trap.threadIndex);
      if (latest === undefined) return errors.deserialize(trap);
      return errors.deserialize({ ...trap, message: `${trap.message} (the latest panic of that thread: ${JSON.stringify(latest.message)} at ${where(latest)})` });
    }
    const found = this.reports.filter((report) => report.seq > since && report.thread === trap.threadIndex);
    if (found.length === 0) return errors.deserialize(trap);
    this.take(found);
    const [first, ...then] = found;
    const after = then.length === 0 ? '' : ` (then: ${then.map((report) => `${JSON.stringify(report.message)} at ${where(report)}`).join('; ')})`;
    return new errors.WasmPanicError({ ...first, message: `${first.message}${after}`, threadIndex: trap.threadIndex, stack: first.stack ?? trap.stack });
  }
}

const samePlace = (a, b) => a.file === b.file && a.line === b.line && a.column === b.column;
const where = (report) => (report.file ? `${report.file}:${report.line}:${report.column}` : 'an unknown location');
const candidate = (report) => ({ threadIndex: report.thread, file: report.file || null, line: report.line, column: report.column });

// Whether the calling thread still counts as panicking once a panic unwound to an export of
// `raw` on it: a panic was abandoned mid-unwinding there (rustc 1.96 on wasm unwinds a
// destructor's panic during unwinding on, rust-lang/rust#151771), past destructors that may
// have held locks, so the instance cannot go on. wbg-pool crates can be asked; others cannot.
function abandonedPanic(raw) {
  return typeof raw.wbg_pool_thread_panicking === 'function' && raw.wbg_pool_thread_panicking() !== 0;
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
      if (found.panic) {
        // A panic a run() task may catch: if its thread abandoned a panic on the way, the host
        // fails with it before it serves anything else (host.cjs serve), as for a call's.
        if (onPoolThread && abandonedPanic(bindings.raw())) trap = errors.abandonedPanicData(null);
        return;
      }
      if (!onPoolThread) return;
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

module.exports = { unwindMembers, PanicReports, abandonedPanic };
