'use strict';
// The errors the runtime gives the user: Error subclasses with a stable `code`.
// Errors cross threads as plain data ({ name, ...fields }) and are rebuilt here
// as the right class on the main thread.

const { MAIN_THREAD } = require('./protocol.cjs');

// How a thread is named in messages: null (or the host's -1) is the host.
function threadLabel(threadIndex) {
  if (threadIndex === MAIN_THREAD) return 'the main thread';
  return threadIndex === null || threadIndex === undefined || threadIndex < 0 ? 'the pool host' : `pool thread ${threadIndex}`;
}

// The rule behind ForeignJsValueError and traps of kind foreign_js_value.
const JS_VALUE_RULE =
  'a JS value held in wasm state belongs to the side that made it: the main thread (outside execute()) or the ' +
  'pool (inside); use (and free) the object that holds it on that side';

class WbgPoolError extends Error {
  constructor(message, code, options) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A Rust panic on a pool thread (or the host), with its message and location. */
class WasmPanicError extends WbgPoolError {
  constructor({ message, file, line, column, threadIndex, stack }) {
    const where = file ? ` at ${file}:${line}:${column}` : '';
    super(`Rust panicked on ${threadLabel(threadIndex)}${where}: ${message}`, 'ERR_WASM_PANIC');
    this.panicMessage = message;
    this.location = file ? { file, line, column } : null;
    this.threadIndex = threadIndex ?? null;
    if (stack) this.wasmStack = stack;
  }
}

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

// What kind of trap `error` is, or null when it is an ordinary JS exception.
function trapKind(error) {
  const message = String(error && error.message);
  const stack = String(error && error.stack);
  if (error instanceof RangeError && /call stack/i.test(message)) return 'stack_overflow';
  if (!(error instanceof WebAssembly.RuntimeError)) return null;
  if (/out of bounds/i.test(message) && /memory/i.test(message)) return 'memory_out_of_bounds';
  // The glue's own table accesses stay in bounds; an index past the end is another instance's JS value.
  if (/table index is out of bounds/i.test(message)) return 'foreign_js_value';
  if (/unreachable/i.test(message)) {
    // The name section keeps std's function names in the trap's stack.
    if (/rust_oom|__rust_alloc_error_handler|handle_alloc_error/.test(stack)) return 'out_of_memory';
    // A panic that no hook reported (the crate installs none) still passes std's panic machinery.
    return PANIC_MACHINERY.test(stack) ? 'panic' : 'abort';
  }
  return 'runtime_error';
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

// A value that could not be posted to the main thread, as serialize() gives errors.
function notTransferable(message) {
  return { name: 'NotTransferableError', message };
}

function deserialize(data) {
  switch (data.name) {
    case 'WasmTrapError':
      if (data.kind === 'panic') return new WasmPanicError({ message: UNREPORTED_PANIC, threadIndex: data.threadIndex, stack: data.stack });
      return new WasmTrapError(data);
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

// A warning for what no rejected call tells the user (a reset nobody asked
// for, an onLog that threw), with a code to filter on (process.on('warning')).
function warn(message, code) {
  process.emitWarning(`wbg-pool: ${message}`, { code });
}

module.exports = {
  threadLabel,
  warn,
  WbgPoolError,
  WasmPanicError,
  WasmTrapError,
  HeartbeatTimeoutError,
  PoolClosedError,
  PoolStartError,
  NotTransferableError,
  CallTimeoutError,
  StaleObjectError,
  ForeignJsValueError,
  trapKind,
  serialize,
  notTransferable,
  deserialize,
};
