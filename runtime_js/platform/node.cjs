'use strict';
// Node's adapter (see index.cjs): threads are worker_threads, a blocked thread
// reads its ports with receiveMessageOnPort, CPU time comes from /proc (Linux)
// or the process, and an execute() call's context is an AsyncLocalStorage.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { pathToFileURL, fileURLToPath } = require('url');
const threads = require('worker_threads');
const { AsyncLocalStorage } = require('async_hooks');
const diagnostics = require('diagnostics_channel');
const bundle = require('./bundle.cjs');

// The data the runtime started this thread with (a pool's host or worker), or
// undefined on any other thread: the main thread, or a worker of the app's own.
function threadData() {
  const data = threads.isMainThread ? undefined : threads.workerData;
  return data !== null && typeof data === 'object' && '__wbgPoolThread' in data ? data : undefined;
}

// Starts a pool thread of `role` ('host' or 'worker') with `data`, handing it
// the channel ends `ends` (see channel()). The CommonJS runtime starts the
// role's own file; the ES-module build, its one thread entry, which reads the role.
function spawnThread(role, data, ends) {
  if (bundle === null) return new threads.Worker(path.join(__dirname, '..', `${role}.cjs`), { workerData: data, transferList: ends });
  // A thread inherits the process's flags, and Node refuses an ES-module file to one that
  // has --input-type (a script run by `node --input-type=module -e …`).
  const execArgv = process.execArgv.filter((flag, i, all) => !flag.startsWith('--input-type') && all[i - 1] !== '--input-type');
  return new threads.Worker(bundle.threadUrl, { workerData: { ...data, role }, transferList: ends, execArgv });
}

// A one-way channel: [the sender's end, the receiver's end]. Both ends are
// MessagePorts, moved to the thread that uses them in spawnThread's `ends`.
function channel() {
  const { port1, port2 } = new threads.MessageChannel();
  return [port1, port2];
}

// Messages are copied by structured clone: what cannot be throws (the runtime
// names the call or value in its NotTransferableError).
const post = (end, message) => end.postMessage(message);

// The next message on `end`, or undefined: also while this thread blocks.
function receive(end) {
  const received = threads.receiveMessageOnPort(end);
  return received === undefined ? undefined : received.message;
}

// Delivers `end`'s messages while this thread's event loop turns, without
// keeping the process alive for them.
function listen(end, onMessage) {
  end.on('message', onMessage);
  end.unref();
}

// The kernel thread id of the calling thread: the main thread reads each pool
// thread's CPU time by it (threadTicks), which tells busy from deadlocked.
function kernelThreadId() {
  try {
    return Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return null;
  }
}

// CPU time (clock ticks) thread `tid` of this process has used; null without /proc.
function threadTicks(tid) {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

// A pool thread's stdout and stderr, handed to `onWrite(fd, text)` (which sends
// them to the main thread as events): a worker's own streams are carried by its
// parent's event loop, which does not turn while the pool works, so the output
// would appear only after the pool stopped, out of order with the logs.
function forwardOutput(onWrite) {
  for (const [stream, fd] of [[process.stdout, 1], [process.stderr, 2]]) {
    stream.write = function write(chunk, encoding, callback) {
      const done = typeof encoding === 'function' ? encoding : callback;
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString(typeof encoding === 'string' ? encoding : 'utf8');
      onWrite(fd, text);
      if (typeof done === 'function') process.nextTick(done);
      return true;
    };
  }
}

// Writes what a thread wrote (fd 1 or 2) on the main thread, or one line of the runtime's own.
const write = (fd, text) => (fd === 2 ? process.stderr : process.stdout).write(text);

// A task module (manager.run) as the host imports it: an absolute path, or a file: URL.
function taskLocation(filename) {
  if (filename instanceof URL || (typeof filename === 'string' && filename.startsWith('file:'))) filename = fileURLToPath(filename);
  if (typeof filename !== 'string' || !path.isAbsolute(filename)) {
    throw new TypeError(`run(filename): filename must be an absolute path or a file: URL, got ${String(filename)}`);
  }
  return filename;
}

// The glue on a pool thread: the file the main thread loaded, as its format needs.
async function loadGlue({ gluePath, format }) {
  if (bundle !== null) return bundle.loadGlue();
  return format === 'esm' ? import(pathToFileURL(gluePath).href) : require(gluePath);
}

module.exports = {
  canBlock: true,
  sharedMemoryProblem: () => null,
  threadData,
  awaitThreadData: async () => threadData(),
  spawnThread,
  channel,
  post,
  receive,
  listen,
  availableParallelism: () => (os.availableParallelism ? os.availableParallelism() : os.cpus().length),
  // Node starts every worker it is asked for, or fails it with an error of its own.
  startHint: '',
  kernelThreadId,
  threadTicks,
  cpuUsage: () => process.cpuUsage(),
  setImmediate: (fn) => setImmediate(fn),
  unref: (timer) => timer.unref(),
  // A warning with a code to filter on (process.on('warning')).
  warn: (message, code) => process.emitWarning(message, { code }),
  forwardOutput,
  write,
  asyncContext: () => new AsyncLocalStorage(),
  diagnosticsChannel: (name) => diagnostics.channel(name),
  exitThread: () => process.exit(0),
  basename: (filename) => path.basename(filename),
  taskLocation,
  importTask: (filename) => import(pathToFileURL(filename).href),
  loadGlue,
  readModule: (url) => new WebAssembly.Module(fs.readFileSync(url)),
};
