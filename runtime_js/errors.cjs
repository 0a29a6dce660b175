'use strict';
// The errors the runtime gives the user: Error subclasses with a stable `code`.
// Errors cross threads as plain data ({ name, ...fields }) and are rebuilt here
// as the right class on the main thread.

const { MAIN_THREAD, UNKNOWN_THREAD } = require('./protocol.cjs');
const platform = require('./platform/index.cjs');

// How a thread is named in messages: null (or the host's -1) is the host.
function threadLabel(threadIndex) {
  if (threadIndex === MAIN_THREAD) return 'the main thread';
  if (threadIndex === UNKNOWN_THREAD) return 'an unknown thread';
  return threadIndex === null || threadIndex === undefined || threadIndex < 0 ? 'the pool host' : `pool thread ${threadIndex}`;
}

// The rule behind ForeignJsValueError and traps of kind foreign_js_value.
const JS_VALUE_RULE =
  'a JS value held in wasm state belongs to the side that made it: the main thread (outside execute()) or the ' +
  'pool (inside); use (and free) the object that holds it on that side';

// Each class's name, written out (filled below): a bundler that minifies (Vite
// does) renames classes, and `name` is what users and the thread messages match.
const NAMES = new Map();

class WbgPoolError extends Error {
  constructor(message, code, options) {
    super(message, options);
    this.name = NAMES.get(new.target) ?? new.target.name;
    this.code = code;
  }
}

/**
 * A Rust panic on a pool thread (or the host), with its message and location.
 * `unwound`: the panic unwound to the export (a panic=unwind build), so only
 * this call failed; else the memory was reset (objects made before are stale).
 */
class WasmPanicError extends WbgPoolError {
  constructor({ message, file, line, column, threadIndex, stack, inFunction, unwound = false, candidates }) {
    // Without Rust's location, the crate's function that panicked (crateFrame) says where.
    const where = file ? ` at ${file}:${line}:${column}` : inFunction ? ` in ${inFunction}` : candidates ? ` (location ambiguous: ${candidates.map(candidateText).join('; ')})` : '';
    super(`Rust panicked on ${threadLabel(threadIndex)}${where}: ${message}${threadIndex === UNKNOWN_THREAD && !candidates ? UNKNOWN_THREAD_HINT : ''}`, 'ERR_WASM_PANIC');
    this.panicMessage = message;
    this.location = file ? { file, line, column } : null;
    this.threadIndex = threadIndex ?? null;
    this.unwound = unwound;
    // Panics with this message that threads reported during the call, when they differ in
    // thread or location: one of them unwound to the call, which one no report says.
    if (candidates) this.candidates = candidates;
    if (stack) this.wasmStack = stack;
  }
}

const candidateText = ({ threadIndex, file, line, column }) => `${threadLabel(threadIndex)} at ${file ? `${file}:${line}:${column}` : 'an unknown location'}`;
const UNKNOWN_THREAD_HINT = ' (no panic hook reported it: call wbg_pool::set_panic_hook() or install console_error_panic_hook to get its thread and location)';

const TRAP_TEXT = {
  out_of_memory: 'ran out of memory (an allocation went past the memory maximum)',
  stack_overflow: 'overflowed its stack',
  memory_out_of_bounds: 'accessed memory out of bounds',
  // std::process::abort is inlined into its caller: the trap looks like any other
  // `unreachable`, so the two cannot be told apart.
  abort: 'aborted (std::process::abort, or an unreachable instruction)',
  // Rust code was left mid-way without its destructors running (locks held, state half-written).
  js_exception: 'was left by a JS exception that an imported function threw through its frames',
  foreign_js_value: `used a JS value made on another instance (${JS_VALUE_RULE})`,
  // Past its range of the table, an instance's JS values would share slots with another's.
  js_values_overflow: 'held more JS values in wasm state than its range of the table of JS values has slots',
  // panic=unwind builds whose rustc unwinds a destructor's panic during unwinding instead of aborting.
  panic_while_panicking: 'panicked while a panic unwound (a destructor panicked), past destructors that may have held locks',
  // A call of an export that cannot wait for another thread, on the main thread's instance, reached
  // a wait all the same: only its failure path can (a panic or a failed allocation that met a lock
  // another thread held), where the main thread could have slept forever (wbg_patch/wasm/waits.py).
  wait_forbidden: 'had to wait for another thread while it failed (a panic or a failed allocation met a lock another thread held), where it may not wait',
  runtime_error: 'trapped',
};

/** A trap without a panic: out-of-bounds access, stack overflow, out of memory, abort. */
class WasmTrapError extends WbgPoolError {
  constructor({ kind, message, stack, threadIndex, cause }) {
    super(`wasm ${TRAP_TEXT[kind] ?? 'trapped'} on ${threadLabel(threadIndex)}: ${message}`, 'ERR_WASM_TRAP', cause === undefined ? undefined : { cause });
    this.kind = kind;
    this.threadIndex = threadIndex ?? null;
    if (stack) this.wasmStack = stack;
  }
}

/** The pool made no progress (no CPU time, no host beat) for `timeoutMs`. */
class HeartbeatTimeoutError extends WbgPoolError {
  constructor({ timeoutMs, call }) {
    super(
      `the wasm thread pool made no progress for ${timeoutMs} ms${call ? ` during ${call}` : ''}: ` +
        'every pool thread is blocked (deadlock?); the pool was terminated',
      'ERR_HEARTBEAT_TIMEOUT',
    );
    this.timeoutMs = timeoutMs;
  }
}

/** The manager was closed, or the pool went away under a running call. */
class PoolClosedError extends WbgPoolError {
  constructor(message = 'the thread pool manager is closed', options = undefined) {
    super(message, 'ERR_POOL_CLOSED', options);
  }
}

/** The pool could not start (module, host or initThreadPool failed). */
class PoolStartError extends WbgPoolError {
  constructor(message, options) {
    super(`the wasm thread pool could not start: ${message}`, 'ERR_POOL_START', options);
  }
}

/** An execute() or run() call ran longer than its callTimeoutMs (a spinning or livelocked pool, or just too slow). */
class CallTimeoutError extends WbgPoolError {
  constructor({ timeoutMs, call }) {
    super(
      `the call ran longer than its callTimeoutMs (${timeoutMs} ms)${call ? ` and was still in ${call}` : ''}` +
        (call ? ': the pool was torn down' : ': it was rejected (the pool was not working for it, and keeps running)'),
      'ERR_CALL_TIMEOUT',
    );
    this.timeoutMs = timeoutMs;
  }
}

/** A wasm object (a class instance of the glue) made before the wasm memory was reset. */
class StaleObjectError extends WbgPoolError {
  constructor(className, resetReason) {
    super(
      `this ${className || 'wasm object'} was made before the wasm memory was reset` +
        (resetReason ? ` (after: ${resetReason})` : '') +
        ': what it pointed to is gone, and the fresh memory holds other data there; make the object again',
      'ERR_STALE_OBJECT',
    );
    this.className = className || null;
  }
}

/** A JS value held in wasm state by another instance (made in the pool, used outside execute(), or the reverse). */
class ForeignJsValueError extends WbgPoolError {
  constructor() {
    super(`this JS value was made on another instance than the main thread's, which cannot read it: ${JS_VALUE_RULE}`, 'ERR_FOREIGN_JS_VALUE');
  }
}

/** run() found maxQueue tasks already waiting for their turn: the task was not queued. */
class QueueFullError extends WbgPoolError {
  constructor(maxQueue) {
    super(
      `run(): the task queue is full (one task runs, ${maxQueue} wait for their turn: maxQueue); the task was not queued. ` +
        'Tasks run one at a time, so one that never ends holds every later one: set callTimeoutMs, and watch stats().oldestQueuedMs',
      'ERR_QUEUE_FULL',
    );
    this.maxQueue = maxQueue;
  }
}

/** A value that cannot be copied between threads (a JS function, say). */
class NotTransferableError extends WbgPoolError {
  constructor(message, options) {
    super(message, 'ERR_NOT_TRANSFERABLE', options);
  }
}

const PANIC_MACHINERY = /__rust_start_panic|rust_panic_with_hook|panic_abort|core::panicking::panic/;
// The message of a panic known only from the trap's stack.
const UNREPORTED_PANIC =
  '(no message or location: no panic hook reported it; install console_error_panic_hook, or use the wbg-pool crate, to get them)';

// How many frames a wasm stack keeps on the pool's threads (thread.cjs; V8's
// default is 10): a panic's stack starts with 8 frames of std's panic
// machinery, then Rayon's job frames, so the crate's own function is frame
// 10-30 there. Not on the main thread: it is the user's process, whose limit
// is not ours to raise for every error, nor around each local call (~5 ns on
// calls that take tens); a local panic in an export's own body is frame 9.
const WASM_STACK_FRAMES = 64;
// A wasm frame of a stack, the function as the name section spells it: V8's for a
// module compiled from bytes, `at <module>.wasm.<function> (wasm://wasm/…)`, or from
// a URL (a browser's streaming compile), `at <function> (<url>:wasm-function[i]:0x…)`;
// SpiderMonkey's, `<function>@<url>:wasm-function[i]:0x…`.
const WASM_FRAME = /^\s*at (?:\S*?\.wasm\.)?(.+) \((?:wasm:\/\/[^\n]*|[^\n]*:wasm-function\[\d+\]:0x[0-9a-f]+)\)$|^([^@\n]+)@[^\n]*:wasm-function\[\d+\]:0x[0-9a-f]+$/gm;
// Crates that are not the crate's: the panic machinery, std, Rayon, the
// bindings, the hooks; `__` names are compiler- and wasm-bindgen-made.
const NOT_THE_CRATES =
  /^(std|core|alloc|rayon|rayon_core|crossbeam_\w+|wasm_bindgen\w*|js_sys|console_error_panic_hook|wbg_pool|panic_abort|panic_unwind|dlmalloc|rust_begin_unwind|rust_panic|__\w*)$/;
// A path in a function's name: `crate[hash]::a::{closure#0}` (v0 symbols) or `crate::a::{{closure}}` (legacy).
const PATH = /(?<![\w\]:])([A-Za-z_]\w*)(?:\[[0-9a-f]+\])?(?:::(?:[A-Za-z_]\w*|\{[^{}]*\}|\{\{\w+\}\}))*/g;
const MAX_FUNCTION_NAME = 200;

// `name` without crate hashes and generic arguments (after a name, or `::<…>`,
// innermost first until none is left), cut to a readable length.
function readable(name) {
  let shorter = name.replace(/\[[0-9a-f]+\]|::h[0-9a-f]{16}$/g, '');
  for (let before; before !== shorter; ) [before, shorter] = [shorter, shorter.replace(/(?:::|(?<=\w))<[^<>]*>/g, '')];
  return shorter.length > MAX_FUNCTION_NAME ? `${shorter.slice(0, MAX_FUNCTION_NAME)}…` : shorter;
}

// Where in the crate a panic without a hook happened, from its stack (no other
// clue is left), or null: the first frame that is the crate's own function, or
// that runs the crate's code (a closure of the crate, inlined into core's or
// Rayon's generic function, is only named in its generic arguments).
function crateFrame(stack) {
  for (const [, v8Name, spiderMonkeyName] of String(stack).matchAll(WASM_FRAME)) {
    const name = v8Name ?? spiderMonkeyName;
    // A path has `::`, unless it is the whole name (an export's): not `usize`, not `$func12`.
    const paths = [...name.matchAll(PATH)].filter(([path, crate]) => (path.includes('::') || path === name) && !NOT_THE_CRATES.test(crate));
    if (paths.length === 0) continue;
    return name.indexOf(paths[0][0]) <= 1 ? readable(name) : readable(paths[0][0]);
  }
  return null;
}

// What kind of trap `error` is, or null when it is an ordinary JS exception.
// V8's messages (Chromium, Node) and SpiderMonkey's (Firefox) for the same traps.
function trapKind(error) {
  const message = String(error && error.message);
  const stack = String(error && error.stack);
  if (error instanceof RangeError && /call stack/i.test(message)) return 'stack_overflow';
  if (error?.name === 'InternalError' && /too much recursion/i.test(message)) return 'stack_overflow';
  if (!(error instanceof WebAssembly.RuntimeError)) return null;
  // The glue's own table accesses stay in bounds; an index past the end is another instance's JS value.
  if (/table index (is )?out of bounds/i.test(message)) return 'foreign_js_value';
  if (/memory access out of bounds|^index out of bounds$/i.test(message)) return 'memory_out_of_bounds';
  if (/unreachable/i.test(message)) {
    // The name section keeps std's function names in the trap's stack. The glue's allocator
    // export aborts itself when the memory cannot grow (wasm-bindgen's malloc_failure): a
    // thread's stack and TLS are allocated that way as it starts, a string argument too.
    if (/rust_oom|__rust_alloc_error_handler|handle_alloc_error/.test(stack)) return 'out_of_memory';
    if (/__wbindgen_(malloc|realloc)\b/.test(innermostWasmFunction(stack))) return 'out_of_memory';
    // A panic that no hook reported (the crate installs none) still passes std's panic machinery.
    return PANIC_MACHINERY.test(stack) ? 'panic' : 'abort';
  }
  return 'runtime_error';
}

// The function of a stack's innermost wasm frame (WASM_FRAME), or '' without one.
function innermostWasmFunction(stack) {
  const [, v8Name, spiderMonkeyName] = String(stack).matchAll(WASM_FRAME).next().value ?? [];
  return v8Name ?? spiderMonkeyName ?? '';
}

const LARGER_MAXIMUM = '-C link-args=--max-memory=<bytes>';

// The pool's shared memory could not be made (new WebAssembly.Memory threw): a shared memory
// reserves its maximum at once, and the process (its address space: ulimit -v, a 32-bit
// browser, a phone) has no room for it. `error` is the engine's RangeError; sizes in pages.
function memoryRefused(error, { initial, maximum }) {
  const mib = (pages) => `${(pages * 64) / 1024} MiB`;
  return new WbgPoolError(
    `the wasm memory could not be allocated (${error.message}): the module asks for a shared memory of ${mib(initial)}, ` +
      `up to ${mib(maximum)}, and a shared memory reserves its maximum at once; this process has no room for it. ` +
      `Build the crate with a smaller maximum (${LARGER_MAXIMUM}), or give the process more address space`,
    'ERR_OUT_OF_MEMORY',
    { cause: error },
  );
}

// A thread that ran out of memory (`trap`, of kind out_of_memory) before its pool ran: each
// thread's stack and TLS are allocated in the shared memory, of `bytes`, as it starts.
function startOutOfMemory(trap, bytes) {
  return new PoolStartError(
    `${threadLabel(trap.threadIndex)} ran out of wasm memory as it started: each pool thread's stack and TLS are ` +
      `allocated in the shared memory, which holds ${Math.round(bytes / 2 ** 20)} MiB and could not grow for them. Free memory before the ` +
      `pool starts, ask for fewer threads (numThreads), or build with a larger maximum (${LARGER_MAXIMUM})`,
    { cause: trap },
  );
}

// Plain data for an error about to cross threads. `throughWasm`: it came out of
// wasm code (a raw export, a pool thread's loop), so even a JS exception left
// that instance mid-way and counts as a trap.
function serialize(error, threadIndex, throughWasm = false) {
  // The glue's value in the slots of other instances' JS values throws this code at any use.
  const foreign = error?.code === 'ERR_FOREIGN_JS_VALUE' ? 'foreign_js_value' : null;
  const kind = trapKind(error) ?? foreign ?? (throughWasm ? 'js_exception' : null);
  if (kind === 'js_exception') {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { name: 'WasmTrapError', kind, message, stack: String(error && error.stack), threadIndex, cause: error instanceof Error ? error : undefined };
  }
  if (kind !== null) {
    return { name: 'WasmTrapError', kind, message: String(error.message), stack: String(error.stack), threadIndex };
  }
  if (error instanceof WbgPoolError) return { name: 'WbgPoolError', message: error.message, code: error.code };
  if (error instanceof Error) {
    // Structured clone keeps an Error's message, stack and a built-in name; the
    // name of a subclass and a `code` are carried beside it.
    return { name: 'Error', error, errorName: error.name, code: error.code };
  }
  return { name: 'Thrown', value: error };
}

// A panic that unwound to the export (the glue's PanicError, see unwind.cjs), as
// serialize() gives errors: only its message crossed the export; the main
// thread adds the location the panicking thread reported (pool.cjs).
function unwoundPanicData(panic) {
  return { name: 'WasmPanicError', message: String(panic.message) };
}

// A panic abandoned mid-unwinding on thread `threadIndex` (a destructor panicked while it
// unwound, past destructors that may have held locks), as serialize() gives errors.
function abandonedPanicData(threadIndex) {
  return { name: 'WasmTrapError', kind: 'panic_while_panicking', message: 'a panic was abandoned mid-unwinding', threadIndex };
}

// A value that could not be posted to the main thread, as serialize() gives errors.
function notTransferable(message) {
  return { name: 'NotTransferableError', message };
}

function deserialize(data) {
  switch (data.name) {
    case 'WasmTrapError':
      if (data.kind === 'panic') {
        return new WasmPanicError({ message: UNREPORTED_PANIC, threadIndex: data.threadIndex, stack: data.stack, inFunction: crateFrame(data.stack) });
      }
      return new WasmTrapError(data);
    case 'WasmPanicError':
      return new WasmPanicError({ message: data.message, threadIndex: undefined, unwound: true });
    case 'NotTransferableError':
      return new NotTransferableError(data.message);
    case 'WbgPoolError':
      return new WbgPoolError(data.message, data.code);
    case 'Error':
      if (data.errorName !== undefined && data.error.name !== data.errorName) data.error.name = data.errorName;
      if (data.code !== undefined) data.error.code = data.code;
      return data.error;
    default:
      return data.value;
  }
}

// Shared memory is not to be had here (a browser page without COOP/COEP): said
// at the glue's first instantiation and by the manager, before anything fails less clearly.
function checkSharedMemory() {
  const problem = platform.sharedMemoryProblem();
  if (problem !== null) throw new WbgPoolError(problem, 'ERR_NOT_CROSS_ORIGIN_ISOLATED');
}

// A call that would wait for the pool on a page's main thread, which may not
// block (see the spinOnPage option): `what` names it.
function wouldBlock(what) {
  return new WbgPoolError(
    `${what} waits for the pool's threads, which a page's main thread may not (Atomics.wait throws there): ` +
      "call it in a module Worker, use run() from here, or set the manager's spinOnPage option, which lets the page " +
      'spin (frozen, a core busy) for the whole call',
    'ERR_WOULD_BLOCK',
  );
}

// A warning for what no rejected call tells the user (a reset nobody asked
// for, an onLog that threw), with a code to filter on (process.on('warning')).
function warn(message, code) {
  platform.warn(`wbg-pool: ${message}`, code);
}

const CLASSES = {
  WbgPoolError,
  WasmPanicError,
  WasmTrapError,
  HeartbeatTimeoutError,
  PoolClosedError,
  PoolStartError,
  NotTransferableError,
  QueueFullError,
  CallTimeoutError,
  StaleObjectError,
  ForeignJsValueError,
};
for (const [name, ErrorClass] of Object.entries(CLASSES)) NAMES.set(ErrorClass, name);

module.exports = {
  ...CLASSES,
  threadLabel,
  warn,
  checkSharedMemory,
  memoryRefused,
  startOutOfMemory,
  wouldBlock,
  trapKind,
  serialize,
  unwoundPanicData,
  abandonedPanicData,
  notTransferable,
  deserialize,
  crateFrame,
  WASM_STACK_FRAMES,
};
