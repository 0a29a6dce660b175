'use strict';
// Log records of the pool's threads (Rust's `log` crate through wbg-pool's
// logger), delivered to the manager's onLog on the main thread.
const { HOST_THREAD } = require('./protocol.cjs');
const { threadLabel, warn } = require('./errors.cjs');
const { session } = require('./session.cjs');
const platform = require('./platform/index.cjs');

const LEVELS = ['off', 'error', 'warn', 'info', 'debug', 'trace'];

// onLog's default: one line on stderr.
function printLog(entry) {
  platform.write(2, `[wasm ${entry.level} ${threadLabel(entry.threadIndex)}] ${entry.target}: ${entry.message}\n`);
}

// Hands one LOG message to `onLog` as a LogEntry (manager.d.ts). An onLog that
// throws is warned of: a log must never fail the call that produced it.
function deliverLog(onLog, { thread, level, target, message, time }) {
  const entry = { threadIndex: thread === HOST_THREAD ? null : thread, level: LEVELS[level] ?? String(level), target, message, time };
  try {
    // Outside any execute() session: wasm calls made by onLog run locally
    // instead of queueing behind the call that is waiting.
    session.exit(() => onLog(entry));
  } catch (error) {
    warn(`onLog threw: ${error && error.message}`, 'WBG_POOL_ONLOG');
  }
}

module.exports = { printLog, deliverLog };
