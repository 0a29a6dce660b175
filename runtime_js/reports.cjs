'use strict';
// Panic reports that a crate's own panic hook prints. A crate that installs
// console_error_panic_hook (most SDKs do, often inside their exports) has it
// print "panicked at FILE:LINE:COL:\nMESSAGE\n\nStack:\n\n…" with console.error
// just before panic=abort traps. On the pool's threads that text is the only
// place Rust's message and location still exist, so it becomes the panic
// report (and the user gets a WasmPanicError instead of a bare trap).

// Rust >= 1.73 prints "panicked at FILE:LINE:COL:\nMESSAGE"; older, "panicked at 'MESSAGE', FILE:LINE:COL".
const CURRENT = /^panicked at (.+?):(\d+):(\d+):\n([\s\S]*?)(?:\n\nStack:\n\n([\s\S]*?)\n*)?$/;
const BEFORE_1_73 = /^panicked at '([\s\S]*)', (.+?):(\d+):(\d+)(?:\n\nStack:\n\n([\s\S]*?)\n*)?$/;

// { message, file, line, column, stack } from a hook's text, or null.
function parsePanicText(text) {
  if (typeof text !== 'string') return null;
  let m = CURRENT.exec(text);
  if (m !== null) return { message: m[4], file: m[1], line: Number(m[2]), column: Number(m[3]), stack: m[5] };
  m = BEFORE_1_73.exec(text);
  if (m !== null) return { message: m[1], file: m[2], line: Number(m[3]), column: Number(m[4]), stack: m[5] };
  return null;
}

// Routes panic texts printed with console.error on this thread to `report`.
// On a pool thread they are not printed, since the report reaches the user as
// the error; on the main thread (`keepPrinting`) the user's console is theirs
// and prints them as before. Any other output is printed as before.
function watchPanicReports(report, { keepPrinting = false } = {}) {
  const print = console.error;
  console.error = function error(...args) {
    const found = args.length === 1 ? parsePanicText(args[0]) : null;
    if (found !== null) report(found);
    if (found === null || keepPrinting) return print.apply(this, args);
    return undefined;
  };
}

module.exports = { parsePanicText, watchPanicReports };
