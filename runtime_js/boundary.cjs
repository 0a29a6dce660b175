'use strict';
// The JS→wasm call boundary, where every instance's calls of its exports cross.
// V8 converts an export's arguments (a Number for an i64, a BigInt for an f64,
// ...) before the first wasm frame runs, and throws from the calling frame:
// nothing in wasm ran, so that error is the caller's own, the same on any
// instance. Any other error that leaves an export went through wasm frames (an
// import threw through them, or wasm trapped): it left the instance mid-way.

// Calls export `fn` with `args`: the host's frame a conversion error starts in.
function callExport(fn, args) {
  return fn(...args);
}

// Whether `error` was thrown by the frame of `caller` (a function of file
// `file` that calls exports directly), so before any wasm frame ran: an error
// thrown by an import starts in that import, one thrown on the way out in a
// wasm frame. V8 names a method call's frame "Object.caller [as name]".
function thrownBy(error, caller, file) {
  if (!(error instanceof Error)) return false;
  const stack = String(error.stack);
  // The frames follow "Name: message" (a message may hold any text).
  const start = stack.indexOf('\n    at ', `${error.name}: ${error.message}`.length);
  if (start === -1) return false;
  const frame = stack.slice(start + '\n    at '.length, stack.indexOf('\n', start + 1) >>> 0);
  const name = frame.slice(0, frame.indexOf(' (')).replace(/ \[as [^\]]*\]$/, '');
  return name.slice(name.lastIndexOf('.') + 1) === caller.name && frame.includes(` (${file}:`);
}

// Whether `error` came out of callExport before any wasm frame ran.
const thrownAtTheBoundary = (error) => thrownBy(error, callExport, __filename);

module.exports = { callExport, thrownBy, thrownAtTheBoundary };
