'use strict';
// The reset policy. Memory a crashed thread wrote to is not trusted (locks it
// held stay held, under panic=abort nothing unwinds): after a failure, and after
// a stop that did not end cleanly, the glue's local instance starts again on
// fresh memory before the next pool, and every wasm object made before is stale
// (its next use throws StaleObjectError naming the reason). Only a rejected call
// tells the user why; other resets are warned of. A reset that fails leaves
// the glue refusing every call, with the reason (ERR_RESET_FAILED), until a
// new manager tries again: nothing runs on the old memory.
const platform = require('./platform/index.cjs');
const { warn } = require('./errors.cjs');

// After pool failure `error`; `active` calls were not settled, `running` (their records,
// metrics.cjs) had begun, `closed`: close() ended them, `restarts`: the calls are not
// rejected, a pool starts again for them on the fresh memory, `outside`: a call outside
// execute() routed to the pool (route.cjs) threw it.
function resetAfterFailure(binding, error, { active, running, closed, restarts, outside }) {
  let why = null;
  if (restarts) why = error.message;
  else if (outside) why = `a call outside execute(), which ran in the pool, failed: ${error.message}`;
  else if (active === 0) why = `the pool failed while no execute() was running: ${error.message}`;
  else if (closed) {
    const which = running.length > 1 ? 'which were rejected; their' : 'which was rejected; its';
    why = `close() was called during ${callsNamed(running)}, ${which} pool was terminated`;
  }
  resetMemory(binding, why, error.message);
}

// The calls a warning names: 'an execute()', 'run() task prove of prove.cjs', and so on.
function callsNamed(calls) {
  const executes = calls.filter((call) => call.kind === 'execute').length;
  const named = calls.filter((call) => call.kind === 'run').map(({ task }) => `run() task ${task.name} of ${platform.basename(task.filename)}`);
  if (executes > 0) named.unshift(executes === 1 ? 'an execute()' : `${executes} execute() calls`);
  if (named.length === 0) return 'a call';
  return named.length === 1 ? named[0] : `${named.slice(0, -1).join(', ')} and ${named[named.length - 1]}`;
}

// After a stop (idle, close) that had to terminate threads, or saw one crash.
function resetAfterUncleanStop(binding, adapter) {
  resetMemory(
    binding,
    adapter.canStop
      ? 'a pool thread crashed or had to be terminated while the pool stopped'
      : `the ${adapter.kind} pool is Rayon's global pool, which cannot exit: its threads were terminated`,
  );
}

// `why` is for a reset that no rejected call explains to the user; `reason` is
// what a stale object's error names.
function resetMemory(binding, why, reason = why) {
  try {
    binding.handle.reset(reason);
  } catch (error) {
    // The glue now throws this error (ERR_RESET_FAILED) at every use, execute() too.
    warn(error.message, 'WBG_POOL_RESET');
    return;
  }
  if (why) warn(`${why}; the wasm memory was reset, so wasm objects made before throw StaleObjectError`, 'WBG_POOL_RESET');
}

module.exports = { resetAfterFailure, resetAfterUncleanStop };
