'use strict';
// One running pool: a ThreadPoolHost worker and its ThreadPoolWorkers, the
// main thread's wait for each answer, and the pool's failure.
//
// Calls stay synchronous for the glue: the main thread waits for each answer
// in short slices, and between slices it delivers pool logs, picks up panic and
// trap reports, and checks that the pool still makes progress, so a dead or
// stuck pool becomes an error, never a hang. The pool tells its owner (the
// engine) what happens through the callbacks it is given; it never reaches up.
const platform = require('./platform/index.cjs');
const { MessageType, Slot, HOST_THREAD, UNKNOWN_THREAD } = require('./protocol.cjs');
const { postRequest } = require('./signal.cjs');
const { Waiter } = require('./waiter.cjs');
const { Liveness } = require('./liveness.cjs');
const { makeProxy, executeProxy } = require('./proxy.cjs');
const { session } = require('./session.cjs');
const { adapterFor } = require('./contracts/index.cjs');
const { PanicReports } = require('./unwind.cjs');
const errors = require('./errors.cjs');
const { WbgPoolError, WasmPanicError, CallTimeoutError, PoolClosedError, PoolStartError, NotTransferableError, threadLabel } = errors;

// The longest the main thread sleeps between checks while it waits for the pool.
const SLICE_MS = 5;
const STOP_GRACE_MS = 1000;

// Starts the host worker with the ports and counters of a pool of `numThreads`.
function spawnHost(binding, memory, { numThreads, heartbeatTimeoutMs }) {
  const control = new SharedArrayBuffer(Slot.LENGTH * 4);
  // One-way channels, [sender's end, receiver's end] (platform/).
  const requests = platform.channel();
  const responses = platform.channel();
  const hostEvents = platform.channel();
  const workerChannels = Array.from({ length: numThreads }, () => platform.channel());
  const { handle } = binding;
  const given = [requests[1], responses[0], hostEvents[0], ...workerChannels.map((c) => c[0])];
  const host = platform.spawnThread(
    'host',
    {
      __wbgPoolMemory: memory,
      __wbgPoolModule: handle.module(),
      // The host's place in the pool: where its own JS value slots start (see prelude.cjs).
      __wbgPoolThread: HOST_THREAD,
      gluePath: binding.gluePath,
      format: binding.format,
      contract: binding.contract,
      control,
      numThreads,
      // The host beats while it sleeps for tasks often enough for this timeout.
      heartbeatTimeoutMs,
      requests: requests[1],
      responses: responses[0],
      events: hostEvents[0],
      workerPorts: workerChannels.map((c) => c[0]),
    },
    given,
  );
  host.unref();
  return {
    host,
    control: new Int32Array(control),
    requests: requests[0],
    responses: responses[1],
    eventPorts: [hostEvents[1], ...workerChannels.map((c) => c[1])],
  };
}

// Reports name the host by its index; errors, by null.
const threadOf = (thread) => (thread === HOST_THREAD ? null : thread);

class Pool {
  /**
   * @param {object} binding the glue this pool serves (binding.cjs)
   * @param {{numThreads: number, startTimeoutMs: number, heartbeatTimeoutMs: number, splitCalls: boolean}} options
   * @param {{onStarted(startMs: number): void, onLog(message: object): void, onFailed(pool: Pool, error: Error): void,
   *   onDetachedPanic(error: Error): void}} owner
   */
  constructor(binding, options, owner) {
    this.binding = binding;
    this.options = options;
    this.owner = owner;
    this.adapter = adapterFor(binding.contract.kind);
    this.createdAt = performance.now();
    this.failure = null;
    this.failedCall = null; // the call that was waiting for an answer when the pool failed
    this.closing = false;
    this.exited = false;
    this.isReady = false;
    // A thread reported a crash while the pool was stopping: its memory is suspect.
    this.tainted = false;
    this.nextId = 0;
    this.eventsSeen = 0;
    this.pendingWasmRequests = new Map(); // call id -> export name, while the host has it
    this.call = null; // the execute() call whose wasm call is on its way (see proxy.cjs)
    this.answering = null; // the call whose request waits for its answer (null: the runtime's own)
    this.outsideCall = undefined; // the latest call outside execute() routed here (route.cjs)
    // The execute() calls running on this pool: a failure rejects each at once. (One
    // promise per call, not one per pool: a pending promise keeps every call that
    // raced it, and so their results, alive as long as the pool.)
    this.calls = new Set();
    this.tasks = new Map(); // task id -> its call, while a manager.run() task runs on the host
    this.watchdog = undefined; // watches the pool while tasks run and no wasm call waits
    this.started = new Set(); // thread indexes that reported READY
    // panic=unwind builds (unwind.cjs): a panic fails only the call it unwinds to. Its
    // report (message, location) comes first, from the thread that panicked, and is
    // kept here until the failure it explains arrives.
    this.unwinds = binding.handle.unwinds;
    this.panicReports = new PanicReports();
    this.settledAt = 0; // the reports' mark when the latest call settled (see openSince)
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {});
    this.startTimer = this.startDeadline();
    this.memory = binding.handle.raw().memory; // the pool's, shared by its threads
    Object.assign(this, spawnHost(binding, this.memory, options));
    this.liveness = new Liveness(this.control, options.heartbeatTimeoutMs, (thread) => this.threadGone(thread));
    this.host.on('error', (error) => this.fail(error));
    this.host.on('exit', (code) => {
      this.exited = true;
      // A host that failed reported why, then ended: its report may still wait on its port.
      if (!this.closing) this.drain();
      if (!this.closing) this.fail(new PoolClosedError(`the pool host exited unexpectedly (exit code ${code})`));
    });
    for (const port of this.eventPorts) {
      // Reports that arrive while no wasm call is waiting (the main thread is in
      // async code) are delivered by the event loop; during a call, by drain().
      platform.listen(port, (message) => this.onEvent(message));
    }
    this.proxy = executeProxy(this);
    this.outsideProxy = makeProxy(this, () => this.outsideCall);
    this.waiter = new Waiter();
  }

  // The pool is ready when the host and every pool thread run; a thread that
  // never gets there is a failed start, not a later mystery hang.
  startDeadline() {
    const { numThreads, startTimeoutMs } = this.options;
    if (startTimeoutMs === Infinity) return undefined;
    const timer = setTimeout(() => {
      const missing = numThreads + 1 - this.started.size;
      this.fail(new PoolStartError(`${missing} of ${numThreads + 1} threads (host and pool) did not start within ${startTimeoutMs} ms (startTimeoutMs)${platform.startHint}`));
    }, startTimeoutMs);
    platform.unref(timer);
    return timer;
  }

  onEvent(message) {
    switch (message.type) {
      case MessageType.READY:
        this.started.add(message.thread);
        if (message.tid !== null) this.liveness.tids.set(message.thread, message.tid);
        // On the memory this pool was given: the glue's may be a fresh one by now (a reset).
        if (message.waitCount) this.liveness.countWaits(this.memory, message.waitCount);
        if (this.started.size === this.options.numThreads + 1 && !this.isReady) {
          this.isReady = true;
          clearTimeout(this.startTimer);
          this.owner.onStarted(performance.now() - this.createdAt);
          this.resolveReady();
        }
        break;
      case MessageType.LOG:
        this.owner.onLog(message);
        break;
      case MessageType.OUTPUT:
        platform.write(message.fd, message.text);
        break;
      case MessageType.PANIC:
        if (!this.unwinds) {
          this.fail(new WasmPanicError({ ...message, threadIndex: threadOf(message.thread) }));
          break;
        }
        this.panicReports.add({ ...message, thread: threadOf(message.thread) });
        break;
      case MessageType.DETACHED_PANIC:
        this.owner.onDetachedPanic(this.panicReports.detached(message.message, threadOf(message.thread)));
        break;
      case MessageType.CRASH:
        // Another thread's panic report may wait on its own port (the host reports a pool
        // thread's abandoned panic after that thread reported the panic): read them all first.
        this.drain();
        this.fail(this.startFailure(this.panicReports.explainTrap(message.error, this.openSince())));
        break;
      case MessageType.TASK_DONE:
        this.taskDone(message);
        break;
    }
  }

  drain() {
    for (const port of this.eventPorts) {
      let message;
      while ((message = platform.receive(port)) !== undefined) this.onEvent(message);
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
      error = this.isReady ? new PoolClosedError(`a pool thread failed: ${text}`, { cause: error }) : new PoolStartError(text, { cause: error });
    }
    this.failure = error;
    this.failedCall = this.answering;
    this.closing = true;
    clearTimeout(this.startTimer);
    for (const call of this.calls) call.reject(error);
    for (const task of this.tasks.values()) task.reject(error);
    this.tasks.clear();
    this.stopWatchdog();
    this.rejectReady(error);
    this.pendingWasmRequests.clear();
    // Terminating a worker can hold this thread for a millisecond or more on a busy machine: the
    // caller hears of the failure first, the threads go right after (they can do no harm: the
    // memory they share is no longer the local instance's).
    this.terminated = new Promise((resolve) => platform.setImmediate(() => resolve(this.host.terminate())));
    this.owner.onFailed(this, error);
  }

  // A thread that ran out of memory before the pool ran: it could not start. Each thread's
  // stack and TLS are allocated in the shared memory as it starts, and the memory is full.
  startFailure(error) {
    return this.isReady || error.kind !== 'out_of_memory' ? error : errors.startOutOfMemory(error, this.memory.buffer.byteLength);
  }

  // A thread whose /proc entry is gone has ended. One that reported its own end
  // (a panic, a trap) exits right after: its report, already queued, explains
  // the exit better than this.
  threadGone(thread) {
    this.drain();
    if (this.failure === null) this.fail(new PoolClosedError(`${threadLabel(thread)} ended without a report (terminated?); the pool was torn down`));
    throw this.failure;
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
    const since = this.panicReports.mark(); // panic reports after this one may be this call's
    try {
      postRequest(this.requests, this.control, { type, id, name, args });
    } catch (error) {
      throw new NotTransferableError(
        `an argument of wasm export ${name} cannot be copied to the pool thread (${error.message}); ` +
          'JS functions and other non-cloneable values cannot cross threads',
        { cause: error },
      );
    }
    this.pendingWasmRequests.set(id, name);
    this.answering = call;
    this.answeringSince = since;
    try {
      return this.awaitAnswer(id, name, call, since);
    } finally {
      this.pendingWasmRequests.delete(id);
      this.answering = null;
      this.settledAt = this.panicReports.mark();
    }
  }

  // The mark of the oldest call still open (a request waiting for its answer, a run() task):
  // a thread's trap is explained by a panic it reported since then. With none open (a detached
  // job's abort), by one it reported since the latest call settled.
  openSince() {
    const open = [...this.tasks.values()].map((task) => task.since);
    if (this.pendingWasmRequests.size > 0) open.push(this.answeringSince);
    return open.length === 0 ? this.settledAt : Math.min(...open);
  }

  // Whether a call outside execute() goes to this pool now: not inside execute() (its
  // proxy has the call), nor while this pool cannot serve it.
  servesOutside() {
    return this.isReady && !this.closing && session.getStore() === undefined;
  }

  // The `wasm` of one call outside execute() of an export that can wait, routed
  // here (route.cjs), with its own deadline; null, to run it on the main thread's instance.
  routeOutside(timeoutMs) {
    if (!this.servesOutside()) return null;
    this.outsideCall = { pool: this, timeoutMs, deadline: performance.now() + timeoutMs, failure: null };
    return this.outsideProxy;
  }

  // Whether the failure of this pool was thrown to a call outside execute() (its caller heard of it).
  failedOutsideCall() {
    return this.failedCall !== null && this.failedCall === this.outsideCall;
  }

  awaitAnswer(id, name, call, since) {
    const watch = this.liveness.watch();
    let first = true; // an answer within a spin comes right after the request, if at all
    for (;;) {
      const seen = Atomics.load(this.control, Slot.WAKE);
      this.drainNew();
      if (this.failure !== null) throw this.failure;
      const received = platform.receive(this.responses);
      if (received !== undefined) {
        const { id: answered, value, error } = received;
        if (answered !== id) {
          // The answers are out of step with the calls: every later call would
          // read an earlier call's answer. Nothing on this pool is trusted again.
          this.fail(new PoolClosedError(`internal: the answer to call ${answered} arrived while call ${id} (${name}) waited; the pool was torn down`));
          throw this.failure;
        }
        // What the pool logged before it answered is delivered before the call returns.
        this.drainNew();
        if (this.failure !== null) throw this.failure;
        if (error === undefined) return value;
        throw this.failIfTrap(error, since);
      }
      this.checkCall(call, `${name}()`, performance.now());
      this.checkLiveness(watch, `${name}()`, performance.now());
      this.waiter.wait(this.control, Slot.WAKE, seen, SLICE_MS, first);
      first = false;
    }
  }

  // A trap or panic report from the host ends the pool; other errors (and a panic
  // that unwound) are the call's own. `error` as errors.serialize gives it.
  failIfTrap(error, since) {
    if (error.name === 'WasmPanicError') {
      this.drain(); // the report of the thread that panicked came before the answer
      return this.panicReports.unwound(error.message, since, UNKNOWN_THREAD);
    }
    if (error.name === 'WasmTrapError') {
      this.drain(); // a panic report explains the trap better than the trap itself
      this.fail(this.panicReports.explainTrap(error, since));
      return this.failure;
    }
    return errors.deserialize(error);
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

  // Throws HeartbeatTimeoutError (and fails the pool) after heartbeatTimeoutMs without progress.
  checkLiveness(watch, name, now) {
    const stalled = this.liveness.stalled(watch, name, now);
    if (stalled !== null) {
      this.fail(stalled);
      throw this.failure;
    }
  }

  // Whether the pool used CPU since the last check: the idle policy stops only a quiet pool.
  worked(now) {
    return this.liveness.worked(now);
  }

  // How many JS values the host's wasm state holds: they would be lost with it.
  heldJsValues() {
    return this.request(MessageType.HELD_JS_VALUES, 'idle shutdown', []);
  }

  // Runs a task (manager.run) on the host; settles with its result. The main
  // thread is free meanwhile: a timer watches the pool as a waiting call would.
  runTask(call, { filename, name, args }) {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new PoolClosedError(`task ${name} was started while its pool was shutting down`));
    const id = ++this.nextId;
    const label = `task ${name} of ${platform.basename(filename)}`;
    const since = this.panicReports.mark();
    try {
      postRequest(this.requests, this.control, { type: MessageType.RUN, id, filename, name, args });
    } catch (error) {
      return Promise.reject(new NotTransferableError(`an argument of ${label} cannot be copied to the pool host (${error.message})`, { cause: error }));
    }
    call.deadline = performance.now() + call.timeoutMs;
    return new Promise((resolve, reject) => {
      this.tasks.set(id, { call, label, since, resolve, reject });
      if (this.watchdog === undefined) this.startWatchdog();
    });
  }

  startWatchdog() {
    const watch = this.liveness.watch();
    this.watchdog = setInterval(() => {
      try {
        const now = performance.now();
        for (const task of this.tasks.values()) this.checkCall(task.call, task.label, now);
        this.checkLiveness(watch, [...this.tasks.values()][0].label, now);
      } catch {
        // The pool failed: every call on it was rejected with the reason.
      }
    }, this.liveness.checkEvery());
    platform.unref(this.watchdog);
  }

  stopWatchdog() {
    clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  taskDone({ id, value, error }) {
    const task = this.tasks.get(id);
    if (task === undefined) return;
    this.tasks.delete(id);
    this.settledAt = this.panicReports.mark();
    if (this.tasks.size === 0) this.stopWatchdog();
    if (error === undefined) task.resolve(value);
    else task.reject(this.failIfTrap(error, task.since));
  }

  // Calls export `name` on the main thread's own instance (see proxy.cjs), as
  // a call outside execute() does (local.cjs): a trap there leaves that
  // instance mid-way, like one in the pool, so the memory is reset and the
  // pool fails with the call's own error (Engine.localTrapped).
  callLocal(name, args) {
    // A thread that trapped may have died holding the heap's lock: its report, if
    // already sent, fails the pool here rather than leave this call spinning on it.
    // (Not from a callback run while a pool call waits: its events are being delivered.)
    if (this.pendingWasmRequests.size === 0) this.drainNew();
    if (this.failure !== null) throw this.failure;
    const call = this.call;
    this.call = null;
    // A synchronous fn of many such calls never lets the call timer fire: its deadline is
    // checked here. The pool was not working for the call: only the call is rejected.
    if (call !== null && call.deadline !== Infinity && performance.now() >= call.deadline) {
      call.failure = new CallTimeoutError({ timeoutMs: call.timeoutMs });
      call.reject?.(call.failure);
      throw call.failure;
    }
    return this.binding.handle.callLocally(name, args);
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
    postRequest(this.requests, this.control, { type: MessageType.STOP, id: ++this.nextId });
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

module.exports = { Pool };
