'use strict';
// The JS→wasm call boundary, where every instance's calls of its exports cross.
// V8 converts an export's arguments (a Number for an i64, a BigInt for an f64,
// ...) before the first wasm frame runs, and throws from the calling frame:
// nothing in wasm ran, so that error is the caller's own, the same on any
// instance. Any other error that leaves an export went through wasm frames (an
// import threw through them, or wasm trapped): it left the instance mid-way.

// Calls export `fn` with `args`: the frame a conversion error starts in.
function callExport(fn, args) {
  return fn(...args);
}
const AT_THE_BOUNDARY = `\n    at ${callExport.name} (${__filename}:`;

// Whether `error` came out of callExport before any wasm frame ran. An error
// thrown by an import starts in that import, one thrown on the way out in a
// wasm frame.
function thrownAtTheBoundary(error) {
  if (!(error instanceof Error)) return false;
  const stack = String(error.stack);
  // The frames follow "Name: message" (a message may hold any text).
  const firstFrame = stack.indexOf('\n    at ', `${error.name}: ${error.message}`.length);
  return firstFrame !== -1 && stack.startsWith(AT_THE_BOUNDARY, firstFrame);
}

module.exports = { callExport, thrownAtTheBoundary };
