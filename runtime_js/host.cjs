'use strict';
// ThreadPoolHost: the worker that owns the Rayon pool and runs the main
// thread's proxied wasm calls.
//
// While the pool lives, the host waits for requests on a shared counter and
// reads them without its event loop (platform.receive: receiveMessageOnPort in
// Node, a queue in shared memory in browsers), so a call costs microseconds, and a
// host stuck inside wasm cannot hide behind a queue of undelivered messages.
// It returns to its event loop only while manager.run() tasks are pending,
// which need it for their awaits, and sleeps there until a request comes or a
// task settles.
const platform = require('./platform/index.cjs');
const { MessageType, Slot, HOST_THREAD, Hook } = require('./protocol.cjs');
const { postReply } = require('./signal.cjs');
const { Waiter } = require('./waiter.cjs');
const { joinPool, attachGlue, newWaitCount, releaseThread } = require('./thread.cjs');
const errors = require('./errors.cjs');
const { callExport, thrownAtTheBoundary } = require('./boundary.cjs');
const { abandonedPanic } = require('./unwind.cjs');
const { limits } = require('./defaults.json');

const workerData = platform.threadData();
const { requests, responses, workerPorts, numThreads, contract } = workerData;
const wasmModule = workerData.__wbgPoolModule;
const memory = workerData.__wbgPoolMemory;
const { adapter, control, send, hooks } = joinPool(workerData, () => HOST_THREAD);
const reply = (message) => postReply(responses, control, message);
const IDLE_WAIT_MS = 100;
// While tasks (manager.run) await, the host sleeps in its event loop and a timer
// beats for it this often: the main thread, which takes a pool that neither beats
// nor uses CPU for heartbeatTimeoutMs for deadlocked, sees that the host's event
// loop is free, while a host stuck in a task's wasm call cannot beat.
const SLEEPING_BEAT_MS = Math.min(workerData.heartbeatTimeoutMs / 4, limits.maxTimerMs);

const workers = [];
let waitCount = 0; // where the pool's threads count their waits (thread.cjs), once it starts
// Spawns the pool's ThreadPoolWorkers; each runs the contract's start-worker
// export with `receiver` on the pool's memory and module.
function spawnWorkers(count, receiver) {
  // The crate's init export calls this, so its wasm frames are on this stack: formatting them
  // makes V8 decode the module's name section now, as the pool starts. V8 does that once per
  // process, at the first wasm stack any thread formats (~5 ms per MB of names on a busy
  // machine); else the first panic pays it before its report (console_error_panic_hook
  // formats a stack first), and the first trap's report too.
  void new Error().stack;
  const spawned = [];
  for (let n = 0; n < count; n++) {
    const ordinal = workers.length;
    const port = workerPorts[ordinal];
    if (port === undefined) throw new Error(`the pool asked for more than the ${workerPorts.length} threads it was given`);
    const worker = platform.spawnThread(
      'worker',
      {
        __wbgPoolMemory: memory,
        __wbgPoolModule: wasmModule,
        // This pool thread's place in the pool: where its own JS value slots start.
        __wbgPoolThread: ordinal,
        gluePath: workerData.gluePath,
        format: workerData.format,
        contract,
        waitCount,
        control: workerData.control,
        events: port,
        receiver,
        ordinal,
      },
      [port],
    );
    workers.push(worker);
    spawned.push(worker);
  }
  return spawned;
}

// What the contract's Rust side calls on this thread: hooks, and for some
// contracts functions it imports as globals. `kept` holds what must live as
// long as the pool (builders whose receivers the workers read).
const kept = [];
const contractHooks = adapter.hostHooks(spawnWorkers, kept);
Object.assign(globalThis, contractHooks.globals);
Object.assign(hooks, { [Hook.SPAWN_WORKERS]: spawnWorkers }, contractHooks.hooks);

async function start() {
  const { glue, raw } = await attachGlue(workerData);
  waitCount = newWaitCount(raw, memory);
  await adapter.startPool(glue, contract, numThreads);
  await poolThreadsRunning();
  heldAtStart = countHeldJsValues(glue, raw);
  send({ type: MessageType.READY, thread: HOST_THREAD, tid: platform.kernelThreadId(), waitCount });
  return { glue, raw };
}

// A browser starts a Worker that a Worker spawned only once its spawner's event loop turns:
// the host waits for its pool threads here, in its event loop, not in its request loop, where
// it blocks and a call needing the pool would wait for threads that never start.
async function poolThreadsRunning() {
  for (let started; (started = Atomics.load(control, Slot.STARTED)) < workers.length; ) {
    await Atomics.waitAsync(control, Slot.STARTED, started).value;
  }
}

// The JS values this host's wasm state holds: the used slots of its own range of
// the externref table (a freed slot is set to null). They live only in this
// instance, so stopping the host would lose them. Those held once the pool
// runs (the crate's and wasm-bindgen's own caches) do not count.
let heldAtStart = 0;
function heldJsValues(glue, raw) {
  return countHeldJsValues(glue, raw) - heldAtStart;
}

function countHeldJsValues(glue, raw) {
  const externrefs = glue.__wbg_pool.externrefs;
  if (externrefs === null) return 0;
  const table = raw[externrefs.table];
  let held = 0;
  for (let i = externrefs.start; i < table.length; i++) {
    const value = table.get(i);
    if (value !== null && value !== externrefs.foreign) held++;
  }
  return held;
}

function handle({ glue, raw }, { type, id, name, args }) {
  switch (type) {
    case MessageType.CALL:
      return callExport(raw[name], args);
    case MessageType.TABLE_GET:
      return raw[name].get(args[0]);
    case MessageType.TABLE_SET:
      return raw[name].set(args[0], args[1]);
    case MessageType.TABLE_GROW:
      return raw[name].grow(...args);
    case MessageType.TABLE_LENGTH:
      return raw[name].length;
    case MessageType.GLOBAL_GET:
      return raw[name].value;
    case MessageType.HELD_JS_VALUES:
      return heldJsValues(glue, raw);
    case MessageType.STOP:
      adapter.stopPool(glue, contract);
      return undefined;
    default:
      throw new Error(`wbg-pool host: unknown request ${type} (id ${id})`);
  }
}

// What the main thread is told of a request that threw `error` (errors.serialize).
function failureOf({ glue, raw }, request, error) {
  // A panic that unwound to the export (panic=unwind builds): only this call failed, unless
  // this thread abandoned a panic on the way.
  const unwound = glue.__wbg_pool.unwound(error);
  if (unwound?.panic) return abandonedPanic(raw) ? errors.abandonedPanicData(null) : errors.unwoundPanicData(unwound.payload);
  // Past the argument conversion, a raw export throws only from inside wasm: a
  // JS exception an import threw through its frames (wrapped by the glue's tag
  // or not) skipped Rust's destructors, so it is a trap like any other.
  const throughWasm = (request.type === MessageType.CALL && !thrownAtTheBoundary(error)) || request.type === MessageType.STOP;
  return errors.serialize(unwound === null ? error : unwound.payload, null, throughWasm);
}

// Tasks of manager.run() that have not settled: while there are any, the host
// gives its event loop a turn between waits for requests.
const tasks = new Set();
let trapped = false; // a task trapped: this instance is not trusted again
const taskModules = new Map(); // filename -> Promise of the module

// Runs export `name` of the task module `filename` here, next to the glue and
// the pool, and reports how it settled. A trap (out of wasm) ends the service
// of this host; the task's own exception is only that task's failure.
async function runTask({ id, filename, name, args }, { glue, raw }) {
  let message;
  try {
    if (!taskModules.has(filename)) {
      const loading = platform.importTask(filename);
      // A module that failed to load is tried again by the next task (it may be fixed by then).
      loading.catch(() => taskModules.delete(filename));
      taskModules.set(filename, loading);
    }
    const module = await taskModules.get(filename);
    const fn = typeof module[name] === 'function' ? module[name] : module.default?.[name];
    if (typeof fn !== 'function') {
      throw new errors.WbgPoolError(`the task module ${filename} has no exported function ${JSON.stringify(name)}`, 'ERR_TASK_NOT_FOUND');
    }
    message = { type: MessageType.TASK_DONE, id, value: await fn(...args) };
  } catch (error) {
    // The glue's wrappers unwrap a panic that unwound to the export into its PanicError.
    const panic = glue.__wbg_pool.isPanic(error);
    message = { type: MessageType.TASK_DONE, id, error: panic ? errors.unwoundPanicData(error) : errors.serialize(error, null) };
    if (panic && abandonedPanic(raw)) message.error = errors.abandonedPanicData(null);
  }
  // A JS exception that came back through Rust frames (panic=unwind glue) left this instance
  // mid-way even when the task caught it: the task fails with the trap, and the host stops.
  const trap = glue.__wbg_pool.takeTrap();
  if (trap !== null) message = { type: MessageType.TASK_DONE, id, error: trap };
  if (message.error?.name === 'WasmTrapError') trapped = true;
  try {
    send(message);
  } catch (error) {
    send({ type: MessageType.TASK_DONE, id, error: errors.notTransferable(`task ${name} of ${filename} returned (or threw) a value that cannot be copied to the main thread: ${error.message}`) });
  }
}

// Serves requests until STOP ('stop'), a trap ('trap'), or, while tasks wait,
// for a moment without requests ('turn': the event loop gets a turn).
const waiter = new Waiter(); // what it learns of the main thread outlives each turn
function serve(instance) {
  let served = false; // the main thread's calls come in bursts: right after one, the next is likely
  for (;;) {
    // A task's code ran since the last look (a turn of the event loop): a trap it caught (and
    // awaits past) left this instance half-way, and no request may run on it. The pool fails
    // now, with the trap, not when that task settles (or at a held lock, as a timeout).
    const caught = instance.glue.__wbg_pool.takeTrap();
    if (caught !== null) {
      trapped = true;
      send({ type: MessageType.CRASH, thread: HOST_THREAD, error: caught });
      return 'trap';
    }
    const seen = Atomics.load(control, Slot.REQUEST);
    let request;
    while ((request = platform.receive(requests)) !== undefined) {
      if (request.type === MessageType.RUN) {
        const task = runTask(request, instance).finally(() => {
          tasks.delete(task);
          // Wakes the host if it sleeps (see sleepUntilRequest): with no task left, it serves without turns.
          Atomics.notify(control, Slot.REQUEST);
        });
        tasks.add(task);
        continue;
      }
      let message;
      try {
        message = { type: MessageType.RESULT, id: request.id, value: handle(instance, request) };
        // JS values past this instance's range would share slots with another's: that fails like a trap.
        const overflow = instance.glue.__wbg_pool.externrefsOverflow();
        if (overflow !== null) message = { type: MessageType.RESULT, id: request.id, error: overflow };
        // A trap that the call's own Rust code caught (an import's JS exception through a nested
        // export's frames) left the instance half-way all the same: the call fails with it.
        const caught = instance.glue.__wbg_pool.takeTrap();
        if (caught !== null) message = { type: MessageType.RESULT, id: request.id, error: caught };
      } catch (error) {
        message = { type: MessageType.RESULT, id: request.id, error: failureOf(instance, request, error) };
      }
      if (message.error?.name === 'WasmTrapError') {
        // A trapped instance is not trusted again: answer, then stop serving.
        reply(message);
        return 'trap';
      }
      try {
        reply(message);
      } catch (error) {
        reply({
          type: MessageType.RESULT,
          id: request.id,
          error: errors.notTransferable(`wasm export ${request.name} returned a value that cannot be copied to the main thread: ${error.message}`),
        });
      }
      if (request.type === MessageType.STOP) return 'stop';
      served = true;
    }
    if (tasks.size > 0) {
      // A task just started or goes on after an await: its code runs in the event loop.
      Atomics.add(control, Slot.BEAT, 1);
      requestsSeen = seen;
      return 'turn';
    }
    Atomics.add(control, Slot.BEAT, 1);
    waiter.wait(control, Slot.REQUEST, seen, IDLE_WAIT_MS, served);
    served = false;
  }
}

// While tasks await, the host sleeps in its event loop, where their code runs,
// until a request moves the REQUEST counter past `requestsSeen` (read before
// serve() last looked at the port, so none is missed) or a task settles (it
// notifies the counter): nothing polls. The beat's timer also keeps this worker
// alive, which a pending Atomics.waitAsync does not.
let requestsSeen = 0;
function sleepUntilRequest(wake) {
  const waiting = Atomics.waitAsync(control, Slot.REQUEST, requestsSeen);
  if (!waiting.async) {
    // A request came meanwhile: one turn of the event loop for the tasks, then serve it.
    platform.setImmediate(wake);
    return;
  }
  const beat = setInterval(() => Atomics.add(control, Slot.BEAT, 1), SLEEPING_BEAT_MS);
  waiting.value.then(() => {
    clearInterval(beat);
    wake();
  });
}

// The host's life once the pool runs: serving, with turns of the event loop for tasks.
function serveUntilStopped(instance) {
  const outcome = trapped ? 'trap' : serve(instance);
  if (outcome === 'turn') {
    sleepUntilRequest(() => serveUntilStopped(instance));
  } else if (outcome === 'stop') {
    // Clean stop: wait for the pool threads to leave wasm before this thread ends,
    // since ending it would terminate them while they may hold the allocator's lock.
    Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', resolve)))).then(() => {
      releaseThread(instance.raw);
      platform.exitThread();
    });
  }
}

start().then(serveUntilStopped, (error) => send({ type: MessageType.CRASH, thread: HOST_THREAD, error: errors.serialize(error, null) }));
