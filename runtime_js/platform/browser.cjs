'use strict';
// The browser's adapter (see index.cjs). What Node gives and a browser does not:
// - receiveMessageOnPort: a Worker blocked in Atomics.wait (or a page spinning)
//   receives no message event, so every channel is a queue in shared memory
//   (shared-queue.cjs), read by whoever waits on its counter;
// - worker_threads' workerData, and its online and exit events: a thread gets
//   its data as its first message, answers that it runs, and says it exits in
//   its last message;
// - CPU time of a thread (/proc): none, progress is the host's beats alone;
// - AsyncLocalStorage: see callContext();
// - timers that do not keep a process alive: a page has no process to keep.
// Threads are module Workers of the ES-module build's one entry (thread.mjs),
// which the build starts with the literal `new Worker(new URL(…), {type: 'module'})`
// that bundlers look for.
const { createQueue, SharedQueue, threadCanBlock } = require('./shared-queue.cjs');
const bundle = require('./bundle.cjs');

// The keys of the messages between a pool thread and its parent: its data, that it runs, that it ends.
const THREAD_DATA = '__wbgPoolThreadData';
const THREAD_ONLINE = '__wbgPoolThreadOnline';
const THREAD_EXITED = '__wbgPoolThreadExited';

// The page's main thread may not block (Atomics.wait throws there); a Worker may.
const canBlock = threadCanBlock();

let data; // this thread's data, once its first message arrived (see awaitThreadData)

// Resolves with the data the runtime starts this pool thread with: its first message.
function awaitThreadData() {
  return new Promise((resolve) => {
    const first = (event) => {
      if (event.data === null || typeof event.data !== 'object' || !(THREAD_DATA in event.data)) return;
      globalThis.removeEventListener('message', first);
      globalThis.postMessage({ [THREAD_ONLINE]: true });
      resolve((data = event.data[THREAD_DATA]));
    };
    globalThis.addEventListener('message', first);
  });
}

// A pool thread, as the pool sees one in Node: 'online', 'error' and 'exit'
// events, and a terminate() that resolves once it is done. A script that cannot load (404, a
// wrong MIME type, a path a bundler moved) fires 'error' with no message: the
// error names the URL.
class BrowserThread {
  constructor(role, threadData) {
    this.listeners = { online: [], error: [], exit: [] };
    this.exited = false;
    this.worker = bundle.spawn({ type: 'module', name: `wbg-pool ${role}` });
    this.worker.addEventListener('error', (event) => {
      event.preventDefault();
      const why = event.message || `the pool's thread script ${bundle.threadUrl} could not be loaded (missing, not JavaScript, or blocked)`;
      this.emit('error', new Error(why));
    });
    this.worker.addEventListener('message', (event) => {
      if (event.data === null || typeof event.data !== 'object') return;
      if (THREAD_ONLINE in event.data) this.emit('online');
      if (THREAD_EXITED in event.data) this.exit(0);
    });
    this.worker.postMessage({ [THREAD_DATA]: { ...threadData, role } });
  }

  on(event, listener) {
    this.listeners[event].push(listener);
    return this;
  }

  once(event, listener) {
    const once = (...args) => {
      this.listeners[event] = this.listeners[event].filter((l) => l !== once);
      listener(...args);
    };
    return this.on(event, once);
  }

  emit(event, ...args) {
    for (const listener of [...this.listeners[event]]) listener(...args);
  }

  exit(code) {
    if (this.exited) return;
    this.exited = true;
    this.emit('exit', code);
  }

  async terminate() {
    this.worker.terminate();
    this.exit(1);
  }

  ref() {}
  unref() {}
}

// Each thread makes its own reader or writer of a queue from the descriptor it
// was given (one per descriptor object: a descriptor arrives as a fresh copy).
const queues = new WeakMap();
function queueOf(end) {
  let queue = queues.get(end);
  if (queue === undefined) queues.set(end, (queue = new SharedQueue(end)));
  return queue;
}

// What keeps this page from sharing memory between threads, or null. Without
// both headers a browser gives the page no SharedArrayBuffer, and the wasm
// fails later with a message that names neither.
function sharedMemoryProblem() {
  if (globalThis.crossOriginIsolated === true) return null;
  return (
    'this page is not cross-origin isolated, so the browser gives it no SharedArrayBuffer, which a threaded wasm ' +
    'memory needs: serve the page (and its workers) with the headers `Cross-Origin-Opener-Policy: same-origin` ' +
    'and `Cross-Origin-Embedder-Policy: require-corp`'
  );
}

// Browsers have no AsyncLocalStorage. The context of the running code is the
// call whose run() it is inside; past an await, the newest execute() call still
// running (its code and a timer's look the same here). One execute() at a time
// is exact; with several at once, a call after an await may count as another's
// (same pool, other deadline).
const OUTSIDE = Symbol('outside any run()');
function callContext() {
  let current = OUTSIDE;
  const running = new Set();
  const run = (store, fn) => {
    const previous = current;
    current = store;
    try {
      const result = fn();
      if (store !== undefined && typeof result?.then === 'function') {
        running.add(store);
        const done = () => running.delete(store);
        result.then(done, done);
      }
      return result;
    } finally {
      current = previous;
    }
  };
  return {
    run,
    exit: (fn) => run(undefined, fn),
    getStore: () => (current !== OUTSIDE ? current : [...running].pop()),
  };
}

// No diagnostics_channel: nobody subscribes; the counters of manager.stats() remain.
const diagnosticsChannel = () => ({ hasSubscribers: false, publish() {} });

// A task module (manager.run) as the host imports it: an absolute URL.
function taskLocation(filename) {
  if (filename instanceof URL) return filename.href;
  try {
    return new URL(filename).href;
  } catch {
    throw new TypeError(`run(filename): filename must be an absolute URL (e.g. new URL('./task.js', import.meta.url)), got ${String(filename)}`);
  }
}

module.exports = {
  canBlock,
  sharedMemoryProblem,
  threadData: () => data,
  awaitThreadData,
  spawnThread: (role, threadData) => new BrowserThread(role, threadData),
  channel() {
    const end = createQueue();
    return [end, end];
  },
  post: (end, message) => queueOf(end).post(message),
  receive: (end) => queueOf(end).receive(),
  listen: (end, onMessage) => queueOf(end).listen(onMessage),
  availableParallelism: () => globalThis.navigator?.hardwareConcurrency || 1,
  // What may keep threads from starting here, for a start past startTimeoutMs: a browser
  // may start a bounded number of workers per site and hold back the rest, without an
  // error (Firefox: 512, its dom.workers.maxPerDomain preference).
  startHint:
    '; possibly the browser holds them back: it may start only so many workers per site (Firefox: the ' +
    'dom.workers.maxPerDomain preference, 512) and queue the rest without an error; end workers this page no ' +
    'longer needs, or ask for fewer numThreads',
  kernelThreadId: () => null,
  threadTicks: () => null,
  cpuUsage: () => null,
  setImmediate: (fn) => setTimeout(fn, 0),
  unref() {},
  warn: (message, code) => console.warn(`${message} [${code}]`),
  forwardOutput() {}, // a Worker's console reaches the page's console (devtools) by itself
  write: (fd, text) => (fd === 2 ? console.error : console.log)(text.replace(/\n$/, '')),
  asyncContext: callContext,
  diagnosticsChannel,
  exitThread() {
    globalThis.postMessage({ [THREAD_EXITED]: true });
    globalThis.close();
  },
  basename: (filename) => filename.split('/').pop(),
  taskLocation,
  importTask: (url) => import(url),
  loadGlue: () => bundle.loadGlue(),
  readModule() {
    throw new Error('wbg-patch: this glue reads its module from a file, which a browser cannot');
  },
};
