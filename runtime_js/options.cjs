'use strict';
// ThreadPoolManager's options: defaults, and checks that name the option a bad
// value was given for. Every default and limit comes from defaults.json, which
// wbg-patch reads too; the defaults chosen at patch time (the binding's) come
// between those and the user's options.
const platform = require('./platform/index.cjs');
const { defaults, limits } = require('./defaults.json');
const { printLog } = require('./logs.cjs');

// defaults.json says null for Infinity ("never"), which JSON cannot hold.
const DEFAULTS = Object.fromEntries(Object.entries(defaults).map(([name, value]) => [name, value === null ? Infinity : value]));

// A duration option: milliseconds from `min` to what a Node timer can wait (a
// longer timer fires after 1 ms, without a word), or Infinity for "never".
// `why` explains a minimum above the obvious one.
function checkDuration(name, value, min, why = '') {
  if (value === Infinity) return;
  if (typeof value !== 'number' || Number.isNaN(value) || value < min) {
    throw new RangeError(`options.${name} must be at least ${min} ms, or Infinity for "never"; got ${String(value)}${why}`);
  }
  if (value > limits.maxTimerMs) {
    throw new RangeError(
      `options.${name} is ${value} ms, longer than a Node timer can wait (2^31-1 = ${limits.maxTimerMs} ms, ~24.8 days); ` +
        'use Infinity for "never"',
    );
  }
}

// A page that spins is frozen until the call ends: only a call timeout bounds how long (a
// deadlock ends at the heartbeat timeout, but a livelock, or a long call, would go on).
const SPIN_NEEDS_TIMEOUT = (name) =>
  `spinOnPage on a page's main thread needs a finite ${name}: the page is frozen while it spins, and ` +
  'only the call timeout bounds how long (a pool that spins forever, or a call that runs for minutes)';

// The manager's options: the user's over `patchDefaults` over defaults.json.
function checkOptions(options, patchDefaults) {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const o = { ...DEFAULTS, ...patchDefaults, onLog: printLog, ...options };
  if (o.numThreads === 0 || o.numThreads === null || o.numThreads === undefined) {
    // Every core: the main thread sleeps while execute() waits for the pool, and the host
    // waits for Rayon's install; measured (make bench), cores + 1 gains nothing more.
    o.numThreads = Math.max(1, platform.availableParallelism());
  }
  if (!Number.isInteger(o.numThreads) || o.numThreads < 1 || o.numThreads > limits.maxThreads) {
    throw new RangeError(`options.numThreads must be an integer from 1 to ${limits.maxThreads}, got ${o.numThreads}`);
  }
  checkDuration(
    'heartbeatTimeoutMs',
    o.heartbeatTimeoutMs,
    limits.minHeartbeatMs,
    ': progress is measured in CPU ticks of 10 ms, so a shorter timeout would fail busy calls that are making progress',
  );
  checkDuration('startTimeoutMs', o.startTimeoutMs, 1);
  checkDuration('callTimeoutMs', o.callTimeoutMs, 1);
  checkDuration('idleShutdownMs', o.idleShutdownMs, 0);
  // Bounded by default (see defaults.json): behind a task that never ends, a full queue is an error to see.
  if (o.maxQueue !== Infinity && !(Number.isInteger(o.maxQueue) && o.maxQueue >= 0)) {
    throw new RangeError(`options.maxQueue must be an integer of at least 0, or Infinity for no bound; got ${String(o.maxQueue)}`);
  }
  for (const name of ['spinOnPage', 'splitCalls']) {
    if (typeof o[name] !== 'boolean') throw new TypeError(`options.${name} must be true or false, got ${String(o[name])}`);
  }
  if (o.spinOnPage && !platform.canBlock && o.callTimeoutMs === Infinity) throw new RangeError(SPIN_NEEDS_TIMEOUT('options.callTimeoutMs'));
  if (typeof o.onLog !== 'function') throw new TypeError('options.onLog must be a function');
  return o;
}

// The callTimeoutMs of one call: its own option, or the manager's.
function callTimeout(signature, options, managerTimeoutMs) {
  if (options === null || typeof options !== 'object') throw new TypeError(`${signature}: options must be an object`);
  const callTimeoutMs = options.callTimeoutMs ?? managerTimeoutMs;
  checkDuration('callTimeoutMs', callTimeoutMs, 1);
  return callTimeoutMs;
}

module.exports = { checkOptions, callTimeout, SPIN_NEEDS_TIMEOUT };
