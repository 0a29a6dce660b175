'use strict';
// The engine behind ThreadPoolManager: one running pool (a ThreadPoolHost
// worker and its ThreadPoolWorkers), the main thread's wait loop, liveness and
// failure handling.
//
// Calls stay synchronous for the glue: the main thread waits for each answer
// in short slices, and between slices it delivers pool logs, picks up panic and
// trap reports, and checks that the pool still makes progress, so a dead or
// stuck pool becomes an error, never a hang.
const fs = require('fs');
const path = require('path');
const { AsyncLocalStorage } = require('async_hooks');
const { Worker, MessageChannel, receiveMessageOnPort } = require('worker_threads');
const { MessageType, Slot, HOST_THREAD, MAIN_THREAD, Waiter } = require('./protocol.cjs');
const errors = require('./errors.cjs');
const { WbgPoolError, WasmPanicError, HeartbeatTimeoutError, CallTimeoutError, PoolClosedError, PoolStartError, NotTransferableError, threadLabel } =
  errors;

// The longest the main thread sleeps between checks while it waits for the pool.
const SLICE_MS = 5;
const STOP_GRACE_MS = 1000;
// Liveness is read from CPU ticks (10 ms each) at most this often; the check is
// what makes a deadlock known within the heartbeat timeout + two of these.
const CHECK_EVERY_MS = 25;
// A shorter heartbeat would see a busy pool make no measurable progress
// (fewer than ~4 checks of a few ticks each) and fail it.
const MIN_HEARTBEAT_MS = 100;

// Which execute() call the running code belongs to ({ pool, deadline, failure }):
// its wasm calls, also after an await, go to that call's pool; calls from
// anywhere else stay on the local instance.
const session = new AsyncLocalStorage();

// The glue's allocator exports: a string or byte argument costs a malloc, a
// returned one a free. They need no pool: the memory is shared, and Rust's
// allocator is one global heap behind a lock that every instance on that memory
// takes (a spin lock on wasm, so the main thread may take it too). Run on the
// local instance, they cost no round trip. Nothing else is safe to run here:
// other exports may use the Rayon pool, the calling thread's stack, or its
// table of JS values.
const LOCAL_EXPORTS = new Set(['__wbindgen_malloc', '__wbindgen_realloc', '__wbindgen_free']);

// CPU time (clock ticks) a thread has used, from /proc; null if unreadable.
function threadTicks(tid) {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

// One running pool: the host worker, its ports and its control counters.
class Pool {
  constructor(manager, binding) {
    this.manager = manager;
    this.binding = binding;
    this.adapter = require(`./contracts/${binding.contract.kind}.cjs`);
    this.createdAt = performance.now();
    this.failure = null;
    this.closing = false;
    this.exited = false;
    this.isReady = false;
    // A thread reported a crash while the pool was stopping: its memory is suspect.
    this.tainted = false;
    this.nextId = 0;
    this.eventsSeen = 0;
    this.lastSample = undefined; // CPU use at the last liveness check (see worked())
    this.pendingWasmRequests = new Map(); // call id -> export name, while the host has it
    this.tids = new Map(); // thread index -> kernel tid, as threads report ready
    this.controlBuffer = new SharedArrayBuffer(Slot.LENGTH * 4);
    this.control = new Int32Array(this.controlBuffer);
    const { numThreads, startTimeoutMs } = manager.options;
    this.call = null; // the execute() call whose wasm call is on its way (see makeProxy)
    const requests = new MessageChannel();
    const responses = new MessageChannel();
    const hostEvents = new MessageChannel();
    const workerChannels = Array.from({ length: numThreads }, () => new MessageChannel());
    this.requests = requests.port1;
    this.responses = responses.port2;
    this.eventPorts = [hostEvents.port2, ...workerChannels.map((c) => c.port2)];
    // The execute() calls running on this pool: a failure rejects each at once. (One
    // promise per call, not one per pool: a pending promise keeps every call that
    // raced it, and so their results, alive as long as the pool.)
    this.calls = new Set();
    this.tasks = new Map(); // task id -> its call, while a manager.run() task runs on the host
    this.watchdog = undefined; // watches the pool while tasks run and no wasm call waits
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {});
    // The pool is ready when the host and every pool thread run; a thread that
    // never gets there is a failed start, not a later mystery hang.
    this.startTimer = undefined;
    if (startTimeoutMs !== Infinity) {
      this.startTimer = setTimeout(() => {
        const missing = numThreads + 1 - this.started.size;
        this.fail(
          new PoolStartError(`${missing} of ${numThreads + 1} threads (host and pool) did not start within ${startTimeoutMs} ms (startTimeoutMs)`),
        );
      }, startTimeoutMs);
      this.startTimer.unref();
    }
    this.started = new Set(); // thread indexes that reported READY
    this.host = new Worker(path.join(__dirname, 'host.cjs'), {
      workerData: {
        __wbgPoolMemory: binding.handle.raw().memory,
        __wbgPoolModule: binding.handle.module(),
        // Where the host's own JS value slots start, and each pool thread's (see the glue's prelude).
        __wbgPoolExternrefStart: binding.handle.externrefs?.host,
        externrefs: binding.handle.externrefs && { pool: binding.handle.externrefs.pool, poolThread: binding.handle.externrefs.poolThread },
        gluePath: binding.gluePath,
        format: binding.format,
        contract: binding.contract,
        control: this.controlBuffer,
        numThreads,
        requests: requests.port2,
        responses: responses.port1,
        events: hostEvents.port1,
        workerPorts: workerChannels.map((c) => c.port1),
      },
      transferList: [requests.port2, responses.port1, hostEvents.port1, ...workerChannels.map((c) => c.port1)],
    });
    this.host.unref();
    this.host.on('error', (error) => this.fail(error));
    this.host.on('exit', (code) => {
      this.exited = true;
      if (!this.closing) this.fail(new PoolClosedError(`the pool host exited unexpectedly (exit code ${code})`));
    });
    for (const port of this.eventPorts) {
      // Reports that arrive while no wasm call is waiting (the main thread is in
      // async code) are delivered by the event loop; during a call, by drain().
      port.on('message', (message) => this.onEvent(message));
      port.unref();
    }
    this.proxy = this.makeProxy();
    this.waiter = new Waiter();
  }

  onEvent(message) {
    switch (message.type) {
      case MessageType.READY:
        this.started.add(message.thread);
        if (message.tid !== null) this.tids.set(message.thread, message.tid);
        if (this.started.size === this.manager.options.numThreads + 1 && !this.isReady) {
          this.isReady = true;
          clearTimeout(this.startTimer);
          this.manager.metrics.poolStarted(this.manager.options.numThreads, performance.now() - this.createdAt);
          this.resolveReady();
        }
        break;
      case MessageType.LOG:
        this.manager.deliverLog(message);
        break;
      case MessageType.OUTPUT:
        // Written here, in order with the log records of the same thread, while the
        // call still runs (the thread's own stdout waits for an event loop that
        // does not turn while it works).
        (message.fd === 2 ? process.stderr : process.stdout).write(message.text);
        break;
      case MessageType.PANIC:
        this.fail(new WasmPanicError({ ...message, threadIndex: message.thread === HOST_THREAD ? null : message.thread }));
        break;
      case MessageType.CRASH:
        this.fail(errors.deserialize(message.error));
        break;
      case MessageType.TASK_DONE:
        this.taskDone(message);
        break;
    }
  }

  drain() {
    for (const port of this.eventPorts) {
      let received;
      while ((received = receiveMessageOnPort(port)) !== undefined) this.onEvent(received.message);
    }
  }

  // Every event bumps EVENTS after it is posted: unchanged, nothing new to read.
  drainNew() {
    const events = Atomics.load(this.control, Slot.EVENTS);
    if (events !== this.eventsSeen) {
      this.eventsSeen = events;
      this.drain();
    }
  }

  fail(error) {
    if (this.failure !== null) return;
    if (this.closing) {
      // A crash while the pool stops: nobody waits for it, but its memory is suspect.
      this.tainted = true;
      return;
    }
    if (!(error instanceof WbgPoolError)) {
      const text = String(error && error.message);
      error = this.isReady
        ? new PoolClosedError(`a pool thread failed: ${text}`, { cause: error })
        : new PoolStartError(text, { cause: error });
    }
    this.failure = error;
    this.closing = true;
    clearTimeout(this.startTimer);
    for (const call of this.calls) call.reject(error);
    for (const task of this.tasks.values()) task.reject(error);
    this.tasks.clear();
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    this.rejectReady(error);
    this.pendingWasmRequests.clear();
    // Terminating a worker can hold this thread for a millisecond or more on a busy machine: the
    // caller hears of the failure first, the threads go right after (they can do no harm: the
    // memory they share is no longer the local instance's).
    this.terminated = new Promise((resolve) => setImmediate(() => resolve(this.host.terminate())));
    this.manager.onPoolFailed(this, error);
  }

  // Sends one request and waits for its answer, staying watchful meanwhile.
  request(type, name, args) {
    if (this.failure !== null) throw this.failure;
    if (this.closing) throw new PoolClosedError(`${name}() was called while its pool was shutting down`);
    if (this.pendingWasmRequests.size > 0) {
      // Only a callback run during the wait (onLog) can get here; its call would
      // take the answer meant for the waiting one.
      throw new WbgPoolError(`${name}() was called while ${[...this.pendingWasmRequests.values()]}() waits for the pool`, 'ERR_REENTRANT_CALL');
    }
    // The execute() call this request belongs to (set by the proxy): null for the runtime's own.
    const call = this.call;
    this.call = null;
    const id = ++this.nextId;
    try {
      this.requests.postMessage({ type, id, name, args });
    } catch (error) {
      throw new NotTransferableError(
        `an argument of wasm export ${name} cannot be copied to the pool thread (${error.message}); ` +
          'JS functions and other non-cloneable values cannot cross threads',
        { cause: error },
      );
    }
    this.pendingWasmRequests.set(id, name);
    try {
      Atomics.add(this.control, Slot.REQUEST, 1);
      Atomics.notify(this.control, Slot.REQUEST);
      return this.awaitAnswer(id, name, call);
    } finally {
      this.pendingWasmRequests.delete(id);
    }
  }

  awaitAnswer(id, name, call) {
    const liveness = this.liveness();
    let first = true; // an answer within a spin comes right after the request, if at all
    for (;;) {
      const seen = Atomics.load(this.control, Slot.WAKE);
      this.drainNew();
      if (this.failure !== null) throw this.failure;
      const received = receiveMessageOnPort(this.responses);
      if (received !== undefined) {
        const { id: answered, value, error } = received.message;
        if (answered !== id) throw new WbgPoolError(`internal: answer ${answered} arrived for call ${id}`, 'ERR_INTERNAL');
        // What the pool logged before it answered is delivered before the call returns.
        this.drainNew();
        if (this.failure !== null) throw this.failure;
        if (error === undefined) return value;
        throw this.failIfTrap(errors.deserialize(error));
      }
      this.checkCall(call, `${name}()`, performance.now());
      this.checkLiveness(liveness, `${name}()`, performance.now());
      this.waiter.wait(this.control, Slot.WAKE, seen, SLICE_MS, first);
      first = false;
    }
  }

  // A trap or panic report from the host ends the pool; other errors are the call's own.
  failIfTrap(thrown) {
    if (thrown instanceof errors.WasmTrapError || thrown instanceof WasmPanicError) {
      this.drain(); // a panic report explains the trap better than the trap itself
      this.fail(thrown);
      return this.failure;
    }
    return thrown;
  }

  // Throws when `call` (of execute() or run()) is past its deadline while the
  // pool works for it: busy or stuck, only tearing the pool down ends it.
  checkCall(call, name, now) {
    if (call !== null && now >= call.deadline) {
      call.failure = new CallTimeoutError({ timeoutMs: call.timeoutMs, call: name });
      this.fail(call.failure);
      throw this.failure;
    }
  }

  // Progress since a point in time: host beats, or CPU used by the pool's threads.
  // CPU ticks are read only at checks (a /proc read costs more than a whole
  // call): the first check sets the baseline.
  liveness() {
    const at = performance.now();
    return { at, beat: Atomics.load(this.control, Slot.BEAT), nextCheck: at + this.checkEvery() };
  }

  checkEvery() {
    return Math.min(CHECK_EVERY_MS, this.manager.options.heartbeatTimeoutMs / 4);
  }

  // Throws HeartbeatTimeoutError (and fails the pool) after heartbeatTimeoutMs without progress.
  checkLiveness(liveness, name, now) {
    if (now < liveness.nextCheck) return;
    liveness.nextCheck = now + this.checkEvery();
    const timeoutMs = this.manager.options.heartbeatTimeoutMs;
    const beat = Atomics.load(this.control, Slot.BEAT);
    if (beat !== liveness.beat || this.worked(now) !== false) {
      Object.assign(liveness, { at: now, beat });
    } else if (now - liveness.at >= timeoutMs) {
      this.fail(new HeartbeatTimeoutError({ timeoutMs, call: name }));
      throw this.failure;
    }
  }

  // Runs a task (manager.run) on the host; settles with its result. The main
  // thread is free meanwhile: a timer watches the pool as a waiting call would.
  runTask(call, { filename, name, args }) {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new PoolClosedError(`task ${name} was started while its pool was shutting down`));
    const id = ++this.nextId;
    const label = `task ${name} of ${path.basename(filename)}`;
    try {
      this.requests.postMessage({ type: MessageType.RUN, id, filename, name, args });
    } catch (error) {
      return Promise.reject(
        new NotTransferableError(`an argument of ${label} cannot be copied to the pool host (${error.message})`, { cause: error }),
      );
    }
    Atomics.add(this.control, Slot.REQUEST, 1);
    Atomics.notify(this.control, Slot.REQUEST);
    call.deadline = performance.now() + call.timeoutMs;
    return new Promise((resolve, reject) => {
      this.tasks.set(id, { call, label, resolve, reject });
      if (this.watchdog === undefined) {
        const liveness = this.liveness();
        this.watchdog = setInterval(() => {
          try {
            const now = performance.now();
            for (const task of this.tasks.values()) this.checkCall(task.call, task.label, now);
            this.checkLiveness(liveness, [...this.tasks.values()][0].label, now);
          } catch {
            // The pool failed: every call on it was rejected with the reason.
          }
        }, this.checkEvery());
        this.watchdog.unref();
      }
    });
  }

  taskDone({ id, value, error }) {
    const task = this.tasks.get(id);
    if (task === undefined) return;
    this.tasks.delete(id);
    if (this.tasks.size === 0) {
      clearInterval(this.watchdog);
      this.watchdog = undefined;
    }
    if (error === undefined) task.resolve(value);
    else task.reject(this.failIfTrap(errors.deserialize(error)));
  }

  // Whether the pool used CPU since the previous check (undefined at the first):
  // a busy pool does, a deadlocked one does not, even while the host cannot
  // beat. CPU is read only at checks: a /proc read costs more than a whole call.
  // With the threads' /proc entries (Linux), any tick of theirs counts;
  // elsewhere, the process must have used more than a quarter of a core, far
  // more than the waiting main thread uses alone.
  worked(now) {
    const ticks = this.cpuTicks();
    const usage = ticks === null ? process.cpuUsage() : null;
    const previous = this.lastSample;
    this.lastSample = { at: now, ticks, usage };
    if (previous === undefined) return undefined;
    if (ticks !== null) return ticks !== previous.ticks;
    const usedMs = (usage.user + usage.system - previous.usage.user - previous.usage.system) / 1000;
    return usedMs > (now - previous.at) / 4;
  }

  // Total CPU ticks of the host and the pool threads; null without /proc. A
  // thread whose /proc entry is gone has ended: nothing it owed will come.
  cpuTicks() {
    let total = 0;
    for (const [thread, tid] of this.tids) {
      const ticks = threadTicks(tid);
      if (ticks === null) {
        // A thread that reported its own end (a panic, a trap) exits right after:
        // its report, already queued, explains the exit better.
        this.drain();
        if (this.failure !== null) throw this.failure;
        this.fail(new PoolClosedError(`${threadLabel(thread)} ended without a report (terminated?); the pool was torn down`));
        throw this.failure;
      }
      total += ticks;
    }
    return this.tids.size === 0 ? null : total;
  }

  // The object the glue sees as `wasm` inside execute(): raw exports that run on
  // the host, which has the pool. Memory is shared, so it is used directly.
  makeProxy() {
    const pool = this;
    const handle = this.binding.handle;
    const kinds = new Map(WebAssembly.Module.exports(handle.module()).map((e) => [e.name, e.kind]));
    const remote = (name) => {
      switch (kinds.get(name)) {
        case 'function':
          if (LOCAL_EXPORTS.has(name)) return (...args) => pool.callLocal(name, args);
          return (...args) => pool.request(MessageType.CALL, name, args);
        case 'table':
          return {
            get: (index) => pool.request(MessageType.TABLE_GET, name, [index]),
            set: (index, value) => pool.request(MessageType.TABLE_SET, name, [index, value]),
            grow: (...args) => pool.request(MessageType.TABLE_GROW, name, args),
            get length() {
              return pool.request(MessageType.TABLE_LENGTH, name, []);
            },
          };
        case 'global':
          return {
            get value() {
              return pool.request(MessageType.GLOBAL_GET, name, []);
            },
          };
        default:
          return handle.raw()[name];
      }
    };
    const cache = new Map();
    // The target is a blank object: the exports object is frozen, and a Proxy
    // may not report other values for a frozen target's properties.
    return new Proxy(Object.create(null), {
      get: (_, name) => {
        const call = session.getStore();
        // Calls made outside execute() (a timer, a finalizer, onLog) stay on the local instance.
        if (call === undefined) return handle.raw()[name];
        if (call.pool !== pool || call.failure !== null) {
          // fn of an execute() that failed, timed out, or whose pool was replaced: never run it elsewhere.
          throw call.failure ?? call.pool.failure ?? new PoolClosedError('the pool of this execute() call is gone');
        }
        if (typeof name !== 'string' || name === 'memory') return handle.raw()[name];
        pool.call = call;
        let value = cache.get(name);
        if (value === undefined) cache.set(name, (value = remote(name)));
        return value;
      },
    });
  }

  // Calls an allocator export on the local instance (see LOCAL_EXPORTS). A trap
  // there (out of memory) leaves that instance mid-way, like one in the pool:
  // the pool fails with it, and the memory is reset.
  callLocal(name, args) {
    // A thread that trapped may have died holding the heap's lock: its report, if
    // already sent, fails the pool here rather than leave this call spinning on it.
    this.drainNew();
    if (this.failure !== null) throw this.failure;
    this.call = null;
    try {
      return this.binding.handle.raw()[name](...args);
    } catch (error) {
      this.fail(errors.deserialize(errors.serialize(error, MAIN_THREAD, true)));
      throw this.failure;
    }
  }

  // Asks the host to exit the pool; resolves true once it did cleanly, false when
  // it had to be terminated or a thread crashed meanwhile.
  async stop() {
    this.closing = true;
    clearTimeout(this.startTimer);
    if (!this.adapter.canStop) {
      // Rayon's global pool has no exit; its threads go with the host.
      await this.host.terminate();
      return false;
    }
    this.requests.postMessage({ type: MessageType.STOP, id: ++this.nextId });
    Atomics.add(this.control, Slot.REQUEST, 1);
    Atomics.notify(this.control, Slot.REQUEST);
    const exited = new Promise((resolve) => (this.exited ? resolve() : this.host.once('exit', resolve)));
    let timer;
    const grace = new Promise((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS)));
    await Promise.race([exited, grace]);
    clearTimeout(timer);
    this.drain();
    if (this.exited) return !this.tainted;
    await this.host.terminate();
    return false;
  }
}

// The pool the running code belongs to: the one an object made now is made in.
function currentPool() {
  return session.getStore()?.pool ?? null;
}

// Runs a finalizer's `free(held)` in the pool the object was made in, while that
// pool runs (what the object holds may live only in that pool's instance), else
// on the local instance. Never throws: a finalizer that threw would end the process.
function finalizeIn(pool, free, held, warn) {
  try {
    if (pool === null || pool.failure !== null || pool.closing || !pool.isReady) {
      free(held);
      return;
    }
    // Outside execute() no proxy may be installed: this one free goes through the pool's.
    const { handle } = pool.binding;
    const installed = handle.proxy();
    handle.setProxy(pool.proxy);
    try {
      session.run({ pool, timeoutMs: Infinity, deadline: Infinity, failure: null }, () => free(held));
    } finally {
      handle.setProxy(installed);
    }
  } catch (error) {
    warn(`freeing a garbage-collected wasm object failed: ${error && error.message}`, 'WBG_POOL_FINALIZER');
  }
}

module.exports = { Pool, session, currentPool, finalizeIn, MIN_HEARTBEAT_MS };
