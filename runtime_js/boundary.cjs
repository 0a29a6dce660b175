'use strict';
// The JS→wasm call boundary, where every instance's calls of its exports cross.
// The engine (V8; SpiderMonkey alike) converts an export's arguments (a Number for an i64, a BigInt for an f64,
// ...) before the first wasm frame runs, and throws from the calling frame:
// nothing in wasm ran, so that error is the caller's own, the same on any
// instance. Any other error that leaves an export went through wasm frames (an
// import threw through them, or wasm trapped): it left the instance mid-way.
//
// Which frame threw is read from the error's stack, so it must not depend on the
// user's stack settings, common in SDKs and APM agents: `Error.stackTraceLimit = 0`
// records no frame at all, and a custom `Error.prepareStackTrace` formats them its
// own way. The limit is raised to one frame for the call where it is lower, and a
// custom format is read through V8's structured frames.

// Calls export `fn` with `args`: the frame a conversion error starts in.
function callExport(fn, args) {
  const limit = Error.stackTraceLimit;
  if (limit >= 1) return fn(...args);
  // Only the top frame is needed; a user's code that the call reaches (an import) sees it too.
  Error.stackTraceLimit = 1;
  try {
    return fn(...args);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

// The top frame of `error` ({ name, file }), or null: V8's call site when a custom
// prepareStackTrace would format the stack (it formats it at the stack's first read,
// which the user's format then gets as it would have), else the default text's first
// frame: V8's ("Name: message\n    at name (file:line:col)") or SpiderMonkey's
// (Firefox: "name@file:line:col", no header).
function topFrame(error) {
  const custom = Error.prepareStackTrace;
  if (typeof custom === 'function') {
    let site = null;
    Error.prepareStackTrace = (thrown, sites) => {
      site = sites[0] ?? null;
      return custom(thrown, sites);
    };
    try {
      void error.stack;
    } finally {
      Error.prepareStackTrace = custom;
    }
    // null also when the stack was formatted before (read by someone else first): then its text is all there is.
    if (site !== null) return { name: site.getFunctionName() ?? '', file: site.getFileName() ?? '' };
  }
  const stack = String(error.stack);
  // The frames follow "Name: message" (a message may hold any text).
  const start = stack.indexOf('\n    at ', `${error.name}: ${error.message}`.length);
  if (start === -1) {
    const frame = /^([^@\n]*)@(.*):\d+:\d+(?:\n|$)/.exec(stack);
    return frame === null ? null : { name: frame[1], file: frame[2] };
  }
  const frame = stack.slice(start + '\n    at '.length, stack.indexOf('\n', start + 1) >>> 0);
  const file = frame.match(/ \((.*):\d+:\d+\)$/);
  // V8 names a method call's frame "Object.caller [as name]".
  const name = frame.slice(0, frame.indexOf(' (')).replace(/ \[as [^\]]*\]$/, '');
  return { name: name.slice(name.lastIndexOf('.') + 1), file: file === null ? '' : file[1] };
}

// Whether `error` came out of callExport before any wasm frame ran: an error
// thrown by an import starts in that import, one thrown on the way out in a
// wasm frame.
function thrownAtTheBoundary(error) {
  if (!(error instanceof Error)) return false;
  const frame = topFrame(error);
  return frame !== null && frame.name === callExport.name && frame.file === __filename;
}

module.exports = { callExport, thrownAtTheBoundary };
